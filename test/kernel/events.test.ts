// Log events, audit mode and SYN protection, on the real program under BPF_PROG_TEST_RUN: the
// events it writes to its ring buffer are read back through runtime/datapath/events.ts.
import fc from 'fast-check';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SEG_CFG_CLASSIFY_ND, SEG_CFG_LOG_DENIES, SEG_CFG_NO_SYN_PROTECTION, SEG_CFG_STATELESS, SegReason, SegStat, SegState } from '../../runtime/datapath/abi.ts';
import { evaluate } from '../../compiler/evaluate.ts';
import { formatPacket, parsePacket, type Packet } from '../../compiler/packet.ts';
import { decodeEvent, EventReader, eventPacketText, type SegEvent } from '../../runtime/datapath/events.ts';
import { closeDatapath, loadDatapath } from '../../runtime/loader.ts';
import { flushSessions, readSessions } from '../../runtime/datapath/sessions.ts';
import { writeHashKey } from '../../runtime/datapath/session-meta.ts';
import { readConfig, writeConfig, type EventLimits } from '../../runtime/datapath/config.ts';
import { readRuleHits, readRuleWouldDeny, readStats } from '../../runtime/datapath/counters.ts';
import { readSynSources } from '../../runtime/datapath/syn-sources.ts';
import { runFrame } from '../../runtime/datapath/test-run.ts';
import { type Datapath } from '../../runtime/datapath/datapath.ts';
import { libbpf_num_possible_cpus } from '../../runtime/libbpf.ts';
import { buildFrame, type FrameOptions } from '../../runtime/packet-bytes.ts';
import { DIRECTIONS, deployIr, KERNEL_AVAILABLE } from '../support/datapath-harness.ts';
import { programIr, type ProgramSpec } from '../support/ir-builder.ts';
import { randomPacket, randomProgram } from '../support/random-policy.ts';

const HOST = '10.0.0.1';
const PEER = '10.0.0.9';
const inbound = (sport: number, dport: number, src = PEER): Packet => ({ proto: 6, src, dst: HOST, srcPort: sport, dstPort: dport });
const outbound = (sport: number, dport: number, dst = PEER): Packet => ({ proto: 6, src: HOST, dst, srcPort: sport, dstPort: dport });

/** Ssh in is allowed and logged; telnet in is denied and logged; the rest of ingress is denied. */
const LOGGED: ProgramSpec = {
  ingress: {
    default: 'deny',
    rules: [
      { name: 'ssh', action: 'allow log', proto: 'tcp', dport: 22 },
      { name: 'telnet', action: 'deny log', proto: 'tcp', dport: 23 },
      { name: 'web', action: 'allow', proto: 'tcp', dport: 80 },
    ],
  },
  egress: { default: 'allow', rules: [] },
};

const CPUS = KERNEL_AVAILABLE ? libbpf_num_possible_cpus() : 1;
const BIG: EventLimits = { rate: 1_000_000, burst: 1_000_000, globalRate: 1_000_000, globalBurst: 1_000_000 };

describe.skipIf(!KERNEL_AVAILABLE)('log events, audit and SYN protection in the kernel', () => {
  let dp: Datapath;
  let reader: EventReader;
  let events: SegEvent[];
  const send = (program: 'ingress' | 'egress', p: Packet, options: FrameOptions = {}) => runFrame(dp, program, buildFrame(p, options));
  const stat = (index: number) => readStats(dp)[index]?.packets ?? 0n;
  const configure = (flags: number, events: EventLimits = BIG, pressurePct = 0) => writeConfig(dp, { ...readConfig(dp), flags, events, pressurePct });
  const take = () => {
    reader.drain();
    const out = events;
    events = [];
    return out;
  };

  beforeAll(() => {
    dp = loadDatapath({ sessions: 1024, rulesPerSlot: 1024, eventBufferBytes: 64 * 1024 });
    events = [];
    reader = new EventReader(dp, (e) => events.push(e));
  });
  afterAll(() => {
    reader?.close();
    if (dp) closeDatapath(dp);
  });
  beforeEach(() => {
    configure(0);
    flushSessions(dp);
    take();
  });

  it("sends one event per packet a log rule decides, session hits included, naming rule, verdict and packet", () => {
    const installed = deployIr(dp, programIr(LOGGED));
    const sentBefore = stat(SegStat.SEG_STAT_EVENT_SENT);
    expect(send('ingress', inbound(40000, 22), { tcpFlags: 'syn' }).verdict).toBe('allow');
    expect(send('ingress', inbound(40000, 22), { tcpFlags: 'ack' }).reason).toBe(SegReason.SEG_REASON_SESSION);
    expect(send('ingress', inbound(40001, 23)).verdict).toBe('deny');
    expect(send('ingress', inbound(40002, 80)).verdict).toBe('allow');
    expect(send('ingress', inbound(40003, 25)).verdict).toBe('deny');
    const got = take();
    expect(got.map((e) => [e.rule, e.verdict, e.reason, e.direction, eventPacketText(e)])).toEqual([
      [0, 'allow', 'rule', 'ingress', 'tcp 10.0.0.9:40000 -> 10.0.0.1:22'],
      [0, 'allow', 'session', 'ingress', 'tcp 10.0.0.9:40000 -> 10.0.0.1:22'],
      [1, 'deny', 'rule', 'ingress', 'tcp 10.0.0.9:40001 -> 10.0.0.1:23'],
    ]);
    expect(got.every((e) => e.kind === 'packet' && e.generation === installed.generation && e.length > 40)).toBe(true);
    expect(got[0]?.tcpFlags).toBe(0x02);
    // The packet text is what `segc explain --packet` reads.
    const parsed = parsePacket(eventPacketText(got[2]!));
    expect(parsed.ok && formatPacket(parsed.packet)).toBe('tcp 10.0.0.9:40001 -> 10.0.0.1:23');
    expect(stat(SegStat.SEG_STAT_EVENT_SENT) - sentBefore).toBe(3n);
  });

  it('sends an event for every denied packet with LOG_DENIES, and decodes ICMP and IPv6', () => {
    deployIr(dp, programIr(LOGGED));
    configure(SEG_CFG_LOG_DENIES);
    send('ingress', { proto: 1, src: PEER, dst: HOST, icmpType: 8, icmpCode: 0 });
    send('ingress', { proto: 17, src: '2001:db8::9', dst: '2001:db8::1', srcPort: 53, dstPort: 5353 });
    send('ingress', inbound(40002, 80));
    expect(take().map((e) => [e.rule, e.verdict, e.reason, eventPacketText(e)])).toEqual([
      [null, 'deny', 'default', 'icmp 10.0.0.9 -> 10.0.0.1 type 8 code 0'],
      [null, 'deny', 'default', 'udp [2001:db8::9]:53 -> [2001:db8::1]:5353'],
    ]);
  });

  it("limits each rule's events with its token bucket, counting every event not sent", () => {
    deployIr(dp, programIr(LOGGED));
    configure(SEG_CFG_STATELESS, { rate: 1, burst: 10, globalRate: 1_000_000, globalBurst: 1_000_000 });
    const before = { sent: stat(SegStat.SEG_STAT_EVENT_SENT), limited: stat(SegStat.SEG_STAT_EVENT_RULE_LIMITED) };
    for (let i = 0; i < 200; i++) send('ingress', inbound(41000 + i, 22));
    // Another rule has its own bucket.
    for (let i = 0; i < 5; i++) send('ingress', inbound(42000 + i, 23));
    const got = take();
    const sent = stat(SegStat.SEG_STAT_EVENT_SENT) - before.sent;
    const limited = stat(SegStat.SEG_STAT_EVENT_RULE_LIMITED) - before.limited;
    const ssh = got.filter((e) => e.rule === 0).length;
    // A burst of 10, and at 1/s at most one more while the loop runs; buckets are per CPU, and
    // the test runs may move between CPUs.
    expect(ssh).toBeGreaterThanOrEqual(10);
    expect(ssh).toBeLessThanOrEqual(12 * CPUS);
    expect(got.filter((e) => e.rule === 1)).toHaveLength(5);
    expect(BigInt(got.length)).toBe(sent);
    expect(sent + limited).toBe(205n);
  });

  it('limits all events with the global bucket, and counts what a full ring buffer refused', () => {
    deployIr(dp, programIr(LOGGED));
    configure(SEG_CFG_STATELESS, { rate: 1_000_000, burst: 1_000_000, globalRate: 1, globalBurst: 7 });
    const before = { sent: stat(SegStat.SEG_STAT_EVENT_SENT), limited: stat(SegStat.SEG_STAT_EVENT_GLOBAL_LIMITED) };
    for (let i = 0; i < 50; i++) send('ingress', inbound(43000 + i, i % 2 === 0 ? 22 : 23));
    let got = take();
    expect(got.length).toBeGreaterThanOrEqual(7);
    expect(got.length).toBeLessThanOrEqual(9 * CPUS);
    expect(stat(SegStat.SEG_STAT_EVENT_SENT) - before.sent + (stat(SegStat.SEG_STAT_EVENT_GLOBAL_LIMITED) - before.limited)).toBe(50n);

    // 64 KiB hold 744 records of 88 bytes (80 + the ring's 8-byte header); nobody reads meanwhile.
    // The global bucket refills from empty at 10^6 a second: the first packets may find it empty.
    configure(SEG_CFG_STATELESS);
    const counts = () => [SegStat.SEG_STAT_EVENT_SENT, SegStat.SEG_STAT_EVENT_RING_FULL, SegStat.SEG_STAT_EVENT_GLOBAL_LIMITED, SegStat.SEG_STAT_EVENT_RULE_LIMITED].map(stat);
    const start = counts();
    for (let i = 0; i < 1000; i++) send('ingress', inbound(1024 + i, 22));
    const [sent, full, global, rule] = counts().map((n, i) => n - start[i]!) as [bigint, bigint, bigint, bigint];
    expect(full).toBeGreaterThan(0n);
    expect(sent).toBeLessThanOrEqual(744n);
    expect(sent + full + global + rule).toBe(1000n);
    got = take();
    expect(BigInt(got.length)).toBe(sent);
  });

  it('audit mode: denies pass, counted as would-deny per rule and sent as would-deny events; enforce drops them again', () => {
    const spec: ProgramSpec = {
      ingress: { default: 'deny', rules: [{ name: 'web', action: 'allow', proto: 'tcp', dport: 80 }, { name: 'no-telnet', action: 'deny', proto: 'tcp', dport: 23 }] },
      egress: { default: 'allow', rules: [] },
    };
    const audited = deployIr(dp, programIr(spec), { audit: true });
    const before = { would: stat(SegStat.SEG_STAT_WOULD_DENY), rule: readRuleWouldDeny(dp, audited.slot, 1).packets, hits: readRuleHits(dp, audited.slot, 1).packets };
    const telnet = send('ingress', inbound(40000, 23), { tcpFlags: 'syn' });
    const other = send('ingress', inbound(40001, 25), { tcpFlags: 'syn' });
    const web = send('ingress', inbound(40002, 80), { tcpFlags: 'syn' });
    expect([telnet, other, web].map((d) => [d.verdict, d.wouldDeny, d.rule])).toEqual([
      ['allow', true, 1],
      ['allow', true, null],
      ['allow', false, 0],
    ]);
    // A would-deny opens no session: the flow's next packet is judged (and counted) again.
    expect(send('ingress', inbound(40000, 23), { tcpFlags: 'ack' })).toMatchObject({ verdict: 'allow', wouldDeny: true, reason: SegReason.SEG_REASON_RULE });
    expect(readSessions(dp).map((s) => s.portA)).toEqual([80]);
    expect(stat(SegStat.SEG_STAT_WOULD_DENY) - before.would).toBe(3n);
    expect(readRuleWouldDeny(dp, audited.slot, 1).packets - before.rule).toBe(2n);
    expect(readRuleHits(dp, audited.slot, 1).packets - before.hits).toBe(2n);
    expect(take().map((e) => [e.verdict, e.rule, eventPacketText(e)])).toEqual([
      ['would-deny', 1, 'tcp 10.0.0.9:40000 -> 10.0.0.1:23'],
      ['would-deny', null, 'tcp 10.0.0.9:40001 -> 10.0.0.1:25'],
      ['would-deny', 1, 'tcp 10.0.0.9:40000 -> 10.0.0.1:23'],
    ]);

    deployIr(dp, programIr(spec));
    expect(send('ingress', inbound(40000, 23), { tcpFlags: 'syn' })).toMatchObject({ verdict: 'deny', wouldDeny: false, rule: 1 });
    expect(send('ingress', inbound(40001, 25), { tcpFlags: 'syn' })).toMatchObject({ verdict: 'deny', wouldDeny: false, rule: null });
  });

  it("audits a 'deny audit' rule only, the rest of the policy enforcing", () => {
    const installed = deployIr(
      dp,
      programIr({
        ingress: { default: 'deny', rules: [{ name: 'trial', action: 'deny audit', proto: 'tcp', dport: 23 }, { name: 'web', action: 'allow', proto: 'tcp', dport: 80 }] },
        egress: { default: 'allow', rules: [] },
      }),
    );
    expect(send('ingress', inbound(40000, 23))).toMatchObject({ verdict: 'allow', wouldDeny: true, rule: 0 });
    expect(send('ingress', inbound(40000, 25))).toMatchObject({ verdict: 'deny', wouldDeny: false, rule: null });
    expect(readRuleWouldDeny(dp, installed.slot, 0).packets).toBeGreaterThanOrEqual(1n);
    expect(take().map((e) => [e.verdict, e.rule])).toEqual([['would-deny', 0]]);
  });

  it("audit's would-deny equals the enforcing verdict for random policies and packets", () => {
    configure(SEG_CFG_STATELESS | SEG_CFG_CLASSIFY_ND);
    fc.assert(
      fc.property(randomProgram(), fc.array(randomPacket, { minLength: 40, maxLength: 40 }), (ir, packets) => {
        const frames = packets.map((p) => buildFrame(p, { tcpFlags: 'syn' }));
        deployIr(dp, ir);
        const enforce = frames.map((f) => DIRECTIONS.map(({ program }) => runFrame(dp, program, f)));
        deployIr(dp, ir, { audit: true });
        const audit = frames.map((f) => DIRECTIONS.map(({ program }) => runFrame(dp, program, f)));
        packets.forEach((packet, i) => {
          DIRECTIONS.forEach(({ dir }, j) => {
            const e = enforce[i]![j]!;
            const a = audit[i]![j]!;
            const want = evaluate(dir === 0 ? ir.ingress : ir.egress, packet);
            expect(e.verdict, formatPacket(packet)).toBe(want.verdict);
            expect(a.verdict).toBe('allow');
            expect(a.wouldDeny, formatPacket(packet)).toBe(e.verdict === 'deny');
            expect(a.rule).toBe(e.rule);
          });
        });
        take();
      }),
      { numRuns: 25 },
    );
  });

  it('under table pressure, allowed SYNs open no session (counted, events), the handshake opens it on its final ACK, and established flows stay', () => {
    // 256 sessions (64 buckets of 4): 20 established flows spread over buckets with room (a
    // fifth flow in one bucket would evict one of four established ones whatever the policy).
    // A fixed hash key, so that the run is the same every time.
    const small = loadDatapath({ sessions: 256, rulesPerSlot: 1024 });
    writeHashKey(small, [0x9e3779b9, 0x85ebca6b, 0xc2b2ae35, 0x27d4eb2f, 0x165667b1, 0xd3a2646c, 0xfd7046c5, 0xb55a4f09, 0x7feb352d, 0x846ca68b]);
    const seen: SegEvent[] = [];
    const smallReader = new EventReader(small, (e) => seen.push(e));
    try {
      // The host serves port 80 and may connect out; everything else in is denied.
      deployIr(small, programIr({ ingress: { default: 'deny', rules: [{ name: 'web', action: 'allow', proto: 'tcp', dport: 80 }] }, egress: { default: 'deny', rules: [{ name: 'out', action: 'allow', proto: 'tcp', dport: 443 }] } }));
      const s = (program: 'ingress' | 'egress', p: Packet, tcpFlags: FrameOptions['tcpFlags']) => runFrame(small, program, buildFrame(p, { tcpFlags }));
      const stats = () => readStats(small);
      // 20 established outbound flows.
      for (let i = 0; i < 20; i++) {
        s('egress', outbound(30000 + i, 443), 'syn');
        s('ingress', { ...inbound(443, 30000 + i) }, 'syn-ack');
        s('egress', outbound(30000 + i, 443), 'ack');
      }
      expect(readSessions(small).filter((x) => x.state === SegState.SEG_STATE_TCP_ESTABLISHED)).toHaveLength(20);
      // A flood: 500 SYNs to port 80 from 250 sources, twice each.
      const flooder = (i: number) => `10.${100 + (i % 50)}.${Math.floor(i / 50)}.${1 + (i % 200)}`;
      for (let i = 0; i < 500; i++) expect(s('ingress', inbound(1024 + i, 80, flooder(i % 250)), 'syn').verdict).toBe('allow');
      const st = stats();
      const sessions = readSessions(small);
      // 75 % of 256: the table stops taking SYNs at 192 sessions; the established flows survive.
      // Before that, a SYN whose 4-way bucket is full takes the way of another flood SYN (seen
      // once) and never an established flow's (seen again): it opens a session without filling
      // the table further, or, in a bucket of established flows only, none (an insert failure).
      expect(sessions.length).toBe(192);
      expect(sessions.filter((x) => x.state === SegState.SEG_STATE_TCP_ESTABLISHED)).toHaveLength(20);
      const floodOpened = (st[SegStat.SEG_STAT_HALF_OPEN_NEW]?.packets ?? 0n) - 20n;
      const refused = st[SegStat.SEG_STAT_SESSION_TABLE_FULL]?.packets ?? 0n;
      expect(floodOpened).toBeGreaterThanOrEqual(172n);
      expect(st[SegStat.SEG_STAT_SYN_UNTRACKED]?.packets).toBe(500n - floodOpened - refused);
      expect(st[SegStat.SEG_STAT_SYN]?.packets).toBe(520n);
      smallReader.drain();
      expect(BigInt(seen.filter((e) => e.kind === 'syn-untracked').length)).toBe(500n - floodOpened - refused);
      expect(seen[0]).toMatchObject({ kind: 'syn-untracked', verdict: 'allow', direction: 'ingress' });
      const sources = readSynSources(small);
      expect(sources.length).toBeGreaterThanOrEqual(250);
      expect(sources.filter((x) => x.total === 2n).length).toBe(250);

      // A real client under pressure: its SYN-ACK passes the default-deny egress as the reply of
      // an allowed SYN, and its final ACK opens the session as established.
      const client = inbound(50000, 80, '192.0.2.7');
      expect(s('ingress', client, 'syn').verdict).toBe('allow');
      expect(s('egress', { proto: 6, src: HOST, dst: '192.0.2.7', srcPort: 80, dstPort: 50000 }, 'syn-ack')).toMatchObject({ verdict: 'allow', reason: SegReason.SEG_REASON_HANDSHAKE_REPLY, rule: 0 });
      expect(s('ingress', client, 'ack').verdict).toBe('allow');
      const opened = readSessions(small).find((x) => x.portB === 50000);
      expect(opened?.state).toBe(SegState.SEG_STATE_TCP_ESTABLISHED);
      // A SYN-ACK nobody asked for is still denied.
      expect(s('egress', { proto: 6, src: HOST, dst: '192.0.2.8', srcPort: 22, dstPort: 50000 }, 'syn-ack').verdict).toBe('deny');

      // Protection off: the flood's SYNs take the table past the threshold. Each takes a way of
      // its bucket, a flood SYN's (seen once) before an established flow's (seen again), so an
      // established flow is evicted only where its bucket holds no flood session to give up.
      writeConfig(small, { ...readConfig(small), flags: SEG_CFG_NO_SYN_PROTECTION });
      for (let i = 0; i < 500; i++) s('ingress', inbound(2024 + i, 80, flooder(i % 250)), 'syn');
      expect(readSessions(small).length).toBeGreaterThan(192);
      const left = readSessions(small).filter((x) => x.state === SegState.SEG_STATE_TCP_ESTABLISHED && x.portB === 443);
      expect(left.length).toBeLessThanOrEqual(20);
      const replies = Array.from({ length: 20 }, (_, i) => s('ingress', inbound(443, 30000 + i), 'ack'));
      expect(replies.filter((r) => r.verdict === 'deny').length).toBe(20 - left.length);
    } finally {
      smallReader.close();
      closeDatapath(small);
    }
  });

  it('decodes a record as the kernel lays it out', () => {
    const raw = new Uint8Array(80);
    const v = new DataView(raw.buffer);
    v.setBigUint64(0, 5n, true);
    v.setBigUint64(8, 7n, true);
    v.setUint32(16, 3, true);
    v.setUint32(20, 2, true);
    v.setUint32(24, 60, true);
    raw.set([0, 1, 2, 0, 0, 6, 0x12, 0, 0, 1], 28);
    v.setUint16(38, 443, true);
    v.setUint16(40, 40000, true);
    raw.set([10, 0, 0, 1], 48);
    raw.set([10, 0, 0, 9], 64);
    expect(decodeEvent(raw)).toMatchObject({ timeNs: 5n, generation: 7n, rule: 3, ifindex: 2, length: 60, direction: 'egress', verdict: 'would-deny', reason: 'rule', tcpFlags: 0x12, packet: { proto: 6, src: '10.0.0.1', dst: '10.0.0.9', srcPort: 443, dstPort: 40000 } });
  });
});
