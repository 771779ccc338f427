// The kernel contract: seg_config, the one global config entry (struct seg_config). The active
// slot and the settings are written together in one update: the program reads the entry once
// per packet, so a switch is atomic.
import { bpf_map_lookup_elem, bpf_map_update_elem } from '../libbpf.ts';
import { SEG_CONFIG, SegMap, SegState } from './abi.ts';
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

export function readConfig(dp: Datapath): DatapathConfig {
  const raw = bpf_map_lookup_elem(mapOf(dp, SegMap.config).fd, encodeU32(0), SEG_CONFIG.size);
  if (!raw) throw new Error('seg_config has no entry');
  const c = decode(SEG_CONFIG, raw);
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
  const raw = encode(SEG_CONFIG, {
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
  bpf_map_update_elem(mapOf(dp, SegMap.config).fd, encodeU32(0), raw);
}

/** Switches packets to the policy in `slot`: one write of the config. */
export function activateSlot(dp: Datapath, slot: number): void {
  writeConfig(dp, { ...readConfig(dp), activeSlot: slot });
}
