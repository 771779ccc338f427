// Runtime: the record of a running canary (<state>/<name>/canary.json, beside the deployment's
// record): which generation is on trial in which slot, its policy (to promote it into the
// deployment record), its share of new flows, and the stages a staged canary still has to
// run, with the token of the detached watcher that runs them (runtime/canary.ts). Its own
// module so that deploy.ts can refuse a deploy while a canary runs without an import circle.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { isDeploymentName, readStateJson, writeStateJson, type DatapathSettings } from './state.ts';
import { appendLog, readLogTail } from './state-log.ts';

export const CANARY_FORMAT = 'segc-canary';
export const CANARY_VERSION = 1;

/** A staged canary: the shares it steps through and the health gate between two steps. */
export interface CanaryStages {
  /** Shares in percent, increasing, the last 100 (reached: promoted). */
  readonly steps: readonly number[];
  /** Time each step runs before its gate is judged. */
  readonly stepMs: number;
  /**
   * The gate: the canary's deny rate of new flows (denied + would-deny, per classified packet)
   * over the step may exceed the baseline's (since the canary began) by at most this many
   * percentage points.
   */
  readonly maxDenyIncrease: number;
  /** A step whose canary classified fewer packets than this is held (judged again after another step time). */
  readonly minFlows: number;
  /** The step running now (index into `steps`). */
  readonly index: number;
}

export interface CanaryRecord {
  readonly format: typeof CANARY_FORMAT;
  readonly version: typeof CANARY_VERSION;
  readonly name: string;
  /** Ties the record to its watcher: a watcher whose token is no longer here stops. */
  readonly token: string;
  /** The canary's generation and slot; the baseline's generation (the policy in force). */
  readonly generation: number;
  readonly slot: number;
  readonly baselineGeneration: number;
  readonly policyHash: string;
  readonly files: readonly string[];
  readonly bundle: string;
  readonly sources: Readonly<Record<string, string>>;
  readonly settings: DatapathSettings;
  /** The share of new flows, in basis points (10 000 = all). */
  readonly shareBp: number;
  readonly startedAt: string;
  readonly stages: CanaryStages | null;
  readonly watcher: { readonly pid: number } | null;
}

export function canaryPath(stateDir: string, name: string): string {
  if (!isDeploymentName(name)) throw new RangeError(`'${name}' is not a deployment name`);
  return join(stateDir, name, 'canary.json');
}

/** A canary record that cannot be read: said, never guessed at. */
export class CanaryRecordError extends Error {
  override readonly name = 'CanaryRecordError';
  readonly path: string;
  constructor(path: string, why: string) {
    super(`the canary record ${path} is damaged (${why})`);
    this.path = path;
  }
}

/** The running canary of `name`, or undefined. */
export function readCanary(stateDir: string, name: string): CanaryRecord | undefined {
  const path = canaryPath(stateDir, name);
  const c = readStateJson(path, (why) => new CanaryRecordError(path, why)) as CanaryRecord | undefined;
  if (c === undefined) return undefined;
  const ok =
    typeof c === 'object' && c !== null && c.format === CANARY_FORMAT && c.version === CANARY_VERSION && c.name === name && typeof c.token === 'string' &&
    Number.isInteger(c.generation) && (c.slot === 0 || c.slot === 1) && Number.isInteger(c.shareBp) && typeof c.bundle === 'string';
  if (!ok) throw new CanaryRecordError(path, `not a segc canary record of version ${CANARY_VERSION} for '${name}'`);
  return c;
}

export function writeCanary(stateDir: string, record: CanaryRecord): void {
  writeStateJson(canaryPath(stateDir, record.name), record);
}

export function removeCanary(stateDir: string, name: string): void {
  rmSync(canaryPath(stateDir, name), { force: true });
}

/** Appends one line to the deployment's canary log (what the stages did, for `status`). */
export function logCanary(stateDir: string, name: string, line: string, now = new Date()): void {
  appendLog(stateDir, name, 'canary.log', line, now);
}

/** The last `n` lines of the canary log. */
export function readCanaryLog(stateDir: string, name: string, n = 10): string[] {
  return readLogTail(stateDir, name, 'canary.log', n);
}

/** Basis points as a percentage for people: 2500 -> "25%", 1250 -> "12.5%". */
export function formatShare(bp: number): string {
  return `${Number((bp / 100).toFixed(2))}%`;
}
