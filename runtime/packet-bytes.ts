// Runtime: real frame bytes for BPF_PROG_TEST_RUN, `explain` and the data-path tests. Builds an
// Ethernet frame from a compiler `Packet` plus header options, and parses such frames back.
//
// Conventions, shared by the builder and the parser:
// - A tcp/udp/sctp `Packet` without ports, or an icmp/icmpv6 one without a type, is a later IP
//   fragment: its frame has a fragment offset > 0 and no L4 header. Any other packet carries
//   its L4 header (a first fragment included).
// - Protocol 1 is ICMP only in IPv4 and 58 is ICMPv6 only in IPv6 (as in `ir.ts`); elsewhere
//   they are unknown protocols whose payload follows the IP header directly.
// - Checksums (IPv4 header, TCP, UDP, ICMP, ICMPv6, SCTP's CRC32c) are computed over the bytes
//   of this frame before `truncateTo` cuts it; for fragments they are not meaningful.
// - An IPv6 `Packet.proto` is the upper-layer protocol after the extension headers, so the
//   extension-header numbers themselves cannot be a packet's protocol (`IPV6_EXTENSION_HEADERS`).
import { parseAddress, formatAddress, type Family } from '../compiler/cidr.ts';
import { PORT_PROTOCOLS } from '../compiler/ir.ts';
import type { Packet } from '../compiler/packet.ts';

/** EtherTypes the builder and parser know. */
export const ETH_P = { IPV4: 0x0800, ARP: 0x0806, VLAN: 0x8100, IPV6: 0x86dd, LLDP: 0x88cc } as const;

export const ETH_HLEN = 14;
export const VLAN_HLEN = 4;
export const IPV4_HLEN = 20;
export const IPV6_HLEN = 40;

/** TCP flag bits, as in the header's 13th byte. */
export const TCP_FLAGS = { FIN: 0x01, SYN: 0x02, RST: 0x04, PSH: 0x08, ACK: 0x10, URG: 0x20, ECE: 0x40, CWR: 0x80 } as const;

/** Named flag sets for the segments a TCP state machine cares about. */
export const TCP_FLAG_SETS = {
  syn: TCP_FLAGS.SYN,
  'syn-ack': TCP_FLAGS.SYN | TCP_FLAGS.ACK,
  ack: TCP_FLAGS.ACK,
  'psh-ack': TCP_FLAGS.PSH | TCP_FLAGS.ACK,
  fin: TCP_FLAGS.FIN,
  'fin-ack': TCP_FLAGS.FIN | TCP_FLAGS.ACK,
  rst: TCP_FLAGS.RST,
  'rst-ack': TCP_FLAGS.RST | TCP_FLAGS.ACK,
} as const;
export type TcpFlagSetName = keyof typeof TCP_FLAG_SETS;

/** IPv6 next-header values that name an extension header, not an upper-layer protocol. */
export const IPV6_EXT = { HOP_BY_HOP: 0, ROUTING: 43, FRAGMENT: 44, AUTH: 51, DESTINATION: 60 } as const;
export const IPV6_EXTENSION_HEADERS: readonly number[] = Object.values(IPV6_EXT);
/** "No next header": the IPv6 chain ends with nothing after it. */
export const IPV6_NO_NEXT_HEADER = 59;

export type Ipv6ExtensionKind = 'hop-by-hop' | 'routing' | 'fragment' | 'auth' | 'destination';

const EXT_KIND_NUMBER: Readonly<Record<Ipv6ExtensionKind, number>> = {
  'hop-by-hop': IPV6_EXT.HOP_BY_HOP,
  routing: IPV6_EXT.ROUTING,
  fragment: IPV6_EXT.FRAGMENT,
  auth: IPV6_EXT.AUTH,
  destination: IPV6_EXT.DESTINATION,
};

/** IP fragmentation: `offset` in 8-byte units (0-8191); `id` defaults to 0x1234. */
export interface FragmentOptions {
  readonly offset: number;
  readonly moreFragments: boolean;
  readonly id?: number;
}

/**
 * One IPv6 extension header. `length` is the header's total size in bytes (a multiple of 8,
 * at least 8; the auth header's a multiple of 4, at least 12); options are padded with PadN.
 * A `fragment` entry places the fragment header at that point of the chain.
 */
export type Ipv6ExtensionHeader =
  | { readonly kind: 'hop-by-hop' | 'destination'; readonly length?: number }
  | { readonly kind: 'routing'; readonly routingType?: number; readonly segmentsLeft?: number; readonly length?: number }
  | { readonly kind: 'auth'; readonly length?: number }
  | ({ readonly kind: 'fragment' } & FragmentOptions);

export interface VlanTag {
  /** VLAN id, 0-4095. */
  readonly id: number;
  /** Priority code point, 0-7. */
  readonly priority?: number;
}

export interface FrameOptions {
  /** `aa:bb:cc:dd:ee:ff`; defaults 02:00:00:00:00:01 (source) and 02:00:00:00:00:02. */
  readonly srcMac?: string;
  readonly dstMac?: string;
  /** One 802.1Q tag between the MAC addresses and the EtherType. */
  readonly vlan?: VlanTag;
  /** IPv4 TTL or IPv6 hop limit; 64 by default. */
  readonly ttl?: number;
  /**
   * IPv4 options, making IHL > 5: a byte count (a multiple of 4, at most 40, filled with NOPs
   * and an end-of-list) or the option bytes themselves (padded with end-of-list to 4).
   */
  readonly ipv4Options?: number | Uint8Array;
  /**
   * Make the packet an IP fragment. IPv4: flags and offset in the header. IPv6: a fragment
   * header after the listed extension headers (unless they list one themselves). A packet
   * without its L4 fields defaults to `{ offset: 185, moreFragments: false }`.
   */
  readonly fragment?: FragmentOptions;
  /** IPv6 extension headers in chain order. */
  readonly ipv6ExtensionHeaders?: readonly Ipv6ExtensionHeader[];
  /** TCP flags: a named set or the flag bits; `syn` by default. */
  readonly tcpFlags?: TcpFlagSetName | number;
  /** TCP data offset in 32-bit words, 5-15; the options are NOPs (after `tcpOptions`). */
  readonly tcpDataOffset?: number;
  /** TCP option bytes (e.g. a window scale: 3, 3, shift), padded with NOPs to a word. */
  readonly tcpOptions?: Uint8Array;
  /** The TCP window field; 65535 by default. */
  readonly tcpWindow?: number;
  /** 1000 by default, from either side. */
  readonly tcpSeq?: number;
  /** With ACK set, 1001 by default: it acknowledges a default SYN (sequence 1000); else 0. */
  readonly tcpAck?: number;
  /** SCTP verification tag; 0 by default (as in an INIT). */
  readonly sctpVerificationTag?: number;
  /** The ICMP header's last four bytes (echo identifier << 16 | sequence). */
  readonly icmpRest?: number;
  /** Bytes after the L4 header (or after the IP header for other protocols). */
  readonly payload?: Uint8Array;
  /** Cut the finished frame to this many bytes (length fields keep their full values). */
  readonly truncateTo?: number;
}

const DEFAULT_SRC_MAC = '02:00:00:00:00:01';
const DEFAULT_DST_MAC = '02:00:00:00:00:02';
const DEFAULT_LATER_FRAGMENT: FragmentOptions = { offset: 185, moreFragments: false };
const DEFAULT_FRAGMENT_ID = 0x1234;

const IPV4_FLAG_DF = 0x4000;
const IPV4_FLAG_MF = 0x2000;
const IPV4_OFFSET_MASK = 0x1fff;

const L4_HEADER_LENGTH: Readonly<Record<number, number>> = { 6: 20, 17: 8, 132: 12 };
const ICMP_HLEN = 8;

/** Which L4 header a packet of this family and protocol carries, if any. */
function l4Kind(family: Family, proto: number): 'tcp' | 'udp' | 'sctp' | 'icmp' | 'icmpv6' | undefined {
  if (proto === 6) return 'tcp';
  if (proto === 17) return 'udp';
  if (proto === 132) return 'sctp';
  if (proto === 1 && family === 4) return 'icmp';
  if (proto === 58 && family === 6) return 'icmpv6';
  return undefined;
}

/** Builds the Ethernet frame of `packet`; throws RangeError when packet and options disagree. */
export function buildFrame(packet: Packet, options: FrameOptions = {}): Uint8Array {
  const src = parseAddress(packet.src);
  const dst = parseAddress(packet.dst);
  if (!src || !dst) throw new RangeError(`packet addresses '${packet.src}' and '${packet.dst}' must be IPv4 or IPv6`);
  if (src.family !== dst.family) throw new RangeError('packet addresses must be of one family');
  const family = src.family;
  if (!(Number.isInteger(packet.proto) && packet.proto >= 0 && packet.proto <= 255)) throw new RangeError(`protocol ${packet.proto} is not 0-255`);
  if (family === 6 && IPV6_EXTENSION_HEADERS.includes(packet.proto)) {
    throw new RangeError(`IPv6 next header ${packet.proto} is an extension header, not a packet protocol`);
  }
  const kind = l4Kind(family, packet.proto);
  const hasPortFields = packet.srcPort !== undefined || packet.dstPort !== undefined;
  const hasIcmpFields = packet.icmpType !== undefined || packet.icmpCode !== undefined;
  if (hasPortFields && !PORT_PROTOCOLS.includes(packet.proto)) throw new RangeError(`protocol ${packet.proto} has no ports`);
  if (hasIcmpFields && kind !== 'icmp' && kind !== 'icmpv6') throw new RangeError(`protocol ${packet.proto} of IPv${family} has no ICMP type`);
  if (hasPortFields && (packet.srcPort === undefined || packet.dstPort === undefined)) throw new RangeError('give both ports or neither');
  if (packet.icmpCode !== undefined && packet.icmpType === undefined) throw new RangeError('an ICMP code needs a type');

  // A packet whose L4 fields are absent is a later fragment (see the file header).
  const carriesL4 = kind === undefined ? false : kind === 'icmp' || kind === 'icmpv6' ? hasIcmpFields : hasPortFields;
  const laterFragment = kind !== undefined && !carriesL4;
  const fragment = options.fragment ?? (laterFragment ? DEFAULT_LATER_FRAGMENT : undefined);
  const listedFragment = options.ipv6ExtensionHeaders?.find((h) => h.kind === 'fragment');
  if (listedFragment && options.fragment) throw new RangeError('give the IPv6 fragment header either as `fragment` or in `ipv6ExtensionHeaders`, not both');
  if (family === 4 && options.ipv6ExtensionHeaders?.length) throw new RangeError('IPv6 extension headers on an IPv4 packet');
  const effectiveFragment = listedFragment ?? fragment;
  if (effectiveFragment) checkFragment(effectiveFragment);
  const fragmentOffset = effectiveFragment?.offset ?? 0;
  if (laterFragment && fragmentOffset === 0) {
    throw new RangeError(`a ${kind} packet without its ${kind === 'icmp' || kind === 'icmpv6' ? 'type' : 'ports'} is a later fragment: give fragment.offset > 0`);
  }
  if (carriesL4 && fragmentOffset > 0) throw new RangeError('a later fragment (offset > 0) carries no L4 header: drop the ports or ICMP type');

  const l4 = carriesL4 ? buildL4Header(packet, kind, options) : new Uint8Array(0);
  const payload = options.payload ?? new Uint8Array(0);
  const ipPayload = concatBytes([l4, payload]);

  let ip: Uint8Array;
  let l4Offset: number;
  if (family === 4) {
    const header = buildIpv4Header(src.value, dst.value, packet.proto, ipPayload.length, options, fragment);
    ip = concatBytes([header, ipPayload]);
    l4Offset = header.length;
  } else {
    const extensions = [...(options.ipv6ExtensionHeaders ?? [])];
    if (fragment && !listedFragment) extensions.push({ kind: 'fragment', ...fragment });
    const fragmentIndex = extensions.findIndex((h) => h.kind === 'fragment');
    if (fragmentOffset > 0 && fragmentIndex >= 0 && fragmentIndex !== extensions.length - 1) {
      throw new RangeError('a later IPv6 fragment cannot carry extension headers after its fragment header');
    }
    const chain = buildIpv6Extensions(extensions, packet.proto);
    const header = buildIpv6Header(src.value, dst.value, chain.firstNextHeader, chain.bytes.length + ipPayload.length, options);
    ip = concatBytes([header, chain.bytes, ipPayload]);
    l4Offset = header.length + chain.bytes.length;
  }
  if (carriesL4 && kind !== undefined) fillL4Checksum(ip, family, kind, l4Offset, src.value, dst.value);

  const frame = concatBytes([buildEthernetHeader(family === 4 ? ETH_P.IPV4 : ETH_P.IPV6, options), ip]);
  return truncateFrame(frame, options.truncateTo);
}

/** An Ethernet frame of any EtherType (LLDP, say) around `payload`, with the same options. */
export function buildEthernetFrame(etherType: number, payload: Uint8Array, options: Pick<FrameOptions, 'srcMac' | 'dstMac' | 'vlan' | 'truncateTo'> = {}): Uint8Array {
  if (!(Number.isInteger(etherType) && etherType >= 0 && etherType <= 0xffff)) throw new RangeError(`EtherType ${etherType} is not 16 bits`);
  return truncateFrame(concatBytes([buildEthernetHeader(etherType, options), payload]), options.truncateTo);
}

export interface ArpOptions {
  /** `request`, `reply`, or the opcode itself (1 request, 2 reply, ...). */
  readonly operation: 'request' | 'reply' | number;
  readonly senderIp: string;
  readonly targetIp: string;
  /** Defaults to the frame's source MAC. */
  readonly senderMac?: string;
  /** Defaults to 00:00:00:00:00:00 (unknown, as in a request). */
  readonly targetMac?: string;
}

/** An ARP request or reply for IPv4 over Ethernet (a non-IP frame the classifier must pass). */
export function buildArpFrame(arp: ArpOptions, options: Pick<FrameOptions, 'srcMac' | 'dstMac' | 'vlan' | 'truncateTo'> = {}): Uint8Array {
  const sender = parseAddress(arp.senderIp);
  const target = parseAddress(arp.targetIp);
  if (sender?.family !== 4 || target?.family !== 4) throw new RangeError('ARP addresses must be IPv4');
  const body = new Uint8Array(28);
  const view = new DataView(body.buffer);
  view.setUint16(0, 1); // hardware: Ethernet
  view.setUint16(2, ETH_P.IPV4);
  body[4] = 6;
  body[5] = 4;
  const opcode = arp.operation === 'request' ? 1 : arp.operation === 'reply' ? 2 : arp.operation;
  if (!(Number.isInteger(opcode) && opcode >= 0 && opcode <= 0xffff)) throw new RangeError(`ARP opcode ${opcode} is not 16 bits`);
  view.setUint16(6, opcode);
  body.set(parseMac(arp.senderMac ?? options.srcMac ?? DEFAULT_SRC_MAC), 8);
  view.setUint32(14, Number(sender.value));
  body.set(parseMac(arp.targetMac ?? '00:00:00:00:00:00'), 18);
  view.setUint32(24, Number(target.value));
  const broadcast = opcode === 1 ? { dstMac: 'ff:ff:ff:ff:ff:ff' } : {};
  return buildEthernetFrame(ETH_P.ARP, body, { ...broadcast, ...options });
}

function checkFragment(f: FragmentOptions): void {
  if (!(Number.isInteger(f.offset) && f.offset >= 0 && f.offset <= IPV4_OFFSET_MASK)) throw new RangeError(`fragment offset ${f.offset} is not 0-8191`);
  if (f.offset === 0 && !f.moreFragments) throw new RangeError('a fragment with offset 0 and no more fragments is not a fragment');
}

function truncateFrame(frame: Uint8Array, truncateTo: number | undefined): Uint8Array {
  if (truncateTo === undefined) return frame;
  if (!(Number.isInteger(truncateTo) && truncateTo >= 0)) throw new RangeError(`truncateTo ${truncateTo} is not a byte count`);
  return frame.subarray(0, Math.min(truncateTo, frame.length));
}

function buildEthernetHeader(etherType: number, options: Pick<FrameOptions, 'srcMac' | 'dstMac' | 'vlan'>): Uint8Array {
  const tagged = options.vlan !== undefined;
  const header = new Uint8Array(ETH_HLEN + (tagged ? VLAN_HLEN : 0));
  const view = new DataView(header.buffer);
  header.set(parseMac(options.dstMac ?? DEFAULT_DST_MAC), 0);
  header.set(parseMac(options.srcMac ?? DEFAULT_SRC_MAC), 6);
  if (options.vlan) {
    const { id, priority = 0 } = options.vlan;
    if (!(Number.isInteger(id) && id >= 0 && id <= 4095)) throw new RangeError(`VLAN id ${id} is not 0-4095`);
    if (!(Number.isInteger(priority) && priority >= 0 && priority <= 7)) throw new RangeError(`VLAN priority ${priority} is not 0-7`);
    view.setUint16(12, ETH_P.VLAN);
    view.setUint16(14, (priority << 13) | id);
    view.setUint16(16, etherType);
  } else {
    view.setUint16(12, etherType);
  }
  return header;
}

function buildIpv4Header(src: bigint, dst: bigint, proto: number, payloadLength: number, options: FrameOptions, fragment: FragmentOptions | undefined): Uint8Array {
  const ipOptions = buildIpv4Options(options.ipv4Options);
  const headerLength = IPV4_HLEN + ipOptions.length;
  const totalLength = headerLength + payloadLength;
  if (totalLength > 0xffff) throw new RangeError(`IPv4 packet of ${totalLength} bytes is too long`);
  const header = new Uint8Array(headerLength);
  const view = new DataView(header.buffer);
  header[0] = 0x40 | (headerLength / 4);
  view.setUint16(2, totalLength);
  // Whole packets carry DF, as Linux sends TCP; fragments carry MF and the offset instead.
  view.setUint16(4, fragment ? (fragment.id ?? DEFAULT_FRAGMENT_ID) & 0xffff : 0);
  view.setUint16(6, fragment ? (fragment.moreFragments ? IPV4_FLAG_MF : 0) | fragment.offset : IPV4_FLAG_DF);
  header[8] = checkTtl(options.ttl);
  header[9] = proto;
  view.setUint32(12, Number(src));
  view.setUint32(16, Number(dst));
  header.set(ipOptions, IPV4_HLEN);
  view.setUint16(10, internetChecksum(header));
  return header;
}

function buildIpv4Options(spec: number | Uint8Array | undefined): Uint8Array {
  if (spec === undefined) return new Uint8Array(0);
  const IPOPT_END = 0;
  const IPOPT_NOP = 1;
  if (typeof spec === 'number') {
    if (!(Number.isInteger(spec) && spec >= 0 && spec <= 40 && spec % 4 === 0)) throw new RangeError(`IPv4 options of ${spec} bytes: give a multiple of 4 up to 40`);
    const bytes = new Uint8Array(spec).fill(IPOPT_NOP);
    if (spec > 0) bytes[spec - 1] = IPOPT_END;
    return bytes;
  }
  const padded = new Uint8Array(Math.ceil(spec.length / 4) * 4);
  if (padded.length > 40) throw new RangeError(`IPv4 options of ${spec.length} bytes exceed 40`);
  padded.set(spec);
  return padded;
}

function checkTtl(ttl: number | undefined): number {
  const value = ttl ?? 64;
  if (!(Number.isInteger(value) && value >= 0 && value <= 255)) throw new RangeError(`TTL ${value} is not 0-255`);
  return value;
}

function buildIpv6Header(src: bigint, dst: bigint, nextHeader: number, payloadLength: number, options: FrameOptions): Uint8Array {
  if (payloadLength > 0xffff) throw new RangeError(`IPv6 payload of ${payloadLength} bytes is too long (no jumbograms)`);
  const header = new Uint8Array(IPV6_HLEN);
  const view = new DataView(header.buffer);
  view.setUint32(0, 0x60000000);
  view.setUint16(4, payloadLength);
  header[6] = nextHeader;
  header[7] = checkTtl(options.ttl);
  header.set(bigintBytes(src, 16), 8);
  header.set(bigintBytes(dst, 16), 24);
  return header;
}

/** The extension-header chain, each header's next-header naming the one after it. */
function buildIpv6Extensions(headers: readonly Ipv6ExtensionHeader[], upperProtocol: number): { bytes: Uint8Array; firstNextHeader: number } {
  const parts: Uint8Array[] = [];
  headers.forEach((h, i) => {
    const next = i + 1 < headers.length ? EXT_KIND_NUMBER[(headers[i + 1] as Ipv6ExtensionHeader).kind] : upperProtocol;
    parts.push(buildIpv6Extension(h, next));
  });
  const first = headers[0];
  return { bytes: concatBytes(parts), firstNextHeader: first ? EXT_KIND_NUMBER[first.kind] : upperProtocol };
}

function buildIpv6Extension(h: Ipv6ExtensionHeader, next: number): Uint8Array {
  if (h.kind === 'fragment') {
    checkFragment(h);
    const bytes = new Uint8Array(8);
    const view = new DataView(bytes.buffer);
    bytes[0] = next;
    view.setUint16(2, (h.offset << 3) | (h.moreFragments ? 1 : 0));
    view.setUint32(4, h.id ?? DEFAULT_FRAGMENT_ID);
    return bytes;
  }
  if (h.kind === 'auth') {
    // AH counts its length in 4-byte units minus 2, unlike the other extension headers.
    const length = h.length ?? 24;
    if (!(Number.isInteger(length) && length >= 12 && length % 4 === 0 && length <= 1024)) throw new RangeError(`auth header of ${length} bytes: give a multiple of 4, at least 12`);
    const bytes = new Uint8Array(length);
    bytes[0] = next;
    bytes[1] = length / 4 - 2;
    new DataView(bytes.buffer).setUint32(4, 0x100); // SPI
    return bytes;
  }
  const length = h.length ?? 8;
  if (!(Number.isInteger(length) && length >= 8 && length % 8 === 0 && length <= 2048)) throw new RangeError(`extension header of ${length} bytes: give a multiple of 8, 8-2048`);
  const bytes = new Uint8Array(length);
  bytes[0] = next;
  bytes[1] = length / 8 - 1;
  if (h.kind === 'routing') {
    bytes[2] = h.routingType ?? 0;
    bytes[3] = h.segmentsLeft ?? 0;
  } else {
    buildIpv6Options(bytes.subarray(2));
  }
  return bytes;
}

/** IPv6 option type 0x1e: experimental (RFC 4727), and its top bits say "skip if unknown". */
const IPV6_OPT_EXPERIMENT = 0x1e;
const IPV6_OPT_PADN = 1;

/**
 * Fills a hop-by-hop or destination options area. Receivers refuse more than 7 bytes of
 * padding in a row (RFC 4942 2.1.9.5; Linux's ip6_parse_tlv), so longer areas are filled with
 * skippable experimental options, and only the last few bytes are padding.
 */
function buildIpv6Options(area: Uint8Array): void {
  let at = 0;
  while (at < area.length) {
    const room = area.length - at;
    if (room === 1) {
      area[at] = 0; // Pad1
      at += 1;
    } else if (room <= 7) {
      area[at] = IPV6_OPT_PADN;
      area[at + 1] = room - 2;
      at += room;
    } else {
      const take = Math.min(room, 2 + 255);
      area[at] = IPV6_OPT_EXPERIMENT;
      area[at + 1] = take - 2;
      at += take;
    }
  }
}

function buildL4Header(packet: Packet, kind: 'tcp' | 'udp' | 'sctp' | 'icmp' | 'icmpv6' | undefined, options: FrameOptions): Uint8Array {
  if (kind === 'icmp' || kind === 'icmpv6') {
    const header = new Uint8Array(ICMP_HLEN);
    header[0] = checkByte(packet.icmpType ?? 0, 'ICMP type');
    header[1] = checkByte(packet.icmpCode ?? 0, 'ICMP code');
    new DataView(header.buffer).setUint32(4, (options.icmpRest ?? 0x00010001) >>> 0);
    return header;
  }
  const srcPort = checkPort(packet.srcPort ?? 0);
  const dstPort = checkPort(packet.dstPort ?? 0);
  if (kind === 'tcp') {
    const dataOffset = options.tcpDataOffset ?? 5 + Math.ceil((options.tcpOptions?.length ?? 0) / 4);
    if (options.tcpOptions && options.tcpOptions.length > (dataOffset - 5) * 4) throw new RangeError(`TCP options of ${options.tcpOptions.length} bytes do not fit data offset ${dataOffset}`);
    if (!(Number.isInteger(dataOffset) && dataOffset >= 5 && dataOffset <= 15)) throw new RangeError(`TCP data offset ${dataOffset} is not 5-15`);
    const flags = typeof options.tcpFlags === 'number' ? checkByte(options.tcpFlags, 'TCP flags') : TCP_FLAG_SETS[options.tcpFlags ?? 'syn'];
    const header = new Uint8Array(dataOffset * 4).fill(1, 20); // options: NOPs
    if (options.tcpOptions) header.set(options.tcpOptions, 20);
    const view = new DataView(header.buffer);
    view.setUint16(0, srcPort);
    view.setUint16(2, dstPort);
    view.setUint32(4, (options.tcpSeq ?? 1000) >>> 0);
    view.setUint32(8, (options.tcpAck ?? (flags & TCP_FLAGS.ACK ? 1001 : 0)) >>> 0);
    header[12] = dataOffset << 4;
    header[13] = flags;
    view.setUint16(14, options.tcpWindow ?? 65535);
    return header;
  }
  if (kind === 'udp') {
    const header = new Uint8Array(8);
    const view = new DataView(header.buffer);
    view.setUint16(0, srcPort);
    view.setUint16(2, dstPort);
    view.setUint16(4, 8 + (options.payload?.length ?? 0));
    return header;
  }
  const header = new Uint8Array(12);
  const view = new DataView(header.buffer);
  view.setUint16(0, srcPort);
  view.setUint16(2, dstPort);
  view.setUint32(4, (options.sctpVerificationTag ?? 0) >>> 0);
  return header;
}

/** Writes the L4 checksum of `ip` (IP header at 0, L4 header at `l4Offset`) in place. */
function fillL4Checksum(ip: Uint8Array, family: Family, kind: 'tcp' | 'udp' | 'sctp' | 'icmp' | 'icmpv6', l4Offset: number, src: bigint, dst: bigint): void {
  const segment = ip.subarray(l4Offset);
  const view = new DataView(segment.buffer, segment.byteOffset, segment.byteLength);
  if (kind === 'sctp') {
    // RFC 4960 appendix B: CRC32c, stored so that Linux's little-endian `__le32` reads it.
    view.setUint32(8, crc32c(segment), true);
    return;
  }
  const at = kind === 'tcp' ? 16 : kind === 'udp' ? 6 : 2;
  const proto = kind === 'tcp' ? 6 : kind === 'udp' ? 17 : kind === 'icmp' ? 1 : 58;
  const parts = kind === 'icmp' ? [segment] : [pseudoHeader(family, src, dst, proto, segment.length), segment];
  let sum = internetChecksum(concatBytes(parts));
  // RFC 768: a UDP checksum that computes to 0 is sent as all ones (0 means "none").
  if (kind === 'udp' && sum === 0) sum = 0xffff;
  view.setUint16(at, sum);
}

function pseudoHeader(family: Family, src: bigint, dst: bigint, proto: number, length: number): Uint8Array {
  const addrBytes = family === 4 ? 4 : 16;
  const header = new Uint8Array(family === 4 ? 12 : 40);
  const view = new DataView(header.buffer);
  header.set(bigintBytes(src, addrBytes), 0);
  header.set(bigintBytes(dst, addrBytes), addrBytes);
  if (family === 4) {
    header[9] = proto;
    view.setUint16(10, length);
  } else {
    view.setUint32(32, length);
    header[39] = proto;
  }
  return header;
}

/** RFC 1071: the ones' complement of the ones' complement sum of 16-bit big-endian words. */
export function internetChecksum(bytes: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i + 1 < bytes.length; i += 2) sum += ((bytes[i] as number) << 8) | (bytes[i + 1] as number);
  if (bytes.length % 2 === 1) sum += (bytes[bytes.length - 1] as number) << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

let crc32cTable: Uint32Array | undefined;

/** CRC-32C (Castagnoli, reflected polynomial 0x82f63b78), as SCTP and iSCSI use it. */
export function crc32c(bytes: Uint8Array): number {
  if (!crc32cTable) {
    crc32cTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
      crc32cTable[n] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (const b of bytes) crc = (crc32cTable[(crc ^ b) & 0xff] as number) ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

function checkPort(port: number): number {
  if (!(Number.isInteger(port) && port >= 0 && port <= 65535)) throw new RangeError(`port ${port} is not 0-65535`);
  return port;
}

function checkByte(value: number, what: string): number {
  if (!(Number.isInteger(value) && value >= 0 && value <= 255)) throw new RangeError(`${what} ${value} is not 0-255`);
  return value;
}

function parseMac(text: string): Uint8Array {
  const parts = text.split(':');
  if (parts.length !== 6 || !parts.every((p) => /^[0-9a-fA-F]{2}$/.test(p))) throw new RangeError(`'${text}' is not a MAC address (aa:bb:cc:dd:ee:ff)`);
  return Uint8Array.from(parts, (p) => parseInt(p, 16));
}

function formatMac(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(':');
}

function bigintBytes(value: bigint, length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  let v = value;
  for (let i = length - 1; i >= 0; i--) {
    bytes[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return bytes;
}

function bytesBigint(bytes: Uint8Array): bigint {
  let v = 0n;
  for (const b of bytes) v = (v << 8n) | BigInt(b);
  return v;
}

function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Parsing frames back.

/** Where a frame ran out of bytes (or, for `malformed`, where a header made no sense). */
export type FrameLayer = 'ethernet' | 'vlan' | 'arp' | 'ipv4' | 'ipv6' | 'ipv6-extension' | 'tcp' | 'udp' | 'sctp' | 'icmp' | 'icmpv6';

export interface IpFrameDetails {
  readonly family: Family;
  readonly srcMac: string;
  readonly dstMac: string;
  readonly vlan?: VlanTag;
  readonly ttl: number;
  /** IPv4 header length in bytes (IHL × 4). */
  readonly ipv4HeaderLength?: number;
  /** IPv4 total length, or 40 + the IPv6 payload length, as the header says. */
  readonly ipTotalLength: number;
  /** Present when the packet is a fragment (IPv4 MF or offset, or an IPv6 fragment header). */
  readonly fragment?: { readonly offset: number; readonly moreFragments: boolean; readonly id: number };
  /** IPv6 extension headers walked, in order. */
  readonly ipv6ExtensionHeaders: readonly Ipv6ExtensionKind[];
  /** Offset in the frame of the L4 header (or of the payload for protocols without one). */
  readonly l4Offset: number;
  readonly tcpFlags?: number;
  readonly tcpDataOffset?: number;
  /** Whether the IPv4 header checksum verifies (IPv4 only). */
  readonly ipv4ChecksumOk?: boolean;
  /** Whether the L4 checksum verifies; absent for fragments and frames cut short. */
  readonly l4ChecksumOk?: boolean;
  /** The bytes after the L4 header that are in the frame. */
  readonly payload: Uint8Array;
}

export type ParsedFrame =
  | { readonly kind: 'ip'; readonly packet: Packet; readonly details: IpFrameDetails }
  | { readonly kind: 'non-ip'; readonly etherType: number; readonly vlan?: VlanTag; readonly body: Uint8Array }
  | { readonly kind: 'truncated'; readonly layer: FrameLayer }
  | { readonly kind: 'malformed'; readonly layer: FrameLayer; readonly reason: string };

/**
 * Parses an Ethernet frame as `buildFrame` writes them: one optional 802.1Q tag, IPv4 with any
 * IHL, IPv6 with any chain of the known extension headers, and the L4 headers of the file
 * header. Headers are read from the bytes present; a header that does not fit is `truncated`.
 */
export function parseFrame(frame: Uint8Array): ParsedFrame {
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  if (frame.length < ETH_HLEN) return { kind: 'truncated', layer: 'ethernet' };
  let etherType = view.getUint16(12);
  let at = ETH_HLEN;
  let vlan: VlanTag | undefined;
  if (etherType === ETH_P.VLAN) {
    if (frame.length < ETH_HLEN + VLAN_HLEN) return { kind: 'truncated', layer: 'vlan' };
    const tci = view.getUint16(14);
    vlan = { id: tci & 0xfff, priority: tci >> 13 };
    etherType = view.getUint16(16);
    at += VLAN_HLEN;
  }
  const macs = { dstMac: formatMac(frame.subarray(0, 6)), srcMac: formatMac(frame.subarray(6, 12)) };
  if (etherType === ETH_P.IPV4) return parseIpv4(frame, view, at, { ...macs, vlan });
  if (etherType === ETH_P.IPV6) return parseIpv6(frame, view, at, { ...macs, vlan });
  return vlan ? { kind: 'non-ip', etherType, vlan, body: frame.subarray(at) } : { kind: 'non-ip', etherType, body: frame.subarray(at) };
}

interface LinkFields {
  readonly srcMac: string;
  readonly dstMac: string;
  readonly vlan: VlanTag | undefined;
}

function parseIpv4(frame: Uint8Array, view: DataView, at: number, link: LinkFields): ParsedFrame {
  if (frame.length < at + IPV4_HLEN) return { kind: 'truncated', layer: 'ipv4' };
  const first = frame[at] as number;
  if (first >> 4 !== 4) return { kind: 'malformed', layer: 'ipv4', reason: `IP version ${first >> 4} under EtherType IPv4` };
  const headerLength = (first & 0xf) * 4;
  if (headerLength < IPV4_HLEN) return { kind: 'malformed', layer: 'ipv4', reason: `IHL ${first & 0xf} is below 5` };
  if (frame.length < at + headerLength) return { kind: 'truncated', layer: 'ipv4' };
  const totalLength = view.getUint16(at + 2);
  if (totalLength < headerLength) return { kind: 'malformed', layer: 'ipv4', reason: `total length ${totalLength} is shorter than the ${headerLength}-byte header` };
  const flagsOffset = view.getUint16(at + 6);
  const offset = flagsOffset & IPV4_OFFSET_MASK;
  const moreFragments = (flagsOffset & IPV4_FLAG_MF) !== 0;
  const fragment = offset > 0 || moreFragments ? { offset, moreFragments, id: view.getUint16(at + 4) } : undefined;
  const proto = frame[at + 9] as number;
  const src = formatAddress(4, bytesBigint(frame.subarray(at + 12, at + 16)));
  const dst = formatAddress(4, bytesBigint(frame.subarray(at + 16, at + 20)));
  const ipv4ChecksumOk = internetChecksum(frame.subarray(at, at + headerLength)) === 0;
  return parseL4(frame, view, at + headerLength, {
    family: 4,
    proto,
    src,
    dst,
    link,
    ttl: frame[at + 8] as number,
    ipv4HeaderLength: headerLength,
    ipTotalLength: totalLength,
    ipEnd: at + totalLength,
    fragment,
    extensions: [],
    ipv4ChecksumOk,
  });
}

function parseIpv6(frame: Uint8Array, view: DataView, at: number, link: LinkFields): ParsedFrame {
  if (frame.length < at + IPV6_HLEN) return { kind: 'truncated', layer: 'ipv6' };
  const first = frame[at] as number;
  if (first >> 4 !== 6) return { kind: 'malformed', layer: 'ipv6', reason: `IP version ${first >> 4} under EtherType IPv6` };
  const payloadLength = view.getUint16(at + 4);
  let next = frame[at + 6] as number;
  const src = formatAddress(6, bytesBigint(frame.subarray(at + 8, at + 24)));
  const dst = formatAddress(6, bytesBigint(frame.subarray(at + 24, at + 40)));
  let cursor = at + IPV6_HLEN;
  const extensions: Ipv6ExtensionKind[] = [];
  let fragment: IpFrameDetails['fragment'];
  for (;;) {
    const kind = (Object.keys(EXT_KIND_NUMBER) as Ipv6ExtensionKind[]).find((k) => EXT_KIND_NUMBER[k] === next);
    if (kind === undefined) break;
    if (frame.length < cursor + 8) return { kind: 'truncated', layer: 'ipv6-extension' };
    const length = kind === 'fragment' ? 8 : kind === 'auth' ? ((frame[cursor + 1] as number) + 2) * 4 : ((frame[cursor + 1] as number) + 1) * 8;
    if (frame.length < cursor + length) return { kind: 'truncated', layer: 'ipv6-extension' };
    extensions.push(kind);
    const following = frame[cursor] as number;
    if (kind === 'fragment') {
      const offsetFlags = view.getUint16(cursor + 2);
      fragment = { offset: offsetFlags >> 3, moreFragments: (offsetFlags & 1) === 1, id: view.getUint32(cursor + 4) };
    }
    cursor += length;
    next = following;
    // A later fragment's next header names the fragmentable part, which is not in this frame.
    if (fragment && fragment.offset > 0) break;
  }
  return parseL4(frame, view, cursor, {
    family: 6,
    proto: next,
    src,
    dst,
    link,
    ttl: frame[at + 7] as number,
    ipTotalLength: IPV6_HLEN + payloadLength,
    ipEnd: at + IPV6_HLEN + payloadLength,
    fragment,
    extensions,
  });
}

interface NetworkFields {
  readonly family: Family;
  readonly proto: number;
  readonly src: string;
  readonly dst: string;
  readonly link: LinkFields;
  readonly ttl: number;
  readonly ipv4HeaderLength?: number;
  readonly ipTotalLength: number;
  /** Where the IP packet ends in the frame by its length field. */
  readonly ipEnd: number;
  readonly fragment: IpFrameDetails['fragment'];
  readonly extensions: readonly Ipv6ExtensionKind[];
  readonly ipv4ChecksumOk?: boolean;
}

function parseL4(frame: Uint8Array, view: DataView, at: number, net: NetworkFields): ParsedFrame {
  const kind = l4Kind(net.family, net.proto);
  const laterFragment = net.fragment !== undefined && net.fragment.offset > 0;
  const packet: { -readonly [K in keyof Packet]: Packet[K] } = { proto: net.proto, src: net.src, dst: net.dst };
  let headerLength = 0;
  let tcp: { flags: number; dataOffset: number } | undefined;
  if (kind !== undefined && !laterFragment) {
    const needed = kind === 'icmp' || kind === 'icmpv6' ? ICMP_HLEN : (L4_HEADER_LENGTH[net.proto] as number);
    if (frame.length < at + needed) return { kind: 'truncated', layer: kind };
    headerLength = needed;
    if (kind === 'icmp' || kind === 'icmpv6') {
      packet.icmpType = frame[at] as number;
      packet.icmpCode = frame[at + 1] as number;
    } else {
      packet.srcPort = view.getUint16(at);
      packet.dstPort = view.getUint16(at + 2);
    }
    if (kind === 'tcp') {
      const dataOffset = (frame[at + 12] as number) >> 4;
      if (dataOffset < 5) return { kind: 'malformed', layer: 'tcp', reason: `TCP data offset ${dataOffset} is below 5` };
      tcp = { flags: frame[at + 13] as number, dataOffset };
      headerLength = Math.min(dataOffset * 4, frame.length - at);
    }
  }
  const ipEnd = Math.min(net.ipEnd, frame.length);
  const wholeSegment = net.ipEnd <= frame.length && net.fragment === undefined && kind !== undefined && !laterFragment;
  const l4ChecksumOk = wholeSegment && kind !== undefined ? verifyL4Checksum(frame.subarray(at, net.ipEnd), net, kind) : undefined;
  const details: { -readonly [K in keyof IpFrameDetails]: IpFrameDetails[K] } = {
    family: net.family,
    srcMac: net.link.srcMac,
    dstMac: net.link.dstMac,
    ttl: net.ttl,
    ipTotalLength: net.ipTotalLength,
    ipv6ExtensionHeaders: net.extensions,
    l4Offset: at,
    payload: frame.subarray(Math.min(at + headerLength, ipEnd), ipEnd),
  };
  if (net.link.vlan) details.vlan = net.link.vlan;
  if (net.ipv4HeaderLength !== undefined) details.ipv4HeaderLength = net.ipv4HeaderLength;
  if (net.ipv4ChecksumOk !== undefined) details.ipv4ChecksumOk = net.ipv4ChecksumOk;
  if (net.fragment) details.fragment = net.fragment;
  if (tcp) {
    details.tcpFlags = tcp.flags;
    details.tcpDataOffset = tcp.dataOffset;
  }
  if (l4ChecksumOk !== undefined) details.l4ChecksumOk = l4ChecksumOk;
  return { kind: 'ip', packet, details };
}

function verifyL4Checksum(segment: Uint8Array, net: NetworkFields, kind: 'tcp' | 'udp' | 'sctp' | 'icmp' | 'icmpv6'): boolean {
  if (kind === 'sctp') {
    const copy = segment.slice();
    const stored = new DataView(copy.buffer).getUint32(8, true);
    copy.fill(0, 8, 12);
    return crc32c(copy) === stored;
  }
  if (kind === 'icmp') return internetChecksum(segment) === 0;
  const src = parseAddress(net.src)?.value ?? 0n;
  const dst = parseAddress(net.dst)?.value ?? 0n;
  return internetChecksum(concatBytes([pseudoHeader(net.family, src, dst, net.proto, segment.length), segment])) === 0;
}
