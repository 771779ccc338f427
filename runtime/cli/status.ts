// `segc status`: every deployment on this host (or one, by --name) from its record, checked
// against the kernel when the pins can be read: the generation in force and the program on
// each hook. `--json` prints exactly the shape of cli.md, with a `kernel` field added.
import { readdirSync } from 'node:fs';
import { InvalidArgumentError, type Command } from 'commander';
import type { DeploymentRecord } from '../state.ts';
import { CliError, recordOutcome, type Outcome } from './command.ts';
import type { CliIo } from './io.ts';

export interface StatusOptions {
  readonly name?: string;
  readonly json?: boolean;
  /** `--audit-warn`: days in audit mode after which status warns (default 7, or SEGC_AUDIT_WARN_DAYS). */
  readonly auditWarn?: number;
}

/** Audit mode as the record and the kernel tell it. */
export interface AuditView {
  readonly mode: 'audit' | 'enforce';
  readonly since: string | null;
  /** `ingress name (file:line)` of each `deny audit` rule of the policy. */
  readonly rules: readonly string[];
  /** In audit mode for longer than the warning threshold. */
  readonly overdue: boolean;
}

export const DEFAULT_AUDIT_WARN_DAYS = 7;

/** What the kernel holds for a deployment, when its pins can be opened. */
export interface KernelView {
  readonly activeGeneration: number;
  /** The record's generation is the one in force. */
  readonly inForce: boolean;
  /** Hooks (iface/direction) whose filter is not this deployment's program, in this namespace. */
  readonly missing: readonly string[];
  /** Map pressure: sessions in the table, its capacity, and their ratio. */
  readonly sessions: { readonly entries: number; readonly capacity: number; readonly utilization: number; readonly halfOpen: number };
  /** The slot in force says audit mode. */
  readonly audit: boolean;
  /** Packets audit let pass that the policy denies (since the data path was loaded). */
  readonly wouldDeny: number;
  /** The pinned data path's version (seg_info; 1 without one), and this segc's. */
  readonly datapathVersion: number;
  readonly segcDatapathVersion: number;
}

export interface StatusEntry {
  readonly record: DeploymentRecord;
  readonly kernel: KernelView | { readonly error: string };
  readonly audit: AuditView;
}

const EXAMPLES = `
Examples:
  $ segc status
  $ segc status --name web --json

A deployment in audit mode (deploy --audit) for longer than --audit-warn days (default 7,
or SEGC_AUDIT_WARN_DAYS) gets a warning: audit is a trial, and its denies do not protect.`;

export function register(program: Command, io: CliIo): void {
  program
    .command('status')
    .summary('show what is deployed on this host')
    .description('List deployments: policy hash, generation, files, interfaces, program ids and pins.')
    .option('--name <name>', 'only this deployment')
    .option('--json', 'print the status as JSON (cli.md)')
    .option('--audit-warn <days>', 'warn about audit mode older than this (default 7)', (v: string) => {
      if (!/^\d+(\.\d+)?$/.test(v)) throw new InvalidArgumentError('expected a number of days');
      return Number(v);
    })
    .addHelpText('after', EXAMPLES)
    .action(async (options: StatusOptions, command: Command) => {
      recordOutcome(command, await status(options, io));
    });
}

export async function readStatus(io: CliIo, name?: string, auditWarnDays?: number): Promise<StatusEntry[]> {
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
    entries.push({ record: state.current, kernel: await kernelView(state.current), audit: auditView(state.current, warnDaysOf(io, auditWarnDays), new Date()) });
  }
  return entries;
}

function warnDaysOf(io: CliIo, given: number | undefined): number {
  if (given !== undefined) return given;
  const text = io.env['SEGC_AUDIT_WARN_DAYS'];
  return text !== undefined && /^\d+(\.\d+)?$/.test(text) ? Number(text) : DEFAULT_AUDIT_WARN_DAYS;
}

export function auditView(record: DeploymentRecord, warnDays: number, now: Date): AuditView {
  const audit = record.settings?.audit === true;
  const since = audit ? (record.auditSince ?? record.deployedAt) : null;
  const bundle = JSON.parse(record.bundle) as { rules?: { name: string; direction: string; audit?: boolean; file: string; line: number }[] };
  const rules = (bundle.rules ?? []).filter((r) => r.audit === true).map((r) => `${r.direction} ${r.name} (${r.file}:${r.line})`);
  const overdue = since !== null && now.getTime() - Date.parse(since) > warnDays * 86_400_000;
  return { mode: audit ? 'audit' : 'enforce', since, rules, overdue };
}

async function kernelView(record: DeploymentRecord): Promise<StatusEntry['kernel']> {
  try {
    const { openPinnedDatapath, releaseDatapath } = await import('../deploy.ts');
    const { readConfig } = await import('../datapath/config.ts');
    const { readStats } = await import('../datapath/counters.ts');
    const { slotHeader } = await import('../datapath/slots.ts');
    const { censusSessions } = await import('../datapath/sessions.ts');
    const { readDatapathInfo } = await import('../datapath/info.ts');
    const { DATAPATH_VERSION } = await import('../datapath/version.ts');
    const { SegStat } = await import('../datapath/abi.ts');
    const { halfOpenCount } = await import('../agent/names.ts');
    const { queryTc, interfaceIndex } = await import('../tc.ts');
    const dp = openPinnedDatapath(record.pins.dir);
    try {
      const header = slotHeader(dp, readConfig(dp).activeSlot);
      const activeGeneration = Number(header?.generation ?? 0n);
      const wouldDeny = Number(readStats(dp)[SegStat.SEG_STAT_WOULD_DENY]?.packets ?? 0n);
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
      const sessions = { entries: census.entries, capacity: census.capacity, utilization: census.capacity === 0 ? 0 : census.entries / census.capacity, halfOpen: halfOpenCount(census.byState) };
      const datapathVersion = readDatapathInfo(dp).version;
      return { activeGeneration, inForce: activeGeneration === record.generation, missing, audit: header?.audit === true, wouldDeny, sessions, datapathVersion, segcDatapathVersion: DATAPATH_VERSION };
    } finally {
      releaseDatapath(dp, true);
    }
  } catch (error) {
    return { error: error instanceof Error ? error.message : String(error) };
  }
}

export function statusJson(entries: readonly StatusEntry[]): unknown {
  return {
    deployments: entries.map(({ record: r, kernel, audit }) => ({
      name: r.name,
      policyHash: r.policyHash,
      generation: r.generation,
      deployedAt: r.deployedAt,
      files: r.files,
      attachments: r.attachments.map((a) => ({ iface: a.iface, direction: a.direction, progId: a.progId })),
      pins: { dir: r.pins.dir, programs: { ingress: r.pins.programs.ingress, egress: r.pins.programs.egress } },
      kernel,
      audit,
    })),
  };
}

export async function status(options: StatusOptions, io: CliIo): Promise<Outcome> {
  const entries = await readStatus(io, options.name, options.auditWarn);
  if (options.json === true) {
    io.stdout.write(JSON.stringify(statusJson(entries)) + '\n');
    return 'ok';
  }
  if (entries.length === 0) {
    io.stdout.write('no deployments on this host\n');
    return 'ok';
  }
  const lines: string[] = [];
  for (const { record: r, kernel, audit } of entries) {
    lines.push(`${r.name}: generation ${r.generation}, ${r.policyHash.slice(0, 19)}, deployed ${r.deployedAt}`);
    lines.push(`  files        ${r.files.join(', ')}`);
    if (audit.mode === 'audit') {
      const would = 'error' in kernel ? '' : `; ${kernel.wouldDeny} packets would have been denied`;
      lines.push(`  mode         AUDIT since ${audit.since}: denies pass${would}`);
    }
    for (const rule of audit.rules) lines.push(`  audit rule   ${rule}: its denies pass`);
    if (audit.overdue) io.stderr.write(`warning: '${r.name}' has been in audit mode since ${audit.since}; its denies do not protect: deploy again without --audit to enforce\n`);
    for (const a of r.attachments) lines.push(`  attached     ${a.iface} ${a.direction.padEnd(7)} program ${a.progId}`);
    lines.push(`  pins         ${r.pins.dir} (programs ${r.pins.programs.ingress}, ${r.pins.programs.egress})`);
    if ('error' in kernel) lines.push(`  kernel       cannot read the pins: ${kernel.error}`);
    else {
      lines.push(`  kernel       generation ${kernel.activeGeneration} in force${kernel.inForce ? '' : `: NOT the recorded ${r.generation}; deploy again to repair`}`);
      const upgrade =
        kernel.datapathVersion < kernel.segcDatapathVersion
          ? ` (this segc's is ${kernel.segcDatapathVersion}: the next deploy upgrades it in place)`
          : kernel.datapathVersion > kernel.segcDatapathVersion
            ? ` (NEWER than this segc's ${kernel.segcDatapathVersion}: deploy with a newer segc)`
            : '';
      lines.push(`  data path    version ${kernel.datapathVersion}${upgrade}`);
      const s = kernel.sessions;
      lines.push(`  sessions     ${s.entries} of ${s.capacity} (${(100 * s.utilization).toFixed(1)} % full${s.utilization > 0.95 ? ', ABOVE 95 %: flows are evicted' : s.utilization > 0.8 ? ', above 80 %' : ''}), ${s.halfOpen} half-open`);
      if (kernel.missing.length > 0) lines.push(`  missing      ${kernel.missing.join(', ')} (filter removed or replaced by someone else; deploy again to repair)`);
    }
  }
  io.stdout.write(lines.join('\n') + '\n');
  return 'ok';
}
