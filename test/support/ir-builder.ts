// Test support: IR values from compact descriptions, without the front end. Applies the same
// normalisation `lower` promises (ir.ts): exact address sets, families a rule cannot match
// emptied, icmp types per family, ascending priorities, ids in program order.
import {
  normalizeRanges,
  prefixRange,
  prefixFromText,
  rangesToPrefixTexts,
  subtractRanges,
  familyMax,
  type AddrRange,
  type Family,
} from '../../compiler/cidr.ts';
import { icmpTypeNumber } from '../../compiler/icmp-types.ts';
import { PROTOCOL_NUMBERS } from '../../compiler/ir.ts';
import type { AddrSetIr, DeclarationIr, Direction, DirectionIr, PortSetIr, ProgramIr, RuleIr, Verdict } from '../../compiler/ir.ts';
import type { Span } from '../../compiler/source.ts';

/** `any`, `any4`, `any6`, a CIDR or address, a list (union), or `{ of, except }`. */
export type AddrSpec = string | readonly AddrSpec[] | { readonly of: AddrSpec; readonly except: AddrSpec };

/** A port, `N-M`, or a list of those. */
export type PortSpec = number | string | readonly (number | string)[];

export type ProtoSpec = 'any' | keyof typeof PROTOCOL_NUMBERS | number | readonly (keyof typeof PROTOCOL_NUMBERS | number)[];

export interface RuleSpec {
  readonly priority?: number;
  readonly name?: string;
  /** `log` alone is allow and log, as in the language. */
  readonly action: Verdict | 'log' | 'allow log' | 'deny log' | 'deny audit' | 'deny audit log';
  readonly proto?: ProtoSpec;
  readonly from?: AddrSpec;
  readonly to?: AddrSpec;
  readonly sport?: PortSpec;
  readonly dport?: PortSpec;
  /** A type number (both families) or name, and an optional code. */
  readonly icmp?: { readonly type: number | string; readonly code?: number };
  /** `nosession` (allowing rules only, as lowering checks). */
  readonly noSession?: boolean;
}

export interface DirectionSpec {
  readonly default?: Verdict;
  readonly rules: readonly RuleSpec[];
}

export interface ProgramSpec {
  readonly ingress?: DirectionSpec;
  readonly egress?: DirectionSpec;
  readonly declarations?: readonly DeclarationIr[];
  /** File name for spans (default `test.seg`). */
  readonly file?: string;
}

/** The normalised ranges of an address spec, per family. */
export function addrRanges(spec: AddrSpec): { v4: AddrRange[]; v6: AddrRange[] } {
  if (typeof spec === 'string') {
    const all4: AddrRange[] = [[0n, familyMax(4)]];
    const all6: AddrRange[] = [[0n, familyMax(6)]];
    if (spec === 'any') return { v4: all4, v6: all6 };
    if (spec === 'any4') return { v4: all4, v6: [] };
    if (spec === 'any6') return { v4: [], v6: all6 };
    const text = spec.includes('/') ? spec : `${spec}/${spec.includes(':') ? 128 : 32}`;
    const p = prefixFromText(text);
    return p.family === 4 ? { v4: [prefixRange(p)], v6: [] } : { v4: [], v6: [prefixRange(p)] };
  }
  if (isExcept(spec)) {
    const a = addrRanges(spec.of);
    const b = addrRanges(spec.except);
    return { v4: subtractRanges(a.v4, b.v4), v6: subtractRanges(a.v6, b.v6) };
  }
  const parts = spec.map(addrRanges);
  return { v4: normalizeRanges(parts.flatMap((p) => p.v4)), v6: normalizeRanges(parts.flatMap((p) => p.v6)) };
}

function isExcept(spec: AddrSpec): spec is { readonly of: AddrSpec; readonly except: AddrSpec } {
  return typeof spec === 'object' && !Array.isArray(spec);
}

export function portSet(spec: PortSpec): PortSetIr {
  const items = Array.isArray(spec) ? (spec as readonly (number | string)[]) : [spec as number | string];
  const ranges = items.map((item): AddrRange => {
    const [lo, hi] = typeof item === 'number' ? [item, item] : item.split('-').map(Number);
    return [BigInt(lo ?? 0), BigInt(hi ?? lo ?? 0)];
  });
  return normalizeRanges(ranges).map(([lo, hi]) => [Number(lo), Number(hi)] as const);
}

export function protocolList(spec: ProtoSpec): number[] | null {
  if (spec === 'any') return null;
  const items = Array.isArray(spec) ? (spec as readonly (keyof typeof PROTOCOL_NUMBERS | number)[]) : [spec as keyof typeof PROTOCOL_NUMBERS | number];
  const numbers = items.map((p) => (typeof p === 'number' ? p : PROTOCOL_NUMBERS[p]));
  return [...new Set(numbers)].sort((a, b) => a - b);
}

/**
 * One rule, as `lower` would give it. Throws when the description is one the front end refuses
 * (ports on portless protocols, icmp types without icmp, a rule that can match nothing).
 */
export function ruleIr(spec: RuleSpec, at: { id: number; direction: Direction; priority: number; span: Span }): RuleIr {
  const protocols = protocolList(spec.proto ?? 'any');
  const src = addrRanges(spec.from ?? 'any');
  const dst = addrRanges(spec.to ?? 'any');
  const has = (p: number) => protocols === null || protocols.includes(p);
  const keep = (family: Family) => {
    if ((family === 4 ? src.v4 : src.v6).length === 0 || (family === 4 ? dst.v4 : dst.v6).length === 0) return false;
    // A protocol list of only icmp (or only icmpv6) applies to one family.
    if (protocols !== null && protocols.every((p) => p === (family === 4 ? 58 : 1))) return false;
    if (spec.icmp !== undefined && !has(family === 4 ? 1 : 58)) return false;
    return true;
  };
  const keep4 = keep(4);
  const keep6 = keep(6);
  if (!keep4 && !keep6) throw new Error(`rule ${at.direction}/${at.priority} can match no packet`);
  const addr = (r: { v4: AddrRange[]; v6: AddrRange[] }): AddrSetIr => ({
    v4: keep4 ? rangesToPrefixTexts(4, r.v4) : [],
    v6: keep6 ? rangesToPrefixTexts(6, r.v6) : [],
  });
  if ((spec.sport !== undefined || spec.dport !== undefined) && (protocols === null || protocols.some((p) => p !== 6 && p !== 17 && p !== 132))) {
    throw new Error(`rule ${at.direction}/${at.priority}: ports need tcp, udp or sctp`);
  }
  if (spec.icmp !== undefined && (protocols === null || protocols.some((p) => p !== 1 && p !== 58))) {
    throw new Error(`rule ${at.direction}/${at.priority}: icmp types need icmp or icmpv6`);
  }
  let icmp: RuleIr['icmp'] = null;
  if (spec.icmp !== undefined) {
    const { type, code } = spec.icmp;
    const typeIn = (family: Family) => (typeof type === 'number' ? type : (icmpTypeNumber(family, type) ?? null));
    icmp = { type4: keep4 && has(1) ? typeIn(4) : null, type6: keep6 && has(58) ? typeIn(6) : null, code: code ?? null };
  }
  const action = spec.action === 'log' || spec.action === 'allow log' ? 'allow' : spec.action.startsWith('deny') ? 'deny' : 'allow';
  return {
    id: at.id,
    direction: at.direction,
    priority: at.priority,
    name: spec.name ?? `${at.direction}/${at.priority}`,
    named: spec.name !== undefined,
    action,
    log: spec.action.includes('log'),
    audit: spec.action.includes('audit'),
    protocols,
    src: addr(src),
    dst: addr(dst),
    srcPorts: spec.sport === undefined ? null : portSet(spec.sport),
    dstPorts: spec.dport === undefined ? null : portSet(spec.dport),
    icmp,
    description: null,
    ...(spec.noSession === true ? { noSession: true as const } : {}),
    span: at.span,
  };
}

/**
 * A whole program. Priorities default to 10, 20, 30... in the order given; rule spans are
 * `{ file, start: id * 100, end: id * 100 + 99 }` so tests can tell rules apart by span; the
 * default's span (when stated) starts at 100000 + 1000 for egress.
 */
export function programIr(spec: ProgramSpec): ProgramIr {
  const file = spec.file ?? 'test.seg';
  const rules: RuleIr[] = [];
  const build = (direction: Direction, d: DirectionSpec | undefined): DirectionIr => {
    const own: RuleIr[] = [];
    const specs = (d?.rules ?? []).map((r, i) => ({ r, priority: r.priority ?? (i + 1) * 10 }));
    specs.sort((a, b) => a.priority - b.priority);
    for (const { r, priority } of specs) {
      const id = rules.length;
      const rule = ruleIr(r, { id, direction, priority, span: { file, start: id * 100, end: id * 100 + 99 } });
      rules.push(rule);
      own.push(rule);
    }
    const offset = direction === 'ingress' ? 100000 : 101000;
    return {
      direction,
      // As lowering does: a direction the spec leaves out is undeclared, hence unfiltered.
      declared: d !== undefined,
      defaultAction: d?.default ?? (d === undefined ? 'allow' : 'deny'),
      defaultSpan: d?.default === undefined ? null : { file, start: offset, end: offset + 10 },
      rules: own,
    };
  };
  const ingress = build('ingress', spec.ingress);
  const egress = build('egress', spec.egress);
  return {
    rules,
    ingress,
    egress,
    declarations: spec.declarations ?? [],
    files: [file],
  };
}

/** Shorthand: one ingress direction with these rules and default. */
export function ingressIr(rules: readonly RuleSpec[], defaultAction: Verdict = 'deny'): ProgramIr {
  return programIr({ ingress: { default: defaultAction, rules } });
}
