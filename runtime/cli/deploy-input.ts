// What `segc deploy` works from: its options, and the compiled policy that the deploy and its
// dry run (deploy-diff.ts) both take.
import type { Diagnostic } from '../../compiler/diagnostics.ts';
import type { ProgramIr } from '../../compiler/ir.ts';

export interface DeployCommandOptions {
  readonly iface: string[];
  readonly name: string;
  readonly dryRun?: boolean;
  readonly json?: boolean;
  readonly strict?: boolean;
  readonly maxRules?: number;
  readonly sessions?: number;
  readonly fragments?: number;
  readonly color?: boolean;
  readonly analysisBudget?: number;
  readonly audit?: boolean;
  readonly logDenies?: boolean;
  /** false with --no-syn-protection. */
  readonly synProtection?: boolean;
  readonly pressure?: number;
  readonly eventRate?: number;
  readonly eventBurst?: number;
  readonly eventGlobalRate?: number;
  readonly eventGlobalBurst?: number;
  /** KiB. */
  readonly eventBuffer?: number;
  /** Run the policy's test blocks first; a failing expectation refuses the deploy. */
  readonly test?: boolean;
  /** Deploy even with rules past their `expires` date. */
  readonly allowExpired?: boolean;
  readonly expiryWindow?: number;
}

/** A compiled policy ready to deploy, or the diagnostics that refuse it. */
export interface CompiledPolicy {
  readonly ir: ProgramIr;
  readonly bundleText: string;
  readonly sources: Record<string, string>;
  readonly findings: readonly Diagnostic[];
}
