// Stage 1d: from the CST to the AST of ast.ts. Takes one file's CST and comments; gives its
// FileAst (spans on every node, recovered statements marked). Also `parseSourceFile`, the
// whole front end of one file: tokenize, parse, buildAst.
import type { CstNode, IToken } from 'chevrotain';
import type {
  ActionAst,
  AddrExpr,
  Comment,
  Declaration,
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
  PortsDeclCstChildren,
  ProtoExprCstChildren,
  ProtoExprCstNode,
  ProtoListCstChildren,
  RuleCstChildren,
  RuleCstNode,
  RuleLineCstChildren,
  SetDeclCstChildren,
  StrayLineCstChildren,
} from './cst.d.ts';
import type { DiagnosticCollector } from './diagnostics.ts';
import { tokenize, isTerminatedString } from './lexer.ts';
import { parse, parser } from './parser.ts';
import { joinSpans, type SourceFile, type Span } from './source.ts';

/** The whole front end of one file: its AST, with every syntax error in `diagnostics`. */
export function parseSourceFile(file: SourceFile, diagnostics: DiagnosticCollector): FileAst {
  const { tokens, comments } = tokenize(file, diagnostics);
  const cst = parse(file, tokens, diagnostics);
  return buildAst(file, cst, comments);
}

export function buildAst(file: SourceFile, cst: FileCstNode, comments: readonly IToken[]): FileAst {
  return new AstBuilder(file).build(cst, comments);
}

/** A token recovery made up (it has no place in the text): treated as absent. */
function isReal(token: IToken | undefined): token is IToken {
  return token !== undefined && token.isInsertedInRecovery !== true && token.startOffset >= 0;
}

function firstReal(tokens: readonly IToken[] | undefined): IToken | undefined {
  return tokens?.find(isReal);
}

/** Whether the parser recovered anywhere inside the node (so parts may be missing or made up). */
function isRecovered(node: CstNode): boolean {
  if (node.recoveredNode === true) return true;
  for (const list of Object.values(node.children)) {
    for (const child of list) {
      if ('children' in child ? isRecovered(child) : !isReal(child)) return true;
    }
  }
  return false;
}

/** Whether a statement's line held tokens the statement did not take. */
function hasExtraTokens(lineEnd: readonly LineEndCstNode[] | undefined): boolean {
  return (lineEnd?.[0]?.children.LineToken?.length ?? 0) > 0;
}

/** The value of a string token: quotes removed, `\"` and `\\` resolved, bad escapes kept. */
export function unquoteString(image: string): string {
  const body = image.slice(1, isTerminatedString(image) ? -1 : undefined);
  return body.replace(/\\(["\\])/g, '$1');
}

const PROTOCOL_KEYWORDS: Readonly<Record<string, ProtoKeyword>> = {
  Tcp: 'tcp',
  Udp: 'udp',
  Sctp: 'sctp',
  Icmp: 'icmp',
  Icmpv6: 'icmpv6',
  Any: 'any',
};

const BaseVisitor = parser.getBaseCstVisitorConstructor();

/**
 * One method per grammar rule (validateVisitor checks that at construction). The methods are
 * called directly with the node's children and the node, so each returns its own AST type.
 * Every child may be absent in a recovered node.
 */
class AstBuilder extends BaseVisitor {
  private readonly source: SourceFile;

  constructor(file: SourceFile) {
    super();
    this.source = file;
    this.validateVisitor();
  }

  build(cst: FileCstNode, comments: readonly IToken[]): FileAst {
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

  /** From the first to the last real token under the node; undefined when it has none. */
  private nodeSpan(node: CstNode): Span | undefined {
    let start = Infinity;
    let end = -Infinity;
    const walk = (n: CstNode): void => {
      for (const list of Object.values(n.children)) {
        for (const child of list) {
          if ('children' in child) walk(child);
          else if (isReal(child)) {
            start = Math.min(start, child.startOffset);
            end = Math.max(end, child.startOffset + child.image.length);
          }
        }
      }
    };
    walk(node);
    return start === Infinity ? undefined : { file: this.source.path, start, end };
  }

  private joinTokens(tokens: readonly (IToken | undefined)[]): Span | undefined {
    const real = tokens.filter(isReal);
    if (real.length === 0) return undefined;
    const start = Math.min(...real.map((t) => t.startOffset));
    const end = Math.max(...real.map((t) => t.startOffset + t.image.length));
    return { file: this.source.path, start, end };
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
    if (include) return this.includeDecl(include.children, broken || isRecovered(include));
    const set = children.setDecl?.[0];
    if (set) return this.setDecl(set.children, broken || isRecovered(set));
    const ports = children.portsDecl?.[0];
    if (ports) return this.portsDecl(ports.children, broken || isRecovered(ports));
    const policy = children.policyDecl?.[0];
    if (policy) return this.policyDecl(policy.children, policy);
    return undefined;
  }

  includeDecl(children: IncludeDeclCstChildren, recovered: boolean): IncludeDecl | undefined {
    const path = firstReal(children.path);
    const span = this.joinTokens([firstReal(children.Include), path]);
    if (!path || !span) return undefined;
    return { kind: 'Include', path: unquoteString(path.image), pathSpan: this.tokenSpan(path), span, ...(recovered ? { recovered } : {}) };
  }

  setDecl(children: SetDeclCstChildren, recovered: boolean): SetDecl | undefined {
    const name = this.name(firstReal(children.Name));
    if (!name) return undefined;
    const valueNode = children.addrExpr?.[0];
    const value = valueNode ? this.addrExpr(valueNode.children, valueNode) : undefined;
    const span = this.joinTokens([firstReal(children.Set), firstReal(children.Name), firstReal(children.Equals)])!;
    return {
      kind: 'SetDecl',
      name,
      ...(value ? { value } : {}),
      span: value ? joinSpans(span, value.span) : span,
      ...(recovered || !value ? { recovered: true as const } : {}),
    };
  }

  portsDecl(children: PortsDeclCstChildren, recovered: boolean): PortsDecl | undefined {
    const name = this.name(firstReal(children.Name));
    if (!name) return undefined;
    const valueNode = children.portExpr?.[0];
    const value = valueNode ? this.portExpr(valueNode.children, valueNode) : undefined;
    const span = this.joinTokens([firstReal(children.Ports), firstReal(children.Name), firstReal(children.Equals)])!;
    return {
      kind: 'PortsDecl',
      name,
      ...(value ? { value } : {}),
      span: value ? joinSpans(span, value.span) : span,
      ...(recovered || !value ? { recovered: true as const } : {}),
    };
  }

  policyDecl(children: PolicyDeclCstChildren, node: PolicyDeclCstNode): PolicyDecl | undefined {
    const directionToken = firstReal(children.Ingress) ?? firstReal(children.Egress);
    if (!directionToken) return undefined;
    const defaultToken = firstReal(children.Default);
    const verdictToken = firstReal(children.Allow) ?? firstReal(children.Deny);
    const rules: RuleAst[] = [];
    for (const line of children.ruleLine ?? []) {
      const rule = this.ruleLine(line.children);
      if (rule) rules.push(rule);
    }
    const headerBroken =
      node.recoveredNode === true || (defaultToken !== undefined && verdictToken === undefined) || !isReal(children.LCurly?.[0]);
    return {
      kind: 'Policy',
      direction: directionToken.image === 'ingress' ? 'ingress' : 'egress',
      directionSpan: this.tokenSpan(directionToken),
      ...(defaultToken && verdictToken
        ? { defaultAction: { verdict: verdictToken.image === 'allow' ? 'allow' : 'deny', span: this.joinTokens([defaultToken, verdictToken])! } }
        : {}),
      rules,
      span: this.nodeSpan(node)!,
      ...(headerBroken ? { recovered: true as const } : {}),
    };
  }

  ruleLine(children: RuleLineCstChildren): RuleAst | undefined {
    const node = children.rule?.[0];
    return node ? this.rule(node.children, node, hasExtraTokens(children.lineEnd)) : undefined;
  }

  // ---- Rules -----------------------------------------------------------------------------

  rule(children: RuleCstChildren, node: RuleCstNode, extraTokens: boolean): RuleAst | undefined {
    const priority = this.numberLit(firstReal(children.priority));
    const span = this.nodeSpan(node);
    if (!priority || !span) return undefined;
    const name = this.name(firstReal(children.name));
    const actionNode = children.action?.[0];
    const action = actionNode ? this.action(actionNode.children) : undefined;
    const protocol = this.optional(children.protoExpr?.[0], (n) => this.protoExpr(n.children, n));
    const src = this.optional(children.src?.[0], (n) => this.addrExpr(n.children, n));
    const srcPorts = this.optional(children.srcPorts?.[0], (n) => this.portExpr(n.children, n));
    const dst = this.optional(children.dst?.[0], (n) => this.addrExpr(n.children, n));
    const dstPorts = this.optional(children.dstPorts?.[0], (n) => this.portExpr(n.children, n));
    const icmpNode = children.icmpMatch?.[0];
    const icmp = icmpNode ? this.icmpMatch(icmpNode.children) : undefined;
    const descriptionToken = firstReal(children.description);
    const recovered = extraTokens || isRecovered(node);
    return {
      kind: 'Rule',
      priority,
      ...(name ? { name } : {}),
      ...(action ? { action } : {}),
      ...(protocol ? { protocol } : {}),
      ...(src ? { src } : {}),
      ...(srcPorts ? { srcPorts } : {}),
      ...(dst ? { dst } : {}),
      ...(dstPorts ? { dstPorts } : {}),
      ...(icmp ? { icmp } : {}),
      ...(descriptionToken ? { description: { value: unquoteString(descriptionToken.image), span: this.tokenSpan(descriptionToken) } } : {}),
      span,
      ...(recovered ? { recovered: true as const } : {}),
    };
  }

  private optional<N, T>(node: N | undefined, build: (node: N) => T | undefined): T | undefined {
    return node === undefined ? undefined : build(node);
  }

  action(children: ActionCstChildren): ActionAst | undefined {
    const allow = firstReal(children.Allow);
    const deny = firstReal(children.Deny);
    const log = firstReal(children.Log);
    const span = this.joinTokens([allow, deny, log]);
    if (!span) return undefined;
    if (allow) return { verdict: 'allow', log: log !== undefined, text: log ? 'allow log' : 'allow', span };
    if (deny) return { verdict: 'deny', log: log !== undefined, text: log ? 'deny log' : 'deny', span };
    return { verdict: 'allow', log: true, text: 'log', span };
  }

  protoExpr(children: ProtoExprCstChildren, node: ProtoExprCstNode): ProtoExpr | undefined {
    const list = children.protoList?.[0];
    if (list) return this.protoList(list.children, this.nodeSpan(list));
    const number = firstReal(children.Number);
    if (number) return { kind: 'ProtoNumber', value: Number(number.image), span: this.tokenSpan(number) };
    const span = this.nodeSpan(node);
    for (const [tokenName, keyword] of Object.entries(PROTOCOL_KEYWORDS)) {
      if (span && firstReal((children as Record<string, IToken[] | undefined>)[tokenName])) return { kind: 'ProtoName', name: keyword, span };
    }
    return undefined;
  }

  protoList(children: ProtoListCstChildren, span: Span | undefined): ProtoExpr | undefined {
    if (!span) return undefined;
    const items = (children.protoExpr ?? []).map((n) => this.protoExpr(n.children, n)).filter((x) => x !== undefined);
    return { kind: 'ProtoList', items, span };
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
    return list ? this.addrList(list.children, this.nodeSpan(list)) : undefined;
  }

  addrList(children: AddrListCstChildren, span: Span | undefined): AddrExpr | undefined {
    if (!span) return undefined;
    const items = (children.addrExpr ?? []).map((n) => this.addrExpr(n.children, n)).filter((x) => x !== undefined);
    return { kind: 'AddrList', items, span };
  }

  // ---- Ports -----------------------------------------------------------------------------

  portExpr(children: PortExprCstChildren, _node: PortExprCstNode): PortExpr | undefined {
    const number = firstReal(children.Number);
    if (number) return { kind: 'PortNumber', value: Number(number.image), span: this.tokenSpan(number) };
    const range = firstReal(children.PortRange);
    if (range) {
      const dash = range.image.indexOf('-');
      const start = range.startOffset;
      const at = (from: number, to: number): Span => ({ file: this.source.path, start: start + from, end: start + to });
      return {
        kind: 'PortRange',
        low: { value: Number(range.image.slice(0, dash)), span: at(0, dash) },
        high: { value: Number(range.image.slice(dash + 1)), span: at(dash + 1, range.image.length) },
        span: this.tokenSpan(range),
      };
    }
    const name = firstReal(children.Name);
    if (name) return { kind: 'PortsRef', name: name.image, span: this.tokenSpan(name) };
    const list = children.portList?.[0];
    return list ? this.portList(list.children, this.nodeSpan(list)) : undefined;
  }

  portList(children: PortListCstChildren, span: Span | undefined): PortExpr | undefined {
    if (!span) return undefined;
    const items = (children.portExpr ?? []).map((n) => this.portExpr(n.children, n)).filter((x) => x !== undefined);
    return { kind: 'PortList', items, span };
  }

  icmpMatch(children: IcmpMatchCstChildren): IcmpAst | undefined {
    const type = this.numberLit(firstReal(children.type)) ?? this.name(firstReal(children.typeName));
    if (!type) return undefined;
    const code = this.numberLit(firstReal(children.code));
    const span = this.joinTokens([firstReal(children.Icmp), firstReal(children.type), firstReal(children.typeName), firstReal(children.code)])!;
    return { type, ...(code ? { code } : {}), span };
  }

  // ---- Error productions: nothing to build -----------------------------------------------

  strayLine(_children: StrayLineCstChildren): undefined {
    return undefined;
  }

  lineEnd(_children: LineEndCstChildren): undefined {
    return undefined;
  }
}
