// `segc sessions`: the session table of a deployment (the flows its policy allowed), read from
// the pinned map: list, filter by address, port, protocol or state, sort by idle age, bytes or
// packets, count by source, watch, or flush (every flow's next packet is then classified
// again, like a new one).
import { InvalidArgumentError, type Command } from 'commander';
import { locationText } from '../../compiler/report/location.ts';
import { formatAddress } from '../../compiler/cidr.ts';
import { protocolName } from '../../compiler/packet.ts';
import type { SessionEntry, TcpWindow } from '../datapath/sessions.ts';
import { CliError, recordOutcome, type Outcome } from './command.ts';
import type { CliIo } from './io.ts';
import { wholeNumber } from './options.ts';

export interface SessionsOptions {
  readonly name: string;
  readonly address?: string;
  readonly port?: number;
  readonly proto?: string;
  readonly flush?: boolean;
  readonly json?: boolean;
  readonly state?: string;
  readonly sort?: SortKey;
  readonly countBy?: 'source';
  /** Refresh every this many seconds (true: 2). */
  readonly watch?: number | true;
  /** With --watch: stop after this many refreshes (default: until interrupted). */
  readonly iterations?: number;
  readonly limit?: number;
}

export type SortKey = 'age' | 'bytes' | 'packets';

const STATES = ['syn-sent', 'syn-recv', 'established', 'fin-wait', 'closing', 'udp', 'icmp', 'other'];

export function register(program: Command, io: CliIo): void {
  program
    .command('sessions')
    .summary("list or flush a deployment's sessions")
    .description('List the flows the data path tracks (filtered by address, port or protocol), or flush them.')
    .option('--name <name>', 'the deployment', 'default')
    .option('--address <ip>', 'only sessions with this address at either end')
    .option('--port <port>', 'only sessions with this port at either end', Number)
    .option('--proto <proto>', 'only this protocol (tcp, udp, icmp, icmpv6, sctp or a number)')
    .option('--state <state>', `only sessions in this state (${STATES.join(', ')}; half-open: syn-sent and syn-recv)`, (v: string) => {
      if (!STATES.includes(v) && v !== 'half-open') throw new InvalidArgumentError(`expected one of ${STATES.join(', ')}, half-open`);
      return v;
    })
    .option('--sort <key>', 'order by age (idle time, longest first), bytes or packets (most first)', (v: string) => {
      if (v !== 'age' && v !== 'bytes' && v !== 'packets') throw new InvalidArgumentError('expected age, bytes or packets');
      return v;
    })
    .option('--count-by <what>', 'count the matching sessions by source (the endpoint that opened each), busiest first', (v: string) => {
      if (v !== 'source') throw new InvalidArgumentError('expected source');
      return v;
    })
    .option('--limit <n>', 'show at most this many lines', wholeNumber)
    .option('--watch [seconds]', 'show again every few seconds (default 2) until interrupted', (v: string) => {
      if (!/^\d+(\.\d+)?$/.test(v) || Number(v) <= 0) throw new InvalidArgumentError('expected a number of seconds');
      return Number(v);
    })
    .option('--iterations <n>', 'with --watch: stop after this many refreshes', wholeNumber)
    .option('--flush', 'remove the matching sessions (all of them without a filter)')
    .option('--json', 'print the sessions as JSON (with --watch: one line per refresh)')
    .addHelpText(
      'after',
      '\nExamples:\n  $ sudo segc sessions\n  $ sudo segc sessions --port 22 --json\n  $ sudo segc sessions --address 10.0.0.5 --flush\n' +
        '  $ sudo segc sessions --state half-open --count-by source --limit 10     who is flooding\n' +
        '  $ sudo segc sessions --sort bytes --limit 20 --watch',
    )
    .action(async (options: SessionsOptions, command: Command) => {
      recordOutcome(command, await sessionsCommand(options, io));
    });
}

export interface SessionView {
  readonly proto: string;
  readonly a: string;
  readonly b: string;
  readonly portA: number;
  readonly portB: number;
  readonly state: string;
  readonly direction: 'ingress' | 'egress';
  readonly verdict: 'allow' | 'deny';
  readonly rule: string | null;
  /** The opening rule's `file:line`, as every JSON output names a place (null: the default, or a rule of another generation). */
  readonly location: string | null;
  readonly generation: number;
  readonly packets: number;
  readonly bytes: number;
  /** The endpoint that sent the first packet. */
  readonly source: string;
  /** Seconds since the last packet. */
  readonly idleSeconds: number;
  /** TCP: each endpoint's sequence window as the session knows it (docs/datapath.md, "TCP sequence windows"). */
  readonly tcp?: TcpWindow;
}

/** CLOCK_MONOTONIC now (the session clock's base: CLOCK_MONOTONIC_COARSE). */
function monotonicNs(): bigint {
  return process.hrtime.bigint();
}

export function viewSession(s: SessionEntry, ruleName: (id: number) => string, nowNs: bigint = monotonicNs(), ruleLocation: (id: number) => string | null = () => null): SessionView {
  const addr = (bytes: Uint8Array) => formatAddress(s.family, bytesToBigint(bytes));
  const initiatorA = (s.flags & 1) !== 0;
  return {
    proto: protocolName(s.proto),
    a: addr(s.addrA),
    b: addr(s.addrB),
    portA: s.portA,
    portB: s.portB,
    state: STATES[s.state] ?? String(s.state),
    direction: s.direction,
    verdict: s.verdict,
    rule: s.rule === null ? null : ruleName(s.rule),
    location: s.rule === null ? null : ruleLocation(s.rule),
    generation: Number(s.generation),
    packets: Number(s.packets),
    bytes: Number(s.bytes),
    source: addr(initiatorA ? s.addrA : s.addrB),
    idleSeconds: nowNs > s.lastSeenNs ? Number((nowNs - s.lastSeenNs) / 1_000_000n) / 1000 : 0,
    ...(s.tcp ? { tcp: s.tcp } : {}),
  };
}

/** Orders views in place: longest idle, or most bytes / packets, first. */
export function sortSessions(views: SessionView[], key: SortKey): SessionView[] {
  const value = (v: SessionView) => (key === 'age' ? v.idleSeconds : key === 'bytes' ? v.bytes : v.packets);
  return views.sort((a, b) => value(b) - value(a));
}

/** Sessions per source address, busiest first (then by address). */
export function countBySource(views: readonly SessionView[]): { source: string; sessions: number }[] {
  const counts = new Map<string, number>();
  for (const v of views) counts.set(v.source, (counts.get(v.source) ?? 0) + 1);
  return [...counts].map(([source, sessions]) => ({ source, sessions })).sort((a, b) => b.sessions - a.sessions || (a.source < b.source ? -1 : 1));
}

function matchesState(view: SessionView, state: string | undefined): boolean {
  if (state === undefined) return true;
  if (state === 'half-open') return view.state === 'syn-sent' || view.state === 'syn-recv';
  return view.state === state;
}

function bytesToBigint(bytes: Uint8Array): bigint {
  let v = 0n;
  for (const b of bytes) v = (v << 8n) | BigInt(b);
  return v;
}

export async function sessionsCommand(options: SessionsOptions, io: CliIo): Promise<Outcome> {
  if (options.watch === undefined) return sessionsOnce(options, io);
  if (options.flush === true) throw new CliError('usage', '--watch and --flush do not go together', 'flush once, then watch');
  const seconds = options.watch === true ? 2 : options.watch;
  for (let i = 0; options.iterations === undefined || i < options.iterations; i++) {
    if (i > 0) await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
    // Clear the terminal between refreshes (not for JSON lines or a pipe).
    if (options.json !== true && io.stdoutIsTTY) io.stdout.write('\x1b[H\x1b[2J');
    if (options.json !== true) io.stdout.write(`${new Date().toISOString()}  every ${seconds}s\n`);
    const outcome = await sessionsOnce(options, io);
    if (outcome !== 'ok') return outcome;
  }
  return 'ok';
}

async function sessionsOnce(options: SessionsOptions, io: CliIo): Promise<Outcome> {
  const { openDeployment } = await import('./deployment.ts');
  const { deleteSession, readSessions } = await import('../datapath/sessions.ts');
  return openDeployment(io, options.name, (dp, state, ruleName, bundle) => {
    const locations = new Map(bundle.rules.map((r) => [r.id, locationText(r.file, r.line)]));
    const proto = options.proto === undefined ? undefined : /^\d+$/.test(options.proto) ? Number(options.proto) : protoNumber(options.proto);
    const matching = readSessions(dp)
      .map((s) => ({ raw: s, view: viewSession(s, ruleName, monotonicNs(), (id) => locations.get(id) ?? null) }))
      .filter(({ raw, view }) => {
        if (proto !== undefined && raw.proto !== proto) return false;
        if (options.port !== undefined && raw.portA !== options.port && raw.portB !== options.port) return false;
        if (options.address !== undefined && view.a !== options.address && view.b !== options.address) return false;
        return matchesState(view, options.state);
      });
    if (options.flush === true) {
      let removed = 0;
      for (const { raw } of matching) if (deleteSession(dp, raw.key)) removed++;
      io.stdout.write(options.json === true ? JSON.stringify({ flushed: removed }) + '\n' : `flushed ${removed} session(s) of '${state.current.name}'\n`);
      return 'ok';
    }
    let views = matching.map((m) => m.view);
    if (options.sort !== undefined) sortSessions(views, options.sort);
    if (options.countBy === 'source') {
      const counts = countBySource(views).slice(0, options.limit);
      if (options.json === true) io.stdout.write(JSON.stringify({ total: views.length, bySource: counts }) + '\n');
      else {
        io.stdout.write(`${views.length} session(s) from ${countBySource(views).length} source(s)\n`);
        for (const c of counts) io.stdout.write(`${String(c.sessions).padStart(8)}  ${c.source}\n`);
      }
      return 'ok';
    }
    if (options.limit !== undefined) views = views.slice(0, options.limit);
    if (options.json === true) io.stdout.write(JSON.stringify({ sessions: views }) + '\n');
    else if (views.length === 0) io.stdout.write('no sessions\n');
    else {
      for (const v of views) {
        const ports = v.proto === 'tcp' || v.proto === 'udp' || v.proto === 'sctp';
        const end = (addr: string, port: number) => (ports ? `${addr.includes(':') ? `[${addr}]` : addr}:${port}` : addr);
        io.stdout.write(
          `${v.proto.padEnd(6)} ${end(v.a, v.portA)} <-> ${end(v.b, v.portB)}  ${v.state}, opened ${v.direction} by ${v.source}, ${v.rule ?? 'default'}, ` +
            `${v.packets} packets, ${v.bytes} bytes, idle ${v.idleSeconds.toFixed(1)}s, generation ${v.generation}\n`,
        );
      }
    }
    return 'ok';
  });
}

function protoNumber(name: string): number {
  const known: Record<string, number> = { icmp: 1, tcp: 6, udp: 17, icmpv6: 58, sctp: 132 };
  const n = known[name];
  if (n === undefined) throw new CliError('usage', `--proto: unknown protocol '${name}'`, 'use tcp, udp, icmp, icmpv6, sctp or a number');
  return n;
}
