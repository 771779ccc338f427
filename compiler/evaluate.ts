// The reference interpreter: the language's meaning, written as plainly as possible. Takes a
// direction's IR and a packet; returns the deciding rule (first match by priority) or the
// default. Everything faster (analysis, emitted maps, the kernel) is tested against this.
import { parseAddress, prefixTextsToRanges, rangesContain, type AddrRange } from './cidr.ts';
import type { DirectionIr, RuleIr, PortSetIr, AddrSetIr, Verdict } from './ir.ts';
import { packetFamily, type Packet } from './packet.ts';

export interface Decision {
  /** The policy's verdict; with `audit`, a deny that the data path lets pass (would-deny). */
  readonly verdict: Verdict;
  readonly log: boolean;
  /** The deciding rule is a `deny audit`. */
  readonly audit: boolean;
  /** The deciding rule, or null when the default decided. */
  readonly rule: RuleIr | null;
}

export function evaluate(direction: DirectionIr, packet: Packet): Decision {
  for (const rule of direction.rules) {
    if (ruleMatches(rule, packet)) return { verdict: rule.action, log: rule.log, audit: rule.audit, rule };
  }
  return { verdict: direction.defaultAction, log: false, audit: false, rule: null };
}

export function ruleMatches(rule: RuleIr, packet: Packet): boolean {
  const family = packetFamily(packet);
  if (rule.protocols !== null) {
    if (!rule.protocols.includes(packet.proto)) return false;
    if (packet.proto === 1 && family !== 4) return false;
    if (packet.proto === 58 && family !== 6) return false;
  }
  if (!addrSetContains(rule.src, packet.src)) return false;
  if (!addrSetContains(rule.dst, packet.dst)) return false;
  if (!portSetContains(rule.srcPorts, packet.srcPort)) return false;
  if (!portSetContains(rule.dstPorts, packet.dstPort)) return false;
  if (rule.icmp !== null) {
    if (packet.icmpType === undefined) return false;
    const type = family === 4 ? rule.icmp.type4 : rule.icmp.type6;
    if (type === null || type !== packet.icmpType) return false;
    if (rule.icmp.code !== null && rule.icmp.code !== packet.icmpCode) return false;
  }
  return true;
}

function portSetContains(set: PortSetIr | null, port: number | undefined): boolean {
  if (set === null) return true;
  if (port === undefined) return false;
  return set.some(([lo, hi]) => port >= lo && port <= hi);
}

// Parsing prefix text on every packet would dominate differential tests; the cache keeps the
// interpreter plain while making thousands of packets per policy cheap.
const rangeCache = new WeakMap<AddrSetIr, { v4: AddrRange[]; v6: AddrRange[] }>();

// Likewise a packet's address is parsed once, not once per rule (bounded: cleared when large).
const addressCache = new Map<string, ReturnType<typeof parseAddress>>();

function parsePacketAddress(address: string): ReturnType<typeof parseAddress> {
  let a = addressCache.get(address);
  if (a === undefined) {
    if (addressCache.size > 100_000) addressCache.clear();
    a = parseAddress(address);
    addressCache.set(address, a);
  }
  return a;
}

function addrSetContains(set: AddrSetIr, address: string): boolean {
  const a = parsePacketAddress(address);
  if (!a) throw new Error(`packet address is not an address: ${address}`);
  let ranges = rangeCache.get(set);
  if (!ranges) {
    ranges = { v4: prefixTextsToRanges(set.v4), v6: prefixTextsToRanges(set.v6) };
    rangeCache.set(set, ranges);
  }
  return rangesContain(a.family === 4 ? ranges.v4 : ranges.v6, a.value);
}
