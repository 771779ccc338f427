// Benchmark of incremental re-checking (prints, never asserts): what the language server pays
// per keystroke in a 10k-rule policy. One edit inside a rule line in the middle of the file,
// then its undo, many times (and a line broken then mended there, at the block's first and last
// rule, and in a set declaration): `applyEdit` (re-parse of the touched lines; the AST and syntax
// diagnostics of the whole file) and `checkDocument` (plus resolve and lower: lowering reuses
// the rules whose text did not change, and those that name sets while the declarations are
// as they were, and the values of declarations by their text), next to a parse and a `compile`
// from scratch of the same text, measured in turns (the paired baseline on a noisy machine).
// Two policies: ClassBench acl1_10K (literal addresses, as generated policies mostly are) and
// bench/syntax.ts's (every rule names a set, half of them a port set). Minimum and median
// of the rounds. Run: `node bench/incremental.ts [rules]` (default 10000, the generated one).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseSourceFile } from '../compiler/build-ast.ts';
import { createCollector } from '../compiler/diagnostics.ts';
import { applyEdit, checkDocument, createIncrementalDocument, type IncrementalDocument, type TextEdit } from '../compiler/incremental.ts';
import { compile } from '../compiler/program.ts';
import { createMemoryHost, createSourceFile } from '../compiler/source.ts';
import { classBenchToSeg, readClassBenchRules } from '../test/support/classbench.ts';
import { CORPUS } from '../test/support/corpus.ts';
import { benchArgs, exitIfDryRun } from './dry-run.ts';
import { generateSyntaxPolicy } from './syntax.ts';

const ROUNDS = 30;
const CLASSBENCH = join(CORPUS, 'classbench-hs1/rules/acl1_10K');
const rules = Number(benchArgs()[0] ?? 10_000);
exitIfDryRun([CLASSBENCH]);

const stats = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return `min ${s[0]!.toFixed(1).padStart(6)} ms  median ${s[s.length >> 1]!.toFixed(1).padStart(6)} ms`;
};
const cpuMs = () => {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1000;
};

function benchPolicy(label: string, text: string): void {
  console.log(`${label} (${text.length} bytes; node ${process.version}; ${ROUNDS} rounds)`);
  let doc: IncrementalDocument = createIncrementalDocument('bench.seg', text);
  checkDocument(doc);
  // The middle rule line's last digit before a space (a priority or a port: the rule stays
  // valid, so the whole check runs), then back; and the rule line broken, then mended: in the
  // middle, at the block's first rule (every rule after it moves) and at its last; and a set
  // declaration broken, then mended (every rule naming a set is lowered again).
  const line = text.indexOf('\n', text.length >> 1) + 1;
  const digit = text.indexOf(' ', line + 2) - 1;
  const broken = (label: string, at: number) => {
    const word = text.indexOf(' ', text.indexOf(' ', at + 2) + 1) + 1;
    return { label, edit: { start: word, end: word, text: 'x' }, undo: { start: word, end: word + 1, text: '' } };
  };
  const first = text.indexOf('\n', text.indexOf('policy ')) + 1;
  const last = text.lastIndexOf('\n', text.lastIndexOf('\n}') - 1) + 1;
  const edits: { label: string; edit: TextEdit; undo: TextEdit }[] = [
    { label: 'a digit typed in a rule line (stays valid)', edit: { start: digit, end: digit + 1, text: '7' }, undo: { start: digit, end: digit + 1, text: text[digit]! } },
    broken('a rule line broken (then mended)', line),
    broken("the block's first rule line broken (then mended)", first),
    broken("the block's last rule line broken (then mended)", last),
  ];
  const set = text.search(/^set .*, /m);
  if (set >= 0) {
    const comma = text.indexOf(', ', set);
    edits.push({ label: 'a set declaration broken (then mended)', edit: { start: comma, end: comma + 1, text: '' }, undo: { start: comma, end: comma, text: ',' } });
  }
  const parse: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    parseSourceFile(createSourceFile('bench.seg', text), createCollector());
    parse.push(performance.now() - t0);
  }
  console.log(`  ${'parse from scratch (parseSourceFile)'.padEnd(52)} ${stats(parse)}`);
  for (const { label, edit, undo } of edits) {
    const applied: number[] = [];
    const checked: number[] = [];
    const scratch: number[] = [];
    let cpuChecked = 0;
    let cpuScratch = 0;
    let local = 0;
    for (let r = 0; r < ROUNDS; r++) {
      const c0 = cpuMs();
      const t0 = performance.now();
      doc = applyEdit(doc, edit);
      const t1 = performance.now();
      checkDocument(doc);
      const t2 = performance.now();
      const c1 = cpuMs();
      compile(['bench.seg'], createMemoryHost({ 'bench.seg': doc.text }));
      const t3 = performance.now();
      cpuChecked += c1 - c0;
      cpuScratch += cpuMs() - c1;
      applied.push(t1 - t0);
      checked.push(t2 - t0);
      scratch.push(t3 - t2);
      if (doc.incremental) local++;
      doc = applyEdit(doc, undo);
      checkDocument(doc);
    }
    console.log(`  ${label}`);
    console.log(`    ${'applyEdit (AST and syntax diagnostics)'.padEnd(50)} ${stats(applied)}   (${local}/${ROUNDS} re-parsed locally)`);
    console.log(`    ${'applyEdit + checkDocument (resolve, lower)'.padEnd(50)} ${stats(checked)}   CPU ${(cpuChecked / ROUNDS).toFixed(1)} ms/edit`);
    console.log(`    ${'compile from scratch, in turns (the baseline)'.padEnd(50)} ${stats(scratch)}   CPU ${(cpuScratch / ROUNDS).toFixed(1)} ms/edit`);
  }
}

benchPolicy('incremental re-check of ClassBench acl1_10K', classBenchToSeg(readClassBenchRules(readFileSync(CLASSBENCH, 'utf8'))));
benchPolicy(`incremental re-check of a generated ${rules}-rule policy (bench/syntax.ts: every rule names a set)`, generateSyntaxPolicy(rules));
console.log('  (aim: one edit re-checked in under 30 ms)');
