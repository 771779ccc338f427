// What the cursor is on in a file's AST: a name reference, a declaration's name, an include's
// path, an ICMP type or protocol word, a rule, a policy or test block. Takes the AST the
// compiler built (never a second parse); the features (definition, hover, rename, ...) ask it.
import type { AddrExpr, FileAst, IncludeDecl, Name, PolicyDecl, PortExpr, PortsDecl, PortsRef, ProtoExpr, ProtoName, ProtoNumber, RuleAst, SetDecl, SetRef, TestDecl } from '../../compiler/ast.ts';
import { spanTouches } from './positions.ts';

export type NodeAt =
  | { readonly kind: 'reference'; readonly ref: SetRef | PortsRef; readonly rule?: RuleAst }
  | { readonly kind: 'declaration'; readonly decl: SetDecl | PortsDecl }
  | { readonly kind: 'include'; readonly include: IncludeDecl }
  | { readonly kind: 'icmp-type'; readonly name: Name; readonly rule: RuleAst }
  | { readonly kind: 'protocol'; readonly proto: ProtoName | ProtoNumber; readonly rule: RuleAst }
  | { readonly kind: 'rule'; readonly rule: RuleAst; readonly policy: PolicyDecl }
  | { readonly kind: 'policy'; readonly policy: PolicyDecl }
  | { readonly kind: 'test'; readonly test: TestDecl };

export function findNodeAt(ast: FileAst, offset: number): NodeAt | undefined {
  for (const d of ast.declarations) {
    if (!spanTouches(d.span, offset) && !(d.kind === 'Include' && spanTouches(d.pathSpan, offset))) continue;
    switch (d.kind) {
      case 'Include':
        return { kind: 'include', include: d };
      case 'SetDecl':
      case 'PortsDecl': {
        if (spanTouches(d.name.span, offset) && d.name.name !== '') return { kind: 'declaration', decl: d };
        const ref = d.value === undefined ? undefined : d.kind === 'SetDecl' ? refInAddr(d.value as AddrExpr, offset) : refInPorts(d.value as PortExpr, offset);
        if (ref) return { kind: 'reference', ref };
        continue;
      }
      case 'Policy': {
        for (const rule of d.rules) {
          if (!spanTouches(rule.span, offset)) continue;
          const ref = refInRule(rule, offset);
          if (ref) return { kind: 'reference', ref, rule };
          if (rule.icmp && 'name' in rule.icmp.type && spanTouches(rule.icmp.type.span, offset)) return { kind: 'icmp-type', name: rule.icmp.type, rule };
          const proto = rule.protocol && protoAt(rule.protocol, offset);
          if (proto) return { kind: 'protocol', proto, rule };
          return { kind: 'rule', rule, policy: d };
        }
        return { kind: 'policy', policy: d };
      }
      case 'Test':
        return { kind: 'test', test: d };
    }
  }
  return undefined;
}

function refInRule(rule: RuleAst, offset: number): SetRef | PortsRef | undefined {
  return (
    (rule.src && refInAddr(rule.src, offset)) ??
    (rule.dst && refInAddr(rule.dst, offset)) ??
    (rule.srcPorts && refInPorts(rule.srcPorts, offset)) ??
    (rule.dstPorts && refInPorts(rule.dstPorts, offset)) ??
    undefined
  );
}

function refInAddr(e: AddrExpr, offset: number): SetRef | undefined {
  if (!spanTouches(e.span, offset)) return undefined;
  switch (e.kind) {
    case 'SetRef':
      return e;
    case 'AddrList':
      for (const item of e.items) {
        const r = refInAddr(item, offset);
        if (r) return r;
      }
      return undefined;
    case 'AddrExcept':
      return refInAddr(e.base, offset) ?? refInAddr(e.excluded, offset);
    default:
      return undefined;
  }
}

function refInPorts(e: PortExpr, offset: number): PortsRef | undefined {
  if (!spanTouches(e.span, offset)) return undefined;
  if (e.kind === 'PortsRef') return e;
  if (e.kind === 'PortList') {
    for (const item of e.items) {
      const r = refInPorts(item, offset);
      if (r) return r;
    }
  }
  return undefined;
}

function protoAt(e: ProtoExpr, offset: number): ProtoName | ProtoNumber | undefined {
  if (!spanTouches(e.span, offset)) return undefined;
  if (e.kind === 'ProtoList') {
    for (const item of e.items) {
      const p = protoAt(item, offset);
      if (p) return p;
    }
    return undefined;
  }
  return e;
}
