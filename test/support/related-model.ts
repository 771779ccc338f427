// Test support: the reference of the stateful rules the data path adds to the language's
// meaning (bpf/lib/related.h, docs/datapath.md "Related ICMP"), written plainly: a table of
// sessions by flow, and whether an ICMP error is related to one of them. The differential
// tests hold the kernel against it; classification itself is evaluate.ts's.
import type { Direction } from '../../compiler/ir.ts';
import { packetFamily, type Packet } from '../../compiler/packet.ts';

/** A flow's first packet as a session remembers it; ICMP echo carries its identifier. */
export interface FlowPacket extends Packet {
  readonly echoId?: number;
}

export interface ModelSession {
  readonly first: FlowPacket;
  readonly firstDir: Direction;
  /** The rule that allowed the first packet, or null for the default. */
  readonly rule: number | null;
}

/** ICMP error types (quoting the packet they concern), per family. */
export const ICMP_ERROR_TYPES: Readonly<Record<4 | 6, readonly number[]>> = { 4: [3, 11, 12], 6: [1, 2, 3, 4] };

const ECHO_TYPES: Readonly<Record<4 | 6, readonly number[]>> = { 4: [0, 8], 6: [128, 129] };

/** One end of a flow as the session key holds it: address and port (or echo id). */
function end(addr: string, port: number): string {
  return `${addr}#${port}`;
}

/** The flow's two ends (source first), or null for packets that belong to no session. */
function ends(p: FlowPacket): [string, string] | null {
  const family = packetFamily(p);
  if (p.proto === (family === 4 ? 1 : 58)) {
    if (p.icmpType === undefined || !ECHO_TYPES[family].includes(p.icmpType) || p.echoId === undefined) return null;
    return [end(p.src, p.echoId), end(p.dst, p.echoId)];
  }
  if (p.srcPort !== undefined && p.dstPort !== undefined) return [end(p.src, p.srcPort), end(p.dst, p.dstPort)];
  return [end(p.src, 0), end(p.dst, 0)];
}

function flowKey(p: FlowPacket): string | null {
  const e = ends(p);
  if (!e) return null;
  const [x, y] = e[0] <= e[1] ? e : [e[1], e[0]];
  return `${p.proto}|${x}|${y}`;
}

export class SessionModel {
  readonly #sessions = new Map<string, ModelSession>();

  /** Records the first allowed packet of a flow; false when it belongs to no session or has one. */
  open(first: FlowPacket, firstDir: Direction, rule: number | null): boolean {
    const key = flowKey(first);
    if (key === null || this.#sessions.has(key)) return false;
    this.#sessions.set(key, { first, firstDir, rule });
    return true;
  }

  find(p: FlowPacket): ModelSession | undefined {
    const key = flowKey(p);
    return key === null ? undefined : this.#sessions.get(key);
  }

  get size(): number {
    return this.#sessions.size;
  }

  all(): ModelSession[] {
    return [...this.#sessions.values()];
  }
}

/** An ICMP error as the related rule sees it: its own header and the packet it quotes. */
export interface IcmpError {
  readonly family: 4 | 6;
  readonly type: number;
  readonly outerDst: string;
  /** The quoted packet (null: the quote does not parse as one). */
  readonly quoted: FlowPacket | null;
}

/**
 * The session an ICMP error crossing `dir` is related to, or undefined: an error type, a
 * quoted packet of a session's flow, sent back to the quoted packet's source, crossing the
 * hook opposite to the one the quoted packet crossed (from the session's first direction and
 * whether the quoted packet came from the initiator).
 */
export function relatedSession(sessions: SessionModel, dir: Direction, error: IcmpError): ModelSession | undefined {
  if (!ICMP_ERROR_TYPES[error.family].includes(error.type)) return undefined;
  const q = error.quoted;
  if (q === null || packetFamily(q) !== error.family || error.outerDst !== q.src) return undefined;
  const s = sessions.find(q);
  if (!s) return undefined;
  const qEnds = ends(q);
  const firstEnds = ends(s.first);
  if (!qEnds || !firstEnds) return undefined;
  const fromInitiator = qEnds[0] === firstEnds[0];
  const quotedDir: Direction = fromInitiator ? s.firstDir : s.firstDir === 'ingress' ? 'egress' : 'ingress';
  return dir === quotedDir ? undefined : s;
}
