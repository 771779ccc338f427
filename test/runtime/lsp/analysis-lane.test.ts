// The analysis lane of document-analysis.ts with its real worker thread: a job started right
// after a cancel gets its own reply, not the cancelled thread's exit (which used to settle it
// as "no reply", so the new text never got its analysis published).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createAnalysisLane } from '../../../runtime/lsp/document-analysis.ts';
import { classBenchToSeg, readClassBenchRules } from '../../support/classbench.ts';
import { CORPUS } from '../../support/corpus.ts';

describe('the analysis lane', () => {
  it('settles a job started after a cancel with its own reply, whenever the cancelled thread exits', async () => {
    const big = classBenchToSeg(readClassBenchRules(readFileSync(join(CORPUS, 'classbench-hs1/rules/acl1_10K'), 'utf8')));
    const small = 'policy p {\n  default deny\n  10 allow tcp from any to 10.0.0.1 port 22\n}\n';
    const lane = createAnalysisLane();
    try {
      for (let round = 0; round < 3; round++) {
        const first = lane.run({ root: '/a.seg', texts: new Map([['/a.seg', big]]), budgetMs: 60_000 });
        // Let the first job's thread start its analysis, then cancel it and start the next job at once.
        await new Promise((resolve) => setTimeout(resolve, 300));
        lane.cancel();
        expect(await first).toBeUndefined();
        const second = await lane.run({ root: '/b.seg', texts: new Map([['/b.seg', small]]), budgetMs: 60_000 });
        expect(second?.ok, JSON.stringify(second)).toBe(true);
      }
    } finally {
      await lane.dispose();
    }
  }, 120_000);
});
