// `segc stats`: a deployment's counters (allowed, denied, sessions, drops by reason) and the
// packets each rule of the policy in force decided, named with the rule's file:line from the
// recorded bundle.
import { InvalidArgumentError, type Command } from 'commander';
import { SegReason, SegStat } from '../../compiler/abi.ts';
import { recordOutcome, type Outcome } from './command.ts';
import type { CliIo } from './io.ts';

export interface StatsOptions {
  readonly name: string;
  readonly json?: boolean;
  /** List rules with no hits too. */
  readonly all?: boolean;
  /** How many of the busiest SYN sources to list (default 5). */
  readonly synSources?: number;
}

const COUNTER_NAMES = new Map<number, string>(
  Object.entries(SegStat)
    .filter(([k]) => k !== 'SEG_STAT_REASON_BASE' && k !== 'SEG_STAT_EXT_BASE' && k !== 'SEG_STAT_COUNT')
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
 * Sessions the LRU evicted (or flushes removed), estimated: every session opened and not
 * expired, closed, revoked or still in the table. Counters count since the data path was loaded.
 */
export function evictionEstimate(stats: readonly { packets: bigint }[], live: number): number {
  const n = (i: number) => Number(stats[i]?.packets ?? 0n);
  const gone = n(SegStat.SEG_STAT_SESSION_EXPIRED) + n(SegStat.SEG_STAT_SESSION_CLOSED) + n(SegStat.SEG_STAT_REASON_BASE + SegReason.SEG_REASON_SESSION_REVOKED);
  return Math.max(0, n(SegStat.SEG_STAT_SESSION_NEW) - gone - live);
}

export function register(program: Command, io: CliIo): void {
  program
    .command('stats')
    .summary("show a deployment's counters and per-rule hits")
    .description('Counters of the data path and the packets each rule decided, with rule name and file:line.')
    .option('--name <name>', 'the deployment', 'default')
    .option('--all', 'list rules that have no hits too')
    .option('--json', 'print the counters as JSON')
    .option('--syn-sources <n>', 'list this many of the busiest SYN sources (default 5)', (v: string) => {
      if (!/^\d+$/.test(v)) throw new InvalidArgumentError('expected a whole number');
      return Number(v);
    })
    .addHelpText(
      'after',
      '\nExamples:\n  $ sudo segc stats\n  $ sudo segc stats --name web --json\n\n' +
        'Rules in audit (deploy --audit, or deny audit) show what they would have denied. Under a SYN\n' +
        'flood: syn, half-open-new, syn-untracked, pressure, the evictions estimate and the busiest\n' +
        'SYN sources (per second over the last full second, and in total).',
    )
    .action(async (options: StatsOptions, command: Command) => {
      recordOutcome(command, await statsCommand(options, io));
    });
}

export async function statsCommand(options: StatsOptions, io: CliIo): Promise<Outcome> {
  const { openDeployment } = await import('./deployment.ts');
  const { readStats, readRuleHits, readRuleWouldDeny, readConfig, readSessions, readSynSources, slotHeader } = await import('../loader.ts');
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
        return { id: r.id, name: r.name, direction: r.direction, action: r.action, audit: audited, file: r.file, line: r.line, packets: Number(hits.packets), bytes: Number(hits.bytes), wouldDeny };
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
