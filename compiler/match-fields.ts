// The fields a rule matches on, described once: name, width, kind (prefix, range or set), how a
// packet yields the field's value and how a rule constrains it. The reference interpreter
// (evaluate.ts), the analysis' packet space (analysis/space.ts: its dimensions and domains),
// the emitter (emit.ts: the classifier's class fields, whose count the generated ABI's
// SEG_CLASS_FIELDS must equal) and the test support's kernel model iterate this table; a new
// field is a grammar change, an entry here and its BPF parsing (docs/datapath.md, "Adding a
// match field").
import { familyMax, parseAddress, prefixTextsToRanges, rangesContain, type AddrRange, type Family } from './cidr.ts';
import type { AddrSetIr, PortSetIr, RuleIr } from './ir.ts';
import type { Packet } from './packet.ts';

/**
 * prefix: an address matched by CIDR prefixes (an LPM trie in the kernel); range: a number
 * matched by intervals (an array indexed by value); set: a number matched by listed values.
 */
export type MatchKind = 'prefix' | 'range' | 'set';

/**
 * What a packet is, as the analysis partitions packets: which fields it carries besides the
 * addresses and protocol. `ports`: tcp, udp and sctp with their header; `icmp`: icmp/icmpv6
 * with its header; `bare`: everything else (later fragments, other protocols).
 */
export type PacketShape = 'ports' | 'icmp' | 'bare';

/** The packet fields a match field reads (keys of `Packet`). */
type PacketKey = 'proto' | 'src' | 'dst' | 'srcPort' | 'dstPort' | 'icmpType' | 'icmpCode';

export interface MatchField {
  readonly name: 'protocol' | 'source' | 'destination' | 'source port' | 'destination port' | 'icmp type' | 'icmp code';
  readonly kind: MatchKind;
  /** Bits of the value (addresses: by family). */
  readonly width: (family: Family) => number;
  /** Where a packet carries it. */
  readonly packet: PacketKey;
  /** The shapes of packet that carry the field (the others lack it: a rule testing it does not match them). */
  readonly shapes: readonly PacketShape[];
  /** The analysis dimension that holds it (dimensions are shared by fields of different shapes). */
  readonly dimension: number;
  /** The classifier's class field that looks it up (bpf/lib/classify.h: one bitmap row per class field). */
  readonly classField: number;
  /**
   * The rule's constraint on the field for a packet of `family`, as value intervals; null when
   * the rule does not test the field (any value, or none, matches).
   */
  readonly constraint: (rule: RuleIr, family: Family) => readonly AddrRange[] | null;
  /** Whether the rule's constraint holds for the packet (the interpreter's test; fast paths allowed). */
  readonly matches: (rule: RuleIr, packet: Packet, family: Family) => boolean;
}

const ICMP_PROTO: Readonly<Record<Family, number>> = { 4: 1, 6: 58 };

// Parsing prefix text on every packet would dominate differential tests; the caches keep the
// interpreter plain while making thousands of packets per policy cheap.
// Rules of one set share its prefix list (lower gives one array per set value): its ranges are
// parsed once, not once per rule and kind (an `any except` of thousands of hosts is hundreds of
// thousands of prefixes).
const rangeCache = new WeakMap<readonly string[], AddrRange[]>();
const addressCache = new Map<string, ReturnType<typeof parseAddress>>();

function parsePacketAddress(address: string): ReturnType<typeof parseAddress> {
  let a = addressCache.get(address);
  if (a === undefined) {
    // Bounded: cleared when large.
    if (addressCache.size > 100_000) addressCache.clear();
    a = parseAddress(address);
    addressCache.set(address, a);
  }
  return a;
}

function addressRanges(set: AddrSetIr, family: Family): AddrRange[] {
  const list = family === 4 ? set.v4 : set.v6;
  let ranges = rangeCache.get(list);
  if (ranges === undefined) {
    ranges = prefixTextsToRanges(list);
    rangeCache.set(list, ranges);
  }
  return ranges;
}

function addressMatches(set: AddrSetIr, address: string): boolean {
  const a = parsePacketAddress(address);
  if (!a) throw new Error(`packet address is not an address: ${address}`);
  return rangesContain(addressRanges(set, a.family), a.value);
}

function portRanges(set: PortSetIr | null): AddrRange[] | null {
  return set === null ? null : set.map(([lo, hi]): AddrRange => [BigInt(lo), BigInt(hi)]);
}

function portMatches(set: PortSetIr | null, port: number | undefined): boolean {
  if (set === null) return true;
  if (port === undefined) return false;
  return set.some(([lo, hi]) => port >= lo && port <= hi);
}

/** A listed icmp (1) matches IPv4 packets only, icmpv6 (58) IPv6 packets only. */
function protocolsFor(rule: RuleIr, family: Family): readonly number[] | null {
  if (rule.protocols === null) return null;
  const wrong = ICMP_PROTO[family === 4 ? 6 : 4];
  return rule.protocols.filter((p) => p !== wrong);
}

function icmpTypeOf(rule: RuleIr, family: Family): number | null | undefined {
  if (rule.icmp === null) return undefined;
  return family === 4 ? rule.icmp.type4 : rule.icmp.type6;
}

const single = (n: number): AddrRange[] => [[BigInt(n), BigInt(n)]];

/** Every match field, in the order the interpreter tests them. */
export const MATCH_FIELDS: readonly MatchField[] = [
  {
    name: 'protocol',
    kind: 'set',
    width: () => 8,
    packet: 'proto',
    shapes: ['ports', 'icmp', 'bare'],
    dimension: 0,
    classField: 4,
    constraint: (rule, family) => protocolsFor(rule, family)?.map((p): AddrRange => [BigInt(p), BigInt(p)]) ?? null,
    matches: (rule, packet, family) => rule.protocols === null || (rule.protocols.includes(packet.proto) && packet.proto !== ICMP_PROTO[family === 4 ? 6 : 4]),
  },
  {
    name: 'source',
    kind: 'prefix',
    width: (family) => (family === 4 ? 32 : 128),
    packet: 'src',
    shapes: ['ports', 'icmp', 'bare'],
    dimension: 1,
    classField: 0,
    constraint: (rule, family) => addressRanges(rule.src, family),
    matches: (rule, packet) => addressMatches(rule.src, packet.src),
  },
  {
    name: 'destination',
    kind: 'prefix',
    width: (family) => (family === 4 ? 32 : 128),
    packet: 'dst',
    shapes: ['ports', 'icmp', 'bare'],
    dimension: 2,
    classField: 1,
    constraint: (rule, family) => addressRanges(rule.dst, family),
    matches: (rule, packet) => addressMatches(rule.dst, packet.dst),
  },
  {
    name: 'source port',
    kind: 'range',
    width: () => 16,
    packet: 'srcPort',
    shapes: ['ports'],
    dimension: 3,
    classField: 2,
    constraint: (rule) => portRanges(rule.srcPorts),
    matches: (rule, packet) => portMatches(rule.srcPorts, packet.srcPort),
  },
  {
    name: 'destination port',
    kind: 'range',
    width: () => 16,
    packet: 'dstPort',
    shapes: ['ports'],
    dimension: 4,
    classField: 3,
    constraint: (rule) => portRanges(rule.dstPorts),
    matches: (rule, packet) => portMatches(rule.dstPorts, packet.dstPort),
  },
  {
    name: 'icmp type',
    kind: 'set',
    width: () => 8,
    packet: 'icmpType',
    shapes: ['icmp'],
    dimension: 3,
    // ICMP packets carry no ports: the type shares the destination port's class field.
    classField: 3,
    constraint: (rule, family) => {
      const type = icmpTypeOf(rule, family);
      if (type === undefined) return null;
      return type === null ? [] : single(type);
    },
    matches: (rule, packet, family) => {
      const type = icmpTypeOf(rule, family);
      return type === undefined || (packet.icmpType !== undefined && type !== null && type === packet.icmpType);
    },
  },
  {
    name: 'icmp code',
    kind: 'set',
    width: () => 8,
    packet: 'icmpCode',
    shapes: ['icmp'],
    dimension: 4,
    classField: 3,
    constraint: (rule) => (rule.icmp === null || rule.icmp.code === null ? null : single(rule.icmp.code)),
    matches: (rule, packet) => rule.icmp === null || rule.icmp.code === null || rule.icmp.code === packet.icmpCode,
  },
];

/** The analysis space's dimensions: as many as the largest dimension a field names. */
export const DIMENSION_COUNT = Math.max(...MATCH_FIELDS.map((f) => f.dimension)) + 1;

/** The classifier's class fields (bitmap rows ANDed per packet): must equal SEG_CLASS_FIELDS. */
export const CLASS_FIELD_COUNT = Math.max(...MATCH_FIELDS.map((f) => f.classField)) + 1;

/** The field a shape of packet carries in `dimension`, if any. */
export function fieldAt(shape: PacketShape, dimension: number): MatchField | undefined {
  return MATCH_FIELDS.find((f) => f.dimension === dimension && f.shapes.includes(shape));
}

/** The largest value of a field (its domain is 0..max). */
export function fieldMax(field: MatchField, family: Family): bigint {
  return field.kind === 'prefix' ? familyMax(family) : (1n << BigInt(field.width(family))) - 1n;
}

/** The fields of one kind, in table order (the emitter's address tries: the prefix fields). */
export function fieldsOfKind(kind: MatchKind): readonly MatchField[] {
  return MATCH_FIELDS.filter((f) => f.kind === kind);
}

/** The protocol an ICMP packet of `family` has (the icmp shape's fixed protocol). */
export function icmpProtocol(family: Family): number {
  return ICMP_PROTO[family];
}
