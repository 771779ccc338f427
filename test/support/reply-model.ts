// The tests' own model of a flow's reply and of which packets open a session, written from the
// data path's rules (bpf/lib/session.h, seg_session_key_of) and kept apart from the compiler's
// analysis (compiler/analysis/no-session.ts), which the `nosession` tests check against it.
import { packetFamily, type Packet } from '../../compiler/packet.ts';

/** The packet's reply: addresses and ports swapped, echo request and reply exchanged. */
export function replyOf(p: Packet): Packet {
  const echo: Record<number, number> = p.proto === 1 ? { 8: 0, 0: 8 } : p.proto === 58 ? { 128: 129, 129: 128 } : {};
  return {
    proto: p.proto,
    src: p.dst,
    dst: p.src,
    ...(p.dstPort !== undefined ? { srcPort: p.dstPort } : {}),
    ...(p.srcPort !== undefined ? { dstPort: p.srcPort } : {}),
    ...(p.icmpType !== undefined ? { icmpType: echo[p.icmpType] ?? p.icmpType } : {}),
    ...(p.icmpCode !== undefined ? { icmpCode: p.icmpCode } : {}),
  };
}

/** Whether the data path opens a session for the packet when it is allowed. */
export function opensSession(p: Packet): boolean {
  const icmp = packetFamily(p) === 4 ? 1 : 58;
  if ([6, 17, 132].includes(p.proto)) return p.srcPort !== undefined;
  if (p.proto === icmp) return p.icmpType !== undefined && (icmp === 1 ? [0, 8] : [128, 129]).includes(p.icmpType);
  return true;
}
