// Related ICMP under BPF_PROG_TEST_RUN: random sessions, then random ICMP and ICMPv6 errors
// (quoting a session's packet or not, either way round, either hook, to the right host or
// not), each held against the reference (test/support/related-model.ts for the related rule,
// evaluate.ts for everything else). Then the cases the random run cannot reach: a session of
// an older generation, an expired one, sessions off.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SegReason } from '../../runtime/datapath/abi.ts';
import { evaluate } from '../../compiler/evaluate.ts';
import type { Direction, ProgramIr } from '../../compiler/ir.ts';
import { packetFamily, type Packet } from '../../compiler/packet.ts';
import { closeDatapath, loadDatapath } from '../../runtime/loader.ts';
import { flushFragments } from '../../runtime/datapath/fragments.ts';
import { flushSessions, readSessions } from '../../runtime/datapath/sessions.ts';
import { readConfig, writeConfig } from '../../runtime/datapath/config.ts';
import { runFrame, type KernelDecision } from '../../runtime/datapath/test-run.ts';
import { type Datapath } from '../../runtime/datapath/datapath.ts';
import { buildFrame } from '../../runtime/packet-bytes.ts';
import { SEG_CFG_STATELESS } from '../../runtime/datapath/abi.ts';
import { deployIr, KERNEL_AVAILABLE, setFlags } from '../support/datapath-harness.ts';
import { icmpErrorFrame } from '../support/icmp-error.ts';
import { programIr, type ProgramSpec } from '../support/ir-builder.ts';
import { ICMP_ERROR_TYPES, relatedSession, SessionModel, type FlowPacket } from '../support/related-model.ts';

const HOST = { 4: '10.0.0.1', 6: 'fd00::1' } as const;
const PEERS = { 4: ['10.0.0.9', '10.0.0.10'], 6: ['fd00::9', 'fd00::a'] } as const;
const ROUTERS = { 4: ['10.0.0.254', '10.0.0.253'], 6: ['fd00::fe'] } as const;

/** Sessions open both ways; some ICMP errors have rules of their own, so the rest is classified. */
const POLICY: ProgramSpec = {
  ingress: {
    default: 'deny',
    rules: [
      { name: 'ssh', action: 'allow', proto: 'tcp', dport: 22 },
      { name: 'dns', action: 'allow', proto: 'udp', dport: 53 },
      { name: 'sctp', action: 'allow', proto: 'sctp', dport: 2905 },
      { name: 'ping', action: 'allow', proto: 'icmp', icmp: { type: 'echo-request' } },
      { name: 'ping6', action: 'allow', proto: 'icmpv6', icmp: { type: 'echo-request' } },
      { name: 'unreach-r1', action: 'allow', proto: 'icmp', from: '10.0.0.254', icmp: { type: 'destination-unreachable' } },
    ],
  },
  egress: {
    default: 'allow',
    rules: [
      { name: 'no-smtp', action: 'deny', proto: 'tcp', dport: 25 },
      { name: 'no-time6', action: 'deny', proto: 'icmpv6', icmp: { type: 'time-exceeded' } },
      { name: 'no-param4', action: 'deny', proto: 'icmp', icmp: { type: 12 } },
    ],
  },
};

/** A small deterministic generator (xorshift32), so a failure can be replayed from its seed. */
function rng(seed: number): { int(n: number): number; pick<T>(xs: readonly T[]): T; chance(p: number): boolean } {
  let x = seed >>> 0 || 1;
  const next = () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x100000000;
  };
  return { int: (n) => Math.floor(next() * n), pick: (xs) => xs[Math.floor(next() * xs.length)] as never, chance: (p) => next() < p };
}

type Rng = ReturnType<typeof rng>;

/** A random flow's first packet between the host and a peer, crossing `dir`. */
function randomFlow(r: Rng, family: 4 | 6, dir: Direction): FlowPacket {
  const host = HOST[family];
  const peer = r.pick(PEERS[family]);
  const [src, dst] = dir === 'egress' ? [host, peer] : [peer, host];
  const kind = r.int(4);
  if (kind === 3) return { proto: family === 4 ? 1 : 58, src, dst, icmpType: family === 4 ? 8 : 128, icmpCode: 0, echoId: 1 + r.int(60000) };
  const proto = [6, 17, 132][kind] as number;
  const wellKnown = dir === 'ingress' ? { 6: [22, 25, 80], 17: [53, 123], 132: [2905, 9] }[proto as 6 | 17 | 132] : [25, 53, 80, 443, 2905];
  return { proto, src, dst, srcPort: 1024 + r.int(60000), dstPort: r.chance(0.8) ? r.pick(wellKnown as number[]) : 1 + r.int(65535) };
}

function reversed(p: FlowPacket): FlowPacket {
  if (p.echoId !== undefined) return { ...p, src: p.dst, dst: p.src, icmpType: packetFamily(p) === 4 ? 0 : 129 };
  return { ...p, src: p.dst, dst: p.src, srcPort: p.dstPort, dstPort: p.srcPort };
}

function frameOf(p: FlowPacket): Uint8Array {
  return buildFrame(p, { tcpFlags: 'syn', icmpRest: p.echoId === undefined ? 0 : (p.echoId << 16) | 1 });
}

/** What classification alone gives a packet (a rule or the default), as the kernel reports it. */
function classified(ir: ProgramIr, dir: Direction, p: Packet): Pick<KernelDecision, 'verdict' | 'reason' | 'rule'> {
  const d = evaluate(ir[dir], p);
  return { verdict: d.verdict, reason: d.rule === null ? SegReason.SEG_REASON_DEFAULT : SegReason.SEG_REASON_RULE, rule: d.rule?.id ?? null };
}

describe.skipIf(!KERNEL_AVAILABLE)('related ICMP errors in the kernel', () => {
  let dp: Datapath;
  let ir: ProgramIr;
  const run = (dir: Direction, frame: Uint8Array) => runFrame(dp, dir, frame);
  const pick = (d: KernelDecision) => ({ verdict: d.verdict, reason: d.reason, rule: d.rule });

  beforeAll(() => {
    dp = loadDatapath({ sessions: 4096, rulesPerSlot: 1024 });
  });
  afterAll(() => {
    if (dp) closeDatapath(dp);
  });
  beforeEach(() => {
    setFlags(dp, 0);
    flushSessions(dp);
    flushFragments(dp);
    ir = programIr(POLICY);
    deployIr(dp, ir);
  });

  /** Opens `count` random sessions (first packets the policy allows), in the kernel and the model. */
  function openSessions(r: Rng, count: number): SessionModel {
    const model = new SessionModel();
    for (let i = 0; i < count * 4 && model.size < count; i++) {
      const family = r.chance(0.5) ? 4 : 6;
      const dir: Direction = r.chance(0.5) ? 'egress' : 'ingress';
      const first = randomFlow(r, family, dir);
      if (model.find(first)) continue;
      const expected = classified(ir, dir, first);
      expect(pick(run(dir, frameOf(first))), JSON.stringify(first)).toEqual(expected);
      if (expected.verdict === 'allow') model.open(first, dir, expected.rule);
    }
    expect(readSessions(dp).length).toBe(model.size);
    return model;
  }

  it('agrees with the reference on random sessions and random ICMP errors, both hooks, matching and not', () => {
    for (const seed of [1, 77, 4242]) {
      flushSessions(dp);
      const r = rng(seed);
      const model = openSessions(r, 40);
      const before = new Map(readSessions(dp).map((s) => [Buffer.from(s.key).toString('hex'), s.packets]));
      const seen = { related: 0, classified: 0 };
      for (let i = 0; i < 600; i++) {
        const session = r.chance(0.75) ? r.pick(model.all()) : undefined;
        const family: 4 | 6 = session ? (packetFamily(session.first) as 4 | 6) : r.chance(0.5) ? 4 : 6;
        let quoted: FlowPacket = session ? (r.chance(0.5) ? session.first : reversed(session.first)) : randomFlow(r, family, r.chance(0.5) ? 'egress' : 'ingress');
        // Near misses: one quoted field off.
        if (r.chance(0.15)) {
          if (quoted.srcPort !== undefined) quoted = { ...quoted, srcPort: (quoted.srcPort + 1) % 65536 };
          else if (quoted.echoId !== undefined) quoted = { ...quoted, echoId: (quoted.echoId + 1) % 65536 };
        } else if (r.chance(0.05) && quoted.srcPort !== undefined) {
          quoted = { ...quoted, proto: quoted.proto === 6 ? 17 : 6 };
        }
        const types = [...ICMP_ERROR_TYPES[family], family === 4 ? 5 : 139];
        const type = r.pick(types);
        const code = type === 3 && family === 4 && r.chance(0.5) ? 4 : r.int(2);
        const outerDst = r.chance(0.85) ? quoted.src : quoted.dst;
        const outerSrc = r.chance(0.6) ? r.pick(ROUTERS[family]) : quoted.dst;
        const dir: Direction = r.chance(0.5) ? 'ingress' : 'egress';
        const frame = icmpErrorFrame(outerSrc, outerDst, type, code, quoted, type === 3 || type === 2 ? 1280 : 0);
        const related = relatedSession(model, dir, { family, type, outerDst, quoted });
        const outer: Packet = { proto: family === 4 ? 1 : 58, src: outerSrc, dst: outerDst, icmpType: type, icmpCode: code };
        const expected = related ? { verdict: 'allow', reason: SegReason.SEG_REASON_RELATED, rule: related.rule } : classified(ir, dir, outer);
        seen[related ? 'related' : 'classified']++;
        expect(pick(run(dir, frame)), `seed ${seed} #${i}: ${dir} ${JSON.stringify({ outerSrc, outerDst, type, code, quoted })}`).toEqual(expected);
      }
      // Both outcomes were exercised, and no error refreshed or counted into a session.
      expect(seen.related).toBeGreaterThan(50);
      expect(seen.classified).toBeGreaterThan(50);
      const after = new Map(readSessions(dp).map((s) => [Buffer.from(s.key).toString('hex'), s.packets]));
      expect(after).toEqual(before);
    }
  });

  it('classifies an error quoting a session of an older generation until the flow is re-checked', () => {
    const first: FlowPacket = { proto: 17, src: HOST[4], dst: PEERS[4][0], srcPort: 40000, dstPort: 53 };
    run('egress', frameOf(first));
    const error = icmpErrorFrame(ROUTERS[4][1], HOST[4], 3, 4, first, 1280);
    expect(run('ingress', error)).toMatchObject({ verdict: 'allow', reason: SegReason.SEG_REASON_RELATED });
    deployIr(dp, ir);
    expect(run('ingress', error)).toMatchObject({ verdict: 'deny', reason: SegReason.SEG_REASON_DEFAULT });
    expect(run('egress', frameOf(first))).toMatchObject({ verdict: 'allow', reason: SegReason.SEG_REASON_SESSION_RECHECKED });
    expect(run('ingress', error)).toMatchObject({ verdict: 'allow', reason: SegReason.SEG_REASON_RELATED });
  });

  it('classifies an error quoting an expired session, and with sessions off', async () => {
    const config = readConfig(dp);
    const first: FlowPacket = { proto: 17, src: HOST[6], dst: PEERS[6][0], srcPort: 40001, dstPort: 123 };
    const error = icmpErrorFrame(ROUTERS[6][0], HOST[6], 2, 0, first, 1280);
    setFlags(dp, SEG_CFG_STATELESS);
    run('egress', frameOf(first));
    expect(run('ingress', error)).toMatchObject({ verdict: 'deny', reason: SegReason.SEG_REASON_DEFAULT });
    setFlags(dp, 0);
    // UDP sessions time out after 1 s here.
    writeConfig(dp, { ...config, flags: 0, timeouts: config.timeouts.map((t, i) => (i === 5 ? 1 : t)) });
    try {
      run('egress', frameOf(first));
      expect(run('ingress', error)).toMatchObject({ verdict: 'allow', reason: SegReason.SEG_REASON_RELATED });
      await new Promise((resolve) => setTimeout(resolve, 2_100));
      expect(run('ingress', error)).toMatchObject({ verdict: 'deny', reason: SegReason.SEG_REASON_DEFAULT });
    } finally {
      writeConfig(dp, config);
    }
  });

  it('does not relate an error whose quote is cut short or is not an IP packet', () => {
    const first: FlowPacket = { proto: 6, src: HOST[4], dst: PEERS[4][1], srcPort: 40002, dstPort: 80 };
    run('egress', frameOf(first));
    const whole = icmpErrorFrame(ROUTERS[4][0], HOST[4], 11, 0, first);
    expect(run('ingress', whole)).toMatchObject({ verdict: 'allow', reason: SegReason.SEG_REASON_RELATED });
    const quote = whole.slice(14 + 20 + 8);
    expect(run('ingress', icmpErrorFrame(ROUTERS[4][0], HOST[4], 11, 0, quote.slice(0, 20 + 2)))).toMatchObject({ verdict: 'deny' });
    const garbage = quote.slice();
    garbage[0] = 0x65;
    expect(run('ingress', icmpErrorFrame(ROUTERS[4][0], HOST[4], 11, 0, garbage))).toMatchObject({ verdict: 'deny' });
  });
});
