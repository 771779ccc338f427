// Hover: on a set or port set, its resolved value (the CIDRs or ports, summarised when long)
// and where it is declared; on a rule, its priority, action and what the analysis found about
// it; on a protocol word or an ICMP type name, what it means.
import type { Hover } from 'vscode-languageserver';
import type { RuleAst } from '../../compiler/ast.ts';
import { rangesToPrefixTexts } from '../../compiler/cidr.ts';
import { createCollector } from '../../compiler/diagnostics.ts';
import type { PortSetIr } from '../../compiler/ir.ts';
import { createLowerer } from '../../compiler/lower-values.ts';
import type { DeclSymbol } from '../../compiler/resolve.ts';
import { positionOf, type SourceFile } from '../../compiler/source.ts';
import { snapshotDiagnostics } from './diagnostics.ts';
import type { DocumentSnapshot } from './snapshot.ts';
import { findNodeAt } from './node-at.ts';
import { rangeOf, spanContains } from './positions.ts';
import { icmpTypeMeaning, PROTOCOL_MEANINGS } from './protocol-words.ts';
import { symbolAt } from './symbols.ts';

/** A value longer than this many prefixes or port ranges is summarised. */
export const HOVER_MAX_ITEMS = 12;

export function hover(snapshot: DocumentSnapshot, path: string, offset: number): Hover | undefined {
  const file = snapshot.compilation.sources.get(path);
  const ast = snapshot.compilation.asts.get(path);
  if (!file || !ast) return undefined;
  const found = symbolAt(snapshot, path, offset);
  if (found) {
    const value = found.symbol ? hoverSymbolValue(snapshot, found.symbol) : `unknown ${found.kind === 'set' ? 'address set' : 'port set'}`;
    return markdown([`**${found.kind === 'set' ? 'set' : 'ports'} ${found.name}**`, value], file, found.at);
  }
  const node = findNodeAt(ast, offset);
  switch (node?.kind) {
    case 'icmp-type': {
      const meaning = icmpTypeMeaning(node.name.name);
      return meaning === undefined ? undefined : markdown([`**icmp ${node.name.name}**`, meaning], file, node.name.span);
    }
    case 'protocol': {
      const meaning = node.proto.kind === 'ProtoName' ? PROTOCOL_MEANINGS[node.proto.name] : `IP protocol number ${node.proto.value}.`;
      return meaning === undefined ? undefined : markdown([meaning], file, node.proto.span);
    }
    case 'rule':
      return markdown(hoverRule(snapshot, node.rule, node.policy.direction), file, node.rule.span);
    default:
      return undefined;
  }
}

function markdown(lines: readonly string[], file: SourceFile, span: { start: number; end: number }): Hover {
  return { contents: { kind: 'markdown', value: lines.join('\n\n') }, range: rangeOf(file, span) };
}

/** The value of a declaration, computed with the compiler's own lowering of values. */
export function hoverSymbolValue(snapshot: DocumentSnapshot, symbol: DeclSymbol): string {
  const where = snapshot.compilation.sources.get(symbol.decl.name.span.file);
  const declared = where ? `declared in ${where.path}:${positionOf(where, symbol.decl.name.span.start).line}, used ${symbol.uses.length} time${symbol.uses.length === 1 ? '' : 's'}` : '';
  if (symbol.failed) return [`its value cannot be computed (see the errors)`, declared].filter(Boolean).join('\n\n');
  const value = createLowerer(snapshot.compilation.resolved, createCollector()).lowerSymbol(symbol);
  let text: string;
  if (value?.addr) {
    const v4 = rangesToPrefixTexts(4, value.addr.v4);
    const v6 = rangesToPrefixTexts(6, value.addr.v6);
    const all = [...v4, ...v6];
    text = all.length === 0 ? 'no address' : `${summarise(all)}\n\n(${v4.length} IPv4 and ${v6.length} IPv6 prefixes)`;
  } else if (value?.ports) {
    text = `ports ${summarise(portTexts(value.ports))}`;
  } else text = 'its value cannot be computed (see the errors)';
  return [text, declared].filter(Boolean).join('\n\n');
}

function portTexts(ports: PortSetIr): string[] {
  return ports.map(([lo, hi]) => (lo === hi ? String(lo) : `${lo}-${hi}`));
}

function summarise(items: readonly string[]): string {
  const shown = items.slice(0, HOVER_MAX_ITEMS).map((i) => `\`${i}\``).join(', ');
  return items.length > HOVER_MAX_ITEMS ? `${shown}, … and ${items.length - HOVER_MAX_ITEMS} more` : shown;
}

function hoverRule(snapshot: DocumentSnapshot, rule: RuleAst, direction: string): string[] {
  const name = rule.name ? rule.name.name : `${direction}/${rule.priority.value}`;
  const action = rule.action?.text ?? '(no action)';
  const lines = [`**rule ${name}**: ${direction}, priority ${rule.priority.value}, ${action}${rule.noSession ? ', nosession' : ''}${rule.expires ? `, expires ${rule.expires.text}` : ''}`];
  const findings = snapshotDiagnostics(snapshot).filter((d) => spanContains(rule.span, d.span));
  if (findings.length > 0) for (const d of findings) lines.push(`- ${d.code}: ${d.message}`);
  else if (snapshot.analysis) lines.push(snapshot.analysis.complete ? 'the analysis found nothing about this rule' : 'the analysis did not finish within its budget');
  else if (snapshot.compilation.ir !== undefined) lines.push('the rule analysis is running');
  return lines;
}
