// `segc confirm`: keeps a deploy made with --confirm (its automatic rollback is cancelled).
// Also the hidden `segc confirm-watch`, the detached watcher a --confirm deploy starts: it
// sleeps until the deadline and rolls back unless the confirmation came. And `settleOverdue`,
// which every command that manages deployments runs first: a trial whose deadline has passed
// is rolled back there, should its watcher have been killed.
import type { Command } from 'commander';
import type { ExpiryResult } from '../confirm-expire.ts';
import { CliError, recordOutcome, type Outcome } from './command.ts';
import type { CliIo } from './io.ts';

export interface ConfirmOptions {
  readonly name: string;
  readonly json?: boolean;
}

const EXAMPLES = `
Examples:
  $ sudo segc deploy web.seg --iface eth0 --confirm 2m
  $ sudo segc confirm                 keep it (run it from a new session: it proves you can still log in)
  $ sudo segc confirm --name web --json

Without 'segc confirm' before the deadline, the policy in force before the deploy is put back
by a detached watcher process (or by the next segc command, should the watcher be gone).
'segc rollback' cancels a pending deploy at once; 'segc status' shows its deadline.`;

export function register(program: Command, io: CliIo): void {
  program
    .command('confirm')
    .summary('keep a deploy made with --confirm')
    .description('Confirm a deploy on trial (deploy --confirm DURATION), cancelling its automatic rollback.')
    .option('--name <name>', 'the deployment', 'default')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', EXAMPLES)
    .action(async (options: ConfirmOptions, command: Command) => {
      recordOutcome(command, await confirmCommand(options, io));
    });
  program
    .command('confirm-watch', { hidden: true })
    .description('the watcher of a deploy on trial (started by deploy --confirm; not for people)')
    .requiredOption('--name <name>', 'the deployment')
    .requiredOption('--token <token>', 'the trial it watches')
    .action(async (options: { name: string; token: string }, command: Command) => {
      recordOutcome(command, await watchCommand(options, io));
    });
}

export async function confirmCommand(options: ConfirmOptions, io: CliIo): Promise<Outcome> {
  const [{ readPending, clearPending, isOverdue }, { lockHost }, { expireLocked }, { readState, stateDirOf }, { runDeploy }] = await Promise.all([
    import('../confirm.ts'),
    import('../deploy.ts'),
    import('../confirm-expire.ts'),
    import('../state.ts'),
    import('./deploy-run.ts'),
  ]);
  const stateDir = stateDirOf(io.env);
  const { ConfirmRecordError } = await import('../confirm.ts');
  const outcome = await runDeploy(io, () => {
    const lock = lockHost({ stateDir });
    try {
      const pending = readPending(stateDir, options.name);
      if (!pending) return { kind: 'none' as const };
      if (isOverdue(pending, new Date())) return { kind: 'late' as const, expiry: expireLocked(stateDir, options.name, pending, { stateDir }) };
      const recorded = readState(stateDir, options.name)?.current.generation;
      if (recorded !== pending.generation) return { kind: 'unfinished' as const, pending };
      clearPending(stateDir, options.name);
      return { kind: 'confirmed' as const, pending };
    } catch (error) {
      if (error instanceof ConfirmRecordError) throw new CliError('environment', error.message, `look at it; remove it to forget the trial (then 'segc rollback --name ${options.name}' if its policy must go)`);
      throw error;
    } finally {
      lock.release();
    }
  });
  if (outcome === undefined) return 'findings';
  const json = (o: unknown) => io.stdout.write(JSON.stringify(o) + '\n');
  switch (outcome.kind) {
    case 'none':
      if (options.json === true) json({ name: options.name, confirmed: false, reason: 'nothing-pending' });
      io.stderr.write(`error: nothing of '${options.name}' waits for confirmation\nhint: 'segc status --name ${options.name}' shows what is in force\n`);
      return 'findings';
    case 'unfinished':
      if (options.json === true) json({ name: options.name, confirmed: false, reason: 'unfinished', generation: outcome.pending.generation, deadline: outcome.pending.deadline });
      io.stderr.write(`error: the deploy of generation ${outcome.pending.generation} did not finish (it is not the recorded one); it will be rolled back at ${outcome.pending.deadline}\nhint: 'segc rollback --name ${options.name}' does it now; then deploy again\n`);
      return 'findings';
    case 'late':
      if (options.json === true) json({ name: options.name, confirmed: false, reason: 'overdue', ...expiryJson(outcome.expiry) });
      io.stderr.write(`error: too late: ${describeExpiry(outcome.expiry)}\n`);
      return 'findings';
    case 'confirmed':
      if (options.json === true) json({ name: options.name, confirmed: true, generation: outcome.pending.generation, policyHash: outcome.pending.policyHash, deadline: outcome.pending.deadline });
      else io.stdout.write(`confirmed '${options.name}': generation ${outcome.pending.generation} stays in force (the rollback due at ${outcome.pending.deadline} is cancelled)\n`);
      return 'ok';
  }
}

/** One sentence on what the end of a trial did. */
export function describeExpiry(e: ExpiryResult): string {
  const window = `the confirmation window of '${e.name}' (generation ${e.pending.generation}) ended at ${e.pending.deadline}`;
  switch (e.action) {
    case 'rolled-back':
      return `${window}: rolled back to the policy of generation ${e.pending.rollbackTo} (now generation ${e.result.record.generation})`;
    case 'undeployed':
      return `${window}: it was the first deploy, so the deployment was removed`;
    case 'failed':
      return `${window}, and rolling back failed: ${e.error}; generation ${e.pending.generation} may still be in force ('segc rollback --name ${e.name}')`;
  }
}

export function expiryJson(e: ExpiryResult): Record<string, unknown> {
  return {
    expired: { generation: e.pending.generation, deadline: e.pending.deadline, rollbackTo: e.pending.rollbackTo, action: e.action, ...(e.action === 'rolled-back' ? { generation: e.result.record.generation } : {}), ...(e.action === 'failed' ? { error: e.error } : {}) },
  };
}

/**
 * Rolls back every trial of `name` (or all) whose deadline has passed, telling stderr. Only
 * as root (the rollback needs it; `status` run by a user merely shows the overdue deadline).
 */
export async function settleOverdue(io: CliIo, name?: string): Promise<readonly ExpiryResult[]> {
  if (process.getuid?.() !== 0) return [];
  const [{ expireOverdue }, { stateDirOf }, { ConfirmRecordError }] = await Promise.all([import('../confirm-expire.ts'), import('../state.ts'), import('../confirm.ts')]);
  const { lockTimeoutOf } = await import('./deploy-run.ts');
  let results;
  try {
    results = expireOverdue({ stateDir: stateDirOf(io.env), lockTimeoutMs: lockTimeoutOf(io), ...(name === undefined ? {} : { name }) });
  } catch (error) {
    // The command goes on (status must still show the host); deploy refuses in its plan.
    if (!(error instanceof ConfirmRecordError)) throw error;
    io.stderr.write(`warning: ${error.message}: no rollback was attempted\n`);
    return [];
  }
  for (const r of results) io.stderr.write(`${r.action === 'failed' ? 'error' : 'warning'}: ${describeExpiry(r)}\n`);
  return results;
}

/** The watcher: sleeps until the deadline of its trial, then rolls back unless it was confirmed. */
async function watchCommand(options: { name: string; token: string }, io: CliIo): Promise<Outcome> {
  const [{ readPending, logConfirmation }, { expireConfirmation }, { stateDirOf }] = await Promise.all([import('../confirm.ts'), import('../confirm-expire.ts'), import('../state.ts')]);
  const stateDir = stateDirOf(io.env);
  for (;;) {
    const pending = readPending(stateDir, options.name);
    // Confirmed, cancelled or replaced by another trial: nothing left to watch.
    if (!pending || pending.token !== options.token) return 'ok';
    const wait = Date.parse(pending.deadline) - Date.now();
    if (wait <= 0) break;
    // At most a minute per sleep, so a clock set forward is noticed within one.
    await new Promise((resolve) => setTimeout(resolve, Math.min(wait, 60_000)));
  }
  try {
    const result = expireConfirmation({ stateDir, name: options.name, token: options.token, lockTimeoutMs: 60_000 });
    if (result?.action === 'failed') return 'findings';
  } catch (error) {
    logConfirmation(stateDir, options.name, `the watcher could not roll back: ${error instanceof Error ? error.message : String(error)}; the next segc command will`);
    throw new CliError('environment', error instanceof Error ? error.message : String(error));
  }
  return 'ok';
}
