// The hooks of .pre-commit-hooks.yaml under the real pre-commit (Debian's), through
// `pre-commit try-repo` on a temporary git repository of policies. The hooks say `language:
// node` (pre-commit installs segc from the hook repository); here a copy of the hook repository
// runs them with `language: system` against this checkout's bin/segc.js, so the test needs no
// registry, while ids, entries, file patterns and arguments are those of the file itself.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '../..');
const HAVE_PRE_COMMIT = spawnSync('pre-commit', ['--version']).status === 0;

describe.skipIf(!HAVE_PRE_COMMIT)('the pre-commit hooks', () => {
  const base = mkdtempSync(join(tmpdir(), `segc-h11-precommit-${process.pid}-`));
  afterAll(() => rmSync(base, { recursive: true, force: true }));
  const hooks = join(base, 'hooks');
  const policies = join(base, 'policies');
  const env = { ...process.env, PRE_COMMIT_HOME: join(base, 'cache'), NO_COLOR: '1', GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@segc.invalid', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@segc.invalid' };
  const git = (cwd: string, ...args: string[]) => execFileSync('git', args, { cwd, env, encoding: 'utf8' });
  const tryRepo = (hook: string, ...extra: string[]) => spawnSync('pre-commit', ['try-repo', hooks, hook, '--all-files', ...extra], { cwd: policies, env, encoding: 'utf8' });

  execFileSync('mkdir', ['-p', hooks, policies]);
  const shim = join(base, 'segc');
  writeFileSync(shim, `#!/bin/sh\nexec "${process.execPath}" "${join(ROOT, 'bin/segc.js')}" "$@"\n`);
  chmodSync(shim, 0o755);
  const definitions = readFileSync(join(ROOT, '.pre-commit-hooks.yaml'), 'utf8').replace(/language: node/g, 'language: system').replace(/entry: segc /g, `entry: ${shim} `);
  writeFileSync(join(hooks, '.pre-commit-hooks.yaml'), definitions);
  git(hooks, 'init', '-q');
  git(hooks, 'add', '.');
  git(hooks, 'commit', '-qm', 'hooks');

  const POLICY = 'policy ingress default deny {\n  100 ssh: allow tcp from 10.20.0.0/16 to any port 22\n}\n';
  const TESTS = 'include "web.seg"\ntest "ssh" {\n  expect allow tcp 10.20.1.5 -> 10.0.1.7:22\n}\n';
  git(policies, 'init', '-q', '-b', 'main');
  writeFileSync(join(policies, 'web.seg'), POLICY);
  writeFileSync(join(policies, 'web.test.seg'), TESTS);
  git(policies, 'add', '.');
  git(policies, 'commit', '-qm', 'policy');

  it('pass check, fmt and test on a clean repository', () => {
    for (const hook of ['segc-check', 'segc-fmt', 'segc-test']) {
      const r = tryRepo(hook);
      expect(r.status, `${hook}: ${r.stdout}${r.stderr}`).toBe(0);
    }
  }, 120_000);

  it('fail the test hook on a wrong expectation and the fmt hook on an unformatted file', () => {
    writeFileSync(join(policies, 'web.test.seg'), TESTS.replace('10.20.1.5', '192.0.2.1'));
    const test = tryRepo('segc-test');
    expect(test.status).toBe(1);
    expect(test.stdout).toContain('FAIL  ssh  web.test.seg:3');
    writeFileSync(join(policies, 'web.test.seg'), TESTS.replace('  expect', 'expect'));
    expect(tryRepo('segc-fmt').status).toBe(1);
    writeFileSync(join(policies, 'web.test.seg'), TESTS);
  }, 120_000);

  it('prints the diff against the merge base with main', () => {
    git(policies, 'checkout', '-q', '-b', 'feature');
    writeFileSync(join(policies, 'web.seg'), POLICY.replace('10.20.0.0/16', '10.20.0.0/17'));
    git(policies, 'commit', '-qam', 'narrow ssh');
    const r = tryRepo('segc-diff', '--hook-stage', 'manual');
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain('ingress allow -> deny: tcp 10.20.128.1:40000 -> 198.51.100.20:22');
    expect(r.stdout).toMatch(/before {2}rule ssh \(merge-base [0-9a-f]{7}:web\.seg:2\) allows/);
  }, 120_000);
});
