// The bundled CLI (scripts/bundle-cli.ts, what bin/segc.js runs after `npm run build`) behaves
// exactly as tsc's output does, stays self-contained, and keeps `check` from loading the
// runtime's packages. Bundled into a folder of its own inside dist/ (the bundle finds the
// package's root and chevrotain from its own location), removed afterwards.
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleCli } from '../../scripts/bundle-cli.ts';

const ROOT = join(import.meta.dirname, '../..');
const OUTDIR = join(ROOT, `dist/cli-test-${process.pid}`);
const COMPILED = pathToFileURL(join(ROOT, 'dist/runtime/cli/main.js')).href;
const BUNDLED = pathToFileURL(join(OUTDIR, 'segc.js')).href;

// Runs `main()` of one build of the CLI and records every module URL it resolves.
const PROBE = `
import { registerHooks } from 'node:module';
const loaded = [];
registerHooks({ resolve(specifier, context, next) { const r = next(specifier, context); loaded.push(r.url); return r; } });
const cli = process.argv[1];
const { main } = await import(cli);
await main();
process.on('exit', () => process.stderr.write('\\nLOADED ' + JSON.stringify(loaded)));
`;

interface Run {
  readonly code: number | null;
  readonly out: string;
  readonly err: string;
  readonly loaded: readonly string[];
}

function runCli(cli: string, argv: readonly string[]): Run {
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', PROBE, '--', cli, ...argv], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
  const at = r.stderr.lastIndexOf('\nLOADED ');
  if (at < 0) throw new Error(`probe failed: ${r.stderr}`);
  return { code: r.status, out: r.stdout, err: r.stderr.slice(0, at), loaded: JSON.parse(r.stderr.slice(at + '\nLOADED '.length)) as string[] };
}

beforeAll(async () => {
  // The bundle is made from tsc's output (tsc emits even when another stage's work in progress
  // has type errors; those are the type check's business).
  spawnSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: ROOT, encoding: 'utf8' });
  if (!existsSync(join(ROOT, 'dist/runtime/cli/main.js'))) throw new Error('the build did not produce dist/runtime/cli/main.js');
  await bundleCli(OUTDIR);
}, 180_000);

afterAll(() => rmSync(OUTDIR, { recursive: true, force: true }));

describe('the bundled CLI', () => {
  it.each([
    ['a clean policy', ['check', 'test/cases/clean-web.seg'], 0],
    ['a policy with errors', ['check', 'test/cases/seg3003-host-bits.seg'], 1],
    ['SARIF output', ['check', '--format', 'sarif', 'test/cases/seg2001-unknown-set.seg'], 1],
    ['an explanation', ['explain', 'examples/common.seg', '--packet', 'tcp 10.0.0.1:40000 -> 10.0.1.5:443'], 0],
    ['a usage mistake', ['check', '--format', 'yaml', 'examples/common.seg'], 2],
    ['the version', ['--version'], 0],
    ['the help', ['--help'], 0],
  ] as const)('prints and exits as the compiled CLI does for %s', (_, argv, code) => {
    const bundled = runCli(BUNDLED, argv);
    expect(bundled.code).toBe(code);
    expect(bundled.out + bundled.err).not.toBe('');
    const compiled = runCli(COMPILED, argv);
    expect({ code: bundled.code, out: bundled.out, err: bundled.err }).toEqual({ code: compiled.code, out: compiled.out, err: compiled.err });
  });

  it('loads no module of tsc output, neither koffi nor prom-client, nor child_process when checking', () => {
    const { code, loaded } = runCli(BUNDLED, ['check', 'test/cases/seg3003-host-bits.seg']);
    expect(code).toBe(1);
    expect(loaded.filter((url) => url.includes('/dist/runtime/') || url.includes('/dist/compiler/'))).toEqual([]);
    expect(loaded.filter((url) => /node_modules\/(koffi|prom-client|commander)\//.test(url))).toEqual([]);
    expect(loaded.some((url) => url.includes('node_modules/chevrotain/'))).toBe(true);
    // commander's import of it is a stand-in that loads it on first use (scripts/bundle-cli.ts).
    expect(loaded).not.toContain('node:child_process');
  });

  it('loads fewer modules than the compiled CLI to check a file', () => {
    const argv = ['check', 'examples/common.seg'];
    // Distinct modules: the resolve hook sees a module again at every import of it.
    const modules = (cli: string) => new Set(runCli(cli, argv).loaded).size;
    expect(modules(BUNDLED)).toBeLessThan(modules(COMPILED) / 2.5);
  });
});
