// Agent: label values of the data path's enums, derived from runtime/datapath/abi.ts (generated from
// bpf/segc_abi.h), so a reason, counter or state appended to the ABI gets its label without a
// change here: SEG_REASON_TRUNC_IP4 -> `trunc_ip4`, SEG_STAT_SESSION_HIT -> `session_hit`.
import { SegReason, SegState, SegStat } from '../datapath/abi.ts';

/** The enum's members by value, without the `_COUNT` / `_BASE` markers, named without the prefix. */
function labelsOf(table: Readonly<Record<string, number>>, prefix: string, skip: readonly string[]): ReadonlyMap<number, string> {
  const out = new Map<number, string>();
  for (const [key, value] of Object.entries(table)) {
    if (key.endsWith('_COUNT') || skip.includes(key)) continue;
    out.set(value, key.slice(prefix.length).toLowerCase());
  }
  return out;
}

const REASONS = labelsOf(SegReason, 'SEG_REASON_', []);
const STATES = labelsOf(SegState, 'SEG_STATE_', []);
const STATS = labelsOf(SegStat, 'SEG_STAT_', ['SEG_STAT_REASON_BASE', 'SEG_STAT_EXT_BASE', 'SEG_STAT_DIR_VERDICT_BASE']);

/** `trunc_ip4` for SEG_REASON_TRUNC_IP4; `reason_N` for a value this build does not know. */
export function reasonLabel(reason: number): string {
  return REASONS.get(reason) ?? `reason_${reason}`;
}

/** `tcp_syn_sent` for SEG_STATE_TCP_SYN_SENT. */
export function stateLabel(state: number): string {
  return STATES.get(state) ?? `state_${state}`;
}

/** Every reason value this build knows, ascending. */
export const REASON_VALUES: readonly number[] = [...REASONS.keys()].sort((a, b) => a - b);
export const STATE_VALUES: readonly number[] = [...STATES.keys()].sort((a, b) => a - b);

/**
 * What seg_stats index `index` counts: a verdict of one hook (`ingress`/`egress` x `allow`/
 * `deny`), the verdict totals over both hooks (`total`: the hooks' sum, not exported again), a
 * reason (one counter per reason from SEG_STAT_REASON_BASE), or an event (`session_hit`, ...
 * and whatever is appended).
 */
export type StatSlot =
  | { readonly kind: 'verdict'; readonly direction: 'ingress' | 'egress'; readonly verdict: 'allow' | 'deny' }
  | { readonly kind: 'total'; readonly verdict: 'allow' | 'deny' }
  | { readonly kind: 'reason'; readonly reason: number }
  | { readonly kind: 'event'; readonly event: string };

export function statSlot(index: number): StatSlot {
  if (index === SegStat.SEG_STAT_ALLOW) return { kind: 'total', verdict: 'allow' };
  if (index === SegStat.SEG_STAT_DENY) return { kind: 'total', verdict: 'deny' };
  const hook = index - SegStat.SEG_STAT_DIR_VERDICT_BASE;
  if (hook >= 0 && hook < 4) return { kind: 'verdict', direction: hook < 2 ? 'ingress' : 'egress', verdict: hook % 2 === 1 ? 'allow' : 'deny' };
  const reason = index - SegStat.SEG_STAT_REASON_BASE;
  if (reason >= 0 && reason < SegReason.SEG_REASON_COUNT) return { kind: 'reason', reason };
  return { kind: 'event', event: STATS.get(index) ?? `stat_${index}` };
}

/** The TCP states, and the half-open ones (a SYN seen, the handshake not finished). */
export const TCP_STATES: readonly number[] = STATE_VALUES.filter((s) => stateLabel(s).startsWith('tcp_'));
export const HALF_OPEN_STATES: readonly number[] = [SegState.SEG_STATE_TCP_SYN_SENT, SegState.SEG_STATE_TCP_SYN_RECV];

/** Half-open TCP sessions among sessions counted by state (SegState index). */
export function halfOpenCount(byState: readonly number[]): number {
  return HALF_OPEN_STATES.reduce((n, s) => n + (byState[s] ?? 0), 0);
}
