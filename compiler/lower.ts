// Stage 5: lowering. Takes the resolved program; checks every value (addresses, ports and
// protocols in lower-values.ts; priorities, rule names, ICMP types, defaults and rule families
// here) and turns the AST into the flat, normalised IR of `ir.ts`. Returns the `ProgramIr`, or
// undefined when the compilation has errors.
import type { AddrExpr, Direction, IcmpAst, PolicyDecl, PortExpr, RuleAst, Verdict } from './ast.ts';
import type { Family } from './cidr.ts';
import { Code, hasErrors, type Diagnostic, type DiagnosticCollector } from './diagnostics.ts';
import { parseIsoDate } from './expiry.ts';
import { ICMP_TYPE_NAMES, icmpTypeNumber } from './icmp-types.ts';
import { DIRECTIONS, PORT_PROTOCOLS, PROTOCOL_NUMBERS, type AddrSetIr, type DeclarationIr, type DirectionIr, type IcmpMatchIr, type ProgramIr, type RuleIr } from './ir.ts';
import { createLowerer, lowerIsLiteralAddr, lowerIsLiteralPorts, lowerProtocols, lowerShiftDiagnostic, type AddrValue, type DeclarationValueCache, type Lowerer } from './lower-values.ts';
import { protocolName } from './packet.ts';
import type { ResolvedProgram } from './resolve.ts';
import type { Span } from './source.ts';
import { closestSpelling } from './spelling.ts';

/**
 * Lowers a resolved program. Every value error is reported once; rules and declarations that
 * depend on something already reported (a recovered node, a failed name) are skipped silently.
 * Returns undefined when `diagnostics` holds any error by the end (from this or an earlier
 * stage): the IR's guarantees (`ir.ts`) hold only for a compilation without errors.
 */
export function lower(resolved: ResolvedProgram, diagnostics: DiagnosticCollector, cache?: LowerCache): ProgramIr | undefined {
  const reuse = cache ? lowerReuseOf(cache, resolved) : undefined;
  const lowerer = createLowerer(resolved, diagnostics, reuse && { values: reuse.cache.values, texts: reuse.texts });
  // Every declaration is lowered, used or not, so that its value errors are reported; in
  // dependency order, so a long chain of sets does not become deep recursion.
  for (const symbol of resolved.order) lowerer.lowerSymbol(symbol);
  // A repeated declaration (SEG2003) has no symbol, but its value's own mistakes are still due.
  for (const ast of resolved.asts) {
    for (const d of ast.declarations) {
      if ((d.kind !== 'SetDecl' && d.kind !== 'PortsDecl') || d.recovered || !d.value) continue;
      if (resolved.symbols.get(d.name.name)?.decl === d) continue;
      if (d.kind === 'SetDecl') lowerer.lowerAddr(d.value);
      else lowerer.lowerPorts(d.value);
    }
  }
  const directions = DIRECTIONS.map((d) => lowerDirection(d, resolved.policies, lowerer, diagnostics, reuse));
  if (reuse) lowerReuseDone(reuse, resolved.symbols.size);
  if (hasErrors(diagnostics.items)) return undefined;

  const [ingress, egress] = directions as [LoweredDirection, LoweredDirection];
  const rules: RuleIr[] = [];
  const withIds = (dir: LoweredDirection): DirectionIr => {
    for (const r of dir.rules) {
      r.id = rules.length;
      rules.push(r);
    }
    return { direction: dir.direction, declared: dir.declared, defaultAction: dir.defaultAction, defaultSpan: dir.defaultSpan, rules: dir.rules };
  };
  const ingressIr = withIds(ingress);
  const egressIr = withIds(egress);
  const declarations: DeclarationIr[] = [...resolved.symbols.values()].map((s) => ({
    kind: s.kind,
    name: s.name,
    span: s.decl.name.span,
    uses: [...s.uses],
  }));
  const files = resolved.files.map((f) => f.path);
  // The IR's hash (hash.ts) is left to the commands that record or compare it (deploy, diff,
  // explain): a check, and the language server's every keystroke, never read it.
  return { rules, ingress: ingressIr, egress: egressIr, declarations, files };
}

// ---- Rules --------------------------------------------------------------------------------------

/** A rule before its id is known (it is its index once both directions are sorted). */
type LoweredRule = RuleIr & { id: number };

interface LoweredDirection {
  readonly direction: Direction;
  readonly declared: boolean;
  readonly defaultAction: Verdict;
  readonly defaultSpan: Span | null;
  /** Ascending priority. */
  readonly rules: readonly LoweredRule[];
}

function lowerDirection(direction: Direction, policies: readonly PolicyDecl[], lowerer: Lowerer, diagnostics: DiagnosticCollector, reuse: LowerReuse | undefined): LoweredDirection {
  let stated: { verdict: Verdict; span: Span } | undefined;
  // Rules by priority: a typed array of positions in `seen`, not a map (priorities in range are
  // 0..65535, and a map's 10k inserts were a tenth of a re-check).
  const byPriority: PrioritySeen = { at: new Int32Array(65536), rules: [] };
  const byName = new Map<string, RuleAst>();
  const rules: LoweredRule[] = [];
  let declared = false;
  for (const policy of policies) {
    if (policy.direction !== direction) continue;
    declared = true;
    const d = policy.defaultAction;
    if (d) {
      if (!stated) stated = d;
      else if (stated.verdict !== d.verdict) {
        diagnostics.add(
          Code.ConflictingDefaults,
          d.span,
          { direction, action: d.verdict, other: stated.verdict },
          { related: [{ span: stated.span, message: `the ${direction} default is ${stated.verdict} here` }] },
        );
      }
    }
    for (const rule of policy.rules) {
      if (rule.recovered) continue;
      const priorityOk = lowerPriority(rule, direction, byPriority, diagnostics);
      lowerRuleName(rule, direction, byName, diagnostics);
      const lowered = reuse ? lowerRuleReusing(rule, direction, lowerer, reuse) : lowerRule(rule, direction, lowerer);
      if (lowered && priorityOk) rules.push(lowered);
    }
  }
  rules.sort((a, b) => a.priority - b.priority);
  // The spec's default when a block omits it is deny; a direction no block names is segc's
  // extension: unfiltered (docs/language.md, "Directions without a policy block").
  const defaultAction = stated?.verdict ?? (declared ? 'deny' : 'allow');
  return { direction, declared, defaultAction, defaultSpan: stated?.span ?? null, rules };
}

/** The rules of a direction by priority: `rules[at[p] - 1]` has priority p (0: none yet). */
interface PrioritySeen {
  readonly at: Int32Array;
  readonly rules: RuleAst[];
}

function lowerPriority(rule: RuleAst, direction: Direction, seen: PrioritySeen, diagnostics: DiagnosticCollector): boolean {
  const p = rule.priority;
  if (!Number.isInteger(p.value) || p.value < 0 || p.value > 65535) {
    diagnostics.add(Code.PriorityOutOfRange, p.span, { value: p.value });
    return false;
  }
  const index = seen.at[p.value]!;
  const other = index === 0 ? undefined : seen.rules[index - 1];
  if (other) {
    diagnostics.add(
      Code.DuplicatePriority,
      p.span,
      { priority: p.value, direction },
      { related: [{ span: other.span, message: `${ruleLabel(other, direction)} has priority ${p.value}` }] },
    );
    return false;
  }
  seen.rules.push(rule);
  seen.at[p.value] = seen.rules.length;
  return true;
}

function lowerRuleName(rule: RuleAst, direction: Direction, seen: Map<string, RuleAst>, diagnostics: DiagnosticCollector): void {
  if (!rule.name) return;
  const other = seen.get(rule.name.name);
  if (other) {
    diagnostics.add(Code.DuplicateRuleName, rule.name.span, { name: rule.name.name, direction }, { related: [{ span: (other.name ?? other).span, message: `'${rule.name.name}' first names this rule` }] });
    return;
  }
  seen.set(rule.name.name, rule);
}

/** `rule 'ssh-office'` for a named rule, `rule ingress/300` for an unnamed one (for related messages). */
function ruleLabel(rule: RuleAst, direction: Direction): string {
  return rule.name ? `rule '${rule.name.name}'` : `rule ${direction}/${rule.priority.value}`;
}

// ---- Reuse between compilations (the language server's re-check after an edit) ---------------

/**
 * What `lower` keeps between compilations of one document: each rule, lowered, with its
 * diagnostics. A rule's IR and diagnostics follow from its text and direction and, when it
 * names sets or port sets, from the declarations (whose texts decide every name's value and
 * whether it failed), so a rule whose line an edit left as it was, wherever the line moved, is
 * not lowered again, unless it names sets and a declaration changed. Rules are found by their
 * AST node (the incremental parser keeps the nodes of lines an edit did not touch, moving
 * their spans in place when the line moved), else by their text.
 */
export interface LowerCache {
  readonly byRule: WeakMap<RuleAst, LowerCachedRule>;
  /** By direction, then by the rule's text; only rules not found by their node go through it. */
  readonly byText: Readonly<Record<Direction, Map<string, LowerCachedRule>>>;
  /**
   * The declarations key of the last run, kept so that an equal key is this very string: every
   * cached rule compares its key with it, and two equal strings that are not one object are
   * compared character by character (10k rules by some 10 KB each, per check).
   */
  declarations: string | undefined;
  /** The values of declarations that name no other, by their text (lower-values.ts). */
  readonly values: DeclarationValueCache;
}

interface LowerCachedRule {
  readonly direction: Direction;
  /**
   * For a rule that names sets: the declarations it was lowered with (`lowerDeclarationsKey`),
   * brought up to date when `names` shows the edit of the declarations did not concern it.
   */
  declarations: string | undefined;
  /**
   * For a rule that names sets, each declaring none: each name with its `lowerNameKey` then
   * (undefined: the rule holds only while all the declarations are as they were).
   */
  readonly names: readonly (readonly [string, string])[] | undefined;
  /** The lowered rule (its id and span are the new rule's), or undefined when it failed. */
  readonly rule: LoweredRule | undefined;
  /** Its diagnostics, spans relative to the rule's start. */
  readonly diagnostics: readonly Diagnostic[];
}

export function createLowerCache(): LowerCache {
  return { byRule: new WeakMap(), byText: { ingress: new Map(), egress: new Map() }, declarations: undefined, values: { byText: new Map() } };
}

interface LowerReuse {
  readonly cache: LowerCache;
  readonly texts: ReadonlyMap<string, string>;
  /** The declarations of this compilation, as one text. */
  readonly declarations: string;
  count: number;
  readonly resolved: ResolvedProgram;
  /** `lowerNameKey`, computed once per name. */
  readonly nameKeys: Map<string, string | undefined>;
}

function lowerReuseOf(cache: LowerCache, resolved: ResolvedProgram): LowerReuse {
  const texts = new Map(resolved.files.map((f) => [f.path, f.text]));
  const key = lowerDeclarationsKey(resolved, texts);
  if (key !== cache.declarations) cache.declarations = key;
  return { cache, texts, declarations: cache.declarations, count: 0, resolved, nameKeys: new Map() };
}

/**
 * Every set and ports declaration's text, file by file in the compilation's order: what decides
 * the value of each name a rule uses (which declaration comes first, what it refers to, whether
 * it failed). Equal keys, equal values for every name.
 */
function lowerDeclarationsKey(resolved: ResolvedProgram, texts: ReadonlyMap<string, string>): string {
  const parts: string[] = [];
  resolved.asts.forEach((ast, i) => {
    const path = resolved.files[i]!.path;
    const text = texts.get(path) ?? '';
    parts.push(`\u0000${path}`);
    for (const d of ast.declarations) {
      if (d.kind === 'SetDecl' || d.kind === 'PortsDecl') parts.push(`${d.recovered === true ? '!' : ''}${text.slice(d.span.start, d.span.end)}`);
    }
  });
  return parts.join('\n');
}

/**
 * What decides the value a rule gets for a name, when its declaration names no other: the
 * declaration's kind, failure, file and text (undefined when it names others: then it is all
 * the declarations). Editing one declaration re-lowers only the rules that name it.
 */
function lowerNameKey(reuse: LowerReuse, name: string): string | undefined {
  if (reuse.nameKeys.has(name)) return reuse.nameKeys.get(name);
  const symbol = reuse.resolved.symbols.get(name);
  let key: string | undefined = '\u0000';
  if (symbol !== undefined) {
    const d = symbol.decl;
    const literal = d.value === undefined || (d.kind === 'SetDecl' ? lowerIsLiteralAddr(d.value) : lowerIsLiteralPorts(d.value));
    const text = reuse.texts.get(d.span.file);
    key = literal && text !== undefined ? `${symbol.kind}${symbol.failed ? '!' : ''}${d.recovered === true ? '!' : ''}\u0000${d.span.file}\u0000${text.slice(d.span.start, d.span.end)}` : undefined;
  }
  reuse.nameKeys.set(name, key);
  return key;
}

/** The names a rule uses with their keys, or undefined when one of them has none. */
function lowerRuleNameKeys(rule: RuleAst, reuse: LowerReuse): (readonly [string, string])[] | undefined {
  const names: string[] = [];
  const addr = (e: AddrExpr | undefined): void => {
    if (e === undefined) return;
    if (e.kind === 'SetRef') names.push(e.name);
    else if (e.kind === 'AddrList') e.items.forEach(addr);
    else if (e.kind === 'AddrExcept') {
      addr(e.base);
      addr(e.excluded);
    }
  };
  const ports = (e: PortExpr | undefined): void => {
    if (e === undefined) return;
    if (e.kind === 'PortsRef') names.push(e.name);
    else if (e.kind === 'PortList') e.items.forEach(ports);
  };
  addr(rule.src);
  addr(rule.dst);
  ports(rule.srcPorts);
  ports(rule.dstPorts);
  const keys: (readonly [string, string])[] = [];
  for (const name of names) {
    const key = lowerNameKey(reuse, name);
    if (key === undefined) return undefined;
    keys.push([name, key]);
  }
  return keys;
}

/** Whether a rule lowered with other declarations names only sets whose declarations are as they were. */
function lowerNamesHold(cached: LowerCachedRule, reuse: LowerReuse): boolean {
  if (cached.names === undefined) return false;
  for (const [name, key] of cached.names) if (lowerNameKey(reuse, name) !== key) return false;
  cached.declarations = reuse.declarations;
  return true;
}

/** After a run: texts of rules long gone are dropped once they outnumber the rules. */
function lowerReuseDone(reuse: LowerReuse, declarations: number): void {
  for (const map of Object.values(reuse.cache.byText)) if (map.size > 2 * reuse.count + 1024) map.clear();
  if (reuse.cache.values.byText.size > 2 * declarations + 1024) reuse.cache.values.byText.clear();
}

function lowerRuleReusing(rule: RuleAst, direction: Direction, lowerer: Lowerer, reuse: LowerReuse): LoweredRule | undefined {
  reuse.count++;
  const { byRule, byText } = reuse.cache;
  const valid = (c: LowerCachedRule | undefined) =>
    c !== undefined && c.direction === direction && (c.declarations === undefined || c.declarations === reuse.declarations || lowerNamesHold(c, reuse));
  let cached = byRule.get(rule);
  let key: string | undefined;
  if (!valid(cached)) {
    const text = reuse.texts.get(rule.span.file);
    if (text === undefined) return lowerRule(rule, direction, lowerer);
    key = text.slice(rule.span.start, rule.span.end);
    cached = byText[direction].get(key);
    if (!valid(cached)) cached = undefined;
    // Found by its text: found by its node next time.
    if (cached !== undefined) byRule.set(rule, cached);
  }
  const base = rule.span.start;
  if (cached !== undefined) {
    for (const d of cached.diagnostics) lowerer.diagnostics.items.push(lowerShiftDiagnostic(d, rule.span.file, base));
    if (cached.rule === undefined) return undefined;
    return { ...cached.rule, id: -1, span: rule.span };
  }
  const before = lowerer.diagnostics.items.length;
  const lowered = lowerRule(rule, direction, lowerer);
  const added = lowerer.diagnostics.items.slice(before);
  // Only what lies within the rule can move with it (every value check reports there).
  const inside = (span: Span) => span.file === rule.span.file && span.start >= base && span.end <= rule.span.end;
  if (key !== undefined && added.every((d) => inside(d.span) && d.related.every((r) => inside(r.span)))) {
    const literal = lowerRuleIsLiteral(rule);
    const entry: LowerCachedRule = {
      direction,
      declarations: literal ? undefined : reuse.declarations,
      names: literal ? undefined : lowerRuleNameKeys(rule, reuse),
      rule: lowered,
      diagnostics: added.map((d) => lowerShiftDiagnostic(d, '', -base)),
    };
    byText[direction].set(key, entry);
    byRule.set(rule, entry);
  }
  return lowered;
}

/** Whether the rule names no set or port set (its lowering reads nothing but its own text and direction). */
function lowerRuleIsLiteral(rule: RuleAst): boolean {
  return lowerIsLiteralAddr(rule.src) && lowerIsLiteralAddr(rule.dst) && lowerIsLiteralPorts(rule.srcPorts) && lowerIsLiteralPorts(rule.dstPorts);
}

/** Lowers one rule's matching parts; undefined when any part failed (already reported). */
function lowerRule(rule: RuleAst, direction: Direction, lowerer: Lowerer): LoweredRule | undefined {
  const { diagnostics } = lowerer;
  // A rule the parser did not flag as recovered still has every mandatory part; the checks keep
  // a half-built tree from becoming a crash.
  if (!rule.action || !rule.protocol || !rule.src || !rule.dst) return undefined;
  const protocols = lowerProtocols(rule.protocol, diagnostics);
  const src = lowerer.lowerAddr(rule.src);
  const dst = lowerer.lowerAddr(rule.dst);
  const srcPorts = rule.srcPorts ? lowerer.lowerPorts(rule.srcPorts) : null;
  const dstPorts = rule.dstPorts ? lowerer.lowerPorts(rule.dstPorts) : null;
  if (protocols !== undefined && (rule.srcPorts || rule.dstPorts)) {
    const offending = protocols === null ? 'any' : protocols.find((p) => !PORT_PROTOCOLS.includes(p));
    if (offending !== undefined) {
      const at = (rule.srcPorts ?? rule.dstPorts) as PortExpr;
      diagnostics.add(
        Code.PortWithoutPortProtocol,
        at.span,
        { protocol: typeof offending === 'string' ? offending : protocolName(offending) },
        { related: [{ span: rule.protocol.span, message: 'the rule\'s protocols' }] },
      );
      return undefined;
    }
  }
  const icmp = rule.icmp ? lowerIcmp(rule.icmp, rule.protocol.span, protocols, diagnostics) : null;
  if (protocols === undefined || !src || !dst || srcPorts === undefined || dstPorts === undefined || icmp === undefined) return undefined;

  const families = lowerFamilies(rule, protocols, src, dst, diagnostics);
  if (!families) return undefined;
  if (rule.noSession && rule.action.verdict === 'deny') {
    diagnostics.add(Code.NoSessionOnDeny, rule.noSession.span, { action: rule.action.text }, { related: [{ span: rule.action.span, message: 'the rule denies' }] });
    return undefined;
  }
  if (rule.expires && parseIsoDate(rule.expires.text) === undefined) {
    diagnostics.add(Code.InvalidDate, rule.expires.span, { text: rule.expires.text });
    return undefined;
  }
  const side = (v: AddrValue): AddrSetIr => {
    const ir = lowerer.addrSetIr(v);
    // Share the value's IR unless a family it holds must be emptied.
    if ((families.v4 || ir.v4.length === 0) && (families.v6 || ir.v6.length === 0)) return ir;
    return { v4: families.v4 ? ir.v4 : [], v6: families.v6 ? ir.v6 : [] };
  };
  // Likewise the parts that only the emptied family could match: icmp (1) in a rule that does
  // not apply to IPv4, icmpv6 (58) in one that does not apply to IPv6, and their ICMP types. Two
  // rules that match the same packets then lower alike, and hash alike.
  const unreachable = !families.v4 ? PROTOCOL_NUMBERS.icmp : !families.v6 ? PROTOCOL_NUMBERS.icmpv6 : undefined;
  return {
    id: -1,
    direction,
    priority: rule.priority.value,
    name: rule.name ? rule.name.name : `${direction}/${rule.priority.value}`,
    named: rule.name !== undefined,
    action: rule.action.verdict,
    log: rule.action.log,
    audit: rule.action.audit,
    protocols: protocols === null || unreachable === undefined || !protocols.includes(unreachable) ? protocols : protocols.filter((p) => p !== unreachable),
    src: side(src),
    dst: side(dst),
    srcPorts,
    dstPorts,
    icmp: icmp && { type4: families.v4 ? icmp.type4 : null, type6: families.v6 ? icmp.type6 : null, code: icmp.code },
    description: rule.description ? rule.description.value : null,
    ...(rule.noSession ? { noSession: true as const } : {}),
    ...(rule.expires ? { expires: rule.expires.text } : {}),
    span: rule.span,
  };
}

const ICMP_PROTOCOLS: readonly number[] = [PROTOCOL_NUMBERS.icmp, PROTOCOL_NUMBERS.icmpv6];

/** The ICMP match; undefined when an error was reported. `protocols` undefined: already failed. */
function lowerIcmp(icmp: IcmpAst, protoSpan: Span, protocols: readonly number[] | null | undefined, diagnostics: DiagnosticCollector): IcmpMatchIr | undefined {
  let ok = true;
  let protocolsOk = protocols !== undefined;
  if (protocols !== undefined) {
    const offending = protocols === null ? 'any' : protocols.find((p) => !ICMP_PROTOCOLS.includes(p));
    if (offending !== undefined) {
      diagnostics.add(
        Code.IcmpWithoutIcmpProtocol,
        icmp.span,
        { protocol: typeof offending === 'string' ? offending : protocolName(offending) },
        { related: [{ span: protoSpan, message: 'the rule\'s protocols' }] },
      );
      ok = false;
      protocolsOk = false;
    }
  }
  const has4 = protocolsOk && protocols !== null && protocols !== undefined && protocols.includes(PROTOCOL_NUMBERS.icmp);
  const has6 = protocolsOk && protocols !== null && protocols !== undefined && protocols.includes(PROTOCOL_NUMBERS.icmpv6);

  let type4: number | null = null;
  let type6: number | null = null;
  const t = icmp.type;
  if ('value' in t) {
    if (lowerIcmpNumber(t.value, 'type', t.span, diagnostics)) {
      type4 = has4 ? t.value : null;
      type6 = has6 ? t.value : null;
    } else ok = false;
  } else {
    const n4 = icmpTypeNumber(4, t.name);
    const n6 = icmpTypeNumber(6, t.name);
    if (n4 === undefined && n6 === undefined) {
      const suggestion = suggestIcmpName(t.name);
      diagnostics.add(Code.UnknownIcmpType, t.span, suggestion === undefined ? { name: t.name } : { name: t.name, suggestion });
      ok = false;
    } else if (protocolsOk) {
      const missing = has4 && n4 === undefined ? 'icmp' : has6 && n6 === undefined ? 'icmpv6' : undefined;
      if (missing !== undefined) {
        const hint =
          has4 && has6
            ? `'${t.name}' exists only for ${missing === 'icmp' ? 'icmpv6' : 'icmp'}; split the rule into an icmp and an icmpv6 rule`
            : `'${t.name}' is an ${missing === 'icmp' ? 'icmpv6' : 'icmp'} type; use protocol ${missing === 'icmp' ? 'icmpv6' : 'icmp'}, or a type number`;
        diagnostics.add(Code.IcmpTypeNotInFamily, t.span, { name: t.name, protocol: missing, hint });
        ok = false;
      } else {
        type4 = has4 ? (n4 ?? null) : null;
        type6 = has6 ? (n6 ?? null) : null;
      }
    }
  }
  let code: number | null = null;
  if (icmp.code) {
    if (lowerIcmpNumber(icmp.code.value, 'code', icmp.code.span, diagnostics)) code = icmp.code.value;
    else ok = false;
  }
  return ok ? { type4, type6, code } : undefined;
}

function lowerIcmpNumber(value: number, what: 'type' | 'code', span: Span, diagnostics: DiagnosticCollector): boolean {
  if (Number.isInteger(value) && value >= 0 && value <= 255) return true;
  diagnostics.add(Code.IcmpValueOutOfRange, span, { what, value });
  return false;
}

function suggestIcmpName(name: string): string | undefined {
  return closestSpelling(name, ICMP_TYPE_NAMES);
}

// ---- Families -----------------------------------------------------------------------------------

/**
 * The address families a rule can match (ir.ts, "family"): those both sides hold, that a
 * protocol of the rule exists in (icmp is IPv4's, icmpv6 IPv6's) and, with an ICMP type, that
 * the type was given for. Reports SEG3016 when none is left.
 */
function lowerFamilies(
  rule: RuleAst,
  protocols: readonly number[] | null,
  src: AddrValue,
  dst: AddrValue,
  diagnostics: DiagnosticCollector,
): { v4: boolean; v6: boolean } | undefined {
  // Protocols other than icmp exist in IPv6 too, and those other than icmpv6 in IPv4.
  const proto4 = protocols === null || protocols.some((p) => p !== PROTOCOL_NUMBERS.icmpv6);
  const proto6 = protocols === null || protocols.some((p) => p !== PROTOCOL_NUMBERS.icmp);
  const both4 = src.v4.length > 0 && dst.v4.length > 0;
  const both6 = src.v6.length > 0 && dst.v6.length > 0;
  if ((both4 && proto4) || (both6 && proto6)) return { v4: both4 && proto4, v6: both6 && proto6 };

  const addrFamilies = (v: AddrValue): Family[] => [...(v.v4.length > 0 ? [4 as const] : []), ...(v.v6.length > 0 ? [6 as const] : [])];
  const srcFamilies = addrFamilies(src);
  const dstFamilies = addrFamilies(dst);
  const both = srcFamilies.filter((f) => dstFamilies.includes(f));
  const only = (fs: Family[]): string => `only IPv${fs[0]} addresses`;
  let reason: string;
  let hint: string;
  if (both.length === 0) {
    reason = `the source has ${only(srcFamilies)} and the destination ${only(dstFamilies)}`;
    hint = 'use addresses of one family on both sides, or split the rule per family';
  } else {
    const fam = both[0] as Family;
    const proto = fam === 6 ? 'icmp' : 'icmpv6';
    reason = `${proto} exists only in IPv${fam === 6 ? 4 : 6}, but the addresses are ${fam === 6 ? 'IPv6' : 'IPv4'} only`;
    hint = `use ${fam === 6 ? 'icmpv6' : 'icmp'} for IPv${fam} addresses`;
  }
  diagnostics.add(Code.RuleMatchesNothing, rule.span, { reason, hint });
  return undefined;
}
