// The front end's output, pinned on ClassBench rule sets: each set as segc text, clean and with
// damage (test/support/mutate-policy.ts), through `compile` (tokenize, parse, buildAst, resolve,
// lower). The snapshot holds, per file, the diagnostics (every code, span, message, hint and
// related span, hashed, and the first ones in full), a hash of the ASTs with their spans and
// the IR's hash: work on the front end's speed must leave every byte of it as it was.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hashProgram } from '../../compiler/hash.ts';
import { compile } from '../../compiler/program.ts';
import { formatHuman } from '../../compiler/report/human.ts';
import { createMemoryHost } from '../../compiler/source.ts';
import { classBenchToSeg, readClassBenchRules } from '../support/classbench.ts';
import { CORPUS } from '../support/corpus.ts';
import { mutatePolicy } from '../support/mutate-policy.ts';

const SETS = [
  'classbench-hs1/rules/acl1_1K',
  'classbench-hs1/rules/fw1_1K',
  'classbench-hs1/rules/ipc1_1K',
  'classbench-neurocuts/acl2_1k',
  'classbench-neurocuts/fw3_1k',
];
/** A set block and named sets in use, so that resolve has names to look up. */
const PRELUDE = 'set web = { 10.0.0.0/8, 2001:db8::/32 } except { 10.9.0.0/16 }\nports high = { 1024-65535 }\n';

function sha256(value: unknown): string {
  return createHash('sha256').update(typeof value === 'string' ? value : JSON.stringify(value)).digest('hex').slice(0, 16);
}

function describeCompilation(label: string, text: string, full: number): string {
  const c = compile(['p.seg'], createMemoryHost({ 'p.seg': text }));
  const codes = new Map<string, number>();
  for (const d of c.diagnostics) codes.set(d.code, (codes.get(d.code) ?? 0) + 1);
  const lines = [
    `== ${label}: ${text.split('\n').length} lines, ${text.length} bytes`,
    `diagnostics ${c.diagnostics.length} (${[...codes].sort().map(([code, n]) => `${code} x${n}`).join(', ') || 'none'}) sha ${sha256(c.diagnostics)}`,
    `asts sha ${sha256([...c.asts])}`,
    `ir ${c.ir ? hashProgram(c.ir) : 'none (errors)'}`,
  ];
  if (full > 0 && c.diagnostics.length > 0) {
    lines.push(formatHuman(c.diagnostics.slice(0, full), c.sources, { color: false }).trimEnd());
  }
  return lines.join('\n') + '\n';
}

describe('the front end on ClassBench sets', () => {
  it('gives the diagnostics, ASTs and IR of its snapshot, clean and damaged', async () => {
    let out = '';
    SETS.forEach((set, i) => {
      const rules = readClassBenchRules(readFileSync(`${CORPUS}/${set}`, 'utf8'));
      const text = PRELUDE + classBenchToSeg(rules).replace(/from (\S+) port 1024-65535 /g, 'from web port high ');
      out += describeCompilation(`${set} clean`, text, 0);
      out += describeCompilation(`${set} damaged (seed ${i + 1})`, mutatePolicy(text, i + 1, 0.03), i === 0 ? 60 : 8);
      out += describeCompilation(`${set} badly damaged (seed ${i + 101})`, mutatePolicy(text, i + 101, 0.3), 0);
    });
    await expect(out).toMatchFileSnapshot(join(import.meta.dirname, 'snapshots/classbench-front-end.txt'));
  }, 60_000);
});
