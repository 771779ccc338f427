// The semantic diff, tested differentially against the reference interpreter: every example
// packet really changes verdict, every sampled packet whose verdict changes lies in a reported
// region (and none whose verdict stays), and policies of one meaning give an empty diff.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { commonSubsequence, diffPolicies, regionContains, type PolicyDiff } from '../../compiler/diff.ts';
import { evaluate } from '../../compiler/evaluate.ts';
import { DIRECTIONS, type ProgramIr } from '../../compiler/ir.ts';
import { compile } from '../../compiler/program.ts';
import { createMemoryHost } from '../../compiler/source.ts';
import { randomPacket, randomProgram } from '../support/random-policy.ts';

function checkAgainstInterpreter(before: ProgramIr, after: ProgramIr, diff: PolicyDiff, packets: readonly (typeof randomPacket extends fc.Arbitrary<infer P> ? P : never)[]): number {
  for (const region of diff.regions) {
    const was = evaluate(before[region.direction], region.example);
    const now = evaluate(after[region.direction], region.example);
    expect(was.verdict).toBe(region.before.verdict);
    expect(now.verdict).toBe(region.after.verdict);
    expect(was.verdict).not.toBe(now.verdict);
    expect(was.rule?.name ?? null).toBe(region.before.rule?.name ?? null);
    expect(now.rule?.name ?? null).toBe(region.after.rule?.name ?? null);
    expect(regionContains(region, region.example)).toBe(true);
  }
  let changed = 0;
  for (const direction of DIRECTIONS) {
    const regions = diff.regions.filter((r) => r.direction === direction);
    for (const p of packets) {
      const was = evaluate(before[direction], p);
      const now = evaluate(after[direction], p);
      const inside = regions.filter((r) => regionContains(r, p));
      if (was.verdict === now.verdict) {
        expect(inside).toEqual([]);
        continue;
      }
      changed++;
      // Exactly one region holds it: the one of its two deciding rules.
      expect(inside).toHaveLength(1);
      expect(inside[0]?.before.rule?.name ?? null).toBe(was.rule?.name ?? null);
      expect(inside[0]?.after.rule?.name ?? null).toBe(now.rule?.name ?? null);
    }
  }
  return changed;
}

/** A program with a few of its rules dropped, flipped or moved: a plausible next revision. */
function mutated(ir: ProgramIr, seed: number): ProgramIr {
  const pick = (n: number, i: number) => (seed * 7919 + i * 104729) % Math.max(1, n);
  const dir = (d: ProgramIr['ingress']) => {
    const rules = [...d.rules];
    if (rules.length > 0) {
      const i = pick(rules.length, 1);
      const r = rules[i]!;
      rules[i] = { ...r, action: r.action === 'allow' ? 'deny' : 'allow' };
    }
    if (rules.length > 2) rules.splice(pick(rules.length, 2), 1);
    if (rules.length > 3) {
      const [moved] = rules.splice(pick(rules.length, 3), 1);
      rules.splice(pick(rules.length, 4), 0, moved!);
    }
    return { ...d, rules: rules.map((r, priority) => ({ ...r, priority: (priority + 1) * 10 })) };
  };
  return { ...ir, ingress: dir(ir.ingress), egress: seed % 3 === 0 ? { ...ir.egress, defaultAction: ir.egress.defaultAction === 'allow' ? 'deny' : 'allow' } : dir(ir.egress) };
}

describe('diffPolicies', () => {
  it('agrees with the reference interpreter on random pairs of policies (thousands of sampled packets)', () => {
    let changed = 0;
    let sampled = 0;
    fc.assert(
      fc.property(randomProgram({ maxRules: 10 }), randomProgram({ maxRules: 10 }), fc.array(randomPacket, { minLength: 150, maxLength: 150 }), (a, b, packets) => {
        sampled += packets.length * 2;
        changed += checkAgainstInterpreter(a, b, diffPolicies(a, b), packets);
      }),
      { numRuns: 25 },
    );
    expect(sampled).toBeGreaterThanOrEqual(7000);
    expect(changed).toBeGreaterThan(100);
  });

  it('agrees with the reference interpreter on revisions of one policy (rules flipped, dropped, moved)', () => {
    fc.assert(
      fc.property(randomProgram({ minRules: 4, maxRules: 14 }), fc.nat(1000), fc.array(randomPacket, { minLength: 150, maxLength: 150 }), (a, seed, packets) => {
        const b = mutated(a, seed);
        checkAgainstInterpreter(a, b, diffPolicies(a, b), packets);
      }),
      { numRuns: 25 },
    );
  });

  it('finds no difference between a policy and itself', () => {
    fc.assert(
      fc.property(randomProgram(), (a) => {
        expect(diffPolicies(a, a).regions).toEqual([]);
      }),
      { numRuns: 30 },
    );
  });

  it('finds no difference when only the text changed: reordered disjoint rules, renamed rules, new layout, split files', () => {
    const before = `policy ingress default deny {
  100 web: allow tcp from any to 10.0.1.0/24 port { 80, 443 }
  200 ssh: allow tcp from 10.20.0.0/16 to any port 22
  300      deny  udp from any to any port 53
}
`;
    const after = `set office = 10.20.0.0/16
policy ingress {
  10 admin-ssh: allow tcp from office to any port 22
  20 public:    allow tcp from any to 10.0.1.0/24 port { 443, 80 }
  # the default is deny, as before
}
`;
    const more = 'policy ingress default deny {\n  30 no-dns: deny udp from any to any port 53\n}\n';
    const a = compile(['a.seg'], createMemoryHost({ 'a.seg': before })).ir!;
    const b = compile(['b.seg', 'c.seg'], createMemoryHost({ 'b.seg': after, 'c.seg': more })).ir!;
    const diff = diffPolicies(a, b);
    expect(diff.regions).toEqual([]);
    // The rules differ by name, which the rule list reports, but no verdict does.
    expect(diff.rules.length).toBeGreaterThan(0);
  });

  it('reports a changed rule with its deciding rules and an example on both sides', () => {
    const a = compile(['a.seg'], createMemoryHost({ 'a.seg': 'policy ingress {\n  100 ssh: allow tcp from 10.20.0.0/16 to any port 22\n}\n' })).ir!;
    const b = compile(['a.seg'], createMemoryHost({ 'a.seg': 'policy ingress {\n  100 ssh: allow tcp from 10.20.0.0/17 to any port 22\n}\n' })).ir!;
    const diff = diffPolicies(a, b);
    expect(diff.regions).toHaveLength(1);
    const r = diff.regions[0]!;
    expect([r.before.rule?.name, r.before.verdict, r.after.rule, r.after.verdict]).toEqual(['ssh', 'allow', null, 'deny']);
    expect(r.boxes).toEqual([{ kind: 'ports4', protocols: [[6, 6]], src: ['10.20.128.0/17'], dst: ['0.0.0.0/0'], a: [[0, 65535]], b: [[22, 22]] }]);
  });
});

describe('commonSubsequence', () => {
  it('pairs equal elements in order, as many as an LCS on small inputs', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom('a', 'b', 'c', 'd'), { maxLength: 12 }), fc.array(fc.constantFrom('a', 'b', 'c', 'd'), { maxLength: 12 }), (a, b) => {
        const [ma, mb] = commonSubsequence(a, b);
        const pa = a.filter((_, i) => ma[i] === 1);
        const pb = b.filter((_, j) => mb[j] === 1);
        expect(pa).toEqual(pb);
        const lcs: number[][] = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0));
        for (let i = a.length - 1; i >= 0; i--) for (let j = b.length - 1; j >= 0; j--) lcs[i]![j] = a[i] === b[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
        expect(pa.length).toBe(lcs[0]![0]);
      }),
      { numRuns: 300 },
    );
  });
});
