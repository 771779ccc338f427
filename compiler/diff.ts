// The semantic diff of two policies: takes the IRs before and after; returns, per direction and
// exactly, the regions of packet space whose verdict changes (allow -> deny, deny -> allow), each
// with the rules deciding it on both sides and a real example packet. Used by `segc diff` and
// `segc deploy --dry-run`.
//
// Only packets some changed rule matches can change verdict: rules are paired by what they
// match and do (a common subsequence of the two lists, Myers' diff), and a packet that no
// unpaired rule matches is decided on both sides by the same first paired rule (or by the
// defaults, when equal). So the walk covers only the union of the unpaired rules' boxes
// (everything, when the defaults differ): a first-match partition of it by the old rules
// (analysis/partition.ts), each piece partitioned again by the new rules, in one compressed
// space built from both lists. Reordered, renamed or reformatted rules that mean the same
// leave pieces whose verdicts agree, so the diff is empty.
import { createBudget } from './analysis/budget.ts';
import { partitionRegion } from './analysis/partition.ts';
import { boxSubtract, buildSpace, KINDS, pointOfRegion, type Box, type IntSet, type Space } from './analysis/space.ts';
import { familyMax, parseAddress, prefixTextsToRanges, rangesContain, rangesToPrefixTexts, type Family } from './cidr.ts';
import { DIRECTIONS, type Direction, type DirectionIr, type ProgramIr, type RuleIr, type Verdict } from './ir.ts';
import { packetFamily, type Packet } from './packet.ts';
import type { Span } from './source.ts';

/** A rule deciding a region, or the direction's default (`rule` null). */
export interface DecidingRule {
  readonly rule: { readonly name: string; readonly priority: number; readonly span: Span } | null;
  /** Where the default was stated, when the default decides and some block states it. */
  readonly defaultSpan: Span | null;
  /** False when no policy block names the direction: unfiltered (ir.ts DirectionIr.declared). */
  readonly declared: boolean;
  readonly verdict: Verdict;
}

/**
 * One box of a region, in values: a packet kind (space.ts: ports4, icmp4, bare4, ports6,
 * icmp6, bare6) and its fields. `a`/`b` are the ports (ports kinds) or ICMP type and code
 * (icmp kinds); bare kinds have none.
 */
export interface DiffBox {
  readonly kind: (typeof KINDS)[number]['name'];
  readonly protocols: readonly (readonly [number, number])[];
  readonly src: readonly string[];
  readonly dst: readonly string[];
  readonly a: readonly (readonly [number, number])[];
  readonly b: readonly (readonly [number, number])[];
}

/** Packets of one direction whose verdict changes, all decided by the same two rules. */
export interface DiffRegion {
  readonly direction: Direction;
  readonly before: DecidingRule;
  readonly after: DecidingRule;
  /** A real packet of the region (its verdict really changes). */
  readonly example: Packet;
  /** Disjoint boxes whose union is the region, exactly. */
  readonly boxes: readonly DiffBox[];
}

export interface RuleChange {
  readonly direction: Direction;
  readonly name: string;
  readonly change: 'added' | 'removed' | 'changed';
}

export interface PolicyDiff {
  /** Ordered by direction, then before-rule and after-rule priority (defaults last). */
  readonly regions: readonly DiffRegion[];
  /** Rules by name: added, removed, or matching or doing something else (text-level help). */
  readonly rules: readonly RuleChange[];
  readonly defaults: readonly { readonly direction: Direction; readonly before: Verdict; readonly after: Verdict }[];
  /** Per direction, the rules the walk had to consider (unpaired ones), for the curious. */
  readonly unpaired: Readonly<Record<Direction, number>>;
}

/** What a rule matches and decides: equal keys decide equal packets alike. */
function ruleKey(r: RuleIr): string {
  return JSON.stringify([r.action, r.protocols, r.src, r.dst, r.srcPorts, r.dstPorts, r.icmp]);
}

/** What a rule is by name, for the added/removed/changed list (log and priority count here). */
function ruleSignature(r: RuleIr): string {
  return JSON.stringify([r.priority, r.action, r.log, r.audit, r.protocols, r.src, r.dst, r.srcPorts, r.dstPorts, r.icmp, r.expires ?? null, r.noSession === true]);
}

export function diffPolicies(before: ProgramIr, after: ProgramIr): PolicyDiff {
  const regions: DiffRegion[] = [];
  const rules: RuleChange[] = [];
  const defaults: PolicyDiff['defaults'][number][] = [];
  const unpaired = { ingress: 0, egress: 0 };
  for (const direction of DIRECTIONS) {
    const old = before[direction];
    const now = after[direction];
    const byName = new Map(old.rules.map((r) => [r.name, r]));
    const nowNames = new Set(now.rules.map((r) => r.name));
    for (const r of now.rules) {
      const o = byName.get(r.name);
      if (!o) rules.push({ direction, name: r.name, change: 'added' });
      else if (ruleSignature(o) !== ruleSignature(r)) rules.push({ direction, name: r.name, change: 'changed' });
    }
    for (const r of old.rules) if (!nowNames.has(r.name)) rules.push({ direction, name: r.name, change: 'removed' });
    if (old.defaultAction !== now.defaultAction) defaults.push({ direction, before: old.defaultAction, after: now.defaultAction });
    const found = diffDirection(old, now);
    unpaired[direction] = found.unpaired;
    // A loop: a spread of 100k+ regions would overflow the call stack.
    for (const r of found.regions) regions.push(r);
  }
  return { regions, rules, defaults, unpaired };
}

function diffDirection(old: DirectionIr, now: DirectionIr): { regions: DiffRegion[]; unpaired: number } {
  const O = old.rules;
  const N = now.rules;
  const [pairedOld, pairedNew] = commonSubsequence(O.map(ruleKey), N.map(ruleKey));
  const changed: number[] = [];
  O.forEach((_, i) => pairedOld[i] !== 1 && changed.push(i));
  N.forEach((_, j) => pairedNew[j] !== 1 && changed.push(O.length + j));
  const everything = old.defaultAction !== now.defaultAction;
  if (!everything && changed.length === 0) return { regions: [], unpaired: 0 };
  // With the defaults changed, every packet is walked: the boxes of a rule matching everything
  // (appended to the space, in neither list) are the whole space of real packets.
  const space = buildSpace(everything ? [...O, ...N, matchEverything(old.direction)] : [...O, ...N]);
  const region = everything ? (space.ruleBoxes[O.length + N.length] as Box[]) : unionOf(space, changed);
  const oldList = O.map((_, i) => i);
  const newList = N.map((_, j) => O.length + j);
  // The walks are exact; no budget applies (a diff that stopped early would not be a diff).
  const budget = createBudget(Infinity, () => 0);
  const groups = new Map<string, { before: number; after: number; boxes: Box[] }>();
  const verdictOf = (r: number, side: DirectionIr, offset: number): Verdict => (r < 0 ? side.defaultAction : ((side.rules[r - offset] as RuleIr).action));
  const oldPieces: { box: Box; rule: number }[] = [];
  partitionRegion(space, region, oldList, {
    taken: (part, rule) => (oldPieces.push({ box: part, rule }), true),
    untaken: (piece) => (oldPieces.push({ box: piece, rule: -1 }), true),
  }, budget);
  for (const { box, rule: before } of oldPieces) {
    const was = verdictOf(before, old, 0);
    const record = (part: Box, after: number): boolean => {
      if (verdictOf(after, now, O.length) === was) return true;
      const key = `${before} ${after}`;
      let g = groups.get(key);
      if (!g) groups.set(key, (g = { before, after, boxes: [] }));
      g.boxes.push(part);
      return true;
    };
    partitionRegion(space, [box], newList, { taken: record, untaken: (piece) => record(piece, -1) }, budget);
  }
  const deciding = (r: number, side: DirectionIr, offset: number): DecidingRule => {
    const rule = r < 0 ? null : (side.rules[r - offset] as RuleIr);
    return { rule: rule && { name: rule.name, priority: rule.priority, span: rule.span }, defaultSpan: rule ? null : side.defaultSpan, declared: side.declared, verdict: verdictOf(r, side, offset) };
  };
  const order = (r: number, base: number) => (r < 0 ? Number.MAX_SAFE_INTEGER : r - base);
  const regions = [...groups.values()]
    .sort((x, y) => order(x.before, 0) - order(y.before, 0) || order(x.after, O.length) - order(y.after, O.length))
    .map((g) => ({
      direction: old.direction,
      before: deciding(g.before, old, 0),
      after: deciding(g.after, now, O.length),
      example: pointOfRegion(space, g.boxes),
      boxes: g.boxes.map((b) => diffBoxOf(space, b)),
    }));
  return { regions, unpaired: changed.length };
}

/** A rule that every packet matches (ports packets only with the port protocols, as in space.ts). */
function matchEverything(direction: Direction): RuleIr {
  const any = { v4: ['0.0.0.0/0'], v6: ['::/0'] };
  const span = { file: '', start: 0, end: 0 };
  return { id: -1, direction, priority: 0, name: '', named: false, action: 'allow', log: false, audit: false, protocols: null, src: any, dst: any, srcPorts: null, dstPorts: null, icmp: null, description: null, span };
}

/** The union of some rules' boxes, as disjoint boxes. */
function unionOf(space: Space, rules: readonly number[]): Box[] {
  let out: Box[] = [];
  for (const r of rules) {
    for (const box of space.ruleBoxes[r] ?? []) {
      let pieces: Box[] = [box];
      for (const have of out) {
        if (have.kind !== box.kind) continue;
        const next: Box[] = [];
        for (const p of pieces) boxSubtract(p, have, next);
        pieces = next;
        if (pieces.length === 0) break;
      }
      out = out.concat(pieces);
    }
  }
  return out;
}

/** An index set of one dimension as value ranges. */
function valueRanges(space: Space, kind: number, dim: number, set: IntSet, max: bigint): [bigint, bigint][] {
  const cuts = space.cuts[kind]?.[dim] ?? [];
  const out: [bigint, bigint][] = [];
  for (let i = 0; i < set.length; i += 2) {
    const lo = cuts[set[i] as number] ?? 0n;
    const next = cuts[(set[i + 1] as number) + 1];
    out.push([lo, next === undefined ? max : next - 1n]);
  }
  return out;
}

function diffBoxOf(space: Space, box: Box): DiffBox {
  const k = KINDS[box.kind] as (typeof KINDS)[number];
  const num = (d: number, max: bigint) => valueRanges(space, box.kind, d, box.dims[d] as IntSet, max).map(([lo, hi]) => [Number(lo), Number(hi)] as const);
  const addr = (d: number) => rangesToPrefixTexts(k.family, valueRanges(space, box.kind, d, box.dims[d] as IntSet, familyMax(k.family)));
  const l4 = k.shape === 'ports' ? 65535n : 255n;
  return {
    kind: k.name,
    protocols: k.shape === 'icmp' ? [[k.family === 4 ? 1 : 58, k.family === 4 ? 1 : 58]] : num(0, 255n),
    src: addr(1),
    dst: addr(2),
    a: k.shape === 'bare' ? [] : num(3, l4),
    b: k.shape === 'bare' ? [] : num(4, l4),
  };
}

/** The packet kind of a packet (space.ts), as the analysis models it. */
export function packetKind(p: Packet): DiffBox['kind'] {
  const family: Family = packetFamily(p);
  const shape = p.srcPort !== undefined && [6, 17, 132].includes(p.proto) ? 'ports' : p.icmpType !== undefined && p.proto === (family === 4 ? 1 : 58) ? 'icmp' : 'bare';
  return (KINDS.find((x) => x.family === family && x.shape === shape) as (typeof KINDS)[number]).name;
}

/** Whether a packet lies in a box of the region (for tests and tools that check a diff). */
export function regionContains(region: DiffRegion, p: Packet): boolean {
  const kind = packetKind(p);
  const inNum = (ranges: DiffBox['a'], v: number) => ranges.some(([lo, hi]) => v >= lo && v <= hi);
  const src = parseAddress(p.src)?.value ?? -1n;
  const dst = parseAddress(p.dst)?.value ?? -1n;
  return region.boxes.some((b) => {
    if (b.kind !== kind || !inNum(b.protocols, p.proto)) return false;
    if (!rangesContain(prefixTextsToRanges(b.src), src) || !rangesContain(prefixTextsToRanges(b.dst), dst)) return false;
    if (kind.startsWith('ports')) return inNum(b.a, p.srcPort ?? -1) && inNum(b.b, p.dstPort ?? -1);
    if (kind.startsWith('icmp')) return inNum(b.a, p.icmpType ?? -1) && inNum(b.b, p.icmpCode ?? -1);
    return true;
  });
}


// ---- Common subsequence (Myers) -----------------------------------------------------------------

/** Above this many edits, only the common prefix and suffix are paired (still exact, slower). */
const MAX_EDITS = 4000;

/**
 * Marks (1) the elements of a and b in a common subsequence: Myers' O((N+M)D) greedy diff on
 * the part between the common prefix and suffix. Any common subsequence keeps the diff exact;
 * a longer one only keeps the walked region small.
 */
export function commonSubsequence(a: readonly string[], b: readonly string[]): [Uint8Array, Uint8Array] {
  const ma = new Uint8Array(a.length);
  const mb = new Uint8Array(b.length);
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) ma[start] = mb[start++] = 1;
  let ea = a.length;
  let eb = b.length;
  while (ea > start && eb > start && a[ea - 1] === b[eb - 1]) ma[--ea] = mb[--eb] = 1;
  const ids = new Map<string, number>();
  const idOf = (s: string) => ids.get(s) ?? (ids.set(s, ids.size), ids.size - 1);
  const x = Int32Array.from(a.slice(start, ea), idOf);
  const y = Int32Array.from(b.slice(start, eb), idOf);
  const n = x.length;
  const m = y.length;
  if (n === 0 || m === 0) return [ma, mb];
  const max = Math.min(n + m, MAX_EDITS);
  const offset = max + 1;
  const v = new Int32Array(2 * max + 3);
  const trace: Int32Array[] = [];
  let found = -1;
  for (let d = 0; d <= max && found < 0; d++) {
    trace.push(v.slice(offset - d - 1, offset + d + 2));
    for (let k = -d; k <= d; k += 2) {
      let i = k === -d || (k !== d && (v[offset + k - 1] as number) < (v[offset + k + 1] as number)) ? (v[offset + k + 1] as number) : (v[offset + k - 1] as number) + 1;
      let j = i - k;
      while (i < n && j < m && x[i] === y[j]) {
        i++;
        j++;
      }
      v[offset + k] = i;
      if (i >= n && j >= m) {
        found = d;
        break;
      }
    }
  }
  if (found < 0) return [ma, mb];
  // Walk back through the saved frontiers, marking each diagonal run (the snakes).
  let i = n;
  let j = m;
  for (let d = found; d > 0; d--) {
    const prev = trace[d] as Int32Array; // the frontier before step d: diagonal k at k + d + 1
    const at = (k: number) => prev[k + d + 1] as number;
    const k = i - j;
    const down = k === -d || (k !== d && at(k - 1) < at(k + 1));
    const pk = down ? k + 1 : k - 1;
    const pi = at(pk);
    const pj = pi - pk;
    const si = down ? pi : pi + 1;
    const sj = si - k;
    while (i > si && j > sj) {
      i--;
      j--;
      ma[start + i] = 1;
      mb[start + j] = 1;
    }
    i = pi;
    j = pj;
  }
  while (i > 0 && j > 0) {
    i--;
    j--;
    ma[start + i] = 1;
    mb[start + j] = 1;
  }
  return [ma, mb];
}
