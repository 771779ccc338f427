// The kernel contract: seg_canary_stats, the canary's counters per role (enum seg_canary_role x
// enum seg_canary_stat, struct seg_counter per CPU). The data path counts them only while a
// canary runs; a canary's deploy zeroes them so that both roles count from the same moment.
import { libbpf_num_possible_cpus, bpf_map_lookup_elem } from '../libbpf.ts';
import { SEG_COUNTER, SegCanaryRole, SegCanaryStat, SegMap } from './abi.ts';
import { decodePerCpu, encodeU32, encodeU32Range, perCpuStride } from './codec.ts';
import { mapOf, type Datapath } from './datapath.ts';
import { writeEntries } from './iterate.ts';

/** One role's counters, in packets. */
export interface CanaryRoleCounts {
  /** Packets its policy passed / dropped (sessions included). */
  readonly allow: bigint;
  readonly deny: bigint;
  /** Packets its rules classified (new flows' first packets), and of those the denied. */
  readonly flows: bigint;
  readonly flowDeny: bigint;
  /** Audit: denies that passed. */
  readonly wouldDeny: bigint;
  readonly sessionHits: bigint;
  /** Sessions of an older generation its policy revoked. */
  readonly revoked: bigint;
}

export interface CanaryCounts {
  readonly baseline: CanaryRoleCounts;
  readonly canary: CanaryRoleCounts;
}

const STATS = SegCanaryStat.SEG_CANARY_STAT_COUNT;

function readRole(dp: Datapath, role: number): CanaryRoleCounts {
  const cpus = libbpf_num_possible_cpus();
  const at = (stat: number): bigint => {
    const raw = bpf_map_lookup_elem(mapOf(dp, SegMap.canaryStats).fd, encodeU32(role * STATS + stat), perCpuStride(SEG_COUNTER) * cpus);
    let packets = 0n;
    if (raw) for (const c of decodePerCpu(SEG_COUNTER, raw, cpus)) packets += c.packets;
    return packets;
  };
  return {
    allow: at(SegCanaryStat.SEG_CANARY_STAT_ALLOW),
    deny: at(SegCanaryStat.SEG_CANARY_STAT_DENY),
    flows: at(SegCanaryStat.SEG_CANARY_STAT_FLOWS),
    flowDeny: at(SegCanaryStat.SEG_CANARY_STAT_FLOW_DENY),
    wouldDeny: at(SegCanaryStat.SEG_CANARY_STAT_WOULD_DENY),
    sessionHits: at(SegCanaryStat.SEG_CANARY_STAT_SESSION_HIT),
    revoked: at(SegCanaryStat.SEG_CANARY_STAT_REVOKED),
  };
}

/** Both roles' counters, summed over CPUs. */
export function readCanaryCounts(dp: Datapath): CanaryCounts {
  return { baseline: readRole(dp, SegCanaryRole.SEG_CANARY_ROLE_BASELINE), canary: readRole(dp, SegCanaryRole.SEG_CANARY_ROLE_CANARY) };
}

/** Zeroes both roles' counters (before a canary starts). */
export function resetCanaryCounts(dp: Datapath): void {
  const count = 2 * STATS;
  const valueSize = perCpuStride(SEG_COUNTER) * libbpf_num_possible_cpus();
  writeEntries(mapOf(dp, SegMap.canaryStats).fd, encodeU32Range(0, count), new Uint8Array(count * valueSize), count, 4, valueSize);
}
