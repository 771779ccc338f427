// Unified diffs for `segc fmt --diff`: exact hunks on small cases, and on random texts a diff
// that, applied hunk by hunk to the old text, gives the new one (and `patch` agrees).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { unifiedDiff } from '../../../runtime/cli/unified-diff.ts';

/** Applies a unified diff of one file to `before`, checking every context and removed line. */
function applyDiff(before: string, diff: string): string {
  const old = before.split(/(?<=\n)/).filter((l) => l !== '');
  const out: string[] = [];
  let at = 0;
  const lines = diff.split('\n');
  if (lines.at(-1) === '') lines.pop();
  let i = 2;
  while (i < lines.length) {
    const header = /^@@ -(\d+),(\d+) \+(\d+),(\d+) @@$/.exec(lines[i] ?? '');
    if (header === null) throw new Error(`bad hunk header: ${lines[i]}`);
    const oldCount = Number(header[2]);
    const oldStart = Number(header[1]) - (oldCount === 0 ? 0 : 1);
    while (at < oldStart) out.push(old[at++] as string);
    i++;
    while (i < lines.length && !(lines[i] ?? '').startsWith('@@')) {
      const line = lines[i] as string;
      const noEol = lines[i + 1] === '\\ No newline at end of file';
      const text = line.slice(1) + (noEol ? '' : '\n');
      if (line[0] === ' ' || line[0] === '-') {
        if (old[at] !== text) throw new Error(`context mismatch at old line ${at + 1}: ${JSON.stringify(old[at])} vs ${JSON.stringify(text)}`);
        at++;
      }
      if (line[0] === ' ' || line[0] === '+') out.push(text);
      i += noEol ? 2 : 1;
    }
  }
  while (at < old.length) out.push(old[at++] as string);
  return out.join('');
}

const textArb = fc.array(fc.constantFrom('a', 'b', 'c', 'set x = any', '', '}'), { maxLength: 40 }).chain((ls) =>
  fc.boolean().map((eol) => ls.join('\n') + (eol && ls.length > 0 ? '\n' : '')),
);

describe('unifiedDiff', () => {
  it('is empty for equal texts', () => {
    expect(unifiedDiff('a.seg', 'x\n', 'x\n')).toBe('');
  });

  it('shows a change with three lines of context', () => {
    const before = ['1', '2', '3', '4', '5', '6', '7', '8', '9'].join('\n') + '\n';
    const after = before.replace('5\n', 'five\n');
    expect(unifiedDiff('a.seg', before, after)).toBe(
      ['--- a/a.seg', '+++ b/a.seg', '@@ -2,7 +2,7 @@', ' 2', ' 3', ' 4', '-5', '+five', ' 6', ' 7', ' 8', ''].join('\n'),
    );
  });

  it('keeps changes more than six lines apart in separate hunks', () => {
    const before = Array.from({ length: 20 }, (_, i) => `${i + 1}`).join('\n') + '\n';
    const after = before.replace('2\n', 'two\n').replace('\n18\n', '\neighteen\n');
    const diff = unifiedDiff('a.seg', before, after);
    expect(diff.match(/^@@ .* @@$/gm)).toEqual(['@@ -1,5 +1,5 @@', '@@ -15,6 +15,6 @@']);
  });

  it('prefixes a/ and b/ to a relative path only', () => {
    expect(unifiedDiff('/etc/segc/a.seg', 'x\n', 'y\n').split('\n').slice(0, 2)).toEqual(['--- /etc/segc/a.seg', '+++ /etc/segc/a.seg']);
  });

  it('marks a missing newline at the end of either text', () => {
    expect(unifiedDiff('a.seg', 'x', 'x\n')).toBe(['--- a/a.seg', '+++ b/a.seg', '@@ -1,1 +1,1 @@', '-x', '\\ No newline at end of file', '+x', ''].join('\n'));
  });

  it('names the line before an empty range', () => {
    expect(unifiedDiff('a.seg', '', 'x\ny\n')).toBe(['--- a/a.seg', '+++ b/a.seg', '@@ -0,0 +1,2 @@', '+x', '+y', ''].join('\n'));
    expect(unifiedDiff('a.seg', 'x\ny\n', '')).toBe(['--- a/a.seg', '+++ b/a.seg', '@@ -1,2 +0,0 @@', '-x', '-y', ''].join('\n'));
  });

  it('gives a diff that turns the old text into the new one', () => {
    fc.assert(
      fc.property(textArb, textArb, (before, after) => {
        expect(applyDiff(before, unifiedDiff('a.seg', before, after))).toBe(after);
      }),
      { numRuns: 500 },
    );
  });

  it('still gives a valid diff when the texts differ too much to search for the shortest one', () => {
    const before = Array.from({ length: 1500 }, (_, i) => `old ${i}`).join('\n') + '\n';
    const after = Array.from({ length: 1500 }, (_, i) => `new ${i}`).join('\n') + '\n';
    expect(applyDiff(before, unifiedDiff('a.seg', before, after))).toBe(after);
  });

  it('gives a diff that patch(1) applies', () => {
    const dir = mkdtempSync(join(tmpdir(), 'segc-diff-'));
    try {
      const before = 'policy ingress {\n1 allow tcp from any to any port 22\n}\n# end';
      const after = 'policy ingress {\n  1 allow tcp from any to any port 22\n}\n# end\n';
      writeFileSync(join(dir, 'a.seg'), before);
      execFileSync('patch', ['-s', '-p1'], { cwd: dir, input: unifiedDiff('a.seg', before, after) });
      expect(readFileSync(join(dir, 'a.seg'), 'utf8')).toBe(after);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
