// A real editor on segc lsp: headless Neovim (Debian's 0.7.2 or later) loads
// editors/neovim/segc.lua, opens a .seg file with an unknown name, and reports the diagnostics
// it received (vim.diagnostic.get()), where go-to-definition took it and the buffer after a
// rename (test/editors/neovim.lua does the editing). Bounded in time.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '../..');
const hasNvim = spawnSync('nvim', ['--version'], { encoding: 'utf8' }).status === 0;
const dir = mkdtempSync(join(tmpdir(), 'segc-nvim-'));

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.skipIf(!hasNvim)('segc lsp in Neovim', () => {
  it('shows the diagnostics, goes to a definition across an include and renames in the buffer', () => {
    writeFileSync(join(dir, 'common.seg'), '# shared\nset office = { 10.20.0.0/16 }\n');
    writeFileSync(
      join(dir, 'web.seg'),
      'include "common.seg"\n\nset web_tier = 10.0.1.0/24\n\npolicy ingress default deny {\n  100 web: allow tcp from any to web_tier port 443\n  200 ssh: allow tcp from office to any port 22\n  300 typo: allow tcp from offce to any port 23\n}\n',
    );
    const out = join(dir, 'result.json');
    const r = spawnSync('nvim', ['--headless', '--clean', '-c', `luafile ${join(ROOT, 'test/editors/neovim.lua')}`], {
      cwd: dir,
      encoding: 'utf8',
      timeout: 90_000,
      env: {
        ...process.env,
        SEGC_NVIM_OUT: out,
        SEGC_NVIM_FILE: join(dir, 'web.seg'),
        SEGC_NVIM_PLUGIN: join(ROOT, 'editors/neovim/segc.lua'),
        SEGC_NVIM_CMD: JSON.stringify([process.execPath, join(ROOT, 'bin/segc.js'), 'lsp']),
      },
    });
    expect(r.error, r.stderr).toBeUndefined();
    const result = JSON.parse(readFileSync(out, 'utf8')) as {
      steps: { name: string; ok: boolean }[];
      filetype: string;
      diagnostics: { lnum: number; col: number; end_col: number; severity: number; message: string; code?: string }[];
      definition: { file: string; row: number; col: number };
      lines: string[];
    };
    expect(result.steps).toEqual([
      { name: 'diagnostics', ok: true },
      { name: 'definition', ok: true },
      { name: 'rename', ok: true },
    ]);
    expect(result.filetype).toBe('seg');
    const unknown = result.diagnostics.find((d) => d.message.startsWith("unknown address set 'offce'"));
    expect(unknown).toMatchObject({ lnum: 7, col: 27, end_col: 32, severity: 1 });
    // Neovim 0.7 keeps the code in user_data; both versions carry it.
    expect(unknown?.code).toBe('SEG2001');
    expect(result.definition).toEqual({ file: 'common.seg', row: 2, col: 4 });
    expect(result.lines).toContain('set frontends = 10.0.1.0/24');
    expect(result.lines).toContain('  100 web: allow tcp from any to frontends port 443');
  }, 120_000);
});
