// Stage 1d: from the CST to the AST of ast.ts. Takes one file's CST and comments; gives its
// FileAst (spans on every node, recovered statements marked). Also `parseSourceFile`, the
// whole front end of one file: tokenize, parse, buildAst.
import type { CstNode, IToken } from 'chevrotain';
import type {
  ActionAst,
  AddrExpr,
  Comment,
  Declaration,
  ExpectationAst,
  ExpectedOutcome,
  FileAst,
  IcmpAst,
  IncludeDecl,
  Name,
  NumberLit,
  PolicyDecl,
  PortExpr,
  PortsDecl,
  ProtoExpr,
  ProtoKeyword,
  RuleAst,
  SetDecl,
  TestDecl,
} from './ast.ts';
import type {
  ActionCstChildren,
  AddrExprCstChildren,
  AddrExprCstNode,
  AddrListCstChildren,
  AddrTermCstChildren,
  AddrTermCstNode,
  DeclarationCstChildren,
  DeclarationCstNode,
  ExpectationCstChildren,
  ExpectationCstNode,
  ExpectLineCstChildren,
  ExpiryCstChildren,
  FileCstChildren,
  FileCstNode,
  IcmpMatchCstChildren,
  IncludeDeclCstChildren,
  LineEndCstChildren,
  LineEndCstNode,
  PolicyDeclCstChildren,
  PolicyDeclCstNode,
  PortExprCstChildren,
  PortExprCstNode,
  PortListCstChildren,
  PacketSpecCstChildren,
  PortsDeclCstChildren,
  ProtoExprCstChildren,
  ProtoExprCstNode,
  ProtoListCstChildren,
  RuleCstChildren,
  RuleCstNode,
  RuleLineCstChildren,
  RuleRefCstChildren,
  SetDeclCstChildren,
  StrayLineCstChildren,
  TestDeclCstChildren,
  TestDeclCstNode,
} from './cst.d.ts';
import { createCollector, type DiagnosticCollector } from './diagnostics.ts';
import { tokenizeTable, unquoteString, type TokenizeTableResult } from './lexer.ts';
import { tokenTableToken, type TokenTable } from './lexer-scan.ts';
import { parseRuleLinesOfTable } from './parse-rule-lines.ts';
import { isCleanTree, parse, parser } from './parser.ts';
import { Colon } from './tokens.ts';
import { joinSpans, type SourceFile, type Span } from './source.ts';

// Moved to the lexer, beside isTerminatedString (the fast path of rule lines needs it too).
export { unquoteString } from './lexer.ts';

/** The whole front end of one file: its AST, with every syntax error in `diagnostics`. */
export function parseSourceFile(file: SourceFile, diagnostics: DiagnosticCollector): FileAst {
  // The tokens stay a table (lexer-scan.ts): token objects are made only for the lines the
  // grammar reads, never for the rule lines the fast path takes (most of a big policy).
  return parseTokenTable(file, tokenizeTable(file, diagnostics), diagnostics);
}

/** `parseSourceFile` after its `tokenizeTable` (fmt keeps the table to prove its output by it). */
export function parseTokenTable(file: SourceFile, { table, comments }: TokenizeTableResult, diagnostics: DiagnosticCollector): FileAst {
  // Valid rule lines are read directly (parse-rule-lines.ts); the grammar parses the rest. The
  // split holds only where the grammar really was inside each block at each line taken, which
  // its CST shows; where it was not (a damaged file can end a block early), the whole file is
  // parsed by the grammar instead, so the result is always the grammar's.
  const lines = parseRuleLinesOfTable(file, table);
  if (lines.taken > 0) {
    const trial = createCollector();
    // A loop, not push(...items): a spread of 100k+ diagnostics overflows the call stack.
    for (const d of diagnostics.items) trial.items.push(d);
    const known = diagnostics.items.length;
    const cst = parse(file, lines.rest, trial, lines.rest, lines.lineEnds);
    if (buildAstBlocksHold(cst, lines.rest, lines.rulesByBlock)) {
      for (let i = known; i < trial.items.length; i++) diagnostics.items.push(trial.items[i]!);
      return buildAst(file, cst, comments, lines.rulesByBlock);
    }
  }
  const tokens = lines.taken > 0 ? tokenTableTokens(table, file.text) : lines.rest;
  return buildAst(file, parse(file, tokens, diagnostics), comments);
}

/** Every token of a table as an object (the grammar alone reads them all). */
function tokenTableTokens(table: TokenTable, text: string): IToken[] {
  const tokens: IToken[] = [];
  for (let i = 0; i < table.count; i++) tokens.push(tokenTableToken(table, text, i));
  return tokens;
}

/**
 * Builds the AST of a CST. `fastRules` are the rules parse-rule-lines.ts read past the grammar,
 * by their block's `{` offset; each block's rules are merged in source order.
 */
export function buildAst(file: SourceFile, cst: FileCstNode, comments: readonly IToken[], fastRules?: ReadonlyMap<number, readonly RuleAst[]>): FileAst {
  return new AstBuilder(file, fastRules).build(cst, comments);
}

/**
 * Whether the grammar, parsing `rest`, was inside each block of `rulesByBlock` wherever that
 * block's rules were taken out: the block's policy is in the CST with that `{`, and the block
 * ends (its `}`, or the token after its last one) after the last rule taken.
 */
export function buildAstBlocksHold(cst: FileCstNode, rest: readonly IToken[], rulesByBlock: ReadonlyMap<number, readonly RuleAst[]>): boolean {
  const ends = new Map<number, number>();
  for (const declaration of cst.children.declaration ?? []) {
    const policy = declaration.children.policyDecl?.[0];
    const open = policy?.children.LCurly[0];
    if (policy === undefined || !isReal(open)) continue;
    const close = policy.children.RCurly?.[0];
    ends.set(open.startOffset, isReal(close) ? close.startOffset : buildAstNextOffset(rest, buildAstLastOffset(policy)));
  }
  for (const [open, rules] of rulesByBlock) {
    const last = rules.at(-1);
    if (last === undefined) continue;
    const end = ends.get(open);
    if (end === undefined || last.span.start >= end) return false;
  }
  return true;
}

/** The offset of the last real token of a CST node. */
function buildAstLastOffset(node: CstNode): number {
  let last = -1;
  for (const list of Object.values(node.children)) {
    for (const child of list) {
      const offset = 'children' in child ? buildAstLastOffset(child) : isReal(child) ? child.startOffset : -1;
      if (offset > last) last = offset;
    }
  }
  return last;
}

/** The offset of the first token of `tokens` after `offset` (Infinity for none, or for EOF). */
function buildAstNextOffset(tokens: readonly IToken[], offset: number): number {
  let lo = 0;
  let hi = tokens.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (tokens[mid]!.startOffset <= offset) lo = mid + 1;
    else hi = mid;
  }
  return lo < tokens.length && tokens[lo]!.image !== '' ? tokens[lo]!.startOffset : Infinity;
}

/** A token recovery made up (it has no place in the text): treated as absent. */
function isReal(token: IToken | undefined): token is IToken {
  return token !== undefined && token.isInsertedInRecovery !== true && token.startOffset >= 0;
}

function firstReal(tokens: readonly IToken[] | undefined): IToken | undefined {
  return tokens?.find(isReal);
}

/** Whether the parser recovered anywhere inside the node (so parts may be missing or made up). */
function isRecoveredDeep(node: CstNode): boolean {
  if (node.recoveredNode === true) return true;
  for (const list of Object.values(node.children)) {
    for (const child of list) {
      if ('children' in child ? isRecoveredDeep(child) : !isReal(child)) return true;
    }
  }
  return false;
}

/** Two lists of rules, each in source order, as one in source order. */
function mergeBySpan(a: readonly RuleAst[], b: readonly RuleAst[]): RuleAst[] {
  const out: RuleAst[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (j >= b.length || (i < a.length && a[i]!.span.start < b[j]!.span.start)) out.push(a[i++]!);
    else out.push(b[j++]!);
  }
  return out;
}

/** Whether a statement's line held tokens the statement did not take. */
function hasExtraTokens(lineEnd: readonly LineEndCstNode[] | undefined): boolean {
  const children = lineEnd?.[0]?.children;
  return (children?.LineToken?.length ?? 0) > 0 || (children?.RCurly?.length ?? 0) > 0;
}


/** A node under construction (the AST's fields are readonly once built). */
type Mutable<T> = { -readonly [K in keyof T]: T[K] };

const BaseVisitor = parser.getBaseCstVisitorConstructor();

/**
 * One method per grammar rule (validateVisitor checks that at construction). The methods are
 * called directly with the node's children and the node, so each returns its own AST type.
 * Every child may be absent in a recovered node.
 */
class AstBuilder extends BaseVisitor {
  private readonly source: SourceFile;
  /** Rules read past the grammar (parse-rule-lines.ts), by their block's `{` offset. */
  private readonly fastRules: ReadonlyMap<number, readonly RuleAst[]> | undefined;
  /** Set when the tree came from a parse without errors: then nothing needs checking. */
  private clean = false;

  constructor(file: SourceFile, fastRules?: ReadonlyMap<number, readonly RuleAst[]>) {
    super();
    this.source = file;
    this.fastRules = fastRules;
    this.validateVisitor();
  }

  private isRecovered(node: CstNode): boolean {
    return !this.clean && isRecoveredDeep(node);
  }

  build(cst: FileCstNode, comments: readonly IToken[]): FileAst {
    this.clean = isCleanTree(cst);
    return {
      kind: 'File',
      path: this.source.path,
      span: { file: this.source.path, start: 0, end: this.source.text.length },
      declarations: this.file(cst.children),
      comments: comments.map((c): Comment => ({ text: c.image, span: this.tokenSpan(c) })),
    };
  }

  // ---- Spans -----------------------------------------------------------------------------

  private tokenSpan(token: IToken): Span {
    return { file: this.source.path, start: token.startOffset, end: token.startOffset + token.image.length };
  }

  /** The smallest span holding every given span (spans of absent parts are skipped). */
  private cover(spans: readonly (Span | undefined)[]): Span | undefined {
    let start = Infinity;
    let end = -Infinity;
    for (const span of spans) {
      if (span === undefined) continue;
      if (span.start < start) start = span.start;
      if (span.end > end) end = span.end;
    }
    return start === Infinity ? undefined : { file: this.source.path, start, end };
  }

  private realSpan(tokens: readonly IToken[] | undefined): Span | undefined {
    const token = firstReal(tokens);
    return token ? this.tokenSpan(token) : undefined;
  }

  private joinTokens(tokens: readonly (IToken | undefined)[]): Span | undefined {
    return this.cover(tokens.map((t) => (isReal(t) ? this.tokenSpan(t) : undefined)));
  }

  private name(token: IToken | undefined): Name | undefined {
    return isReal(token) ? { name: token.image, span: this.tokenSpan(token) } : undefined;
  }

  private numberLit(token: IToken | undefined): NumberLit | undefined {
    return isReal(token) ? { value: Number(token.image), span: this.tokenSpan(token) } : undefined;
  }

  // ---- Declarations ----------------------------------------------------------------------

  file(children: FileCstChildren): Declaration[] {
    const out: Declaration[] = [];
    for (const node of children.declaration ?? []) {
      const decl = this.declaration(node.children, node);
      if (decl !== undefined) out.push(decl);
    }
    return out;
  }

  declaration(children: DeclarationCstChildren, node: DeclarationCstNode): Declaration | undefined {
    const broken = node.recoveredNode === true || hasExtraTokens(children.lineEnd);
    const include = children.includeDecl?.[0];
    if (include) return this.includeDecl(include.children, broken || this.isRecovered(include));
    const set = children.setDecl?.[0];
    if (set) return this.setDecl(set.children, broken || this.isRecovered(set));
    const ports = children.portsDecl?.[0];
    if (ports) return this.portsDecl(ports.children, broken || this.isRecovered(ports));
    const policy = children.policyDecl?.[0];
    if (policy) return this.policyDecl(policy.children, policy);
    const test = children.testDecl?.[0];
    if (test) return this.testDecl(test.children, test, broken);
    return undefined;
  }

  /** Without its path an include says nothing: it is left out (the error is reported). */
  includeDecl(children: IncludeDeclCstChildren, recovered: boolean): IncludeDecl | undefined {
    const path = firstReal(children.path);
    const span = this.joinTokens([firstReal(children.Include), path]);
    if (!path || !span) return undefined;
    const decl: IncludeDecl = { kind: 'Include', path: unquoteString(path.image), pathSpan: this.tokenSpan(path), span };
    return recovered ? { ...decl, recovered } : decl;
  }

  /** A set without a name is left out; one without a value is kept, recovered, so uses of the name resolve. */
  setDecl(children: SetDeclCstChildren, recovered: boolean): SetDecl | undefined {
    const name = this.name(firstReal(children.Name));
    if (!name) return undefined;
    const valueNode = children.addrExpr?.[0];
    const value = valueNode ? this.addrExpr(valueNode.children, valueNode) : undefined;
    const span = this.cover([this.realSpan(children.Set), name.span, this.realSpan(children.Equals), value?.span])!;
    const decl: SetDecl = value ? { kind: 'SetDecl', name, value, span } : { kind: 'SetDecl', name, span };
    return recovered || !value ? { ...decl, recovered: true } : decl;
  }

  portsDecl(children: PortsDeclCstChildren, recovered: boolean): PortsDecl | undefined {
    const name = this.name(firstReal(children.Name));
    if (!name) return undefined;
    const valueNode = children.portExpr?.[0];
    const value = valueNode ? this.portExpr(valueNode.children, valueNode) : undefined;
    const span = this.cover([this.realSpan(children.Ports), name.span, this.realSpan(children.Equals), value?.span])!;
    const decl: PortsDecl = value ? { kind: 'PortsDecl', name, value, span } : { kind: 'PortsDecl', name, span };
    return recovered || !value ? { ...decl, recovered: true } : decl;
  }

  /**
   * A policy without a direction is left out (its rules have nowhere to go). One whose default
   * lost its verdict is kept, recovered. A missing `}` loses nothing, so it does not count.
   */
  policyDecl(children: PolicyDeclCstChildren, node: PolicyDeclCstNode): PolicyDecl | undefined {
    const directionToken = firstReal(children.Ingress) ?? firstReal(children.Egress);
    if (!directionToken) return undefined;
    const defaultToken = firstReal(children.Default);
    const verdictToken = firstReal(children.Allow) ?? firstReal(children.Deny);
    let rules: RuleAst[] = [];
    for (const line of children.ruleLine ?? []) {
      const rule = this.ruleLine(line.children);
      if (rule) rules.push(rule);
    }
    const open = children.LCurly?.[0];
    const fast = isReal(open) ? this.fastRules?.get(open.startOffset) : undefined;
    if (fast !== undefined && fast.length > 0) rules = rules.length === 0 ? [...fast] : mergeBySpan(rules, fast);
    const headerBroken = node.recoveredNode === true || (defaultToken !== undefined && verdictToken === undefined) || !isReal(children.LCurly?.[0]);
    const span = this.cover([
      this.realSpan(children.Policy),
      this.tokenSpan(directionToken),
      this.joinTokens([defaultToken, verdictToken]),
      this.realSpan(children.LCurly),
      rules.at(-1)?.span,
      this.realSpan(children.RCurly),
    ])!;
    const decl: PolicyDecl = {
      kind: 'Policy',
      direction: directionToken.image === 'ingress' ? 'ingress' : 'egress',
      directionSpan: this.tokenSpan(directionToken),
      ...(defaultToken && verdictToken
        ? { defaultAction: { verdict: verdictToken.image === 'allow' ? 'allow' : 'deny', span: this.joinTokens([defaultToken, verdictToken])! } }
        : {}),
      rules,
      span,
    };
    return headerBroken ? { ...decl, recovered: true } : decl;
  }

  ruleLine(children: RuleLineCstChildren): RuleAst | undefined {
    const node = children.rule?.[0];
    return node ? this.rule(node.children, node, hasExtraTokens(children.lineEnd)) : undefined;
  }

  // ---- Rules -----------------------------------------------------------------------------

  rule(children: RuleCstChildren, node: RuleCstNode, extraTokens: boolean): RuleAst | undefined {
    const priority = this.numberLit(firstReal(children.priority));
    if (!priority) return undefined;
    const rule: Mutable<RuleAst> = { kind: 'Rule', priority, span: priority.span };
    const name = this.name(firstReal(children.name));
    if (name) rule.name = name;
    const actionNode = children.action?.[0];
    const action = actionNode && this.action(actionNode.children);
    if (action) rule.action = action;
    const protoNode = children.protoExpr?.[0];
    const protocol = protoNode && this.protoExpr(protoNode.children, protoNode);
    if (protocol) rule.protocol = protocol;
    const srcNode = children.src?.[0];
    const src = srcNode && this.addrExpr(srcNode.children, srcNode);
    if (src) rule.src = src;
    const srcPortsNode = children.srcPorts?.[0];
    const srcPorts = srcPortsNode && this.portExpr(srcPortsNode.children, srcPortsNode);
    if (srcPorts) rule.srcPorts = srcPorts;
    const dstNode = children.dst?.[0];
    const dst = dstNode && this.addrExpr(dstNode.children, dstNode);
    if (dst) rule.dst = dst;
    const dstPortsNode = children.dstPorts?.[0];
    const dstPorts = dstPortsNode && this.portExpr(dstPortsNode.children, dstPortsNode);
    if (dstPorts) rule.dstPorts = dstPorts;
    const icmpNode = children.icmpMatch?.[0];
    const icmp = icmpNode && this.icmpMatch(icmpNode.children);
    if (icmp) rule.icmp = icmp;
    const descriptionToken = firstReal(children.description);
    if (descriptionToken) rule.description = { value: unquoteString(descriptionToken.image), span: this.tokenSpan(descriptionToken) };
    const noSessionToken = firstReal(children.noSession);
    if (noSessionToken) rule.noSession = { span: this.tokenSpan(noSessionToken) };
    const expiryNode = children.expiry?.[0];
    const expires = expiryNode && this.expiry(expiryNode.children);
    if (expires) rule.expires = expires;
    // The rule runs from its priority to the end of its last part that was parsed.
    const last = rule.expires?.span ?? rule.noSession?.span ?? rule.description?.span ?? icmp?.span ?? dstPorts?.span ?? dst?.span ?? this.realSpan(children.To) ?? srcPorts?.span ?? src?.span;
    rule.span = this.cover([priority.span, last, this.realSpan(children.From), protocol?.span, action?.span, name?.span, this.realSpan(children.Colon)])!;
    if (extraTokens || this.isRecovered(node)) rule.recovered = true;
    return rule;
  }

  action(children: ActionCstChildren): ActionAst | undefined {
    const allow = firstReal(children.Allow);
    const deny = firstReal(children.Deny);
    const log = firstReal(children.Log);
    const audit = firstReal(children.Audit);
    const span = this.joinTokens([allow, deny, audit, log]);
    if (!span) return undefined;
    if (allow) return { verdict: 'allow', log: log !== undefined, audit: false, text: log ? 'allow log' : 'allow', span };
    if (deny && audit) return { verdict: 'deny', log: log !== undefined, audit: true, text: log ? 'deny audit log' : 'deny audit', span };
    if (deny) return { verdict: 'deny', log: log !== undefined, audit: false, text: log ? 'deny log' : 'deny', span };
    return { verdict: 'allow', log: true, audit: false, text: 'log', span };
  }

  protoExpr(children: ProtoExprCstChildren, _node: ProtoExprCstNode): ProtoExpr | undefined {
    const list = children.protoList?.[0];
    if (list) return this.protoList(list.children);
    const number = firstReal(children.Number);
    if (number) return { kind: 'ProtoNumber', value: Number(number.image), span: this.tokenSpan(number) };
    const keyword =
      firstReal(children.Tcp) ?? firstReal(children.Udp) ?? firstReal(children.Sctp) ?? firstReal(children.Icmp) ?? firstReal(children.Icmpv6) ?? firstReal(children.Any);
    return keyword ? { kind: 'ProtoName', name: keyword.image as ProtoKeyword, span: this.tokenSpan(keyword) } : undefined;
  }

  protoList(children: ProtoListCstChildren): ProtoExpr | undefined {
    const items: ProtoExpr[] = [];
    for (const n of children.protoExpr ?? []) {
      const item = this.protoExpr(n.children, n);
      if (item) items.push(item);
    }
    const span = this.cover([this.realSpan(children.LCurly), items.at(-1)?.span, this.realSpan(children.RCurly)]);
    return span ? { kind: 'ProtoList', items, span } : undefined;
  }

  // ---- Addresses -------------------------------------------------------------------------

  /** Folds `a except b except c` to the left: `(a except b) except c`. */
  addrExpr(children: AddrExprCstChildren, _node: AddrExprCstNode): AddrExpr | undefined {
    const baseNode = children.base?.[0];
    let expr = baseNode ? this.addrTerm(baseNode.children, baseNode) : undefined;
    for (const excludedNode of children.excluded ?? []) {
      const excluded = this.addrTerm(excludedNode.children, excludedNode);
      if (!expr || !excluded) return undefined;
      expr = { kind: 'AddrExcept', base: expr, excluded, span: joinSpans(expr.span, excluded.span) };
    }
    return expr;
  }

  addrTerm(children: AddrTermCstChildren, _node: AddrTermCstNode): AddrExpr | undefined {
    const literal = firstReal(children.Ipv4) ?? firstReal(children.Ipv6);
    if (literal) return { kind: 'AddrLiteral', text: literal.image, span: this.tokenSpan(literal) };
    const any = firstReal(children.Any) ?? firstReal(children.Any4) ?? firstReal(children.Any6);
    if (any) return { kind: 'AnyAddr', which: any.image as 'any' | 'any4' | 'any6', span: this.tokenSpan(any) };
    const name = firstReal(children.Name);
    if (name) return { kind: 'SetRef', name: name.image, span: this.tokenSpan(name) };
    const list = children.addrList?.[0];
    return list ? this.addrList(list.children) : undefined;
  }

  addrList(children: AddrListCstChildren): AddrExpr | undefined {
    const items: AddrExpr[] = [];
    for (const n of children.addrExpr ?? []) {
      const item = this.addrExpr(n.children, n);
      if (item) items.push(item);
    }
    const span = this.cover([this.realSpan(children.LCurly), items.at(-1)?.span, this.realSpan(children.RCurly)]);
    return span ? { kind: 'AddrList', items, span } : undefined;
  }

  // ---- Ports -----------------------------------------------------------------------------

  portExpr(children: PortExprCstChildren, _node: PortExprCstNode): PortExpr | undefined {
    const number = firstReal(children.Number);
    if (number) return { kind: 'PortNumber', value: Number(number.image), span: this.tokenSpan(number) };
    const range = firstReal(children.PortRange);
    if (range) return this.portRange(range);
    const name = firstReal(children.Name);
    if (name) return { kind: 'PortsRef', name: name.image, span: this.tokenSpan(name) };
    const list = children.portList?.[0];
    return list ? this.portList(list.children) : undefined;
  }

  /** `N-M` is one token; its two numbers get their own spans. */
  private portRange(token: IToken): PortExpr {
    const dash = token.image.indexOf('-');
    const start = token.startOffset;
    const at = (from: number, to: number): Span => ({ file: this.source.path, start: start + from, end: start + to });
    return {
      kind: 'PortRange',
      low: { value: Number(token.image.slice(0, dash)), span: at(0, dash) },
      high: { value: Number(token.image.slice(dash + 1)), span: at(dash + 1, token.image.length) },
      span: this.tokenSpan(token),
    };
  }

  portList(children: PortListCstChildren): PortExpr | undefined {
    const items: PortExpr[] = [];
    for (const n of children.portExpr ?? []) {
      const item = this.portExpr(n.children, n);
      if (item) items.push(item);
    }
    const span = this.cover([this.realSpan(children.LCurly), items.at(-1)?.span, this.realSpan(children.RCurly)]);
    return span ? { kind: 'PortList', items, span } : undefined;
  }

  icmpMatch(children: IcmpMatchCstChildren): IcmpAst | undefined {
    const type = this.numberLit(firstReal(children.type)) ?? this.name(firstReal(children.typeName));
    if (!type) return undefined;
    const code = this.numberLit(firstReal(children.code));
    const span = this.cover([this.realSpan(children.Icmp), type.span, code?.span])!;
    return code ? { type, code, span } : { type, span };
  }

  /** The date's span, or the word's when the date is missing (the rule is then recovered). */
  expiry(children: ExpiryCstChildren): { text: string; span: Span } | undefined {
    const date = firstReal(children.Date);
    return date ? { text: date.image, span: this.tokenSpan(date) } : undefined;
  }

  // ---- Packet tests ----------------------------------------------------------------------

  /** A test without its title is kept (recovered), so its expectations are still checked. */
  testDecl(children: TestDeclCstChildren, node: TestDeclCstNode, broken: boolean): TestDecl | undefined {
    const word = firstReal(children.WordTest);
    if (!word) return undefined;
    const titleToken = firstReal(children.title);
    const expectations: ExpectationAst[] = [];
    for (const line of children.expectLine ?? []) {
      const e = this.expectLine(line.children);
      if (e) expectations.push(e);
    }
    const wordSpan = this.tokenSpan(word);
    const span = this.cover([wordSpan, titleToken && this.tokenSpan(titleToken), this.realSpan(children.LCurly), expectations.at(-1)?.span, this.realSpan(children.RCurly)])!;
    const decl: TestDecl = {
      kind: 'Test',
      title: titleToken ? unquoteString(titleToken.image) : '',
      titleSpan: titleToken ? this.tokenSpan(titleToken) : wordSpan,
      expectations,
      span,
    };
    const headerBroken = broken || node.recoveredNode === true || !titleToken || !isReal(children.LCurly?.[0]);
    return headerBroken ? { ...decl, recovered: true } : decl;
  }

  expectLine(children: ExpectLineCstChildren): ExpectationAst | undefined {
    const node = children.expectation?.[0];
    return node ? this.expectation(node.children, node, hasExtraTokens(children.lineEnd)) : undefined;
  }

  expectation(children: ExpectationCstChildren, node: ExpectationCstNode, extraTokens: boolean): ExpectationAst | undefined {
    const word = firstReal(children.WordExpect);
    const packetNode = children.packetSpec?.[0];
    const packet = packetNode && this.packetSpec(packetNode.children);
    const expected = this.expectedOutcome(children);
    if (!word || !packet || !expected) return undefined;
    const directionToken = firstReal(children.Ingress) ?? firstReal(children.Egress);
    const direction = directionToken ? { direction: directionToken.image === 'egress' ? ('egress' as const) : ('ingress' as const), span: this.tokenSpan(directionToken) } : undefined;
    const span = this.cover([this.tokenSpan(word), expected.span, packet.span, direction?.span])!;
    const e: ExpectationAst = { kind: 'Expect', expected, packet, ...(direction ? { direction } : {}), span };
    return extraTokens || this.isRecovered(node) ? { ...e, recovered: true } : e;
  }

  private expectedOutcome(children: ExpectationCstChildren): ExpectedOutcome | undefined {
    const allow = firstReal(children.Allow);
    if (allow) return { kind: 'verdict', verdict: 'allow', span: this.tokenSpan(allow) };
    const deny = firstReal(children.Deny);
    if (deny) return { kind: 'verdict', verdict: 'deny', span: this.tokenSpan(deny) };
    const dflt = firstReal(children.Default);
    if (dflt) return { kind: 'default', span: this.tokenSpan(dflt) };
    const word = firstReal(children.WordRule);
    const refNode = children.ruleRef?.[0];
    const rule = refNode && this.ruleRef(refNode.children);
    if (!word || !rule) return undefined;
    return { kind: 'rule', rule, span: joinSpans(this.tokenSpan(word), rule.span) };
  }

  ruleRef(children: RuleRefCstChildren): Name | undefined {
    const name = firstReal(children.Name);
    if (name) return this.name(name);
    const direction = firstReal(children.Ingress) ?? firstReal(children.Egress);
    const priority = firstReal(children.Number);
    if (!direction || !priority) return undefined;
    return { name: `${direction.image}/${priority.image}`, span: this.joinTokens([direction, priority])! };
  }

  /**
   * The packet's text in canonical spacing: its tokens one space apart, a `:` and its port
   * joined to the address (`10.0.0.1:40000`). `fmt` prints this text, so it is what the AST
   * keeps; `lowerTests` reads it with the packet parser of `explain --packet`.
   */
  packetSpec(children: PacketSpecCstChildren): { text: string; span: Span } | undefined {
    const tokens = (children.LineToken ?? []).filter(isReal);
    const span = this.joinTokens(tokens);
    if (!span) return undefined;
    let text = '';
    tokens.forEach((t, i) => {
      const tight = t.tokenType === Colon || tokens[i - 1]?.tokenType === Colon;
      text += (i === 0 || tight ? '' : ' ') + t.image;
    });
    return { text, span };
  }

  // ---- Error productions: nothing to build -----------------------------------------------

  strayLine(_children: StrayLineCstChildren): undefined {
    return undefined;
  }

  lineEnd(_children: LineEndCstChildren): undefined {
    return undefined;
  }
}
