// Document symbols (the outline): includes, sets, port sets, policy blocks with their rules
// (by priority and name) and test blocks with their expectations.
import { SymbolKind, type DocumentSymbol } from 'vscode-languageserver';
import type { FileAst } from '../../compiler/ast.ts';
import type { SourceFile } from '../../compiler/source.ts';
import { rangeOf } from './positions.ts';

export function documentSymbols(ast: FileAst, file: SourceFile): DocumentSymbol[] {
  const out: DocumentSymbol[] = [];
  for (const d of ast.declarations) {
    switch (d.kind) {
      case 'Include':
        out.push({ name: `include "${d.path}"`, kind: SymbolKind.File, range: rangeOf(file, d.span), selectionRange: rangeOf(file, d.pathSpan) });
        break;
      case 'SetDecl':
      case 'PortsDecl':
        if (d.name.name === '') break;
        out.push({ name: d.name.name, detail: d.kind === 'SetDecl' ? 'set' : 'ports', kind: d.kind === 'SetDecl' ? SymbolKind.Variable : SymbolKind.Constant, range: rangeOf(file, d.span), selectionRange: rangeOf(file, d.name.span) });
        break;
      case 'Policy':
        out.push({
          name: `policy ${d.direction}`,
          detail: `default ${d.defaultAction?.verdict ?? 'deny'}, ${d.rules.length} rule${d.rules.length === 1 ? '' : 's'}`,
          kind: SymbolKind.Namespace,
          range: rangeOf(file, d.span),
          selectionRange: rangeOf(file, d.directionSpan),
          children: d.rules.map((r) => ({
            name: r.name ? `${r.priority.value} ${r.name.name}` : String(r.priority.value),
            detail: [r.action?.text, r.description?.value].filter((x) => x !== undefined).join(' '),
            kind: SymbolKind.Function,
            range: rangeOf(file, r.span),
            selectionRange: rangeOf(file, r.name?.span ?? r.priority.span),
          })),
        });
        break;
      case 'Test':
        out.push({
          name: `test "${d.title}"`,
          detail: `${d.expectations.length} expectation${d.expectations.length === 1 ? '' : 's'}`,
          kind: SymbolKind.Module,
          range: rangeOf(file, d.span),
          selectionRange: rangeOf(file, d.titleSpan),
          children: d.expectations.map((e) => ({ name: e.packet.text, detail: `expect ${e.expected.kind === 'rule' ? `rule ${e.expected.rule.name}` : e.expected.kind === 'default' ? 'default' : e.expected.verdict}`, kind: SymbolKind.Event, range: rangeOf(file, e.span), selectionRange: rangeOf(file, e.packet.span) })),
        });
        break;
    }
  }
  return out;
}
