// Runtime: packet tests through the compiled program (`segc test --kernel`). Loads a private
// copy of the data path (nothing pinned, nothing attached), installs the policy, and runs each
// expectation's packet as a frame under BPF_PROG_TEST_RUN on the hook of its direction.
import { emit } from '../compiler/emit.ts';
import type { ProgramIr } from '../compiler/ir.ts';
import type { ExpectationIr } from '../compiler/packet-tests.ts';
import { activateSlot, closeDatapath, flushSessions, installPolicy, loadDatapath, runFrame } from './loader.ts';
import { buildFrame } from './packet-bytes.ts';

export interface KernelOutcome {
  readonly verdict: 'allow' | 'deny';
  /** The deciding rule's name (the IR's), or null for the default. */
  readonly rule: string | null;
}

/**
 * The kernel's decision for every expectation, in order. An allowed packet opens a session;
 * the table is flushed after it, so that every packet is classified by the rules, as the
 * reference interpreter does.
 */
export function runExpectationsInKernel(ir: ProgramIr, expectations: readonly ExpectationIr[], objectPath?: string): KernelOutcome[] {
  const dp = loadDatapath({ sessions: 1024, rulesPerSlot: Math.max(16, ir.rules.length), ...(objectPath !== undefined ? { objectPath } : {}) });
  try {
    installPolicy(dp, emit(ir), { slot: 0, generation: 1n });
    activateSlot(dp, 0);
    return expectations.map((e) => {
      const d = runFrame(dp, e.direction, buildFrame(e.packet));
      if (d.verdict === 'allow') flushSessions(dp);
      return { verdict: d.verdict, rule: d.rule === null ? null : (ir.rules[d.rule]?.name ?? `#${d.rule}`) };
    });
  } finally {
    closeDatapath(dp);
  }
}
