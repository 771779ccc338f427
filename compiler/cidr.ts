// Addresses and prefixes: parsing and canonical printing of IPv4/IPv6 addresses and CIDRs,
// and exact address sets as sorted interval lists, turned back into minimal prefix lists.
// Values are bigints (IPv4 too) so both families share one code path.

export type Family = 4 | 6;

export interface Prefix {
  readonly family: Family;
  readonly value: bigint;
  readonly length: number;
}

/** Inclusive [low, high]; lists of them are sorted, disjoint and not adjacent. */
export type AddrRange = readonly [bigint, bigint];

export const FAMILY_BITS: Readonly<Record<Family, number>> = { 4: 32, 6: 128 };

export function familyMax(family: Family): bigint {
  return (1n << BigInt(FAMILY_BITS[family])) - 1n;
}

export function parseIpv4(text: string): bigint | undefined {
  const n = ipv4Number(text, 0, text.length);
  return n < 0 ? undefined : BigInt(n);
}

/**
 * The IPv4 address in `text` from `start` to `end` as an unsigned 32-bit number, or -1: four
 * decimal numbers of 0-255 separated by dots, without leading zeros (`010` means 8 to some
 * tools and 10 to others). Read character by character: every IPv4 literal of a policy comes
 * through here, and splitting, a regular expression per part and bigint shifts cost several
 * allocations each.
 */
function ipv4Number(text: string, start: number, end: number): number {
  let value = 0;
  let parts = 0;
  let i = start;
  while (parts < 4) {
    const first = i;
    let part = 0;
    while (i < end) {
      const c = text.charCodeAt(i);
      if (c < 48 || c > 57) break;
      part = part * 10 + (c - 48);
      i++;
    }
    const digits = i - first;
    if (digits === 0 || digits > 3 || (digits > 1 && text.charCodeAt(first) === 48) || part > 255) return -1;
    value = value * 256 + part;
    parts++;
    if (parts < 4) {
      if (i >= end || text.charCodeAt(i) !== 46) return -1;
      i++;
    }
  }
  return i === end ? value : -1;
}

export function parseIpv6(text: string): bigint | undefined {
  let head = text;
  let tailV4: bigint | undefined;
  const lastColon = text.lastIndexOf(':');
  if (text.includes('.', lastColon)) {
    tailV4 = parseIpv4(text.slice(lastColon + 1));
    if (tailV4 === undefined) return undefined;
    head = text.slice(0, lastColon + 1) + '0:0';
  }
  const halves = head.split('::');
  if (halves.length > 2) return undefined;
  const groupsOf = (s: string): string[] | undefined => (s === '' ? [] : s.split(':'));
  const left = groupsOf(halves[0] ?? '');
  const right = halves.length === 2 ? groupsOf(halves[1] ?? '') : [];
  if (!left || !right) return undefined;
  const total = left.length + right.length;
  if (halves.length === 2 ? total > 7 : total !== 8) return undefined;
  const groups = [...left, ...Array<string>(8 - total).fill('0'), ...right];
  let v = 0n;
  for (const g of groups) {
    if (!/^[0-9A-Fa-f]{1,4}$/.test(g)) return undefined;
    v = (v << 16n) | BigInt(parseInt(g, 16));
  }
  if (tailV4 !== undefined) v = (v & ~0xffffffffn) | tailV4;
  return v;
}

export function parseAddress(text: string): { family: Family; value: bigint } | undefined {
  if (text.includes(':')) {
    const v = parseIpv6(text);
    return v === undefined ? undefined : { family: 6, value: v };
  }
  const v = parseIpv4(text);
  return v === undefined ? undefined : { family: 4, value: v };
}

export function formatIpv4(value: bigint): string {
  const n = Number(value);
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** RFC 5952: lower case, no leading zeros, the longest run (>= 2) of zero groups as `::`. */
export function formatIpv6(value: bigint): string {
  const groups: number[] = [];
  for (let i = 7; i >= 0; i--) groups.push(Number((value >> BigInt(i * 16)) & 0xffffn));
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return hex.slice(0, bestStart).join(':') + '::' + hex.slice(bestStart + bestLen).join(':');
}

export function formatAddress(family: Family, value: bigint): string {
  return family === 4 ? formatIpv4(value) : formatIpv6(value);
}

export function formatPrefix(p: Prefix): string {
  return `${formatAddress(p.family, p.value)}/${p.length}`;
}

export type PrefixParse =
  | { readonly ok: true; readonly prefix: Prefix }
  | { readonly ok: false; readonly error: 'invalid-ipv4' | 'invalid-ipv6' }
  | { readonly ok: false; readonly error: 'length-out-of-range'; readonly family: Family; readonly length: string }
  | { readonly ok: false; readonly error: 'host-bits'; readonly network: Prefix };

/** Parses `ADDR` (a host prefix) or `ADDR/LEN`; host bits set is an error carrying the network. */
export function parsePrefix(text: string): PrefixParse {
  const slash = text.indexOf('/');
  const addrEnd = slash < 0 ? text.length : slash;
  const colon = text.indexOf(':');
  // IPv4 (no `:` before the slash) is read and checked in 32-bit numbers: every IPv4 literal
  // of a policy comes through here, and bigint arithmetic allocates at each step.
  const v4 = colon < 0 || colon > addrEnd ? ipv4Number(text, 0, addrEnd) : undefined;
  const v6 = v4 === undefined ? parseIpv6(text.slice(0, addrEnd)) : undefined;
  if (v4 === -1) return { ok: false, error: 'invalid-ipv4' };
  if (v4 === undefined && v6 === undefined) return { ok: false, error: 'invalid-ipv6' };
  const family: Family = v4 === undefined ? 6 : 4;
  const bits = FAMILY_BITS[family];
  const value = v4 === undefined ? (v6 as bigint) : BigInt(v4);
  if (slash < 0) return { ok: true, prefix: { family, value, length: bits } };
  const lenText = text.slice(slash + 1);
  if (!/^[0-9]{1,3}$/.test(lenText) || Number(lenText) > bits) return { ok: false, error: 'length-out-of-range', family, length: lenText };
  const length = Number(lenText);
  // IPv4's host part's size as a number (2^32 at /0): exact in a double, unlike a 32-bit shift.
  const network = v4 === undefined ? value & prefixMask(family, length) : v4 - (v4 % 2 ** (32 - length));
  if (network !== (v4 ?? value)) return { ok: false, error: 'host-bits', network: { family, value: BigInt(network), length } };
  return { ok: true, prefix: { family, value, length } };
}

export function prefixMask(family: Family, length: number): bigint {
  const bits = BigInt(FAMILY_BITS[family]);
  return familyMax(family) ^ ((1n << (bits - BigInt(length))) - 1n);
}

export function prefixRange(p: Prefix): AddrRange {
  // IPv4's end in a double (exact below 2^53): one bigint made, not three.
  if (p.family === 4) return [p.value, BigInt(Number(p.value) + 2 ** (32 - p.length) - 1)];
  const size = 1n << BigInt(FAMILY_BITS[p.family] - p.length);
  return [p.value, p.value + size - 1n];
}

/** Parses canonical prefix text from the IR (trusted input: throws on a malformed one). */
export function prefixFromText(text: string): Prefix {
  const r = parsePrefix(text);
  if (!r.ok) throw new Error(`not a canonical prefix: ${text}`);
  return r.prefix;
}

// ---- Interval lists ---------------------------------------------------------------------------

/** Sorts and merges overlapping or adjacent ranges. */
export function normalizeRanges(ranges: readonly AddrRange[]): AddrRange[] {
  const sorted = [...ranges].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const out: [bigint, bigint][] = [];
  for (const [lo, hi] of sorted) {
    const last = out[out.length - 1];
    if (last && lo <= last[1] + 1n) {
      if (hi > last[1]) last[1] = hi;
    } else out.push([lo, hi]);
  }
  return out;
}

export function unionRanges(a: readonly AddrRange[], b: readonly AddrRange[]): AddrRange[] {
  return normalizeRanges([...a, ...b]);
}

/** a minus b, both normalised. */
export function subtractRanges(a: readonly AddrRange[], b: readonly AddrRange[]): AddrRange[] {
  const out: AddrRange[] = [];
  let j = 0;
  for (const [alo, ahi] of a) {
    let lo = alo;
    while (j < b.length && (b[j] as AddrRange)[1] < lo) j++;
    let k = j;
    while (lo <= ahi) {
      const cut = b[k];
      if (!cut || cut[0] > ahi) {
        out.push([lo, ahi]);
        break;
      }
      if (cut[0] > lo) out.push([lo, cut[0] - 1n]);
      lo = cut[1] + 1n;
      k++;
    }
  }
  return out;
}

/** a intersect b, both normalised. */
export function intersectRanges(a: readonly AddrRange[], b: readonly AddrRange[]): AddrRange[] {
  const out: AddrRange[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const [alo, ahi] = a[i] as AddrRange;
    const [blo, bhi] = b[j] as AddrRange;
    const lo = alo > blo ? alo : blo;
    const hi = ahi < bhi ? ahi : bhi;
    if (lo <= hi) out.push([lo, hi]);
    if (ahi < bhi) i++;
    else j++;
  }
  return out;
}

/** The unique minimal list of aligned prefixes covering exactly the (normalised) ranges. */
export function rangesToPrefixes(family: Family, ranges: readonly AddrRange[]): Prefix[] {
  const bits = FAMILY_BITS[family];
  const out: Prefix[] = [];
  for (const [lo, hi] of ranges) {
    let cur = lo;
    while (cur <= hi) {
      // The largest block aligned at `cur` that stays within `hi`.
      let size = cur === 0n ? 1n << BigInt(bits) : cur & -cur;
      while (cur + size - 1n > hi) size >>= 1n;
      const length = bits - (size.toString(2).length - 1);
      out.push({ family, value: cur, length });
      cur += size;
    }
  }
  return out;
}

/** Canonical prefix texts for a family's normalised ranges (the IR's `AddrSetIr` lists). */
export function rangesToPrefixTexts(family: Family, ranges: readonly AddrRange[]): string[] {
  return rangesToPrefixes(family, ranges).map(formatPrefix);
}

/** The normalised ranges of a list of canonical prefix texts of one family. */
export function prefixTextsToRanges(texts: readonly string[]): AddrRange[] {
  return normalizeRanges(texts.map((t) => prefixRange(prefixFromText(t))));
}

export function rangesContain(ranges: readonly AddrRange[], value: bigint): boolean {
  let lo = 0;
  let hi = ranges.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const r = ranges[mid] as AddrRange;
    if (value < r[0]) hi = mid - 1;
    else if (value > r[1]) lo = mid + 1;
    else return true;
  }
  return false;
}
