// Runtime: the end of a confirmation window. When a deploy on trial was not confirmed in time,
// put back the policy that was in force before it (a rollback: a new generation, one atomic
// switch), or remove a first deployment altogether. Run by the detached watcher at the
// deadline, and by any later segc command or the agent that finds a deadline passed (the
// watcher may have been killed too).
import { clearPending, isOverdue, listPending, logConfirmation, readPending, type PendingConfirmation } from './confirm.ts';
import { DEFAULT_DEPLOYMENT, lockHost, rollbackLocked, undeployLocked, type DeployResult, type HostOptions, type UndeployResult } from './deploy.ts';
import { stateDirOf } from './state.ts';

export interface ExpiryRequest extends HostOptions {
  readonly name?: string;
  /** Only the trial this watcher was started for (a later one has its own watcher). */
  readonly token?: string;
  /** Roll back even before the deadline (`segc confirm` finding the record unfinished does not; tests do). */
  readonly force?: boolean;
  readonly now?: () => Date;
}

export type ExpiryResult =
  | { readonly name: string; readonly action: 'rolled-back'; readonly pending: PendingConfirmation; readonly result: DeployResult }
  | { readonly name: string; readonly action: 'undeployed'; readonly pending: PendingConfirmation; readonly result: UndeployResult }
  | { readonly name: string; readonly action: 'failed'; readonly pending: PendingConfirmation; readonly error: string };

/** Rolls back `name`'s trial when its deadline has passed; undefined when there was nothing to do. */
export function expireConfirmation(request: ExpiryRequest): ExpiryResult | undefined {
  const stateDir = request.stateDir ?? stateDirOf();
  const name = request.name ?? DEFAULT_DEPLOYMENT;
  // Cheap look first: most commands find nothing pending and need no lock for that.
  if (!due(readPending(stateDir, name), request)) return undefined;
  const lock = lockHost(request);
  try {
    const pending = readPending(stateDir, name);
    if (!pending || !due(pending, request)) return undefined;
    return expireLocked(stateDir, name, pending, request);
  } finally {
    lock.release();
  }
}

/** Every overdue trial on this host (or of `name`), rolled back. */
export function expireOverdue(request: HostOptions & { readonly name?: string; readonly now?: () => Date }): ExpiryResult[] {
  const stateDir = request.stateDir ?? stateDirOf();
  const names = request.name === undefined ? listPending(stateDir) : [request.name];
  const results: ExpiryResult[] = [];
  for (const name of names) {
    const r = expireConfirmation({ ...request, name });
    if (r) results.push(r);
  }
  return results;
}

function due(pending: PendingConfirmation | undefined, request: ExpiryRequest): pending is PendingConfirmation {
  if (!pending) return false;
  if (request.token !== undefined && pending.token !== request.token) return false;
  return request.force === true || isOverdue(pending, request.now?.() ?? new Date());
}

/** The rollback itself, under the lock. A failure clears the trial too (it is reported): a stuck record would refuse every later deploy. */
export function expireLocked(stateDir: string, name: string, pending: PendingConfirmation, host: HostOptions): ExpiryResult {
  const options = { ...host, stateDir, name };
  try {
    if (pending.rollbackTo === null) {
      const result = undeployLocked(options);
      logConfirmation(stateDir, name, `generation ${pending.generation} was not confirmed by ${pending.deadline}: undeployed (it was the first deploy)`);
      return { name, action: 'undeployed', pending, result };
    }
    const result = rollbackLocked(options);
    logConfirmation(stateDir, name, `generation ${pending.generation} was not confirmed by ${pending.deadline}: rolled back to the policy of generation ${pending.rollbackTo} (now generation ${result.record.generation})`);
    return { name, action: 'rolled-back', pending, result };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    clearPending(stateDir, name);
    logConfirmation(stateDir, name, `generation ${pending.generation} was not confirmed by ${pending.deadline}, and rolling back failed: ${message}`);
    return { name, action: 'failed', pending, error: message };
  }
}
