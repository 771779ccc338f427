// End-to-end runs of the real `segc` binary (bin/segc.js over the built dist/): exit codes as
// cli.md states them, and no stack trace for any user mistake.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '../../..');
const STACK_LINE = /^\s+at .+:\d+:\d+\)?$/m;

function segc(args: readonly string[], node = process.execPath) {
  const r = spawnSync(node, [join(ROOT, 'bin/segc.js'), ...args], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

beforeAll(() => {
  // The binary runs the compiled JavaScript: build it (tsc emits even when another stage's
  // work in progress has type errors; those are the type check's business, not this test's).
  spawnSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: ROOT, encoding: 'utf8' });
  if (!existsSync(join(ROOT, 'dist/runtime/cli/main.js'))) throw new Error('the build did not produce dist/runtime/cli/main.js');
}, 180_000);

describe('bin/segc.js', () => {
  it('exits 0 on a clean policy', () => {
    const r = segc(['check', 'test/cases/clean-web.seg']);
    expect(r).toMatchObject({ code: 0, err: '' });
    expect(r.out).toBe('no problems (1 file checked)\n');
  });

  it('exits 1 on a policy with errors and prints them', () => {
    const r = segc(['check', 'test/cases/seg3003-host-bits.seg']);
    expect(r.code).toBe(1);
    expect(r.out).toContain('error[SEG3003]');
    expect(r.err).toBe('');
  });

  it('writes parseable JSON and SARIF', () => {
    for (const format of ['json', 'sarif']) {
      const r = segc(['check', '--format', format, 'test/cases/seg2001-unknown-set.seg']);
      expect(r.code).toBe(1);
      expect(() => JSON.parse(r.out) as unknown).not.toThrow();
    }
  });

  it('exits 2 without a stack trace on usage mistakes', () => {
    for (const args of [['check', 'no/such/file.seg'], ['check', '--format', 'yaml', 'x.seg'], ['frobnicate'], [], ['explain', 'test/cases/clean-web.seg', '--packet', 'nonsense']]) {
      const r = segc(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.err, args.join(' ')).not.toMatch(STACK_LINE);
      expect(r.err, args.join(' ')).not.toMatch(/^internal error/m);
    }
  });

  it('explains a packet', () => {
    const r = segc(['explain', 'test/cases/clean-web.seg', '--json', '--packet', 'tcp 192.0.2.1:40000 -> 10.0.1.7:443']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ verdict: 'allow', rule: { name: 'public-web', priority: 100 } });
  });

  it('runs under an older system Node by handing over to the Node the set-up installed', () => {
    const system = '/usr/bin/node';
    const version = existsSync(system) ? spawnSync(system, ['-p', 'process.versions.node'], { encoding: 'utf8' }).stdout.trim() : '';
    // Only meaningful where the system Node is too old for segc itself (as on a fresh machine).
    const old = /^(\d+)\./.exec(version);
    if (old === null || Number(old[1]) >= 22) return;
    expect(segc(['check', 'test/cases/seg3003-host-bits.seg'], system).code).toBe(1);
  });
});
