// Rule analysis, the packet space: turns a direction's rules into exact regions of packets and
// gives the set algebra (intersect, subtract, contain) the passes run on.
//
// The space is not one product of header fields: a packet's fields depend on what it is. It is
// a disjoint union of six packet kinds, each a product of five dimensions:
//   kind          family  dim 0 protocol        dims 1, 2      dim 3        dim 4
//   ports4/6      4 / 6   6, 17 or 132          src, dst addr  src port     dst port
//   icmp4/6       4 / 6   (1 for v4, 58 for v6) src, dst addr  icmp type    icmp code
//   bare4/6       4 / 6   any number 0-255      src, dst addr  (none)       (none)
// `bare` packets carry no L4 fields: later fragments of any protocol, and every protocol that
// has neither ports nor an ICMP header in its family (icmpv6 over IPv4 is bare). Unused
// dimensions hold the single value 0. Every point of a kind is therefore a real packet, which
// is what makes witnesses real. A rule (ir.ts, evaluate.ts) becomes at most one box per kind,
// each dimension a set of values; the rule's match space is the union of its boxes.
//
// Coordinate compression: per kind and dimension, the ends of every rule's intervals cut the
// domain into elementary intervals; a set is then a sorted list of index intervals over small
// integers (`IntSet`), so the algebra stays exact with no bigint in the hot loops. `pointOf`
// maps an index back to a real value for witnesses.
import { formatAddress, type AddrRange, type Family } from '../cidr.ts';
import type { RuleIr } from '../ir.ts';
import { DIMENSION_COUNT, fieldAt, fieldMax, icmpProtocol, MATCH_FIELDS, type MatchField, type PacketShape } from '../match-fields.ts';
import type { Packet } from '../packet.ts';

export const KIND_COUNT = 6;
/** Dimensions of a kind: as the match-field table places its fields. */
export const DIM_COUNT = DIMENSION_COUNT;

/** Kinds in index order: ports4, icmp4, bare4, ports6, icmp6, bare6. */
export const KINDS = [
  { name: 'ports4', family: 4, shape: 'ports' },
  { name: 'icmp4', family: 4, shape: 'icmp' },
  { name: 'bare4', family: 4, shape: 'bare' },
  { name: 'ports6', family: 6, shape: 'ports' },
  { name: 'icmp6', family: 6, shape: 'icmp' },
  { name: 'bare6', family: 6, shape: 'bare' },
] as const satisfies readonly { name: string; family: Family; shape: PacketShape }[];

/** Index intervals, flat: `[lo0, hi0, lo1, hi1, ...]`, inclusive, sorted, disjoint. */
export type IntSet = readonly number[];

/** A product of five index sets within one kind; never empty when made by this module. */
export interface Box {
  readonly kind: number;
  readonly dims: readonly IntSet[];
}

/** A set of packets as disjoint boxes. */
export type Region = readonly Box[];

/** The compressed space of one direction: per kind and dimension, the elementary intervals' starts. */
export interface Space {
  /** `cuts[kind][dim][i]` is the first value of elementary interval i. */
  readonly cuts: readonly (readonly bigint[])[][];
  /** `widths[kind][dim][i]`: how many values elementary interval i holds (as a float). */
  readonly widths: readonly (readonly number[])[][];
  /** Per rule (direction order): its boxes, at most one per kind. */
  readonly ruleBoxes: readonly Region[];
  /** `boxOf[rule * KIND_COUNT + kind]`: the rule's box of that kind, if any. */
  readonly boxOf: readonly (Box | undefined)[];
  /** Per rule box (same index): first and last index per dimension, DIM_COUNT pairs. */
  readonly bounds: Int32Array;
  /** Per rule box: 1 when every dimension is one interval (bounds then say everything). */
  readonly simple: Uint8Array;
  /** Walks (partition.ts) cut a piece in two before a rule takes its part when it meets more rules than this. */
  readonly splitAbove: number;
}

/** The default of `Space.splitAbove`, tuned on the ClassBench 10k sets (16 to 64 are close). */
export const DEFAULT_SPLIT_ABOVE = 32;

/** The raw (uncompressed) box of a rule in one kind: one bigint interval list per dimension, or null. */
type RawBox = readonly (readonly AddrRange[])[];

const ZERO: AddrRange[] = [[0n, 0n]];

/** The protocols a shape of packet has (null: any): tcp, udp and sctp carry ports; icmp its header. */
function shapeProtocols(shape: PacketShape, family: Family): AddrRange[] | null {
  if (shape === 'ports') return PORT_PROTOCOLS_OF_SHAPE.map((p): AddrRange => [BigInt(p), BigInt(p)]);
  if (shape === 'icmp') return [[BigInt(icmpProtocol(family)), BigInt(icmpProtocol(family))]];
  return null;
}

const PORT_PROTOCOLS_OF_SHAPE: readonly number[] = [6, 17, 132];

function intersectRaw(a: readonly AddrRange[], b: readonly AddrRange[]): AddrRange[] {
  const out: AddrRange[] = [];
  for (const [alo, ahi] of a) {
    for (const [blo, bhi] of b) {
      const lo = alo > blo ? alo : blo;
      const hi = ahi < bhi ? ahi : bhi;
      if (lo <= hi) out.push([lo, hi]);
    }
  }
  return out.sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
}

/**
 * The rule's raw box in each kind, by the match-field table (so, exactly as evaluate.ts
 * decides): a field the kind of packet lacks must be untested; each field it carries takes the
 * rule's constraint (its whole domain when untested), and an empty one leaves no box. The
 * protocol is cut to what the kind carries (an icmp kind's single protocol collapses to 0).
 */
function spaceRawBoxes(rule: RuleIr): (RawBox | null)[] {
  return KINDS.map(({ family, shape }, kind): RawBox | null => {
    const dims: (readonly AddrRange[])[] = Array.from({ length: DIM_COUNT }, () => ZERO);
    for (const field of MATCH_FIELDS) {
      const constraint = field.constraint(rule, family);
      if (!field.shapes.includes(shape)) {
        if (constraint !== null) return null;
        continue;
      }
      let ranges: readonly AddrRange[] = constraint ?? [[0n, fieldMax(field, family)]];
      if (field.dimension === PROTOCOL_DIMENSION) {
        const carried = shapeProtocols(shape, family);
        if (carried) ranges = intersectRaw(ranges, carried);
        if (ranges.length > 0 && domainMax(kind, field.dimension) === 0n) ranges = ZERO;
      }
      if (ranges.length === 0) return null;
      dims[field.dimension] = ranges;
    }
    return dims;
  });
}

/** The protocol's dimension (the analysis' passes split on it first). */
export const PROTOCOL_DIMENSION = (MATCH_FIELDS.find((f) => f.name === 'protocol') as MatchField).dimension;

function domainMax(kind: number, dim: number): bigint {
  const k = KINDS[kind];
  if (!k) throw new Error(`no kind ${kind}`);
  const field = fieldAt(k.shape, dim);
  if (!field) return 0n;
  // An icmp packet's protocol is fixed by its family: one value.
  if (dim === PROTOCOL_DIMENSION && k.shape === 'icmp') return 0n;
  return fieldMax(field, k.family);
}

/** Builds the compressed space of a direction's rules (in direction order). */
export function buildSpace(rules: readonly RuleIr[], splitAbove = DEFAULT_SPLIT_ABOVE): Space {
  const raw = rules.map(spaceRawBoxes);
  const cuts: bigint[][][] = [];
  const widths: number[][][] = [];
  const indexOf: Map<bigint, number>[][] = [];
  for (let k = 0; k < KIND_COUNT; k++) {
    cuts.push([]);
    widths.push([]);
    indexOf.push([]);
    for (let d = 0; d < DIM_COUNT; d++) {
      const max = domainMax(k, d);
      const points = new Set<bigint>([0n, max + 1n]);
      for (const boxes of raw) {
        const box = boxes[k];
        if (!box) continue;
        for (const [lo, hi] of box[d] ?? []) {
          points.add(lo);
          points.add(hi + 1n);
        }
      }
      const sorted = [...points].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      const map = new Map<bigint, number>();
      sorted.forEach((v, i) => map.set(v, i));
      // The last point is the end of the domain, not the start of an interval.
      const starts = sorted.slice(0, -1);
      cuts[k]?.push(starts);
      widths[k]?.push(starts.map((v, i) => Number((sorted[i + 1] ?? v) - v)));
      indexOf[k]?.push(map);
    }
  }
  const ruleBoxes = raw.map((boxes) => {
    const region: Box[] = [];
    boxes.forEach((box, k) => {
      if (!box) return;
      const dims = box.map((ranges, d) => {
        const map = indexOf[k]?.[d];
        const flat: number[] = [];
        for (const [lo, hi] of mergeRaw(ranges)) {
          const i = map?.get(lo);
          const j = map?.get(hi + 1n);
          if (i === undefined || j === undefined) throw new Error('interval end missing from the cuts');
          flat.push(i, j - 1);
        }
        return flat;
      });
      region.push({ kind: k, dims });
    });
    return region;
  });
  const boxOf: (Box | undefined)[] = new Array<Box | undefined>(rules.length * KIND_COUNT).fill(undefined);
  const bounds = new Int32Array(rules.length * KIND_COUNT * DIM_COUNT * 2);
  const simple = new Uint8Array(rules.length * KIND_COUNT);
  ruleBoxes.forEach((region, r) => {
    for (const box of region) {
      const at = r * KIND_COUNT + box.kind;
      boxOf[at] = box;
      simple[at] = boxBounds(box, bounds, at * DIM_COUNT * 2) ? 1 : 0;
    }
  });
  return { cuts, widths, ruleBoxes, boxOf, bounds, simple, splitAbove };
}

/** Writes a box's bounds at `offset`; true when every dimension is one interval. */
export function boxBounds(box: Box, out: Int32Array, offset: number): boolean {
  let simple = true;
  for (let d = 0; d < DIM_COUNT; d++) {
    const set = box.dims[d] as IntSet;
    out[offset + 2 * d] = set[0] as number;
    out[offset + 2 * d + 1] = set[set.length - 1] as number;
    if (set.length > 2) simple = false;
  }
  return simple;
}

function mergeRaw(ranges: readonly AddrRange[]): AddrRange[] {
  const out: [bigint, bigint][] = [];
  for (const [lo, hi] of [...ranges].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))) {
    const last = out[out.length - 1];
    if (last && lo <= last[1] + 1n) {
      if (hi > last[1]) last[1] = hi;
    } else out.push([lo, hi]);
  }
  return out;
}

// ---- Index sets ----------------------------------------------------------------------------

export function setIntersects(a: IntSet, b: IntSet): boolean {
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const ahi = a[i + 1] as number;
    const bhi = b[j + 1] as number;
    if ((a[i] as number) <= bhi && (b[j] as number) <= ahi) return true;
    if (ahi < bhi) i += 2;
    else j += 2;
  }
  return false;
}

export function setIntersect(a: IntSet, b: IntSet): number[] {
  const out: number[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const alo = a[i] as number;
    const ahi = a[i + 1] as number;
    const blo = b[j] as number;
    const bhi = b[j + 1] as number;
    const lo = alo > blo ? alo : blo;
    const hi = ahi < bhi ? ahi : bhi;
    if (lo <= hi) out.push(lo, hi);
    if (ahi < bhi) i += 2;
    else j += 2;
  }
  return out;
}

export function setSubtract(a: IntSet, b: IntSet): number[] {
  const out: number[] = [];
  let j = 0;
  for (let i = 0; i < a.length; i += 2) {
    let lo = a[i] as number;
    const hi = a[i + 1] as number;
    while (j < b.length && (b[j + 1] as number) < lo) j += 2;
    let k = j;
    while (lo <= hi) {
      if (k >= b.length || (b[k] as number) > hi) {
        out.push(lo, hi);
        break;
      }
      const cutLo = b[k] as number;
      if (cutLo > lo) out.push(lo, cutLo - 1);
      lo = (b[k + 1] as number) + 1;
      k += 2;
    }
  }
  return out;
}

/** a ⊆ b. */
export function setSubset(a: IntSet, b: IntSet): boolean {
  let j = 0;
  for (let i = 0; i < a.length; i += 2) {
    const lo = a[i] as number;
    const hi = a[i + 1] as number;
    while (j < b.length && (b[j + 1] as number) < lo) j += 2;
    if (j >= b.length || (b[j] as number) > lo || (b[j + 1] as number) < hi) return false;
  }
  return true;
}

// ---- Boxes and regions --------------------------------------------------------------------

export function boxIntersects(a: Box, b: Box): boolean {
  if (a.kind !== b.kind) return false;
  for (let d = 0; d < DIM_COUNT; d++) if (!setIntersects(a.dims[d] as IntSet, b.dims[d] as IntSet)) return false;
  return true;
}

export function boxIntersect(a: Box, b: Box): Box | null {
  if (a.kind !== b.kind) return null;
  const dims: number[][] = [];
  for (let d = 0; d < DIM_COUNT; d++) {
    const s = setIntersect(a.dims[d] as IntSet, b.dims[d] as IntSet);
    if (s.length === 0) return null;
    dims.push(s);
  }
  return { kind: a.kind, dims };
}

export function boxSubset(a: Box, b: Box): boolean {
  if (a.kind !== b.kind) return false;
  for (let d = 0; d < DIM_COUNT; d++) if (!setSubset(a.dims[d] as IntSet, b.dims[d] as IntSet)) return false;
  return true;
}

/**
 * Pushes the pieces of a \ b onto `out` (disjoint boxes; none when b covers a). Piece d keeps
 * a ∩ b on the dimensions before d, a \ b on d, and a on the rest: at most five pieces.
 */
export function boxSubtract(a: Box, b: Box, out: Box[]): void {
  if (!boxIntersects(a, b)) {
    out.push(a);
    return;
  }
  const prefix: IntSet[] = [];
  for (let d = 0; d < DIM_COUNT; d++) {
    const ad = a.dims[d] as IntSet;
    const bd = b.dims[d] as IntSet;
    const rest = setSubtract(ad, bd);
    if (rest.length > 0) {
      const dims: IntSet[] = prefix.slice();
      dims.push(rest);
      for (let e = d + 1; e < DIM_COUNT; e++) dims.push(a.dims[e] as IntSet);
      out.push({ kind: a.kind, dims });
    }
    prefix.push(setIntersect(ad, bd));
  }
}

/** The first box of region ∩ boxes, or null. */
export function regionFirstIntersection(region: Region, boxes: Region): Box | null {
  for (const a of region) {
    for (const b of boxes) {
      const c = boxIntersect(a, b);
      if (c) return c;
    }
  }
  return null;
}

/** a ∩ b for two rules' regions (each at most one box per kind). */
export function regionIntersect(a: Region, b: Region): Box[] {
  const out: Box[] = [];
  for (const x of a) {
    for (const y of b) {
      const c = boxIntersect(x, y);
      if (c) out.push(c);
    }
  }
  return out;
}

/** a ⊆ b for two rules' regions (each at most one box per kind). */
export function ruleRegionSubset(a: Region, b: Region): boolean {
  return a.every((x) => b.some((y) => boxSubset(x, y)));
}

// ---- Points -------------------------------------------------------------------------------

/** Protocols a witness prefers when the set allows them (a tcp fragment reads better than proto 0). */
const PREFERRED_PROTOCOLS: readonly number[] = [6, 17, 1, 58, 132];

function pickValue(space: Space, kind: number, dim: number, set: IntSet): bigint {
  const cuts = space.cuts[kind]?.[dim] ?? [];
  const intervals: [bigint, bigint][] = [];
  for (let i = 0; i < set.length; i += 2) intervals.push([cuts[set[i] as number] ?? 0n, (cuts[(set[i + 1] as number) + 1] ?? domainMax(kind, dim) + 1n) - 1n]);
  const k = KINDS[kind];
  const family = k?.family ?? 4;
  const shape = k?.shape;
  const field = k ? fieldAt(k.shape, dim) : undefined;
  const inside = (v: bigint) => intervals.some(([lo, end]) => v >= lo && v <= end);
  const preferred =
    dim === PROTOCOL_DIMENSION
      ? PREFERRED_PROTOCOLS.filter((p) => !((family === 4 && p === 58) || (family === 6 && p === 1))).map(BigInt)
      : (PREFERRED_VALUES[shape === 'ports' ? dim : -1]?.[family] ?? []);
  for (const v of preferred) if (inside(v)) return v;
  const [lo, end] = intervals[0] ?? [0n, 0n];
  if (field?.kind === 'prefix') {
    // A host inside the range, not its network address (10.1.2.1 for 10.1.2.0/24).
    return end > lo ? lo + 1n : lo;
  }
  // Port 0 reads like a mistake: the next port when the set has it.
  if (shape === 'ports' && lo === 0n && end > 0n) return 1n;
  return lo;
}

/**
 * Values a person recognises, taken when the set holds them (the witness stays exact: only
 * a value inside the set is ever returned). Protocols: tcp first. Addresses: the
 * documentation ranges (RFC 5737, RFC 3849), a different one for each side, so that `any`
 * reads as some host, not as 0.0.0.1 or ::1. Source port: a typical ephemeral port (inside
 * Linux's 32768-60999); destination port: https.
 */
const PREFERRED_VALUES: Readonly<Record<number, Readonly<Record<Family, readonly bigint[]>>>> = {
  1: { 4: [0xc0000207n], 6: [0x20010db8000000000000000000000007n] },
  2: { 4: [0xc6336414n], 6: [0x20010db8000100000000000000000014n] },
  3: { 4: [40000n, 49152n, 1024n], 6: [40000n, 49152n, 1024n] },
  4: { 4: [443n], 6: [443n] },
};

/**
 * An example packet of a region: the first IPv4 box when there is one (a region of `any`
 * spans both families), ports before ICMP before bare protocols.
 */
export function pointOfRegion(space: Space, boxes: readonly Box[]): Packet {
  let best = boxes[0];
  for (const b of boxes) if (best === undefined || b.kind < best.kind) best = b;
  if (best === undefined) throw new Error('an empty region has no example');
  return pointOf(space, best);
}

/** A real packet in the box: each field the box's kind carries, from its dimension. */
export function pointOf(space: Space, box: Box): Packet {
  const k = KINDS[box.kind];
  if (!k) throw new Error(`no kind ${box.kind}`);
  const packet: Record<string, number | string> = {};
  for (let d = 0; d < DIM_COUNT; d++) {
    const field = fieldAt(k.shape, d);
    if (!field) continue;
    const value = pickValue(space, box.kind, d, box.dims[d] as IntSet);
    packet[field.packet] = field.kind === 'prefix' ? formatAddress(k.family, value) : Number(value);
  }
  if (k.shape === 'icmp') packet['proto'] = icmpProtocol(k.family);
  return packet as unknown as Packet;
}
