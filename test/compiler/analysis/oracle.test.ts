// The exhaustive oracle: random small policies over a tiny header space, every packet of it
// enumerated, each finding category computed by brute force from the definitions (findings.ts)
// and compared with `analyze`. The space is exact, not a sample: every rule's sets are built
// from values inside 10.0.0.0/29, 2001:db8::/125, ports 0-3 and ICMP types 0-3 / codes 0-1,
// or `any`, so one extra representative per dimension (an address outside the block, port
// 1000, type 200, code 9, protocol 47 and 50) stands for every other value.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { analyze, type RuleFinding } from '../../../compiler/analysis/index.ts';
import { parseAddress, prefixTextsToRanges, rangesContain, type AddrRange, type Family } from '../../../compiler/cidr.ts';
import { evaluate, ruleMatches } from '../../../compiler/evaluate.ts';
import type { DirectionIr, ProgramIr, RuleIr } from '../../../compiler/ir.ts';
import type { Packet } from '../../../compiler/packet.ts';
import { programIr, ruleIr, type AddrSpec, type ProtoSpec, type RuleSpec } from '../../support/ir-builder.ts';

// ---- The tiny space ----------------------------------------------------------------------------

const V4 = [...Array.from({ length: 8 }, (_, i) => `10.0.0.${i}`), '192.0.2.1'];
const V6 = [...Array.from({ length: 8 }, (_, i) => `2001:db8::${i}`), '2001:db8:1::1'];
const PORTS = [0, 1, 2, 3, 1000];
const TYPES = [0, 1, 2, 3, 200];
const CODES = [0, 1, 9];
const BARE_PROTOCOLS = [6, 17, 132, 1, 58, 47, 50];

/** A packet with the indices the fast matcher uses. */
interface Point {
  readonly packet: Packet;
  readonly family: Family;
  readonly src: number;
  readonly dst: number;
}

function enumeratePoints(): Point[] {
  const out: Point[] = [];
  for (const family of [4, 6] as const) {
    const addrs = family === 4 ? V4 : V6;
    for (let s = 0; s < addrs.length; s++) {
      for (let d = 0; d < addrs.length; d++) {
        const base = { src: addrs[s] as string, dst: addrs[d] as string };
        const at = (packet: Packet) => out.push({ packet, family, src: s, dst: d });
        for (const proto of [6, 17, 132]) for (const sp of PORTS) for (const dp of PORTS) at({ proto, ...base, srcPort: sp, dstPort: dp });
        for (const type of TYPES) for (const code of CODES) at({ proto: family === 4 ? 1 : 58, ...base, icmpType: type, icmpCode: code });
        for (const proto of BARE_PROTOCOLS) at({ proto, ...base });
      }
    }
  }
  return out;
}

const POINTS = enumeratePoints();

// Per point, small integer fields (index into PORTS, TYPES, CODES; -1 when absent), so a row
// is a loop over typed arrays.
const PT_FAMILY = Uint8Array.from(POINTS, (p) => p.family);
const PT_PROTO = Uint8Array.from(POINTS, (p) => p.packet.proto);
const PT_SRC = Uint8Array.from(POINTS, (p) => p.src);
const PT_DST = Uint8Array.from(POINTS, (p) => p.dst);
const PT_SPORT = Int8Array.from(POINTS, (p) => (p.packet.srcPort === undefined ? -1 : PORTS.indexOf(p.packet.srcPort)));
const PT_DPORT = Int8Array.from(POINTS, (p) => (p.packet.dstPort === undefined ? -1 : PORTS.indexOf(p.packet.dstPort)));
const PT_TYPE = Int16Array.from(POINTS, (p) => (p.packet.icmpType === undefined ? -1 : p.packet.icmpType));
const PT_CODE = Int16Array.from(POINTS, (p) => (p.packet.icmpCode === undefined ? -1 : p.packet.icmpCode));

/**
 * The match matrix of a rule over every point: an independent, table-driven rewrite of
 * evaluate.ts's `ruleMatches` (checked against it below), fast enough for thousands of policies.
 */
function matchRow(rule: RuleIr): Uint8Array {
  const addrTable = (texts: readonly string[], values: readonly string[]) => {
    const ranges: AddrRange[] = prefixTextsToRanges(texts);
    return values.map((v) => rangesContain(ranges, (parseAddress(v) as { value: bigint }).value));
  };
  const src = [[], [], [], [], addrTable(rule.src.v4, V4), [], addrTable(rule.src.v6, V6)];
  const dst = [[], [], [], [], addrTable(rule.dst.v4, V4), [], addrTable(rule.dst.v6, V6)];
  const portTable = (set: RuleIr['srcPorts']) => PORTS.map((port) => set === null || set.some(([lo, hi]) => port >= lo && port <= hi));
  const sport = portTable(rule.srcPorts);
  const dport = portTable(rule.dstPorts);
  const row = new Uint8Array(POINTS.length);
  for (let i = 0; i < POINTS.length; i++) {
    const family = PT_FAMILY[i] as number;
    const proto = PT_PROTO[i] as number;
    if (rule.protocols !== null) {
      if (!rule.protocols.includes(proto)) continue;
      if ((proto === 1 && family !== 4) || (proto === 58 && family !== 6)) continue;
    }
    if (!src[family]?.[PT_SRC[i] as number] || !dst[family]?.[PT_DST[i] as number]) continue;
    const sp = PT_SPORT[i] as number;
    const dp = PT_DPORT[i] as number;
    if (rule.srcPorts !== null && (sp < 0 || !sport[sp])) continue;
    if (rule.dstPorts !== null && (dp < 0 || !dport[dp])) continue;
    if (rule.icmp !== null) {
      const type = family === 4 ? rule.icmp.type4 : rule.icmp.type6;
      if (PT_TYPE[i] === -1 || type !== PT_TYPE[i]) continue;
      if (rule.icmp.code !== null && rule.icmp.code !== PT_CODE[i]) continue;
    }
    row[i] = 1;
  }
  return row;
}

// ---- Brute-force truth -------------------------------------------------------------------------

interface Truth {
  readonly category: RuleFinding['category'];
  readonly rule: number;
  /** Exact related rules where the definition fixes them (redundant by lower rules, conflict, generalization). */
  readonly related?: readonly number[];
  readonly viaDefault?: boolean;
  /** For shadowed and covered-redundant: the deciders (higher rules taking some of its packets first). */
  readonly deciders?: readonly number[];
}

function bruteForce(direction: DirectionIr): { truth: Truth[]; rows: Uint8Array[] } {
  const rules = direction.rules;
  const rows = rules.map(matchRow);
  const n = rules.length;
  const first = new Int32Array(POINTS.length).fill(-1);
  for (let p = 0; p < POINTS.length; p++) {
    for (let r = 0; r < n; r++) {
      if ((rows[r] as Uint8Array)[p]) {
        first[p] = r;
        break;
      }
    }
  }
  const verdictOf = (r: number) => (r < 0 ? `${direction.defaultAction}/false` : `${rules[r]?.action}/${rules[r]?.log}`);
  const truth: Truth[] = [];
  for (let R = 0; R < n; R++) {
    const me = rules[R] as RuleIr;
    const row = rows[R] as Uint8Array;
    const deciders = new Set<number>();
    let decides = false;
    for (let p = 0; p < POINTS.length; p++) {
      if (!row[p]) continue;
      if (first[p] === R) decides = true;
      else deciders.add(first[p] as number);
    }
    const deciderList = [...deciders].sort((a, b) => a - b);
    if (!decides) {
      const shadowed = deciderList.some((s) => rules[s]?.action !== me.action);
      truth.push({ category: shadowed ? 'shadowed' : 'redundant', rule: R, deciders: deciderList });
      continue;
    }
    let redundant = true;
    const lower = new Set<number>();
    let viaDefault = false;
    for (let p = 0; p < POINTS.length && redundant; p++) {
      if (first[p] !== R) continue;
      let next = -1;
      for (let t = R + 1; t < n; t++) {
        if ((rows[t] as Uint8Array)[p]) {
          next = t;
          break;
        }
      }
      if (verdictOf(next) !== verdictOf(R)) redundant = false;
      else if (next < 0) viaDefault = true;
      else lower.add(next);
    }
    if (redundant) {
      truth.push({ category: 'redundant', rule: R, related: [...lower].sort((a, b) => a - b), viaDefault });
      continue;
    }
    const conflict: number[] = [];
    const generalization: number[] = [];
    for (const s of deciderList) {
      if (rules[s]?.action === me.action) continue;
      const sRow = rows[s] as Uint8Array;
      let inside = true;
      for (let p = 0; p < POINTS.length && inside; p++) if (sRow[p] && !row[p]) inside = false;
      (inside ? generalization : conflict).push(s);
    }
    if (conflict.length > 0) truth.push({ category: 'conflict', rule: R, related: conflict });
    if (generalization.length > 0) truth.push({ category: 'generalization', rule: R, related: generalization });
  }
  return { truth, rows };
}

// ---- Checking one policy -----------------------------------------------------------------------

function withoutRule(direction: DirectionIr, rule: RuleIr): DirectionIr {
  return { ...direction, rules: direction.rules.filter((r) => r !== rule) };
}

/**
 * Checks `analyze` against the brute force; conflict and generalization list `maxRelated`
 * rules at most; `splitAbove` low makes the walks split pieces often.
 */
function checkPolicy(ir: ProgramIr, maxRelated = 100, splitAbove?: number): void {
  const result = analyze(ir, { budgetMs: Infinity, maxRelated, ...(splitAbove !== undefined ? { splitAbove } : {}) });
  expect(result.complete).toBe(true);
  for (const name of ['ingress', 'egress'] as const) {
    const direction = ir[name];
    const { truth, rows } = bruteForce(direction);
    const local = (r: RuleIr) => direction.rules.indexOf(r);
    const got = result.findings.filter((f) => f.rule.direction === name);
    const key = (c: string, r: number) => `${c} ${direction.rules[r]?.name}`;
    expect(got.map((f) => key(f.category, local(f.rule))).sort()).toEqual(truth.map((t) => key(t.category, t.rule)).sort());

    for (const t of truth) {
      const f = got.find((g) => g.category === t.category && local(g.rule) === t.rule) as RuleFinding;
      const related = f.related.map(local);
      const me = direction.rules[t.rule] as RuleIr;
      const row = rows[t.rule] as Uint8Array;
      if (t.related && (t.category === 'conflict' || t.category === 'generalization')) {
        expect(related).toEqual(t.related.slice(0, maxRelated));
        expect(f.relatedComplete).toBe(t.related.length <= maxRelated);
      } else if (t.related) expect(related).toEqual(t.related);
      if (t.viaDefault !== undefined) expect(f.viaDefault).toBe(t.viaDefault);
      if (t.deciders) {
        // A cover drawn from the higher rules that overlap it, none of which can be dropped.
        for (const s of related) expect(s < t.rule && row.some((m, p) => m === 1 && (rows[s] as Uint8Array)[p] === 1)).toBe(true);
        const covers = (set: readonly number[]) => row.every((m, p) => !m || set.some((s) => (rows[s] as Uint8Array)[p]));
        expect(covers(related)).toBe(true);
        // A shadowed rule's cover also names a decider of another action when the cover had none.
        const firstOther = t.deciders.find((s) => direction.rules[s]?.action !== me.action);
        const cover = t.category === 'shadowed' && firstOther !== undefined && covers(related.filter((x) => x !== firstOther)) ? related.filter((x) => x !== firstOther) : related;
        if (cover.length <= 24) for (const s of cover) expect(covers(cover.filter((x) => x !== s))).toBe(false);
        if (t.category === 'shadowed') expect(f.related.some((s) => s.action !== me.action)).toBe(true);
      }
      // The witness lies in the rule and is decided by the stated (or another-action) rule.
      if (t.category === 'shadowed' || t.category === 'conflict' || t.category === 'generalization') {
        const w = f.witness as Packet;
        expect(w).not.toBeNull();
        expect(ruleMatches(me, w)).toBe(true);
        const decided = evaluate(direction, w).rule as RuleIr;
        if (t.category === 'shadowed') expect(decided.action).not.toBe(me.action);
        else expect(decided).toBe(f.related[0]);
      }
      // Removing a redundant rule changes no verdict (on a sample of the points).
      if (t.category === 'redundant') {
        const without = withoutRule(direction, me);
        const changed: Packet[] = [];
        for (let p = t.rule; p < POINTS.length; p += 97) {
          const packet = POINTS[p]?.packet as Packet;
          const a = evaluate(direction, packet);
          const b = evaluate(without, packet);
          if (a.verdict !== b.verdict || a.log !== b.log) changed.push(packet);
        }
        expect(changed).toEqual([]);
      }
    }
  }
}

// ---- Random policies ---------------------------------------------------------------------------

const V4_PREFIXES = ['10.0.0.0/29', '10.0.0.0/30', '10.0.0.4/30', '10.0.0.2/31', '10.0.0.6/31', '10.0.0.1', '10.0.0.5'];
const V6_PREFIXES = ['2001:db8::/125', '2001:db8::/126', '2001:db8::4/126', '2001:db8::2/127', '2001:db8::3'];

const addrArb: fc.Arbitrary<AddrSpec> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom<AddrSpec>('any', 'any4', 'any6') },
  { weight: 4, arbitrary: fc.constantFrom<AddrSpec>(...V4_PREFIXES, ...V6_PREFIXES) },
  { weight: 1, arbitrary: fc.uniqueArray(fc.constantFrom(...V4_PREFIXES, ...V6_PREFIXES), { minLength: 2, maxLength: 3 }) },
  {
    weight: 1,
    arbitrary: fc.record({ of: fc.constantFrom<AddrSpec>('any', '10.0.0.0/29', 'any6'), except: fc.constantFrom<AddrSpec>('10.0.0.0/30', '10.0.0.5', '2001:db8::/126') }),
  },
);

const portArb = fc.oneof(fc.integer({ min: 0, max: 3 }), fc.constantFrom('0-1', '1-2', '2-3', '1-3', '0-3'), fc.constantFrom([0, 2], [1, 3]));

const ruleArb: fc.Arbitrary<RuleSpec> = fc
  .record({
    action: fc.constantFrom<RuleSpec['action']>('allow', 'deny', 'allow', 'deny', 'log', 'deny log'),
    shape: fc.constantFrom('any', 'ports', 'ports', 'icmp', 'icmp', 'plain'),
    portProto: fc.constantFrom<ProtoSpec>('tcp', 'udp', ['tcp', 'udp'], ['tcp', 'udp', 'sctp']),
    icmpProto: fc.constantFrom<ProtoSpec>('icmp', 'icmpv6', ['icmp', 'icmpv6']),
    plainProto: fc.constantFrom<ProtoSpec>('tcp', 'udp', 'icmp', 'icmpv6', 47, ['tcp', 47], ['icmp', 'udp']),
    from: addrArb,
    to: addrArb,
    sport: fc.option(portArb, { freq: 3 }),
    dport: fc.option(portArb, { freq: 2 }),
    type: fc.integer({ min: 0, max: 3 }),
    code: fc.option(fc.integer({ min: 0, max: 1 })),
    withType: fc.boolean(),
  })
  .map((g): RuleSpec => {
    const base = { action: g.action, from: g.from, to: g.to };
    switch (g.shape) {
      case 'any':
        return { ...base, proto: 'any' };
      case 'ports':
        return { ...base, proto: g.portProto, ...(g.sport !== null ? { sport: g.sport } : {}), ...(g.dport !== null ? { dport: g.dport } : {}) };
      case 'icmp':
        return { ...base, proto: g.icmpProto, ...(g.withType ? { icmp: g.code === null ? { type: g.type } : { type: g.type, code: g.code } } : {}) };
      default:
        return { ...base, proto: g.plainProto };
    }
  });

/** Rules the front end accepts (one that can match nothing is an error, SEG3016). */
const validRuleArb = ruleArb.filter((spec) => {
  try {
    ruleIr(spec, { id: 0, direction: 'ingress', priority: 1, span: { file: 't', start: 0, end: 0 } });
    return true;
  } catch {
    return false;
  }
});

/** A program, or null when some rule can match nothing (the front end refuses those, SEG3016). */
function buildProgram(ingress: readonly RuleSpec[], egress: readonly RuleSpec[], defaults: readonly ['allow' | 'deny', 'allow' | 'deny']): ProgramIr | null {
  try {
    return programIr({ ingress: { default: defaults[0], rules: ingress }, egress: { default: defaults[1], rules: egress } });
  } catch {
    return null;
  }
}

const programArb = (minRules: number, maxRules: number) =>
  fc
  .record({
    ingress: fc.array(validRuleArb, { minLength: minRules, maxLength: maxRules, ...(minRules > 1 ? { size: 'max' as const } : {}) }),
    egress: fc.array(validRuleArb, { maxLength: 3 }),
    defaults: fc.tuple(fc.constantFrom<'allow' | 'deny'>('allow', 'deny'), fc.constantFrom<'allow' | 'deny'>('allow', 'deny')),
  })
  .map((g) => buildProgram(g.ingress, g.egress, g.defaults))
  .filter((ir): ir is ProgramIr => ir !== null);

const RUNS = Number(process.env['ORACLE_RUNS'] ?? 3000);
/** Longer runs (ORACLE_RUNS) get time in proportion. */
const TIMEOUT_MS = Math.max(60_000, RUNS * 20);

describe('the exhaustive oracle', () => {
  it('has a fast matcher that agrees with the reference interpreter on every point', () => {
    fc.assert(
      fc.property(programArb(1, 6), (ir) => {
        for (const rule of ir.rules) {
          const row = matchRow(rule);
          const wrong: Packet[] = [];
          for (let p = 0; p < POINTS.length; p += 5) if ((row[p] === 1) !== ruleMatches(rule, POINTS[p]?.packet as Packet)) wrong.push(POINTS[p]?.packet as Packet);
          expect(wrong).toEqual([]);
        }
      }),
      { numRuns: 25 },
    );
  });

  it(`finds exactly the brute-force findings on ${RUNS} random policies`, () => {
    fc.assert(
      fc.property(programArb(1, 6), fc.boolean(), (ir, split) => checkPolicy(ir, 100, split ? 1 : undefined)),
      { numRuns: RUNS },
    );
  }, TIMEOUT_MS);

  it('finds exactly the brute-force findings on larger policies, where pieces are split before rules take them', () => {
    let largest = 0;
    fc.assert(
      fc.property(programArb(20, 40), (ir) => {
        largest = Math.max(largest, ir.ingress.rules.length);
        checkPolicy(ir);
        checkPolicy(ir, 2, 4);
      }),
      { numRuns: Math.ceil(RUNS / 40) },
    );
    expect(largest).toBeGreaterThan(30);
  }, TIMEOUT_MS);
});
