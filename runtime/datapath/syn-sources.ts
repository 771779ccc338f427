// The kernel contract: seg_syn_sources, SYNs per source address (struct seg_source_key ->
// struct seg_syn_rate, an LRU hash; bpf/lib/pressure.h).
import { SEG_SOURCE_KEY, SEG_SYN_RATE, SegFamily, SegMap } from './abi.ts';
import { decode } from './codec.ts';
import { mapOf, type Datapath } from './datapath.ts';
import { iterateEntries } from './iterate.ts';

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
  const out: SynSource[] = [];
  for (const { key, value } of iterateEntries(mapOf(dp, SegMap.synSources).fd, SEG_SOURCE_KEY.size, SEG_SYN_RATE.size)) {
    const k = decode(SEG_SOURCE_KEY, key);
    const v = decode(SEG_SYN_RATE, value);
    const family = k.family === SegFamily.SEG_FAMILY_IP4 ? 4 : 6;
    out.push({ family, addr: k.addr.slice(0, family === 4 ? 4 : 16), windowNs: v.window_ns, total: v.total, current: v.current, perSecond: v.previous });
  }
  return out;
}
