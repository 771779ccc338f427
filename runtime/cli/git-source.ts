// The policy files of a git revision, for `segc diff --git`: a compiler host that reads every
// file (includes too) with `git show REV:./path`, so a revision compiles exactly as it was
// committed, and the list of its `.seg` files below some paths (`git ls-tree`). Paths are
// relative to the io's folder, as for files on disk.
import { execFileSync } from 'node:child_process';
import { normalizePosixPath, resolvePosixInclude, type CompilerHost } from '../../compiler/source.ts';
import { CliError } from './command.ts';
import { isSkippedFolder, type CliIo } from './io.ts';

function git(io: CliIo, args: readonly string[]): string | undefined {
  try {
    return execFileSync('git', [...args], { cwd: io.cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 30 });
  } catch {
    return undefined;
  }
}

/** The commit a revision names (a usage error when it names none). */
export function resolveRevision(io: CliIo, rev: string): string {
  const out = git(io, ['rev-parse', '--verify', '--quiet', `${rev}^{commit}`]);
  if (out === undefined || out.trim() === '') {
    const inRepo = git(io, ['rev-parse', '--is-inside-work-tree']) !== undefined;
    throw new CliError('usage', inRepo ? `'${rev}' is not a revision of this repository` : `${io.cwd} is not inside a git repository`, inRepo ? 'name a commit, branch or tag (git log shows them)' : 'run segc diff --git inside the repository');
  }
  return out.trim();
}

/** Whether the text names a commit (used to tell `--git A B` from `--git A path`). */
export function isRevision(io: CliIo, text: string): boolean {
  return (git(io, ['rev-parse', '--verify', '--quiet', `${text}^{commit}`]) ?? '').trim() !== '';
}

/** `git merge-base BRANCH HEAD`. */
export function mergeBase(io: CliIo, branch: string): string {
  const out = git(io, ['merge-base', branch, 'HEAD']);
  if (out === undefined || out.trim() === '') throw new CliError('usage', `no merge base between '${branch}' and HEAD`, 'fetch the branch first (git fetch origin), or name another with --merge-base BRANCH');
  return out.trim();
}

/** A host that reads the files of one commit. */
export function createGitHost(io: CliIo, commit: string): CompilerHost {
  const cache = new Map<string, string | undefined>();
  return {
    readFile(path) {
      const p = normalizePosixPath(path);
      if (!cache.has(p)) cache.set(p, p.startsWith('/') ? undefined : git(io, ['show', `${commit}:./${p}`]));
      return cache.get(p);
    },
    resolveInclude: resolvePosixInclude,
  };
}

/** The `.seg` files of a commit below the paths (default: the whole folder), sorted. */
export function listRevisionSegFiles(io: CliIo, commit: string, rev: string, paths: readonly string[]): string[] {
  const out = git(io, ['ls-tree', '-r', '--name-only', commit, '--', ...(paths.length === 0 ? ['.'] : paths)]);
  if (out === undefined) throw new CliError('usage', `cannot list the files of revision ${rev}`);
  const files = out
    .split('\n')
    .filter((p) => p.endsWith('.seg') && !p.split('/').slice(0, -1).some(isSkippedFolder))
    .map(normalizePosixPath);
  return [...new Set(files)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}
