// Rule analysis: the lock-out guard. Takes a policy's IR and the flows that manage the host (the
// SSH connection a deploy runs under, established SSH sessions, `keep` entries such as
// `tcp 22`); returns one SEG5101 diagnostic for each flow the policy would deny, at the rule
// (or default) that denies it. Concrete flows are asked of the reference interpreter; a keep
// entry stands for every packet it names, so it is checked exactly, as a region, with the
// diff engine (the keep entries as an allow-list policy against the new one).
import { parsePrefix } from './cidr.ts';
import { Code, makeDiagnostic, type Diagnostic } from './diagnostics.ts';
import { diffPolicies } from './diff.ts';
import { evaluate } from './evaluate.ts';
import { DIRECTIONS, PORT_PROTOCOLS, PROTOCOL_NUMBERS, type Direction, type ProgramIr, type RuleIr } from './ir.ts';
import { formatPacket, parsePacket, type Packet } from './packet.ts';
import type { Span } from './source.ts';

/** One connection that manages the host, as its first packet (the one the policy judges). */
export interface ManagementFlow {
  readonly direction: Direction;
  readonly packet: Packet;
  /** Where it comes from, for the message: `the SSH connection this command runs under (SSH_CONNECTION)`. */
  readonly origin: string;
}

/** `[ingress|egress] PROTO [PORT[-PORT]] [from PREFIX]`: every such packet must stay allowed. */
export interface KeepEntry {
  readonly direction: Direction;
  readonly proto: string;
  readonly ports: readonly [number, number] | null;
  readonly from: string | null;
  /** As the user wrote it. */
  readonly text: string;
}

export type KeepParse = { readonly ok: true; readonly keep: KeepEntry } | { readonly ok: false; readonly error: string };

/** Parses a keep entry: `tcp 22`, `udp 53`, `egress udp 53`, `tcp 22 from 10.0.0.0/8`, `tcp 9000-9100`. */
export function parseKeep(text: string): KeepParse {
  const m = /^\s*(?:(ingress|egress)\s+)?(\w+)(?:\s+(\d{1,5})(?:-(\d{1,5}))?)?(?:\s+from\s+(\S+))?\s*$/.exec(text);
  const usage = `'${text}' is not a management flow; write [ingress|egress] PROTO [PORT[-PORT]] [from PREFIX], e.g. 'tcp 22', or a packet 'tcp 10.0.0.2:50000 -> 10.0.0.1:22'`;
  if (!m) return { ok: false, error: usage };
  const [, dir, proto = '', lo, hi, from] = m;
  const number = Object.hasOwn(PROTOCOL_NUMBERS, proto) ? PROTOCOL_NUMBERS[proto as keyof typeof PROTOCOL_NUMBERS] : /^\d{1,3}$/.test(proto) && Number(proto) <= 255 ? Number(proto) : undefined;
  if (number === undefined) return { ok: false, error: `unknown protocol '${proto}' in '${text}': use tcp, udp, sctp, icmp, icmpv6 or a number 0-255` };
  let ports: [number, number] | null = null;
  if (lo !== undefined) {
    if (!PORT_PROTOCOLS.includes(number)) return { ok: false, error: `'${text}': ${proto} has no ports` };
    ports = [Number(lo), Number(hi ?? lo)];
    if (ports[0] > 65535 || ports[1] > 65535 || ports[0] > ports[1]) return { ok: false, error: `'${text}': ports run from 0 to 65535, low to high` };
  }
  if (from !== undefined && !parsePrefix(from).ok) return { ok: false, error: `'${text}': '${from}' is not an address or prefix without host bits` };
  return { ok: true, keep: { direction: dir === 'egress' ? 'egress' : 'ingress', proto, ports, from: from ?? null, text: text.trim() } };
}

/** A concrete flow: `[ingress|egress] PACKET` (ingress when not said). */
export function parseFlow(text: string, origin: string): { readonly ok: true; readonly flow: ManagementFlow } | { readonly ok: false; readonly error: string } {
  const m = /^\s*(?:(ingress|egress)\s+)?(.*)$/.exec(text);
  const parsed = parsePacket(m?.[2] ?? text);
  if (!parsed.ok) return { ok: false, error: parsed.error };
  return { ok: true, flow: { direction: m?.[1] === 'egress' ? 'egress' : 'ingress', packet: parsed.packet, origin } };
}

/**
 * `SSH_CONNECTION` (`client port server port`) or `SSH_CLIENT` (`client port serverport`, no
 * server address: then the client's family's unspecified address stands in, which any `to any`
 * rule matches) as the inbound TCP flow sshd accepted.
 */
export function sshFlow(env: Readonly<Record<string, string | undefined>>): ManagementFlow | undefined {
  const conn = env['SSH_CONNECTION']?.trim().split(/\s+/);
  if (conn?.length === 4) {
    const [client = '', cport = '', server = '', sport = ''] = conn;
    const flow = parseFlow(`tcp ${endpoint(client, cport)} -> ${endpoint(server, sport)}`, 'the SSH connection this command runs under (SSH_CONNECTION)');
    if (flow.ok) return flow.flow;
  }
  const client = env['SSH_CLIENT']?.trim().split(/\s+/);
  if (client?.length === 3) {
    const [addr = '', cport = '', sport = ''] = client;
    const flow = parseFlow(`tcp ${endpoint(addr, cport)} -> ${endpoint(addr.includes(':') ? '::' : '0.0.0.0', sport)}`, 'the SSH connection this command runs under (SSH_CLIENT)');
    if (flow.ok) return flow.flow;
  }
  return undefined;
}

function endpoint(addr: string, port: string): string {
  // sshd writes IPv4-mapped clients as ::ffff:a.b.c.d when it listens on ::.
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(addr);
  const a = mapped?.[1] ?? addr;
  return a.includes(':') ? `[${a}]:${port}` : `${a}:${port}`;
}

/** The keep entries as a policy that allows exactly them (and denies everything else). */
export function keepPolicyText(keeps: readonly KeepEntry[]): string {
  const rules = (direction: Direction) =>
    keeps
      .map((k, i) => ({ k, i }))
      .filter(({ k }) => k.direction === direction)
      .map(({ k, i }) => `  ${i + 1} keep${i}: allow ${k.proto} from ${k.from ?? 'any'} to any${k.ports === null ? '' : ` port ${k.ports[0] === k.ports[1] ? k.ports[0] : `${k.ports[0]}-${k.ports[1]}`}`}\n`)
      .join('');
  return DIRECTIONS.map((d) => `policy ${d} default deny {\n${rules(d)}}\n`).join('');
}

export interface LockoutOptions {
  /** The whole policy in audit mode: nothing is denied, so nothing is locked out. */
  readonly audit?: boolean;
  /** Where to point when no rule or stated default can be named. */
  readonly fallbackFile?: string;
}

/**
 * The management flows `ir` would deny. `keepIr` is `keepPolicyText(keeps)` compiled (the
 * caller compiles: this module does not reach for the front end).
 */
export function findLockouts(ir: ProgramIr, flows: readonly ManagementFlow[], keeps: readonly KeepEntry[], keepIr: ProgramIr | undefined, options: LockoutOptions = {}): Diagnostic[] {
  if (options.audit === true) return [];
  const out: Diagnostic[] = [];
  const seen = new Set<string>();
  const report = (direction: Direction, packet: Packet, origin: string, rule: RuleIr | null, what: string) => {
    const flow = `${direction} ${formatPacket(packet)}`;
    const key = `${flow} ${origin}`;
    if (seen.has(key)) return;
    seen.add(key);
    const dir = ir[direction];
    const span: Span = rule?.span ?? dir.defaultSpan ?? { file: options.fallbackFile ?? ir.files[0] ?? '', start: 0, end: 0 };
    const decider = rule === null ? `the ${direction} default (deny)` : `${direction} rule '${rule.name}'`;
    out.push(makeDiagnostic(Code.ManagementFlowDenied, span, { flow, origin, what, rule: decider }, { witness: witnessOf(packet) }));
  };
  for (const f of flows) {
    const d = evaluate(ir[f.direction], f.packet);
    if (d.verdict === 'deny' && !d.audit) report(f.direction, f.packet, f.origin, d.rule, 'this connection');
  }
  if (keepIr !== undefined && keeps.length > 0) {
    const diff = diffPolicies(keepIr, ir);
    for (const region of diff.regions) {
      if (region.before.verdict !== 'allow' || region.after.verdict !== 'deny') continue;
      const rule = region.after.rule === null ? null : (ir[region.direction].rules.find((r) => r.name === region.after.rule?.name) ?? null);
      if (rule?.audit === true) continue;
      const index = Number(/^keep(\d+)$/.exec(region.before.rule?.name ?? '')?.[1]);
      const keep = keeps[index];
      report(region.direction, region.example, `the kept management flow '${keep?.text ?? '?'}'`, rule, 'packets like this one');
    }
  }
  return out;
}

function witnessOf(p: Packet): Diagnostic['witness'] {
  return {
    proto: formatPacket(p).split(' ')[0] ?? String(p.proto),
    src: p.src,
    dst: p.dst,
    ...(p.srcPort === undefined ? {} : { srcPort: p.srcPort }),
    ...(p.dstPort === undefined ? {} : { dstPort: p.dstPort }),
    ...(p.icmpType === undefined ? {} : { icmpType: p.icmpType }),
    ...(p.icmpCode === undefined ? {} : { icmpCode: p.icmpCode }),
  };
}
