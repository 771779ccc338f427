// Rule analysis, coverage: does a rule decide any packet (is its effective region, its space
// minus the union of every higher rule's, non-empty)? When not, which higher rules take its
// packets (its deciders), and a small set of them quoted as `related`. A question about the union
// of the rules that overlap it (partition.ts, `findUntaken`), stopping at the first packet it
// decides.
import type { Budget } from './budget.ts';
import type { OverlapIndex } from './overlap-index.ts';
import { findUntaken, partitionRegion } from './partition.ts';
import { regionIntersect, DIM_COUNT, type Box, type IntSet, type Region, type Space } from './space.ts';

export interface Decider {
  /** The higher rule (direction order). */
  readonly rule: number;
  /** One box of the rule's packets that this decider decides (a witness comes from it). */
  readonly part: Box;
  /** How many of the rule's packets it matches (a float: for ordering only). */
  readonly volume: number;
}

export interface Coverage {
  /**
   * A piece of the rule's effective region (packets it decides), or null when higher rules take
   * every packet it matches. The walk stops at the first such piece.
   */
  readonly reaching: Box | null;
  /**
   * When `reaching` is null: higher rules that decide some packet of the rule, ascending, whose
   * union covers it: of the deciders taken largest overlap first, the first ones that cover.
   */
  readonly deciders: Decider[];
}

/** Per kind and dimension, prefix sums of the elementary intervals' widths. */
export type Measure = readonly (readonly Float64Array[])[];

export function buildMeasure(space: Space): Measure {
  return space.widths.map((dims) =>
    dims.map((w) => {
      const sums = new Float64Array(w.length + 1);
      for (let i = 0; i < w.length; i++) sums[i + 1] = (sums[i] as number) + (w[i] as number);
      return sums;
    }),
  );
}

export function measureBox(measure: Measure, box: Box): number {
  let v = 1;
  const sums = measure[box.kind] as readonly Float64Array[];
  for (let d = 0; d < DIM_COUNT; d++) {
    const s = sums[d] as Float64Array;
    const set = box.dims[d] as IntSet;
    let n = 0;
    for (let i = 0; i < set.length; i += 2) n += (s[(set[i + 1] as number) + 1] as number) - (s[set[i] as number] as number);
    v *= n;
  }
  return v;
}

/**
 * The rule's coverage, or null when the budget ran out on the way. Whether higher rules cover
 * it is a question about their union, answered without first-match order (`findUntaken`); only
 * a covered rule then asks higher rules, largest overlap first, for a piece of it that they
 * decide (`decided`, which knows a packet of most rules' effective regions already) until those
 * that do cover it, instead of sharing its space out among thousands of rules in first-match order.
 */
export function coverRule(
  space: Space,
  index: OverlapIndex,
  measure: Measure,
  rule: number,
  budget: Budget,
  /** A piece of this rule's space that higher rule `s` decides; null when none, undefined when over budget. */
  decided: (s: number) => Box | null | undefined,
): Coverage | null {
  const region = space.ruleBoxes[rule] ?? [];
  const higher = index.higher(rule);
  const reaching = findUntaken(space, region, higher, budget);
  if (reaching === undefined) return null;
  if (reaching) return { reaching, deciders: [] };
  // A cover is drawn from the deciders, largest first (minimalCover), so only as many are
  // looked for as cover the rule: a covered rule low in a large policy has thousands.
  const largestFirst = higher.map((s) => {
    let volume = 0;
    for (const box of regionIntersect(space.ruleBoxes[s] ?? [], region)) volume += measureBox(measure, box);
    return { rule: s, volume };
  });
  largestFirst.sort((a, b) => b.volume - a.volume || a.rule - b.rule);
  const deciders: Decider[] = [];
  let checkAt = 1;
  for (const { rule: s, volume } of largestFirst) {
    const part = decided(s);
    if (part === undefined) return null;
    if (!part) continue;
    deciders.push({ rule: s, part, volume });
    if (deciders.length < checkAt) continue;
    checkAt *= 2;
    const untaken = findUntaken(
      space,
      region,
      deciders.map((d) => d.rule),
      budget,
    );
    if (untaken === undefined) return null;
    if (untaken === null) break;
  }
  return { reaching: null, deciders: deciders.sort((a, b) => a.rule - b.rule) };
}

/** Whether the union of these rules' spaces covers the region. */
function coversRegion(space: Space, region: Region, rules: readonly number[], budget: Budget): boolean | null {
  const untaken = findUntaken(space, region, rules, budget);
  return untaken === undefined ? null : untaken === null;
}

/** Above this many rules the cover is not minimised further (the cost is quadratic). */
const MINIMISE_AT_MOST = 24;

/**
 * A small set of deciders whose union still covers the rule. Many deciders are first thinned
 * greedily: one walk of the rule's space against them, largest first, keeps those that take a
 * part. Then, when few enough, each is tried for removal, those matching the fewest packets first,
 * and dropped when the rest still cover. Returns rule indices ascending (a cover in any case:
 * the deciders themselves when over budget).
 */
export function minimalCover(space: Space, rule: number, deciders: readonly Decider[], budget: Budget): number[] {
  let kept = deciders.map((d) => d.rule);
  const region = space.ruleBoxes[rule] ?? [];
  if (kept.length > MINIMISE_AT_MOST) {
    const largestFirst = [...deciders].sort((a, b) => b.volume - a.volume || a.rule - b.rule).map((d) => d.rule);
    const used = new Set<number>();
    const end = partitionRegion(space, region, largestFirst, { taken: (_part, s) => (used.add(s), true), untaken: () => true }, budget);
    if (end === 'budget') return kept;
    kept = [...used].sort((a, b) => a - b);
  }
  if (kept.length <= 1 || kept.length > MINIMISE_AT_MOST) return kept;
  const volume = new Map(deciders.map((d) => [d.rule, d.volume]));
  const order = [...kept].sort((a, b) => (volume.get(a) ?? 0) - (volume.get(b) ?? 0) || a - b);
  for (const d of order) {
    const without = kept.filter((r) => r !== d);
    const covers = coversRegion(space, region, without, budget);
    if (covers === null) return kept;
    if (covers) kept = without;
  }
  return kept;
}
