// The language worker in process (createLanguageWorker): documents kept from the client's edits,
// compiled through the incremental document; a copy that disagrees with the client's is not
// compiled but asked for whole; closing a document forgets its text.
import { describe, expect, it } from 'vitest';
import { createLanguageWorker, type WorkerReply, type WorkerRequest } from '../../../runtime/lsp/language-worker.ts';

const PATH = '/segc-worker-test/p.seg';
const TEXT = 'policy ingress default deny {\n  10 allow tcp from any to any port 22\n}\n';

/** A request without its id (distributed over the union, so each kind keeps its fields). */
type Unsent = WorkerRequest extends infer R ? (R extends WorkerRequest ? Omit<R, 'id'> : never) : never;

function start() {
  const worker = createLanguageWorker();
  let id = 0;
  const send = (request: Unsent): WorkerReply => worker.handle({ ...request, id: ++id } as WorkerRequest);
  send({ type: 'init', config: { docsUri: '', expiry: { today: 20_000, windowDays: 14 } } });
  return send;
}

const codes = (reply: WorkerReply) => reply.publish?.flatMap((p) => p.diagnostics.map((d) => d.code)) ?? [];

describe('language worker', () => {
  it('compiles a document from its text and then from the edits the client sent', () => {
    const send = start();
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
    const send = start();
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

  it('parses a long burst of edits as one text and forgets a closed document', () => {
    const send = start();
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
