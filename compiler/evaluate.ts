// The reference interpreter: the language's meaning, written as plainly as possible. Takes a
// direction's IR and a packet; returns the deciding rule (first match by priority) or the
// default. Everything faster (analysis, emitted maps, the kernel) is tested against this. A rule
// matches when each field of the match-field table holds.
import type { DirectionIr, RuleIr, Verdict } from './ir.ts';
import { MATCH_FIELDS } from './match-fields.ts';
import { packetFamily, type Packet } from './packet.ts';

export interface Decision {
  /** The policy's verdict; with `audit`, a deny that the data path lets pass (would-deny). */
  readonly verdict: Verdict;
  readonly log: boolean;
  /** The deciding rule is a `deny audit`. */
  readonly audit: boolean;
  /** The deciding rule, or null when the default decided. */
  readonly rule: RuleIr | null;
}

export function evaluate(direction: DirectionIr, packet: Packet): Decision {
  for (const rule of direction.rules) {
    if (ruleMatches(rule, packet)) return { verdict: rule.action, log: rule.log, audit: rule.audit, rule };
  }
  return { verdict: direction.defaultAction, log: false, audit: false, rule: null };
}

/** Whether every match field of the rule holds for the packet (compiler/match-fields.ts). */
export function ruleMatches(rule: RuleIr, packet: Packet): boolean {
  const family = packetFamily(packet);
  for (const field of MATCH_FIELDS) if (!field.matches(rule, packet, family)) return false;
  return true;
}
