// The kernel contract: a frame through a program with BPF_PROG_TEST_RUN, its decision read
// back from skb->cb[] (enum seg_cb).
import { bpf_prog_test_run_opts } from '../libbpf.ts';
import { SEG_RULE_NONE, SegCb, SegVerdict } from './abi.ts';
import type { Datapath } from './datapath.ts';

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
  const rule = (cb[SegCb.SEG_CB_RULE] ?? SEG_RULE_NONE) >>> 0;
  const verdict = r.retval === 0 ? 'allow' : 'deny';
  const leftVerdict = cb[SegCb.SEG_CB_VERDICT];
  if (program !== 'parseOnly' && (leftVerdict === SegVerdict.SEG_VERDICT_ALLOW) !== (verdict === 'allow')) {
    throw new Error(`the program returned ${r.retval} but left verdict ${leftVerdict} in cb[]`);
  }
  return {
    verdict,
    wouldDeny: cb[SegCb.SEG_CB_WOULD_DENY] === 1,
    retval: r.retval,
    rule: rule === SEG_RULE_NONE ? null : rule,
    reason: cb[SegCb.SEG_CB_REASON] ?? -1,
    duration: r.duration,
  };
}
