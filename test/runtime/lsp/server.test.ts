// `segc lsp` as an editor sees it: the real server process over stdio, driven by a JSON-RPC
// client (test/support/lsp-client.ts). Diagnostics with exact ranges, codes, hints and related
// rules; definition, references and rename across an include; hover; completion; code actions
// whose result `segc check` accepts; formatting equal to `segc fmt`; bad input that must not
// crash or stall the server; shutdown and exit.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TextDocument } from 'vscode-languageserver-textdocument';
import type { CodeAction, CompletionItem, Hover, Location, TextEdit, WorkspaceEdit } from 'vscode-languageserver-protocol';
import { formatSource } from '../../../compiler/format.ts';
import { createSourceFile } from '../../../compiler/source.ts';
import { startLspClient, type LspClient } from '../../support/lsp-client.ts';

const ROOT = join(import.meta.dirname, '../../..');
const COMMON = `# shared names
set office = { 10.20.0.0/16, 2001:db8:20::/48 }
ports web  = { 80, 443 }
`;
const WEB = `include "common.seg"

set web_tier = 10.0.1.0/24

policy ingress default deny {
  100 public-web: allow tcp from any to web_tier port web
  200 ssh-office: allow tcp from offce to any port 22
  300 ssh-deny:   deny tcp from office to any port 22
  400 ping:       allow icmp from any to any icmp echo-request
}
`;

let dir: string;
let client: LspClient;
const uriOf = (name: string) => pathToFileURL(join(dir, name)).href;
const apply = (text: string, edits: readonly TextEdit[]) => TextDocument.applyEdits(TextDocument.create('x', 'seg', 0, text), [...edits]);
/** The position of the `nth` occurrence of `needle` in `text` (0-based line and character). */
const at = (text: string, needle: string, nth = 0, shift = 1) => {
  let i = -1;
  for (let k = 0; k <= nth; k++) i = text.indexOf(needle, i + 1);
  if (i < 0) throw new Error(`'${needle}' not in text`);
  const before = text.slice(0, i + shift);
  return { line: before.split('\n').length - 1, character: before.length - before.lastIndexOf('\n') - 1 };
};
const segcCheck = (path: string) => spawnSync(process.execPath, [join(ROOT, 'bin/segc.js'), 'check', path], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'segc-lsp-'));
  writeFileSync(join(dir, 'common.seg'), COMMON);
  writeFileSync(join(dir, 'web.seg'), WEB);
  client = await startLspClient();
}, 60_000);

afterAll(async () => {
  if (client.child.exitCode === null) client.child.kill();
  rmSync(dir, { recursive: true, force: true });
});

describe('segc lsp', () => {
  it('publishes an unknown name with its exact range, code, link and hint, and fixes it with a code action', async () => {
    const uri = uriOf('web.seg');
    client.open(uri, WEB);
    const published = await client.waitForDiagnostics(uri, (p) => p.diagnostics.some((d) => d.code === 'SEG2001'));
    const d = published.diagnostics.find((x) => x.code === 'SEG2001')!;
    expect(d.range).toEqual({ start: at(WEB, 'offce', 0, 0), end: at(WEB, 'offce', 0, 5) });
    expect(d.severity).toBe(1);
    expect(d.message).toBe("unknown address set 'offce'\nhint: did you mean 'office'?");
    expect(d.codeDescription?.href).toMatch(/docs\/diagnostics\.md#seg2001$/);

    const actions = await client.connection.sendRequest<CodeAction[]>('textDocument/codeAction', { textDocument: { uri }, range: d.range, context: { diagnostics: [d] } });
    const fix = actions.find((a) => a.title === "Change to 'office'")!;
    expect(fix.isPreferred).toBe(true);
    const fixed = apply(WEB, fix.edit!.changes![uri]!);
    expect(fixed).toContain('allow tcp from office to any port 22');
    client.change(uri, fixed, 2);
    // Names resolve now, so the rule analysis runs: rule 300 can never match (200 takes its packets).
    const analysed = await client.waitForDiagnostics(uri, (p) => p.diagnostics.some((x) => x.code === 'SEG5001'));
    expect(analysed.diagnostics.some((x) => x.code === 'SEG2001')).toBe(false);
    const shadowed = analysed.diagnostics.find((x) => x.code === 'SEG5001')!;
    expect(shadowed.range.start).toEqual(at(fixed, '300', 0, 0));
    expect(shadowed.relatedInformation?.map((r) => [r.location.uri, r.location.range.start.line])).toEqual([[uri, at(fixed, '200 ssh-office', 0, 0).line]]);

    const removals = await client.connection.sendRequest<CodeAction[]>('textDocument/codeAction', { textDocument: { uri }, range: shadowed.range, context: { diagnostics: [shadowed] } });
    const remove = removals.find((a) => a.title.startsWith('Remove shadowed rule ssh-deny'))!;
    const clean = apply(fixed, remove.edit!.changes![uri]!);
    expect(clean).not.toContain('ssh-deny');
    writeFileSync(join(dir, 'fixed.seg'), clean);
    const check = segcCheck(join(dir, 'fixed.seg'));
    expect(check.stdout + check.stderr).not.toMatch(/error/);
    expect(check.status).toBe(0);
    client.change(uri, clean, 3);
    await client.waitForDiagnostics(uri, (p) => !p.diagnostics.some((x) => x.severity === 1));
  }, 60_000);

  it('goes to a definition, finds references and renames across an include', async () => {
    const uri = uriOf('web.seg');
    const text = apply(WEB, [{ range: { start: at(WEB, 'offce', 0, 0), end: at(WEB, 'offce', 0, 5) }, newText: 'office' }]);
    client.change(uri, text, 10);
    const position = at(text, 'from office', 0, 7);
    const definition = await client.connection.sendRequest<Location>('textDocument/definition', { textDocument: { uri }, position });
    expect(definition).toEqual({ uri: uriOf('common.seg'), range: { start: at(COMMON, 'office', 0, 0), end: at(COMMON, 'office', 0, 6) } });

    const includeDefinition = await client.connection.sendRequest<Location>('textDocument/definition', { textDocument: { uri }, position: at(text, 'common.seg') });
    expect(includeDefinition.uri).toBe(uriOf('common.seg'));

    const refs = await client.connection.sendRequest<Location[]>('textDocument/references', { textDocument: { uri }, position, context: { includeDeclaration: true } });
    expect(refs.map((r) => [r.uri, r.range.start.line]).sort()).toEqual(
      [
        [uriOf('common.seg'), 1],
        [uri, at(text, 'from office', 0).line],
        [uri, at(text, 'from office', 1).line],
      ].sort(),
    );

    const edit = await client.connection.sendRequest<WorkspaceEdit>('textDocument/rename', { textDocument: { uri }, position, newName: 'admins' });
    expect(apply(COMMON, edit.changes![uriOf('common.seg')]!)).toContain('set admins = {');
    const renamed = apply(text, edit.changes![uri]!);
    expect(renamed.match(/\badmins\b/g)).toHaveLength(2);
    expect(renamed).not.toMatch(/ office\b/);

    await expect(client.connection.sendRequest('textDocument/rename', { textDocument: { uri }, position, newName: 'web_tier' })).rejects.toThrow(/'web_tier' is already declared/);
    await expect(client.connection.sendRequest('textDocument/rename', { textDocument: { uri }, position, newName: 'policy' })).rejects.toThrow(/keyword/);
  }, 60_000);

  it('hovers with a set\'s value, a rule\'s summary and an ICMP type\'s meaning', async () => {
    const uri = uriOf('web.seg');
    const text = apply(WEB, [{ range: { start: at(WEB, 'offce', 0, 0), end: at(WEB, 'offce', 0, 5) }, newText: 'office' }]);
    client.change(uri, text, 20);
    const onSet = await client.connection.sendRequest<Hover>('textDocument/hover', { textDocument: { uri }, position: at(text, 'from office', 0, 7) });
    expect(JSON.stringify(onSet.contents)).toContain('`10.20.0.0/16`, `2001:db8:20::/48`');
    const onRule = await client.connection.sendRequest<Hover>('textDocument/hover', { textDocument: { uri }, position: at(text, 'allow tcp from any') });
    expect(JSON.stringify(onRule.contents)).toContain('**rule public-web**: ingress, priority 100, allow');
    const onIcmp = await client.connection.sendRequest<Hover>('textDocument/hover', { textDocument: { uri }, position: at(text, 'echo-request') });
    expect(JSON.stringify(onIcmp.contents)).toContain('ICMP type 8, ICMPv6 type 128');
  }, 60_000);

  it('completes names in scope, keywords and ICMP types where they fit', async () => {
    const uri = uriOf('complete.seg');
    const text = 'include "common.seg"\nset web_tier = 10.0.1.0/24\npolicy ingress {\n  100 a: allow tcp from \n  200 b: allow icmp from any to any icmp \n}\n';
    client.open(uri, text);
    await client.waitForDiagnostics(uri);
    const labels = async (position: { line: number; character: number }) => (await client.connection.sendRequest<CompletionItem[]>('textDocument/completion', { textDocument: { uri }, position })).map((c) => c.label);
    expect(await labels({ line: 3, character: 24 })).toEqual(expect.arrayContaining(['any', 'office', 'web_tier']));
    expect(await labels({ line: 4, character: 41 })).toEqual(expect.arrayContaining(['echo-request', 'destination-unreachable']));
    expect(await labels({ line: 0, character: 9 })).toEqual(expect.arrayContaining(['common.seg', 'web.seg']));
    client.close(uri);
  }, 60_000);

  it('formats a document exactly as segc fmt does', async () => {
    const uri = uriOf('fmt.seg');
    const text = 'set a=10.0.0.0/8\nports   p = {80,443}\npolicy ingress default deny {\n 100 x: allow tcp from a to any port p\n  20000 long-name: deny udp from any to a\n}\n';
    client.open(uri, text);
    const edits = await client.connection.sendRequest<TextEdit[]>('textDocument/formatting', { textDocument: { uri }, options: { tabSize: 2, insertSpaces: true } });
    const formatted = apply(text, edits);
    expect(formatted).toBe(formatSource(createSourceFile('fmt.seg', text)).text);
    writeFileSync(join(dir, 'fmt.seg'), text);
    spawnSync(process.execPath, [join(ROOT, 'bin/segc.js'), 'fmt', join(dir, 'fmt.seg')]);
    expect(formatted).toBe((await import('node:fs')).readFileSync(join(dir, 'fmt.seg'), 'utf8'));
    client.close(uri);
  }, 60_000);

  it('outlines, folds, formats a range and runs a test block from its code lens', async () => {
    const uri = uriOf('outline.seg');
    const text = [
      '# a policy with a test',
      '# in two comment lines',
      'set office = { 10.20.0.0/16,',
      '               10.30.0.0/16 }',
      'policy ingress default deny {',
      '  100 ssh: allow tcp from office to any port 22',
      '  200   web:    allow tcp from any to any port 443',
      '}',
      'test "office reaches ssh" {',
      '  expect allow tcp 10.20.1.5:40000 -> 10.0.1.7:22',
      '  expect deny tcp 192.0.2.1 -> 10.0.1.7:22',
      '  expect allow udp 192.0.2.1 -> 10.0.1.7:53',
      '}',
      '',
    ].join('\n');
    writeFileSync(join(dir, 'outline.seg'), text);
    client.open(uri, text);
    await client.waitForDiagnostics(uri);
    const symbols = await client.connection.sendRequest<{ name: string; children?: { name: string }[] }[]>('textDocument/documentSymbol', { textDocument: { uri } });
    expect(symbols.map((s) => s.name)).toEqual(['office', 'policy ingress', 'test "office reaches ssh"']);
    expect(symbols[1]?.children?.map((c) => c.name)).toEqual(['100 ssh', '200 web']);
    const folds = await client.connection.sendRequest<{ startLine: number; endLine: number; kind?: string }[]>('textDocument/foldingRange', { textDocument: { uri } });
    expect(folds).toEqual(
      expect.arrayContaining([
        { startLine: 0, endLine: 1, kind: 'comment' },
        { startLine: 4, endLine: 6, kind: 'region' },
        { startLine: 8, endLine: 11, kind: 'region' },
      ]),
    );
    // Formatting the range of rule 200 lays out its lines as segc fmt does, and leaves the set
    // declaration above (which fmt would break over lines) as it is.
    const edits = await client.connection.sendRequest<TextEdit[]>('textDocument/rangeFormatting', { textDocument: { uri }, range: { start: { line: 6, character: 0 }, end: { line: 6, character: 10 } }, options: { tabSize: 2, insertSpaces: true } });
    const ranged = apply(text, edits).split('\n');
    expect(ranged.slice(0, 6)).toEqual(text.split('\n').slice(0, 6));
    expect(ranged[6]).toBe('  200 web: allow tcp from any    to any port 443');
    expect((formatSource(createSourceFile('o.seg', text)).text ?? '').split('\n')).toContain(ranged[6]);
    const lenses = await client.connection.sendRequest<{ range: { start: { line: number } }; command: { title: string; command: string; arguments: unknown[] } }[]>('textDocument/codeLens', { textDocument: { uri } });
    expect(lenses.map((l) => [l.range.start.line, l.command.title])).toEqual([
      [4, expect.stringMatching(/^2 rules · \d+ findings?/)],
      [8, '▶ run 3 expectations'],
    ]);
    const run = lenses[1]!.command;
    const summary = await client.connection.sendRequest<{ passed: number; failed: number; failures: string[] }>('workspace/executeCommand', { command: run.command, arguments: run.arguments });
    expect(summary).toEqual({ passed: 2, failed: 1, failures: ['line 12: udp 192.0.2.1 -> 10.0.1.7:53 (ingress): deny by the default'] });
    client.close(uri);
  }, 60_000);

  it('extends an expired rule and adds a missing default with code actions that segc check accepts', async () => {
    const uri = uriOf('expiry.seg');
    const text = 'policy ingress {\n  100 old: allow tcp from any to any port 22 expires 2020-01-31\n}\n';
    client.open(uri, text);
    const published = await client.waitForDiagnostics(uri, (p) => p.diagnostics.some((d) => d.code === 'SEG3103'));
    const expired = published.diagnostics.find((d) => d.code === 'SEG3103')!;
    const actions = await client.connection.sendRequest<CodeAction[]>('textDocument/codeAction', { textDocument: { uri }, range: expired.range, context: { diagnostics: [expired] } });
    const extend = actions.find((a) => /^Extend expiry to \d{4}-\d{2}-\d{2} \(90 days\)$/.test(a.title))!;
    const addDefault = actions.find((a) => a.title === "Add 'default deny' to this ingress policy")!;
    const fixed = apply(apply(text, extend.edit!.changes![uri]!), addDefault.edit!.changes![uri]!);
    expect(fixed).toMatch(/^policy ingress default deny \{\n {2}100 old: allow tcp from any to any port 22 expires \d{4}-\d{2}-\d{2}\n\}\n$/);
    writeFileSync(join(dir, 'expiry.seg'), fixed);
    const check = segcCheck(join(dir, 'expiry.seg'));
    expect(check.stdout).not.toContain('SEG3103');
    expect(check.status).toBe(0);
    client.close(uri);
  }, 60_000);

  it('re-checks the documents that include a file when that file changes, and clears a closed one', async () => {
    const web = uriOf('web.seg');
    const common = uriOf('common.seg');
    const text = apply(WEB, [{ range: { start: at(WEB, 'offce', 0, 0), end: at(WEB, 'offce', 0, 5) }, newText: 'office' }]);
    client.change(web, text, 30);
    client.open(common, COMMON);
    client.change(common, COMMON.replace('set office', 'set offices'), 2);
    const rechecked = await client.waitForDiagnostics(web, (p) => p.diagnostics.some((d) => d.code === 'SEG2001' && String(d.message).includes("'office'")));
    expect(rechecked.diagnostics.filter((d) => d.code === 'SEG2001')).toHaveLength(2);
    client.close(common);
    // Closed, common.seg is read from the disk again, where `office` is declared.
    await client.waitForDiagnostics(web, (p) => !p.diagnostics.some((d) => d.code === 'SEG2001'));
    client.close(web);
    await client.waitForDiagnostics(web, (p) => p.diagnostics.length === 0);
  }, 60_000);

  it('survives bad input: a half-typed file, a self-include, a missing include, binary content, a 5 MB file', async () => {
    const cases: [string, string, string | undefined][] = [
      ['half.seg', 'set a = { 10.0.0.0/8,\npolicy ingress default deny {\n  100 x: allow tcp from a to', 'SEG1'],
      ['self.seg', 'include "self.seg"\nset a = 10.0.0.0/8\n', 'SEG4002'],
      ['missing.seg', 'include "nowhere/none.seg"\n', 'SEG4001'],
      ['binary.seg', String.fromCharCode(...Array.from({ length: 4096 }, (_, i) => (i * 7919) % 256)), 'SEG1001'],
    ];
    for (const [name, text, code] of cases) {
      writeFileSync(join(dir, name), text);
      client.open(uriOf(name), text);
      const p = await client.waitForDiagnostics(uriOf(name));
      if (code !== undefined) expect(p.diagnostics.some((d) => String(d.code).startsWith(code)), name).toBe(true);
      expect(p.diagnostics.length).toBeLessThanOrEqual(1000);
    }
    const rule = (i: number) => `  ${i} r${i}: allow tcp from 10.${(i >> 8) & 255}.${i & 255}.0/24 to any port ${1 + (i % 60000)}\n`;
    let big = 'policy ingress default deny {\n';
    for (let i = 0; big.length < 5_000_000; i++) big += rule(i % 65536) ;
    big += '}\n';
    const bigUri = uriOf('big.seg');
    const bigPublished = client.waitForDiagnostics(bigUri, () => true, 120_000);
    client.open(bigUri, big);
    // The 5 MB file compiles off the message loop: the loop itself answers at once (a command
    // with nothing to do), and a request about another document is answered once the language
    // worker is through with it (it holds every document's compilation).
    const started = performance.now();
    expect(await client.connection.sendRequest('workspace/executeCommand', { command: 'segc.policySummary', arguments: [] })).toBe(null);
    const loopMs = performance.now() - started;
    const symbols = await client.connection.sendRequest<unknown[]>('textDocument/documentSymbol', { textDocument: { uri: uriOf('self.seg') } });
    expect(symbols.length).toBeGreaterThan(0);
    // A bound far above a free loop's answer (ms) and below the 5 MB compile (seconds).
    expect(loopMs).toBeLessThan(5_000);
    const p = await bigPublished;
    expect(p.diagnostics.length).toBeLessThanOrEqual(1000);
    client.close(bigUri);
    expect(client.child.exitCode).toBe(null);
  }, 180_000);

  it('shuts down and exits with code 0', async () => {
    expect(await client.stop()).toBe(0);
  }, 30_000);
});
