// What `segc deploy` works from: its options, and the compiled policy that the deploy and its
// dry run (deploy-diff.ts) both take.
import type { Diagnostic } from '../../compiler/diagnostics.ts';
import type { ProgramIr } from '../../compiler/ir.ts';
import type { ReportSources } from '../../compiler/report/location.ts';
import { InvalidArgumentError } from 'commander';
import { MAX_CONFIRM_MS, MIN_CONFIRM_MS, parseDuration } from '../duration.ts';
import type { InputLimitOptions } from './inputs.ts';

export interface DeployCommandOptions extends InputLimitOptions {
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
  /** Milliseconds: roll back by itself unless `segc confirm` comes within them. */
  readonly confirm?: number;
  /** Management flows the new policy must not deny (`tcp 22`, or packets); SSH_CONNECTION is added. */
  readonly keep?: string[];
  /** Deploy even when the lock-out guard finds a management flow denied. */
  readonly allowLockout?: boolean;
}

/** `--confirm`: a duration from 1 s to 24 h, in milliseconds. */
export function parseConfirmWindow(text: string): number {
  const ms = parseDuration(text);
  if (ms === undefined || ms < MIN_CONFIRM_MS || ms > MAX_CONFIRM_MS) throw new InvalidArgumentError('expected a duration from 1s to 24h, such as 90s, 2m or 1h');
  return ms;
}

/** A compiled policy ready to deploy, or the diagnostics that refuse it. */
export interface CompiledPolicy {
  readonly ir: ProgramIr;
  readonly bundleText: string;
  readonly sources: Record<string, string>;
  readonly findings: readonly Diagnostic[];
  /** The files as the reporters take them. */
  readonly sourceFiles: ReportSources;
}
