// The VS Code extension builds from a fresh clone with `make vsix` (npm registry only), and the
// .vsix holds what VS Code needs: a manifest contributing the `seg` language and its grammar,
// the grammar itself (grammar/'s, byte for byte), the language configuration and the bundled
// client, which starts `segc lsp`.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '../..');
const dir = mkdtempSync(join(tmpdir(), 'segc-vsix-'));

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const unzip = (vsix: string, entry: string) => execFileSync('unzip', ['-p', vsix, entry], { maxBuffer: 16 << 20 }).toString('utf8');

describe('the VS Code extension', () => {
  it('packages from a fresh clone with make vsix, with the manifest, grammar and client entry point', () => {
    const clone = join(dir, 'segc');
    execFileSync('git', ['clone', '-q', ROOT, clone]);
    // The Node the set-up installed (or the one running the test) runs npm and vsce.
    const path = `${dirname(process.execPath)}:${process.env.PATH ?? ''}`;
    const make = spawnSync('make', ['-s', 'vsix'], { cwd: clone, encoding: 'utf8', timeout: 240_000, env: { ...process.env, PATH: path } });
    expect(make.status, make.stdout + make.stderr).toBe(0);
    const vsix = join(clone, 'editors/vscode/segc.vsix');
    const entries = execFileSync('unzip', ['-Z1', vsix]).toString('utf8').split('\n').filter(Boolean).sort();
    expect(entries).toEqual(
      expect.arrayContaining(['extension.vsixmanifest', 'extension/package.json', 'extension/language-configuration.json', 'extension/syntaxes/segc.tmLanguage.json', 'extension/out/extension.js']),
    );
    expect(entries.some((e) => e.startsWith('extension/src/') || e.startsWith('extension/node_modules/'))).toBe(false);

    const manifest = JSON.parse(unzip(vsix, 'extension/package.json')) as {
      name: string;
      main: string;
      engines: { vscode: string };
      activationEvents: string[];
      contributes: { languages: { id: string; extensions: string[]; configuration: string }[]; grammars: { language: string; scopeName: string; path: string }[] };
    };
    expect(manifest.main).toBe('./out/extension.js');
    expect(manifest.activationEvents).toContain('onLanguage:seg');
    expect(manifest.contributes.languages).toEqual([expect.objectContaining({ id: 'seg', extensions: ['.seg'], configuration: './language-configuration.json' })]);
    expect(manifest.contributes.grammars).toEqual([{ language: 'seg', scopeName: 'source.seg', path: './syntaxes/segc.tmLanguage.json' }]);
    expect(unzip(vsix, 'extension/syntaxes/segc.tmLanguage.json')).toBe(readFileSync(join(ROOT, 'grammar/segc.tmLanguage.json'), 'utf8'));
    expect(JSON.parse(unzip(vsix, 'extension/language-configuration.json'))).toMatchObject({ comments: { lineComment: '#' } });
    expect(unzip(vsix, 'extension.vsixmanifest')).toContain('Microsoft.VisualStudio.Code');

    // The bundled client is CommonJS exporting activate/deactivate, and starts `<segc> lsp`.
    const client = unzip(vsix, 'extension/out/extension.js');
    expect(client).toContain('"lsp"');
    expect(client).toMatch(/activate/);
    expect(client).not.toMatch(/require\("vscode-languageclient/);
  }, 300_000);
});
