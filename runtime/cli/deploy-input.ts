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
  /** Basis points: run the policy as a canary beside the one in force, for this share of new flows. */
  readonly canary?: number;
  /** Percent steps of a staged canary (the last 100). */
  readonly canarySteps?: number[];
  /** Milliseconds each step runs before its gate. */
  readonly stepTime?: number;
  /** Percentage points the canary's deny rate may exceed the baseline's by. */
  readonly maxDenyIncrease?: number;
  /** Packets the canary must classify in a step for its gate to be judged. */
  readonly minFlows?: number;
}

/** A share of new flows: '10%', '12.5%' or '10' (percent), as basis points. */
export function parseShare(text: string): number {
  const m = /^(\d{1,3}(?:\.\d{1,2})?)%?$/.exec(text.trim());
  const bp = m ? Math.round(Number(m[1]) * 100) : NaN;
  if (!m || !(bp >= 0 && bp <= 10_000)) throw new InvalidArgumentError('expected a share of new flows from 0% to 100%, such as 10% or 12.5%');
  return bp;
}

/** `--canary-steps 5,10,25,50,100`: increasing percentages ending at 100. */
export function parseSteps(text: string): number[] {
  const steps = text.split(',').map((s) => parseShare(s) / 100);
  const increasing = steps.every((s, i) => s > 0 && (i === 0 || s > (steps[i - 1] ?? 0)));
  if (steps.length === 0 || !increasing || steps.at(-1) !== 100) throw new InvalidArgumentError('expected increasing percentages ending at 100, such as 5,10,25,50,100');
  return steps;
}

/** `--step-time`: 1 s to 24 h. */
export function parseStepTime(text: string): number {
  const ms = parseDuration(text);
  if (ms === undefined || ms < MIN_CONFIRM_MS || ms > MAX_CONFIRM_MS) throw new InvalidArgumentError('expected a duration from 1s to 24h, such as 30s, 5m or 1h');
  return ms;
}

/** `--max-deny-increase`: percentage points, 0 to 100 ('2', '2%', '0.5'). */
export function parseDenyIncrease(text: string): number {
  const m = /^(\d{1,3}(?:\.\d+)?)%?$/.exec(text.trim());
  const v = m ? Number(m[1]) : NaN;
  if (!(v >= 0 && v <= 100)) throw new InvalidArgumentError('expected percentage points from 0 to 100, such as 2 or 0.5');
  return v;
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
