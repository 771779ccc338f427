// Rule analysis, flows that open no session (docs/language.md, "Flows that open no session"):
// takes the IR; returns the rules whose `nosession` takes effect, and a warning (SEG5102,
// SEG5103) for each rule where it cannot. Exact, by the region algebra of space.ts: a rule's
// flows may go without a session only when every reply of every flow it decides is passed by
// the other direction as a session would pass it.
//
// The condition, for an allowing rule R of direction D with `nosession`, D' the other one:
// - the flows R lets through are the packets R decides (R's region minus the rules above it)
//   that can open a session in the data path (bpf/lib/session.h): tcp, udp and sctp packets
//   with ports, ICMP and ICMPv6 echo requests and replies, and packets of every protocol that
//   carries neither (not later fragments, which open none);
// - the reply of such a packet is the swapped tuple (addresses, ports; an echo request's reply
//   is an echo reply, and back) travelling D';
// - every reply must be decided by D' (first match by priority, then its default; a direction
//   with no policy block allows everything) with allow, and logged exactly when R logs: a
//   session passes the replies and logs them when R does; a `deny audit` is a deny here.
// Mirroring D' (each rule's sides swapped, echo types exchanged) turns "the reply of p is
// allowed by D'" into "p is allowed by mirror(D')", so both directions share one space.
import { Code, makeDiagnostic, type Diagnostic, type RelatedInfo } from '../diagnostics.ts';
import { DIRECTIONS, type DirectionIr, type IcmpMatchIr, type ProgramIr, type RuleIr } from '../ir.ts';
import { formatPacket, type Packet } from '../packet.ts';
import { boxIntersect, boxIntersects, boxSubtract, buildSpace, pointOfRegion, type Box, type Region, type Space } from './space.ts';
import { witnessOf } from './witness.ts';

export interface NoSessionOptions {
  /**
   * Give up (SEG5103: sessions as usual) when the packets a rule decides, or its replies still
   * to be placed, split into more boxes than this. Default 20 000.
   */
  readonly maxPieces?: number;
  /** Give up (SEG5103) after this many box operations for one rule, so time stays bounded. Default 5 000 000. */
  readonly maxWork?: number;
}

export interface NoSessionResult {
  /** Ids (`RuleIr.id`) of the rules whose flows open no session, ascending. */
  readonly ruleIds: readonly number[];
  /** SEG5102 and SEG5103, one per `nosession` rule that keeps its sessions. */
  readonly diagnostics: Diagnostic[];
}

export const DEFAULT_NO_SESSION_MAX_PIECES = 20_000;
export const DEFAULT_NO_SESSION_MAX_WORK = 5_000_000;

/** The ICMP echo types, exchanged by a reply: request 8 <-> reply 0, ICMPv6 128 <-> 129. */
const ECHO4: Readonly<Record<number, number>> = { 8: 0, 0: 8 };
const ECHO6: Readonly<Record<number, number>> = { 128: 129, 129: 128 };

const ALL_V4 = ['0.0.0.0/0'];
const ALL_V6 = ['::/0'];
/** Every protocol but those a kind of packet with L4 fields carries (which would make it another kind). */
const protocolsBut = (excluded: readonly number[]): number[] => Array.from({ length: 256 }, (_, p) => p).filter((p) => !excluded.includes(p));

export function decideNoSession(ir: ProgramIr, options: NoSessionOptions = {}): NoSessionResult {
  const wanted = ir.rules.filter((r) => r.noSession === true && r.action === 'allow');
  if (wanted.length === 0) return { ruleIds: [], diagnostics: [] };
  const maxPieces = options.maxPieces ?? DEFAULT_NO_SESSION_MAX_PIECES;
  // One space for everything: both directions' rules, both mirrored, and the filter of packets
  // that open sessions. The offsets say where each list starts in it.
  const ingress = ir.ingress.rules;
  const egress = ir.egress.rules;
  const filters = decideSessionFilters();
  const all: RuleIr[] = [...ingress, ...egress, ...egress.map(decideMirrorRule), ...ingress.map(decideMirrorRule), ...filters];
  const offsets = { rules: { ingress: 0, egress: ingress.length }, mirrored: { ingress: ingress.length + egress.length * 2, egress: ingress.length + egress.length } };
  // Built on first need: a rule whose replies all meet an allowing default needs no space.
  let built: { space: Space; filterRegion: Box[] } | undefined;
  const lazy = () => {
    if (built) return built;
    const space = buildSpace(all);
    const filterRegion: Box[] = [];
    for (let f = 0; f < filters.length; f++) filterRegion.push(...(space.ruleBoxes[all.length - filters.length + f] ?? []));
    return (built = { space, filterRegion });
  };

  const ruleIds: number[] = [];
  const diagnostics: Diagnostic[] = [];
  for (const rule of wanted) {
    const d = rule.direction;
    const other = DIRECTIONS.find((x) => x !== d) as (typeof DIRECTIONS)[number];
    // Ingress rules come first in `ir.rules`, each direction by priority (ir.ts).
    const index = d === 'ingress' ? rule.id : rule.id - ingress.length;
    const reverse = ir[other];
    // Every reply meets the other direction's default (no rules there, or no policy block).
    if (reverse.rules.length === 0 && reverse.defaultAction === 'allow' && !rule.log) {
      ruleIds.push(rule.id);
      continue;
    }
    const { space, filterRegion } = lazy();
    const outcome = decideRule(space, {
      rule,
      above: (i) => space.ruleBoxes[offsets.rules[d] + i] ?? [],
      count: index,
      own: space.ruleBoxes[offsets.rules[d] + index] ?? [],
      filter: filterRegion,
      reverse,
      mirrored: (i) => space.ruleBoxes[offsets.mirrored[other] + i] ?? [],
      maxPieces,
      work: { left: options.maxWork ?? DEFAULT_NO_SESSION_MAX_WORK },
    });
    if (outcome.kind === 'proved') ruleIds.push(rule.id);
    else diagnostics.push(decideDiagnostic(rule, ir[other], outcome, maxPieces, options.maxWork ?? DEFAULT_NO_SESSION_MAX_WORK));
  }
  return { ruleIds: ruleIds.sort((a, b) => a - b), diagnostics };
}

type Outcome =
  | { readonly kind: 'proved' }
  | { readonly kind: 'reply'; readonly reply: Packet; readonly by: RuleIr | null }
  | { readonly kind: 'undecided'; readonly stage: 'rules above it' | 'the other direction' };

interface RuleQuestion {
  readonly rule: RuleIr;
  /** The region of the i-th rule of the rule's direction (i < count: the rules above it). */
  readonly above: (i: number) => Region;
  readonly count: number;
  readonly own: Region;
  readonly filter: Region;
  readonly reverse: DirectionIr;
  /** The region of the i-th rule of the other direction, mirrored. */
  readonly mirrored: (i: number) => Region;
  readonly maxPieces: number;
  /** Box operations left; below zero, the question is not answered. */
  readonly work: { left: number };
}

function decideRule(space: Space, q: RuleQuestion): Outcome {
  // The packets the rule decides that open a session.
  let reach: Box[] = [];
  for (const a of q.own) for (const f of q.filter) {
    const c = boxIntersect(a, f);
    if (c) reach.push(c);
  }
  for (let i = 0; i < q.count && reach.length > 0; i++) {
    reach = decideSubtract(reach, q.above(i), q.work);
    if (reach.length > q.maxPieces || q.work.left < 0) return { kind: 'undecided', stage: 'rules above it' };
  }
  // Their replies through the other direction, first match first.
  const rules = q.reverse.rules;
  for (let i = 0; i < rules.length && reach.length > 0; i++) {
    const m = q.mirrored(i);
    const passes = decidePasses(rules[i] as RuleIr, q.rule);
    if (!passes) {
      q.work.left -= reach.length;
      if (q.work.left < 0) return { kind: 'undecided', stage: 'the other direction' };
      const hit = decideFirstIntersection(reach, m);
      if (hit) return { kind: 'reply', reply: decideMirrorPacket(pointOfRegion(space, [hit])), by: rules[i] as RuleIr };
      continue;
    }
    reach = decideSubtract(reach, m, q.work);
    if (reach.length > q.maxPieces || q.work.left < 0) return { kind: 'undecided', stage: 'the other direction' };
  }
  if (reach.length > 0 && !(q.reverse.defaultAction === 'allow' && !q.rule.log)) return { kind: 'reply', reply: decideMirrorPacket(pointOfRegion(space, reach)), by: null };
  return { kind: 'proved' };
}

/** Whether a reply decided by `by` passes as the session of `rule` would pass it: allowed, logged alike. */
function decidePasses(by: RuleIr, rule: RuleIr): boolean {
  return by.action === 'allow' && by.log === rule.log;
}

function decideSubtract(region: readonly Box[], minus: Region, work: { left: number }): Box[] {
  let out = region as Box[];
  for (const b of minus) {
    work.left -= out.length;
    if (!out.some((a) => boxIntersects(a, b))) continue;
    const next: Box[] = [];
    for (const a of out) boxSubtract(a, b, next);
    out = next;
  }
  return out;
}

function decideFirstIntersection(region: readonly Box[], boxes: Region): Box | null {
  for (const b of boxes) for (const a of region) {
    const c = boxIntersect(a, b);
    if (c) return c;
  }
  return null;
}

/**
 * The packets that open a session, as rules (each in one kind of packet): tcp, udp and sctp
 * with ports; ICMP and ICMPv6 echo; per family, every protocol without ports or an ICMP header
 * (ICMPv6 over IPv4 is one). Later fragments are bare packets of tcp, udp, sctp or the family's
 * ICMP: those protocols are left out of the bare filters.
 */
function decideSessionFilters(): RuleIr[] {
  const any = { v4: ALL_V4, v6: ALL_V6 };
  const v4 = { v4: ALL_V4, v6: [] };
  const v6 = { v4: [], v6: ALL_V6 };
  const base = { id: -1, direction: 'ingress', priority: 0, name: 'filter', named: false, action: 'allow', log: false, audit: false, srcPorts: null, dstPorts: null, icmp: null, description: null, span: { file: '', start: 0, end: 0 } } as const;
  const echo = (family: 4 | 6, type: number): RuleIr => ({ ...base, protocols: [family === 4 ? 1 : 58], src: family === 4 ? v4 : v6, dst: family === 4 ? v4 : v6, icmp: { type4: family === 4 ? type : null, type6: family === 6 ? type : null, code: null } });
  return [
    { ...base, protocols: [6, 17, 132], src: any, dst: any, srcPorts: [[0, 65535]] },
    echo(4, 8),
    echo(4, 0),
    echo(6, 128),
    echo(6, 129),
    { ...base, protocols: protocolsBut([1, 6, 17, 132]), src: v4, dst: v4 },
    { ...base, protocols: protocolsBut([6, 17, 58, 132]), src: v6, dst: v6 },
  ];
}

/** The rule that matches p exactly when `rule` matches p's reply: sides swapped, echo types exchanged. */
function decideMirrorRule(rule: RuleIr): RuleIr {
  const icmp: IcmpMatchIr | null = rule.icmp && {
    type4: rule.icmp.type4 === null ? null : (ECHO4[rule.icmp.type4] ?? rule.icmp.type4),
    type6: rule.icmp.type6 === null ? null : (ECHO6[rule.icmp.type6] ?? rule.icmp.type6),
    code: rule.icmp.code,
  };
  return { ...rule, src: rule.dst, dst: rule.src, srcPorts: rule.dstPorts, dstPorts: rule.srcPorts, icmp };
}

/** A packet's reply: the tuple swapped, an echo request answered by an echo reply. */
function decideMirrorPacket(p: Packet): Packet {
  const echo = p.proto === 1 ? ECHO4 : p.proto === 58 ? ECHO6 : {};
  return {
    proto: p.proto,
    src: p.dst,
    dst: p.src,
    ...(p.dstPort !== undefined ? { srcPort: p.dstPort } : {}),
    ...(p.srcPort !== undefined ? { dstPort: p.srcPort } : {}),
    ...(p.icmpType !== undefined ? { icmpType: echo[p.icmpType] ?? p.icmpType } : {}),
    ...(p.icmpCode !== undefined ? { icmpCode: p.icmpCode } : {}),
  };
}

function decideDiagnostic(rule: RuleIr, reverse: DirectionIr, outcome: Exclude<Outcome, { kind: 'proved' }>, maxPieces: number, maxWork: number): Diagnostic {
  const name = `'${rule.name}'`;
  if (outcome.kind === 'undecided') {
    return makeDiagnostic(Code.NoSessionUndecided, rule.span, { rule: name, pieces: maxPieces, work: maxWork, stage: outcome.stage });
  }
  const by = outcome.by;
  const verdict = by === null ? `the ${reverse.direction} default (${reverse.defaultAction})` : `${reverse.direction} rule '${by.name}' (${by.audit ? 'deny audit' : by.action}${by.log ? ' log' : ''})`;
  const why = by !== null && by.action === 'allow' ? (rule.log ? 'which does not log it as the session would' : 'which logs it, as the session would not') : 'which does not let it through';
  const related: RelatedInfo[] = [];
  const span = by?.span ?? reverse.defaultSpan;
  if (span) related.push({ span, message: `decides the reply ${formatPacket(outcome.reply)}` });
  return makeDiagnostic(Code.NoSessionReplyNotPassed, rule.span, { rule: name, reply: formatPacket(outcome.reply), decider: verdict, why, other: reverse.direction, above: by === null ? '' : ` above '${by.name}'` }, { related, witness: witnessOf(outcome.reply) });
}
