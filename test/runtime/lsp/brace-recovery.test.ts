// The language worker as a user types: a comma deleted from a list in a rule is one diagnostic
// while the line is broken (the block goes on: a later mistake is still published), and the
// publication after each keystroke is a compile from scratch's (compiler/parser.ts `lineEnd`).
import { describe, expect, it } from 'vitest';
import { compile } from '../../../compiler/program.ts';
import { createMemoryHost } from '../../../compiler/source.ts';
import type { WorkerReply } from '../../../runtime/lsp/language-worker.ts';
import { startLanguageWorker } from '../../support/language-worker-session.ts';

const PATH = '/segc-brace-recovery-test/p.seg';
const TEXT = [
  'policy ingress default deny {',
  '  100 allow tcp from { 10.0.0.0/8, 192.168.0.0/16 } to any port { 80, 443 }',
  '  200 allow udp from any to any port 53',
  '  200 allow tcp from any to any port 22',
  '}',
  '',
].join('\n');


const published = (reply: WorkerReply) => reply.publish?.flatMap((p) => p.diagnostics.map((d) => `${d.code} ${d.range.start.line}:${d.range.start.character}`)) ?? [];

function fromScratch(text: string): string[] {
  const at = (offset: number) => {
    const before = text.slice(0, offset).split('\n');
    return `${before.length - 1}:${before.at(-1)!.length}`;
  };
  return compile([PATH], createMemoryHost({ [PATH]: text })).diagnostics.map((d) => `${d.code} ${at(d.span.start)}`);
}

describe('language worker: a broken list while typing', () => {
  it('publishes one diagnostic for the list and still the later rule\'s, keystroke by keystroke', () => {
    const send = startLanguageWorker();
    let text = TEXT;
    let version = 1;
    send({ type: 'document', path: PATH, version, change: { kind: 'full', text }, length: text.length });
    expect(published(send({ type: 'compile', root: PATH, generation: version, analysis: false }))).toEqual(['SEG3009 3:2']);
    const edit = (start: number, end: number, insert: string): string[] => {
      text = text.slice(0, start) + insert + text.slice(end);
      version++;
      send({ type: 'document', path: PATH, version, change: { kind: 'edits', edits: [{ start, end, text: insert }] }, length: text.length });
      const got = published(send({ type: 'compile', root: PATH, generation: version, analysis: false }));
      expect(got).toEqual(fromScratch(text));
      return got;
    };
    // The port list's comma deleted, then typed again; then the address list's.
    const port = text.indexOf('80,') + 2;
    expect(edit(port, port + 1, '')).toEqual(['SEG1005 1:69', 'SEG3009 3:2']);
    expect(edit(port, port, ',')).toEqual(['SEG3009 3:2']);
    const address = text.indexOf('/8,') + 2;
    expect(edit(address, address + 1, '')).toEqual(['SEG1004 1:34', 'SEG3009 3:2']);
    // A brace typed into the broken list, then taken away, then the comma back.
    const brace = text.indexOf('} to');
    expect(edit(brace, brace, '} ')).toEqual(fromScratch(text));
    expect(edit(brace, brace + 2, '')).toEqual(['SEG1004 1:34', 'SEG3009 3:2']);
    expect(edit(address, address, ',')).toEqual(['SEG3009 3:2']);
  });
});
