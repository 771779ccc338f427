// Runtime: the data path loader. Opens bpf/build/segc.bpf.o through libbpf.ts once, sizes the
// state maps, hands over the maps of a running data path where asked (an upgrade reuses what
// it can), loads, writes the version record (seg_info), and returns the typed handles the map
// modules of runtime/datapath/ work on. Deploy (pinning, attaching) builds on this.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  bpf_map__fd,
  bpf_map__reuse_fd,
  bpf_map__set_max_entries,
  bpf_map__value_size,
  bpf_map_get_info_by_fd,
  bpf_map_update_elem,
  bpf_object__close,
  bpf_object__find_map_by_name,
  bpf_object__find_program_by_name,
  bpf_object__load,
  bpf_object__open_file,
  bpf_program__fd,
  type BpfObject,
} from './libbpf.ts';
import { packageRoot } from './package-root.ts';
import { SEG_INFO, SEG_MAPS, SEG_SESSION_BUCKET, SEG_SLOTS, SegMap, type MapName } from './datapath/abi.ts';
import { encode, encodeU32 } from './datapath/codec.ts';
import type { Datapath } from './datapath/datapath.ts';
import { DATAPATH_VERSION } from './datapath/version.ts';
import { ensureHashKey } from './datapath/session-meta.ts';
import { sessionBuckets } from './datapath/sessions.ts';

export type { Datapath } from './datapath/datapath.ts';

/** bpf/build/segc.bpf.o of this checkout or installed package (from sources or from dist/). */
export const DEFAULT_OBJECT_PATH = join(packageRoot()?.dir ?? join(dirname(fileURLToPath(import.meta.url)), '..'), 'bpf', 'build', 'segc.bpf.o');

/**
 * Default capacity of the session table: 262,144 sessions (65,536 buckets of 4 ways), so that
 * 100k+ concurrent flows fit below the SYN-protection threshold (75 %: 196,608) with room for
 * bursts. The table is one array of 512-byte buckets: 128 bytes a session, 32 MiB at this
 * size, 128 MiB at 1M (docs/datapath.md "The session table", test/kernel/session-scale.test.ts).
 */
export const DEFAULT_SESSIONS = 262_144;
/** Default rules per policy slot. */
export const DEFAULT_RULES_PER_SLOT = 65536;
/** Default capacity of the fragment table: about 400 KiB of kernel memory. */
export const DEFAULT_FRAGMENTS = 4096;

export interface LoadOptions {
  readonly objectPath?: string;
  /**
   * An object of an older data-path version may lack maps added since (A/B benchmarks load
   * one): leave them out of the Datapath instead of failing; their readers say they are missing.
   */
  readonly allowMissingMaps?: boolean;
  /** Session table capacity, in sessions (rounded up to a power of two of 4-way buckets). Default DEFAULT_SESSIONS (262,144). */
  readonly sessions?: number;
  /** Rules per slot the rule-hit counters hold. Default 65,536. */
  readonly rulesPerSlot?: number;
  /** Fragmented datagrams tracked at once (LRU; bpf/lib/fragments.h). Default 4,096. */
  readonly fragments?: number;
  /** Bytes of the event ring buffer (a power of two, at least a page). Default 256 KiB. */
  readonly eventBufferBytes?: number;
  /**
   * Maps of a running data path to use as they are (bpf_map__reuse_fd): an upgrade hands over
   * every map whose layout and size did not change. Their contents stay; the others start empty.
   */
  readonly reuse?: Readonly<Partial<Record<MapName, number>>>;
  /** The counter lineage to record (an upgrade keeps the old one); default: this seg_stats map's id. */
  readonly lineage?: bigint;
  /** Called after the object is opened and sized, before it loads (verifier log buffers). */
  readonly prepare?: (obj: BpfObject) => void;
}

/** The capacity each state map gets for these options (what `loadDatapath` sizes them to). */
export function mapCapacities(options: Pick<LoadOptions, 'sessions' | 'rulesPerSlot' | 'fragments' | 'eventBufferBytes'>): Partial<Record<MapName, number>> {
  const rulesPerSlot = options.rulesPerSlot ?? DEFAULT_RULES_PER_SLOT;
  return {
    [SegMap.sessions]: sessionBuckets(options.sessions ?? DEFAULT_SESSIONS),
    [SegMap.ruleHits]: SEG_SLOTS * rulesPerSlot,
    [SegMap.fragments]: options.fragments ?? DEFAULT_FRAGMENTS,
    [SegMap.ruleWouldDeny]: SEG_SLOTS * rulesPerSlot,
    // [0] is the global bucket; each rule's is at 1 + its seg_rule_hits index.
    [SegMap.eventBuckets]: 1 + SEG_SLOTS * rulesPerSlot,
    ...(options.eventBufferBytes === undefined ? {} : { [SegMap.events]: options.eventBufferBytes }),
  };
}

export function loadDatapath(options: LoadOptions = {}): Datapath {
  const path = options.objectPath ?? DEFAULT_OBJECT_PATH;
  if (!existsSync(path)) throw new Error(`the data path object ${path} is missing; build it with 'make bpf'`);
  const rulesPerSlot = options.rulesPerSlot ?? DEFAULT_RULES_PER_SLOT;
  const obj = bpf_object__open_file(path);
  try {
    // An object of data-path version 4 or older (A/B benchmarks load one) has an LRU hash of
    // sessions, sized in sessions rather than buckets, and no seg_session_meta.
    const legacySessions = bpf_map__value_size(bpf_object__find_map_by_name(obj, SegMap.sessions)) !== SEG_SESSION_BUCKET.size;
    for (const [name, size] of Object.entries(mapCapacities(options))) {
      bpf_map__set_max_entries(bpf_object__find_map_by_name(obj, name), name === SegMap.sessions && legacySessions ? (options.sessions ?? DEFAULT_SESSIONS) : size);
    }
    for (const [name, fd] of Object.entries(options.reuse ?? {})) if (fd !== undefined) bpf_map__reuse_fd(bpf_object__find_map_by_name(obj, name), fd);
    options.prepare?.(obj);
    bpf_object__load(obj);
    const maps: Partial<Record<MapName, number>> = {};
    for (const name of Object.keys(SEG_MAPS) as MapName[]) {
      let map;
      try {
        map = bpf_object__find_map_by_name(obj, name);
      } catch (error) {
        if (options.allowMissingMaps === true || (legacySessions && name === SegMap.sessionMeta)) continue;
        throw error;
      }
      maps[name] = bpf_map__fd(map);
    }
    const prog = (name: string) => bpf_program__fd(bpf_object__find_program_by_name(obj, name));
    const dp: Datapath = { obj, programs: { ingress: prog('seg_ingress'), egress: prog('seg_egress'), parseOnly: prog('seg_parse_only') }, maps, rulesPerSlot };
    recordVersion(dp, options.lineage);
    // A table handed over (options.reuse) keeps its key: its sessions stay in their buckets.
    if (dp.maps[SegMap.sessionMeta] !== undefined) ensureHashKey(dp);
    return dp;
  } catch (e) {
    bpf_object__close(obj);
    throw e;
  }
}

/** Writes seg_info: this segc's data-path version and the counters' lineage. */
function recordVersion(dp: Datapath, lineage: bigint | undefined): void {
  const info = dp.maps[SegMap.info];
  const stats = dp.maps[SegMap.stats];
  if (info === undefined || stats === undefined) throw new Error('the data path object lacks seg_info or seg_stats');
  const value = encode(SEG_INFO, { version: DATAPATH_VERSION, lineage: lineage ?? BigInt(bpf_map_get_info_by_fd(stats).id) });
  bpf_map_update_elem(info, encodeU32(0), value);
}

export function closeDatapath(dp: Datapath): void {
  bpf_object__close(dp.obj);
}
