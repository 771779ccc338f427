// `segc monitor`: the log events of a deployment as they come (runtime/datapath/events.ts reads them
// from the pinned ring buffer), each with its rule's name and file:line from the recorded
// bundle and the packet in segc's notation, ready for `segc explain --packet`; `--json`
// writes one JSON object per line. Stops on Ctrl-C, or after --count events / --timeout.
import { InvalidArgumentError, type Command } from 'commander';
import type { BundleRule } from '../../compiler/bundle.ts';
import { locationText } from '../../compiler/report/location.ts';
import type { SegEvent } from '../datapath/events.ts';
import type { DeploymentRecord } from '../state.ts';
import { CliError, recordOutcome, type Outcome } from './command.ts';
import type { CliIo } from './io.ts';

export interface MonitorOptions {
  readonly name: string;
  /** A rule name, or FILE:LINE of a rule. */
  readonly rule?: string;
  readonly verdict?: 'allow' | 'deny' | 'would-deny';
  readonly json?: boolean;
  /** Stop after this many events (printed ones). */
  readonly count?: number;
  /** Stop after this many seconds. */
  readonly timeout?: number;
}

const EXAMPLES = `
Examples:
  $ sudo segc monitor
  $ sudo segc monitor --name web --verdict deny
  $ sudo segc monitor --rule ssh-office --json | jq .packet
  $ sudo segc monitor --rule web.seg:12 --count 10

Events come from rules with 'log' (allow log, deny log, log), from audit (verdict would-deny),
and, when deployed with --log-denies, from every denied packet. The kernel limits them per rule
and in total (deploy --event-rate and friends); what it did not send is counted in 'segc stats'
(event-rule-limited, event-global-limited, event-ring-full). One reader at a time takes the
events: a second monitor (or the agent) shares them with the first.`;

export function register(program: Command, io: CliIo): void {
  program
    .command('monitor')
    .summary("print a deployment's log events as they come")
    .description('Print the events the data path sends for log rules, audit and (with deploy --log-denies) denied packets.')
    .option('--name <name>', 'the deployment', 'default')
    .option('--rule <rule>', 'only events of this rule: its name, or FILE:LINE')
    .option('--verdict <verdict>', 'only allow, deny or would-deny events', (v: string) => {
      if (v !== 'allow' && v !== 'deny' && v !== 'would-deny') throw new InvalidArgumentError('expected allow, deny or would-deny');
      return v;
    })
    .option('--json', 'one JSON object per event and line')
    .option('--count <n>', 'stop after this many events', positive)
    .option('--timeout <seconds>', 'stop after this many seconds', positive)
    .addHelpText('after', EXAMPLES)
    .action(async (options: MonitorOptions, command: Command) => {
      recordOutcome(command, await monitorCommand(options, io));
    });
}

function positive(v: string): number {
  if (!/^\d+(\.\d+)?$/.test(v) || Number(v) <= 0) throw new InvalidArgumentError('expected a positive number');
  return Number(v);
}

/** What a printed event says about its rule. */
export interface EventRule {
  readonly id: number;
  readonly name: string;
  /** `file:line`, as every JSON output names a place. */
  readonly location: string;
  readonly file: string;
  readonly line: number;
}

/** An event as monitor prints it (the `--json` line). */
export interface MonitorLine {
  readonly time: string;
  readonly kind: SegEvent['kind'];
  readonly generation: number;
  readonly direction: SegEvent['direction'];
  readonly iface: string;
  readonly verdict: SegEvent['verdict'];
  readonly reason: string;
  readonly rule: EventRule | null;
  /** The packet in segc's notation (`segc explain --packet` reads it). */
  readonly packet: string;
  readonly tcpFlags: string;
  readonly length: number;
}

/** Rules of the bundles a deployment's events may come from, by generation. */
export function rulesByGeneration(record: DeploymentRecord, previous: DeploymentRecord | null): Map<number, Map<number, BundleRule>> {
  const out = new Map<number, Map<number, BundleRule>>();
  for (const r of [previous, record]) {
    if (!r) continue;
    const bundle = JSON.parse(r.bundle) as { rules: BundleRule[] };
    out.set(r.generation, new Map(bundle.rules.map((rule) => [rule.id, rule])));
  }
  return out;
}

/** Whether `rule` is the one `--rule` names: its name, or FILE:LINE (the file as recorded, or its tail). */
export function ruleSelected(rule: Pick<EventRule, 'name' | 'file' | 'line'> | null, selector: string | undefined): boolean {
  if (selector === undefined) return true;
  if (rule === null) return false;
  if (rule.name === selector) return true;
  const m = /^(.*):(\d+)$/.exec(selector);
  if (!m) return false;
  const [, file = '', line] = m;
  return Number(line) === rule.line && (rule.file === file || rule.file.endsWith(`/${file}`));
}

/** One event in words; `canaryGeneration`: a running canary's, whose events say so. */
export function formatMonitorLine(l: MonitorLine, canaryGeneration?: number): string {
  const rule = l.rule === null ? (l.kind === 'syn-untracked' ? 'syn not tracked (table pressure)' : 'default') : `${l.rule.name} (${l.rule.file}:${l.rule.line})`;
  const flags = l.tcpFlags === '' ? '' : `  [${l.tcpFlags}]`;
  const canary = canaryGeneration !== undefined && l.generation === canaryGeneration ? `  canary generation ${l.generation}` : '';
  return `${l.time} ${l.direction.padEnd(7)} ${l.iface} ${l.verdict.padEnd(10)} ${rule}  ${l.packet}${flags}  ${l.length} bytes${canary}\n`;
}

export async function monitorCommand(options: MonitorOptions, io: CliIo): Promise<Outcome> {
  const { readState, stateDirOf } = await import('../state.ts');
  const { openPinnedDatapath, releaseDatapath } = await import('../deploy.ts');
  const { EventReader, eventPacketText, tcpFlagNames } = await import('../datapath/events.ts');
  const { if_indextoname } = await import('../libbpf.ts');
  const { isBpfError } = await import('../errors.ts');
  const state = readState(stateDirOf(io.env), options.name);
  if (!state) throw new CliError('usage', `there is no deployment named '${options.name}'`, '`segc status` lists the deployments');
  const rules = rulesByGeneration(state.current, state.previous);
  // A running canary's events name its generation: its rules come from the canary record.
  const { readCanary } = await import('../canary-record.ts');
  const canary = readCanary(stateDirOf(io.env), options.name);
  if (canary) rules.set(canary.generation, new Map((JSON.parse(canary.bundle) as { rules: BundleRule[] }).rules.map((rule) => [rule.id, rule])));
  if (options.rule !== undefined) {
    const known = [...(rules.get(state.current.generation)?.values() ?? [])].some((r) => ruleSelected(r, options.rule));
    if (!known) throw new CliError('usage', `the deployed policy has no rule '${options.rule}'`, 'give a rule name or FILE:LINE as `segc stats --all` lists them');
  }
  let dp;
  try {
    dp = openPinnedDatapath(state.current.pins.dir);
  } catch (error) {
    if (isBpfError(error, 'EPERM', 'EACCES')) throw new CliError('environment', `cannot open the pins of '${options.name}': ${(error as Error).message}`, 'run as root (sudo)');
    if (isBpfError(error, 'ENOENT')) throw new CliError('environment', `the pins of '${options.name}' are incomplete in ${state.current.pins.dir} (deployed by an older segc, or a reboot?)`, 'deploy again');
    throw error;
  }
  const names = new Map<number, string>();
  const ifaceName = (index: number) => {
    let n = names.get(index);
    if (n === undefined) {
      n = if_indextoname(index) ?? `if${index}`;
      names.set(index, n);
    }
    return n;
  };
  // The events' clock is CLOCK_MONOTONIC_COARSE; the wall time is computed against now.
  const wallOf = (ns: bigint) => new Date(Date.now() - Number((process.hrtime.bigint() - ns) / 1_000_000n)).toISOString();
  let printed = 0;
  const reader = new EventReader(dp, (e) => {
    if (options.count !== undefined && printed >= options.count) return;
    const r = e.rule === null ? undefined : rules.get(Number(e.generation))?.get(e.rule);
    const rule: EventRule | null = e.rule === null ? null : r ? { id: r.id, name: r.name, location: locationText(r.file, r.line), file: r.file, line: r.line } : { id: e.rule, name: `rule #${e.rule}`, location: '?', file: '?', line: 0 };
    if (!ruleSelected(rule, options.rule) || (options.verdict !== undefined && e.verdict !== options.verdict)) return;
    const line: MonitorLine = {
      time: wallOf(e.timeNs),
      kind: e.kind,
      generation: Number(e.generation),
      direction: e.direction,
      iface: ifaceName(e.ifindex),
      verdict: e.verdict,
      reason: e.reason,
      rule,
      packet: eventPacketText(e),
      tcpFlags: tcpFlagNames(e.tcpFlags),
      length: e.length,
    };
    io.stdout.write(options.json === true ? JSON.stringify(line) + '\n' : formatMonitorLine(line, canary?.generation));
    printed++;
  });
  let stop = false;
  const onSignal = () => {
    stop = true;
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const deadline = options.timeout === undefined ? Infinity : Date.now() + options.timeout * 1000;
  try {
    while (!stop && Date.now() < deadline && (options.count === undefined || printed < options.count)) {
      // A short wait, then back to the event loop so that signals and output get through.
      reader.poll(Math.max(0, Math.min(100, deadline - Date.now())));
      await new Promise((resolve) => setImmediate(resolve));
    }
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    reader.close();
    releaseDatapath(dp, true);
  }
  return 'ok';
}
