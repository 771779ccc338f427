// Reporter: diagnostics as a SARIF 2.1.0 log (`check --format sarif`), the subset GitHub code
// scanning reads. Takes sorted diagnostics, their sources and where the tool and its docs
// live; returns the text. One rule per code used; each result points at its span and lists
// its related spans (and a witness packet in its properties).
import type * as Sarif from 'sarif';
import { DIAGNOSTICS, type Diagnostic, type DiagnosticCode, type Severity } from '../diagnostics.ts';
import { normalizePosixPath } from '../source.ts';
import { locate, type ReportSources } from './location.ts';
import { codeName, diagnosticTitle } from './titles.ts';
import { formatWitness } from './human.ts';

export const SARIF_SCHEMA = 'https://json.schemastore.org/sarif-2.1.0.json';

/** The base id artifact uris are relative to (the folder segc ran in, usually the repository). */
export const SRCROOT = '%SRCROOT%';

export interface SarifOptions {
  readonly toolVersion: string;
  /** The tool's home page. */
  readonly informationUri: string;
  /** docs/diagnostics.md as an absolute URI; a code's help is `${docsUri}#seg3003`. */
  readonly docsUri: string;
  /** The absolute POSIX folder relative paths are relative to (the cwd of the run). */
  readonly baseDir: string;
}

export function toSarifLog(diagnostics: readonly Diagnostic[], sources: ReportSources, options: SarifOptions): Sarif.Log {
  const codes = [...new Set(diagnostics.map((d) => d.code))].sort();
  const ruleIndex = new Map(codes.map((code, i) => [code, i]));
  const base = options.baseDir.endsWith('/') ? options.baseDir : options.baseDir + '/';
  return {
    $schema: SARIF_SCHEMA,
    version: '2.1.0',
    runs: [
      {
        tool: {
          driver: {
            name: 'segc',
            informationUri: options.informationUri,
            version: options.toolVersion,
            semanticVersion: options.toolVersion,
            rules: codes.map((code) => toSarifRule(code, options)),
          },
        },
        originalUriBaseIds: { [SRCROOT]: { uri: fileUri(base) } },
        columnKind: 'utf16CodeUnits',
        results: diagnostics.map((d) => toSarifResult(d, ruleIndex.get(d.code) ?? 0, sources, base)),
      },
    ],
  };
}

/** The log as text: two-space indented, ending with a newline. */
export function formatSarif(diagnostics: readonly Diagnostic[], sources: ReportSources, options: SarifOptions): string {
  return JSON.stringify(toSarifLog(diagnostics, sources, options), null, 2) + '\n';
}

export function sarifLevel(severity: Severity): Sarif.Result.level {
  return severity === 'error' ? 'error' : severity === 'warning' ? 'warning' : 'note';
}

function toSarifRule(code: DiagnosticCode, options: SarifOptions): Sarif.ReportingDescriptor {
  const def = DIAGNOSTICS[code];
  const title = diagnosticTitle(code);
  const helpUri = `${options.docsUri}#${code.toLowerCase()}`;
  return {
    id: code,
    name: codeName(code),
    shortDescription: { text: title },
    fullDescription: { text: `${title} (${def.severity}, category ${def.category}).` },
    helpUri,
    help: { text: `${code}: ${title}. See ${helpUri}`, markdown: `[${code}: ${title}](${helpUri})` },
    defaultConfiguration: { level: sarifLevel(def.severity) },
    properties: { tags: [def.category] },
  };
}

function toSarifResult(d: Diagnostic, ruleIndex: number, sources: ReportSources, base: string): Sarif.Result {
  const result: Sarif.Result = {
    ruleId: d.code,
    ruleIndex,
    level: sarifLevel(d.severity),
    message: { text: d.hint === undefined ? d.message : `${d.message} (hint: ${d.hint})` },
    locations: [toSarifLocation(d.span, sources, base)],
  };
  if (d.related.length > 0) {
    result.relatedLocations = d.related.map((r, i) => ({ id: i, ...toSarifLocation(r.span, sources, base), message: { text: r.message } }));
  }
  if (d.witness !== undefined) result.properties = { witness: d.witness, witnessText: formatWitness(d.witness) };
  return result;
}

function toSarifLocation(span: Diagnostic['span'], sources: ReportSources, base: string): Sarif.Location {
  const at = locate(span, sources);
  return {
    physicalLocation: {
      artifactLocation: artifactOf(at.file, base),
      region: { startLine: at.line, startColumn: at.column, endLine: at.endLine, endColumn: at.endColumn },
    },
  };
}

/** A path under the base becomes a relative uri against %SRCROOT%; any other, a file:// uri. */
function artifactOf(path: string, base: string): Sarif.ArtifactLocation {
  const absolute = path.startsWith('/') ? normalizePosixPath(path) : undefined;
  if (absolute === undefined) {
    const rel = normalizePosixPath(path);
    if (!rel.startsWith('../') && rel !== '..') return { uri: encodePath(rel), uriBaseId: SRCROOT };
    return { uri: fileUri(normalizePosixPath(base + rel)) };
  }
  if (absolute.startsWith(base)) return { uri: encodePath(absolute.slice(base.length)), uriBaseId: SRCROOT };
  return { uri: fileUri(absolute) };
}

function encodePath(path: string): string {
  return path.split('/').map(encodeURIComponent).join('/');
}

function fileUri(absolutePath: string): string {
  return 'file://' + encodePath(absolutePath);
}
