// Hand-built ASTs for the stages after parsing: each node's span is found by searching the
// file's text, so tests can state a policy as text and its AST next to it without a parser.
import type { AddrExpr, Declaration, FileAst, PortExpr, ProtoExpr, ProtoKeyword, RuleAst } from '../../compiler/ast.ts';
import type { Span } from '../../compiler/source.ts';

export interface TextFile {
  readonly path: string;
  readonly text: string;
  /** The span of the `nth` (0-based) occurrence of `needle` at or after `from`. */
  at(needle: string, nth?: number, from?: number): Span;
}

export function textFile(path: string, text: string): TextFile {
  return {
    path,
    text,
    at(needle, nth = 0, from = 0) {
      let i = text.indexOf(needle, from);
      for (let k = 0; k < nth && i >= 0; k++) i = text.indexOf(needle, i + 1);
      if (i < 0) throw new Error(`'${needle}' (occurrence ${nth}) is not in ${path}`);
      return { file: path, start: i, end: i + needle.length };
    },
  };
}

export function fileAst(f: TextFile, declarations: readonly Declaration[]): FileAst {
  return { kind: 'File', path: f.path, span: { file: f.path, start: 0, end: f.text.length }, declarations, comments: [] };
}

export function include(f: TextFile, path: string, nth = 0): Declaration {
  const pathSpan = f.at(`"${path}"`, nth);
  return { kind: 'Include', path, pathSpan, span: { ...pathSpan, start: pathSpan.start - 'include '.length } };
}

export function setDecl(f: TextFile, name: string, value: AddrExpr): Declaration {
  const nameSpan = f.at(`set ${name} `);
  const span = { ...nameSpan, start: nameSpan.start, end: value.span.end };
  return { kind: 'SetDecl', name: { name, span: { ...nameSpan, start: nameSpan.start + 4, end: nameSpan.start + 4 + name.length } }, value, span };
}

export function portsDecl(f: TextFile, name: string, value: PortExpr): Declaration {
  const nameSpan = f.at(`ports ${name} `);
  const span = { ...nameSpan, end: value.span.end };
  return { kind: 'PortsDecl', name: { name, span: { ...nameSpan, start: nameSpan.start + 6, end: nameSpan.start + 6 + name.length } }, value, span };
}

/** An address expression: literal, any, a set name, or a list of them (`{`-span by needle). */
export function addr(f: TextFile, text: string, nth = 0): AddrExpr {
  const span = f.at(text, nth);
  if (text === 'any' || text === 'any4' || text === 'any6') return { kind: 'AnyAddr', which: text, span };
  if (/^[0-9a-fA-F:.]+(\/[0-9]+)?$/.test(text) && /[.:]/.test(text)) return { kind: 'AddrLiteral', text, span };
  return { kind: 'SetRef', name: text, span };
}

export function addrList(span: Span, items: readonly AddrExpr[]): AddrExpr {
  return { kind: 'AddrList', items, span };
}

export function except(base: AddrExpr, excluded: AddrExpr): AddrExpr {
  return { kind: 'AddrExcept', base, excluded, span: { file: base.span.file, start: base.span.start, end: excluded.span.end } };
}

export function ports(f: TextFile, text: string, nth = 0): PortExpr {
  const span = f.at(text, nth);
  const range = /^([0-9]+)-([0-9]+)$/.exec(text);
  if (range) {
    const low = { value: Number(range[1]), span: { ...span, end: span.start + (range[1] as string).length } };
    const high = { value: Number(range[2]), span: { ...span, start: span.end - (range[2] as string).length } };
    return { kind: 'PortRange', low, high, span };
  }
  if (/^[0-9]+$/.test(text)) return { kind: 'PortNumber', value: Number(text), span };
  return { kind: 'PortsRef', name: text, span };
}

export function proto(f: TextFile, text: string, nth = 0): ProtoExpr {
  const span = f.at(text, nth);
  if (/^[0-9]+$/.test(text)) return { kind: 'ProtoNumber', value: Number(text), span };
  return { kind: 'ProtoName', name: text as ProtoKeyword, span };
}

export interface RuleParts {
  readonly name?: string;
  readonly action?: 'allow' | 'deny' | 'log' | 'allow log' | 'deny log';
  readonly protocol: ProtoExpr;
  readonly src: AddrExpr;
  readonly srcPorts?: PortExpr;
  readonly dst: AddrExpr;
  readonly dstPorts?: PortExpr;
}

/** A rule whose line starts with `priority` (searched as `\n  PRIORITY `). */
export function rule(f: TextFile, priority: number, parts: RuleParts): RuleAst {
  const start = f.at(`\n  ${priority} `).start + 3;
  const end = f.text.indexOf('\n', start);
  const span = { file: f.path, start, end: end < 0 ? f.text.length : end };
  const action = parts.action ?? 'allow';
  const actionSpan = f.at(action, 0, start);
  const out: RuleAst = {
    kind: 'Rule',
    priority: { value: priority, span: { file: f.path, start, end: start + String(priority).length } },
    action: { verdict: action.startsWith('deny') ? 'deny' : 'allow', log: action.includes('log'), audit: action.includes('audit'), text: action, span: actionSpan },
    protocol: parts.protocol,
    src: parts.src,
    dst: parts.dst,
    span,
    ...(parts.name ? { name: { name: parts.name, span: f.at(parts.name, 0, start) } } : {}),
    ...(parts.srcPorts ? { srcPorts: parts.srcPorts } : {}),
    ...(parts.dstPorts ? { dstPorts: parts.dstPorts } : {}),
  };
  return out;
}

export function policy(f: TextFile, direction: 'ingress' | 'egress', rules: readonly RuleAst[], defaultVerdict?: 'allow' | 'deny', nth = 0): Declaration {
  const directionSpan = f.at(`policy ${direction}`, nth);
  const dSpan = { ...directionSpan, start: directionSpan.start + 7 };
  return {
    kind: 'Policy',
    direction,
    directionSpan: dSpan,
    rules,
    span: { file: f.path, start: directionSpan.start, end: f.text.indexOf('}', directionSpan.start) + 1 },
    ...(defaultVerdict ? { defaultAction: { verdict: defaultVerdict, span: f.at(`default ${defaultVerdict}`, 0, directionSpan.start) } } : {}),
  };
}
