// Runtime: the data path loader. Opens and loads bpf/build/segc.bpf.o through libbpf.ts (state
// maps sized first), installs an emitted policy into a slot (fresh inner maps, filled, then put
// into the outer maps), switches the active slot with one config write, and runs packets
// through the programs with BPF_PROG_TEST_RUN. Deploy (pinning, attaching) builds on this.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  BPF_MAP_TYPE,
  BPF_F,
  bpf_map__fd,
  bpf_map__set_max_entries,
  bpf_map_create,
  bpf_map_delete_elem,
  bpf_map_get_fd_by_id,
  bpf_map_get_info_by_fd,
  bpf_map_get_next_key,
  bpf_map_lookup_batch,
  bpf_map_lookup_elem,
  bpf_map_update_batch,
  bpf_map_update_elem,
  bpf_object__close,
  bpf_object__find_map_by_name,
  bpf_object__find_program_by_name,
  bpf_object__load,
  bpf_object__open_file,
  bpf_program__fd,
  bpf_prog_test_run_opts,
  close,
  libbpf_num_possible_cpus,
  type BpfObject,
} from './libbpf.ts';
import { BpfError } from './errors.ts';
import { packageRoot } from './package-root.ts';
import {
  SEG_CB,
  SEG_CONFIG,
  SEG_FRAGMENT_KEY,
  SEG_COUNTER,
  SEG_POLICY_META,
  SEG_RULE_NONE,
  SEG_SESSION,
  SEG_SESSION_KEY,
  SEG_SLOTS,
  SEG_SOURCE_KEY,
  SEG_SYN_RATE,
  SegMap,
  SegState,
  SegStat,
  SegVerdict,
} from '../compiler/abi.ts';
import type { MapImage, PolicyImage } from '../compiler/entries.ts';

/** bpf/build/segc.bpf.o of this checkout or installed package (from sources or from dist/). */
export const DEFAULT_OBJECT_PATH = join(packageRoot()?.dir ?? join(dirname(fileURLToPath(import.meta.url)), '..'), 'bpf', 'build', 'segc.bpf.o');

/**
 * Default capacity of the session table: 262,144 sessions, 4x the 65,536 of before, so that
 * 100k+ concurrent flows fit below the SYN-protection threshold (75 %: 196,608) with room for
 * bursts. The LRU table is preallocated: about 152 bytes a session in the kernel (key 40,
 * value 48, the hash element's 48 and a bucket of 16), 38 MiB at this size, 152 MiB at 1M
 * (docs/datapath.md, test/kernel/session-scale.test.ts).
 */
export const DEFAULT_SESSIONS = 262_144;

/** Default capacity of the fragment table: about 400 KiB of kernel memory. */
export const DEFAULT_FRAGMENTS = 4096;

export interface LoadOptions {
  readonly objectPath?: string;
  /** Session table capacity (LRU). Default DEFAULT_SESSIONS (262,144). */
  readonly sessions?: number;
  /** Rules per slot the rule-hit counters hold. Default 65,536. */
  readonly rulesPerSlot?: number;
  /** Fragmented datagrams tracked at once (LRU; bpf/lib/fragments.h). Default 4,096. */
  readonly fragments?: number;
  /** Bytes of the event ring buffer (a power of two, at least a page). Default 256 KiB. */
  readonly eventBufferBytes?: number;
  /**
   * Called after the object is opened and sized, before it loads: where deploy sets pin paths
   * or hands over the maps of a running deployment (bpf_map__reuse_fd).
   */
  readonly prepare?: (obj: BpfObject) => void;
}

/** A loaded data path: program and map fds, valid until `closeDatapath`. */
export interface Datapath {
  readonly obj: BpfObject;
  readonly programs: { readonly ingress: number; readonly egress: number; readonly parseOnly: number };
  /** Map fds by `SegMap` name. */
  readonly maps: Readonly<Record<string, number>>;
  readonly rulesPerSlot: number;
}

export function loadDatapath(options: LoadOptions = {}): Datapath {
  const path = options.objectPath ?? DEFAULT_OBJECT_PATH;
  if (!existsSync(path)) throw new Error(`the data path object ${path} is missing; build it with 'make bpf'`);
  const rulesPerSlot = options.rulesPerSlot ?? 65536;
  const obj = bpf_object__open_file(path);
  try {
    bpf_map__set_max_entries(bpf_object__find_map_by_name(obj, SegMap.sessions), options.sessions ?? DEFAULT_SESSIONS);
    bpf_map__set_max_entries(bpf_object__find_map_by_name(obj, SegMap.ruleHits), SEG_SLOTS * rulesPerSlot);
    bpf_map__set_max_entries(bpf_object__find_map_by_name(obj, SegMap.fragments), options.fragments ?? DEFAULT_FRAGMENTS);
    bpf_map__set_max_entries(bpf_object__find_map_by_name(obj, SegMap.ruleWouldDeny), SEG_SLOTS * rulesPerSlot);
    // [0] is the global bucket; each rule's is at 1 + its seg_rule_hits index.
    bpf_map__set_max_entries(bpf_object__find_map_by_name(obj, SegMap.eventBuckets), 1 + SEG_SLOTS * rulesPerSlot);
    if (options.eventBufferBytes !== undefined) bpf_map__set_max_entries(bpf_object__find_map_by_name(obj, SegMap.events), options.eventBufferBytes);
    options.prepare?.(obj);
    bpf_object__load(obj);
    const maps: Record<string, number> = {};
    for (const name of Object.values(SegMap)) maps[name] = bpf_map__fd(bpf_object__find_map_by_name(obj, name));
    const prog = (name: string) => bpf_program__fd(bpf_object__find_program_by_name(obj, name));
    return { obj, programs: { ingress: prog('seg_ingress'), egress: prog('seg_egress'), parseOnly: prog('seg_parse_only') }, maps, rulesPerSlot };
  } catch (e) {
    bpf_object__close(obj);
    throw e;
  }
}

export function closeDatapath(dp: Datapath): void {
  bpf_object__close(dp.obj);
}

function mapFd(dp: Datapath, name: string): number {
  const fd = dp.maps[name];
  if (fd === undefined) throw new Error(`data path map ${name} missing`);
  return fd;
}

function u32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, true);
  return b;
}

const KIND_TYPE = { array: BPF_MAP_TYPE.ARRAY, lpm_trie: BPF_MAP_TYPE.LPM_TRIE, hash: BPF_MAP_TYPE.HASH } as const;

/** Creates one inner map of `image`'s shape and writes every entry; returns its fd. */
function loadInnerMap(image: MapImage): number {
  const fd = bpf_map_create(KIND_TYPE[image.kind], image.name.replace('seg_slot_', 'seg_'), image.keySize, image.valueSize, image.maxEntries, {
    mapFlags: image.flags,
  });
  try {
    if (image.kind === 'array') {
      const keys = new Uint8Array(image.maxEntries * 4);
      const view = new DataView(keys.buffer);
      for (let i = 0; i < image.maxEntries; i++) view.setUint32(i * 4, i, true);
      writeEntries(fd, keys, image.values, image.maxEntries, 4, image.valueSize);
    } else if (image.keys) {
      writeEntries(fd, image.keys, image.values, image.count, image.keySize, image.valueSize);
    }
    return fd;
  } catch (e) {
    close(fd);
    throw e;
  }
}

// Batches where the map type has them (arrays, hashes); one call per entry otherwise (LPM
// tries have no batch update).
function writeEntries(fd: number, keys: Uint8Array, values: Uint8Array, count: number, keySize: number, valueSize: number): void {
  if (count === 0) return;
  try {
    bpf_map_update_batch(fd, keys, values, count);
    return;
  } catch (e) {
    if (!(e instanceof BpfError) || (e.errno !== 22 && e.errno !== 95 && e.errno !== 524)) throw e;
  }
  for (let i = 0; i < count; i++) {
    bpf_map_update_elem(fd, keys.subarray(i * keySize, (i + 1) * keySize), values.subarray(i * valueSize, (i + 1) * valueSize));
  }
}

export interface InstallOptions {
  readonly slot: number;
  /** The deploy generation (>= 1); sessions of other generations are classified again. */
  readonly generation: bigint;
  /** Audit mode for the whole policy: denies pass, counted as would-deny (the slot header's flag). */
  readonly audit?: boolean;
}

/**
 * Fills `slot` with `image`: fresh inner maps, then the outer maps' slot entries, the slot's
 * header last. The slot must not be the active one (the program would see a half-filled
 * policy); `activateSlot` then switches to it.
 */
export function installPolicy(dp: Datapath, image: PolicyImage, options: InstallOptions): void {
  if (image.ruleCount > dp.rulesPerSlot) throw new Error(`the policy has ${image.ruleCount} rules; this data path was loaded for ${dp.rulesPerSlot}`);
  if (options.generation < 1n) throw new RangeError('generation must be at least 1');
  if (options.slot !== 0 && options.slot !== 1) throw new RangeError(`slot ${options.slot} does not exist (0 or 1)`);
  if (readConfig(dp).activeSlot === options.slot && slotGeneration(dp, options.slot) !== 0n) {
    throw new Error(`slot ${options.slot} holds the policy in force; fill the other slot and switch to it`);
  }
  // The slot's rule counters still hold what an older policy in it counted.
  resetRuleHits(dp, options.slot, image.ruleCount);
  const slotKey = u32(options.slot);
  const created: number[] = [];
  try {
    for (const m of image.maps) {
      const fd = loadInnerMap(m);
      created.push(fd);
      bpf_map_update_elem(mapFd(dp, m.name), slotKey, u32(fd));
    }
    const meta = image.meta.slice();
    const mv = new DataView(meta.buffer);
    mv.setBigUint64(SEG_POLICY_META.fields.generation?.offset ?? 0, options.generation, true);
    mv.setUint32(SEG_POLICY_META.fields.rule_base?.offset ?? 8, options.slot * dp.rulesPerSlot, true);
    meta[SEG_POLICY_META.fields.audit?.offset ?? 35] = options.audit === true ? 1 : 0;
    const metaFd = bpf_map_create(BPF_MAP_TYPE.ARRAY, 'seg_meta', 4, SEG_POLICY_META.size, 1, { mapFlags: BPF_F.INNER_MAP });
    created.push(metaFd);
    bpf_map_update_elem(metaFd, u32(0), meta);
    bpf_map_update_elem(mapFd(dp, SegMap.slotMeta), slotKey, u32(metaFd));
  } finally {
    // The outer maps hold their own references.
    for (const fd of created) close(fd);
  }
}

/** The generation of the policy in `slot`, or 0 when the slot is empty. */
export function slotGeneration(dp: Datapath, slot: number): bigint {
  return slotHeader(dp, slot)?.generation ?? 0n;
}

/** What a slot's header says, or undefined when the slot holds no header. */
export function slotHeader(dp: Datapath, slot: number): { readonly generation: bigint; readonly audit: boolean } | undefined {
  const id = bpf_map_lookup_elem(mapFd(dp, SegMap.slotMeta), u32(slot), 4);
  if (!id) return undefined;
  const fd = bpf_map_get_fd_by_id(new DataView(id.buffer, id.byteOffset).getUint32(0, true));
  try {
    const meta = bpf_map_lookup_elem(fd, u32(0), SEG_POLICY_META.size);
    if (!meta) return undefined;
    return {
      generation: new DataView(meta.buffer, meta.byteOffset).getBigUint64(SEG_POLICY_META.fields.generation?.offset ?? 0, true),
      audit: meta[SEG_POLICY_META.fields.audit?.offset ?? 35] !== 0,
    };
  } finally {
    close(fd);
  }
}

/** Event rate limits (token buckets per CPU); 0 = the data path's default (SEG_DEFAULT_*). */
export interface EventLimits {
  /** Events per second of each rule. */
  readonly rate: number;
  readonly burst: number;
  /** Events per second of all rules together. */
  readonly globalRate: number;
  readonly globalBurst: number;
}

export interface DatapathConfig {
  readonly activeSlot: number;
  readonly flags: number;
  /** Seconds per session state (enum seg_state); 0 = the built-in timeout. */
  readonly timeouts: readonly number[];
  /** Absent: all zero (the defaults). */
  readonly events?: EventLimits;
  /** Session table fill (percent) from which SYNs open no session; 0 = the default (75). */
  readonly pressurePct?: number;
}

const CONFIG_FIELDS = SEG_CONFIG.fields as Record<string, { offset: number }>;
const configOffset = (field: string): number => {
  const f = CONFIG_FIELDS[field];
  if (!f) throw new Error(`seg_config has no field ${field}`);
  return f.offset;
};

export function readConfig(dp: Datapath): DatapathConfig {
  const raw = bpf_map_lookup_elem(mapFd(dp, SegMap.config), u32(0), SEG_CONFIG.size);
  if (!raw) throw new Error('seg_config has no entry');
  const v = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const timeouts: number[] = [];
  for (let i = 0; i < 8; i++) timeouts.push(v.getUint32(8 + 4 * i, true));
  const at = (field: string) => v.getUint32(configOffset(field), true);
  return {
    activeSlot: v.getUint32(0, true),
    flags: v.getUint32(4, true),
    timeouts,
    events: { rate: at('event_rate'), burst: at('event_burst'), globalRate: at('event_global_rate'), globalBurst: at('event_global_burst') },
    pressurePct: at('pressure_pct'),
  };
}

/** Writes the whole config in one update (the program reads `active_slot` once per packet). */
export function writeConfig(dp: Datapath, config: DatapathConfig): void {
  const raw = new Uint8Array(SEG_CONFIG.size);
  const v = new DataView(raw.buffer);
  v.setUint32(0, config.activeSlot, true);
  v.setUint32(4, config.flags, true);
  config.timeouts.slice(0, 8).forEach((t, i) => v.setUint32(8 + 4 * i, t, true));
  const e = config.events;
  if (e) {
    v.setUint32(configOffset('event_rate'), e.rate, true);
    v.setUint32(configOffset('event_burst'), e.burst, true);
    v.setUint32(configOffset('event_global_rate'), e.globalRate, true);
    v.setUint32(configOffset('event_global_burst'), e.globalBurst, true);
  }
  v.setUint32(configOffset('pressure_pct'), config.pressurePct ?? 0, true);
  bpf_map_update_elem(mapFd(dp, SegMap.config), u32(0), raw);
}

/** Switches packets to the policy in `slot`: one write of the config. */
export function activateSlot(dp: Datapath, slot: number): void {
  writeConfig(dp, { ...readConfig(dp), activeSlot: slot });
}

/** The kernel's decision on one frame, from the return code and skb->cb[]. */
export interface KernelDecision {
  readonly verdict: 'allow' | 'deny';
  /** Audit passed a packet the policy denies (skb->cb[SEG_CB_WOULD_DENY]). */
  readonly wouldDeny: boolean;
  readonly retval: number;
  /** The deciding rule id (for a session: the rule that allowed it), or null. */
  readonly rule: number | null;
  readonly reason: number;
  /** Average ns per run as the kernel measured it. */
  readonly duration: number;
}

export type ProgramName = 'ingress' | 'egress' | 'parseOnly';

/** Runs one frame through a program with BPF_PROG_TEST_RUN (`repeat` times). */
export function runFrame(dp: Datapath, program: ProgramName, frame: Uint8Array, repeat = 1): KernelDecision {
  const r = bpf_prog_test_run_opts(dp.programs[program], { data: frame, ctx: { cb: [0, 0, 0, 0, 0] }, ctxOut: true, repeat });
  const cb = r.ctx?.cb ?? [];
  const rule = (cb[SEG_CB.rule] ?? SEG_RULE_NONE) >>> 0;
  const verdict = r.retval === 0 ? 'allow' : 'deny';
  if (program !== 'parseOnly' && (cb[SEG_CB.verdict] === SegVerdict.SEG_VERDICT_ALLOW) !== (verdict === 'allow')) {
    throw new Error(`the program returned ${r.retval} but left verdict ${cb[SEG_CB.verdict]} in cb[]`);
  }
  return { verdict, wouldDeny: cb[SEG_CB.wouldDeny] === 1, retval: r.retval, rule: rule === SEG_RULE_NONE ? null : rule, reason: cb[SEG_CB.reason] ?? -1, duration: r.duration };
}

/** Sums a per-CPU counter map entry over CPUs. */
function readCounter(fd: number, index: number): { packets: bigint; bytes: bigint } {
  const cpus = libbpf_num_possible_cpus();
  const raw = bpf_map_lookup_elem(fd, u32(index), SEG_COUNTER.size * cpus);
  let packets = 0n;
  let bytes = 0n;
  if (raw) {
    const v = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    for (let c = 0; c < cpus; c++) {
      packets += v.getBigUint64(c * SEG_COUNTER.size, true);
      bytes += v.getBigUint64(c * SEG_COUNTER.size + 8, true);
    }
  }
  return { packets, bytes };
}

/** Every seg_stats counter, by index (SegStat). */
export function readStats(dp: Datapath): { packets: bigint; bytes: bigint }[] {
  const fd = mapFd(dp, SegMap.stats);
  return Array.from({ length: SegStat.SEG_STAT_COUNT }, (_, i) => readCounter(fd, i));
}

/** Hits of rule `rule` of the policy in `slot`. */
export function readRuleHits(dp: Datapath, slot: number, rule: number): { packets: bigint; bytes: bigint } {
  return readCounter(mapFd(dp, SegMap.ruleHits), slot * dp.rulesPerSlot + rule);
}

/**
 * Zeroes the per-rule counters (hits and audit's would-deny) of `slot`'s first `count` rules, so
 * that a policy installed there starts from nothing (the slot is not in force, so no packet
 * counts there meanwhile).
 */
export function resetRuleHits(dp: Datapath, slot: number, count: number): void {
  if (count === 0) return;
  const cpus = libbpf_num_possible_cpus();
  const keys = new Uint8Array(count * 4);
  const view = new DataView(keys.buffer);
  for (let i = 0; i < count; i++) view.setUint32(i * 4, slot * dp.rulesPerSlot + i, true);
  const zeros = new Uint8Array(count * SEG_COUNTER.size * cpus);
  for (const map of [SegMap.ruleHits, SegMap.ruleWouldDeny]) writeEntries(mapFd(dp, map), keys, zeros, count, 4, SEG_COUNTER.size * cpus);
}

/**
 * Hits of the first `count` rules of `slot`, summed over CPUs, with a few batch lookups
 * (a per-rule lookup costs a system call each: 10k rules would be 10k calls a scrape).
 */
export function readRuleHitsRange(dp: Datapath, slot: number, count: number): { packets: bigint[]; bytes: bigint[] } {
  const fd = mapFd(dp, SegMap.ruleHits);
  const cpus = libbpf_num_possible_cpus();
  const valueLength = SEG_COUNTER.size * cpus;
  const packets: bigint[] = new Array<bigint>(count).fill(0n);
  const bytes: bigint[] = new Array<bigint>(count).fill(0n);
  const first = slot * dp.rulesPerSlot;
  let read = 0;
  // Array batches start after the key given: the one before the slot's first rule.
  let token: Uint8Array | null = first === 0 ? null : u32(first - 1);
  while (read < count) {
    const batch = bpf_map_lookup_batch(fd, token, 4, valueLength, Math.min(RULE_BATCH, count - read));
    if (batch.count === 0) break;
    const v = new DataView(batch.values.buffer, batch.values.byteOffset, batch.values.byteLength);
    for (let i = 0; i < batch.count; i++) {
      let p = 0n;
      let b = 0n;
      for (let c = 0; c < cpus; c++) {
        p += v.getBigUint64(i * valueLength + c * SEG_COUNTER.size, true);
        b += v.getBigUint64(i * valueLength + c * SEG_COUNTER.size + 8, true);
      }
      packets[read + i] = p;
      bytes[read + i] = b;
    }
    read += batch.count;
    if (batch.next === null) break;
    token = u32(first + read - 1);
  }
  return { packets, bytes };
}

const RULE_BATCH = 4096;
const SESSION_BATCH = 4096;

/** The session table in numbers: entries, and entries by state (SegState index). */
export interface SessionCensus {
  readonly entries: number;
  readonly capacity: number;
  readonly byState: readonly number[];
}

/**
 * Counts the sessions by state with batch lookups (a full 262,144-entry table is 64 calls),
 * decoding only the state byte of each entry. A snapshot: the table keeps changing.
 */
export function censusSessions(dp: Datapath): SessionCensus {
  const fd = mapFd(dp, SegMap.sessions);
  const capacity = bpf_map_get_info_by_fd(fd).maxEntries;
  const byState = new Array<number>(SegState.SEG_STATE_COUNT).fill(0);
  const stateOffset = SEG_SESSION.fields.state?.offset ?? 38;
  let entries = 0;
  let token: Uint8Array | null = null;
  for (;;) {
    const batch = bpf_map_lookup_batch(fd, token, SEG_SESSION_KEY.size, SEG_SESSION.size, SESSION_BATCH);
    for (let i = 0; i < batch.count; i++) {
      const state = batch.values[i * SEG_SESSION.size + stateOffset] ?? 0;
      if (state < byState.length) byState[state] = (byState[state] ?? 0) + 1;
      entries++;
    }
    if (batch.next === null || batch.count === 0) break;
    token = batch.next;
  }
  return { entries, capacity, byState };
}

/** Packets of rule `rule` of the policy in `slot` that audit passed although the rule denies them. */
export function readRuleWouldDeny(dp: Datapath, slot: number, rule: number): { packets: bigint; bytes: bigint } {
  return readCounter(mapFd(dp, SegMap.ruleWouldDeny), slot * dp.rulesPerSlot + rule);
}

/** SYNs from one source address (seg_syn_sources). */
export interface SynSource {
  readonly family: 4 | 6;
  readonly addr: Uint8Array;
  /** SYNs in the last full one-second window (the rate, per second). */
  readonly perSecond: number;
  /** SYNs in the current window so far. */
  readonly current: number;
  readonly total: bigint;
  readonly windowNs: bigint;
}

/** The SYN sources the data path remembers (an LRU table: the active ones). */
export function readSynSources(dp: Datapath): SynSource[] {
  const fd = mapFd(dp, SegMap.synSources);
  const out: SynSource[] = [];
  let key = bpf_map_get_next_key(fd, null, SEG_SOURCE_KEY.size);
  while (key) {
    const value = bpf_map_lookup_elem(fd, key, SEG_SYN_RATE.size);
    if (value) {
      const v = new DataView(value.buffer, value.byteOffset, value.byteLength);
      const family = key[16] === 0 ? 4 : 6;
      out.push({ family, addr: key.slice(0, family === 4 ? 4 : 16), windowNs: v.getBigUint64(0, true), total: v.getBigUint64(8, true), current: v.getUint32(16, true), perSecond: v.getUint32(20, true) });
    }
    key = bpf_map_get_next_key(fd, key, SEG_SOURCE_KEY.size);
  }
  return out;
}

/** One session as the kernel holds it (struct seg_session_key + struct seg_session). */
export interface SessionEntry {
  readonly family: 4 | 6;
  readonly proto: number;
  /** Endpoint a is the lower of the two (address, then port). */
  readonly addrA: Uint8Array;
  readonly addrB: Uint8Array;
  readonly portA: number;
  readonly portB: number;
  readonly lastSeenNs: bigint;
  readonly generation: bigint;
  readonly packets: bigint;
  readonly bytes: bigint;
  readonly rule: number | null;
  readonly verdict: 'allow' | 'deny';
  readonly direction: 'ingress' | 'egress';
  /** enum seg_state (SegState). */
  readonly state: number;
  /** SESSION_FLAGS bits. */
  readonly flags: number;
  /** The raw key, for deleting the session. */
  readonly key: Uint8Array;
}

/** Every session in the table (a snapshot; the table keeps changing). */
export function readSessions(dp: Datapath): SessionEntry[] {
  const fd = mapFd(dp, SegMap.sessions);
  const out: SessionEntry[] = [];
  let key: Uint8Array | undefined = bpf_map_get_next_key(fd, null, SEG_SESSION_KEY.size);
  while (key) {
    const value = bpf_map_lookup_elem(fd, key, SEG_SESSION.size);
    if (value) out.push(decodeSession(key, value));
    key = bpf_map_get_next_key(fd, key, SEG_SESSION_KEY.size);
  }
  return out;
}

function decodeSession(key: Uint8Array, value: Uint8Array): SessionEntry {
  const k = new DataView(key.buffer, key.byteOffset, key.byteLength);
  const v = new DataView(value.buffer, value.byteOffset, value.byteLength);
  const family = key[37] === 0 ? 4 : 6;
  const addrLength = family === 4 ? 4 : 16;
  const rule = v.getUint32(32, true);
  return {
    family,
    proto: key[36] ?? 0,
    addrA: key.slice(0, addrLength),
    addrB: key.slice(16, 16 + addrLength),
    portA: k.getUint16(32, true),
    portB: k.getUint16(34, true),
    lastSeenNs: v.getBigUint64(0, true),
    generation: v.getBigUint64(8, true),
    packets: v.getBigUint64(16, true),
    bytes: v.getBigUint64(24, true),
    rule: rule === SEG_RULE_NONE ? null : rule,
    verdict: value[36] === SegVerdict.SEG_VERDICT_ALLOW ? 'allow' : 'deny',
    direction: value[37] === 0 ? 'ingress' : 'egress',
    state: value[38] ?? 0,
    flags: value[39] ?? 0,
    key: key.slice(),
  };
}

/** The datagrams whose first fragment passed, as raw keys (a snapshot). */
export function readFragmentKeys(dp: Datapath): Uint8Array[] {
  const fd = mapFd(dp, SegMap.fragments);
  const out: Uint8Array[] = [];
  let key: Uint8Array | undefined = bpf_map_get_next_key(fd, null, SEG_FRAGMENT_KEY.size);
  while (key) {
    out.push(key.slice());
    key = bpf_map_get_next_key(fd, key, SEG_FRAGMENT_KEY.size);
  }
  return out;
}

/** Forgets every tracked fragmented datagram; returns how many there were. */
export function flushFragments(dp: Datapath): number {
  const fd = mapFd(dp, SegMap.fragments);
  let n = 0;
  for (const key of readFragmentKeys(dp)) if (bpf_map_delete_elem(fd, key)) n++;
  return n;
}

/** Removes every session; returns how many there were. */
export function flushSessions(dp: Datapath): number {
  const fd = mapFd(dp, SegMap.sessions);
  let n = 0;
  for (const s of readSessions(dp)) if (bpf_map_delete_elem(fd, s.key)) n++;
  return n;
}
