// The kernel contract: seg_info, what a pinned data path is (struct seg_info: its version and
// its counters' lineage). A data path pinned by segc before the record existed has no seg_info
// map: version 1.
import { bpf_map_get_info_by_fd, bpf_map_lookup_elem } from '../libbpf.ts';
import { SEG_INFO, SegMap } from './abi.ts';
import { decode, encodeU32 } from './codec.ts';
import type { Datapath } from './datapath.ts';

export interface DatapathInfo {
  readonly version: number;
  /** The id of the deployment's first seg_stats map: its counters' series, across upgrades. */
  readonly lineage: bigint;
}

/** The version record of `dp` (version 1 without one). */
export function readDatapathInfo(dp: Datapath): DatapathInfo {
  const fd = dp.maps[SegMap.info];
  const stats = dp.maps[SegMap.stats];
  const statsId = stats === undefined ? 0n : BigInt(bpf_map_get_info_by_fd(stats).id);
  if (fd === undefined) return { version: 1, lineage: statsId };
  const raw = bpf_map_lookup_elem(fd, encodeU32(0), SEG_INFO.size);
  const info = raw ? decode(SEG_INFO, raw) : undefined;
  if (!info || info.version === 0) return { version: 1, lineage: statsId };
  return { version: info.version, lineage: info.lineage === 0n ? statsId : info.lineage };
}
