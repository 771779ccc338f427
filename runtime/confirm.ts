// Runtime: commit-confirmed deploys, the record and the watcher. A `deploy --confirm 2m` arms a
// pending confirmation before it switches: a file beside the deployment's record
// (<state>/<name>/confirm.json) naming the generation on trial, the one to go back to and the
// deadline, and a detached watcher process (its own session, no terminal, stdio closed) that
// rolls back at the deadline unless `segc confirm` removed the file first. The rollback itself
// lives in confirm-expire.ts (it needs deploy.ts, which needs this module).
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { basename, join } from 'node:path';
import { packageRoot } from './package-root.ts';
import { isDeploymentName, readStateJson, writeStateJson } from './state.ts';
import { appendLog } from './state-log.ts';

export const CONFIRM_FORMAT = 'segc-confirmation';
export const CONFIRM_VERSION = 1;

/** A deploy on trial: rolled back at `deadline` unless confirmed. */
export interface PendingConfirmation {
  readonly format: typeof CONFIRM_FORMAT;
  readonly version: typeof CONFIRM_VERSION;
  readonly name: string;
  /** Ties the file to its watcher: a watcher whose token is no longer here has nothing to do. */
  readonly token: string;
  /** The generation on trial and its policy. */
  readonly generation: number;
  readonly policyHash: string;
  /** The generation in force before the trial (rolled back to), or null: a first deploy (undeployed). */
  readonly rollbackTo: number | null;
  readonly armedAt: string;
  readonly deadline: string;
  readonly windowMs: number;
  /** The detached watcher process, or null when it could not be started (the next command rolls back). */
  readonly watcher: { readonly pid: number } | null;
}

export function pendingPath(stateDir: string, name: string): string {
  if (!isDeploymentName(name)) throw new RangeError(`'${name}' is not a deployment name`);
  return join(stateDir, name, 'confirm.json');
}

/** A confirmation record that cannot be read: the commands say so instead of guessing. */
export class ConfirmRecordError extends Error {
  override readonly name = 'ConfirmRecordError';
  readonly path: string;
  constructor(path: string, why: string) {
    super(`the pending confirmation ${path} is damaged (${why})`);
    this.path = path;
  }
}

/** The pending confirmation of `name`, or undefined. A damaged file is a ConfirmRecordError. */
export function readPending(stateDir: string, name: string): PendingConfirmation | undefined {
  const path = pendingPath(stateDir, name);
  const p = readStateJson(path, (why) => new ConfirmRecordError(path, why)) as PendingConfirmation | undefined;
  if (p === undefined) return undefined;
  const whole = typeof p === 'object' && p !== null && p.format === CONFIRM_FORMAT && p.version === CONFIRM_VERSION && p.name === name;
  const typed = whole && typeof p.token === 'string' && Number.isInteger(p.generation) && (p.rollbackTo === null || Number.isInteger(p.rollbackTo)) && !Number.isNaN(Date.parse(p.deadline));
  if (!typed) throw new ConfirmRecordError(path, `not a segc confirmation record of version ${CONFIRM_VERSION} for '${name}'`);
  return p;
}

export function writePending(stateDir: string, pending: PendingConfirmation): void {
  writeStateJson(pendingPath(stateDir, pending.name), pending);
}

/** Removes the pending confirmation of `name` and stops its watcher; returns what was pending. */
export function clearPending(stateDir: string, name: string): PendingConfirmation | undefined {
  const pending = readPending(stateDir, name);
  rmSync(pendingPath(stateDir, name), { force: true });
  if (pending) stopWatcher(pending);
  return pending;
}

export function isOverdue(pending: PendingConfirmation, now: Date): boolean {
  return now.getTime() >= Date.parse(pending.deadline);
}

/** How to start this segc again: the node binary, its flags and the entry script. */
export function segcCommand(): string[] {
  const entry = process.argv[1] ?? '';
  // The running entry (bin/segc.js, or test/support/segc-source.ts in tests) keeps the watcher
  // on the very code that armed it; inside another program (the agent in a test runner), the
  // package's own bin/segc.js.
  if (/^segc(\.js|-source\.ts)?$/.test(basename(entry))) return [process.execPath, ...process.execArgv, entry];
  const root = packageRoot();
  if (!root) throw new Error('cannot find the segc package to start the confirmation watcher from');
  return [process.execPath, join(root.dir, 'bin', 'segc.js')];
}

export interface ArmRequest {
  readonly stateDir: string;
  readonly name: string;
  readonly generation: number;
  readonly policyHash: string;
  readonly rollbackTo: number | null;
  readonly windowMs: number;
  readonly now: Date;
  /** The segc command line the watcher runs (default: this one's, segcCommand()). */
  readonly command?: readonly string[];
}

/**
 * Records the pending confirmation and starts its watcher (both before the switch, so that a
 * deploy killed right after the switch is still rolled back). The watcher is started through
 * a short-lived intermediate process that exits at once: it is then nobody's child in the
 * deploying process tree, leads its own session (setsid), and has no terminal to lose.
 */
export function armConfirmation(request: ArmRequest): PendingConfirmation {
  const token = randomBytes(12).toString('hex');
  const deadline = new Date(request.now.getTime() + request.windowMs);
  const base = {
    format: CONFIRM_FORMAT,
    version: CONFIRM_VERSION,
    name: request.name,
    token,
    generation: request.generation,
    policyHash: request.policyHash,
    rollbackTo: request.rollbackTo,
    armedAt: request.now.toISOString(),
    deadline: deadline.toISOString(),
    windowMs: request.windowMs,
  } as const;
  // Written first without a watcher: were the watcher not to start, the record alone still
  // makes the next segc command (or the agent) roll back once it is overdue.
  writePending(request.stateDir, { ...base, watcher: null });
  const pid = startWatcher(request.stateDir, request.name, token, request.command ?? segcCommand());
  const pending: PendingConfirmation = { ...base, watcher: pid === undefined ? null : { pid } };
  writePending(request.stateDir, pending);
  return pending;
}

// The intermediate: spawn the watcher in a new session with stdio closed, print its pid, exit.
const DETACH = `
const c = require('node:child_process').spawn(process.argv[1], process.argv.slice(2), { detached: true, stdio: 'ignore' });
c.unref();
process.stdout.write(String(c.pid));
`;

function startWatcher(stateDir: string, name: string, token: string, command: readonly string[]): number | undefined {
  return startDetached(stateDir, command, ['confirm-watch', '--name', name, '--token', token]);
}

/**
 * Starts `command args` detached from this process tree (its own session, stdio closed) with
 * SEGC_STATE_DIR set; returns its pid, or undefined when it could not start. The canary's
 * staged watcher (runtime/canary.ts) is started the same way.
 */
export function startDetached(stateDir: string, command: readonly string[], args: readonly string[]): number | undefined {
  const [node, ...rest] = command;
  if (node === undefined) return undefined;
  const r = spawnSync(process.execPath, ['-e', DETACH, node, ...rest, ...args], {
    encoding: 'utf8',
    timeout: 10_000,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, SEGC_STATE_DIR: stateDir },
  });
  const pid = Number(r.stdout);
  return r.status === 0 && Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

/** Stops the watcher of `pending` when it still runs (only that process: its command line names the token). */
export function stopWatcher(pending: PendingConfirmation): void {
  const pid = pending.watcher?.pid;
  // The watcher itself clears the record when it rolls back.
  if (pid === undefined || pid === process.pid || !watcherRuns(pending)) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    // Gone meanwhile.
  }
}

/** Whether the watcher process of `pending` is alive (a recycled pid does not count). */
export function watcherRuns(pending: PendingConfirmation): boolean {
  const pid = pending.watcher?.pid;
  if (pid === undefined) return false;
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(pending.token);
  } catch {
    return false;
  }
}

/** Names of every deployment with a pending confirmation (a first deploy that died may have no record yet). */
export function listPending(stateDir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(stateDir, { withFileTypes: true }).filter((e) => e.isDirectory() && isDeploymentName(e.name)).map((e) => e.name);
  } catch {
    return [];
  }
  return names.filter((n) => existsSync(pendingPath(stateDir, n))).sort();
}

/** Appends one line to the deployment's confirmation log (what the watcher did, for people). */
export function logConfirmation(stateDir: string, name: string, line: string, now = new Date()): void {
  appendLog(stateDir, name, 'confirm.log', line, now);
}
