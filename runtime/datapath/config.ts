// The kernel contract: seg_config, the one global config entry (struct seg_config). The active
// slot and the settings are written together in one update: the program reads the entry once
// per packet, so a switch is atomic.
import { bpf_map_get_info_by_fd, bpf_map_lookup_elem, bpf_map_update_elem } from '../libbpf.ts';
import { SEG_CONFIG, SegMap, SegState, type SegConfig, type StructLayout } from './abi.ts';
import { layoutOf } from './migrate.ts';
import { decode, encode, encodeU32 } from './codec.ts';
import { mapOf, type Datapath } from './datapath.ts';

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
  /** The canary (bpf/lib/canary.h): the generation in the other slot judging a share of new flows; absent or 0n: none. */
  readonly canaryGeneration?: bigint;
  /** That share, in SEG_CANARY_SHARE_SCALE (10 000) parts of new flows. */
  readonly canaryShare?: number;
}

/**
 * The layout of `fd`'s config entry: this version's, or version 2's (without the canary's
 * members) for a data path pinned by a segc before version 3, read and written while a deploy
 * upgrades it.
 */
function configLayout(fd: number): StructLayout<SegConfig> {
  const size = bpf_map_get_info_by_fd(fd).valueSize;
  if (size === SEG_CONFIG.size) return SEG_CONFIG;
  const old = layoutOf('seg_config', 2) as StructLayout<SegConfig>;
  if (size === old.size) return old;
  throw new Error(`seg_config holds ${size}-byte entries; this segc knows ${SEG_CONFIG.size} and ${old.size}`);
}

export function readConfig(dp: Datapath): DatapathConfig {
  const fd = mapOf(dp, SegMap.config).fd;
  const layout = configLayout(fd);
  const raw = bpf_map_lookup_elem(fd, encodeU32(0), layout.size);
  if (!raw) throw new Error('seg_config has no entry');
  // Members an older layout lacks read as zero (no canary).
  const c: SegConfig = { ...decode(SEG_CONFIG, new Uint8Array(SEG_CONFIG.size)), ...decode(layout, raw) };
  return {
    activeSlot: c.active_slot,
    flags: c.flags,
    timeouts: c.timeout_s,
    events: { rate: c.event_rate, burst: c.event_burst, globalRate: c.event_global_rate, globalBurst: c.event_global_burst },
    pressurePct: c.pressure_pct,
    canaryGeneration: c.canary_generation,
    canaryShare: c.canary_share,
  };
}

/** Writes the whole config in one update (the program reads `active_slot` once per packet). */
export function writeConfig(dp: Datapath, config: DatapathConfig): void {
  const e = config.events;
  const fd = mapOf(dp, SegMap.config).fd;
  const layout = configLayout(fd);
  if (layout !== SEG_CONFIG && (config.canaryGeneration ?? 0n) !== 0n) throw new Error('this data path predates the canary (data-path version 2): deploy without --canary first to upgrade it');
  const full = encode(SEG_CONFIG, {
    active_slot: config.activeSlot,
    flags: config.flags,
    timeout_s: config.timeouts.slice(0, SegState.SEG_STATE_COUNT),
    event_rate: e?.rate ?? 0,
    event_burst: e?.burst ?? 0,
    event_global_rate: e?.globalRate ?? 0,
    event_global_burst: e?.globalBurst ?? 0,
    pressure_pct: config.pressurePct ?? 0,
    canary_generation: config.canaryGeneration ?? 0n,
    canary_share: config.canaryShare ?? 0,
  });
  // The members come in the same order in both layouts: an older entry is this one's prefix.
  bpf_map_update_elem(fd, encodeU32(0), full.subarray(0, layout.size));
}

/** Switches packets to the policy in `slot`: one write of the config. */
export function activateSlot(dp: Datapath, slot: number): void {
  writeConfig(dp, { ...readConfig(dp), activeSlot: slot });
}
