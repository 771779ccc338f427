// Rule analysis, the first-match walk: splits a region among a priority-ordered list of rules,
// as evaluation would. Depth first: a piece takes the first rule of its list that meets it, and
// what is left of the piece goes on with only the later rules that still meet it, so small
// pieces soon carry short lists (a flat "subtract each rule from every piece" costs the number
// of pieces times the number of rules, which explodes on wide rules low in large policies).
// A piece that still meets many rules is first cut in two at the median of their boundaries
// (as decision-tree classifiers such as HyperSplit do), so lists shrink geometrically; any
// split is exact, since each piece is walked against every rule that meets it. The same walk
// answers questions about a union (`findUntaken`: does any packet escape all these rules?),
// where order does not matter and a piece inside any rule of its list is dropped at once.
import type { Budget } from './budget.ts';
import { boxBounds, boxIntersect, boxIntersects, boxSubset, boxSubtract, setIntersect, DIM_COUNT, KIND_COUNT, type Box, type IntSet, type Region, type Space } from './space.ts';

export interface PartitionVisitor {
  /**
   * Called as a piece comes up with the rules that meet it (ascending): `walk` goes on,
   * `skip` drops the piece (the visitor dealt with it), `stop` ends the walk. Optional.
   */
  enter?(piece: Box, rules: readonly number[]): 'walk' | 'skip' | 'stop';
  /** `rule` takes `part` (a non-empty piece) first; return false to stop the walk. */
  taken(part: Box, rule: number): boolean;
  /** No rule of the list takes `piece`; return false to stop the walk. */
  untaken(piece: Box): boolean;
}

/** How the walk ended. */
export type PartitionEnd = 'done' | 'stopped' | 'budget';

function ruleBoxOfKind(space: Space, rule: number, kind: number): Box | undefined {
  return space.boxOf[rule * KIND_COUNT + kind];
}

const pieceBounds = new Int32Array(DIM_COUNT * 2);

/**
 * The rules from `from` on that meet the piece (bounds first, the exact test only when needed),
 * up to the first that contains it: that rule takes whatever is left of the piece, so no later
 * rule can take any of it (and their boundaries must not steer the splits). Null when that rule
 * is below `dropBelow`: the caller does not mind which of those rules takes a packet.
 */
function meeting(space: Space, piece: Box, rules: readonly number[], from: number, dropBelow: number): number[] | null {
  const out: number[] = [];
  const pieceSimple = boxBounds(piece, pieceBounds, 0);
  const { bounds, simple, boxOf } = space;
  const kind = piece.kind;
  for (let i = from; i < rules.length; i++) {
    const r = rules[i] as number;
    const at = r * KIND_COUNT + kind;
    const b = boxOf[at];
    if (!b) continue;
    const o = at * DIM_COUNT * 2;
    let d = 0;
    for (; d < DIM_COUNT * 2; d += 2) {
      if ((bounds[o + d] as number) > (pieceBounds[d + 1] as number) || (bounds[o + d + 1] as number) < (pieceBounds[d] as number)) break;
    }
    if (d < DIM_COUNT * 2) continue;
    let encloses = true;
    for (d = 0; d < DIM_COUNT * 2; d += 2) {
      if ((bounds[o + d] as number) > (pieceBounds[d] as number) || (bounds[o + d + 1] as number) < (pieceBounds[d + 1] as number)) {
        encloses = false;
        break;
      }
    }
    if (encloses && (simple[at] === 1 || boxSubset(piece, b))) {
      if (r < dropBelow) return null;
      out.push(r);
      break;
    }
    if ((pieceSimple && simple[at] === 1) || boxIntersects(piece, b)) out.push(r);
  }
  return out;
}

/** At most this many rules are sampled to place a split. */
const SPLIT_SAMPLE = 64;

/**
 * Cuts a piece in two along the dimension where the rules meeting it have the most boundaries
 * inside it, at their median; null when no rule has a boundary inside the piece.
 */
function splitPiece(space: Space, piece: Box, rules: readonly number[]): [Box, Box] | null {
  const step = Math.max(1, Math.floor(rules.length / SPLIT_SAMPLE));
  let bestDim = -1;
  let bestCut = 0;
  let bestCount = 0;
  for (let d = 0; d < DIM_COUNT; d++) {
    const own = piece.dims[d] as IntSet;
    const lo = own[0] as number;
    const hi = own[own.length - 1] as number;
    if (lo === hi) continue;
    const cuts: number[] = [];
    for (let i = 0; i < rules.length; i += step) {
      const set = (ruleBoxOfKind(space, rules[i] as number, piece.kind) as Box).dims[d] as IntSet;
      for (let j = 0; j < set.length; j += 2) {
        const a = set[j] as number;
        const z = (set[j + 1] as number) + 1;
        if (a > lo && a <= hi) cuts.push(a);
        if (z > lo && z <= hi) cuts.push(z);
      }
    }
    if (cuts.length > bestCount) {
      cuts.sort((x, y) => x - y);
      bestCount = cuts.length;
      bestDim = d;
      bestCut = cuts[cuts.length >> 1] as number;
    }
  }
  if (bestDim < 0) return null;
  const own = piece.dims[bestDim] as IntSet;
  const left = setIntersect(own, [own[0] as number, bestCut - 1]);
  const right = setIntersect(own, [bestCut, own[own.length - 1] as number]);
  const with_ = (set: IntSet): Box => ({ kind: piece.kind, dims: piece.dims.map((x, d) => (d === bestDim ? set : x)) });
  return [with_(left), with_(right)];
}

/** At most this many protocol cells are walked one by one (see `sliceByProtocol`). */
const PROTOCOL_SLICES_AT_MOST = 16;

/**
 * A box cut into one box per protocol cell, when it spans a few: protocols split rules apart
 * more than any other field (an sctp packet meets only the rules that name sctp or any), so
 * the slices meeting the fewest rules, walked first, settle quickly.
 */
function sliceByProtocol(box: Box): Box[] {
  const protocols = box.dims[0] as IntSet;
  let cells = 0;
  for (let i = 0; i < protocols.length; i += 2) cells += (protocols[i + 1] as number) - (protocols[i] as number) + 1;
  if (cells <= 1 || cells > PROTOCOL_SLICES_AT_MOST) return [box];
  const out: Box[] = [];
  for (let i = 0; i < protocols.length; i += 2) {
    for (let c = protocols[i] as number; c <= (protocols[i + 1] as number); c++) out.push({ kind: box.kind, dims: [[c, c], ...box.dims.slice(1)] });
  }
  return out;
}

/**
 * Walks `region` against `rules` (ascending priority), calling the visitor per piece. Rules below
 * `dropBelow` are only there to take packets away: a piece one of them contains is dropped
 * without a call, whichever of them would take it first.
 */
export function partitionRegion(space: Space, region: Region, rules: readonly number[], visitor: PartitionVisitor, budget: Budget, dropBelow = -1): PartitionEnd {
  const stack: { box: Box; rules: number[] }[] = [];
  const frames = (boxes: readonly Box[], list: readonly number[], from: number) => {
    const out: { box: Box; rules: number[] }[] = [];
    for (const box of boxes) {
      const meets = meeting(space, box, list, from, dropBelow);
      if (meets) out.push({ box, rules: meets });
    }
    // The child meeting the fewest rules is walked first: it ends soonest, and a walk looking
    // for one untaken packet (a rule that decides something) finds it there most often.
    out.sort((x, y) => y.rules.length - x.rules.length);
    for (const frame of out) stack.push(frame);
  };
  frames(region.flatMap(sliceByProtocol), rules, 0);
  while (stack.length > 0) {
    const frame = stack.pop() as { box: Box; rules: number[] };
    if (visitor.enter) {
      const what = visitor.enter(frame.box, frame.rules);
      if (what === 'stop') return 'stopped';
      if (what === 'skip') continue;
    }
    const first = frame.rules[0];
    if (first === undefined) {
      if (!visitor.untaken(frame.box)) return 'stopped';
      continue;
    }
    const b = ruleBoxOfKind(space, first, frame.box.kind) as Box;
    if (budget.spend()) return 'budget';
    const halves = frame.rules.length > space.splitAbove && !boxSubset(frame.box, b) ? splitPiece(space, frame.box, frame.rules) : null;
    if (halves) frames(halves, frame.rules, 0);
    else {
      const part = boxIntersect(frame.box, b);
      if (part && !visitor.taken(part, first)) return 'stopped';
      const pieces: Box[] = [];
      boxSubtract(frame.box, b, pieces);
      frames(pieces, frame.rules, 1);
    }
  }
  return 'done';
}

/**
 * A piece of the region that none of the rules meets, or null when their union covers it
 * (undefined when the budget ran out). A union does not depend on the rules' order, so unlike
 * the first-match walk a piece is done as soon as any rule of its list contains it: a wide rule
 * low in the list settles at once what the first-match walk would share out among every rule
 * above it.
 */
export function findUntaken(space: Space, region: Region, rules: readonly number[], budget: Budget): Box | null | undefined {
  let found: Box | null = null;
  const visitor: PartitionVisitor = {
    taken: () => true,
    untaken(piece) {
      found = piece;
      return false;
    },
  };
  return partitionRegion(space, region, rules, visitor, budget, Infinity) === 'budget' ? undefined : found;
}
