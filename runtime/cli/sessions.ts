// `segc sessions`: the session table of a deployment (the flows its policy allowed), read from
// the pinned map: list, filter by address, port or protocol, or flush (every flow's next
// packet is then classified again, like a new one).
import type { Command } from 'commander';
import { formatAddress } from '../../compiler/cidr.ts';
import { protocolName } from '../../compiler/packet.ts';
import type { SessionEntry } from '../loader.ts';
import { CliError, recordOutcome, type Outcome } from './command.ts';
import type { CliIo } from './io.ts';

export interface SessionsOptions {
  readonly name: string;
  readonly address?: string;
  readonly port?: number;
  readonly proto?: string;
  readonly flush?: boolean;
  readonly json?: boolean;
}

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
    .option('--flush', 'remove the matching sessions (all of them without a filter)')
    .option('--json', 'print the sessions as JSON')
    .addHelpText('after', '\nExamples:\n  $ sudo segc sessions\n  $ sudo segc sessions --port 22 --json\n  $ sudo segc sessions --address 10.0.0.5 --flush')
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
  readonly generation: number;
  readonly packets: number;
  readonly bytes: number;
}

export function viewSession(s: SessionEntry, ruleName: (id: number) => string): SessionView {
  const addr = (bytes: Uint8Array) => formatAddress(s.family, bytesToBigint(bytes));
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
    generation: Number(s.generation),
    packets: Number(s.packets),
    bytes: Number(s.bytes),
  };
}

function bytesToBigint(bytes: Uint8Array): bigint {
  let v = 0n;
  for (const b of bytes) v = (v << 8n) | BigInt(b);
  return v;
}

export async function sessionsCommand(options: SessionsOptions, io: CliIo): Promise<Outcome> {
  const { openDeployment } = await import('./deployment.ts');
  const { readSessions } = await import('../loader.ts');
  const { bpf_map_delete_elem } = await import('../libbpf.ts');
  const { SegMap } = await import('../../compiler/abi.ts');
  return openDeployment(io, options.name, (dp, state, ruleName) => {
    const proto = options.proto === undefined ? undefined : /^\d+$/.test(options.proto) ? Number(options.proto) : protoNumber(options.proto);
    const matching = readSessions(dp)
      .map((s) => ({ raw: s, view: viewSession(s, ruleName) }))
      .filter(({ raw, view }) => {
        if (proto !== undefined && raw.proto !== proto) return false;
        if (options.port !== undefined && raw.portA !== options.port && raw.portB !== options.port) return false;
        if (options.address !== undefined && view.a !== options.address && view.b !== options.address) return false;
        return true;
      });
    if (options.flush === true) {
      const fd = dp.maps[SegMap.sessions] as number;
      let removed = 0;
      for (const { raw } of matching) if (bpf_map_delete_elem(fd, raw.key)) removed++;
      io.stdout.write(options.json === true ? JSON.stringify({ flushed: removed }) + '\n' : `flushed ${removed} session(s) of '${state.current.name}'\n`);
      return 'ok';
    }
    const views = matching.map((m) => m.view);
    if (options.json === true) io.stdout.write(JSON.stringify({ sessions: views }) + '\n');
    else if (views.length === 0) io.stdout.write('no sessions\n');
    else {
      for (const v of views) {
        const ports = v.proto === 'tcp' || v.proto === 'udp' || v.proto === 'sctp';
        const end = (addr: string, port: number) => (ports ? `${addr.includes(':') ? `[${addr}]` : addr}:${port}` : addr);
        io.stdout.write(`${v.proto.padEnd(6)} ${end(v.a, v.portA)} <-> ${end(v.b, v.portB)}  ${v.state}, opened ${v.direction}, ${v.rule ?? 'default'}, ${v.packets} packets, generation ${v.generation}\n`);
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
