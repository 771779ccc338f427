// "Did you mean": the closest known word to a misspelt one, for unknown names, ICMP types and
// keywords. The distance counts a swap of two adjacent characters as one edit (`wbe` -> `web`),
// as rustc's and TypeScript's suggestions do; plain Levenshtein counts it as two, which put the
// most common typo beyond the limit for short names.

/**
 * The optimal-string-alignment distance: insertions, deletions, substitutions and transpositions
 * of adjacent characters, each one edit (no substring is edited twice).
 */
export function editDistance(a: string, b: string): number {
  if (a === b) return 0;
  if (a.length === 0) return b.length;
  if (b.length === 0) return a.length;
  // Three rows of the dynamic-programming matrix: the transposition looks two rows back.
  let before = new Array<number>(b.length + 1).fill(0);
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  let current = new Array<number>(b.length + 1).fill(0);
  for (let i = 1; i <= a.length; i++) {
    current[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, before[j - 2]! + 1);
      current[j] = d;
    }
    [before, previous, current] = [previous, current, before];
  }
  return previous[b.length]!;
}

/**
 * The candidate closest to `written`, when it is close enough to be a plausible typo: at most a
 * third of the longer word's length in edits (at least one). Ties go to the earlier candidate.
 */
export function closestSpelling(written: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const d = editDistance(written, candidate);
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  if (best === undefined) return undefined;
  return bestDistance <= Math.max(1, Math.floor(Math.max(written.length, best.length) / 3)) ? best : undefined;
}
