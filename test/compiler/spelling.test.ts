import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { closestSpelling, editDistance } from '../../compiler/spelling.ts';

describe('editDistance', () => {
  it('counts insertions, deletions, substitutions and adjacent swaps as one edit each', () => {
    expect(editDistance('web', 'web')).toBe(0);
    expect(editDistance('', 'web')).toBe(3);
    expect(editDistance('web', '')).toBe(3);
    expect(editDistance('wbe', 'web')).toBe(1);
    expect(editDistance('egres', 'egress')).toBe(1);
    expect(editDistance('offcie', 'office')).toBe(1);
    expect(editDistance('kitten', 'sitting')).toBe(3);
    // Optimal string alignment: a swapped pair is not edited again ('ca' -> 'abc' is 3, not 2).
    expect(editDistance('ca', 'abc')).toBe(3);
  });

  it('is symmetric, zero only for equal words, and never above plain Levenshtein', () => {
    const word = fc.string({ unit: fc.constantFrom('a', 'b', 'c', '_'), maxLength: 8 });
    fc.assert(
      fc.property(word, word, (a, b) => {
        const d = editDistance(a, b);
        expect(editDistance(b, a)).toBe(d);
        expect(d === 0).toBe(a === b);
        expect(d).toBeLessThanOrEqual(levenshtein(a, b));
        expect(d).toBeGreaterThanOrEqual(Math.abs(a.length - b.length));
      }),
    );
  });
});

describe('closestSpelling', () => {
  it('offers a close word and nothing when every word is far off', () => {
    expect(closestSpelling('web_teir', ['db_tier', 'web_tier'])).toBe('web_tier');
    expect(closestSpelling('ofice', ['office'])).toBe('office');
    expect(closestSpelling('wbe', ['db', 'web'])).toBe('web');
    expect(closestSpelling('mail', ['office', 'web_tier'])).toBeUndefined();
    expect(closestSpelling('x', [])).toBeUndefined();
  });
});

/** Textbook Levenshtein, the bound the transposition-aware distance must stay under. */
function levenshtein(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = row[j]!;
      row[j] = Math.min(up + 1, row[j - 1]! + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = up;
    }
  }
  return row[b.length]!;
}
