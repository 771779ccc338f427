// Incremental re-parsing (compiler/incremental.ts): random edits to a 10k-rule policy, each
// giving exactly the AST and diagnostics of a from-scratch parse of the new text, and the same
// compilation (diagnostics, IR hash) as `compile` from scratch.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseSourceFile } from '../../compiler/build-ast.ts';
import { createCollector, sortDiagnostics } from '../../compiler/diagnostics.ts';
import { hashProgram } from '../../compiler/hash.ts';
import type { ProgramIr } from '../../compiler/ir.ts';
import { applyEdit, checkDocument, createIncrementalDocument, type IncrementalDocument, type TextEdit } from '../../compiler/incremental.ts';
import { compile } from '../../compiler/program.ts';
import { createMemoryHost, createSourceFile } from '../../compiler/source.ts';
import { classBenchToSeg, readClassBenchRules } from '../support/classbench.ts';
import { CORPUS } from '../support/corpus.ts';
import { createRandom, mutateLine } from '../support/mutate-policy.ts';

const hashOf = (ir: ProgramIr | undefined) => ir && hashProgram(ir);

const PRELUDE = 'set web = { 10.0.0.0/8, 2001:db8::/32 } except { 10.9.0.0/16 }\nports high = { 1024-65535 }\n# rules from ClassBench acl1_10K\n';
const POLICY = PRELUDE + classBenchToSeg(readClassBenchRules(readFileSync(`${CORPUS}/classbench-hs1/rules/acl1_10K`, 'utf8'))).replace(/port 1024-65535 /g, 'port high ');

function fromScratch(text: string): string {
  const collector = createCollector();
  const ast = parseSourceFile(createSourceFile('p.seg', text), collector);
  return JSON.stringify({ ast, diagnostics: sortDiagnostics(collector.items) });
}

function state(doc: IncrementalDocument): string {
  return JSON.stringify({ ast: doc.ast, diagnostics: doc.diagnostics });
}

/** A random edit of the kinds typing makes, mostly inside one line. */
function randomEdit(text: string, random: (n: number) => number): TextEdit {
  const lineStarts = [0];
  for (let i = text.indexOf('\n'); i >= 0 && i + 1 < text.length; i = text.indexOf('\n', i + 1)) lineStarts.push(i + 1);
  const line = random(lineStarts.length);
  const start = lineStarts[line]!;
  const nl = text.indexOf('\n', start);
  const end = nl < 0 ? text.length : nl;
  const at = start + random(end - start + 1);
  switch (random(8)) {
    case 0:
    case 1:
    case 2:
      return { start, end, text: mutateLine(text.slice(start, end), random) };
    case 3:
      return { start: at, end: at, text: ['a', '1', ' ', '{', '}', ',', '"', '#', ';', 'x'][random(10)]! };
    case 4:
      return { start: at, end: Math.min(end, at + 1 + random(6)), text: '' };
    case 5:
      return { start: end, end, text: `\n  ${90000 + random(9000)} allow tcp from any to web port 443` };
    case 6:
      return { start, end: Math.min(text.length, end + 1), text: '' };
    default:
      return { start: at, end: at, text: random(2) === 0 ? '\n' : '\n  7 deny udp from { 10.0.0.1,\n    10.0.0.2 } to any' };
  }
}

/**
 * Random damage that the next call undoes: every other edit is random, the one after it puts
 * the text back (so that the IR exists about half of the time).
 */
function damageThenUndo(random: (n: number) => number): (text: string) => TextEdit {
  let undo: TextEdit | undefined;
  return (text) => {
    if (undo !== undefined) {
      const edit = undo;
      undo = undefined;
      return edit;
    }
    const edit = randomEdit(text, random);
    undo = { start: edit.start, end: edit.start + edit.text.length, text: text.slice(edit.start, edit.end) };
    return edit;
  };
}

describe('incremental re-parsing', () => {
  it('gives, after each random edit of a 10k-rule policy, what a parse from scratch gives', () => {
    let doc = createIncrementalDocument('p.seg', POLICY);
    expect(state(doc)).toBe(fromScratch(POLICY));
    const random = createRandom(2026);
    let incremental = 0;
    const edits = 25;
    for (let i = 0; i < edits; i++) {
      const edit = randomEdit(doc.text, random);
      const expectedText = doc.text.slice(0, edit.start) + edit.text + doc.text.slice(edit.end);
      doc = applyEdit(doc, edit);
      expect(doc.text).toBe(expectedText);
      const expected = fromScratch(doc.text);
      if (state(doc) !== expected) expect({ i, edit, got: state(doc) }).toEqual({ i, edit, got: expected });
      if (doc.incremental) incremental++;
    }
    // Most edits stay inside lines the fast path can redo alone.
    expect(incremental).toBeGreaterThan(edits / 2);
  }, 300_000);

  it('checks the document as compile does from scratch: diagnostics and IR hash', () => {
    let doc = createIncrementalDocument('p.seg', POLICY);
    const clean = hashOf(compile(['p.seg'], createMemoryHost({ 'p.seg': POLICY })).ir);
    expect(clean).toMatch(/^sha256:/);
    const random = createRandom(7);
    for (let i = 0; i < 6; i++) {
      // An edit that breaks a line, then one that mends it (the IR exists again).
      const line = POLICY.indexOf('\n', 20_000 * (i + 1)) + 1;
      const end = doc.text.indexOf('\n', line);
      const original = doc.text.slice(line, end);
      const broken = mutateLine(original, random);
      doc = applyEdit(doc, { start: line, end, text: broken });
      const scratch = compile(['p.seg'], createMemoryHost({ 'p.seg': doc.text }));
      const checked = checkDocument(doc);
      expect(JSON.stringify(checked.diagnostics)).toBe(JSON.stringify(scratch.diagnostics));
      expect(hashOf(checked.ir)).toBe(hashOf(scratch.ir));
      doc = applyEdit(doc, { start: line, end: line + broken.length, text: original });
      const mended = checkDocument(doc);
      expect(hashOf(mended.ir)).toBe(clean);
      expect(mended.diagnostics).toEqual([]);
    }
  }, 120_000);

  it('lowers only changed rules and still gives, after each random edit, the IR and diagnostics of a check from scratch', () => {
    // Rules with value errors (kept by the cache with their diagnostics), rules naming sets whose
    // declaration changes, and a block whose direction flips (the same rule nodes, the other
    // direction).
    const prelude = 'policy egress {\n  65001 allow tcp from 10.0.0.0/8 to any port 99\n  65002 deny udp from any to web port high\n  65003 allow icmp from any to any icmp echo-request\n}\n';
    const text = PRELUDE + prelude + POLICY.slice(PRELUDE.length);
    let doc = createIncrementalDocument('p.seg', text);
    const random = createRandom(20);
    const flip = (): TextEdit => {
      const at = doc.text.indexOf('policy egress');
      if (at >= 0) return { start: at, end: at + 'policy egress'.length, text: 'policy ingress' };
      const back = doc.text.indexOf('policy ingress {');
      return { start: back, end: back + 'policy ingress'.length, text: 'policy egress' };
    };
    // A declaration's value changes (the rules that name it lower differently), then back.
    const redeclare = (): TextEdit => {
      const at = doc.text.indexOf('ports high = { 1024-6553');
      const end = at + 'ports high = { 1024-6553'.length + 1;
      return { start: at, end, text: doc.text.slice(at, end).endsWith('5') ? 'ports high = { 1024-65534' : 'ports high = { 1024-65535' };
    };
    const damage = damageThenUndo(random);
    let withIr = 0;
    for (let i = 0; i < 30; i++) {
      // Random damage, each undone by the next edit; every third edit flips the first block's
      // direction.
      const edit = i % 3 === 2 ? (i % 2 === 0 ? flip() : redeclare()) : damage(doc.text);
      doc = applyEdit(doc, edit);
      const checked = checkDocument(doc);
      const scratch = compile(['p.seg'], createMemoryHost({ 'p.seg': doc.text }));
      expect(JSON.stringify(checked.diagnostics)).toBe(JSON.stringify(scratch.diagnostics));
      expect(JSON.stringify(checked.ir)).toBe(JSON.stringify(scratch.ir));
      if (scratch.ir) withIr++;
    }
    expect(withIr).toBeGreaterThan(5);
    // The cache was in use: it holds the literal rules (almost all of the 10k).
    const { byText } = doc.state.lowerCache;
    expect(byText.ingress.size + byText.egress.size).toBeGreaterThan(9000);
  }, 300_000);

  it('gives the check from scratch on a set-heavy policy after edits of set definitions: values, renames, deletions, duplicates, cycles', () => {
    // Every rule names a set, half of them a port set too: what the re-check reuses (rules
    // lowered with the declarations of an earlier check, names looked up) would be stale after
    // any of these edits if the cache did not see it.
    const random = createRandom(77);
    const lines = ['# set-heavy'];
    for (let i = 0; i < 100; i++) lines.push(`set s${i} = { 10.${i}.${random(256)}.0/24, 2001:db8:${i.toString(16)}::/48 }`);
    for (let i = 0; i < 8; i++) lines.push(`ports p${i} = { ${random(1024)}, ${1024 + random(1000)}-${3000 + random(1000)} }`);
    lines.push('policy ingress default deny {');
    for (let i = 0; i < 5000; i++) {
      // Port ranges, not `{ }` lists: a stray `}` that closes the block early before thousands of
      // lines holding `{` overflows the stack of chevrotain's repetition recovery (a parser bug
      // of its own, from scratch as well, not what this test is about).
      const ports = random(2) === 0 ? `p${random(8)}` : `${random(30000)}-${30000 + random(30000)}`;
      lines.push(`  ${i} ${i % 3 === 0 ? `r${i}: ` : ''}allow tcp from ${random(3) === 0 ? 'any' : `10.${random(256)}.0.0/16`} to s${random(100)} port ${ports}`);
    }
    lines.push('}');
    let doc = createIncrementalDocument('p.seg', `${lines.join('\n')}\n`);
    checkDocument(doc);
    const lineOf = (prefix: string): TextEdit & { line: string } => {
      const start = doc.text.indexOf(`\n${prefix}`) + 1;
      const end = doc.text.indexOf('\n', start) + 1;
      return { start, end, text: '', line: doc.text.slice(start, end) };
    };
    const replaceLine = (prefix: string, by: (line: string) => string): TextEdit => {
      const { start, end, line } = lineOf(prefix);
      return { start, end, text: by(line) };
    };
    // Each edit, then (mostly) its undo: [edit, undo] pairs made against the text of the moment.
    const steps: (() => TextEdit)[] = [
      () => replaceLine('set s7 ', (l) => l.replace('10.7.', '10.77.')), // a value changes
      () => replaceLine('set s7 ', (l) => l.replace('10.77.', '10.7.')),
      () => replaceLine('set s3 ', (l) => l.replace('set s3 ', 'set s3x ')), // renamed: its users name nothing
      () => replaceLine('set s3x ', (l) => l.replace('set s3x ', 'set s3 ')),
      () => ({ ...lineOf('ports p2 '), text: '' }), // deleted
      () => ({ start: lineOf('ports p3 ').start, end: lineOf('ports p3 ').start, text: 'ports p2 = { 22 }\n' }), // back, another value
      () => replaceLine('set s11 ', (l) => l.replace('= {', '= s12 except {')), // now depends on another set
      () => replaceLine('set s12 ', (l) => l.replace('= {', '= s11 except {')), // ... and a cycle
      () => replaceLine('set s12 ', (l) => l.replace('= s11 except {', '= {')),
      () => replaceLine('set s11 ', (l) => l.replace('= s12 except {', '= {')),
      () => ({ start: lineOf('set s20 ').start, end: lineOf('set s20 ').start, text: 'set s21 = { 192.0.2.0/24 }\n' }), // a duplicate first: it wins
      () => ({ ...lineOf('set s21 = { 192'), text: '' }),
      () => replaceLine('set s30 ', () => 'ports s30 = { 80 }\n'), // the name becomes a port set: wrong kind
      () => replaceLine('ports s30 ', (l) => l), // unchanged text, a new node
      () => replaceLine('set s40 ', (l) => l.replace('/24', '/33')), // a bad value: its users are skipped
      () => replaceLine('set s40 ', (l) => l.replace('/33', '/24')),
    ];
    const restore30 = lines.find((l) => l.startsWith('set s30 '))!;
    steps.push(() => replaceLine('ports s30 ', () => `${restore30}\n`));
    let withIr = 0;
    const damage = damageThenUndo(random);
    for (let i = 0; i < steps.length * 3; i++) {
      // Each declaration edit, then a random edit, then its undo (so that the IR exists too).
      const edit = i % 3 === 0 ? steps[i / 3]!() : damage(doc.text);
      doc = applyEdit(doc, edit);
      const checked = checkDocument(doc);
      const scratch = compile(['p.seg'], createMemoryHost({ 'p.seg': doc.text }));
      expect(JSON.stringify(checked.diagnostics)).toBe(JSON.stringify(scratch.diagnostics));
      expect(JSON.stringify(checked.ir)).toBe(JSON.stringify(scratch.ir));
      // What tools read: every symbol's uses, and each reference's target.
      const uses = (c: typeof scratch) => JSON.stringify([...c.resolved.symbols.values()].map((s) => [s.name, s.failed, s.uses]));
      expect(uses(checked)).toBe(uses(scratch));
      if (scratch.ir) withIr++;
    }
    expect(withIr).toBeGreaterThan(10);
  }, 300_000);

  it('gives the check from scratch when a line is broken, the text above it moves, and the line is mended: at the start, middle and end of a block, in a test block and inside sets', () => {
    // Two blocks and a test block; rules with set literals and named sets and ports.
    const random = createRandom(4242);
    const lines = ['# break then mend', 'set web = { 10.0.0.0/8, 2001:db8::/32 } except { 10.9.0.0/16 }', 'set db = { 192.0.2.0/24, 198.51.100.7 }', 'ports high = { 1024-65535 }'];
    const block = (header: string, count: number, base: number) => {
      lines.push(header);
      for (let i = 0; i < count; i++) {
        const src = ['any', 'web', `10.${random(256)}.0.0/16`, `{ 10.${random(256)}.0.1, 10.${random(256)}.0.2 }`][random(4)];
        const ports = ['high', '443', `${random(30000)}-${30000 + random(30000)}`][random(3)];
        lines.push(`  ${base + i} ${i % 4 === 0 ? `r${base + i}: ` : ''}${['allow', 'deny', 'allow log'][random(3)]} tcp from ${src} to db port ${ports}`);
      }
      lines.push('}');
    };
    block('policy ingress default deny {', 1500, 1);
    block('policy egress default allow {', 500, 5001);
    lines.push('test "office" {', '  expect allow tcp 10.1.0.1:40000 -> 192.0.2.9:443', '  expect deny udp 10.1.0.1:40000 -> 192.0.2.9:53', '}');
    const text = `${lines.join('\n')}\n`;
    const lineAt = (n: number) => {
      let start = 0;
      for (let i = 0; i < n; i++) start = text.indexOf('\n', start) + 1;
      return start;
    };
    const ingress = lines.indexOf('policy ingress default deny {');
    const egress = lines.indexOf('policy egress default allow {');
    const testAt = lines.findIndex((l) => l.startsWith('test '));
    const setLiteral = lines.findIndex((l, i) => i > ingress + 700 && l.includes('from { '));
    // Where: [line, what to replace in it, what by] (the break; the mend puts it back).
    const places: [string, number, string, string][] = [
      ['the first rule of a block', ingress + 1, ' tcp ', ' tcpx '],
      ['the middle of a block', ingress + 750, ' from ', ' form '],
      ['the last rule of a block', egress - 2, ' to ', ' '],
      ['the first rule of the second block', egress + 1, 'allow', 'alow'],
      ['the last rule of the last block', testAt - 2, ' port ', ' port port '],
      ['a block header', ingress, ' deny {', ' dney {'],
      ['a closing brace', egress - 1, '}', '} }'],
      ['a test block expectation', testAt + 1, 'expect allow', 'expect alow'],
      ['a test block header', testAt, '"office"', '"office'],
      ['a set declaration (a comma)', 2, ', 198', ' 198'],
      ['a set declaration (an address)', 2, '192.0.2.0/24', '192.0.2.0/2x4'],
      ['a set literal in a rule (a comma)', setLiteral, '.0.1, ', '.0.1 '],
      ['a set literal in a rule (its brace)', setLiteral, ' }', ''],
      ['a set literal in a rule (a brace typed)', setLiteral, 'from {', 'from { {'],
    ];
    let doc = createIncrementalDocument('p.seg', text);
    checkDocument(doc);
    const same = (step: string) => {
      if (state(doc) !== fromScratch(doc.text)) expect({ step, got: state(doc) }).toEqual({ step, got: fromScratch(doc.text) });
      const checked = checkDocument(doc);
      const scratch = compile(['p.seg'], createMemoryHost({ 'p.seg': doc.text }));
      expect({ step, diagnostics: JSON.stringify(checked.diagnostics) }).toEqual({ step, diagnostics: JSON.stringify(scratch.diagnostics) });
      expect({ step, ir: JSON.stringify(checked.ir) }).toEqual({ step, ir: JSON.stringify(scratch.ir) });
      return scratch;
    };
    const above = '# a comment typed above\n';
    for (const [label, line, from, to] of places) {
      const lineStart = lineAt(line);
      const at = text.indexOf(from, lineStart);
      expect(at >= lineStart && at < text.indexOf('\n', lineStart), label).toBe(true);
      // Broken; then a line typed above (everything after moves); mended; the line taken away.
      doc = applyEdit(doc, { start: at, end: at + from.length, text: to });
      expect(same(`${label}: broken`).diagnostics.length, label).toBeGreaterThan(0);
      doc = applyEdit(doc, { start: 0, end: 0, text: above });
      same(`${label}: moved`);
      const moved = at + above.length;
      doc = applyEdit(doc, { start: moved, end: moved + to.length, text: from });
      same(`${label}: mended`);
      doc = applyEdit(doc, { start: 0, end: above.length, text: '' });
      expect(doc.text).toBe(text);
      expect(hashOf(same(`${label}: as it was`).ir), label).toMatch(/^sha256:/);
    }
  }, 300_000);

  it('keeps the rule nodes of the lines an edit did not touch, moved in place', () => {
    const text = POLICY.slice(0, POLICY.indexOf('\n', 60_000) + 1) + '}\n';
    let doc = createIncrementalDocument('p.seg', text);
    const rules = () => doc.ast.declarations.flatMap((d) => (d.kind === 'Policy' ? d.rules : []));
    const before = rules();
    const last = before.at(-1)!;
    const end = last.span.end;
    // A character typed in the first rule line: every later rule is the same node, 1 further on.
    const first = before[0]!.span.start;
    doc = applyEdit(doc, { start: first, end: first, text: '1' });
    const after = rules();
    expect(after.length).toBe(before.length);
    expect(after.at(-1)).toBe(last);
    expect(last.span.end).toBe(end + 1);
    expect(state(doc)).toBe(fromScratch(doc.text));
  });

  it('refuses an edit outside the text, and a document already edited', () => {
    const doc = createIncrementalDocument('p.seg', 'set a = { 10.0.0.0/8 }\n');
    expect(() => applyEdit(doc, { start: 5, end: 99, text: '' })).toThrow(RangeError);
    expect(() => applyEdit(doc, { start: 3, end: 2, text: '' })).toThrow(RangeError);
    const next = applyEdit(doc, { start: 4, end: 5, text: 'b' });
    expect(next.text).toBe('set b = { 10.0.0.0/8 }\n');
    expect(() => applyEdit(doc, { start: 0, end: 0, text: ' ' })).toThrow(/already edited/);
  });

  it('handles edits at both ends of the text and files without a final newline', () => {
    const text = 'policy ingress default deny {\n  1 allow tcp from any to any\n}';
    let doc = createIncrementalDocument('p.seg', text);
    for (const edit of [
      { start: text.length, end: text.length, text: '\n' },
      { start: 0, end: 0, text: '\n# top\n' },
      { start: 0, end: 1, text: '' },
      { start: 31, end: 31, text: 'x' },
      { start: 31, end: 32, text: '' },
    ]) {
      doc = applyEdit(doc, edit);
      expect(state(doc)).toBe(fromScratch(doc.text));
    }
  });
});
