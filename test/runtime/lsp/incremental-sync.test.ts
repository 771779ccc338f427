// `segc lsp` re-checking through incremental edits: the real server, a 10k-rule ClassBench
// policy, random edits of the kinds typing makes sent as the ranges an editor sends (several
// per notification, some in bursts, a full-text change now and then, text with characters
// outside the BMP so that UTF-16 positions matter). At checkpoints the published diagnostics
// must equal those of a from-scratch `compile` of the client's text, published the server's way.
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Diagnostic as LspDiagnostic } from 'vscode-languageserver-protocol';
import { TextDocument } from 'vscode-languageserver-textdocument';
import { dayOf } from '../../../compiler/expiry.ts';
import { compile } from '../../../compiler/program.ts';
import { createMemoryHost } from '../../../compiler/source.ts';
import { createDiagnosticsPublisher } from '../../../runtime/lsp/diagnostics.ts';
import { classBenchToSeg, readClassBenchRules } from '../../support/classbench.ts';
import { CORPUS } from '../../support/corpus.ts';
import { startLspClient, type LspClient } from '../../support/lsp-client.ts';
import { createRandom, mutateLine } from '../../support/mutate-policy.ts';

const NOW = '2027-01-10';
const PRELUDE = [
  '# café ✓ 🙂 rules from ClassBench acl1_10K (the emoji is two UTF-16 code units)',
  'set web = { 10.0.0.0/8, 2001:db8::/32 } except { 10.9.0.0/16 }',
  'ports high = { 1024-65535 }',
  'policy egress default deny {',
  '  10 soon: allow tcp from any to web port 443 "🙂 expires" expires 2027-01-20',
  '}',
  '',
].join('\n');
const POLICY = PRELUDE + classBenchToSeg(readClassBenchRules(readFileSync(join(CORPUS, 'classbench-hs1/rules/acl1_10K'), 'utf8'))).replace(/port 1024-65535 /g, 'port high ');
const PATH = '/segc-lsp-incremental/acl1_10K.seg';
const URI = pathToFileURL(PATH).href;

/** What a from-scratch check of `text` publishes, as the server makes publications. */
function expected(text: string): LspDiagnostic[] {
  const { analysis: _, ...compilation } = compile([PATH], createMemoryHost({ [PATH]: text }), { expiry: { today: dayOf(new Date(`${NOW}T00:00:00Z`)), windowDays: 14 } });
  const publisher = createDiagnosticsPublisher('', new Map());
  const snapshot = { root: PATH, generation: 0, compilation };
  return publisher.publish(snapshot, [snapshot]).find((p) => p.uri === URI)!.diagnostics.map(comparable);
}

/** A diagnostic without its documentation link (the server's points into its own docs/). */
function comparable(d: LspDiagnostic): LspDiagnostic {
  const { codeDescription: _, ...rest } = d;
  return rest;
}

/** A random edit of the kinds typing makes, as offsets into `text`. */
function randomEdit(text: string, random: (n: number) => number): { start: number; end: number; text: string } {
  const lineStart = (() => {
    const at = random(text.length);
    return text.lastIndexOf('\n', at - 1) + 1;
  })();
  const nl = text.indexOf('\n', lineStart);
  const lineEnd = nl < 0 ? text.length : nl;
  const at = lineStart + random(lineEnd - lineStart + 1);
  switch (random(9)) {
    case 0:
    case 1:
    case 2:
      return { start: lineStart, end: lineEnd, text: mutateLine(text.slice(lineStart, lineEnd), random) };
    case 3:
      return { start: at, end: at, text: ['a', '1', ' ', '{', '}', ',', '"', '#', 'é', '🙂', 'x'][random(11)]! };
    case 4:
      return { start: at, end: Math.min(lineEnd, at + 1 + random(6)), text: '' };
    case 5:
      return { start: lineEnd, end: lineEnd, text: `\n  ${90000 + random(9000)} allow tcp from any to web port 443` };
    case 6:
      return { start: lineStart, end: Math.min(text.length, lineEnd + 1), text: '' };
    case 7:
      // Typing over a digit: a port or priority changes, the line stays valid.
      return { start: at, end: Math.min(lineEnd, at + 1), text: String(random(10)) };
    default:
      return { start: at, end: at, text: random(2) === 0 ? '\n' : '\n  7 deny udp from { 10.0.0.1,\n    10.0.0.2 } to any' };
  }
}

let client: LspClient;

beforeAll(async () => {
  client = await startLspClient({ env: { SEGC_NOW: NOW }, initializationOptions: { analysis: false } });
}, 60_000);

afterAll(async () => {
  if (client.child.exitCode === null) await client.stop();
});

describe('segc lsp with incremental edits', () => {
  it('publishes, after random edits of a 10k-rule policy, what a from-scratch check of the text gives', async () => {
    const mirror = TextDocument.create(URI, 'seg', 1, POLICY);
    let version = 1;
    client.open(URI, POLICY, version);
    await client.waitForDiagnostics(URI, (p) => p.version === 1, 120_000);
    const random = createRandom(19);
    for (let checkpoint = 0; checkpoint < 6; checkpoint++) {
      for (let n = 0; n < 12; n++) {
        version++;
        if (checkpoint === 3 && n === 0) {
          // A full-text change in the middle of incremental ones.
          const text = mirror.getText().replace(/port (\d+)/, 'port 8');
          TextDocument.update(mirror, [{ text }], version);
          client.change(URI, text, version);
        } else {
          // One to three changes per notification, each in the text the previous one left.
          const changes = [];
          for (let k = 1 + random(3); k > 0; k--) {
            const e = randomEdit(mirror.getText(), random);
            const change = { range: { start: mirror.positionAt(e.start), end: mirror.positionAt(e.end) }, text: e.text };
            TextDocument.update(mirror, [change], version);
            changes.push(change);
          }
          client.edit(URI, version, changes);
        }
        // Most notifications are awaited one by one (each edit re-checked on its own); every
        // fourth is part of a burst that the server coalesces.
        if (n % 4 !== 3) await client.waitForDiagnostics(URI, (p) => p.version === version, 120_000);
      }
      const published = await client.waitForDiagnostics(URI, (p) => p.version === version, 120_000);
      expect(published.diagnostics.map(comparable)).toEqual(expected(mirror.getText()));
    }
    // A file that ends up valid again: back to the original text by edits, clean but for the expiry.
    version++;
    const all = { start: { line: 0, character: 0 }, end: mirror.positionAt(mirror.getText().length) };
    TextDocument.update(mirror, [{ range: all, text: POLICY }], version);
    client.edit(URI, version, [{ range: all, text: POLICY }]);
    const last = await client.waitForDiagnostics(URI, (p) => p.version === version, 120_000);
    expect(last.diagnostics.map(comparable)).toEqual(expected(POLICY));
    expect(last.diagnostics.map((d) => d.code)).toContain('SEG3104');
    // Every edit was applied to the worker's copy as sent: it never had to be sent whole.
    expect(client.logs.filter((m) => m.includes('disagreed'))).toEqual([]);
  }, 600_000);

  it('publishes what a from-scratch check gives when a rule line is broken, a line typed above it, and the rule mended: at the start, middle and end of a block', async () => {
    const uri = pathToFileURL('/segc-lsp-incremental/break-mend.seg').href;
    const path = '/segc-lsp-incremental/break-mend.seg';
    const mirror = TextDocument.create(uri, 'seg', 1, POLICY);
    let version = 1;
    client.open(uri, POLICY, version);
    await client.waitForDiagnostics(uri, (p) => p.version === 1, 120_000);
    const published = (text: string) => {
      const { analysis: _, ...compilation } = compile([path], createMemoryHost({ [path]: text }), { expiry: { today: dayOf(new Date(`${NOW}T00:00:00Z`)), windowDays: 14 } });
      const snapshot = { root: path, generation: 0, compilation };
      return createDiagnosticsPublisher('', new Map()).publish(snapshot, [snapshot]).find((p) => p.uri === uri)!.diagnostics.map(comparable);
    };
    const send = async (start: number, end: number, text: string) => {
      version++;
      const change = { range: { start: mirror.positionAt(start), end: mirror.positionAt(end) }, text };
      TextDocument.update(mirror, [change], version);
      client.edit(uri, version, [change]);
      const got = await client.waitForDiagnostics(uri, (p) => p.version === version, 120_000);
      expect(got.diagnostics.map(comparable)).toEqual(published(mirror.getText()));
      return got.diagnostics;
    };
    const blockStart = POLICY.indexOf('\n', POLICY.indexOf('policy ingress')) + 1;
    const blockEnd = POLICY.lastIndexOf('\n', POLICY.lastIndexOf('\n}') - 1) + 1;
    const middle = POLICY.indexOf('\n', POLICY.length >> 1) + 1;
    const above = '# typed above 🙂\n';
    for (const line of [blockStart, middle, blockEnd]) {
      const at = mirror.getText().indexOf(' from ', line);
      expect((await send(at, at + 6, ' form ')).length).toBeGreaterThan(0);
      await send(0, 0, above);
      await send(at + above.length, at + above.length + 6, ' from ');
      await send(0, above.length, '');
      expect(mirror.getText()).toBe(POLICY);
    }
    client.close(uri);
    expect(client.logs.filter((m) => m.includes('disagreed'))).toEqual([]);
  }, 600_000);
});
