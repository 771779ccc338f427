// Port interval sets: the IR's `PortSetIr` (inclusive `[low, high]` intervals, sorted, disjoint
// and not adjacent). Used by `lower` to build them and by later stages to combine them.
import type { PortSetIr } from './ir.ts';

export const MAX_PORT = 65535;

/** Every port: `[[0, 65535]]`. */
export const ALL_PORTS: PortSetIr = [[0, MAX_PORT]];

/** Sorts and merges overlapping or adjacent intervals; the result is a `PortSetIr`. */
export function normalizePortIntervals(intervals: readonly (readonly [number, number])[]): PortSetIr {
  const sorted = [...intervals].sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const out: [number, number][] = [];
  for (const [lo, hi] of sorted) {
    const last = out[out.length - 1];
    if (last && lo <= last[1] + 1) {
      if (hi > last[1]) last[1] = hi;
    } else out.push([lo, hi]);
  }
  return out;
}

export function unionPortSets(a: PortSetIr, b: PortSetIr): PortSetIr {
  if (a.length === 0) return b;
  if (b.length === 0) return a;
  return normalizePortIntervals([...a, ...b]);
}

/** a intersect b, both normalised. */
export function intersectPortSets(a: PortSetIr, b: PortSetIr): PortSetIr {
  const out: [number, number][] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const [alo, ahi] = a[i] as readonly [number, number];
    const [blo, bhi] = b[j] as readonly [number, number];
    const lo = Math.max(alo, blo);
    const hi = Math.min(ahi, bhi);
    if (lo <= hi) out.push([lo, hi]);
    if (ahi < bhi) i++;
    else j++;
  }
  return out;
}

/** a minus b, both normalised. */
export function subtractPortSets(a: PortSetIr, b: PortSetIr): PortSetIr {
  const out: [number, number][] = [];
  let j = 0;
  for (const [alo, ahi] of a) {
    let lo = alo;
    while (j < b.length && (b[j] as readonly [number, number])[1] < lo) j++;
    let k = j;
    while (lo <= ahi) {
      const cut = b[k];
      if (!cut || cut[0] > ahi) {
        out.push([lo, ahi]);
        break;
      }
      if (cut[0] > lo) out.push([lo, cut[0] - 1]);
      lo = cut[1] + 1;
      k++;
    }
  }
  return out;
}

export function portSetContains(set: PortSetIr, port: number): boolean {
  let lo = 0;
  let hi = set.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const [a, b] = set[mid] as readonly [number, number];
    if (port < a) hi = mid - 1;
    else if (port > b) lo = mid + 1;
    else return true;
  }
  return false;
}

/** The number of ports in the set. */
export function portSetSize(set: PortSetIr): number {
  let n = 0;
  for (const [lo, hi] of set) n += hi - lo + 1;
  return n;
}
