// TCP sequence windows in the kernel (bpf/lib/tcp_window.h) under BPF_PROG_TEST_RUN: the real
// program against the reference model (test/support/tcp-window-model.ts), segment by segment,
// for random handshakes (sequence numbers, windows, scale options) and random segments around
// the window's edges; sessions migrated from data-path version 2 (no window known); and the
// window scale option walk.
import fc from 'fast-check';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Packet } from '../../compiler/packet.ts';
import { SEG_SESSION, SEG_SESSION_KEY, SegReason, SegSessionFlag, SegStat, SegState } from '../../runtime/datapath/abi.ts';
import { encode } from '../../runtime/datapath/codec.ts';
import { readStats } from '../../runtime/datapath/counters.ts';
import type { Datapath } from '../../runtime/datapath/datapath.ts';
import { flushSessions, readSessions, writeSessions, type SessionEntry } from '../../runtime/datapath/sessions.ts';
import { runFrame, type KernelDecision } from '../../runtime/datapath/test-run.ts';
import { closeDatapath, loadDatapath } from '../../runtime/loader.ts';
import { buildFrame, TCP_FLAGS } from '../../runtime/packet-bytes.ts';
import { deployIr, KERNEL_AVAILABLE, setFlags, type Installed } from '../support/datapath-harness.ts';
import { programIr } from '../support/ir-builder.ts';
import { judge, migratedModel, openModel, type Judgement, type Segment, type WindowModel } from '../support/tcp-window-model.ts';

// Endpoint a is the lower address: the host.
const HOST = '10.0.0.1';
const PEER = '10.0.0.9';
const HOST_PORT = 40000;
const PEER_PORT = 80;

const STATE_NAMES: Readonly<Record<WindowModel['state'], number>> = {
  'syn-sent': SegState.SEG_STATE_TCP_SYN_SENT,
  'syn-recv': SegState.SEG_STATE_TCP_SYN_RECV,
  established: SegState.SEG_STATE_TCP_ESTABLISHED,
  'fin-wait': SegState.SEG_STATE_TCP_FIN_WAIT,
  closing: SegState.SEG_STATE_TCP_CLOSING,
};

/** Ingress default deny, egress open: the host's own connections, as in the issue. */
const POLICY = programIr({ ingress: { default: 'deny', rules: [{ name: 'ssh', action: 'allow', proto: 'tcp', dport: 22 }] }, egress: { default: 'allow', rules: [] } });

function frameOf(seg: Segment): Uint8Array {
  const packet: Packet = seg.fromA ? { proto: 6, src: HOST, dst: PEER, srcPort: HOST_PORT, dstPort: PEER_PORT } : { proto: 6, src: PEER, dst: HOST, srcPort: PEER_PORT, dstPort: HOST_PORT };
  const flags = (seg.syn ? TCP_FLAGS.SYN : 0) | (seg.ackFlag ? TCP_FLAGS.ACK : 0) | (seg.rst ? TCP_FLAGS.RST : 0) | (seg.fin ? TCP_FLAGS.FIN : 0);
  return buildFrame(packet, {
    tcpFlags: flags,
    tcpSeq: seg.seq,
    tcpAck: seg.ack,
    tcpWindow: seg.window,
    ...(seg.wscale === null ? {} : { tcpOptions: Uint8Array.of(2, 4, 5, 0xb4, 1, 3, 3, seg.wscale) }),
    ...(seg.len > 0 ? { payload: new Uint8Array(seg.len) } : {}),
  });
}

const segment = (s: Partial<Segment> & Pick<Segment, 'fromA' | 'seq'>): Segment => ({ ack: 0, len: 0, syn: false, ackFlag: true, rst: false, fin: false, window: 1000, wscale: null, ...s });

/** A probe: its flags, and its sequence number as an edge of the model's window (or anywhere). */
interface Probe {
  readonly fromA: boolean;
  readonly kind: 'rst' | 'rst-ack' | 'syn' | 'syn-ack' | 'ack' | 'data' | 'fin';
  readonly edge: 'low' | 'high' | 'end' | 'anywhere';
  readonly delta: number;
  readonly anywhere: number;
}

const probeArb: fc.Arbitrary<Probe> = fc.record({
  fromA: fc.boolean(),
  kind: fc.constantFrom('rst', 'rst', 'rst-ack', 'syn', 'syn-ack', 'ack', 'data', 'fin'),
  edge: fc.constantFrom('low', 'high', 'end', 'anywhere'),
  delta: fc.integer({ min: -3, max: 3 }),
  anywhere: fc.integer({ min: 0, max: 0xffffffff }),
});

function probeSegment(model: WindowModel, p: Probe): Segment {
  const sender = p.fromA ? model.a : model.b;
  const receiver = p.fromA ? model.b : model.a;
  const w = receiver.maxWindow;
  const base = p.edge === 'low' ? sender.end - w : p.edge === 'high' ? sender.end + w : sender.end;
  const seq = (p.edge === 'anywhere' ? p.anywhere : base + p.delta) >>> 0;
  const other = p.fromA ? model.b : model.a;
  const flags = {
    rst: { rst: true, ackFlag: false },
    'rst-ack': { rst: true, ackFlag: true },
    syn: { syn: true, ackFlag: false },
    'syn-ack': { syn: true, ackFlag: true },
    ack: {},
    data: { len: 100 },
    fin: { fin: true },
  }[p.kind];
  return segment({ fromA: p.fromA, seq, ack: other.end, window: 500 + (p.anywhere % 3000), ...flags });
}

interface Scenario {
  readonly migrated: boolean;
  readonly isnA: number;
  readonly isnB: number;
  readonly winA: number;
  readonly winB: number;
  readonly scaleA: number | null;
  readonly scaleB: number | null;
  readonly data: readonly { readonly fromA: boolean; readonly len: number; readonly window: number }[];
  readonly probes: readonly Probe[];
}

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const scenarioArb: fc.Arbitrary<Scenario> = fc.record({
  migrated: fc.boolean(),
  isnA: u32,
  isnB: u32,
  winA: fc.integer({ min: 1, max: 65535 }),
  winB: fc.integer({ min: 1, max: 65535 }),
  scaleA: fc.option(fc.integer({ min: 0, max: 15 }), { nil: null }),
  scaleB: fc.option(fc.integer({ min: 0, max: 15 }), { nil: null }),
  data: fc.array(fc.record({ fromA: fc.boolean(), len: fc.integer({ min: 0, max: 1400 }), window: fc.integer({ min: 0, max: 65535 }) }), { maxLength: 6 }),
  probes: fc.array(probeArb, { minLength: 1, maxLength: 12 }),
});

describe.skipIf(!KERNEL_AVAILABLE)('TCP sequence windows in the kernel', () => {
  let dp: Datapath;
  let installed: Installed;

  beforeAll(() => {
    dp = loadDatapath({ sessions: 1024, rulesPerSlot: 64 });
    setFlags(dp, 0);
    installed = deployIr(dp, POLICY);
  });
  afterAll(() => {
    if (dp) closeDatapath(dp);
  });
  beforeEach(() => {
    flushSessions(dp);
  });

  const send = (seg: Segment): KernelDecision => runFrame(dp, seg.fromA ? 'egress' : 'ingress', frameOf(seg));
  const session = (): SessionEntry | undefined => readSessions(dp).find((s) => s.portA === HOST_PORT && s.portB === PEER_PORT);

  /** A session as data-path version 2 left it: established by the host, no window members. */
  function insertMigratedSession(): void {
    const key = encode(SEG_SESSION_KEY, { addr_a: Uint8Array.of(10, 0, 0, 1, ...new Array<number>(12).fill(0)), addr_b: Uint8Array.of(10, 0, 0, 9, ...new Array<number>(12).fill(0)), port_a: HOST_PORT, port_b: PEER_PORT, proto: 6, family: 0 });
    const value = encode(SEG_SESSION, {
      last_seen_ns: process.hrtime.bigint(),
      generation: installed.generation,
      packets: 1n,
      bytes: 60n,
      rule_id: 0xffffffff,
      verdict: 1,
      dir: 1,
      state: SegState.SEG_STATE_TCP_ESTABLISHED,
      flags: SegSessionFlag.SEG_SESSION_INITIATOR_A | SegSessionFlag.SEG_SESSION_HAS_PORTS,
    });
    expect(writeSessions(dp, [{ key, value }]).written).toBe(1);
  }

  /** The kernel's session agrees with the model: state and everything known of the windows. */
  function expectSessionLike(model: WindowModel, context: string): void {
    const s = session();
    expect(s, context).toBeDefined();
    const tcp = s?.tcp;
    expect({ state: s?.state, knownA: tcp?.knownA, knownB: tcp?.knownB, scaled: tcp?.scaled }, context).toEqual({ state: STATE_NAMES[model.state], knownA: model.a.known, knownB: model.b.known, scaled: model.scaled });
    if (model.a.known) expect({ end: tcp?.endA, maxWindow: tcp?.maxWindowA }, `${context}: endpoint a`).toEqual({ end: model.a.end, maxWindow: model.a.maxWindow });
    if (model.b.known) expect({ end: tcp?.endB, maxWindow: tcp?.maxWindowB }, `${context}: endpoint b`).toEqual({ end: model.b.end, maxWindow: model.b.maxWindow });
    if (model.scaled) expect({ a: tcp?.scaleA, b: tcp?.scaleB }, `${context}: scales`).toEqual({ a: model.a.scale, b: model.b.scale });
  }

  /** Sends a segment that finds the session; checks the kernel's answer against the model's. Returns the judgement. */
  function step(model: WindowModel, seg: Segment, context: string): Judgement {
    const before = session();
    const want = judge(model, seg);
    const got = send(seg);
    const where = `${context}: ${JSON.stringify(seg)} judged ${want}`;
    if (want === 'outside') {
      // Judged as a packet without a session: the host's egress allows, the peer's ingress denies.
      expect({ verdict: got.verdict, reason: got.reason }, where).toEqual({ verdict: seg.fromA ? 'allow' : 'deny', reason: SegReason.SEG_REASON_TCP_WINDOW });
      expect(session(), `${where}: the session is untouched`).toEqual(before);
    } else if (want === 'reopen') {
      expect(got.reason, where).toBe(SegReason.SEG_REASON_DEFAULT);
    } else {
      expect({ verdict: got.verdict, reason: got.reason }, where).toEqual({ verdict: 'allow', reason: SegReason.SEG_REASON_SESSION });
      if (seg.rst) expect(session(), `${where}: an RST in the window ends the session`).toBeUndefined();
      else expectSessionLike(model, where);
    }
    return want;
  }

  it('agrees with the reference model on random handshakes and random segments around the window edges', () => {
    const tally = { in: 0, outside: 0, reopen: 0, rstIn: 0, rstOutside: 0 };
    fc.assert(
      fc.property(scenarioArb, (sc) => {
        flushSessions(dp);
        let model: WindowModel;
        if (sc.migrated) {
          insertMigratedSession();
          model = migratedModel(true);
        } else {
          const syn = segment({ fromA: true, seq: sc.isnA, syn: true, ackFlag: false, window: sc.winA, wscale: sc.scaleA });
          expect(send(syn)).toMatchObject({ verdict: 'allow', reason: SegReason.SEG_REASON_DEFAULT });
          model = openModel(syn);
          expectSessionLike(model, 'after the SYN');
          step(model, segment({ fromA: false, seq: sc.isnB, ack: (sc.isnA + 1) >>> 0, syn: true, window: sc.winB, wscale: sc.scaleB }), 'SYN-ACK');
          step(model, segment({ fromA: true, seq: (sc.isnA + 1) >>> 0, ack: (sc.isnB + 1) >>> 0, window: sc.winA }), 'ACK');
        }
        for (const d of sc.data) {
          const sender = d.fromA ? model.a : model.b;
          const other = d.fromA ? model.b : model.a;
          const seq = sender.known ? sender.end : d.fromA ? sc.isnA : sc.isnB;
          step(model, segment({ fromA: d.fromA, seq, ack: other.end, len: d.len, window: d.window }), 'data');
        }
        for (const p of sc.probes) {
          const seg = probeSegment(model, p);
          const j = step(model, seg, 'probe');
          tally[j]++;
          if (seg.rst && j === 'in') tally.rstIn++;
          if (seg.rst && j === 'outside') tally.rstOutside++;
          if (j === 'reopen' || (seg.rst && j === 'in')) break;
        }
      }),
      { numRuns: 300 },
    );
    process.stdout.write(`tcp-window model: probes ${JSON.stringify(tally)}\n`);
    // Both sides of the rule were exercised.
    expect(tally.rstIn).toBeGreaterThan(10);
    expect(tally.rstOutside).toBeGreaterThan(10);
    expect(tally.outside).toBeGreaterThan(tally.rstOutside);
  }, 120_000);

  it('a session migrated from data-path version 2 (no window) passes its traffic and RSTs until it learns the window, then refuses an RST outside it', () => {
    insertMigratedSession();
    // Nothing known: an RST anywhere would be taken; the flow's own segments teach the window.
    expect(send(segment({ fromA: false, seq: 5000, len: 100, window: 100 }))).toMatchObject({ verdict: 'allow', reason: SegReason.SEG_REASON_SESSION });
    expect(session()?.tcp).toMatchObject({ knownA: false, knownB: true, endB: 5100 });
    expect(send(segment({ fromA: true, seq: 9000, ack: 5100, window: 100 }))).toMatchObject({ verdict: 'allow', reason: SegReason.SEG_REASON_SESSION });
    // The scale was not seen: the host's window counts as 100 << 14.
    expect(session()?.tcp).toMatchObject({ knownA: true, knownB: true, endA: 9000, maxWindowA: 100 * 2 ** 14, scaled: false });
    const rejectedBefore = readStats(dp)[SegStat.SEG_STAT_REASON_BASE + SegReason.SEG_REASON_TCP_WINDOW]?.packets ?? 0n;
    expect(send(segment({ fromA: false, seq: (5100 + 2 ** 31) >>> 0, rst: true, ackFlag: false }))).toMatchObject({ verdict: 'deny', reason: SegReason.SEG_REASON_TCP_WINDOW });
    expect(readStats(dp)[SegStat.SEG_STAT_REASON_BASE + SegReason.SEG_REASON_TCP_WINDOW]?.packets).toBe(rejectedBefore + 1n);
    expect(send(segment({ fromA: false, seq: 5200, len: 10 }))).toMatchObject({ verdict: 'allow', reason: SegReason.SEG_REASON_SESSION });
    expect(send(segment({ fromA: false, seq: 5210, rst: true, ackFlag: false }))).toMatchObject({ verdict: 'allow', reason: SegReason.SEG_REASON_SESSION });
    expect(session()).toBeUndefined();
  });

  it('reads the window scale wherever the SYN carries it among other options, and caps it at 14', () => {
    const cases: { options: number[]; scale: number }[] = [
      { options: [3, 3, 7], scale: 7 },
      { options: [2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 9], scale: 9 },
      { options: [1, 1, 1, 3, 3, 15], scale: 14 },
      { options: [2, 4, 5, 0xb4, 0, 3, 3, 7], scale: 0 }, // after end-of-list: not an option
      { options: [2, 4, 5, 0xb4], scale: 0 },
    ];
    for (const c of cases) {
      flushSessions(dp);
      const options = Uint8Array.from(c.options);
      const synAck = buildFrame({ proto: 6, src: PEER, dst: HOST, srcPort: PEER_PORT, dstPort: HOST_PORT }, { tcpFlags: 'syn-ack', tcpSeq: 100, tcpAck: 2, tcpOptions: options });
      // The host's SYN offers 5: the peer's offer decides whether scaling is on.
      runFrame(dp, 'egress', buildFrame({ proto: 6, src: HOST, dst: PEER, srcPort: HOST_PORT, dstPort: PEER_PORT }, { tcpFlags: 'syn', tcpSeq: 1, tcpOptions: Uint8Array.of(3, 3, 5) }));
      expect(runFrame(dp, 'ingress', synAck)).toMatchObject({ verdict: 'allow', reason: SegReason.SEG_REASON_SESSION });
      const offered = c.scale > 0;
      expect(session()?.tcp, JSON.stringify(c.options)).toMatchObject({ scaled: true, scaleA: offered ? 5 : 0, scaleB: c.scale });
    }
  });
});
