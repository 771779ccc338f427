// `segc check` stays lean: running it loads neither koffi nor prom-client (they belong to the
// commands that touch the kernel or export metrics, which load them inside their actions).
// Checked in a fresh Node process that records every module it resolves.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '../../..');

const PROBE = `
import { registerHooks } from 'node:module';
const loaded = [];
registerHooks({ resolve(specifier, context, next) { const r = next(specifier, context); loaded.push(r.url); return r; } });
const { run } = await import('./runtime/cli/main.ts');
const { createNodeIo } = await import('./runtime/cli/io.ts');
const io = createNodeIo();
const quiet = { ...io, stdout: { write() {} }, stderr: { write() {} } };
const code = await run(process.argv.slice(1), quiet);
process.stdout.write(JSON.stringify({ code, loaded }));
`;

function modulesLoadedBy(argv: readonly string[]): { code: number; loaded: string[] } {
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', PROBE, '--', ...argv], { cwd: ROOT, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`probe failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as { code: number; loaded: string[] };
}

describe('segc check start-up', () => {
  it('loads the compiler but neither koffi nor prom-client', () => {
    const { code, loaded } = modulesLoadedBy(['check', 'test/cases/seg3003-host-bits.seg']);
    expect(code).toBe(1);
    expect(loaded.some((url) => url.includes('/compiler/lower.ts'))).toBe(true);
    expect(loaded.filter((url) => /node_modules\/(koffi|prom-client)\//.test(url))).toEqual([]);
  });
});
