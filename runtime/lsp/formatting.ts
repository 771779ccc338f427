// Formatting with `segc fmt`'s formatter (compiler/format.ts): the whole document, or the lines
// of a range (the hunks of the whole document's formatting that touch it). A file with syntax
// errors is left as it is, as `segc fmt` leaves it.
import type { Range, TextEdit } from 'vscode-languageserver';
import { formatSource } from '../../compiler/format.ts';
import { createSourceFile } from '../../compiler/source.ts';

/** Above this many lines (either side) a range formatting edits the whole changed stretch. */
const MAX_DIFF_LINES = 2000;

export function formatDocument(path: string, text: string): TextEdit[] {
  const formatted = formatSource(createSourceFile(path, text)).text;
  if (formatted === undefined || formatted === text) return [];
  const lines = text.split('\n');
  return [{ range: { start: { line: 0, character: 0 }, end: { line: lines.length - 1, character: (lines.at(-1) ?? '').length } }, newText: formatted }];
}

export function formatRange(path: string, text: string, range: Range): TextEdit[] {
  const formatted = formatSource(createSourceFile(path, text)).text;
  if (formatted === undefined || formatted === text) return [];
  return diffLines(text.split('\n'), formatted.split('\n'))
    .filter((h) => h.oldStart <= range.end.line && h.oldEnd >= range.start.line)
    .map((h) => ({ range: { start: { line: h.oldStart, character: 0 }, end: { line: h.oldEnd, character: 0 } }, newText: h.lines.map((l) => l + '\n').join('') }));
}

interface Hunk {
  /** Lines [oldStart, oldEnd) of the old text are replaced by `lines`. */
  readonly oldStart: number;
  readonly oldEnd: number;
  readonly lines: readonly string[];
}

/** The changed stretches between two line lists (longest common subsequence of lines). */
function diffLines(a: readonly string[], b: readonly string[]): Hunk[] {
  let head = 0;
  while (head < a.length && head < b.length && a[head] === b[head]) head++;
  let tail = 0;
  while (tail < a.length - head && tail < b.length - head && a[a.length - 1 - tail] === b[b.length - 1 - tail]) tail++;
  const n = a.length - head - tail;
  const m = b.length - head - tail;
  if (n === 0 && m === 0) return [];
  if (n > MAX_DIFF_LINES || m > MAX_DIFF_LINES || n === 0 || m === 0) return [{ oldStart: head, oldEnd: head + n, lines: b.slice(head, head + m) }];
  // lcs[i][j]: the LCS length of a[head+i..] and b[head+j..].
  const w = m + 1;
  const lcs = new Uint32Array((n + 1) * w);
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i * w + j] = a[head + i] === b[head + j] ? (lcs[(i + 1) * w + j + 1] as number) + 1 : Math.max(lcs[(i + 1) * w + j] as number, lcs[i * w + j + 1] as number);
    }
  }
  const hunks: Hunk[] = [];
  let i = 0;
  let j = 0;
  let open: { oldStart: number; lines: string[] } | undefined;
  const close = () => {
    if (open) hunks.push({ oldStart: open.oldStart, oldEnd: head + i, lines: open.lines });
    open = undefined;
  };
  while (i < n || j < m) {
    if (i < n && j < m && a[head + i] === b[head + j]) {
      close();
      i++;
      j++;
    } else if (j < m && (i === n || (lcs[i * w + j + 1] as number) >= (lcs[(i + 1) * w + j] as number))) {
      open ??= { oldStart: head + i, lines: [] };
      open.lines.push(b[head + j] as string);
      j++;
    } else {
      open ??= { oldStart: head + i, lines: [] };
      i++;
    }
  }
  close();
  return hunks;
}
