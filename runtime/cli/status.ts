// `segc status`: every deployment on this host (or one, by --name) from its record, checked
// against the kernel when the pins can be read: the generation in force and the program on
// each hook. `--json` prints exactly the shape of cli.md, with a `kernel` field added.
import { readdirSync } from 'node:fs';
import type { Command } from 'commander';
import type { DeploymentRecord } from '../state.ts';
import { CliError, recordOutcome, type Outcome } from './command.ts';
import type { CliIo } from './io.ts';

export interface StatusOptions {
  readonly name?: string;
  readonly json?: boolean;
}

/** What the kernel holds for a deployment, when its pins can be opened. */
export interface KernelView {
  readonly activeGeneration: number;
  /** The record's generation is the one in force. */
  readonly inForce: boolean;
  /** Hooks (iface/direction) whose filter is not this deployment's program, in this namespace. */
  readonly missing: readonly string[];
  /** Map pressure: sessions in the table, its capacity, and their ratio. */
  readonly sessions: { readonly entries: number; readonly capacity: number; readonly utilization: number; readonly halfOpen: number };
}

export interface StatusEntry {
  readonly record: DeploymentRecord;
  readonly kernel: KernelView | { readonly error: string };
}

const EXAMPLES = `
Examples:
  $ segc status
  $ segc status --name web --json`;

export function register(program: Command, io: CliIo): void {
  program
    .command('status')
    .summary('show what is deployed on this host')
    .description('List deployments: policy hash, generation, files, interfaces, program ids and pins.')
    .option('--name <name>', 'only this deployment')
    .option('--json', 'print the status as JSON (cli.md)')
    .addHelpText('after', EXAMPLES)
    .action(async (options: StatusOptions, command: Command) => {
      recordOutcome(command, await status(options, io));
    });
}

export async function readStatus(io: CliIo, name?: string): Promise<StatusEntry[]> {
  const { listDeployments, readState, stateDirOf } = await import('../state.ts');
  const stateDir = stateDirOf(io.env);
  try {
    readdirSync(stateDir);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EPERM') throw new CliError('environment', `cannot read the deployment records in ${stateDir}`, 'run it as root (sudo segc status)');
  }
  const names = name === undefined ? listDeployments(stateDir) : [name];
  const entries: StatusEntry[] = [];
  for (const n of names) {
    const state = readState(stateDir, n);
    if (!state) throw new CliError('usage', `there is no deployment named '${n}'`, '`segc status` lists the deployments');
    entries.push({ record: state.current, kernel: await kernelView(state.current) });
  }
  return entries;
}

async function kernelView(record: DeploymentRecord): Promise<StatusEntry['kernel']> {
  try {
    const { openPinnedDatapath, releaseDatapath } = await import('../deploy.ts');
    const { readConfig, slotGeneration, censusSessions } = await import('../loader.ts');
    const { HALF_OPEN_STATES } = await import('../agent/names.ts');
    const { queryTc, interfaceIndex } = await import('../tc.ts');
    const dp = openPinnedDatapath(record.pins.dir);
    try {
      const activeGeneration = Number(slotGeneration(dp, readConfig(dp).activeSlot));
      const missing: string[] = [];
      for (const a of record.attachments) {
        let here: number | undefined;
        try {
          here = interfaceIndex(a.iface);
        } catch {
          here = undefined;
        }
        // An interface of another network namespace cannot be queried from here.
        if (here === a.ifindex && queryTc(a.ifindex, a.direction) !== a.progId) missing.push(`${a.iface}/${a.direction}`);
      }
      const census = censusSessions(dp);
      const halfOpen = HALF_OPEN_STATES.reduce((n, st) => n + (census.byState[st] ?? 0), 0);
      const sessions = { entries: census.entries, capacity: census.capacity, utilization: census.capacity === 0 ? 0 : census.entries / census.capacity, halfOpen };
      return { activeGeneration, inForce: activeGeneration === record.generation, missing, sessions };
    } finally {
      releaseDatapath(dp, true);
    }
  } catch (error) {
    return { error: error instanceof Error ? error.message : String(error) };
  }
}

export function statusJson(entries: readonly StatusEntry[]): unknown {
  return {
    deployments: entries.map(({ record: r, kernel }) => ({
      name: r.name,
      policyHash: r.policyHash,
      generation: r.generation,
      deployedAt: r.deployedAt,
      files: r.files,
      attachments: r.attachments.map((a) => ({ iface: a.iface, direction: a.direction, progId: a.progId })),
      pins: { dir: r.pins.dir, programs: { ingress: r.pins.programs.ingress, egress: r.pins.programs.egress } },
      kernel,
    })),
  };
}

export async function status(options: StatusOptions, io: CliIo): Promise<Outcome> {
  const entries = await readStatus(io, options.name);
  if (options.json === true) {
    io.stdout.write(JSON.stringify(statusJson(entries)) + '\n');
    return 'ok';
  }
  if (entries.length === 0) {
    io.stdout.write('no deployments on this host\n');
    return 'ok';
  }
  const lines: string[] = [];
  for (const { record: r, kernel } of entries) {
    lines.push(`${r.name}: generation ${r.generation}, ${r.policyHash.slice(0, 19)}, deployed ${r.deployedAt}`);
    lines.push(`  files        ${r.files.join(', ')}`);
    for (const a of r.attachments) lines.push(`  attached     ${a.iface} ${a.direction.padEnd(7)} program ${a.progId}`);
    lines.push(`  pins         ${r.pins.dir} (programs ${r.pins.programs.ingress}, ${r.pins.programs.egress})`);
    if ('error' in kernel) lines.push(`  kernel       cannot read the pins: ${kernel.error}`);
    else {
      lines.push(`  kernel       generation ${kernel.activeGeneration} in force${kernel.inForce ? '' : `: NOT the recorded ${r.generation}; deploy again to repair`}`);
      const s = kernel.sessions;
      lines.push(`  sessions     ${s.entries} of ${s.capacity} (${(100 * s.utilization).toFixed(1)} % full${s.utilization > 0.95 ? ', ABOVE 95 %: flows are evicted' : s.utilization > 0.8 ? ', above 80 %' : ''}), ${s.halfOpen} half-open`);
      if (kernel.missing.length > 0) lines.push(`  missing      ${kernel.missing.join(', ')} (filter removed or replaced by someone else; deploy again to repair)`);
    }
  }
  io.stdout.write(lines.join('\n') + '\n');
  return 'ok';
}
