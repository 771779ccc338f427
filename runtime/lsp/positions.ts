// Between the compiler's spans (UTF-16 offsets in a file named by its path) and the protocol's
// ranges (0-based line and UTF-16 character in a document named by its URI).
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Position, Range } from 'vscode-languageserver';
import { positionOf, type SourceFile, type Span } from '../../compiler/source.ts';

/** The compiler's path of a document: its file path, or the URI itself when it is no file. */
export function pathOfUri(uri: string): string {
  if (!uri.startsWith('file:')) return uri;
  try {
    return fileURLToPath(uri);
  } catch {
    return uri;
  }
}

export function uriOfPath(path: string): string {
  return path.startsWith('/') ? pathToFileURL(path).href : path;
}

export function positionAt(file: SourceFile, offset: number): Position {
  const p = positionOf(file, offset);
  return { line: p.line - 1, character: p.column - 1 };
}

export function rangeOf(file: SourceFile, span: Pick<Span, 'start' | 'end'>): Range {
  return { start: positionAt(file, span.start), end: positionAt(file, span.end) };
}

/** The offset of a position, clamped to its line (a position past the line's end is its end). */
export function offsetAt(file: SourceFile, position: Position): number {
  const start = file.lineStarts[position.line];
  if (start === undefined) return file.text.length;
  const next = file.lineStarts[position.line + 1];
  let end = next === undefined ? file.text.length : next;
  while (end > start && (file.text.charCodeAt(end - 1) === 10 || file.text.charCodeAt(end - 1) === 13)) end--;
  return Math.min(start + Math.max(0, position.character), end);
}

/** Whether `inner` lies inside `outer` (same file). */
export function spanContains(outer: Span, inner: Span): boolean {
  return outer.file === inner.file && outer.start <= inner.start && inner.end <= outer.end;
}

/** Whether an offset touches a span (its end counts, so a cursor right after a name is on it). */
export function spanTouches(span: Pick<Span, 'start' | 'end'>, offset: number): boolean {
  return span.start <= offset && offset <= span.end;
}
