// Where a span lies, in the 1-based line:column terms every reporter prints. Columns count
// UTF-16 code units; the end is exclusive (the column just after the last character), as in
// SARIF regions and editors' selections.
import { positionOf, type SourceFile, type Span } from '../source.ts';

export interface Location {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  readonly endLine: number;
  readonly endColumn: number;
}

/** The sources a report needs, by path (a `Compilation`'s `sources`). */
export type ReportSources = ReadonlyMap<string, SourceFile>;

export function locate(span: Span, sources: ReportSources): Location {
  const file = sources.get(span.file);
  // A span into a file the report was not given (should not happen): point at its start.
  if (!file) return { file: span.file, line: 1, column: 1, endLine: 1, endColumn: 1 };
  const start = positionOf(file, span.start);
  const end = positionOf(file, Math.max(span.start, span.end));
  return { file: span.file, line: start.line, column: start.column, endLine: end.line, endColumn: end.column };
}

/**
 * `file:line`, the one way every JSON output names a place (`location`, beside `file` and
 * `line` where those are separate fields too).
 */
export function locationText(file: string, line: number): string {
  return `${file}:${line}`;
}

export interface SeverityCounts {
  readonly errors: number;
  readonly warnings: number;
  readonly infos: number;
}

export function countSeverities(diagnostics: readonly { readonly severity: string }[]): SeverityCounts {
  let errors = 0;
  let warnings = 0;
  let infos = 0;
  for (const d of diagnostics) {
    if (d.severity === 'error') errors++;
    else if (d.severity === 'warning') warnings++;
    else infos++;
  }
  return { errors, warnings, infos };
}
