// Packets as the language sees them: the header fields a rule can test. Shared by the
// reference interpreter, `explain`, analysis witnesses and the data-path tests.
import { parseAddress, formatAddress, type Family } from './cidr.ts';
import { PROTOCOL_NUMBERS, PORT_PROTOCOLS } from './ir.ts';
import { icmpTypeNumber } from './icmp-types.ts';

/**
 * One packet's classification fields. Ports are present only for tcp, udp and sctp packets
 * that carry their L4 header (not later IP fragments); ICMP type and code likewise only for
 * icmp/icmpv6 packets that carry it. A rule that tests an absent field does not match.
 */
export interface Packet {
  readonly proto: number;
  /** Canonical text: dotted IPv4 or RFC 5952 IPv6; both addresses are of one family. */
  readonly src: string;
  readonly dst: string;
  readonly srcPort?: number;
  readonly dstPort?: number;
  readonly icmpType?: number;
  readonly icmpCode?: number;
}

export function packetFamily(p: Packet): Family {
  return p.src.includes(':') ? 6 : 4;
}

const PROTO_NAMES: Readonly<Record<number, string>> = { 1: 'icmp', 6: 'tcp', 17: 'udp', 58: 'icmpv6', 132: 'sctp' };

/** The protocol's keyword (`tcp`) or its number as text. */
export function protocolName(proto: number): string {
  return PROTO_NAMES[proto] ?? String(proto);
}

/** `tcp 10.0.0.1:40000 -> 10.0.1.5:443`, the spec's PACKET syntax (cli.md). */
export function formatPacket(p: Packet): string {
  const side = (addr: string, port: number | undefined) =>
    port === undefined ? addr : addr.includes(':') ? `[${addr}]:${port}` : `${addr}:${port}`;
  let s = `${protocolName(p.proto)} ${side(p.src, p.srcPort)} -> ${side(p.dst, p.dstPort)}`;
  if (p.icmpType !== undefined) s += ` type ${p.icmpType}` + (p.icmpCode !== undefined ? ` code ${p.icmpCode}` : '');
  return s;
}

export type PacketParse = { readonly ok: true; readonly packet: Packet } | { readonly ok: false; readonly error: string };

export interface PacketParseOptions {
  /**
   * The source port of a tcp, udp or sctp packet written with only its destination port (the
   * test blocks' `tcp 10.0.0.1 -> 10.0.1.5:22`); without it, that is an error.
   */
  readonly defaultSourcePort?: number;
}

/** The source port a test packet gets when only its destination port is written. */
export const TEST_DEFAULT_SOURCE_PORT = 40000;

/**
 * Parses the spec's PACKET: `PROTO SRC[:PORT] -> DST[:PORT] [type T [code C]]`, IPv6 in
 * brackets when a port follows. A tcp/udp/sctp packet without ports is a later fragment.
 */
export function parsePacket(text: string, options: PacketParseOptions = {}): PacketParse {
  const m = /^\s*(\S+)\s+(\S+)\s*->\s*(\S+)(?:\s+type\s+(\S+)(?:\s+code\s+(\d+))?)?\s*$/.exec(text);
  if (!m) return { ok: false, error: `'${text}' is not a packet; write it as PROTO SRC[:PORT] -> DST[:PORT], e.g. tcp 10.0.0.1:40000 -> 10.0.1.5:443` };
  const [, protoText = '', srcText = '', dstText = '', typeText, codeText] = m;
  const proto =
    Object.hasOwn(PROTOCOL_NUMBERS, protoText) ? PROTOCOL_NUMBERS[protoText as keyof typeof PROTOCOL_NUMBERS] : /^\d{1,3}$/.test(protoText) ? Number(protoText) : NaN;
  if (!(proto >= 0 && proto <= 255)) return { ok: false, error: `unknown protocol '${protoText}': use tcp, udp, sctp, icmp, icmpv6 or a number 0-255` };
  const src = parseEndpoint(srcText);
  const dst = parseEndpoint(dstText);
  if (typeof src === 'string') return { ok: false, error: src };
  if (typeof dst === 'string') return { ok: false, error: dst };
  if (src.family !== dst.family) return { ok: false, error: 'source and destination must be of one family (both IPv4 or both IPv6)' };
  const hasPorts = PORT_PROTOCOLS.includes(proto);
  if (!hasPorts && (src.port !== undefined || dst.port !== undefined)) return { ok: false, error: `${protocolName(proto)} packets have no ports` };
  if (hasPorts && src.port === undefined && dst.port !== undefined && options.defaultSourcePort !== undefined) src.port = options.defaultSourcePort;
  if (hasPorts && (src.port === undefined) !== (dst.port === undefined)) return { ok: false, error: 'give both ports, or neither (a later fragment)' };
  const packet: { -readonly [K in keyof Packet]: Packet[K] } = { proto, src: src.addr, dst: dst.addr };
  if (src.port !== undefined) packet.srcPort = src.port;
  if (dst.port !== undefined) packet.dstPort = dst.port;
  if (typeText !== undefined) {
    const icmpProto = src.family === 4 ? 1 : 58;
    if (proto !== icmpProto) return { ok: false, error: `'type' needs protocol ${src.family === 4 ? 'icmp' : 'icmpv6'} for IPv${src.family}` };
    const type = /^\d+$/.test(typeText) ? Number(typeText) : icmpTypeNumber(src.family, typeText);
    if (type === undefined || type > 255) return { ok: false, error: `unknown ICMP type '${typeText}'` };
    packet.icmpType = type;
    packet.icmpCode = codeText === undefined ? 0 : Number(codeText);
    if (packet.icmpCode > 255) return { ok: false, error: `ICMP code ${codeText} is out of range` };
  }
  return { ok: true, packet };
}

function parseEndpoint(text: string): { family: Family; addr: string; port?: number } | string {
  let addrText = text;
  let portText: string | undefined;
  const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  if (bracket) {
    addrText = bracket[1] ?? '';
    portText = bracket[2];
  } else if (!text.includes(':') || /^[\d.]+:\d+$/.test(text)) {
    const colon = text.indexOf(':');
    if (colon >= 0) {
      addrText = text.slice(0, colon);
      portText = text.slice(colon + 1);
    }
  }
  const a = parseAddress(addrText);
  if (!a) return `'${addrText}' is not an IPv4 or IPv6 address`;
  const out: { family: Family; addr: string; port?: number } = { family: a.family, addr: formatAddress(a.family, a.value) };
  if (portText !== undefined) {
    const port = Number(portText);
    if (!(port >= 0 && port <= 65535)) return `port ${portText} is out of range (0-65535)`;
    out.port = port;
  }
  return out;
}
