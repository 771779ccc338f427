// Test support for upgrade tests: an older commit of segc, checked out as a git worktree of this
// repository with its classifier built (npm packages shared with this checkout), to deploy with
// before this build upgrades the deployment in place. Run it with segc(..., { root: dir }).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Whether `commit` can be checked out and built here (git history, clang, node_modules). */
export function oldSegcAvailable(commit: string): boolean {
  try {
    execFileSync('git', ['-C', ROOT, 'cat-file', '-e', `${commit}^{commit}`], { stdio: 'ignore' });
    execFileSync('clang', ['--version'], { stdio: 'ignore' });
    return existsSync(join(ROOT, 'node_modules'));
  } catch {
    return false;
  }
}

/** A worktree of `commit` in a new temporary folder, its classifier built; remove it with removeOldSegc. */
export function checkoutOldSegc(commit: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'segct-old-'));
  rmSync(dir, { recursive: true, force: true });
  execFileSync('git', ['-C', ROOT, 'worktree', 'add', '--detach', '--force', dir, commit], { stdio: 'ignore' });
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  execFileSync('mkdir', ['-p', join(dir, 'bpf', 'build')]);
  const arch = execFileSync('uname', ['-m'], { encoding: 'utf8' }).trim();
  execFileSync('clang', ['-g', '-O2', '-Wall', '-target', 'bpf', '-D__TARGET_ARCH_x86', `-I/usr/include/${arch}-linux-gnu`, `-I${join(dir, 'bpf')}`, '-c', join(dir, 'bpf', 'segc.bpf.c'), '-o', join(dir, 'bpf', 'build', 'segc.bpf.o')], { stdio: 'inherit' });
  return dir;
}

export function removeOldSegc(dir: string | undefined): void {
  if (dir !== undefined) spawnSync('git', ['-C', ROOT, 'worktree', 'remove', '--force', dir]);
}
