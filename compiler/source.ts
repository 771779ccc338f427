// Stage 0: source files, spans and the compiler host. Takes file texts; gives spans and,
// on demand, 1-based line:column positions (only reporters print those).

/** A half-open range of UTF-16 offsets [start, end) in one file. Every AST node has one. */
export interface Span {
  readonly file: string;
  readonly start: number;
  readonly end: number;
}

/** A 1-based line and column (columns count UTF-16 code units, as editors do). */
export interface Position {
  readonly line: number;
  readonly column: number;
}

export interface SourceFile {
  /** The path as the user gave it, or as resolved from an include. */
  readonly path: string;
  readonly text: string;
  /** Offsets at which each line starts; lineStarts[0] is 0. */
  readonly lineStarts: readonly number[];
}

/**
 * How the compiler reaches files. The compiler never touches the disk itself: the CLI passes a
 * host over the file system, tests pass an in-memory one.
 */
export interface CompilerHost {
  /** The file's text, or undefined when there is no such file. */
  readFile(path: string): string | undefined;
  /**
   * The file's text read with care (only a regular file, at most `maxBytes`, UTF-8), or why
   * not. Hosts over a real file system provide it (a device or FIFO must never be opened for a
   * blocking read); without it, `readFile` is used and only the size is checked.
   */
  readSource?(path: string, maxBytes: number): SourceRead;
  /** The path an `include "spec"` inside `fromFile` names (relative to that file's folder). */
  resolveInclude(fromFile: string, spec: string): string;
}

/** What reading one file gave: its text, nothing there, or a refusal that never quotes the content. */
export type SourceRead =
  | { readonly kind: 'text'; readonly text: string }
  | { readonly kind: 'missing' }
  | { readonly kind: 'refused'; readonly reason: string; readonly hint: string };

export interface InputLimits {
  /** Bytes one file may hold (`--max-include-size`). */
  readonly maxFileBytes: number;
  /** Bytes every file of the compilation may hold together. */
  readonly maxTotalBytes: number;
  /** Includes nested deeper than this are refused (`--max-include-depth`). */
  readonly maxIncludeDepth: number;
}

/** 16 MiB a file (the largest ClassBench policy is under 3 MiB), 64 MiB in all, 32 levels. */
export const DEFAULT_INPUT_LIMITS: InputLimits = { maxFileBytes: 16 << 20, maxTotalBytes: 64 << 20, maxIncludeDepth: 32 };

/** The whole compile's time budget by default: a minute (the rule analysis alone has ten seconds). */
export const DEFAULT_COMPILE_BUDGET_MS = 60_000;

/**
 * The whole compile's memory budget by default: 2 GiB more than was in use when it began (a
 * 100k-rule check takes under 500 MB). Hosts may lower it to stay under their own ceiling.
 */
export const DEFAULT_COMPILE_MEMORY_BYTES = 2 * 1024 ** 3;

/** The refusal of a file over the size limit (hosts use it too, so that the words are one). */
export function tooLarge(size: number, maxBytes: number): SourceRead {
  return { kind: 'refused', reason: `it holds ${size} bytes, more than the ${maxBytes} a policy file may`, hint: 'raise --max-include-size if the file really is a policy' };
}

export function createSourceFile(path: string, text: string): SourceFile {
  const lineStarts = [0];
  // Without a carriage return, lines end at each `\n` alone, found by indexOf (much faster on a
  // large file than a loop over characters; the language server does this on every keystroke).
  if (!text.includes('\r')) {
    for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) lineStarts.push(i + 1);
    return { path, text, lineStarts };
  }
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 10) lineStarts.push(i + 1);
    else if (c === 13 && text.charCodeAt(i + 1) !== 10) lineStarts.push(i + 1);
  }
  return { path, text, lineStarts };
}

/** The 1-based line and column of an offset (clamped to the file). */
export function positionOf(file: SourceFile, offset: number): Position {
  const at = Math.max(0, Math.min(offset, file.text.length));
  let lo = 0;
  let hi = file.lineStarts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if ((file.lineStarts[mid] ?? 0) <= at) lo = mid;
    else hi = mid - 1;
  }
  return { line: lo + 1, column: at - (file.lineStarts[lo] ?? 0) + 1 };
}

/** The text of a 1-based line, without its line break. */
export function lineText(file: SourceFile, line: number): string {
  const start = file.lineStarts[line - 1];
  if (start === undefined) return '';
  const next = file.lineStarts[line];
  const end = next === undefined ? file.text.length : next;
  return file.text.slice(start, end).replace(/\r?\n$|\r$/, '');
}

export function spanText(file: SourceFile, span: Span): string {
  return file.text.slice(span.start, span.end);
}

/** The smallest span that holds both (same file). */
export function joinSpans(a: Span, b: Span): Span {
  return { file: a.file, start: Math.min(a.start, b.start), end: Math.max(a.end, b.end) };
}

/** An in-memory host for tests and tools: paths are POSIX, includes resolve against the folder. */
export function createMemoryHost(files: Readonly<Record<string, string>>): CompilerHost {
  return {
    readFile: (path) => files[normalizePosixPath(path)],
    resolveInclude: (fromFile, spec) => resolvePosixInclude(fromFile, spec),
  };
}

/** `spec` relative to the folder of `fromFile`, normalised; absolute specs stay as they are. */
export function resolvePosixInclude(fromFile: string, spec: string): string {
  if (spec.startsWith('/')) return normalizePosixPath(spec);
  const slash = fromFile.lastIndexOf('/');
  const dir = slash < 0 ? '' : fromFile.slice(0, slash + 1);
  return normalizePosixPath(dir + spec);
}

export function normalizePosixPath(path: string): string {
  const absolute = path.startsWith('/');
  const out: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..' && out.length > 0 && out[out.length - 1] !== '..') out.pop();
    else if (part === '..' && absolute) continue;
    else out.push(part);
  }
  const joined = out.join('/');
  return absolute ? '/' + joined : joined === '' ? '.' : joined;
}
