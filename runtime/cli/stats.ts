// `segc stats`: a deployment's counters (allowed, denied, sessions, drops by reason) and the
// packets each rule of the policy in force decided, named with the rule's file:line from the
// recorded bundle.
import { InvalidArgumentError, type Command } from 'commander';
import { SegReason, SegStat } from '../datapath/abi.ts';
import { locationText } from '../../compiler/report/location.ts';
import { CliError, recordOutcome, type Outcome } from './command.ts';
import { wholeNumber } from './options.ts';
import type { CliIo } from './io.ts';

export interface StatsOptions {
  readonly name: string;
  readonly json?: boolean;
  /** List rules with no hits too. */
  readonly all?: boolean;
  /** Refresh every `interval` seconds with rates, until interrupted (or `count` frames). */
  readonly watch?: boolean;
  readonly interval?: number;
  readonly count?: number;
  /** How many of the busiest SYN sources to list (default 5). */
  readonly synSources?: number;
}

const COUNTER_NAMES = new Map<number, string>(
  Object.entries(SegStat)
    .filter(([k]) => !['SEG_STAT_REASON_BASE', 'SEG_STAT_EXT_BASE', 'SEG_STAT_DIR_VERDICT_BASE', 'SEG_STAT_COUNT'].includes(k))
    .map(([k, v]) => [v, k]),
);

/** Name of counter `index` of seg_stats: `allow`, `session-hit`, `reason:trunc-ip4`, `would-deny`, ... */
export function counterName(index: number): string {
  if (index >= SegStat.SEG_STAT_REASON_BASE && index < SegStat.SEG_STAT_REASON_BASE + SegReason.SEG_REASON_COUNT) {
    const reason = Object.entries(SegReason).find(([, v]) => v === index - SegStat.SEG_STAT_REASON_BASE)?.[0];
    return `reason:${(reason ?? String(index)).replace('SEG_REASON_', '').toLowerCase().replaceAll('_', '-')}`;
  }
  return (COUNTER_NAMES.get(index) ?? String(index)).replace('SEG_STAT_', '').toLowerCase().replaceAll('_', '-');
}

/**
 * Sessions evicted from a full bucket (or flushes removed), estimated: every session opened and not
 * expired, closed, revoked or still in the table. Counters count since the data path was loaded.
 */
export function evictionEstimate(stats: readonly { packets: bigint }[], live: number): number {
  const n = (i: number) => Number(stats[i]?.packets ?? 0n);
  const gone = n(SegStat.SEG_STAT_SESSION_EXPIRED) + n(SegStat.SEG_STAT_SESSION_CLOSED) + n(SegStat.SEG_STAT_REASON_BASE + SegReason.SEG_REASON_SESSION_REVOKED);
  return Math.max(0, n(SegStat.SEG_STAT_SESSION_NEW) - gone - live);
}

function seconds(text: string): number {
  const n = Number(text);
  if (!(n >= 0.1 && n <= 3600)) throw new InvalidArgumentError('expected seconds, 0.1 to 3600');
  return n;
}

export function register(program: Command, io: CliIo): void {
  program
    .command('stats')
    .summary("show a deployment's counters and per-rule hits")
    .description('Counters of the data path and the packets each rule decided, with rule name and file:line.')
    .option('--name <name>', 'the deployment', 'default')
    .option('--all', 'list rules that have no hits too')
    .option('--json', 'print the counters as JSON')
    .option('--watch', 'refresh the counters, with rates per second, until Ctrl-C (like top)')
    .option('--interval <seconds>', 'seconds between refreshes with --watch (default 2)', seconds)
    .option('--count <n>', 'stop --watch after this many refreshes', wholeNumber)
    .option('--syn-sources <n>', 'list this many of the busiest SYN sources (default 5)', wholeNumber)
    .addHelpText(
      'after',
      '\nExamples:\n  $ sudo segc stats\n  $ sudo segc stats --name web --json\n  $ sudo segc stats --name web --watch --interval 1\n\n' +
        'Rules in audit (deploy --audit, or deny audit) show what they would have denied. Under a SYN\n' +
        'flood: syn, half-open-new, syn-untracked, pressure, the evictions estimate and the busiest\n' +
        'SYN sources (per second over the last full second, and in total).',
    )
    .action(async (options: StatsOptions, command: Command) => {
      recordOutcome(command, await (options.watch === true ? statsWatch(options, io) : statsCommand(options, io)));
    });
}

export async function statsCommand(options: StatsOptions, io: CliIo): Promise<Outcome> {
  const { openDeployment } = await import('./deployment.ts');
  const { readStats, readRuleHits, readRuleWouldDeny } = await import('../datapath/counters.ts');
  const { readConfig } = await import('../datapath/config.ts');
  const { readSessions } = await import('../datapath/sessions.ts');
  const { readSynSources } = await import('../datapath/syn-sources.ts');
  const { slotHeader } = await import('../datapath/slots.ts');
  const { formatAddress } = await import('../../compiler/cidr.ts');
  return openDeployment(io, options.name, (dp, state, _ruleName, bundle) => {
    const raw = readStats(dp);
    const counters = raw
      .map((c, i) => ({ counter: counterName(i), packets: Number(c.packets), bytes: Number(c.bytes) }))
      .filter((c) => c.packets > 0 || !c.counter.startsWith('reason:'));
    const slot = readConfig(dp).activeSlot;
    const audit = slotHeader(dp, slot)?.audit === true;
    const rules = bundle.rules
      .map((r) => {
        const hits = readRuleHits(dp, slot, r.id);
        const wouldDeny = Number(readRuleWouldDeny(dp, slot, r.id).packets);
        const audited = audit || r.audit === true;
        return { id: r.id, name: r.name, direction: r.direction, action: r.action, audit: audited, location: locationText(r.file, r.line), file: r.file, line: r.line, packets: Number(hits.packets), bytes: Number(hits.bytes), wouldDeny };
      })
      .filter((r) => options.all === true || r.packets > 0);
    const live = readSessions(dp).length;
    const sessions = { live, capacity: state.current.sessions, evictedEstimate: evictionEstimate(raw, live) };
    const synSources = readSynSources(dp)
      .sort((a, b) => b.perSecond - a.perSecond || Number(b.total - a.total))
      .slice(0, options.synSources ?? 5)
      .map((s) => ({ source: formatAddress(s.family, s.addr.reduce((v, b) => (v << 8n) | BigInt(b), 0n)), perSecond: s.perSecond, total: Number(s.total) }));
    if (options.json === true) {
      io.stdout.write(JSON.stringify({ name: state.current.name, generation: state.current.generation, mode: audit ? 'audit' : 'enforce', counters, rules, sessions, synSources }) + '\n');
      return 'ok';
    }
    const lines = [`'${state.current.name}' generation ${state.current.generation}${audit ? ' (AUDIT: denies pass, counted as would-deny)' : ''}`];
    for (const c of counters) lines.push(`  ${c.counter.padEnd(26)} ${String(c.packets).padStart(10)} packets ${String(c.bytes).padStart(12)} bytes`);
    lines.push(`  sessions                   ${live} of ${sessions.capacity}; evicted or flushed (estimate) ${sessions.evictedEstimate}`);
    if (synSources.length > 0) lines.push(`  SYN sources:               ${synSources.map((s) => `${s.source} ${s.perSecond}/s (${s.total})`).join(', ')}`);
    lines.push(rules.length === 0 ? '  no rule has decided a packet yet' : '  rule hits:');
    for (const r of rules) {
      const would = r.audit && r.action === 'deny' ? `  would-deny ${r.wouldDeny} (audit)` : '';
      lines.push(`    ${`${r.direction} ${r.name}`.padEnd(30)} ${r.action.padEnd(5)} ${String(r.packets).padStart(10)} packets  ${r.file}:${r.line}${would}`);
    }
    io.stdout.write(lines.join('\n') + '\n');
    return 'ok';
  });
}

/**
 * `stats --watch`: the same reader as the agent's metrics, read every `interval` seconds; each
 * frame shows the counters and the busiest rules with their rates since the frame before.
 */
export async function statsWatch(options: StatsOptions, io: CliIo): Promise<Outcome> {
  const { DeploymentReader } = await import('../agent/reader.ts');
  const { stateDirOf, readState } = await import('../state.ts');
  const stateDir = stateDirOf(io.env);
  if (!readState(stateDir, options.name)) throw new CliError('usage', `there is no deployment named '${options.name}'`, '`segc status` lists the deployments');
  const reader = new DeploymentReader(stateDir);
  const intervalMs = (options.interval ?? 2) * 1000;
  let previous: { at: number; snapshot: import('../agent/reader.ts').DeploymentSnapshot } | undefined;
  let interrupted = false;
  const onInt = () => (interrupted = true);
  process.once('SIGINT', onInt);
  try {
    for (let frame = 0; !interrupted && (options.count === undefined || frame < options.count); frame++) {
      if (frame > 0) await new Promise((resolve) => setTimeout(resolve, intervalMs));
      const host = reader.snapshot([options.name]);
      const snapshot = host.deployments[0];
      if (!snapshot) throw new CliError('environment', `cannot read the pins of '${options.name}': ${host.unreadable[0]?.error ?? 'the deployment is gone'}`, 'deploy again to restore enforcement');
      const at = performance.now();
      io.stdout.write((io.stdoutIsTTY ? '\x1b[H\x1b[2J' : frame > 0 ? '\n' : '') + formatWatchFrame(snapshot, previous && { seconds: (at - previous.at) / 1000, snapshot: previous.snapshot }, options.all === true));
      previous = { at, snapshot };
    }
  } finally {
    process.off('SIGINT', onInt);
    reader.close();
  }
  return 'ok';
}

/** One frame of `stats --watch`; rates need the frame before (same maps, same generation for rules). */
export function formatWatchFrame(now: import('../agent/reader.ts').DeploymentSnapshot, before: { seconds: number; snapshot: import('../agent/reader.ts').DeploymentSnapshot } | undefined, all: boolean): string {
  const sameMaps = before !== undefined && before.snapshot.mapsId === now.mapsId;
  const rate = (a: bigint, b: bigint | undefined) => (before && b !== undefined && a >= b ? (Number(a - b) / before.seconds).toFixed(1) : '-');
  const s = now.sessions;
  const lines = [
    `'${now.name}' generation ${now.activeGeneration}: sessions ${s.entries} of ${s.capacity} (${((100 * s.entries) / Math.max(1, s.capacity)).toFixed(1)} % full)`,
    `  ${'counter'.padEnd(26)} ${'packets'.padStart(12)} ${'/s'.padStart(10)} ${'bytes'.padStart(14)} ${'/s'.padStart(12)}`,
  ];
  now.stats.forEach((c, i) => {
    const name = counterName(i);
    if (c.packets === 0n && name.startsWith('reason:')) return;
    const old = sameMaps ? before.snapshot.stats[i] : undefined;
    lines.push(`  ${name.padEnd(26)} ${String(c.packets).padStart(12)} ${rate(c.packets, old?.packets).padStart(10)} ${String(c.bytes).padStart(14)} ${rate(c.bytes, old?.bytes).padStart(12)}`);
  });
  const hits = now.inForce;
  const oldHits = sameMaps && before.snapshot.inForce?.generation === hits?.generation ? before.snapshot.inForce : undefined;
  const rules = (hits?.rules ?? [])
    // Totals as doubles (the reader's; exact below 2^53), taken back to bigints for the rates.
    .map((r) => ({ r, packets: BigInt(hits?.packets[r.id] ?? 0), old: oldHits === undefined ? undefined : BigInt(oldHits.packets[r.id] ?? 0) }))
    .filter((x) => all || x.packets > 0n)
    .sort((a, b) => (b.packets > a.packets ? 1 : b.packets < a.packets ? -1 : a.r.id - b.r.id))
    .slice(0, all ? undefined : 20);
  lines.push(rules.length === 0 ? '  no rule has decided a packet yet' : '  rules, busiest first:');
  for (const { r, packets, old } of rules) lines.push(`    ${`${r.direction} ${r.name}`.padEnd(30)} ${r.action.padEnd(5)} ${String(packets).padStart(12)} packets ${rate(packets, old).padStart(10)}/s  ${r.file}:${r.line}`);
  return lines.join('\n') + '\n';
}
