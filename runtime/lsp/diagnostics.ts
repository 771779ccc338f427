// Diagnostics as you type: turns each snapshot's diagnostics into the protocol's (code, its
// link into docs/diagnostics.md, hint, related locations) and publishes, for every file of the
// open compilations, what they say about it. A file included by several open documents gets
// the union of what each compilation says (once each).
import { DiagnosticSeverity, DiagnosticTag, type Diagnostic as LspDiagnostic, type PublishDiagnosticsParams } from 'vscode-languageserver';
import type { Diagnostic, Severity } from '../../compiler/diagnostics.ts';
import type { SourceFile } from '../../compiler/source.ts';
import type { DocumentSnapshot } from './snapshot.ts';
import { rangeOf, uriOfPath } from './positions.ts';

/** At most this many diagnostics per file are published (a binary file gives one per byte). */
export const MAX_DIAGNOSTICS_PER_FILE = 1000;

/** What code actions read back from a published diagnostic. */
export interface DiagnosticData {
  readonly hint?: string;
}

const SEVERITY: Readonly<Record<Severity, DiagnosticSeverity>> = {
  error: DiagnosticSeverity.Error,
  warning: DiagnosticSeverity.Warning,
  info: DiagnosticSeverity.Information,
};

export function toLspDiagnostic(d: Diagnostic, sources: ReadonlyMap<string, SourceFile>, docsUri: string): LspDiagnostic | undefined {
  const file = sources.get(d.span.file);
  if (!file) return undefined;
  const related = d.related.flatMap((r) => {
    const f = sources.get(r.span.file);
    return f ? [{ location: { uri: uriOfPath(f.path), range: rangeOf(f, r.span) }, message: r.message }] : [];
  });
  const message = d.hint === undefined ? d.message : `${d.message}\nhint: ${d.hint}`;
  const data: DiagnosticData = d.hint === undefined ? {} : { hint: d.hint };
  return {
    range: rangeOf(file, d.span),
    severity: SEVERITY[d.severity],
    code: d.code,
    codeDescription: { href: `${docsUri}#${d.code.toLowerCase()}` },
    source: 'segc',
    message,
    ...(related.length > 0 ? { relatedInformation: related } : {}),
    // Unused declarations fade out, as editors show unused code.
    ...(d.code === 'SEG2101' || d.code === 'SEG2102' ? { tags: [DiagnosticTag.Unnecessary] } : {}),
    data,
  };
}

/** The diagnostics a snapshot reports now: the analysis's once it ran, else the front phase's. */
export function snapshotDiagnostics(s: DocumentSnapshot): readonly Diagnostic[] {
  if (s.failure !== undefined) {
    return [
      {
        code: 'SEG9001',
        severity: 'error',
        category: 'internal',
        message: `internal error: ${s.failure}`,
        hint: 'this is a bug in segc; please report it with the input',
        span: { file: s.root, start: 0, end: 0 },
        related: [],
      },
    ];
  }
  return s.analysis?.diagnostics ?? s.compilation.diagnostics;
}

export interface DiagnosticsPublisher {
  /** What to publish for every file the snapshot's compilation (now or before) touched. */
  publish(snapshot: DocumentSnapshot, all: readonly DocumentSnapshot[]): PublishDiagnosticsParams[];
  /** What to publish when a root is closed: its files, as the other open compilations see them. */
  forget(root: string, all: readonly DocumentSnapshot[]): PublishDiagnosticsParams[];
}

/** `versions`: the open documents' versions, by path (a publication names the one it is about). */
export function createDiagnosticsPublisher(docsUri: string, versions: ReadonlyMap<string, number>): DiagnosticsPublisher {
  // The files each root's last publication covered, so that a file dropped from it is cleared.
  const covered = new Map<string, Set<string>>();

  const publishFile = (path: string, all: readonly DocumentSnapshot[]): PublishDiagnosticsParams => {
    const seen = new Set<string>();
    const out: LspDiagnostic[] = [];
    for (const s of all) {
      const sources = s.compilation.sources;
      if (!sources.has(path) && s.root !== path) continue;
      const withRoot = sources.has(s.root) ? sources : new Map([...sources, [s.root, { path: s.root, text: '', lineStarts: [0] }]]);
      for (const d of snapshotDiagnostics(s)) {
        if (d.span.file !== path || out.length >= MAX_DIAGNOSTICS_PER_FILE) continue;
        const key = `${d.code} ${d.span.start} ${d.span.end} ${d.message}`;
        if (seen.has(key)) continue;
        seen.add(key);
        const lsp = toLspDiagnostic(d, withRoot, docsUri);
        if (lsp) out.push(lsp);
      }
    }
    const version = versions.get(path);
    return { uri: uriOfPath(path), ...(version === undefined ? {} : { version }), diagnostics: out };
  };

  return {
    publish(snapshot, all) {
      const files = new Set([snapshot.root, ...snapshot.compilation.sources.keys()]);
      const before = covered.get(snapshot.root) ?? new Set();
      covered.set(snapshot.root, files);
      return [...new Set([...files, ...before])].map((path) => publishFile(path, all));
    },
    forget(root, all) {
      const before = covered.get(root) ?? new Set([root]);
      covered.delete(root);
      return [...before].map((path) => publishFile(path, all));
    },
  };
}
