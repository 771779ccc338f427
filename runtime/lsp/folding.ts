// Folding ranges: policy and test blocks, set and port-set declarations broken over lines, and
// runs of own-line comments.
import { FoldingRangeKind, type FoldingRange } from 'vscode-languageserver';
import type { FileAst } from '../../compiler/ast.ts';
import { positionOf, type SourceFile } from '../../compiler/source.ts';

export function foldingRanges(ast: FileAst, file: SourceFile): FoldingRange[] {
  const out: FoldingRange[] = [];
  const lineOf = (offset: number) => positionOf(file, offset).line - 1;
  for (const d of ast.declarations) {
    if (d.kind === 'Include') continue;
    const start = lineOf(d.span.start);
    // The closing `}` stays visible, as editors fold code blocks.
    const end = lineOf(d.span.end) - 1;
    if (end > start) out.push({ startLine: start, endLine: end, kind: FoldingRangeKind.Region });
  }
  let run: { start: number; end: number } | undefined;
  for (const c of ast.comments) {
    const line = lineOf(c.span.start);
    const ownLine = file.text.slice(file.lineStarts[line] ?? 0, c.span.start).trim() === '';
    if (!ownLine) continue;
    if (run && line === run.end + 1) run.end = line;
    else {
      if (run && run.end > run.start) out.push({ startLine: run.start, endLine: run.end, kind: FoldingRangeKind.Comment });
      run = { start: line, end: line };
    }
  }
  if (run && run.end > run.start) out.push({ startLine: run.start, endLine: run.end, kind: FoldingRangeKind.Comment });
  return out;
}
