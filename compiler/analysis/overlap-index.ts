// Rule analysis, the overlap pre-filter: for a rule, the other rules of its direction whose
// match spaces intersect it, higher or lower in priority. Per kind, each rule box's bounds
// (first and last index per dimension) sit in one typed array, so the scan rejects most pairs
// with a few integer compares before the exact set test.
import { boxBounds, boxIntersects, DIM_COUNT, KIND_COUNT, type Box, type Space } from './space.ts';

export interface OverlapIndex {
  /** Rules before `rule` (direction order) whose space meets its, ascending. */
  higher(rule: number): number[];
  /** Rules after `rule` whose space meets its, ascending. */
  lower(rule: number): number[];
}

interface KindTable {
  readonly rules: Int32Array;
  readonly boxes: Box[];
  /** Per entry, DIM_COUNT pairs of (first, last) index. */
  readonly bounds: Int32Array;
  /** Per entry: 1 when every dimension is one interval (the bounds then say everything). */
  readonly simple: Uint8Array;
}

export function buildOverlapIndex(space: Space): OverlapIndex {
  const tables: KindTable[] = [];
  /** positions[rule * KIND_COUNT + kind]: the rule's entry in that kind's table, or -1. */
  const positions = new Int32Array(space.ruleBoxes.length * KIND_COUNT).fill(-1);
  for (let k = 0; k < KIND_COUNT; k++) {
    const rules: number[] = [];
    const boxes: Box[] = [];
    space.ruleBoxes.forEach((region, r) => {
      for (const box of region) {
        if (box.kind !== k) continue;
        positions[r * KIND_COUNT + k] = rules.length;
        rules.push(r);
        boxes.push(box);
      }
    });
    const bounds = new Int32Array(boxes.length * DIM_COUNT * 2);
    const simple = new Uint8Array(boxes.length);
    boxes.forEach((box, i) => {
      simple[i] = boxBounds(box, bounds, i * DIM_COUNT * 2) ? 1 : 0;
    });
    tables.push({ rules: Int32Array.from(rules), boxes, bounds, simple });
  }

  /**
   * Entries of a kind table from `from` to `to` whose boxes meet `box`, pushed as rule numbers.
   * The scan is quadratic over a direction, so its loop is unrolled and tests the addresses
   * first: they tell most pairs apart (protocols and ports rarely do).
   */
  const scanTable = (box: Box, from: number, to: number, found: number[]) => {
    const { bounds, boxes, rules, simple } = tables[box.kind] as KindTable;
    const own = new Int32Array(DIM_COUNT * 2);
    const ownSimple = boxBounds(box, own, 0);
    const [lo0, hi0, lo1, hi1, lo2, hi2, lo3, hi3, lo4, hi4] = own as unknown as number[];
    for (let i = from; i < to; i++) {
      const o = i * DIM_COUNT * 2;
      if ((bounds[o + 4] as number) > (hi2 as number) || (bounds[o + 5] as number) < (lo2 as number)) continue;
      if ((bounds[o + 2] as number) > (hi1 as number) || (bounds[o + 3] as number) < (lo1 as number)) continue;
      if ((bounds[o + 8] as number) > (hi4 as number) || (bounds[o + 9] as number) < (lo4 as number)) continue;
      if ((bounds[o + 6] as number) > (hi3 as number) || (bounds[o + 7] as number) < (lo3 as number)) continue;
      if ((bounds[o] as number) > (hi0 as number) || (bounds[o + 1] as number) < (lo0 as number)) continue;
      if ((ownSimple && simple[i] === 1) || boxIntersects(box, boxes[i] as Box)) found.push(rules[i] as number);
    }
  };
  const merge = (found: number[], parts: number) => (parts <= 1 ? found : [...new Set(found)].sort((a, b) => a - b));

  const scan = (rule: number, wantHigher: boolean): number[] => {
    const found: number[] = [];
    const region = space.ruleBoxes[rule] ?? [];
    for (const box of region) {
      const pos = positions[rule * KIND_COUNT + box.kind] as number;
      if (wantHigher) scanTable(box, 0, pos, found);
      else scanTable(box, pos + 1, (tables[box.kind] as KindTable).boxes.length, found);
    }
    return merge(found, region.length);
  };

  // Kept: the conflict pass asks again for the rules above each rule it meets.
  const higherMemo: (number[] | undefined)[] = [];
  return {
    higher(rule) {
      let found = higherMemo[rule];
      if (!found) {
        found = scan(rule, true);
        higherMemo[rule] = found;
      }
      return found;
    },
    lower: (rule) => scan(rule, false),
  };
}
