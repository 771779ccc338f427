// Hand-written cases for each finding category of the rule analysis, the diagnostics they
// become, unused declarations, and the time budget.
import { describe, expect, it } from 'vitest';
import { analyze, type RuleFinding } from '../../../compiler/analysis/index.ts';
import { Code } from '../../../compiler/diagnostics.ts';
import { evaluate, ruleMatches } from '../../../compiler/evaluate.ts';
import type { ProgramIr } from '../../../compiler/ir.ts';
import { ingressIr, programIr, type RuleSpec } from '../../support/ir-builder.ts';

/** `category rule <- related` lines, for compact expectations. */
function summary(ir: ProgramIr): string[] {
  return analyze(ir).findings.map((f) => `${f.category} ${f.rule.name}` + (f.related.length ? ` <- ${f.related.map((r) => r.name).join(' ')}` : ''));
}

function findingOf(ir: ProgramIr, name: string, category: RuleFinding['category']): RuleFinding {
  const f = analyze(ir).findings.find((x) => x.rule.name === name && x.category === category);
  if (!f) throw new Error(`no ${category} finding for ${name}`);
  return f;
}

const named = (name: string, spec: RuleSpec): RuleSpec => ({ ...spec, name });

describe('shadowed and redundant rules covered by higher rules', () => {
  it('finds a rule covered only by the union of several higher rules of another action', () => {
    const ir = ingressIr(
      [
        named('low-half', { action: 'deny', from: '10.0.0.0/25' }),
        named('high-half', { action: 'deny', from: '10.0.0.128/25' }),
        named('web', { action: 'allow', proto: 'tcp', from: '10.0.0.0/24', dport: 443 }),
      ],
      'allow',
    );
    expect(summary(ir)).toEqual(['shadowed web <- low-half high-half']);
    const f = findingOf(ir, 'web', 'shadowed');
    const w = f.witness;
    if (!w) throw new Error('no witness');
    expect(ruleMatches(f.rule, w)).toBe(true);
    expect(evaluate(ir.ingress, w).verdict).toBe('deny');
  });

  it('calls a rule covered by rules of its own action redundant, quoting a minimal cover', () => {
    const ir = ingressIr([
      named('wide', { action: 'allow', from: '10.0.0.0/8' }),
      named('narrow', { action: 'allow', from: '10.1.0.0/16' }),
      named('narrower', { action: 'allow', proto: 'udp', from: '10.1.2.0/24', dport: 53 }),
    ]);
    expect(summary(ir)).toEqual(['redundant narrow <- wide', 'redundant narrower <- wide']);
  });

  it('finds a rule inside one higher rule among many (the container is the quoted cover)', () => {
    const many: RuleSpec[] = Array.from({ length: 30 }, (_, i) => ({ action: i % 2 === 0 ? ('allow' as const) : ('deny' as const), proto: 'tcp' as const, from: `10.0.${i}.0/24` }));
    const ir = ingressIr(
      [
        ...many,
        named('all-tcp', { action: 'allow', proto: 'tcp' }),
        named('again', { action: 'allow', proto: 'tcp', from: '10.0.0.0/16' }),
        named('deny-again', { action: 'deny', proto: 'tcp', from: '10.1.0.0/16' }),
      ],
      'deny',
    );
    const found = summary(ir).filter((line) => !/^\w+ ingress\//.test(line));
    expect(found).toEqual([
      'generalization all-tcp <- ingress/20 ingress/40 ingress/60 ingress/80 ingress/100 ingress/120 ingress/140 ingress/160',
      'shadowed again <- ingress/20 all-tcp',
      'shadowed deny-again <- all-tcp',
    ]);
    const f = findingOf(ir, 'again', 'shadowed');
    expect(evaluate(ir.ingress, f.witness as NonNullable<typeof f.witness>).rule?.name).toBe('ingress/20');
  });

  it('thins a cover of many deciders to the few largest that cover', () => {
    const slices: RuleSpec[] = Array.from({ length: 30 }, (_, i) => ({ action: 'deny' as const, from: `10.0.${i}.0/24` }));
    const ir = ingressIr([...slices, named('big', { action: 'deny', from: '10.0.0.0/16' }), named('lab', { action: 'allow', from: '10.0.0.0/19' })], 'allow');
    expect(summary(ir).filter((line) => line.includes(' lab'))).toEqual(['shadowed lab <- big']);
  });

  it('honours except: only the part left by except covers', () => {
    const ir = ingressIr(
      [
        named('not-ten', { action: 'deny', from: { of: 'any4', except: '10.0.0.0/8' } }),
        named('lab', { action: 'allow', from: '192.168.0.0/16' }),
        named('ten', { action: 'allow', from: '10.1.0.0/16' }),
      ],
      'deny',
    );
    expect(summary(ir)).toEqual(['shadowed lab <- not-ten']);
  });

  it('treats port ranges exactly at their boundaries', () => {
    const ir = ingressIr(
      [
        named('low-ports', { action: 'allow', proto: 'tcp', dport: '1-1023' }),
        named('edge', { action: 'deny', proto: 'tcp', dport: 1023 }),
        named('across', { action: 'deny', proto: 'tcp', dport: '1023-1024' }),
      ],
      'allow',
    );
    expect(summary(ir)).toEqual(['shadowed edge <- low-ports', 'conflict across <- low-ports']);
    expect(findingOf(ir, 'across', 'conflict').witness).toMatchObject({ proto: 6, dstPort: 1023 });
  });

  it('compares protocol sets, not protocol text', () => {
    const ir = ingressIr(
      [
        named('tcp-udp', { action: 'deny', proto: ['tcp', 'udp'], from: '10.0.0.0/8' }),
        named('tcp', { action: 'allow', proto: 'tcp', from: '10.0.0.0/8', dport: 22 }),
        named('sctp', { action: 'allow', proto: 'sctp', from: '10.0.0.0/8', dport: 22 }),
      ],
      'deny',
    );
    expect(summary(ir)).toEqual(['shadowed tcp <- tcp-udp']);
  });

  it('keeps a later fragment apart from packets with ports', () => {
    // `deny tcp` also takes fragments; `allow tcp port 0-65535` takes only packets with ports.
    const ir = ingressIr(
      [named('all-ports', { action: 'allow', proto: 'tcp', dport: '0-65535' }), named('all-tcp', { action: 'deny', proto: 'tcp' })],
      'allow',
    );
    expect(summary(ir)).toEqual(['generalization all-tcp <- all-ports']);
    const reversed = ingressIr(
      [named('all-tcp', { action: 'deny', proto: 'tcp' }), named('all-ports', { action: 'allow', proto: 'tcp', dport: '0-65535' })],
      'allow',
    );
    expect(summary(reversed)).toEqual(['shadowed all-ports <- all-tcp']);
  });
});

describe('families and ICMP', () => {
  it('sees that an IPv4-only rule leaves the IPv6 half of a rule free', () => {
    const ir = ingressIr(
      [named('v4', { action: 'deny', from: 'any4', to: 'any4' }), named('both', { action: 'allow', from: 'any', to: 'any' })],
      'deny',
    );
    expect(summary(ir)).toEqual(['generalization both <- v4']);
    const mixed = ingressIr(
      [
        named('v4', { action: 'deny', from: 'any4' }),
        named('v6', { action: 'deny', from: 'any6' }),
        named('both', { action: 'allow', from: ['10.0.0.0/8', '2001:db8::/32'] }),
      ],
      'allow',
    );
    expect(summary(mixed)).toEqual(['shadowed both <- v4 v6']);
  });

  it('matches ICMP types and codes per family', () => {
    const ir = ingressIr(
      [
        named('echo', { action: 'allow', proto: 'icmp', icmp: { type: 'echo-request' } }),
        named('echo-code-0', { action: 'deny', proto: 'icmp', icmp: { type: 8, code: 0 } }),
        named('all-icmp', { action: 'deny', proto: 'icmp' }),
        named('v6-echo', { action: 'deny', proto: 'icmpv6', icmp: { type: 'echo-request' } }),
      ],
      'allow',
    );
    expect(summary(ir)).toEqual(['shadowed echo-code-0 <- echo', 'generalization all-icmp <- echo']);
    expect(findingOf(ir, 'all-icmp', 'generalization').witness).toMatchObject({ proto: 1, icmpType: 8 });
  });

  it('does not let icmp (IPv4) cover icmpv6', () => {
    const ir = ingressIr([named('icmp', { action: 'deny', proto: ['icmp', 'icmpv6'] }), named('v6', { action: 'allow', proto: 'icmpv6', from: 'any6' })]);
    expect(summary(ir)).toEqual(['shadowed v6 <- icmp']);
    const apart = ingressIr([named('icmp', { action: 'deny', proto: 'icmp' }), named('v6', { action: 'log', proto: 'icmpv6' })], 'allow');
    expect(summary(apart)).toEqual([]);
  });
});

describe('redundant rules decided the same way below them', () => {
  it('finds a deny rule above a default deny with nothing in between that allows', () => {
    const ir = programIr({ ingress: { default: 'deny', rules: [named('telnet', { action: 'deny', proto: 'tcp', dport: 23 }), named('ssh', { action: 'allow', proto: 'tcp', dport: 22 })] } });
    expect(summary(ir)).toEqual(['redundant telnet']);
    const f = findingOf(ir, 'telnet', 'redundant');
    expect(f.viaDefault).toBe(true);
    const d = analyze(ir).diagnostics.find((x) => x.code === Code.Redundant);
    expect(d?.message).toBe("rule 'telnet' changes no verdict: the default deny gives the same verdict to every packet it decides");
    expect(d?.related.map((r) => r.message)).toEqual(['the default deny gives the same verdict']);
  });

  it("does not call a 'deny audit' rule redundant with the default deny or a plain deny below it: it lets its packets pass", () => {
    const ir = programIr({
      ingress: { default: 'deny', rules: [named('trial', { action: 'deny audit', proto: 'tcp', dport: 23 }), named('telnet', { action: 'deny', proto: 'tcp', dport: 23 })] },
    });
    expect(analyze(ir).findings.filter((f) => f.rule.name === 'trial')).toEqual([]);
    // The deny below it is shadowed (it would decide otherwise), not redundant.
    expect(summary(ir)).toEqual(['shadowed telnet <- trial']);
  });

  it('finds a rule whose packets a lower rule of the same verdict decides anyway', () => {
    const ir = ingressIr([named('host', { action: 'allow', from: '10.0.0.1' }), named('net', { action: 'allow', from: '10.0.0.0/24' })]);
    expect(summary(ir)).toEqual(['redundant host <- net']);
  });

  it('does not call a rule redundant when a lower rule of another verdict would decide some of its packets', () => {
    const ir = ingressIr([
      named('host', { action: 'allow', from: '10.0.0.1' }),
      named('block', { action: 'deny', from: '10.0.0.0/30' }),
      named('net', { action: 'allow', from: '10.0.0.0/24' }),
    ]);
    expect(summary(ir)).toEqual(['generalization block <- host', 'generalization net <- block']);
  });

  it('counts logging as part of the verdict', () => {
    const ir = ingressIr([named('audit', { action: 'deny log', proto: 'tcp', dport: 23 })], 'deny');
    expect(summary(ir)).toEqual([]);
  });
});

describe('policies with no findings', () => {
  it('reports nothing for disjoint rules and exceptions whose general rule has the same action', () => {
    const ir = programIr({
      ingress: {
        default: 'deny',
        rules: [
          { action: 'allow', proto: 'tcp', to: '10.0.1.0/24', dport: [80, 443] },
          { action: 'allow', proto: 'tcp', from: '10.20.0.0/16', dport: 22 },
          { action: 'allow', proto: 'icmp', icmp: { type: 'echo-request' } },
          { action: 'allow', proto: 'udp', to: '10.0.0.53', dport: 53 },
        ],
      },
      egress: { default: 'allow', rules: [{ action: 'deny', proto: 'tcp', dport: [25, 465, 587] }] },
    });
    const result = analyze(ir);
    expect(result.diagnostics).toEqual([]);
    expect(result.complete).toBe(true);
    expect(result.stats.rules).toBe(5);
  });
});

describe('diagnostics', () => {
  const ir = ingressIr(
    [
      named('block-lab', { action: 'deny', from: '10.0.0.0/24' }),
      named('lab-ssh', { action: 'allow', proto: 'tcp', from: '10.0.0.0/24', dport: 22 }),
      named('lab-web', { action: 'allow', proto: 'tcp', from: '10.0.0.0/16', dport: 80 }),
    ],
    'deny',
  );

  it('puts a shadowed rule on its span, with the covering rules as related spans and a witness', () => {
    const d = analyze(ir).diagnostics.find((x) => x.code === Code.Shadowed);
    expect(d).toMatchObject({
      severity: 'error',
      category: 'shadowed',
      message: "rule 'lab-ssh' can never match: earlier rules take every packet it matches, 'block-lab' with another action",
      hint: "remove it, or move it above 'block-lab'",
      span: ir.ingress.rules[1]?.span,
      related: [{ span: ir.ingress.rules[0]?.span, message: "'block-lab' (deny) takes packets of 'lab-ssh' first" }],
      witness: { proto: 'tcp', src: '10.0.0.1', srcPort: 40000, dst: '198.51.100.20', dstPort: 22 },
    });
  });

  it('reports a conflict with the witness in the overlap', () => {
    const d = analyze(ir).diagnostics.find((x) => x.code === Code.Conflict);
    expect(d).toMatchObject({
      severity: 'warning',
      message: "rule 'lab-web' overlaps rule 'block-lab' of another action; their order decides packets such as the witness",
      span: ir.ingress.rules[2]?.span,
      witness: { proto: 'tcp', src: '10.0.0.1', dst: '198.51.100.20', dstPort: 80 },
    });
  });

  it('caps related entries and names how many more rules there are', () => {
    const rules: RuleSpec[] = Array.from({ length: 12 }, (_, i) => ({ action: 'deny' as const, from: `10.0.${i}.0/24` }));
    rules.push(named('wide', { action: 'allow', from: '10.0.0.0/16' }));
    const result = analyze(ingressIr(rules, 'deny'), { maxRelated: 4 });
    const d = result.diagnostics.find((x) => x.code === Code.Generalization);
    expect(d?.related).toHaveLength(4);
    // The search stops once it has enough: the count of the rest is a lower bound.
    expect(d?.message).toBe("rule 'wide' generalizes rule 'ingress/10' and at least 3 more rules of another action");
    expect(result.findings[0]).toMatchObject({ relatedComplete: false });
    const all = analyze(ingressIr(rules, 'deny'), { maxRelated: 20 });
    expect(all.diagnostics.find((x) => x.code === Code.Generalization)?.message).toBe(
      "rule 'wide' generalizes rule 'ingress/10' and 11 more rules of another action",
    );
    expect(all.findings[0]?.related).toHaveLength(12);
  });
});

describe('unused declarations', () => {
  it('reports sets and port sets that nothing uses', () => {
    const span = (start: number) => ({ file: 'test.seg', start, end: start + 5 });
    const ir = programIr({
      ingress: { rules: [{ action: 'allow', from: '10.0.0.0/8' }] },
      declarations: [
        { kind: 'set', name: 'office', span: span(1), uses: [] },
        { kind: 'set', name: 'web', span: span(2), uses: [span(50)] },
        { kind: 'ports', name: 'mail', span: span(3), uses: [] },
      ],
    });
    const d = analyze(ir).diagnostics.filter((x) => x.code === Code.UnusedSet || x.code === Code.UnusedPorts);
    expect(d.map((x) => [x.code, x.message, x.span.start])).toEqual([
      [Code.UnusedSet, "address set 'office' is never used", 1],
      [Code.UnusedPorts, "port set 'mail' is never used", 3],
    ]);
  });
});

describe('the time budget', () => {
  const rules: RuleSpec[] = Array.from({ length: 40 }, (_, i) => ({ action: i % 2 === 0 ? ('allow' as const) : ('deny' as const), from: `10.${i}.0.0/16` }));
  rules.push({ action: 'deny', from: 'any' });

  it('stops when the clock passes the budget and says what it did not analyse', () => {
    let t = 0;
    // Each clock read advances a millisecond: the budget is spent after a known amount of work.
    const result = analyze(programIr({ ingress: { rules }, egress: { rules: [{ action: 'deny', proto: 'udp' }] } }), { budgetMs: 3, now: () => t++ });
    expect(result.complete).toBe(false);
    const d = result.diagnostics.find((x) => x.code === Code.AnalysisIncomplete);
    expect(d?.message).toMatch(/^rule analysis stopped after 3 ms: \d+ rules of ingress from 'ingress\/\d+' on and all 1 rule of egress was not analysed$/);
    expect(result.stats.rules).toBeLessThan(41);
  });

  it('analyses nothing with a zero budget but still reports unused declarations', () => {
    const ir = programIr({ ingress: { rules }, declarations: [{ kind: 'ports', name: 'p', span: { file: 'test.seg', start: 0, end: 1 }, uses: [] }] });
    const result = analyze(ir, { budgetMs: 0 });
    expect(result.diagnostics.map((d) => d.code)).toEqual([Code.UnusedPorts, Code.AnalysisIncomplete]);
    expect(result.diagnostics[1]?.message).toBe('rule analysis stopped after 0 ms: all 41 rules of ingress was not analysed');
  });

  it('completes within a generous budget', () => {
    expect(analyze(ingressIr(rules), { budgetMs: 60_000 }).complete).toBe(true);
  });
});
