// What the language's protocol words and ICMP type names mean, in a line each, for hover and
// completion. The numbers come from the compiler's tables (icmp-types.ts, ir.ts).
import { ICMP4_TYPES, ICMP6_TYPES, ICMP_TYPE_NAMES } from '../../compiler/icmp-types.ts';
import { PROTOCOL_NUMBERS } from '../../compiler/ir.ts';

export const PROTOCOL_MEANINGS: Readonly<Record<string, string>> = {
  tcp: `TCP, IP protocol ${PROTOCOL_NUMBERS.tcp}: connections; a rule may add \`port\` to match ports.`,
  udp: `UDP, IP protocol ${PROTOCOL_NUMBERS.udp}: datagrams; a rule may add \`port\` to match ports.`,
  sctp: `SCTP, IP protocol ${PROTOCOL_NUMBERS.sctp}: associations; a rule may add \`port\` to match ports.`,
  icmp: `ICMP for IPv4, IP protocol ${PROTOCOL_NUMBERS.icmp}: matches IPv4 packets only; \`icmp TYPE [CODE]\` matches a type.`,
  icmpv6: `ICMPv6, IP protocol ${PROTOCOL_NUMBERS.icmpv6}: matches IPv6 packets only; \`icmp TYPE [CODE]\` matches a type.`,
  any: 'Every protocol (IPv4 and IPv6).',
};

const ICMP_MEANINGS: Readonly<Record<string, string>> = {
  'echo-reply': 'the answer to a ping',
  'echo-request': 'a ping',
  'destination-unreachable': 'a packet could not be delivered (host, port or network unreachable, fragmentation needed)',
  'source-quench': 'slow down (deprecated)',
  redirect: 'a router pointing at a better next hop',
  'nd-redirect': 'a router pointing at a better next hop',
  'router-advertisement': 'a router announcing itself (IPv6: neighbour discovery, prefixes, default route)',
  'nd-router-advert': 'a router announcing itself (neighbour discovery)',
  'router-solicitation': 'a host asking routers to announce themselves',
  'nd-router-solicit': 'a host asking routers to announce themselves',
  'time-exceeded': 'the hop limit ran out (traceroute) or reassembly timed out',
  'parameter-problem': 'a header could not be parsed',
  'timestamp-request': 'asks for the time (obsolete)',
  'timestamp-reply': 'the time (obsolete)',
  'info-request': 'asks for a network number (obsolete)',
  'info-reply': 'a network number (obsolete)',
  'address-mask-request': 'asks for the subnet mask (obsolete)',
  'address-mask-reply': 'the subnet mask (obsolete)',
  'packet-too-big': 'path MTU discovery: the packet was larger than the next link allows',
  'mld-listener-query': 'multicast listener discovery: who listens to a group?',
  'mld-listener-report': 'multicast listener discovery: this host listens to a group',
  'mld2-listener-report': 'multicast listener discovery v2: this host listens to groups',
  'mld-listener-done': 'multicast listener discovery: this host stops listening',
  'neighbor-solicitation': 'neighbour discovery: who has this address? (IPv6\'s ARP)',
  'nd-neighbor-solicit': "neighbour discovery: who has this address? (IPv6's ARP)",
  'neighbor-advertisement': 'neighbour discovery: this address is here',
  'nd-neighbor-advert': 'neighbour discovery: this address is here',
  'router-renumbering': 'router renumbering',
};

/** A line on an ICMP type name: what it means and its number per family. */
export function icmpTypeMeaning(name: string): string | undefined {
  const v4 = ICMP4_TYPES[name];
  const v6 = ICMP6_TYPES[name];
  if (v4 === undefined && v6 === undefined) return undefined;
  const numbers = [v4 === undefined ? 'no ICMP (IPv4) type' : `ICMP type ${v4}`, v6 === undefined ? 'no ICMPv6 type' : `ICMPv6 type ${v6}`].join(', ');
  return `${ICMP_MEANINGS[name] ?? name}: ${numbers}.`;
}

export { ICMP_TYPE_NAMES };
