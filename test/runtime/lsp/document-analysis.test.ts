// document-analysis.ts with its real worker threads, in process: a change while the rule
// analysis of a 10k-rule ClassBench policy runs cancels that run (its text never gets an
// analysis publication), and the new text gets both phases.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { PublishDiagnosticsParams } from 'vscode-languageserver';
import { createDocumentAnalysis, type OpenDocument } from '../../../runtime/lsp/document-analysis.ts';
import { classBenchToSeg, readClassBenchRules } from '../../support/classbench.ts';
import { CORPUS } from '../../support/corpus.ts';

describe('document analysis', () => {
  it('cancels the analysis of a text that changed and publishes both phases of the new one', async () => {
    const text = classBenchToSeg(readClassBenchRules(readFileSync(join(CORPUS, 'classbench-hs1/rules/acl1_10K'), 'utf8')));
    const path = '/segc-test/acl1_10K.seg';
    let doc: OpenDocument = { path, text, version: 1 };
    const published: PublishDiagnosticsParams[] = [];
    let notify = () => {};
    const analysis = createDocumentAnalysis({
      documents: () => [doc],
      publish: (params) => {
        published.push(...params);
        notify();
      },
      analysisBudgetMs: 60_000,
      analysis: true,
      config: { docsUri: 'file:///docs/diagnostics.md', expiry: { today: 20_000, windowDays: 14 } },
    });
    const until = (accept: () => boolean) =>
      new Promise<void>((resolve) => {
        const check = () => (accept() ? resolve() : undefined);
        notify = check;
        check();
      });
    const versions = () => published.map((p) => p.version);
    try {
      analysis.edited(path, 1, { kind: 'full', text });
      await until(() => versions().includes(1));
      // The front phase of version 1 is out and its analysis (seconds on 10k rules) is running.
      // The change comes as an edit (the worker re-parses its line).
      const port = /port (\d+)/.exec(text)!;
      const start = port.index + 'port '.length;
      doc = { path, text: text.slice(0, start) + '1' + text.slice(start + port[1]!.length), version: 2 };
      analysis.edited(path, 2, { kind: 'edits', edits: [{ start, end: start + port[1]!.length, text: '1' }] });
      await until(() => versions().filter((v) => v === 2).length === 2);
      expect(versions()).toEqual([1, 2, 2]);
    } finally {
      await analysis.dispose();
    }
  }, 240_000);
});
