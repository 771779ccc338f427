// Recovery from a broken `{ }` literal on a statement's line (docs/front-end.md, "Recovery"):
// the `}` that closes a brace the broken line opened belongs to that line, so one missing
// comma is one diagnostic and the block goes on; later rules are still parsed and checked.
// Each case goes through the three parsers, which must agree: `compile` (the fast path of rule
// lines, the grammar for the rest), the grammar alone over every token, and the incremental
// document of the language server, broken from the valid text by one edit and mended again.
import { describe, expect, it } from 'vitest';
import { buildAst, parseSourceFile } from '../../compiler/build-ast.ts';
import { createCollector, sortDiagnostics, type Diagnostic } from '../../compiler/diagnostics.ts';
import { applyEdit, checkDocument, createIncrementalDocument } from '../../compiler/incremental.ts';
import { tokenize } from '../../compiler/lexer.ts';
import { parseRuleLines } from '../../compiler/parse-rule-lines.ts';
import { parse } from '../../compiler/parser.ts';
import { compile } from '../../compiler/program.ts';
import { createMemoryHost, createSourceFile } from '../../compiler/source.ts';

/**
 * A policy whose `@LINE@` holds the case's line, whose later rules hold two mistakes of later
 * stages (an unknown set, a priority used twice) and whose test block's later line holds a bad
 * packet: each must still be reported, so the block must not have ended at the broken line.
 */
const TEMPLATE = [
  'set web = { 10.0.1.0/24, 10.0.2.0/24 }',
  '@SET@',
  'policy ingress default deny {',
  '  100 allow tcp from any to web port 443',
  '@LINE@',
  '  200 allow udp from any to nosuch port 53',
  '  200 allow tcp from any to any port 22',
  '}',
  'test "office" {',
  '  expect allow tcp 10.0.0.1:40000 -> 10.0.1.5:443',
  '@EXPECT@',
  '  expect deny tcp 10.0.0.1 -> nowhere',
  '}',
  '',
].join('\n');

const VALID = { set: 'set db = { 10.0.0.0/8, 192.168.0.0/16 }', line: '  150 allow tcp from any to any port { 80, 443 }', expect: '  expect allow tcp 10.0.0.1:40000 -> 10.0.2.5:443' };

function policy(parts: Partial<typeof VALID>): string {
  const p = { ...VALID, ...parts };
  return TEMPLATE.replace('@SET@', p.set).replace('@LINE@', p.line).replace('@EXPECT@', p.expect);
}

/** The diagnostics the later lines give in every case (the block and the test block went on). */
const LATER = [
  ['SEG2001', 'nosuch'],
  ['SEG3009', '200'],
  ['SEG3102', 'tcp 10.0.0.1 -> nowhere'],
];

function described(text: string, diagnostics: readonly Diagnostic[]): string[][] {
  return diagnostics.map((d) => [d.code, text.slice(d.span.start, d.span.end)]);
}

/** The grammar over every token, and the batch front end: their ASTs and diagnostics. */
function grammarAndFastPath(text: string): { fast: string; grammar: string } {
  const file = createSourceFile('p.seg', text);
  const fast = createCollector();
  const fastAst = parseSourceFile(file, fast);
  const grammar = createCollector();
  const { tokens, comments } = tokenize(file, grammar);
  const grammarAst = buildAst(file, parse(file, tokens, grammar), comments);
  return {
    fast: JSON.stringify({ ast: fastAst, diagnostics: sortDiagnostics(fast.items) }),
    grammar: JSON.stringify({ ast: grammarAst, diagnostics: sortDiagnostics(grammar.items) }),
  };
}

/** A case: what it changes of the valid policy, and its one syntax error ([code, the text at its span]). */
interface BrokenCase {
  readonly label: string;
  readonly parts: Partial<typeof VALID>;
  readonly error: readonly [string, string];
}

const CASES: readonly BrokenCase[] = [
  { label: 'a port list missing a comma', parts: { line: '  150 allow tcp from any to any port { 80 443 }' }, error: ['SEG1005', '443'] },
  { label: 'a source port list missing a comma', parts: { line: '  150 allow tcp from any port { 1024-2047 4096 } to any port 443' }, error: ['SEG1004', '4096'] },
  { label: 'an address literal missing a comma', parts: { line: '  150 allow tcp from { 10.0.0.0/8 192.168.0.0/16 } to web port 443' }, error: ['SEG1004', '192.168.0.0/16'] },
  { label: 'a nested address literal missing a comma', parts: { line: '  150 allow tcp from { 10.0.0.0/8, { 10.1.0.0/16 10.2.0.0/16 } } to web' }, error: ['SEG1004', '10.2.0.0/16'] },
  { label: 'an address literal with an except missing its comma', parts: { line: '  150 deny tcp from any to { web except 10.0.1.7 10.0.2.7 } port 22' }, error: ['SEG1005', '10.0.2.7'] },
  { label: 'a protocol list missing a comma', parts: { line: '  150 allow { tcp udp } from any to web port 53' }, error: ['SEG1004', 'udp'] },
  { label: 'a literal with a word typed into it', parts: { line: '  150 allow tcp from { 10.0.0.1, 10.0.0.2 to } web port 443' }, error: ['SEG1005', 'to'] },
  { label: 'a rule with a stray word and a literal after it', parts: { line: '  150 allow tcp from any to any port 443 extra { 1, 2 }' }, error: ['SEG1004', 'extra'] },
  { label: 'a line that starts no rule, with a literal', parts: { line: '  allow tcp from any to { 10.0.0.1 10.0.0.2 }' }, error: ['SEG1004', 'allow'] },
  { label: 'a set declaration on one line missing a comma', parts: { set: 'set db = { 10.0.0.0/8 192.168.0.0/16 }' }, error: ['SEG1005', '192.168.0.0/16'] },
  { label: 'a set declaration over several lines missing a comma', parts: { set: 'set db = {\n  10.0.0.0/8\n  192.168.0.0/16\n}' }, error: ['SEG1005', '192.168.0.0/16'] },
  { label: 'a test block line with a literal', parts: { expect: '  expect allow tcp 10.0.0.1:40000 -> { 10.0.2.5:443 }' }, error: ['SEG1004', '}'] },
];

describe('recovery from a broken literal on a line', () => {
  for (const c of CASES) {
    it(`${c.label}: one diagnostic, the block goes on, the same through every parser`, () => {
      const text = policy(c.parts);
      const compiled = compile(['p.seg'], createMemoryHost({ 'p.seg': text }));
      const syntax = compiled.diagnostics.filter((d) => d.code.startsWith('SEG1'));
      expect(described(text, syntax)).toEqual([c.error]);
      expect(described(text, compiled.diagnostics.filter((d) => !d.code.startsWith('SEG1')))).toEqual(LATER);

      const { fast, grammar } = grammarAndFastPath(text);
      expect(fast).toBe(grammar);
      // The fast path still takes the valid rule lines after the broken one.
      const file = createSourceFile('p.seg', text);
      const { tokens } = tokenize(file, createCollector());
      expect(parseRuleLines(file, tokens).taken).toBe(c.parts.line === undefined ? 4 : 3);

      // The language server's document: broken by one edit of the valid text, then mended.
      const valid = policy({});
      const start = [...valid].findIndex((ch, i) => ch !== text[i]);
      const tail = [...valid].reverse().findIndex((ch, i) => ch !== text[text.length - 1 - i]);
      let doc = createIncrementalDocument('p.seg', valid);
      doc = applyEdit(doc, { start, end: valid.length - tail, text: text.slice(start, text.length - tail) });
      expect(doc.text).toBe(text);
      expect(JSON.stringify({ ast: doc.ast, diagnostics: doc.diagnostics })).toBe(fast);
      expect(JSON.stringify(checkDocument(doc).diagnostics)).toBe(JSON.stringify(compiled.diagnostics));
      doc = applyEdit(doc, { start, end: text.length - tail, text: valid.slice(start, valid.length - tail) });
      expect(JSON.stringify(checkDocument(doc).diagnostics)).toBe(JSON.stringify(compile(['p.seg'], createMemoryHost({ 'p.seg': valid })).diagnostics));
    });
  }

  it('reports only the later stages\' findings on the valid policy', () => {
    const text = policy({});
    expect(described(text, compile(['p.seg'], createMemoryHost({ 'p.seg': text })).diagnostics)).toEqual(LATER);
  });
});

describe('a `}` that still closes the block', () => {
  const diagnose = (text: string): string[][] => {
    const compiled = compile(['p.seg'], createMemoryHost({ 'p.seg': text }));
    const { fast, grammar } = grammarAndFastPath(text);
    expect(fast).toBe(grammar);
    return described(text, compiled.diagnostics);
  };

  it('closes it after a line whose braces are balanced before it, as before', () => {
    const text = policy({ line: '  150 allow tcp from any to any port { 80, 443 } }' });
    const found = diagnose(text);
    // The block ends there: the later rules are outside it, each a line that starts no declaration.
    expect(found.slice(0, 3)).toEqual([
      ['SEG1004', '200'],
      ['SEG1004', '200'],
      ['SEG1004', '}'],
    ]);
  });

  it('closes it after a broken literal that the line closed first', () => {
    const text = 'policy ingress {\n  100 allow tcp from any to any port { 80 443 } }\n  200 allow tcp from any to any\n';
    expect(diagnose(text)).toEqual([
      ['SEG1005', '443'],
      ['SEG1004', '200'],
    ]);
  });

  it('closes a block opened and closed on one line with a broken literal in its rule', () => {
    const text = 'policy egress default allow { 100 deny tcp from any to any port { 25 465 } }\npolicy ingress {\n  100 allow tcp from any to any\n}\n';
    expect(diagnose(text)).toEqual([['SEG1005', '465']]);
  });

  it('still reports a block that really misses its `}`, after a broken literal', () => {
    const atEnd = 'policy ingress {\n  100 allow tcp from any to any port { 80 443 }\n  200 allow tcp from any to any\n';
    expect(diagnose(atEnd)).toEqual([
      ['SEG1005', '443'],
      ['SEG1005', ''],
    ]);
    const beforeDeclaration = 'policy ingress {\n  100 allow tcp from any to any port { 80 443 }\npolicy egress {\n  100 allow tcp from any to any\n}\n';
    expect(diagnose(beforeDeclaration)).toEqual([
      ['SEG1005', '443'],
      ['SEG1005', 'policy'],
    ]);
  });
});
