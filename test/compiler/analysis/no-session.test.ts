// The analysis of `nosession` (compiler/analysis/no-session.ts): which rules' flows may go
// without a session, proved over the packet space, and the warnings with their witnesses where
// they may not; checked against the reference interpreter on random policies and packets.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decideNoSession } from '../../../compiler/analysis/no-session.ts';
import { Code } from '../../../compiler/diagnostics.ts';
import { emit } from '../../../compiler/emit.ts';
import { evaluate } from '../../../compiler/evaluate.ts';
import { DIRECTIONS, type ProgramIr, type RuleIr } from '../../../compiler/ir.ts';
import { parsePacket, type Packet } from '../../../compiler/packet.ts';
import { SEG_RULE_INFO, SegSlotMap } from '../../../compiler/policy-abi.ts';
import { compile } from '../../../compiler/program.ts';
import { createMemoryHost } from '../../../compiler/source.ts';
import { packetsInRule, randomPacket, randomProgram } from '../../support/random-policy.ts';
import { opensSession, replyOf } from '../../support/reply-model.ts';

function compiled(text: string) {
  const c = compile(['p.seg'], createMemoryHost({ 'p.seg': text }));
  if (!c.ir) throw new Error(JSON.stringify(c.diagnostics));
  return c;
}
const proved = (text: string) => {
  const c = compiled(text);
  return (c.noSession?.ruleIds ?? []).map((id) => c.ir?.rules[id]?.name);
};

/** Whether the direction passes a reply as the session of `rule` would: allowed, logged alike. */
function passesReply(ir: ProgramIr, rule: RuleIr, reply: Packet): boolean {
  const other = rule.direction === 'ingress' ? ir.egress : ir.ingress;
  const d = evaluate(other, reply);
  return d.verdict === 'allow' && !d.audit && d.log === rule.log;
}

/** Every allowing rule of a random program with `nosession`. */
function withNoSession(ir: ProgramIr): ProgramIr {
  const rules = ir.rules.map((r) => (r.action === 'allow' ? { ...r, noSession: true as const } : r));
  return { ...ir, rules, ingress: { ...ir.ingress, rules: rules.filter((r) => r.direction === 'ingress') }, egress: { ...ir.egress, rules: rules.filter((r) => r.direction === 'egress') } };
}

describe("the analysis of 'nosession'", () => {
  it('proves a rule whose replies the other direction allows: an unfiltered direction, or an allow rule for them', () => {
    expect(proved('policy egress default deny {\n  100 dns: allow udp from any to any port 53 nosession\n}\n')).toEqual(['dns']);
    expect(
      proved(`policy egress default deny {
  100 dns: allow udp from any to 10.0.0.53 port 53 nosession
}
policy ingress default deny {
  100 dns-replies: allow udp from 10.0.0.53 port 53 to any nosession
}
`),
    ).toEqual(['dns-replies', 'dns']);
  });

  it('decides by first match: the rules above take their packets, and a reply rule below a deny does not count', () => {
    // Rule 50 decides the flows to 10/8; only the rest are the nosession rule's, and their
    // replies (from outside 10/8) are allowed.
    const text = (reverse: string) => `policy egress default deny {
  50  inside: allow udp from any to 10.0.0.0/8 port 53
  100 dns:    allow udp from any to any port 53 nosession
}
policy ingress default deny {
${reverse}
}
`;
    expect(proved(text('  100 replies: allow udp from any port 53 to any except 0.0.0.0/32 except 10.0.0.0/8\n  200 rest: allow udp from 0.0.0.0/1 port 53 to any except 10.0.0.0/8'))).toEqual([]);
    expect(proved(text('  100 replies: allow udp from any except 10.0.0.0/8 port 53 to any'))).toEqual(['dns']);
    const c = compiled(text('  90 no: deny udp from 192.0.2.0/24 port 53 to any\n  100 replies: allow udp from any except 10.0.0.0/8 port 53 to any'));
    expect(c.noSession?.ruleIds).toEqual([]);
    const d = c.diagnostics.find((x) => x.code === Code.NoSessionReplyNotPassed);
    expect(d?.severity).toBe('warning');
    expect(d?.message).toMatch(/the reply udp 192\.0\.2\.\d+:53 -> .* is decided by ingress rule 'no' \(deny\), which does not let it through/);
    expect(d?.witness).toMatchObject({ proto: 'udp', srcPort: 53 });
    expect(d?.related[0]?.message).toMatch(/decides the reply/);
    // The span is the rule's line, as for the other rule findings.
    const text2 = text('  90 no: deny udp from 192.0.2.0/24 port 53 to any\n  100 replies: allow udp from any except 10.0.0.0/8 port 53 to any');
    expect(text2.slice(d?.span.start, d?.span.end)).toBe('100 dns:    allow udp from any to any port 53 nosession');
  });

  it('refuses when the default denies a reply, naming the default', () => {
    const c = compiled('policy egress default deny {\n  100 dns: allow udp from any to any port 53 nosession\n}\npolicy ingress default deny {\n}\n');
    const d = c.diagnostics.find((x) => x.code === Code.NoSessionReplyNotPassed);
    expect(d?.message).toMatch(/decided by the ingress default \(deny\)/);
    expect(d?.hint).toMatch(/remove 'nosession'/);
  });

  it('asks the reply to be logged exactly as the session would log it', () => {
    const base = (egress: string, ingress: string) => `policy egress default deny {\n  100 dns: ${egress} udp from any to any port 53 nosession\n}\npolicy ingress default deny {\n  100 r: ${ingress} udp from any port 53 to any\n}\n`;
    expect(proved(base('allow', 'allow'))).toEqual(['dns']);
    expect(proved(base('allow', 'log'))).toEqual([]);
    expect(proved(base('log', 'allow'))).toEqual([]);
    expect(proved(base('allow log', 'log'))).toEqual(['dns']);
    expect(compiled(base('allow', 'log')).diagnostics.find((x) => x.code === Code.NoSessionReplyNotPassed)?.message).toMatch(/which logs it, as the session would not/);
    // A deny audit lets the reply pass only as a would-deny: not as the session would.
    expect(proved(base('allow', 'deny audit'))).toEqual([]);
  });

  it('answers an echo request by an echo reply, and protocols without ports by the swapped addresses', () => {
    const echo = (reply: string) => `policy egress default deny {\n  100 ping: allow icmp from any to any icmp echo-request nosession\n}\npolicy ingress default deny {\n  100 pong: allow icmp from any to any icmp ${reply}\n}\n`;
    expect(proved(echo('echo-reply'))).toEqual(['ping']);
    const c = compiled(echo('echo-request'));
    expect(c.diagnostics.find((x) => x.code === Code.NoSessionReplyNotPassed)?.witness).toMatchObject({ proto: 'icmp', icmpType: 0 });
    // Only echo opens sessions: an ICMP rule for other types needs no reply rule.
    expect(proved('policy egress default deny {\n  100 unreach: allow icmp from any to any icmp destination-unreachable nosession\n}\npolicy ingress default deny {\n}\n')).toEqual(['unreach']);
    const gre = (from: string) => `policy egress default deny {\n  100 gre: allow 47 from any to 10.0.0.1 nosession\n}\npolicy ingress default deny {\n  100 back: allow 47 from ${from} to any\n}\n`;
    expect(proved(gre('10.0.0.1'))).toEqual(['gre']);
    expect(compiled(gre('10.0.0.2')).diagnostics.find((x) => x.code === Code.NoSessionReplyNotPassed)?.witness).toMatchObject({ proto: '47', src: '10.0.0.1' });
  });

  it('says when it gives up (SEG5103), and the rule keeps its sessions', () => {
    const rules = Array.from({ length: 40 }, (_, i) => `  ${i + 1} r${i}: allow tcp from 10.${i}.0.0/16 port ${1000 + i} to any port ${2000 + i}`).join('\n');
    const c = compiled(`policy egress default deny {\n${rules}\n  100 wide: allow tcp from any to any nosession\n}\npolicy ingress default deny {\n  100 back: allow tcp from any to any\n}\n`);
    expect(c.noSession?.ruleIds).toEqual([c.ir?.egress.rules.at(-1)?.id]);
    const r = decideNoSession(c.ir as ProgramIr, { maxPieces: 10 });
    expect(r.ruleIds).toEqual([]);
    expect(r.diagnostics.map((d) => d.code)).toEqual([Code.NoSessionUndecided]);
  });

  it('writes the decision, not the option, into the rule entries', () => {
    const c = compiled(`policy egress default deny {
  100 dns: allow udp from any to any port 53 nosession
  200 web: allow tcp from any to any port 443 nosession
}
policy ingress default deny {
  100 r: allow udp from any port 53 to any
}
`);
    const rules = emit(c.ir as ProgramIr, { noSession: c.noSession?.ruleIds ?? [] }).maps.find((m) => m.name === SegSlotMap.slotRules);
    const byte = (id: number) => (rules?.kind === 'array' ? rules.values[id * SEG_RULE_INFO.size + SEG_RULE_INFO.fields.no_session.offset] : -1);
    const id = (name: string) => c.ir?.rules.find((r) => r.name === name)?.id ?? -1;
    expect([byte(id('r')), byte(id('dns')), byte(id('web'))]).toEqual([0, 1, 0]);
    // Without a decision, emit writes none: every rule's flows open sessions.
    const none = emit(c.ir as ProgramIr).maps.find((m) => m.name === SegSlotMap.slotRules);
    expect(none?.values.every((b, i) => i % SEG_RULE_INFO.size !== SEG_RULE_INFO.fields.no_session.offset || b === 0)).toBe(true);
  });

  it('agrees with the reference interpreter on random policies: every reply of a proved rule passes, every witness is a real reply that does not', () => {
    let repliesChecked = 0;
    let witnessesChecked = 0;
    fc.assert(
      fc.property(randomProgram({ maxRules: 8 }).map(withNoSession), fc.array(randomPacket, { minLength: 60, maxLength: 60 }), (ir, packets) => {
        const result = decideNoSession(ir);
        const provedIds = new Set(result.ruleIds);
        const aimed = ir.rules.filter((r) => provedIds.has(r.id)).flatMap(packetsInRule);
        for (const p of [...packets, ...aimed]) {
          for (const direction of DIRECTIONS) {
            const d = evaluate(ir[direction], p);
            if (d.rule === null || !provedIds.has(d.rule.id) || !opensSession(p)) continue;
            expect(passesReply(ir, d.rule, replyOf(p)), `${direction} ${JSON.stringify(p)}`).toBe(true);
            repliesChecked++;
          }
        }
        for (const diagnostic of result.diagnostics) {
          expect(diagnostic.code).toBe(Code.NoSessionReplyNotPassed);
          const w = diagnostic.witness;
          const reply = parsePacket(`${w?.proto} ${side(w?.src, w?.srcPort)} -> ${side(w?.dst, w?.dstPort)}${w?.icmpType !== undefined ? ` type ${w.icmpType} code ${w.icmpCode}` : ''}`);
          if (!reply.ok) throw new Error(reply.error);
          const flow = replyOf(reply.packet);
          const rule = ir.rules.find((r) => r.span.start === diagnostic.span.start) as RuleIr;
          expect(evaluate(ir[rule.direction], flow).rule?.id).toBe(rule.id);
          expect(opensSession(flow)).toBe(true);
          expect(passesReply(ir, rule, reply.packet)).toBe(false);
          witnessesChecked++;
        }
        // Every allowing rule is either proved or has its one warning.
        expect(result.ruleIds.length + result.diagnostics.length).toBe(ir.rules.filter((r) => r.action === 'allow').length);
      }),
      { numRuns: 150, seed: 18 },
    );
    // Both halves were exercised, not skipped by chance.
    expect(repliesChecked).toBeGreaterThan(200);
    expect(witnessesChecked).toBeGreaterThan(50);
  });
});

function side(addr: string | undefined, port: number | undefined): string {
  if (port === undefined) return addr ?? '';
  return addr?.includes(':') ? `[${addr}]:${port}` : `${addr}:${port}`;
}
