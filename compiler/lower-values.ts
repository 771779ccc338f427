// Stage 5, values: what `lower` makes of the value expressions of declarations and rules
// (addresses, ports, protocols), with their checks. Takes AST expressions of a resolved program;
// returns exact, normalised values, or undefined once a mistake is reported.
import type { AddrExpr, PortExpr, ProtoExpr, ProtoKeyword } from './ast.ts';
import { FAMILY_BITS, familyMax, formatPrefix, normalizeRanges, parsePrefix, prefixRange, rangesToPrefixTexts, subtractRanges, type AddrRange } from './cidr.ts';
import { Code, assertNever, type Diagnostic, type DiagnosticCollector } from './diagnostics.ts';
import { PROTOCOL_NUMBERS, type AddrSetIr, type PortSetIr } from './ir.ts';
import { MAX_PORT, normalizePortIntervals } from './port-set.ts';
import type { DeclSymbol, ResolvedProgram } from './resolve.ts';
import type { Span } from './source.ts';

/** An exact address set as normalised ranges per family. */
export interface AddrValue {
  readonly v4: readonly AddrRange[];
  readonly v6: readonly AddrRange[];
  /** Its IR, computed on first use; a set used by many rules is printed once. */
  ir?: AddrSetIr;
}

export interface SymbolValue {
  readonly addr?: AddrValue;
  readonly ports?: PortSetIr;
}

const ALL4: readonly AddrRange[] = [[0n, familyMax(4)]];
const ALL6: readonly AddrRange[] = [[0n, familyMax(6)]];
// Shared by every compilation, so their IR is made here and frozen.
const IR4: readonly string[] = Object.freeze(['0.0.0.0/0']);
const IR6: readonly string[] = Object.freeze(['::/0']);
const NONE: readonly string[] = Object.freeze([]);
const ANY_VALUES: Readonly<Record<'any' | 'any4' | 'any6', AddrValue>> = {
  any: { v4: ALL4, v6: ALL6, ir: Object.freeze({ v4: IR4, v6: IR6 }) },
  any4: { v4: ALL4, v6: [], ir: Object.freeze({ v4: IR4, v6: NONE }) },
  any6: { v4: [], v6: ALL6, ir: Object.freeze({ v4: NONE, v6: IR6 }) },
};

export interface Lowerer {
  /** The symbol's value, computed once; undefined when it failed (already reported). */
  lowerSymbol(symbol: DeclSymbol): SymbolValue | undefined;
  lowerAddr(e: AddrExpr): AddrValue | undefined;
  lowerPorts(e: PortExpr): PortSetIr | undefined;
  /** The canonical IR of an address value; one object per value, so shared sets share it. */
  addrSetIr(value: AddrValue): AddrSetIr;
  readonly diagnostics: DiagnosticCollector;
}

/**
 * Values of declarations kept from one compilation to the next (the language server's re-check,
 * through lower.ts's `LowerCache`): a declaration that names no other has the value and the
 * diagnostics its text gives, wherever it stands.
 */
export interface DeclarationValueCache {
  /** By the declaration's text: its value, and its diagnostics with spans relative to its start. */
  readonly byText: Map<string, { readonly value: SymbolValue | undefined; readonly diagnostics: readonly Diagnostic[] }>;
}

/**
 * The value lowering of one compilation; each declaration's value is computed once. (Literals are
 * not cached by text: on policies of mostly distinct addresses the map cost more than it saved.)
 * With `cache` and the files' `texts`, a declaration that names no other is looked up by its text.
 */
export function createLowerer(
  resolved: ResolvedProgram,
  diagnostics: DiagnosticCollector,
  cache?: { readonly values: DeclarationValueCache; readonly texts: ReadonlyMap<string, string> },
): Lowerer {
  const symbolValues = new Map<DeclSymbol, SymbolValue | undefined>();

  const lowerValue = (d: SymbolDecl): SymbolValue | undefined => {
    if (d.kind === 'SetDecl') {
      const addr = lowerAddr(d.value as AddrExpr);
      return addr && { addr };
    }
    const ports = lowerPorts(d.value as PortExpr);
    return ports && { ports };
  };

  const lowerValueCached = (d: SymbolDecl): SymbolValue | undefined => {
    const text = cache?.texts.get(d.span.file);
    const literal = d.kind === 'SetDecl' ? lowerIsLiteralAddr(d.value as AddrExpr) : lowerIsLiteralPorts(d.value as PortExpr);
    if (cache === undefined || text === undefined || !literal) return lowerValue(d);
    const key = text.slice(d.span.start, d.span.end);
    const base = d.span.start;
    const hit = cache.values.byText.get(key);
    if (hit !== undefined) {
      for (const x of hit.diagnostics) diagnostics.items.push(lowerShiftDiagnostic(x, d.span.file, base));
      return hit.value;
    }
    const before = diagnostics.items.length;
    const value = lowerValue(d);
    const added = diagnostics.items.slice(before);
    const inside = (span: Span) => span.file === d.span.file && span.start >= base && span.end <= d.span.end;
    if (added.every((x) => inside(x.span) && x.related.every((r) => inside(r.span)))) {
      cache.values.byText.set(key, { value, diagnostics: added.map((x) => lowerShiftDiagnostic(x, '', -base)) });
    }
    return value;
  };

  const lowerSymbol = (symbol: DeclSymbol): SymbolValue | undefined => {
    if (symbolValues.has(symbol)) return symbolValues.get(symbol);
    // Marked before descending, so a cycle (already reported) ends here instead of looping.
    symbolValues.set(symbol, undefined);
    const d = symbol.decl;
    if (d.recovered || !d.value) return undefined;
    // A symbol that failed in resolve still has its own values checked (a bad literal next to an
    // unknown name is a second mistake); references to failed names give nothing, silently.
    let value = lowerValueCached(d);
    if (symbol.failed) value = undefined;
    symbolValues.set(symbol, value);
    return value;
  };

  const lowerAddr = (e: AddrExpr): AddrValue | undefined => {
    switch (e.kind) {
      case 'AddrLiteral':
        return lowerAddrLiteral(e.text, e.span, diagnostics);
      case 'AnyAddr':
        return ANY_VALUES[e.which];
      case 'SetRef': {
        const symbol = resolved.references.get(e);
        return symbol ? lowerSymbol(symbol)?.addr : undefined;
      }
      case 'AddrList': {
        if (e.items.length === 0) {
          diagnostics.add(Code.EmptySetLiteral, e.span, { what: 'address set' });
          return undefined;
        }
        // Every item is lowered (each may hold its own mistake); the union is normalised once.
        const v4: AddrRange[] = [];
        const v6: AddrRange[] = [];
        let ok = true;
        for (const item of e.items) {
          const v = lowerAddr(item);
          if (!v) ok = false;
          else if (ok) {
            for (const r of v.v4) v4.push(r);
            for (const r of v.v6) v6.push(r);
          }
        }
        return ok ? { v4: normalizeRanges(v4), v6: normalizeRanges(v6) } : undefined;
      }
      case 'AddrExcept': {
        const base = lowerAddr(e.base);
        const excluded = lowerAddr(e.excluded);
        if (!base || !excluded) return undefined;
        const v4 = subtractRanges(base.v4, excluded.v4);
        const v6 = subtractRanges(base.v6, excluded.v6);
        if (v4.length === 0 && v6.length === 0) {
          diagnostics.add(Code.EmptyAfterExcept, e.span);
          return undefined;
        }
        return { v4, v6 };
      }
      default:
        return assertNever(e);
    }
  };

  const lowerPorts = (e: PortExpr): PortSetIr | undefined => {
    switch (e.kind) {
      case 'PortNumber':
        return lowerPortNumber(e.value, e.span, diagnostics) ? [[e.value, e.value]] : undefined;
      case 'PortRange': {
        const lowOk = lowerPortNumber(e.low.value, e.low.span, diagnostics);
        const highOk = lowerPortNumber(e.high.value, e.high.span, diagnostics);
        if (!lowOk || !highOk) return undefined;
        if (e.low.value > e.high.value) {
          diagnostics.add(Code.PortRangeReversed, e.span, { low: e.low.value, high: e.high.value });
          return undefined;
        }
        return [[e.low.value, e.high.value]];
      }
      case 'PortsRef': {
        const symbol = resolved.references.get(e);
        return symbol ? lowerSymbol(symbol)?.ports : undefined;
      }
      case 'PortList': {
        if (e.items.length === 0) {
          diagnostics.add(Code.EmptySetLiteral, e.span, { what: 'port set' });
          return undefined;
        }
        const all: (readonly [number, number])[] = [];
        let ok = true;
        for (const item of e.items) {
          const v = lowerPorts(item);
          if (!v) ok = false;
          else if (ok) for (const r of v) all.push(r);
        }
        return ok ? normalizePortIntervals(all) : undefined;
      }
      default:
        return assertNever(e);
    }
  };

  const addrSetIr = (value: AddrValue): AddrSetIr => (value.ir ??= { v4: rangesToPrefixTexts(4, value.v4), v6: rangesToPrefixTexts(6, value.v6) });

  return { lowerSymbol, lowerAddr, lowerPorts, addrSetIr, diagnostics };
}

type SymbolDecl = DeclSymbol['decl'];

/** Whether an address expression names no set (its value follows from its text alone). */
export function lowerIsLiteralAddr(e: AddrExpr | undefined): boolean {
  if (e === undefined) return true;
  switch (e.kind) {
    case 'SetRef':
      return false;
    case 'AddrList':
      return e.items.every(lowerIsLiteralAddr);
    case 'AddrExcept':
      return lowerIsLiteralAddr(e.base) && lowerIsLiteralAddr(e.excluded);
    default:
      return true;
  }
}

/** Whether a port expression names no port set. */
export function lowerIsLiteralPorts(e: PortExpr | undefined): boolean {
  return e === undefined || (e.kind === 'PortList' ? e.items.every(lowerIsLiteralPorts) : e.kind !== 'PortsRef');
}

/** `d` with its spans moved by `delta` into `file` (a cached diagnostic, back where its node is now). */
export function lowerShiftDiagnostic(d: Diagnostic, file: string, delta: number): Diagnostic {
  const at = (span: Span): Span => ({ file, start: span.start + delta, end: span.end + delta });
  return { ...d, span: at(d.span), related: d.related.map((r) => ({ ...r, span: at(r.span) })) };
}

function lowerAddrLiteral(text: string, span: Span, diagnostics: DiagnosticCollector): AddrValue | undefined {
  const r = parsePrefix(text);
  if (r.ok) {
    const { family, length } = r.prefix;
    const range = prefixRange(r.prefix);
    // A literal is one prefix: its IR needs no range-to-prefix pass. IPv4 text that parses is
    // canonical already (no leading zeros are accepted), so only its length is re-printed.
    const slash = text.indexOf('/');
    const ir = [family === 4 ? `${slash < 0 ? text : text.slice(0, slash)}/${length}` : formatPrefix(r.prefix)];
    return family === 4 ? { v4: [range], v6: [], ir: { v4: ir, v6: [] } } : { v4: [], v6: [range], ir: { v4: [], v6: ir } };
  }
  switch (r.error) {
    case 'invalid-ipv4':
      diagnostics.add(Code.InvalidIpv4, span, { text, hint: ipv4Hint(text) });
      return undefined;
    case 'invalid-ipv6':
      diagnostics.add(Code.InvalidIpv6, span, { text, hint: 'an IPv6 address has up to eight groups of 1-4 hex digits, with at most one ::' });
      return undefined;
    case 'length-out-of-range': {
      // The span covers `/LEN`, the part to fix.
      const slash = text.indexOf('/');
      diagnostics.add(
        Code.PrefixLengthOutOfRange,
        { file: span.file, start: span.start + slash, end: span.end },
        { length: r.length, family: r.family, max: FAMILY_BITS[r.family] },
      );
      return undefined;
    }
    case 'host-bits':
      diagnostics.add(Code.HostBitsSet, span, { text, network: formatPrefix(r.network) });
      return undefined;
    default:
      return assertNever(r);
  }
}

function ipv4Hint(text: string): string {
  const addr = text.split('/')[0] ?? '';
  const parts = addr.split('.');
  if (parts.length !== 4) return `an IPv4 address has four numbers separated by dots; '${addr}' has ${parts.length}`;
  const bad = parts.find((p) => !/^(0|[1-9][0-9]{0,2})$/.test(p) || Number(p) > 255);
  if (bad !== undefined && /^0[0-9]+$/.test(bad)) return `write '${bad}' without leading zeros`;
  return 'each of the four numbers runs from 0 to 255';
}

function lowerPortNumber(value: number, span: Span, diagnostics: DiagnosticCollector): boolean {
  if (Number.isInteger(value) && value >= 0 && value <= MAX_PORT) return true;
  diagnostics.add(Code.PortOutOfRange, span, { port: value });
  return false;
}

// ---- Protocols ----------------------------------------------------------------------------------

// One frozen list per protocol keyword, shared by the rules that name just it (most rules):
// no set, array and sort per rule. The IR is never changed after lowering.
const KEYWORD_PROTOCOLS: Readonly<Record<Exclude<ProtoKeyword, 'any'>, readonly number[]>> = {
  tcp: Object.freeze([PROTOCOL_NUMBERS.tcp]),
  udp: Object.freeze([PROTOCOL_NUMBERS.udp]),
  sctp: Object.freeze([PROTOCOL_NUMBERS.sctp]),
  icmp: Object.freeze([PROTOCOL_NUMBERS.icmp]),
  icmpv6: Object.freeze([PROTOCOL_NUMBERS.icmpv6]),
};

/** Sorted unique protocol numbers, null for `any`, undefined when an error was reported. */
export function lowerProtocols(e: ProtoExpr, diagnostics: DiagnosticCollector): readonly number[] | null | undefined {
  if (e.kind === 'ProtoName') return e.name === 'any' ? null : KEYWORD_PROTOCOLS[e.name];
  const out = new Set<number>();
  let any = false;
  let ok = true;
  const visit = (p: ProtoExpr): void => {
    switch (p.kind) {
      case 'ProtoName':
        if (p.name === 'any') any = true;
        else out.add(PROTOCOL_NUMBERS[p.name]);
        return;
      case 'ProtoNumber':
        if (Number.isInteger(p.value) && p.value >= 0 && p.value <= 255) out.add(p.value);
        else {
          diagnostics.add(Code.ProtocolOutOfRange, p.span, { value: p.value });
          ok = false;
        }
        return;
      case 'ProtoList':
        if (p.items.length === 0) {
          diagnostics.add(Code.EmptySetLiteral, p.span, { what: 'protocol list' });
          ok = false;
        }
        for (const item of p.items) visit(item);
        return;
      default:
        return assertNever(p);
    }
  };
  visit(e);
  if (!ok) return undefined;
  return any ? null : [...out].sort((a, b) => a - b);
}
