// Rule analysis, the overlap pre-filter: for a rule, the other rules of its direction whose
// match spaces intersect it, higher or lower in priority. Per kind, each rule box's bounds
// (first and last index per dimension) sit in one typed array, so the scan rejects most pairs
// with a few integer compares before the exact set test.
import { boxIntersects, DIM_COUNT, KIND_COUNT, type Box, type IntSet, type Space } from './space.ts';

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
    boxes.forEach((box, i) => {
      for (let d = 0; d < DIM_COUNT; d++) {
        const set = box.dims[d] as IntSet;
        bounds[(i * DIM_COUNT + d) * 2] = set[0] as number;
        bounds[(i * DIM_COUNT + d) * 2 + 1] = set[set.length - 1] as number;
      }
    });
    tables.push({ rules: Int32Array.from(rules), boxes, bounds });
  }

  /** Entries of a kind table from `from` to `to` whose boxes meet `box`, pushed as rule numbers. */
  const scanTable = (box: Box, from: number, to: number, found: number[]) => {
    const { bounds, boxes, rules } = tables[box.kind] as KindTable;
    const lo: number[] = [];
    const hi: number[] = [];
    for (let d = 0; d < DIM_COUNT; d++) {
      const set = box.dims[d] as IntSet;
      lo.push(set[0] as number);
      hi.push(set[set.length - 1] as number);
    }
    for (let i = from; i < to; i++) {
      const o = i * DIM_COUNT * 2;
      let d = 0;
      for (; d < DIM_COUNT; d++) {
        if ((bounds[o + 2 * d] as number) > (hi[d] as number) || (bounds[o + 2 * d + 1] as number) < (lo[d] as number)) break;
      }
      if (d < DIM_COUNT) continue;
      if (boxIntersects(box, boxes[i] as Box)) found.push(rules[i] as number);
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
