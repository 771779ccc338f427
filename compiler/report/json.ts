// Reporter: diagnostics as the JSON object of cli.md (`check --format json`). Takes sorted
// diagnostics and their sources; returns the text. `hint`, `endLine`/`endColumn` on related
// entries and `summary` are extensions the contract allows.
import type { Diagnostic, Witness } from '../diagnostics.ts';
import { countSeverities, locate, locationText, type ReportSources } from './location.ts';

export interface JsonRelated {
  /** `file:line`, as every JSON output names a place. */
  readonly location: string;
  readonly file: string;
  readonly line: number;
  readonly column: number;
  readonly endLine: number;
  readonly endColumn: number;
  readonly message: string;
}

export interface JsonDiagnostic {
  readonly code: string;
  readonly severity: 'error' | 'warning' | 'info';
  readonly category: string;
  readonly message: string;
  readonly hint?: string;
  /** `file:line`, as every JSON output names a place. */
  readonly location: string;
  /** The path as given on the command line or as resolved from an include. */
  readonly file: string;
  /** 1-based; the end column is exclusive (the column after the last character). */
  readonly line: number;
  readonly column: number;
  readonly endLine: number;
  readonly endColumn: number;
  readonly related?: readonly JsonRelated[];
  readonly witness?: Witness;
}

export interface JsonReport {
  readonly diagnostics: readonly JsonDiagnostic[];
  readonly summary: { readonly errors: number; readonly warnings: number; readonly infos: number; readonly files: number };
}

export interface JsonOptions {
  /** How many files the report covers (command line and includes). */
  readonly fileCount: number;
}

export function toJsonReport(diagnostics: readonly Diagnostic[], sources: ReportSources, options: JsonOptions): JsonReport {
  return {
    diagnostics: diagnostics.map((d) => toJsonDiagnostic(d, sources)),
    summary: { ...countSeverities(diagnostics), files: options.fileCount },
  };
}

/** The report as text: one object, two-space indented, ending with a newline. */
export function formatJson(diagnostics: readonly Diagnostic[], sources: ReportSources, options: JsonOptions): string {
  return JSON.stringify(toJsonReport(diagnostics, sources, options), null, 2) + '\n';
}

function toJsonDiagnostic(d: Diagnostic, sources: ReportSources): JsonDiagnostic {
  const at = locate(d.span, sources);
  return {
    code: d.code,
    severity: d.severity,
    category: d.category,
    message: d.message,
    ...(d.hint !== undefined ? { hint: d.hint } : {}),
    location: locationText(at.file, at.line),
    file: at.file,
    line: at.line,
    column: at.column,
    endLine: at.endLine,
    endColumn: at.endColumn,
    ...(d.related.length > 0
      ? {
          related: d.related.map((r) => {
            const rel = locate(r.span, sources);
            return { location: locationText(rel.file, rel.line), file: rel.file, line: rel.line, column: rel.column, endLine: rel.endLine, endColumn: rel.endColumn, message: r.message };
          }),
        }
      : {}),
    ...(d.witness !== undefined ? { witness: d.witness } : {}),
  };
}
