// `segc stats`: a deployment's counters (allowed, denied, sessions, drops by reason) and the
// packets each rule of the policy in force decided, named with the rule's file:line from the
// recorded bundle.
import type { Command } from 'commander';
import { SegReason, SegStat } from '../../compiler/abi.ts';
import { recordOutcome, type Outcome } from './command.ts';
import type { CliIo } from './io.ts';

export interface StatsOptions {
  readonly name: string;
  readonly json?: boolean;
  /** List rules with no hits too. */
  readonly all?: boolean;
}

const COUNTER_NAMES: readonly string[] = Object.keys(SegStat)
  .filter((k) => k !== 'SEG_STAT_REASON_BASE' && k !== 'SEG_STAT_COUNT')
  .sort((a, b) => (SegStat as Record<string, number>)[a]! - (SegStat as Record<string, number>)[b]!);

/** Name of counter `index` of seg_stats: `allow`, `session-hit`, `reason:trunc-ip4`, ... */
export function counterName(index: number): string {
  if (index >= SegStat.SEG_STAT_REASON_BASE) {
    const reason = Object.entries(SegReason).find(([, v]) => v === index - SegStat.SEG_STAT_REASON_BASE)?.[0];
    return `reason:${(reason ?? String(index)).replace('SEG_REASON_', '').toLowerCase().replaceAll('_', '-')}`;
  }
  return (COUNTER_NAMES[index] ?? String(index)).replace('SEG_STAT_', '').toLowerCase().replaceAll('_', '-');
}

export function register(program: Command, io: CliIo): void {
  program
    .command('stats')
    .summary("show a deployment's counters and per-rule hits")
    .description('Counters of the data path and the packets each rule decided, with rule name and file:line.')
    .option('--name <name>', 'the deployment', 'default')
    .option('--all', 'list rules that have no hits too')
    .option('--json', 'print the counters as JSON')
    .addHelpText('after', '\nExamples:\n  $ sudo segc stats\n  $ sudo segc stats --name web --json')
    .action(async (options: StatsOptions, command: Command) => {
      recordOutcome(command, await statsCommand(options, io));
    });
}

export async function statsCommand(options: StatsOptions, io: CliIo): Promise<Outcome> {
  const { openDeployment } = await import('./deployment.ts');
  const { readStats, readRuleHits, readConfig } = await import('../loader.ts');
  return openDeployment(io, options.name, (dp, state, _ruleName, bundle) => {
    const counters = readStats(dp)
      .map((c, i) => ({ counter: counterName(i), packets: Number(c.packets), bytes: Number(c.bytes) }))
      .filter((c) => c.packets > 0 || !c.counter.startsWith('reason:'));
    const slot = readConfig(dp).activeSlot;
    const rules = bundle.rules
      .map((r) => {
        const hits = readRuleHits(dp, slot, r.id);
        return { id: r.id, name: r.name, direction: r.direction, action: r.action, file: r.file, line: r.line, packets: Number(hits.packets), bytes: Number(hits.bytes) };
      })
      .filter((r) => options.all === true || r.packets > 0);
    if (options.json === true) {
      io.stdout.write(JSON.stringify({ name: state.current.name, generation: state.current.generation, counters, rules }) + '\n');
      return 'ok';
    }
    const lines = [`'${state.current.name}' generation ${state.current.generation}`];
    for (const c of counters) lines.push(`  ${c.counter.padEnd(26)} ${String(c.packets).padStart(10)} packets ${String(c.bytes).padStart(12)} bytes`);
    lines.push(rules.length === 0 ? '  no rule has decided a packet yet' : '  rule hits:');
    for (const r of rules) lines.push(`    ${`${r.direction} ${r.name}`.padEnd(30)} ${r.action.padEnd(5)} ${String(r.packets).padStart(10)} packets  ${r.file}:${r.line}`);
    io.stdout.write(lines.join('\n') + '\n');
    return 'ok';
  });
}
