import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { PortSetIr } from '../../compiler/ir.ts';
import {
  ALL_PORTS,
  intersectPortSets,
  normalizePortIntervals,
  portSetContains,
  portSetSize,
  subtractPortSets,
  unionPortSets,
} from '../../compiler/port-set.ts';

// Ports near both ends and the middle, so adjacency and the 0/65535 edges come up often.
const port = fc.oneof(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 65500, max: 65535 }), fc.integer({ min: 0, max: 65535 }));
const interval = fc.tuple(port, port).map(([a, b]): readonly [number, number] => [Math.min(a, b), Math.max(a, b)]);
const portSet = fc.array(interval, { maxLength: 6 }).map(normalizePortIntervals);

/** The ports worth probing for two sets: every interval end and its neighbours. */
function probes(...sets: PortSetIr[]): number[] {
  const out = new Set<number>([0, 65535]);
  for (const s of sets) for (const [lo, hi] of s) for (const p of [lo - 1, lo, lo + 1, hi - 1, hi, hi + 1]) if (p >= 0 && p <= 65535) out.add(p);
  return [...out];
}

function isNormalised(s: PortSetIr): boolean {
  return s.every(([lo, hi], i) => lo <= hi && (i === 0 || (s[i - 1] as readonly [number, number])[1] + 1 < lo));
}

const naiveContains = (intervals: readonly (readonly [number, number])[], p: number) => intervals.some(([lo, hi]) => p >= lo && p <= hi);

describe('port sets', () => {
  it('merge overlapping and adjacent intervals, keeping the same ports', () => {
    expect(normalizePortIntervals([[443, 443], [80, 81], [82, 90], [1024, 2047], [2000, 3000]])).toEqual([[80, 90], [443, 443], [1024, 3000]]);
    fc.assert(
      fc.property(fc.array(interval, { maxLength: 6 }), (raw) => {
        const s = normalizePortIntervals(raw);
        expect(isNormalised(s)).toBe(true);
        for (const p of probes(s, raw)) expect(portSetContains(s, p)).toBe(naiveContains(raw, p));
      }),
    );
  });

  it('compute union, intersection and difference exactly', () => {
    fc.assert(
      fc.property(portSet, portSet, (a, b) => {
        const u = unionPortSets(a, b);
        const i = intersectPortSets(a, b);
        const d = subtractPortSets(a, b);
        for (const s of [u, i, d]) expect(isNormalised(s)).toBe(true);
        for (const p of probes(a, b)) {
          const inA = naiveContains(a, p);
          const inB = naiveContains(b, p);
          expect([portSetContains(u, p), portSetContains(i, p), portSetContains(d, p)]).toEqual([inA || inB, inA && inB, inA && !inB]);
        }
        expect(portSetSize(u) + portSetSize(i)).toBe(portSetSize(a) + portSetSize(b));
      }),
    );
  });

  it('count every port in the full set, and none outside 0-65535', () => {
    expect(portSetSize(ALL_PORTS)).toBe(65536);
    expect(subtractPortSets(ALL_PORTS, [[0, 1023]])).toEqual([[1024, 65535]]);
    expect(portSetContains(ALL_PORTS, 65536)).toBe(false);
  });
});
