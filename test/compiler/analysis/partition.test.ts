// The union walk (`findUntaken`) against brute force: random tcp rules over a tiny space, every
// cell of the compressed space enumerated. Whatever the rules' order and the split threshold,
// it must find a piece exactly when the rules leave part of the region uncovered, and the piece
// must lie in the region and outside every rule.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createBudget } from '../../../compiler/analysis/budget.ts';
import { findUntaken } from '../../../compiler/analysis/partition.ts';
import { boxSubset, buildSpace, type Box, type Space } from '../../../compiler/analysis/space.ts';
import { ruleIr, type RuleSpec } from '../../support/ir-builder.ts';

const at = { id: 0, direction: 'ingress' as const, priority: 1, span: { file: 't', start: 0, end: 0 } };

const prefixArb = fc.constantFrom('any', '10.0.0.0/29', '10.0.0.0/30', '10.0.0.4/30', '10.0.0.2/31', '10.0.0.5', '10.0.0.6');
const portArb = fc.constantFrom<RuleSpec['dport']>(undefined, 0, 1, '0-1', '2-3', [0, 3]);
const ruleArb = fc.record({ from: prefixArb, to: prefixArb, dport: portArb }).map(
  (g): RuleSpec => ({ action: 'allow', proto: 'tcp', from: g.from, to: g.to, ...(g.dport === undefined ? {} : { dport: g.dport }) }),
);

/** Every cell (one index per dimension) of a kind of the compressed space. */
function cellsOf(space: Space, kind: number): Box[] {
  const dims = (space.cuts[kind] ?? []).map((cuts) => cuts.length);
  let cells: number[][] = [[]];
  for (const n of dims) cells = cells.flatMap((c) => Array.from({ length: n }, (_, i) => [...c, i]));
  return cells.map((c) => ({ kind, dims: c.map((i) => [i, i]) }));
}

const inside = (cell: Box, boxes: readonly Box[]) => boxes.some((b) => boxSubset(cell, b));

describe('findUntaken', () => {
  it('finds an uncovered piece exactly when the rules do not cover the region, in any order and split', () => {
    fc.assert(
      fc.property(fc.array(ruleArb, { minLength: 1, maxLength: 12 }), fc.integer({ min: 1, max: 8 }), fc.boolean(), (specs, splitAbove, reversed) => {
        const space = buildSpace(
          specs.map((s) => ruleIr(s, at)),
          splitAbove,
        );
        const region = space.ruleBoxes[0] ?? [];
        const others = specs.map((_, i) => i).slice(1);
        const rules = reversed ? others.reverse() : others;
        const found = findUntaken(space, region, rules, createBudget(60_000, () => 0));
        const ruleBoxes = rules.flatMap((r) => space.ruleBoxes[r] ?? []);
        const uncovered = region.flatMap((box) => cellsOf(space, box.kind).filter((cell) => inside(cell, [box]) && !inside(cell, ruleBoxes)));
        expect(found === null).toBe(uncovered.length === 0);
        if (found) {
          const cells = cellsOf(space, found.kind).filter((cell) => inside(cell, [found]));
          expect(cells.length).toBeGreaterThan(0);
          for (const cell of cells) expect(inside(cell, region) && !inside(cell, ruleBoxes)).toBe(true);
        }
      }),
      { numRuns: 300 },
    );
  });
});
