// `segc undeploy`: detaches one deployment's filters from its interfaces and removes its pins
// and record; other deployments stay as they are.
import type { Command } from 'commander';
import { recordOutcome, type Outcome } from './command.ts';
import { runDeploy } from './deploy-run.ts';
import type { CliIo } from './io.ts';

export interface UndeployOptions {
  readonly name: string;
  readonly json?: boolean;
}

const EXAMPLES = `
Examples:
  $ sudo segc undeploy
  $ sudo segc undeploy --name web

The interfaces then pass all traffic again (as they did before the first deploy).`;

export function register(program: Command, io: CliIo): void {
  program
    .command('undeploy')
    .summary('stop enforcing a deployment and remove it')
    .description('Detach a deployment from its interfaces and remove its pinned maps, programs and record.')
    .option('--name <name>', 'the deployment', 'default')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', EXAMPLES)
    .action(async (options: UndeployOptions, command: Command) => {
      recordOutcome(command, await undeployCommand(options, io));
    });
}

export async function undeployCommand(options: UndeployOptions, io: CliIo): Promise<Outcome> {
  const { undeploy } = await import('../deploy.ts');
  const { settleOverdue } = await import('./confirm.ts');
  // A first deploy on trial past its deadline is undeployed by this already.
  if ((await settleOverdue(io, options.name)).some((r) => r.action === 'undeployed')) return 'ok';
  const result = await runDeploy(io, () => undeploy({ name: options.name, stateDir: io.env['SEGC_STATE_DIR'] }));
  if (result === undefined) return 'findings';
  if (options.json === true) io.stdout.write(JSON.stringify(result) + '\n');
  else io.stdout.write(`undeployed '${result.name}': detached from ${result.detached.length > 0 ? result.detached.join(', ') : 'no interface'}; pins ${result.unpinned ? 'removed' : 'were already gone'}\n`);
  return 'ok';
}
