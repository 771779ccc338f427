// Well-known ICMP and ICMPv6 type names, as rules (`icmp echo-request`) and packets in
// `explain` write them. A name may exist in one family only, or mean different numbers.
// Names follow nftables' where it has one.

export const ICMP4_TYPES: Readonly<Record<string, number>> = {
  'echo-reply': 0,
  'destination-unreachable': 3,
  'source-quench': 4,
  redirect: 5,
  'echo-request': 8,
  'router-advertisement': 9,
  'router-solicitation': 10,
  'time-exceeded': 11,
  'parameter-problem': 12,
  'timestamp-request': 13,
  'timestamp-reply': 14,
  'info-request': 15,
  'info-reply': 16,
  'address-mask-request': 17,
  'address-mask-reply': 18,
};

export const ICMP6_TYPES: Readonly<Record<string, number>> = {
  'destination-unreachable': 1,
  'packet-too-big': 2,
  'time-exceeded': 3,
  'parameter-problem': 4,
  'echo-request': 128,
  'echo-reply': 129,
  'mld-listener-query': 130,
  'mld-listener-report': 131,
  'mld-listener-done': 132,
  'router-solicitation': 133,
  'nd-router-solicit': 133,
  'router-advertisement': 134,
  'nd-router-advert': 134,
  'neighbor-solicitation': 135,
  'nd-neighbor-solicit': 135,
  'neighbor-advertisement': 136,
  'nd-neighbor-advert': 136,
  redirect: 137,
  'nd-redirect': 137,
  'router-renumbering': 138,
  'mld2-listener-report': 143,
};

/** Every known name, for "did you mean" suggestions. */
export const ICMP_TYPE_NAMES: readonly string[] = [...new Set([...Object.keys(ICMP4_TYPES), ...Object.keys(ICMP6_TYPES)])].sort();

/** The type number of a name in a family, or undefined when that family has no such type. */
export function icmpTypeNumber(family: 4 | 6, name: string): number | undefined {
  const table = family === 4 ? ICMP4_TYPES : ICMP6_TYPES;
  return Object.hasOwn(table, name) ? table[name] : undefined;
}

/** The preferred name of a type number (first listed), for printing witnesses and packets. */
export function icmpTypeName(family: 4 | 6, type: number): string | undefined {
  const table = family === 4 ? ICMP4_TYPES : ICMP6_TYPES;
  return Object.keys(table).find((k) => table[k] === type);
}
