// The kernel contract: the per-CPU counters (struct seg_counter): seg_stats by enum seg_stat,
// and per rule seg_rule_hits and seg_rule_would_deny (a slot's rules from rule_base = slot *
// rulesPerSlot). Reads sum over CPUs; seg_stats of an older data path (not upgraded yet) is read
// by its own version's indices.
import { bpf_map_get_info_by_fd, bpf_map_lookup_elem, libbpf_num_possible_cpus } from '../libbpf.ts';
import { SEG_COUNTER, SegMap, SegReason, SegStat, type MapName } from './abi.ts';
import { decodePerCpu, encodeU32, encodeU32Range, perCpuStride } from './codec.ts';
import { mapOf, type Datapath } from './datapath.ts';
import { readDatapathInfo } from './info.ts';
import { iterateBatches, writeEntries } from './iterate.ts';
import { migrateStatIndex } from './migrate.ts';
import { DATAPATH_VERSION } from './version.ts';

export interface Counter {
  readonly packets: bigint;
  readonly bytes: bigint;
}

function sum(raw: Uint8Array | undefined, cpus: number): Counter {
  let packets = 0n;
  let bytes = 0n;
  if (raw) {
    for (const c of decodePerCpu(SEG_COUNTER, raw, cpus)) {
      packets += c.packets;
      bytes += c.bytes;
    }
  }
  return { packets, bytes };
}

function readCounter(dp: Datapath, map: MapName, index: number): Counter {
  const cpus = libbpf_num_possible_cpus();
  return sum(bpf_map_lookup_elem(mapOf(dp, map).fd, encodeU32(index), perCpuStride(SEG_COUNTER) * cpus), cpus);
}

function add(a: Counter | undefined, b: Counter | undefined): Counter {
  return { packets: (a?.packets ?? 0n) + (b?.packets ?? 0n), bytes: (a?.bytes ?? 0n) + (b?.bytes ?? 0n) };
}

/**
 * The first `count` counters of the per-CPU array `map`, summed over CPUs, with batch lookups
 * (one system call for all of seg_stats instead of one per counter).
 */
function readCounterRange(dp: Datapath, map: MapName, count: number): Counter[] {
  const cpus = libbpf_num_possible_cpus();
  const stride = perCpuStride(SEG_COUNTER);
  const valueSize = stride * cpus;
  const { packets: packetsField, bytes: bytesField } = SEG_COUNTER.fields;
  const out: Counter[] = [];
  for (const batch of iterateBatches(mapOf(dp, map).fd, 4, valueSize, { limit: count })) {
    const values = new DataView(batch.values.buffer, batch.values.byteOffset, batch.values.byteLength);
    for (let e = 0; e < batch.count; e++) {
      let packets = 0n;
      let bytes = 0n;
      for (let c = 0, at = e * valueSize; c < cpus; c++, at += stride) {
        packets += values.getBigUint64(at + packetsField.offset, true);
        bytes += values.getBigUint64(at + bytesField.offset, true);
      }
      out.push({ packets, bytes });
    }
  }
  while (out.length < count) out.push({ packets: 0n, bytes: 0n });
  return out;
}

/** seg_stats as the kernel holds it, each counter where this version counts it (an older data path's moved by migrateStatIndex). */
function readStatsByIndex(dp: Datapath): Counter[] {
  const version = readDatapathInfo(dp).version;
  if (version >= DATAPATH_VERSION) return readCounterRange(dp, SegMap.stats, SegStat.SEG_STAT_COUNT);
  const stats: Counter[] = Array.from({ length: SegStat.SEG_STAT_COUNT }, () => ({ packets: 0n, bytes: 0n }));
  const entries = bpf_map_get_info_by_fd(mapOf(dp, SegMap.stats).fd).maxEntries;
  for (let i = 0; i < entries; i++) {
    const at = migrateStatIndex(i, version);
    if (at < stats.length) stats[at] = { ...readCounter(dp, SegMap.stats, i) };
  }
  return stats;
}

/**
 * Every seg_stats counter, by index (SegStat). The classifier leaves three of them to readers,
 * to save a counter update per packet (bpf/lib/policy.h): the verdict totals are the sums of
 * the two hooks' (SEG_STAT_ALLOW = INGRESS_ALLOW + EGRESS_ALLOW), and a session hit ends in one
 * of the three session reasons (SESSION, SESSION_RECHECKED, SESSION_REVOKED). Data paths of
 * version 2 counted them in the kernel as well, with the same values.
 */
export function readStats(dp: Datapath): { packets: bigint; bytes: bigint }[] {
  const stats = readStatsByIndex(dp);
  const reason = (r: number) => stats[SegStat.SEG_STAT_REASON_BASE + r];
  stats[SegStat.SEG_STAT_ALLOW] = add(stats[SegStat.SEG_STAT_INGRESS_ALLOW], stats[SegStat.SEG_STAT_EGRESS_ALLOW]);
  stats[SegStat.SEG_STAT_DENY] = add(stats[SegStat.SEG_STAT_INGRESS_DENY], stats[SegStat.SEG_STAT_EGRESS_DENY]);
  stats[SegStat.SEG_STAT_SESSION_HIT] = add(add(reason(SegReason.SEG_REASON_SESSION), reason(SegReason.SEG_REASON_SESSION_RECHECKED)), reason(SegReason.SEG_REASON_SESSION_REVOKED));
  return stats;
}

/** Hits of rule `rule` of the policy in `slot`. */
export function readRuleHits(dp: Datapath, slot: number, rule: number): { packets: bigint; bytes: bigint } {
  return { ...readCounter(dp, SegMap.ruleHits, slot * dp.rulesPerSlot + rule) };
}

/** Packets of rule `rule` of the policy in `slot` that audit passed although the rule denies them. */
export function readRuleWouldDeny(dp: Datapath, slot: number, rule: number): { packets: bigint; bytes: bigint } {
  return { ...readCounter(dp, SegMap.ruleWouldDeny, slot * dp.rulesPerSlot + rule) };
}

/**
 * Zeroes the per-rule counters (hits and audit's would-deny) of `slot`'s first `count` rules, so
 * that a policy installed there starts from nothing (the slot is not in force, so no packet
 * counts there meanwhile).
 */
export function resetRuleHits(dp: Datapath, slot: number, count: number): void {
  if (count === 0) return;
  const valueSize = perCpuStride(SEG_COUNTER) * libbpf_num_possible_cpus();
  const keys = encodeU32Range(slot * dp.rulesPerSlot, count);
  const zeros = new Uint8Array(count * valueSize);
  for (const map of [SegMap.ruleHits, SegMap.ruleWouldDeny] as const) writeEntries(mapOf(dp, map).fd, keys, zeros, count, 4, valueSize);
}

/**
 * Hits of the first `count` rules of `slot`, summed over CPUs into doubles (exact below 2^53),
 * with a few batch lookups (a per-rule lookup costs a system call each: 10k rules would be 10k
 * calls a scrape). Two typed arrays, no object or bigint per rule: a 10k-rule scrape's reading
 * made 20k bigints when every rule moved, garbage that cost more to collect than to make.
 */
export function readRuleHitsRange(dp: Datapath, slot: number, count: number): { packets: Float64Array; bytes: Float64Array } {
  const cpus = libbpf_num_possible_cpus();
  const stride = perCpuStride(SEG_COUNTER);
  const valueSize = stride * cpus;
  const packets = new Float64Array(count);
  const bytes = new Float64Array(count);
  const first = slot * dp.rulesPerSlot;
  const { packets: packetsField, bytes: bytesField } = SEG_COUNTER.fields;
  let i = 0;
  // Summed straight from each batch's buffer as 32-bit words (a u64 is its low word plus its
  // high word times 2^32, little-endian as the kernel writes it): decoding 10k rules' values
  // CPU by CPU into objects took most of a 10k-rule scrape, and a DataView call per word
  // twice the time of indexing.
  for (const batch of iterateBatches(mapOf(dp, SegMap.ruleHits).fd, 4, valueSize, { after: first === 0 ? null : encodeU32(first - 1), limit: count })) {
    const words = wordsOf(batch.values);
    const stride32 = stride / 4;
    const value32 = valueSize / 4;
    const packets32 = packetsField.offset / 4;
    const bytes32 = bytesField.offset / 4;
    for (let e = 0; e < batch.count; e++, i++) {
      let p = 0;
      let b = 0;
      for (let c = 0, at = e * value32; c < cpus; c++, at += stride32) {
        p += (words[at + packets32] as number) + (words[at + packets32 + 1] as number) * 2 ** 32;
        b += (words[at + bytes32] as number) + (words[at + bytes32 + 1] as number) * 2 ** 32;
      }
      packets[i] = p;
      bytes[i] = b;
    }
  }
  return { packets, bytes };
}

/** `bytes` as little-endian 32-bit words (a copy when they do not start on a word boundary). */
function wordsOf(bytes: Uint8Array): Uint32Array {
  const aligned = bytes.byteOffset % 4 === 0 ? bytes : bytes.slice();
  return new Uint32Array(aligned.buffer, aligned.byteOffset, aligned.byteLength >> 2);
}

