// `segc canary --set 50%` and `segc promote`: move and end the in-kernel canary a `deploy
// --canary` started (runtime/canary.ts); `segc rollback` drops it (rollback.ts asks here first).
// Also the hidden `segc canary-watch`, the detached watcher that runs a staged canary's steps.
import type { Command } from 'commander';
import type { CanaryRecord } from '../canary-record.ts';
import type { DatapathSettings } from '../state.ts';
import { CliError, recordOutcome, type Outcome } from './command.ts';
import { parseShare, type CompiledPolicy, type DeployCommandOptions } from './deploy-input.ts';
import { lockTimeoutOf, runDeploy } from './deploy-run.ts';
import type { CliIo } from './io.ts';

const CANARY_EXAMPLES = `
Examples:
  $ sudo segc deploy web.seg --iface eth0 --canary 10%
  $ sudo segc canary --set 50%
  $ sudo segc canary --set 0%      new flows all meet the policy in force; the canary's sessions stay
  $ sudo segc promote              the canary becomes the policy in force
  $ sudo segc rollback             the canary is dropped

A share moves only NEW flows: every established session keeps the policy that opened it.
Setting a share by hand takes a staged canary (--canary-steps) out of its watcher's hands.
'segc status' shows both generations, the share and each one's counters.`;

const PROMOTE_EXAMPLES = `
Examples:
  $ sudo segc promote
  $ sudo segc promote --name web --json

One config write flips the slot in force to the canary's: the canary's sessions carry on as
they are; the old policy's sessions are classified again by the new one (as after a deploy),
and 'segc rollback' afterwards puts the old policy back.`;

export function register(program: Command, io: CliIo): void {
  program
    .command('canary')
    .summary("move a running canary's share of new flows")
    .description('Set the share of new flows the canary (deploy --canary) judges.')
    .requiredOption('--set <share>', 'the share of new flows, 0% to 100% (12.5% allowed)', parseShare)
    .option('--name <name>', 'the deployment', 'default')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', CANARY_EXAMPLES)
    .action(async (options: { set: number; name: string; json?: boolean }, command: Command) => {
      recordOutcome(command, await canarySetCommand(options, io));
    });
  program
    .command('promote')
    .summary('make the running canary the policy in force')
    .description("Make a deployment's canary (deploy --canary) its policy in force, atomically.")
    .option('--name <name>', 'the deployment', 'default')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', PROMOTE_EXAMPLES)
    .action(async (options: { name: string; json?: boolean }, command: Command) => {
      recordOutcome(command, await promoteCommand(options, io));
    });
  program
    .command('canary-watch', { hidden: true })
    .description('the watcher of a staged canary (started by deploy --canary-steps; not for people)')
    .requiredOption('--name <name>', 'the deployment')
    .requiredOption('--token <token>', 'the canary it watches')
    .action(async (options: { name: string; token: string }, command: Command) => {
      const { runCanaryStages } = await import('../canary.ts');
      await runCanaryStages({ name: options.name, token: options.token, stateDir: io.env['SEGC_STATE_DIR'] });
      recordOutcome(command, 'ok');
    });
}

function canaryJson(c: CanaryRecord): unknown {
  return {
    name: c.name,
    generation: c.generation,
    baselineGeneration: c.baselineGeneration,
    policyHash: c.policyHash,
    share: c.shareBp / 100,
    startedAt: c.startedAt,
    stages: c.stages === null ? null : { steps: c.stages.steps, step: c.stages.index + 1, stepSeconds: c.stages.stepMs / 1000, maxDenyIncrease: c.stages.maxDenyIncrease, minFlows: c.stages.minFlows },
    watcher: c.watcher,
  };
}

/** `segc deploy --canary` / `--canary-steps`: the policy goes in beside the one in force. */
export async function canaryDeployCommand(compiled: CompiledPolicy, options: DeployCommandOptions, settings: DatapathSettings, io: CliIo): Promise<Outcome> {
  const { deployCanary } = await import('../canary.ts');
  const { formatShare } = await import('../canary-record.ts');
  const steps = options.canarySteps;
  const shareBp = options.canary ?? Math.round((steps?.[0] ?? 0) * 100);
  const result = await runDeploy(io, () =>
    deployCanary({
      bundleText: compiled.bundleText,
      interfaces: options.iface,
      options: {
        name: options.name,
        sources: compiled.sources,
        stateDir: io.env['SEGC_STATE_DIR'],
        lockTimeoutMs: lockTimeoutOf(io),
        settings,
        ...(options.confirm === undefined ? {} : { confirm: { windowMs: options.confirm } }),
        shareBp,
        ...(steps === undefined
          ? {}
          : { stages: { steps: options.canary === undefined ? steps : [...new Set([shareBp / 100, ...steps.filter((s) => s > shareBp / 100)])], stepMs: options.stepTime ?? 300_000, maxDenyIncrease: options.maxDenyIncrease ?? 1, minFlows: options.minFlows ?? 10 } }),
      },
    }),
  );
  if (result === undefined) return 'findings';
  const c = result.canary;
  if (options.json === true) {
    io.stdout.write(JSON.stringify({ canary: canaryJson(c) }) + '\n');
    return 'ok';
  }
  const lines = [`canary      ${options.name}: generation ${c.generation} (${c.policyHash.slice(0, 19)}) judges ${formatShare(c.shareBp)} of new flows beside generation ${c.baselineGeneration}`];
  if (c.stages) lines.push(`stages      ${c.stages.steps.join(',')}% every ${c.stages.stepMs / 1000} s, rolled back when its deny rate of new flows exceeds the baseline's by more than ${c.stages.maxDenyIncrease} points (${c.watcher === null ? 'the watcher did not start: move it by hand' : `watcher pid ${c.watcher.pid}`})`);
  lines.push(`end it      'segc promote --name ${options.name}' or 'segc rollback --name ${options.name}'; 'segc status' compares the two`);
  io.stdout.write(lines.join('\n') + '\n');
  return 'ok';
}

export async function canarySetCommand(options: { readonly set: number; readonly name: string; readonly json?: boolean }, io: CliIo): Promise<Outcome> {
  const { setCanaryShare } = await import('../canary.ts');
  const { formatShare } = await import('../canary-record.ts');
  const c = await runDeploy(io, () => setCanaryShare({ name: options.name, stateDir: io.env['SEGC_STATE_DIR'], shareBp: options.set }));
  if (c === undefined) return 'findings';
  io.stdout.write(options.json === true ? JSON.stringify({ canary: canaryJson(c) }) + '\n' : `canary      ${options.name}: generation ${c.generation} now judges ${formatShare(c.shareBp)} of new flows\n`);
  return 'ok';
}

export async function promoteCommand(options: { readonly name: string; readonly json?: boolean }, io: CliIo): Promise<Outcome> {
  const { promoteCanary } = await import('../canary.ts');
  const r = await runDeploy(io, () => promoteCanary({ name: options.name, stateDir: io.env['SEGC_STATE_DIR'] }));
  if (r === undefined) return 'findings';
  io.stdout.write(options.json === true ? JSON.stringify({ promoted: canaryJson(r.canary) }) + '\n' : `promoted    ${options.name}: generation ${r.canary.generation} is in force (generation ${r.canary.baselineGeneration} is the rollback target)\n`);
  return 'ok';
}

/** `segc rollback` while a canary runs: drops it; undefined when none runs. */
export async function rollbackCanaryCommand(options: { readonly name: string; readonly json?: boolean }, io: CliIo): Promise<Outcome | undefined> {
  const { readCanary, CanaryRecordError } = await import('../canary-record.ts');
  const { stateDirOf } = await import('../state.ts');
  try {
    if (readCanary(stateDirOf(io.env), options.name) === undefined) return undefined;
  } catch (error) {
    if (!(error instanceof CanaryRecordError)) throw error;
    throw new CliError('environment', error.message, `look at it; remove it to forget the canary, then roll back again`);
  }
  const { rollbackCanary } = await import('../canary.ts');
  const r = await runDeploy(io, () => rollbackCanary({ name: options.name, stateDir: io.env['SEGC_STATE_DIR'], why: 'by hand' }));
  if (r === undefined) return 'findings';
  io.stdout.write(options.json === true ? JSON.stringify({ rolledBack: canaryJson(r.canary) }) + '\n' : `rolled back ${options.name}: canary generation ${r.canary.generation} dropped; generation ${r.canary.baselineGeneration} judges every new flow\n`);
  return 'ok';
}
