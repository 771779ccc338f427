// `segc rollback`: deploys the previous policy of a deployment again, atomically (a fresh
// slot and one switch, like any deploy), on the interfaces it had.
import type { Command } from 'commander';
import type { DeployStep } from '../deploy.ts';
import { recordOutcome, type Outcome } from './command.ts';
import { runDeploy } from './deploy-run.ts';
import { deployJson, formatDeployResult } from './deploy-output.ts';
import type { CliIo } from './io.ts';

export interface RollbackOptions {
  readonly name: string;
  readonly json?: boolean;
}

const EXAMPLES = `
Examples:
  $ sudo segc rollback
  $ sudo segc rollback --name web --json

While a canary runs (deploy --canary), rollback drops the canary and nothing else.
Rolling back twice returns to the policy rolled back from. A deploy waiting for 'segc confirm'
(deploy --confirm) is cancelled: the policy in force before it is put back.`;

export function register(program: Command, io: CliIo): void {
  program
    .command('rollback')
    .summary('put the previous policy back in force')
    .description("Deploy a deployment's previous policy again, switching to it atomically.")
    .option('--name <name>', 'the deployment', 'default')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', EXAMPLES)
    .action(async (options: RollbackOptions, command: Command) => {
      recordOutcome(command, await rollbackCommand(options, io));
    });
}

export async function rollbackCommand(options: RollbackOptions, io: CliIo): Promise<Outcome> {
  const { rollback } = await import('../deploy.ts');
  const failAt = io.env['SEGC_TEST_FAIL_AT'] as DeployStep | undefined;
  // An overdue trial is rolled back by this first; then there is nothing left to roll back from it.
  const { settleOverdue } = await import('./confirm.ts');
  if ((await settleOverdue(io, options.name)).length > 0) return 'ok';
  // A running canary is what a rollback drops (the policy in force stays).
  const { rollbackCanaryCommand } = await import('./canary.ts');
  const dropped = await rollbackCanaryCommand(options, io);
  if (dropped !== undefined) return dropped;
  const result = await runDeploy(io, () => rollback({ name: options.name, stateDir: io.env['SEGC_STATE_DIR'], failAt }));
  if (result === undefined) return 'findings';
  io.stdout.write(options.json === true ? JSON.stringify(deployJson(result)) + '\n' : formatDeployResult(result, 'rolled back'));
  return 'ok';
}
