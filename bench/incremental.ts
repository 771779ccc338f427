// Benchmark of incremental re-checking (prints, never asserts): what the language server pays
// per keystroke in a 10k-rule policy. One edit inside a rule line in the middle of the file,
// then its undo, many times: `applyEdit` (re-parse of the touched lines; the AST and syntax
// diagnostics of the whole file) and `checkDocument` (plus resolve and lower of the whole
// file), next to a parse from scratch of the same text. Minimum and median of the rounds.
// Run: `node bench/incremental.ts [rules]` (default 10000).
import { parseSourceFile } from '../compiler/build-ast.ts';
import { createCollector } from '../compiler/diagnostics.ts';
import { applyEdit, checkDocument, createIncrementalDocument } from '../compiler/incremental.ts';
import { createSourceFile } from '../compiler/source.ts';
import { benchArgs, exitIfDryRun } from './dry-run.ts';
import { generateSyntaxPolicy } from './syntax.ts';

const ROUNDS = 30;
const rules = Number(benchArgs()[0] ?? 10_000);
exitIfDryRun();

const text = generateSyntaxPolicy(rules);
let doc = createIncrementalDocument('bench.seg', text);
// The middle rule line: change its priority's last digit (the rule stays valid), then back;
// and break it (an unknown action), then mend it.
const line = text.indexOf('\n', text.length >> 1) + 1;
const digit = text.indexOf(' ', line + 2) - 1;
const action = text.indexOf(' ', digit + 2) + 1;
const edits = [
  { label: 'a digit typed in a rule line (stays valid)', edit: { start: digit, end: digit + 1, text: '7' }, undo: { start: digit, end: digit + 1, text: text[digit]! } },
  { label: 'a rule line broken (then mended)', edit: { start: action, end: action, text: 'x' }, undo: { start: action, end: action + 1, text: '' } },
];

const stats = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return `min ${s[0]!.toFixed(1).padStart(6)} ms  median ${s[s.length >> 1]!.toFixed(1).padStart(6)} ms`;
};
console.log(`incremental re-check of a ${rules}-rule policy (${text.length} bytes; node ${process.version}; ${ROUNDS} rounds)`);
const scratch: number[] = [];
for (let i = 0; i < 5; i++) {
  const t0 = performance.now();
  parseSourceFile(createSourceFile('bench.seg', text), createCollector());
  scratch.push(performance.now() - t0);
}
console.log(`  ${'parse from scratch (parseSourceFile)'.padEnd(52)} ${stats(scratch)}`);
for (const { label, edit, undo } of edits) {
  const parse: number[] = [];
  const check: number[] = [];
  let local = 0;
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = performance.now();
    doc = applyEdit(doc, edit);
    const t1 = performance.now();
    checkDocument(doc);
    const t2 = performance.now();
    parse.push(t1 - t0);
    check.push(t2 - t0);
    if (doc.incremental) local++;
    doc = applyEdit(doc, undo);
  }
  console.log(`  ${label}`);
  console.log(`    ${'applyEdit (AST and syntax diagnostics)'.padEnd(50)} ${stats(parse)}   (${local}/${ROUNDS} re-parsed locally)`);
  console.log(`    ${'applyEdit + checkDocument (resolve, lower)'.padEnd(50)} ${stats(check)}`);
}
console.log('  (aim: one edit re-checked in under 30 ms)');
