// Rule analysis, redundancy by what follows: would the packets a rule decides get the same
// verdict without it? Walks the rule's space against every other rule that meets it, in order
// (partition.ts), as evaluation without the rule would: parts that higher rules take do not
// matter; a lower rule taking a part with another verdict ends the walk (not redundant); what
// no rule takes falls to the default, which must then agree. A piece that no lower rule meets
// is only asked whether it reaches the default, so a wide rule near the end (deny everything
// above a default deny) costs one probe, not a walk of everything above it; and a first,
// evidence-only walk skips pieces where nothing could change the verdict.
import type { Budget } from './budget.ts';
import type { OverlapIndex } from './overlap-index.ts';
import { findUntaken, partitionRegion, type PartitionVisitor } from './partition.ts';
import { boxIntersect, KIND_COUNT, type Box, type Space } from './space.ts';
import type { RuleIr, Verdict } from '../ir.ts';

export interface LowerVerdict {
  readonly redundant: boolean;
  /** When redundant: the lower rules that take part of the region (same verdict), ascending. */
  readonly lower: number[];
  /** When redundant: some packets fall through to the default (which agrees). */
  readonly reachesDefault: boolean;
}

/** Pieces that meet at most this many lower rules are settled by union questions, not walked. */
const ONE_BY_ONE_AT_MOST = 4;

/** Log and audit (`deny audit` passes what it denies) make a verdict of its own. */
export function sameVerdict(a: RuleIr, b: RuleIr): boolean {
  return a.action === b.action && a.log === b.log && a.audit === b.audit;
}

/**
 * The answer for a rule that decides some packet, or null when over budget. The walk first
 * looks only for a packet that changes verdict, putting aside the pieces that cannot hold one;
 * `exhaustive`, a redundant answer then walks those too, so that `lower` and `reachesDefault`
 * are complete (not `exhaustive`, they are not: the answer is only whether it is redundant).
 */
export function checkLowerRules(
  space: Space,
  index: OverlapIndex,
  rules: readonly RuleIr[],
  defaultAction: Verdict,
  rule: number,
  budget: Budget,
  exhaustive: boolean,
  /** Walk only this part of the rule's space (it must lie outside every higher rule). */
  within?: Box,
): LowerVerdict | null {
  const me = rules[rule] as RuleIr;
  const defaultAgrees = !me.log && !me.audit && me.action === defaultAction;
  const lower = new Set<number>();
  let reachesDefault = false;
  let overBudget = false;
  let evidenceOnly = true;
  const putAside: { piece: Box; list: readonly number[] }[] = [];
  const visitor: PartitionVisitor = {
    enter(piece, list) {
      const head = list[0];
      // The first rule meeting a piece takes part of it whatever the rest: when that is a lower
      // rule of another verdict, the verdict changes (no need to split the piece first).
      if (head !== undefined && head > rule && !sameVerdict(me, rules[head] as RuleIr)) return 'stop';
      const last = list[list.length - 1];
      // Searching for evidence first: a piece no lower rule of another verdict meets, above a
      // default that agrees, cannot hold any.
      if (evidenceOnly && defaultAgrees && !list.some((t) => t > rule && !sameVerdict(me, rules[t] as RuleIr))) {
        if (exhaustive) putAside.push({ piece, list });
        return 'skip';
      }
      if (last !== undefined && last > rule) {
        const firstLower = list.findIndex((t) => t > rule);
        if (list.length - firstLower > ONE_BY_ONE_AT_MOST) return 'walk';
        // A few lower rules: which higher rule takes a packet does not matter, so each lower
        // rule's share (its part of the piece outside the rules before it) and the default's
        // are questions about unions, not a first-match walk through every higher rule.
        for (let i = firstLower; i < list.length; i++) {
          const t = list[i] as number;
          const part = boxIntersect(piece, space.boxOf[t * KIND_COUNT + piece.kind] as Box);
          const share = part && findUntaken(space, [part], list.slice(0, i), budget);
          if (share === undefined) {
            overBudget = true;
            return 'stop';
          }
          if (share && !visitor.taken(share, t)) return 'stop';
        }
        if (defaultAgrees && reachesDefault) return 'skip';
        const rest = findUntaken(space, [piece], list, budget);
        if (rest === undefined) {
          overBudget = true;
          return 'stop';
        }
        if (rest === null) return 'skip';
        reachesDefault = true;
        return defaultAgrees ? 'skip' : 'stop';
      }
      // Only higher rules meet this piece: its packets go to them or to the default.
      if (defaultAgrees && reachesDefault) return 'skip';
      const untaken = findUntaken(space, [piece], list, budget);
      if (untaken === undefined) {
        overBudget = true;
        return 'stop';
      }
      if (untaken === null) return 'skip';
      reachesDefault = true;
      return defaultAgrees ? 'skip' : 'stop';
    },
    taken(_part, t) {
      if (t < rule) return true;
      if (!sameVerdict(me, rules[t] as RuleIr)) return false;
      lower.add(t);
      return true;
    },
    untaken() {
      reachesDefault = true;
      return defaultAgrees;
    },
  };
  const region = within ? [within] : (space.ruleBoxes[rule] ?? []);
  // Which higher rule takes a packet does not matter, only that one does: a piece inside any of
  // them is dropped at once (`dropBelow`), not shared out among them.
  const end = partitionRegion(space, region, within ? index.lower(rule) : [...index.higher(rule), ...index.lower(rule)], visitor, budget, rule);
  if (end === 'budget' || overBudget) return null;
  if (end === 'stopped') return { redundant: false, lower: [], reachesDefault: false };
  // Redundant: the pieces put aside hold no evidence, only the lower rules and default to list.
  evidenceOnly = false;
  for (const { piece, list } of putAside) {
    if (partitionRegion(space, [piece], list, visitor, budget, rule) === 'budget' || overBudget) return null;
  }
  return { redundant: true, lower: [...lower].sort((a, b) => a - b), reachesDefault };
}
