// Flows that open no session (`nosession`, data-path version 4) in the kernel, differentially
// against the reference interpreter under BPF_PROG_TEST_RUN, sessions on: every verdict and
// deciding rule equals the reference's; a flow decided by a rule whose `nosession` the analysis
// proved leaves the session table as it was, and its reply passes, classified by the other
// direction; every other allowed flow opens its session and its reply passes through it. Then
// a redeploy that makes the other direction deny (or log) some replies: the analysis drops the
// decision, new flows open sessions again, and their replies pass through them.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decideNoSession } from '../../compiler/analysis/no-session.ts';
import { evaluate } from '../../compiler/evaluate.ts';
import type { ProgramIr } from '../../compiler/ir.ts';
import { formatPacket, type Packet } from '../../compiler/packet.ts';
import { SEG_CFG_CLASSIFY_ND, SegReason, SegStat } from '../../runtime/datapath/abi.ts';
import { readRuleHits, readStats } from '../../runtime/datapath/counters.ts';
import type { Datapath } from '../../runtime/datapath/datapath.ts';
import { flushSessions, readSessions } from '../../runtime/datapath/sessions.ts';
import { runFrame } from '../../runtime/datapath/test-run.ts';
import { closeDatapath, loadDatapath } from '../../runtime/loader.ts';
import { buildFrame } from '../../runtime/packet-bytes.ts';
import { deployIr, describe as describeDecision, KERNEL_AVAILABLE, setFlags } from '../support/datapath-harness.ts';
import { programIr, type ProgramSpec } from '../support/ir-builder.ts';
import { packetsInRule, randomPacket, randomProgram } from '../support/random-policy.ts';
import { opensSession, replyOf } from '../support/reply-model.ts';

const program = (direction: 'ingress' | 'egress') => direction;
const other = (direction: 'ingress' | 'egress') => (direction === 'ingress' ? 'egress' : 'ingress');

/** Some allowing rules of a random program with `nosession` (every other one, by id). */
function withNoSession(ir: ProgramIr): ProgramIr {
  const rules = ir.rules.map((r) => (r.action === 'allow' && r.id % 3 !== 2 ? { ...r, noSession: true as const } : r));
  return { ...ir, rules, ingress: { ...ir.ingress, rules: rules.filter((r) => r.direction === 'ingress') }, egress: { ...ir.egress, rules: rules.filter((r) => r.direction === 'egress') } };
}

const frameOf = (p: Packet, reply = false) => buildFrame(p, p.proto === 6 ? { tcpFlags: reply ? 'syn-ack' : 'syn' } : {});

describe.skipIf(!KERNEL_AVAILABLE)("flows that open no session ('nosession') in the kernel", () => {
  let dp: Datapath;
  beforeAll(() => {
    dp = loadDatapath({ sessions: 1024, rulesPerSlot: 1024 });
    // Sessions on; neighbour discovery classified so that the rules decide every packet.
    setFlags(dp, SEG_CFG_CLASSIFY_ND);
  });
  afterAll(() => {
    if (dp) closeDatapath(dp);
  });

  it('agrees with the reference on random policies: same verdicts and rules; proved flows open no session and their replies pass by the other direction; the others pass by their session', () => {
    let provedFlows = 0;
    let sessionFlows = 0;
    fc.assert(
      fc.property(randomProgram({ maxRules: 8 }).map(withNoSession), fc.array(randomPacket, { minLength: 30, maxLength: 30 }), (ir, packets) => {
        const installed = deployIr(dp, ir);
        const proved = new Set(decideNoSession(ir).ruleIds);
        const aimed = ir.rules.filter((r) => proved.has(r.id)).flatMap(packetsInRule);
        for (const p of [...packets, ...aimed]) {
          for (const direction of ['ingress', 'egress'] as const) {
            flushSessions(dp);
            const want = evaluate(ir[direction], p);
            const got = runFrame(dp, program(direction), frameOf(p));
            const where = `${direction} ${formatPacket(p)}: reference ${want.verdict} by ${want.rule?.name ?? 'default'}, kernel ${describeDecision(got)}`;
            expect(got.verdict, where).toBe(want.verdict);
            expect(got.rule, where).toBe(want.rule?.id ?? null);
            if (want.verdict !== 'allow' || !opensSession(p)) {
              expect(readSessions(dp), where).toEqual([]);
              continue;
            }
            const reply = replyOf(p);
            if (want.rule !== null && proved.has(want.rule.id)) {
              provedFlows++;
              expect(readSessions(dp), `${where}: opened a session`).toEqual([]);
              // The reply is classified by the other direction, which the analysis proved allows it.
              const back = runFrame(dp, program(other(direction)), frameOf(reply, true));
              const wantBack = evaluate(ir[other(direction)], reply);
              expect(back.verdict, `${where}; reply ${describeDecision(back)}`).toBe('allow');
              expect([back.rule, back.reason], where).toEqual([wantBack.rule?.id ?? null, wantBack.rule ? SegReason.SEG_REASON_RULE : SegReason.SEG_REASON_DEFAULT]);
              expect(readSessions(dp), `${where}: the reply opened a session`).toHaveLength(wantBack.rule !== null && proved.has(wantBack.rule.id) ? 0 : 1);
            } else {
              sessionFlows++;
              expect(readSessions(dp), `${where}: no session`).toHaveLength(1);
              const back = runFrame(dp, program(other(direction)), frameOf(reply, true));
              expect([back.verdict, back.reason], `${where}; reply ${describeDecision(back)}`).toEqual(['allow', SegReason.SEG_REASON_SESSION]);
            }
          }
        }
        expect(installed.generation).toBeGreaterThan(0n);
      }),
      { numRuns: 25, seed: 4 },
    );
    // Both kinds of flow were met, not skipped by chance.
    expect(provedFlows).toBeGreaterThan(20);
    expect(sessionFlows).toBeGreaterThan(20);
  });

  /**
   * The host's DNS client: queries out with `nosession`, replies in by a `nosession` rule of
   * their own (a reply allowed by a rule that opens sessions would open the flow's session).
   */
  const policy = (ingressAbove: string | null): ProgramSpec => ({
    egress: { default: 'deny', rules: [{ name: 'dns', action: 'allow', proto: 'udp', dport: 53, noSession: true }] },
    ingress: {
      default: 'deny',
      rules: [
        ...(ingressAbove === null ? [] : [{ name: 'above', priority: 50, action: ingressAbove as 'deny' | 'log', proto: 'udp' as const, from: '192.0.2.0/24', sport: 53 }]),
        { name: 'dns-replies', priority: 100, action: 'allow', proto: 'udp', sport: 53, noSession: true },
      ],
    },
  });
  const query = (server: string, sport: number): Packet => ({ proto: 17, src: '10.0.0.1', dst: server, srcPort: sport, dstPort: 53 });

  it('classifies every packet of such a flow again: the rule counts each, the session counters do not move', () => {
    flushSessions(dp);
    const ir = programIr(policy(null));
    expect(decideNoSession(ir).ruleIds).toEqual([ir.ingress.rules[0]?.id, ir.egress.rules[0]?.id]);
    const installed = deployIr(dp, ir);
    const dns = ir.egress.rules[0]?.id ?? -1;
    const hits = () => readRuleHits(dp, installed.slot, dns).packets;
    const newSessions = () => readStats(dp)[SegStat.SEG_STAT_SESSION_NEW]?.packets ?? 0n;
    const [hitsBefore, newBefore] = [hits(), newSessions()];
    for (let i = 0; i < 3; i++) {
      expect(runFrame(dp, 'egress', frameOf(query('198.51.100.53', 40000)))).toMatchObject({ verdict: 'allow', rule: dns, reason: SegReason.SEG_REASON_RULE });
      expect(runFrame(dp, 'ingress', frameOf(replyOf(query('198.51.100.53', 40000))))).toMatchObject({ verdict: 'allow', rule: ir.ingress.rules[0]?.id, reason: SegReason.SEG_REASON_RULE });
    }
    expect(hits() - hitsBefore).toBe(3n);
    expect(newSessions()).toBe(newBefore);
    expect(readSessions(dp)).toEqual([]);
  });

  for (const above of ['deny', 'log'] as const) {
    it(`opens sessions again after a redeploy makes the other direction ${above} some replies, and those replies pass through them`, () => {
      flushSessions(dp);
      deployIr(dp, programIr(policy(null)));
      expect(runFrame(dp, 'egress', frameOf(query('192.0.2.53', 40001))).verdict).toBe('allow');
      expect(readSessions(dp)).toEqual([]);

      const ir = programIr(policy(above));
      const decided = decideNoSession(ir);
      // The queries' rule loses its decision; the replies' rule keeps its own (egress is unchanged).
      expect(decided.ruleIds).toEqual([ir.ingress.rules[1]?.id]);
      expect(decided.diagnostics[0]?.witness).toMatchObject({ proto: 'udp', srcPort: 53 });
      deployIr(dp, ir);
      const dns = ir.egress.rules[0]?.id;
      // Without a session the reply would now be decided by 'above'.
      expect(evaluate(ir.ingress, replyOf(query('192.0.2.53', 40002))).rule?.name).toBe('above');
      expect(runFrame(dp, 'egress', frameOf(query('192.0.2.53', 40002)))).toMatchObject({ verdict: 'allow', rule: dns, reason: SegReason.SEG_REASON_RULE });
      expect(readSessions(dp).map((s) => [s.portA, s.portB].sort((a, b) => a - b))).toEqual([[53, 40002]]);
      expect(runFrame(dp, 'ingress', frameOf(replyOf(query('192.0.2.53', 40002))))).toMatchObject({ verdict: 'allow', rule: dns, reason: SegReason.SEG_REASON_SESSION });
      // A flow elsewhere opens its session too: the decision is the rule's, not the flow's.
      runFrame(dp, 'egress', frameOf(query('198.51.100.53', 40003)));
      expect(readSessions(dp)).toHaveLength(2);
    });
  }
});
