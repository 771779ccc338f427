// The readers the agent, `stats --watch` and `status` share, on a loaded data path with packets
// counted by BPF_PROG_TEST_RUN: batch reads of rule hits equal the per-rule lookups and the
// packets run, the session census counts every entry by state (a table filled to capacity), and
// a slot's rule counters start at zero for each policy installed in it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ABI_STRUCTS, SegState } from '../../runtime/datapath/abi.ts';
import type { Packet } from '../../compiler/packet.ts';
import { bpf_map_update_batch, libbpf_num_possible_cpus } from '../../runtime/libbpf.ts';
import { censusSessions, flushSessions, readSessions, writeSessions } from '../../runtime/datapath/sessions.ts';
import { closeDatapath, loadDatapath } from '../../runtime/loader.ts';
import { readRuleHits, readRuleHitsRange } from '../../runtime/datapath/counters.ts';
import { runFrame } from '../../runtime/datapath/test-run.ts';
import { type Datapath } from '../../runtime/datapath/datapath.ts';
import { perCpuStride } from '../../runtime/datapath/codec.ts';
import { buildFrame } from '../../runtime/packet-bytes.ts';
import { deployIr, KERNEL_AVAILABLE, setFlags } from '../support/datapath-harness.ts';
import { programIr, type ProgramSpec } from '../support/ir-builder.ts';

const POLICY: ProgramSpec = {
  ingress: {
    default: 'deny',
    rules: [
      { name: 'ssh', action: 'allow', proto: 'tcp', dport: 22 },
      { name: 'dns', action: 'allow', proto: 'udp', dport: 53 },
      { name: 'no-smb', action: 'deny', proto: 'tcp', dport: 445 },
    ],
  },
  egress: { default: 'allow', rules: [{ name: 'no-smtp', action: 'deny', proto: 'tcp', dport: 25 }] },
};

const inbound = (dport: number, proto = 6, sport = 40000): Packet => ({ proto, src: '10.0.0.9', dst: '10.0.0.1', srcPort: sport, dstPort: dport });

describe.skipIf(!KERNEL_AVAILABLE)('the agent readers on a loaded data path', () => {
  let dp: Datapath;

  beforeAll(() => {
    dp = loadDatapath({ sessions: 256, rulesPerSlot: 64 });
    setFlags(dp, 0);
  });
  afterAll(() => {
    if (dp) closeDatapath(dp);
  });

  it('reads the rule hits of a slot in batches, equal to the packets run and to per-rule lookups', () => {
    const installed = deployIr(dp, programIr(POLICY));
    const runs: [Packet, number][] = [
      [inbound(22, 6, 40001), 3],
      [inbound(53, 17, 40002), 5],
      [inbound(445, 6, 40003), 2],
    ];
    for (const [p, n] of runs) for (let i = 0; i < n; i++) runFrame(dp, 'ingress', buildFrame(p, p.proto === 6 ? { tcpFlags: i === 0 ? 'syn' : 'ack' } : {}));
    const hits = readRuleHitsRange(dp, installed.slot, installed.ir.rules.length);
    expect(Array.from(hits.packets)).toEqual([3, 5, 2, 0]);
    for (const r of installed.ir.rules) expect(hits.bytes[r.id]).toBe(Number(readRuleHits(dp, installed.slot, r.id).bytes));
    runFrame(dp, 'ingress', buildFrame(inbound(22, 6, 40001), { tcpFlags: 'ack' }));
    const next = readRuleHitsRange(dp, installed.slot, installed.ir.rules.length);
    expect(Array.from(next.packets)).toEqual([4, 5, 2, 0]);
  });

  it('sums the rule hits of every CPU, exactly below 2^53 and to the nearest double past it', () => {
    const installed = deployIr(dp, programIr(POLICY));
    const cpus = libbpf_num_possible_cpus();
    const counter = ABI_STRUCTS.seg_counter;
    const stride = perCpuStride(counter);
    const perRule = [
      [2n ** 60n + 1n, 3n],
      [2n ** 52n - 1n, 2n ** 52n],
      [12345n, 0n],
    ] as const;
    const keys = new Uint8Array(perRule.length * 4);
    const values = new Uint8Array(perRule.length * stride * cpus);
    const kv = new DataView(keys.buffer);
    const vv = new DataView(values.buffer);
    perRule.forEach(([packets, bytes], i) => {
      kv.setUint32(i * 4, installed.slot * dp.rulesPerSlot + i, true);
      // Every CPU holds the same share.
      for (let c = 0; c < cpus; c++) {
        vv.setBigUint64(i * stride * cpus + c * stride + counter.fields.packets.offset, packets, true);
        vv.setBigUint64(i * stride * cpus + c * stride + counter.fields.bytes.offset, bytes, true);
      }
    });
    bpf_map_update_batch(dp.maps['seg_rule_hits'] as number, keys, values, perRule.length);
    const hits = readRuleHitsRange(dp, installed.slot, perRule.length);
    expect(Array.from(hits.packets)).toEqual(perRule.map(([p]) => Number(p * BigInt(cpus))));
    expect(Array.from(hits.bytes)).toEqual(perRule.map(([, b]) => Number(b * BigInt(cpus))));
    for (let i = 1; i < perRule.length; i++) expect(hits.packets[i]).toBe(Number(readRuleHits(dp, installed.slot, i).packets));
  });

  it('starts the rule counters of a slot at zero for each policy installed in it', () => {
    const first = deployIr(dp, programIr(POLICY));
    runFrame(dp, 'ingress', buildFrame(inbound(53, 17, 41000)));
    expect(readRuleHitsRange(dp, first.slot, 4).packets[1]).toBe(1);
    deployIr(dp, programIr(POLICY));
    const third = deployIr(dp, programIr(POLICY));
    expect(third.slot).toBe(first.slot);
    expect(Array.from(readRuleHitsRange(dp, third.slot, 4).packets)).toEqual([0, 0, 0, 0]);
  });

  it('counts every session by state, in agreement with a walk of the table, up to a full table', () => {
    flushSessions(dp);
    deployIr(dp, programIr(POLICY));
    runFrame(dp, 'ingress', buildFrame(inbound(22, 6, 42000), { tcpFlags: 'syn' }));
    runFrame(dp, 'ingress', buildFrame(inbound(53, 17, 42001)));
    let census = censusSessions(dp);
    expect(census).toMatchObject({ entries: 2, capacity: 256 });
    expect(census.byState[SegState.SEG_STATE_TCP_SYN_SENT]).toBe(1);
    expect(census.byState[SegState.SEG_STATE_UDP]).toBe(1);
    // Half the capacity: a session whose 4-way bucket is full is not written (written counts
    // the others); the census counts exactly what the table holds, by state.
    const fill = (count: number) => {
      flushSessions(dp);
      // Laid out by the generated ABI, so the test follows the data path's version.
      const key = ABI_STRUCTS.seg_session_key;
      const value = ABI_STRUCTS.seg_session;
      const keys = new Uint8Array(count * key.size);
      const values = new Uint8Array(count * value.size);
      const kv = new DataView(keys.buffer);
      for (let i = 0; i < count; i++) {
        kv.setUint32(i * key.size + key.fields.addr_b.offset, 0x0b000000 + i, false);
        keys[i * key.size + key.fields.proto.offset] = 6;
        values[i * value.size + value.fields.state.offset] = i % 2 === 0 ? SegState.SEG_STATE_TCP_ESTABLISHED : SegState.SEG_STATE_TCP_SYN_RECV;
      }
      return writeSessions(dp, Array.from({ length: count }, (_, i) => ({ key: keys.subarray(i * key.size, (i + 1) * key.size), value: values.subarray(i * value.size, (i + 1) * value.size) })));
    };
    let written = fill(128);
    census = censusSessions(dp);
    expect(census.entries).toBe(written.written);
    expect(written.written + written.unplaced.length).toBe(128);
    expect(written.written).toBeGreaterThan(100);
    const established = (s: { value: Uint8Array }) => s.value[ABI_STRUCTS.seg_session.fields.state.offset] === SegState.SEG_STATE_TCP_ESTABLISHED;
    expect(census.byState[SegState.SEG_STATE_TCP_ESTABLISHED]).toBe(64 - written.unplaced.filter(established).length);
    expect(census.byState[SegState.SEG_STATE_TCP_SYN_RECV]).toBe(64 - written.unplaced.filter((s) => !established(s)).length);
    // As many as the capacity: full buckets turn some away; the census still counts exactly
    // what the table holds.
    written = fill(256);
    census = censusSessions(dp);
    const walked = readSessions(dp);
    expect(census.entries).toBe(walked.length);
    expect(census.entries).toBe(written.written);
    expect(census.entries).toBeGreaterThan(128);
    expect(census.byState[SegState.SEG_STATE_TCP_SYN_RECV]).toBe(walked.filter((x) => x.state === SegState.SEG_STATE_TCP_SYN_RECV).length);
    flushSessions(dp);
  });
});
