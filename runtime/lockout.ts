// Runtime: the management flows of this host, for the lock-out guard (compiler/lockout.ts):
// the SSH connection the command runs under (SSH_CONNECTION / SSH_CLIENT), the established
// inbound sessions to the SSH port in a deployment's session table, and the `--keep` list
// (entries like `tcp 22`, or packets). Returns a HostContext the compiler checks.
import { spawnSync } from 'node:child_process';
import { SegSessionFlag, SegState } from './datapath/abi.ts';
import { formatAddress } from '../compiler/cidr.ts';
import { parseFlow, parseKeep, sshFlow, type KeepEntry, type ManagementFlow } from '../compiler/lockout.ts';
import type { HostContext } from '../compiler/program.ts';

/** The port sshd listens on unless SSH_CONNECTION names another. */
export const DEFAULT_SSH_PORT = 22;

export interface ManagementRequest {
  readonly env: Readonly<Record<string, string | undefined>>;
  /** `--keep` entries: `tcp 22`, `egress udp 53`, or packets `tcp 10.0.0.2:50000 -> 10.0.0.1:22`. */
  readonly keep: readonly string[];
  /** Pins of the deployment being replaced, whose session table holds the established SSH sessions. */
  readonly pinDir?: string;
  readonly audit?: boolean;
  /**
   * The interfaces the policy goes on: the SSH connection counts only when its replies leave
   * through one of them (`ip route get CLIENT`); absent (check --host-context), it always counts.
   */
  readonly interfaces?: readonly string[];
}

/** Thrown for a `--keep` entry that is neither a keep entry nor a packet (a usage error). */
export class KeepError extends Error {
  override readonly name = 'KeepError';
}

export async function managementContext(request: ManagementRequest): Promise<HostContext> {
  const flows: ManagementFlow[] = [];
  const keeps: KeepEntry[] = [];
  for (const text of request.keep) {
    if (text.includes('->')) {
      const f = parseFlow(text, `the kept management flow '${text.trim()}'`);
      if (!f.ok) throw new KeepError(`--keep '${text}': ${f.error}`);
      flows.push(f.flow);
    } else {
      const k = parseKeep(text);
      if (!k.ok) throw new KeepError(`--keep ${k.error}`);
      keeps.push(k.keep);
    }
  }
  const ssh = sshFlow(request.env);
  if (ssh && crossesInterfaces(ssh.packet.src, request.interfaces)) flows.push(ssh);
  const sshPorts = new Set([DEFAULT_SSH_PORT, ...(ssh?.packet.dstPort === undefined ? [] : [ssh.packet.dstPort])]);
  // A loop: the session table may hold a million SSH sessions, too many to spread as arguments.
  if (request.pinDir !== undefined) for (const flow of await sshSessions(request.pinDir, sshPorts)) flows.push(flow);
  return { flows, keeps, ...(request.audit === true ? { audit: true } : {}) };
}

/**
 * Whether traffic to `client` leaves through one of `interfaces` (so the policy sees the SSH
 * connection): an operator logged in over eth0 is not cut by a policy deployed on eth1 only.
 * When the route cannot be asked, the connection counts (the guard errs on the safe side).
 */
function crossesInterfaces(client: string, interfaces: readonly string[] | undefined): boolean {
  if (interfaces === undefined) return true;
  const r = spawnSync('ip', ['-o', 'route', 'get', client], { encoding: 'utf8', timeout: 5_000 });
  const dev = r.status === 0 ? /\bdev (\S+)/.exec(r.stdout)?.[1] : undefined;
  return dev === undefined || interfaces.includes(dev);
}

/**
 * Inbound TCP sessions to an SSH port in the deployment's session table, as their first
 * packets. Nothing when the pins cannot be read (no deployment yet, not root): the other
 * sources still count.
 */
async function sshSessions(pinDir: string, ports: ReadonlySet<number>): Promise<ManagementFlow[]> {
  const { existsSync } = await import('node:fs');
  if (!existsSync(pinDir) || process.getuid?.() !== 0) return [];
  const { openPinnedDatapath, releaseDatapath } = await import('./deploy.ts');
  const { readSessions } = await import('./datapath/sessions.ts');
  let dp;
  try {
    dp = openPinnedDatapath(pinDir);
  } catch {
    return [];
  }
  try {
    const flows: ManagementFlow[] = [];
    for (const s of readSessions(dp)) {
      // Established only: a closing or half-open session is nobody's shell.
      if (s.proto !== 6 || s.direction !== 'ingress' || s.verdict !== 'allow' || s.state !== SegState.SEG_STATE_TCP_ESTABLISHED) continue;
      const initiatorA = (s.flags & SegSessionFlag.SEG_SESSION_INITIATOR_A) !== 0;
      const [src, srcPort, dst, dstPort] = initiatorA ? [s.addrA, s.portA, s.addrB, s.portB] : [s.addrB, s.portB, s.addrA, s.portA];
      if (!ports.has(dstPort)) continue;
      const text = (b: Uint8Array) => formatAddress(s.family, b.reduce((v, x) => (v << 8n) | BigInt(x), 0n));
      flows.push({ direction: 'ingress', packet: { proto: 6, src: text(src), dst: text(dst), srcPort, dstPort }, origin: 'an established SSH session in the session table' });
    }
    return flows;
  } finally {
    releaseDatapath(dp, true);
  }
}
