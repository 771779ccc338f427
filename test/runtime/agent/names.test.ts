import { describe, expect, it } from 'vitest';
import { SegReason, SegState, SegStat } from '../../../runtime/datapath/abi.ts';
import { HALF_OPEN_STATES, REASON_VALUES, reasonLabel, stateLabel, statSlot, TCP_STATES } from '../../../runtime/agent/names.ts';

describe('metric label values from the ABI enums', () => {
  it('names every reason of the ABI, in order, without the prefix', () => {
    expect(REASON_VALUES).toEqual(Array.from({ length: SegReason.SEG_REASON_COUNT }, (_, i) => i));
    expect(reasonLabel(SegReason.SEG_REASON_TRUNC_IP4)).toBe('trunc_ip4');
    expect(reasonLabel(SegReason.SEG_REASON_NEIGHBOR_DISCOVERY)).toBe('neighbor_discovery');
    expect(reasonLabel(SegReason.SEG_REASON_COUNT + 5)).toBe(`reason_${SegReason.SEG_REASON_COUNT + 5}`);
  });

  it('splits seg_stats into verdicts, one counter per reason, and events (appended ones included)', () => {
    expect(statSlot(SegStat.SEG_STAT_ALLOW)).toEqual({ kind: 'total', verdict: 'allow' });
    expect(statSlot(SegStat.SEG_STAT_DENY)).toEqual({ kind: 'total', verdict: 'deny' });
    expect(statSlot(SegStat.SEG_STAT_INGRESS_DENY)).toEqual({ kind: 'verdict', direction: 'ingress', verdict: 'deny' });
    expect(statSlot(SegStat.SEG_STAT_INGRESS_ALLOW)).toEqual({ kind: 'verdict', direction: 'ingress', verdict: 'allow' });
    expect(statSlot(SegStat.SEG_STAT_EGRESS_DENY)).toEqual({ kind: 'verdict', direction: 'egress', verdict: 'deny' });
    expect(statSlot(SegStat.SEG_STAT_EGRESS_ALLOW)).toEqual({ kind: 'verdict', direction: 'egress', verdict: 'allow' });
    expect(statSlot(SegStat.SEG_STAT_SESSION_TABLE_FULL)).toEqual({ kind: 'event', event: 'session_table_full' });
    expect(statSlot(SegStat.SEG_STAT_REASON_BASE + SegReason.SEG_REASON_BAD_L4)).toEqual({ kind: 'reason', reason: SegReason.SEG_REASON_BAD_L4 });
    expect(statSlot(SegStat.SEG_STAT_COUNT + 1)).toEqual({ kind: 'event', event: `stat_${SegStat.SEG_STAT_COUNT + 1}` });
  });

  it('names the session states; TCP and half-open ones are picked from the enum', () => {
    expect(stateLabel(SegState.SEG_STATE_TCP_SYN_RECV)).toBe('tcp_syn_recv');
    expect(stateLabel(SegState.SEG_STATE_UDP)).toBe('udp');
    expect(TCP_STATES.map(stateLabel)).toEqual(['tcp_syn_sent', 'tcp_syn_recv', 'tcp_established', 'tcp_fin_wait', 'tcp_closing']);
    expect(HALF_OPEN_STATES.map(stateLabel)).toEqual(['tcp_syn_sent', 'tcp_syn_recv']);
  });
});
