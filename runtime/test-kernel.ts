// Runtime: packet tests through the compiled program (`segc test --kernel`). Loads a private
// copy of the data path (nothing pinned, nothing attached), installs the policy, and runs each
// expectation's packet as a frame under BPF_PROG_TEST_RUN on the hook of its direction.
import { emit } from '../compiler/emit.ts';
import type { ProgramIr } from '../compiler/ir.ts';
import type { ExpectationIr } from '../compiler/packet-tests.ts';
import { SEG_CFG_CLASSIFY_ND, SEG_CFG_STATELESS } from './datapath/abi.ts';
import { activateSlot, readConfig, writeConfig } from './datapath/config.ts';
import { closeDatapath, loadDatapath } from './loader.ts';
import { installPolicy } from './datapath/slots.ts';
import { runFrame } from './datapath/test-run.ts';
import { buildFrame } from './packet-bytes.ts';

export interface KernelOutcome {
  readonly verdict: 'allow' | 'deny';
  /** The deciding rule's name (the IR's), or null for the default. */
  readonly rule: string | null;
}

/**
 * The kernel's decision for every expectation, in order. The data path runs stateless and
 * classifies neighbour discovery too (SEG_CFG_STATELESS | SEG_CFG_CLASSIFY_ND): every packet
 * is then decided by the rules, as the reference interpreter decides it, so an earlier
 * expectation's session never answers for a later one. (A deployment passes ICMPv6 133-137
 * before the rules, docs/datapath.md "Precedence" 3.)
 */
export function runExpectationsInKernel(ir: ProgramIr, expectations: readonly ExpectationIr[], objectPath?: string): KernelOutcome[] {
  const dp = loadDatapath({ sessions: 1024, rulesPerSlot: Math.max(16, ir.rules.length), ...(objectPath !== undefined ? { objectPath } : {}) });
  try {
    installPolicy(dp, emit(ir), { slot: 0, generation: 1n });
    writeConfig(dp, { ...readConfig(dp), flags: SEG_CFG_STATELESS | SEG_CFG_CLASSIFY_ND });
    activateSlot(dp, 0);
    return expectations.map((e) => {
      const d = runFrame(dp, e.direction, buildFrame(e.packet));
      // A `deny audit` rule's packets pass, flagged would-deny: the policy's verdict is deny.
      return { verdict: d.wouldDeny ? 'deny' : d.verdict, rule: d.rule === null ? null : (ir.rules[d.rule]?.name ?? `#${d.rule}`) };
    });
  } finally {
    closeDatapath(dp);
  }
}
