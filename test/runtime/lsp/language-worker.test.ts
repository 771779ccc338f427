// The language worker in process (createLanguageWorker): documents kept from the client's edits,
// compiled through the incremental document; a copy that disagrees with the client's is not
// compiled but asked for whole; closing a document forgets its text.
import { describe, expect, it } from 'vitest';
import { compile } from '../../../compiler/program.ts';
import { createMemoryHost } from '../../../compiler/source.ts';
import { createDiagnosticsPublisher } from '../../../runtime/lsp/diagnostics.ts';
import type { WorkerReply } from '../../../runtime/lsp/language-worker.ts';
import { startLanguageWorker } from '../../support/language-worker-session.ts';

const PATH = '/segc-worker-test/p.seg';
const TEXT = 'policy ingress default deny {\n  10 allow tcp from any to any port 22\n}\n';


const codes = (reply: WorkerReply) => reply.publish?.flatMap((p) => p.diagnostics.map((d) => d.code)) ?? [];

describe('language worker', () => {
  it('compiles a document from its text and then from the edits the client sent', () => {
    const send = startLanguageWorker();
    send({ type: 'document', path: PATH, version: 1, change: { kind: 'full', text: TEXT }, length: TEXT.length });
    expect(codes(send({ type: 'compile', root: PATH, generation: 1, analysis: false }))).toEqual([]);
    // `port 22` becomes `port 99999` (out of range), in two edits of one change.
    const at = TEXT.indexOf('22');
    const edited = TEXT.slice(0, at) + '99999' + TEXT.slice(at + 2);
    send({ type: 'document', path: PATH, version: 2, change: { kind: 'edits', edits: [{ start: at, end: at + 2, text: '999' }, { start: at + 3, end: at + 3, text: '99' }] }, length: edited.length });
    const reply = send({ type: 'compile', root: PATH, generation: 2, analysis: true });
    expect(codes(reply)).toEqual(['SEG3005']);
    expect(reply.publish?.[0]?.version).toBe(2);
    // A front-end error: no analysis, so no texts go back for it.
    expect(reply.analysisTexts).toBeUndefined();
  });

  it('asks for the whole text of a document whose copy disagrees, then compiles it', () => {
    const send = startLanguageWorker();
    send({ type: 'document', path: PATH, version: 1, change: { kind: 'full', text: TEXT }, length: TEXT.length });
    // The client says the text is one character longer than the edit makes it: a bug somewhere.
    send({ type: 'document', path: PATH, version: 2, change: { kind: 'edits', edits: [{ start: 0, end: 0, text: '# c\n' }] }, length: TEXT.length + 5 });
    expect(send({ type: 'compile', root: PATH, generation: 2, analysis: true })).toMatchObject({ resync: [PATH] });
    // Edits to a broken copy are dropped until the whole text comes.
    send({ type: 'document', path: PATH, version: 3, change: { kind: 'edits', edits: [{ start: 0, end: 0, text: 'x' }] }, length: TEXT.length + 6 });
    expect(send({ type: 'compile', root: PATH, generation: 3, analysis: true })).toMatchObject({ resync: [PATH] });
    const whole = '# c\n' + TEXT;
    send({ type: 'document', path: PATH, version: 3, change: { kind: 'full', text: whole }, length: whole.length });
    const reply = send({ type: 'compile', root: PATH, generation: 3, analysis: true });
    expect(reply.resync).toBeUndefined();
    expect(codes(reply)).toEqual([]);
    expect(reply.analysisTexts?.get(PATH)).toBe(whole);
  });

  it('compiles two open documents, one including the other, as from scratch while the included one is broken, moved and mended', () => {
    // The included document's rule nodes are moved in place by each edit (compiler/incremental.ts)
    // while the other root's compilation still holds them: once both roots are compiled again,
    // what is published for both files is what a check from scratch publishes.
    const a = '/segc-worker-test/a.seg';
    const b = '/segc-worker-test/b.seg';
    const aText = 'include "b.seg"\npolicy egress default allow {\n  1 deny tcp from any to web port 25\n}\n';
    const rules = Array.from({ length: 300 }, (_, i) => `  ${i + 1} allow tcp from ${i % 2 === 0 ? 'web' : `10.${i}.0.0/16`} to any port ${1000 + i}`);
    let bText = `set web = { 10.0.0.0/8 }\npolicy ingress default deny {\n${rules.join('\n')}\n}\n`;
    const send = startLanguageWorker();
    const published = new Map<string, unknown>();
    const compileRoot = (root: string, generation: number) => {
      for (const p of send({ type: 'compile', root, generation, analysis: false }).publish ?? []) published.set(p.uri, p.diagnostics);
    };
    const expected = () => {
      const host = createMemoryHost({ [a]: aText, [b]: bText });
      const snapshots = [a, b].map((root) => ({ root, generation: 0, compilation: compile([root], host) }));
      const publisher = createDiagnosticsPublisher('', new Map());
      const out = new Map<string, unknown>();
      for (const s of snapshots) for (const p of publisher.publish(s, snapshots)) out.set(p.uri, p.diagnostics);
      return out;
    };
    send({ type: 'document', path: a, version: 1, change: { kind: 'full', text: aText }, length: aText.length });
    send({ type: 'document', path: b, version: 1, change: { kind: 'full', text: bText }, length: bText.length });
    compileRoot(a, 1);
    compileRoot(b, 1);
    const middle = bText.indexOf('  150 allow');
    const edits = [
      { start: middle + 8, end: middle + 8, text: 'x' }, // `allxow`: broken
      { start: 0, end: 0, text: '# moved\n' }, // every rule after moves
      { start: middle + 8 + 8, end: middle + 8 + 9, text: '' }, // mended
      { start: bText.indexOf('10.0.0.0/8') + 8 + 8, end: bText.indexOf('10.0.0.0/8') + 8 + 9, text: '9' }, // the set's address broken: 10.0.0.09
      { start: 0, end: 8, text: '' }, // the line above taken away
    ];
    let version = 1;
    for (const edit of edits) {
      version++;
      bText = bText.slice(0, edit.start) + edit.text + bText.slice(edit.end);
      send({ type: 'document', path: b, version, change: { kind: 'edits', edits: [edit] }, length: bText.length });
      // As the server does: every root whose compilation holds the changed file, the file's own first.
      compileRoot(b, version);
      compileRoot(a, version);
      const strip = (m: Map<string, unknown>) => JSON.stringify([...m].sort(([x], [y]) => x.localeCompare(y)).map(([uri, ds]) => [uri, (ds as { codeDescription?: unknown }[]).map(({ codeDescription: _, ...d }) => d)]));
      expect(strip(published)).toBe(strip(expected()));
    }
    expect([...published.values()].some((ds) => (ds as unknown[]).length > 0)).toBe(true);
  });

  it('parses a long burst of edits as one text and forgets a closed document', () => {
    const send = startLanguageWorker();
    send({ type: 'document', path: PATH, version: 1, change: { kind: 'full', text: TEXT }, length: TEXT.length });
    send({ type: 'compile', root: PATH, generation: 1, analysis: false });
    // Twenty keystrokes typing a comment at the top: more than the worker applies one by one.
    let text = TEXT;
    for (let i = 0; i < 20; i++) {
      text = 'x' + text;
      send({ type: 'document', path: PATH, version: 2 + i, change: { kind: 'edits', edits: [{ start: 0, end: 0, text: 'x' }] }, length: text.length });
    }
    const reply = send({ type: 'compile', root: PATH, generation: 2, analysis: false });
    expect(codes(reply)).not.toEqual([]);
    expect(reply.publish?.[0]?.version).toBe(21);
    send({ type: 'close', root: PATH });
    // Its text is gone: the path is read from the disk, where it does not exist.
    expect(codes(send({ type: 'compile', root: PATH, generation: 3, analysis: false }))).toEqual(['SEG4001']);
  });
});
