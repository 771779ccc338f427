// End-to-end runs of `segc fmt` through the real binary (bin/segc.js over the built dist/): the
// exit codes of cli.md, files rewritten on disk or left alone, and no stack trace for a user's
// mistake.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '../../..');
const STACK_LINE = /^\s+at .+:\d+:\d+\)?$/m;
const DIR = mkdtempSync(join(tmpdir(), 'segc-fmt-bin-'));

const UNFORMATTED = 'policy ingress {\n1 allow tcp from any to any port 22\n}';
const FORMATTED = 'policy ingress {\n  1 allow tcp from any to any port 22\n}\n';
const BROKEN = 'policy ingress {\n1 allow tcp from any to\n}\n';

function segc(args: readonly string[]) {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin/segc.js'), ...args], { cwd: DIR, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function file(name: string, text: string): string {
  writeFileSync(join(DIR, name), text);
  return name;
}

beforeAll(() => {
  // tsc emits even when another stage's work in progress has type errors.
  spawnSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: ROOT, encoding: 'utf8' });
  if (!existsSync(join(ROOT, 'dist/runtime/cli/fmt.js'))) throw new Error('the build did not produce dist/runtime/cli/fmt.js');
}, 180_000);

afterAll(() => rmSync(DIR, { recursive: true, force: true }));

describe('bin/segc.js fmt', () => {
  it('rewrites a file and exits 0, then --check finds nothing', () => {
    const path = file('a.seg', UNFORMATTED);
    expect(segc(['fmt', path])).toEqual({ code: 0, out: 'a.seg\n', err: '' });
    expect(readFileSync(join(DIR, path), 'utf8')).toBe(FORMATTED);
    expect(segc(['fmt', '--check', path])).toEqual({ code: 0, out: '', err: '' });
  });

  it('exits 1 with --check on an unformatted file and leaves it alone', () => {
    const path = file('b.seg', UNFORMATTED);
    const r = segc(['fmt', '--check', path]);
    expect(r.code).toBe(1);
    expect(r.out).toBe('b.seg\n');
    expect(readFileSync(join(DIR, path), 'utf8')).toBe(UNFORMATTED);
  });

  it('exits 1 on a syntax error without a stack trace, and leaves the file byte-identical', () => {
    const path = file('c.seg', BROKEN);
    const r = segc(['fmt', path]);
    expect(r.code).toBe(1);
    expect(r.err).toContain('error[SEG1');
    expect(r.err).not.toMatch(STACK_LINE);
    expect(readFileSync(join(DIR, path), 'utf8')).toBe(BROKEN);
  });

  it('exits 2 without a stack trace on usage mistakes', () => {
    for (const args of [['fmt', 'no/such.seg'], ['fmt'], ['fmt', '--frobnicate', 'a.seg']]) {
      const r = segc(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.err, args.join(' ')).not.toMatch(STACK_LINE);
      expect(r.err, args.join(' ')).not.toMatch(/^internal error/m);
    }
  });
});
