// `segc check --format json` on ClassBench sets, clean and damaged, pinned by a snapshot written
// before the front end's representation changed (spans, AST nodes): the whole command's output,
// diagnostics of every stage and the rule analysis' findings with their spans, related spans
// and hints, must stay byte for byte what it was. The snapshot holds, per file, the exit code,
// the count of each code, a hash of the whole output and its first diagnostics in full.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createMemoryIo } from '../../../runtime/cli/io.ts';
import { run } from '../../../runtime/cli/main.ts';
import { classBenchToSeg, readClassBenchRules } from '../../support/classbench.ts';
import { CORPUS } from '../../support/corpus.ts';
import { mutatePolicy } from '../../support/mutate-policy.ts';

const SETS = ['classbench-hs1/rules/acl1_1K', 'classbench-hs1/rules/fw1_1K', 'classbench-neurocuts/fw3_1k'];
/** Named sets and port sets in use, as in front-end-classbench.test.ts, so that resolve has names to look up. */
const PRELUDE = 'set web = { 10.0.0.0/8, 2001:db8::/32 } except { 10.9.0.0/16 }\nports high = { 1024-65535 }\n';
/** How many diagnostics of each file the snapshot shows in full (the hash covers them all). */
const SHOWN = 12;

interface JsonReport {
  readonly diagnostics: readonly unknown[];
}

async function describeCheck(label: string, text: string): Promise<string> {
  const io = createMemoryIo({ 'p.seg': text });
  // A budget far beyond what the analysis takes (well under a second a set), so that a loaded
  // machine never stops it early and changes the output.
  const code = await run(['check', '--format', 'json', '--analysis-budget', '50000', 'p.seg'], io);
  const out = io.out();
  const report = JSON.parse(out) as JsonReport;
  const codes = new Map<string, number>();
  for (const d of report.diagnostics) {
    const c = (d as { code: string }).code;
    codes.set(c, (codes.get(c) ?? 0) + 1);
  }
  return [
    `== ${label}: exit ${code}, ${report.diagnostics.length} diagnostics (${[...codes].sort().map(([c, n]) => `${c} x${n}`).join(', ') || 'none'})`,
    `output sha ${createHash('sha256').update(out).digest('hex').slice(0, 16)}, stderr ${JSON.stringify(io.err())}`,
    ...report.diagnostics.slice(0, SHOWN).map((d) => JSON.stringify(d)),
  ].join('\n') + '\n';
}

describe('segc check --format json on ClassBench sets', () => {
  it('gives the output of its snapshot, clean and damaged', async () => {
    let out = '';
    for (const [i, set] of SETS.entries()) {
      const rules = readClassBenchRules(readFileSync(`${CORPUS}/${set}`, 'utf8'));
      const text = PRELUDE + classBenchToSeg(rules).replace(/from (\S+) port 1024-65535 /g, 'from web port high ');
      out += await describeCheck(`${set} clean`, text);
      out += await describeCheck(`${set} damaged (seed ${i + 1})`, mutatePolicy(text, i + 1, 0.03));
      out += await describeCheck(`${set} badly damaged (seed ${i + 201})`, mutatePolicy(text, i + 201, 0.3));
    }
    await expect(out).toMatchFileSnapshot(join(import.meta.dirname, 'snapshots/check-json-classbench.txt'));
  }, 120_000);
});
