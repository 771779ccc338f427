// Rule analysis, the per-rule findings of one direction. Definitions (verdict = action and log;
// E = the rule's effective region, the packets it decides; a decider of R = a higher rule that
// decides some packet of R):
// - E empty: R is `shadowed` when some decider has another action, else `redundant`; related:
//   a small set of deciders that covers R (with at least one of another action when shadowed).
// - E non-empty: R is `redundant` when, without R, every packet of E would get R's verdict from
//   the lower rules or the default; related: those lower rules (and the default, flagged).
// - Otherwise, each decider S of another action gives R a `generalization` when R contains S,
//   else a `conflict` (then S is not inside R, and R is not inside S as E is non-empty). A rule
//   gets at most one finding of each; the witness is a packet of R that the first such S decides.
// A shadowed or redundant rule gets no conflict or generalization finding: removing it is the
// advice, and its overlaps do not matter once it is gone.
import type { Budget } from './budget.ts';
import { coverRule, minimalCover, type Measure } from './coverage.ts';
import type { OverlapIndex } from './overlap-index.ts';
import { findUntaken } from './partition.ts';
import { checkLowerRules } from './redundant.ts';
import { pointOf, regionFirstIntersection, regionIntersect, ruleRegionSubset, DIM_COUNT, KIND_COUNT, type Box, type Space } from './space.ts';
import type { DirectionIr, RuleIr } from '../ir.ts';
import type { Packet } from '../packet.ts';

/** What a rule does to its packets: `deny audit` lets them pass, unlike a deny. */
function effectOf(r: RuleIr): string {
  return r.audit ? 'deny audit' : r.action;
}

export type FindingCategory = 'shadowed' | 'redundant' | 'conflict' | 'generalization';

export interface RuleFinding {
  readonly category: FindingCategory;
  readonly rule: RuleIr;
  /**
   * The rules involved (see the definitions above), ascending priority. For conflict and
   * generalization, the first `maxRelated` of them: the search stops there.
   */
  readonly related: readonly RuleIr[];
  /** False when more rules are involved than `related` lists. */
  readonly relatedComplete: boolean;
  /** For `redundant`: some packets of the rule would fall to the default, which agrees. */
  readonly viaDefault: boolean;
  /** A packet proving it (shadowed, conflict, generalization), or null. */
  readonly witness: Packet | null;
}

export interface DirectionContext {
  readonly direction: DirectionIr;
  readonly space: Space;
  readonly index: OverlapIndex;
  readonly measure: Measure;
  /** Per rule analysed so far: a piece of what it decides, or null when it decides nothing. */
  readonly reaching: (Box | null | undefined)[];
  /** Per rule: more pieces of what it decides, found by later rules' questions (the latest few). */
  readonly moreReaching: Box[][];
  /** How many conflicting (and generalized) rules to look for per rule. */
  readonly maxRelated: number;
}

/** The findings of one rule (direction order), or null when the budget ran out. */
export function findRuleFindings(ctx: DirectionContext, rule: number, budget: Budget): RuleFinding[] | null {
  const { direction, space, index, measure } = ctx;
  const rules = direction.rules;
  const me = rules[rule] as RuleIr;
  const ruleAt = (i: number) => rules[i] as RuleIr;
  const make = (category: FindingCategory, related: readonly number[], witness: Box | undefined, viaDefault = false, relatedComplete = true): RuleFinding => ({
    category,
    rule: me,
    related: related.map(ruleAt),
    relatedComplete,
    viaDefault,
    witness: witness ? pointOf(space, witness) : null,
  });
  const mine = space.ruleBoxes[rule] ?? [];
  const higher = index.higher(rule);

  /** The first higher rule of another action that decides some packet of this one, with such a packet. */
  const firstOtherDecider = (upTo: number): { rule: number; piece: Box } | null | undefined => {
    for (const s of higher) {
      if (s > upTo) break;
      if (effectOf(ruleAt(s)) === effectOf(me) || ctx.reaching[s] === null) continue;
      const piece = decidedPart(ctx, s, mine, budget);
      if (piece === undefined) return undefined;
      if (piece) return { rule: s, piece };
    }
    return null;
  };

  // Fast path for a rule inside one higher rule (duplicates, wide rules repeated low in the
  // list): it decides nothing, and whether it is shadowed takes a search for one decider of
  // another action, not a walk over everything above it. The container is the quoted cover.
  if (higher.length > CONTAINER_CHECK_AT) {
    const container = higher.find((s) => boundsEnclose(space, s, rule) && ruleRegionSubset(mine, space.ruleBoxes[s] ?? []));
    if (container !== undefined) {
      ctx.reaching[rule] = null;
      const other = firstOtherDecider(container);
      if (other === undefined) return null;
      if (other === null) return [make('redundant', [container], undefined)];
      const related = effectOf(ruleAt(container)) !== effectOf(me) ? [container] : [Math.min(container, other.rule), Math.max(container, other.rule)];
      return [make('shadowed', related, other.piece)];
    }
  }

  const coverage = coverRule(space, index, measure, rule, budget, (s) => decidedPart(ctx, s, mine, budget));
  if (coverage === null) return null;
  ctx.reaching[rule] = coverage.reaching;

  if (coverage.reaching === null) {
    const first = firstOtherDecider(rule);
    if (first === undefined) return null;
    const cover = minimalCover(space, rule, coverage.deciders, budget);
    if (budget.exhausted) return null;
    if (!first) return [make('redundant', cover, undefined)];
    const related = cover.some((r) => effectOf(ruleAt(r)) !== effectOf(me)) ? cover : [...cover, first.rule].sort((a, b) => a - b);
    return [make('shadowed', related, first.piece)];
  }

  // The packets already known to be decided by this rule are the likeliest to change verdict
  // without it: look there first, then over the whole rule.
  const probe = checkLowerRules(space, index, rules, direction.defaultAction, rule, budget, false, coverage.reaching);
  const lower = probe?.redundant ? checkLowerRules(space, index, rules, direction.defaultAction, rule, budget, true) : probe;
  if (!lower) return null;
  if (lower.redundant) return [make('redundant', lower.lower, undefined, lower.reachesDefault)];

  const inside: { rule: number; piece: Box }[] = [];
  const crossing: { rule: number; piece: Box }[] = [];
  const want = Math.max(1, ctx.maxRelated);
  for (const s of higher) {
    if (effectOf(ruleAt(s)) === effectOf(me)) continue;
    const reachingS = ctx.reaching[s];
    // A rule that decides nothing decides nothing of this one either.
    if (reachingS === null) continue;
    const theirs = space.ruleBoxes[s] ?? [];
    const contained = boundsEnclose(space, rule, s) && ruleRegionSubset(theirs, mine);
    // One more than wanted proves there are more; past that, this kind is not searched.
    if ((contained ? inside : crossing).length > want) {
      if (inside.length > want && crossing.length > want) break;
      continue;
    }
    const piece = decidedPart(ctx, s, mine, budget);
    if (piece === undefined) return null;
    if (piece) (contained ? inside : crossing).push({ rule: s, piece });
  }
  const out: RuleFinding[] = [];
  const listed = (found: { rule: number }[]) => found.slice(0, want).map((d) => d.rule);
  if (crossing[0]) out.push(make('conflict', listed(crossing), crossing[0].piece, false, crossing.length <= want));
  if (inside[0]) out.push(make('generalization', listed(inside), inside[0].piece, false, inside.length <= want));
  return out;
}

/** At most this many pieces of `moreReaching` are kept per rule, the latest. */
const MORE_REACHING_KEPT = 8;

/** Above this many overlapping higher rules, a rule is first checked for one that contains it. */
const CONTAINER_CHECK_AT = 16;

/**
 * A piece of `region` that higher rule `s` decides (no rule above `s` takes it), null when
 * none, undefined when over budget. A known packet of `s`'s own effective region that lies in
 * the region settles it at once.
 */
function decidedPart(ctx: DirectionContext, s: number, region: readonly Box[], budget: Budget): Box | null | undefined {
  const { space, index } = ctx;
  const reachingS = ctx.reaching[s];
  if (reachingS === null) return null;
  const known = reachingS === undefined ? null : regionFirstIntersection([reachingS], region);
  if (known) return known;
  const more = ctx.moreReaching[s] ?? [];
  for (const piece of more) {
    const also = regionFirstIntersection([piece], region);
    if (also) return also;
  }
  const overlap = regionIntersect(space.ruleBoxes[s] ?? [], region);
  // The walk's first step keeps only the rules that meet the overlap (bounds first).
  const found = findUntaken(space, overlap, index.higher(s), budget);
  // Rules low in the list ask about the same higher rules over and over, on nearby regions.
  if (found) {
    if (more.length === MORE_REACHING_KEPT) more.shift();
    more.push(found);
    ctx.moreReaching[s] = more;
  }
  return found;
}

/** Whether each box of `inner` lies within the bounds of `outer`'s box of its kind (a quick test before the exact one). */
function boundsEnclose(space: Space, outer: number, inner: number): boolean {
  const { bounds } = space;
  for (const box of space.ruleBoxes[inner] ?? []) {
    const o = (outer * KIND_COUNT + box.kind) * DIM_COUNT * 2;
    const i = (inner * KIND_COUNT + box.kind) * DIM_COUNT * 2;
    if (!space.boxOf[outer * KIND_COUNT + box.kind]) return false;
    for (let d = 0; d < DIM_COUNT * 2; d += 2) {
      if ((bounds[o + d] as number) > (bounds[i + d] as number) || (bounds[o + d + 1] as number) < (bounds[i + d + 1] as number)) return false;
    }
  }
  return true;
}
