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
  /** Recorded interfaces not found in this network namespace (deleted, or in another namespace). */
  readonly absent: readonly string[];
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

/** A deploy on trial (deploy --confirm), waiting for `segc confirm`. */
export interface ConfirmationView {
  readonly generation: number;
  readonly deadline: string;
  /** The generation whose policy comes back at the deadline; null: the deployment is removed. */
  readonly rollbackTo: number | null;
  readonly overdue: boolean;
  readonly watcher: { readonly pid: number; readonly running: boolean } | null;
}

/** A canary running beside the policy in force (deploy --canary): both generations and the share. */
export interface CanaryView {
  readonly baselineGeneration: number;
  readonly generation: number;
  readonly policyHash: string;
  readonly files: readonly string[];
  /** The recorded share, and the one the kernel holds (null when the pins cannot say). */
  readonly share: string;
  readonly shareBp: number;
  readonly kernelShareBp: number | null;
  readonly startedAt: string;
  readonly stages: { readonly steps: readonly number[]; readonly step: number; readonly stepSeconds: number; readonly maxDenyIncrease: number; readonly minFlows: number; readonly watcher: { readonly pid: number; readonly running: boolean } | null } | null;
  /** Per role, since the canary began (null when the pins cannot be read). */
  readonly counters: {
    readonly baseline: CanaryRoleView;
    readonly canary: CanaryRoleView;
  } | null;
  /** The last lines of the canary log. */
  readonly log: readonly string[];
}

export interface CanaryRoleView {
  readonly generation: number;
  readonly allow: number;
  readonly deny: number;
  readonly flows: number;
  readonly flowDeny: number;
  readonly wouldDeny: number;
  readonly sessionHits: number;
  readonly revoked: number;
  /** (flowDeny + wouldDeny) / flows in percent; null without flows. */
  readonly denyRate: number | null;
}

export interface StatusEntry {
  readonly canary?: CanaryView | null;
  readonly record: DeploymentRecord;
  readonly kernel: KernelView | { readonly error: string };
  readonly audit: AuditView;
  readonly confirmation: ConfirmationView | null;
}

/**
 * The fill past which status warns: two choices of 4-way buckets keep 99 % of long-lived flows'
 * packets on their sessions at half load beside heavy churn, 95 % at 60 % and 90 % at 75 %
 * (docs/performance.md "Eviction"); the fill bounds the long-lived load from above.
 */
const SESSION_WARN_FILL = 0.6;

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

/** A deployment whose record cannot be read, with its file and how to repair it. */
export interface DamagedEntry {
  readonly name: string;
  readonly path: string;
  readonly error: string;
  readonly hint: string;
}

/** A segc filter attached in this namespace that no record or pin accounts for. */
export interface UnrecordedEntry {
  readonly iface: string;
  readonly direction: string;
  readonly progId: number;
  readonly progName: string;
  readonly tag: string;
}

export interface HostStatus {
  readonly entries: readonly StatusEntry[];
  readonly damaged: readonly DamagedEntry[];
  readonly unrecorded: readonly UnrecordedEntry[];
}

export async function readStatus(io: CliIo, name?: string, auditWarnDays?: number): Promise<HostStatus> {
  const { readAllStates, readState, stateDirOf } = await import('../state.ts');
  const { readPending, isOverdue, watcherRuns, ConfirmRecordError } = await import('../confirm.ts');
  const pendingOf = (n: string) => {
    try {
      return readPending(stateDir, n);
    } catch (error) {
      if (!(error instanceof ConfirmRecordError)) throw error;
      io.stderr.write(`warning: ${error.message}\n`);
      return undefined;
    }
  };
  const stateDir = stateDirOf(io.env);
  try {
    readdirSync(stateDir);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EPERM') throw new CliError('environment', `cannot read the deployment records in ${stateDir}`, 'run it as root (sudo segc status)');
  }
  let states;
  let damaged: DamagedEntry[] = [];
  if (name === undefined) {
    const scan = readAllStates(stateDir);
    states = scan.states;
    damaged = scan.damaged.map((e) => ({ name: e.deployment, path: e.path, error: e.message, hint: e.hint }));
  } else {
    // One deployment asked for by name: its damaged record is the error (exit 2, with the fix).
    const state = readState(stateDir, name);
    if (!state) throw new CliError('usage', `there is no deployment named '${name}'`, '`segc status` lists the deployments');
    states = [state];
  }
  const entries: StatusEntry[] = [];
  for (const state of states) {
    const n = state.current.name;
    const p = pendingOf(n);
    const confirmation = p === undefined ? null : { generation: p.generation, deadline: p.deadline, rollbackTo: p.rollbackTo, overdue: isOverdue(p, new Date()), watcher: p.watcher === null ? null : { pid: p.watcher.pid, running: watcherRuns(p) } };
    entries.push({ record: state.current, kernel: await kernelView(state.current), audit: auditView(state.current, warnDaysOf(io, auditWarnDays), new Date()), confirmation, canary: await canaryView(io, stateDir, n) });
  }
  return { entries, damaged, unrecorded: name === undefined ? await unrecordedFilters(io) : [] };
}

/** The canary of deployment `name`, or null. */
async function canaryView(io: CliIo, stateDir: string, name: string): Promise<CanaryView | null> {
  const [{ readCanaryLog, CanaryRecordError, formatShare }, { readCanaryState, canaryWatcherRuns, denyRate }] = await Promise.all([import('../canary-record.ts'), import('../canary.ts')]);
  let got;
  try {
    got = readCanaryState(stateDir, name);
  } catch (error) {
    if (!(error instanceof CanaryRecordError)) throw error;
    io.stderr.write(`warning: ${error.message}\n`);
    return null;
  }
  if (!got) return null;
  const { canary: c, counts } = got;
  const role = (generation: number, r: NonNullable<typeof counts>['canary']): CanaryRoleView => ({
    generation,
    allow: Number(r.allow),
    deny: Number(r.deny),
    flows: Number(r.flows),
    flowDeny: Number(r.flowDeny),
    wouldDeny: Number(r.wouldDeny),
    sessionHits: Number(r.sessionHits),
    revoked: Number(r.revoked),
    denyRate: denyRate(r) ?? null,
  });
  return {
    baselineGeneration: c.baselineGeneration,
    generation: c.generation,
    policyHash: c.policyHash,
    files: c.files,
    share: formatShare(c.shareBp),
    shareBp: c.shareBp,
    kernelShareBp: got.kernelShareBp ?? null,
    startedAt: c.startedAt,
    stages: c.stages === null ? null : { steps: c.stages.steps, step: c.stages.index + 1, stepSeconds: c.stages.stepMs / 1000, maxDenyIncrease: c.stages.maxDenyIncrease, minFlows: c.stages.minFlows, watcher: c.watcher === null ? null : { pid: c.watcher.pid, running: canaryWatcherRuns(c) } },
    counters: counts === undefined ? null : { baseline: role(c.baselineGeneration, counts.baseline), canary: role(c.generation, counts.canary) },
    log: readCanaryLog(stateDir, name, 5),
  };
}

/** segc filters in this namespace with no record or pins (none when the kernel cannot be asked). */
async function unrecordedFilters(io: CliIo): Promise<UnrecordedEntry[]> {
  try {
    const { findUnrecordedFilters } = await import('../deploy.ts');
    const { stateDirOf } = await import('../state.ts');
    return findUnrecordedFilters({ stateDir: stateDirOf(io.env) }).map((f) => ({ iface: f.iface, direction: f.direction, progId: f.progId, progName: f.progName, tag: f.tag }));
  } catch {
    // Without privileges the filters cannot be listed; the records still can.
    return [];
  }
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
      const absent = new Set<string>();
      for (const a of record.attachments) {
        let here: number | undefined;
        try {
          here = interfaceIndex(a.iface);
        } catch {
          here = undefined;
        }
        // An interface of another network namespace cannot be queried from here; one that is
        // gone (or renumbered) is told apart from a filter someone replaced.
        if (here !== a.ifindex) absent.add(a.iface);
        else if (queryTc(a.ifindex, a.direction) !== a.progId) missing.push(`${a.iface}/${a.direction}`);
      }
      const census = censusSessions(dp);
      const sessions = { entries: census.entries, capacity: census.capacity, utilization: census.capacity === 0 ? 0 : census.entries / census.capacity, halfOpen: halfOpenCount(census.byState) };
      const datapathVersion = readDatapathInfo(dp).version;
      return { activeGeneration, inForce: activeGeneration === record.generation, missing, absent: [...absent], audit: header?.audit === true, wouldDeny, sessions, datapathVersion, segcDatapathVersion: DATAPATH_VERSION };
    } finally {
      releaseDatapath(dp, true);
    }
  } catch (error) {
    return { error: error instanceof Error ? error.message : String(error) };
  }
}

/** cli.md's shape; `damaged` and `unrecorded` are added only when there are some. */
export function statusJson({ entries, damaged, unrecorded }: HostStatus): unknown {
  return {
    ...(damaged.length > 0 ? { damaged } : {}),
    ...(unrecorded.length > 0 ? { unrecorded } : {}),
    deployments: entries.map(({ record: r, kernel, audit, confirmation, canary }) => ({
      name: r.name,
      policyHash: r.policyHash,
      generation: r.generation,
      deployedAt: r.deployedAt,
      files: r.files,
      attachments: r.attachments.map((a) => ({ iface: a.iface, direction: a.direction, progId: a.progId })),
      pins: { dir: r.pins.dir, programs: { ingress: r.pins.programs.ingress, egress: r.pins.programs.egress } },
      kernel,
      audit,
      confirmation,
      canary: canary ?? null,
    })),
  };
}

function canaryLines(c: CanaryView, name: string): string[] {
  const lines = [`  canary       generation ${c.generation} (${c.policyHash.slice(0, 19)}, ${c.files.join(', ')}) judges ${c.share} of new flows beside generation ${c.baselineGeneration}, since ${c.startedAt}`];
  if (c.kernelShareBp !== null && c.kernelShareBp !== c.shareBp) lines.push(`  canary       the kernel holds ${c.kernelShareBp / 100}%, not the recorded ${c.share}`);
  if (c.kernelShareBp === null) lines.push(`  canary       NOT in the kernel: 'segc rollback --name ${name}' clears the record`);
  if (c.stages) {
    const w = c.stages.watcher === null ? 'no watcher: move it by hand' : c.stages.watcher.running ? `watcher pid ${c.stages.watcher.pid}` : `watcher pid ${c.stages.watcher.pid} is GONE: move it by hand`;
    lines.push(`  stages       step ${c.stages.step} of ${c.stages.steps.join(',')}% every ${c.stages.stepSeconds} s, gate +${c.stages.maxDenyIncrease} points of deny rate (${w})`);
  }
  if (c.counters) {
    for (const [role, v] of [['baseline', c.counters.baseline], ['canary', c.counters.canary]] as const) {
      const rate = v.denyRate === null ? 'no new flows' : `deny rate ${v.denyRate.toFixed(1)}%`;
      lines.push(`  ${role.padEnd(12)} generation ${v.generation}: ${v.flows} classified (${v.flowDeny} denied, ${v.wouldDeny} would-deny: ${rate}), ${v.sessionHits} session hits, ${v.allow} passed, ${v.deny} dropped`);
    }
  }
  for (const l of c.log) lines.push(`  canary log   ${l}`);
  lines.push(`  end it       'segc promote --name ${name}' (in force) or 'segc rollback --name ${name}' (dropped); 'segc canary --set 50% --name ${name}' moves it`);
  return lines;
}

export async function status(options: StatusOptions, io: CliIo): Promise<Outcome> {
  // A trial past its deadline is rolled back first (as root), so what follows is what is in force.
  const { settleOverdue } = await import('./confirm.ts');
  await settleOverdue(io, options.name);
  const host = await readStatus(io, options.name, options.auditWarn);
  const { entries, damaged, unrecorded } = host;
  if (options.json === true) {
    io.stdout.write(JSON.stringify(statusJson(host)) + '\n');
    return 'ok';
  }
  if (entries.length === 0 && damaged.length === 0 && unrecorded.length === 0) {
    io.stdout.write('no deployments on this host\n');
    return 'ok';
  }
  const lines: string[] = [];
  for (const d of damaged) {
    lines.push(`${d.name}: DAMAGED RECORD ${d.path}`);
    lines.push(`  error        ${d.error}`);
    lines.push(`  repair       ${d.hint}`);
    io.stderr.write(`warning: ${d.error}\n`);
  }
  for (const f of unrecorded) {
    lines.push(`unrecorded: ${f.iface} ${f.direction} runs segc program ${f.progId} (${f.progName}, tag ${f.tag}), enforcing with no record or pins`);
    lines.push(`  repair       tc filter del dev ${f.iface} ${f.direction} (or deploy on ${f.iface} again, which replaces it)`);
  }
  for (const { record: r, kernel, audit, confirmation: c, canary } of entries) {
    lines.push(`${r.name}: generation ${r.generation}, ${r.policyHash.slice(0, 19)}, deployed ${r.deployedAt}`);
    lines.push(`  files        ${r.files.join(', ')}`);
    if (canary) lines.push(...canaryLines(canary, r.name));
    if (c !== null) {
      const back = c.rollbackTo === null ? 'the deployment is removed' : `generation ${c.rollbackTo}'s policy comes back`;
      const left = Math.max(0, Math.round((Date.parse(c.deadline) - Date.now()) / 1000));
      const watcher = c.watcher === null ? 'no watcher: the next segc command rolls back' : c.watcher.running ? `watcher pid ${c.watcher.pid}` : `watcher pid ${c.watcher.pid} is gone: the next segc command rolls back`;
      lines.push(`  confirm      PENDING: generation ${c.generation} until ${c.deadline} (${c.overdue ? 'OVERDUE' : `${left} s left`}); then ${back} unless 'segc confirm --name ${r.name}' (${watcher})`);
    }
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
      lines.push(`  sessions     ${s.entries} of ${s.capacity} (${(100 * s.utilization).toFixed(1)} % full${s.utilization > 0.95 ? ', ABOVE 95 %: flows are evicted' : s.utilization > SESSION_WARN_FILL ? ', above 60 %: long-lived flows begin to lose their sessions' : ''}), ${s.halfOpen} half-open`);
      if (kernel.missing.length > 0) lines.push(`  missing      ${kernel.missing.join(', ')} (filter removed or replaced by someone else; deploy again to repair)`);
      if (kernel.absent.length > 0) lines.push(`  absent       ${kernel.absent.join(', ')} (no such interface in this network namespace: deleted, or in another namespace; nothing is enforced there from here)`);
    }
  }
  io.stdout.write(lines.join('\n') + '\n');
  return 'ok';
}
