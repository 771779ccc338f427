// Test support: ICMP and ICMPv6 error frames quoting a packet (its IP header and the first 8
// bytes of its L4 header, as routers send them), built on runtime/packet-bytes.ts.
import type { Packet } from '../../compiler/packet.ts';
import { packetFamily } from '../../compiler/packet.ts';
import { buildFrame, ETH_HLEN, IPV4_HLEN, IPV6_HLEN } from '../../runtime/packet-bytes.ts';
import type { FlowPacket } from './related-model.ts';

/** The IP packet of `quoted` (header + 8 bytes of L4), as an error quotes it. */
export function quotedBytes(quoted: FlowPacket): Uint8Array {
  const frame = buildFrame(quoted, { tcpFlags: 'ack', icmpRest: quoted.echoId === undefined ? 0 : (quoted.echoId << 16) | 1 });
  const ipHeader = packetFamily(quoted) === 4 ? IPV4_HLEN : IPV6_HLEN;
  return frame.slice(ETH_HLEN, ETH_HLEN + ipHeader + 8);
}

/** An ICMP (IPv4) or ICMPv6 error from `src` to `dst` quoting `quoted` (or any bytes). */
export function icmpErrorFrame(src: string, dst: string, type: number, code: number, quoted: FlowPacket | Uint8Array, rest = 0): Uint8Array {
  const outer: Packet = { proto: packetFamily({ proto: 0, src, dst }) === 4 ? 1 : 58, src, dst, icmpType: type, icmpCode: code };
  return buildFrame(outer, { icmpRest: rest, payload: quoted instanceof Uint8Array ? quoted : quotedBytes(quoted) });
}
