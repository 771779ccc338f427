// Unified diffs of two texts, line by line, for `segc fmt --diff`: the `--- a/` / `+++ b/`
// headers, `@@` hunks with three lines of context, and the `\ No newline at end of file`
// marker, so `patch -p1` and `git apply` take the output.

const CONTEXT = 3;
/** Past this many differing lines, the middle is shown as one replaced block (still a valid diff). */
const MAX_EDIT_DISTANCE = 2000;

type Op = { readonly kind: ' ' | '-' | '+'; readonly line: string };

/** The diff of `before` and `after`, or '' when they are equal. */
export function unifiedDiff(path: string, before: string, after: string): string {
  if (before === after) return '';
  const ops = diffLines(splitLines(before), splitLines(after));
  const hunks = diffHunks(ops);
  // git's a/ and b/ prefixes (for `patch -p1`) make sense only on a relative path.
  const [a, b] = path.startsWith('/') ? [path, path] : [`a/${path}`, `b/${path}`];
  return `--- ${a}\n+++ ${b}\n${hunks.join('')}`;
}

/** Lines with their terminators, so that a missing final newline is a difference too. */
function splitLines(text: string): string[] {
  const lines = text.split(/(?<=\n)/);
  return lines.length === 1 && lines[0] === '' ? [] : lines;
}

/** The edit script, by Myers' O(ND) algorithm after trimming the common prefix and suffix. */
function diffLines(a: readonly string[], b: readonly string[]): Op[] {
  let prefix = 0;
  while (prefix < a.length && prefix < b.length && a[prefix] === b[prefix]) prefix++;
  let suffix = 0;
  while (suffix < a.length - prefix && suffix < b.length - prefix && a[a.length - 1 - suffix] === b[b.length - 1 - suffix]) suffix++;
  const same = (lines: readonly string[]): Op[] => lines.map((line) => ({ kind: ' ', line }));
  const middle = diffMiddle(a.slice(prefix, a.length - suffix), b.slice(prefix, b.length - suffix));
  return [...same(a.slice(0, prefix)), ...middle, ...same(a.slice(a.length - suffix))];
}

function diffMiddle(a: readonly string[], b: readonly string[]): Op[] {
  const n = a.length;
  const m = b.length;
  const max = Math.min(n + m, MAX_EDIT_DISTANCE);
  // v[k + offset] is the furthest x reached on diagonal k; trace keeps v before each step d.
  const offset = max + 1;
  const v = new Int32Array(2 * max + 3);
  const trace: Int32Array[] = [];
  for (let d = 0; d <= max; d++) {
    trace.push(v.slice(offset - d - 1, offset + d + 2));
    for (let k = -d; k <= d; k += 2) {
      const down = k === -d || (k !== d && (v[offset + k - 1] ?? 0) < (v[offset + k + 1] ?? 0));
      let x = down ? (v[offset + k + 1] ?? 0) : (v[offset + k - 1] ?? 0) + 1;
      let y = x - k;
      while (x < n && y < m && a[x] === b[y]) {
        x++;
        y++;
      }
      v[offset + k] = x;
      if (x >= n && y >= m) return diffBacktrack(a, b, trace, d);
    }
  }
  // Too many differences to search: everything removed, then everything added.
  return [...a.map((line): Op => ({ kind: '-', line })), ...b.map((line): Op => ({ kind: '+', line }))];
}

function diffBacktrack(a: readonly string[], b: readonly string[], trace: readonly Int32Array[], last: number): Op[] {
  const ops: Op[] = [];
  let x = a.length;
  let y = b.length;
  for (let d = last; d > 0; d--) {
    const saved = trace[d];
    if (saved === undefined) break;
    // `saved` holds diagonals -d-1 .. d+1 of the v before step d.
    const at = (k: number) => saved[k + d + 1] ?? 0;
    const k = x - y;
    const down = k === -d || (k !== d && at(k - 1) < at(k + 1));
    const prevK = down ? k + 1 : k - 1;
    const prevX = at(prevK);
    const prevY = prevX - prevK;
    while (x > prevX && y > prevY) {
      y--;
      ops.push({ kind: ' ', line: a[--x] ?? '' });
    }
    if (down) ops.push({ kind: '+', line: b[--y] ?? '' });
    else ops.push({ kind: '-', line: a[--x] ?? '' });
  }
  while (x > 0 && y > 0) {
    y--;
    ops.push({ kind: ' ', line: a[--x] ?? '' });
  }
  return ops.reverse();
}

/** Groups the edit script into hunks with CONTEXT lines around each change. */
function diffHunks(ops: readonly Op[]): string[] {
  const hunks: string[] = [];
  let i = 0;
  // Line numbers (0-based) in the old and new text at ops[i].
  let oldLine = 0;
  let newLine = 0;
  const advance = (op: Op) => {
    if (op.kind !== '+') oldLine++;
    if (op.kind !== '-') newLine++;
  };
  while (i < ops.length) {
    if (ops[i]?.kind === ' ') {
      advance(ops[i] as Op);
      i++;
      continue;
    }
    // A change at i: back up CONTEXT lines, then run until CONTEXT * 2 equal lines in a row.
    const start = Math.max(0, i - CONTEXT);
    let oldStart = oldLine - (i - start);
    let newStart = newLine - (i - start);
    let end = i;
    let equalRun = 0;
    while (end < ops.length) {
      if (ops[end]?.kind === ' ') {
        equalRun++;
        if (equalRun > CONTEXT * 2) break;
      } else equalRun = 0;
      end++;
    }
    // The hunk ends CONTEXT lines into the equal run that follows its last change.
    const runStart = end < ops.length ? end - equalRun + 1 : end - equalRun;
    const stop = Math.min(ops.length, runStart + CONTEXT);
    const body: string[] = [];
    let oldCount = 0;
    let newCount = 0;
    for (let j = start; j < stop; j++) {
      const op = ops[j] as Op;
      if (op.kind !== '+') oldCount++;
      if (op.kind !== '-') newCount++;
      body.push(op.kind + op.line.replace(/\n$/, '') + (op.line.endsWith('\n') ? '\n' : '\n\\ No newline at end of file\n'));
    }
    for (let j = i; j < stop; j++) advance(ops[j] as Op);
    // A hunk that adds to or removes from an empty range names the line before it.
    if (oldCount === 0) oldStart--;
    if (newCount === 0) newStart--;
    hunks.push(`@@ -${oldStart + 1},${oldCount} +${newStart + 1},${newCount} @@\n${body.join('')}`);
    i = stop;
  }
  return hunks;
}
