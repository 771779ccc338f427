import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import * as oniguruma from 'vscode-oniguruma';
import * as textmate from 'vscode-textmate';
import { beforeAll, describe, expect, it } from 'vitest';
import { renderCstDts, renderRailroad } from '../../compiler/grammar-artifacts.ts';
import { createSegLexer } from '../../compiler/lexer.ts';
import { parser, SegParser } from '../../compiler/parser.ts';
import { EXTENSION_KEYWORDS, KEYWORDS } from '../../compiler/tokens.ts';
import { readChevrotainFile } from '../../scripts/gen-grammar.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const read = (path: string): string => readFileSync(root + path, 'utf8');

describe('chevrotain', () => {
  it('is loaded from its single-file build, which starts several times faster', async () => {
    const { chevrotainLoadedFrom, CstParser } = await import('../../compiler/chevrotain.ts');
    expect(chevrotainLoadedFrom).toBe('bundle');
    expect(parser).toBeInstanceOf(CstParser);
  });
});

describe('the grammar and token definitions', () => {
  it("pass chevrotain's checks (skipped when segc runs, to start faster)", () => {
    expect(() => new SegParser({ validate: true })).not.toThrow();
    expect(() => createSegLexer(true)).not.toThrow();
  });
});

describe('generated grammar artefacts', () => {
  it('compiler/cst.d.ts is what the parser generates (run node scripts/gen-grammar.ts)', () => {
    expect(read('compiler/cst.d.ts')).toBe(renderCstDts());
  });

  it('grammar/railroad.html is what the parser generates (run node scripts/gen-grammar.ts)', () => {
    const html = read('grammar/railroad.html');
    expect(html).toBe(renderRailroad(readChevrotainFile));
    expect(html).not.toMatch(/<script src=|<link rel='stylesheet'/);
    for (const rule of Object.keys(parser.getGAstProductions())) expect(html).toContain(`"${rule}"`);
  });
});

describe('grammar/segc.ebnf', () => {
  const ebnf = read('grammar/segc.ebnf');
  // Comments may mention words that are not part of the grammar.
  const body = ebnf.replace(/\(\*[\s\S]*?\*\)/g, '');
  const defined = [...body.matchAll(/^([A-Za-z_][A-Za-z0-9_]*)\s*=/gm)].map((m) => m[1]!);

  it('defines exactly the parser rules, under the same names', () => {
    const syntactic = defined.filter((name) => /^[a-z]/.test(name));
    expect([...syntactic].sort()).toEqual(Object.keys(parser.getGAstProductions()).sort());
  });

  it('defines every production once, and every name it uses', () => {
    expect(new Set(defined).size).toBe(defined.length);
    const withoutStrings = body.replace(/"[^"]*"|'[^']*'|\?[^?]*\?/g, '');
    const used = new Set([...withoutStrings.matchAll(/[A-Za-z_][A-Za-z0-9_]*/g)].map((m) => m[0]));
    for (const name of used) expect(defined).toContain(name);
  });

  it("uses exactly the keywords of the spec, and segc's soft keywords", () => {
    const words = new Set([...body.matchAll(/"([a-z][a-z0-9]*)"/g)].map((m) => m[1]!));
    expect([...words].sort()).toEqual([...KEYWORDS, ...EXTENSION_KEYWORDS].sort());
  });
});

const SCOPES_OF_EXTENSIONS = [
  'test => storage.type.test.seg',
  '" => punctuation.definition.string.begin.seg',
  'ssh => string.quoted.double.seg',
  '" => punctuation.definition.string.end.seg',
  '{ => punctuation.section.braces.seg',
  'expect => keyword.control.expect.seg',
  'rule => keyword.other.rule.seg',
  'ssh => entity.name.function.rule.seg',
  'tcp => support.type.protocol.seg',
  '[2001:db8::1]:1 => constant.numeric.address.ipv6.seg',
  '-> => punctuation.separator.arrow.seg',
  '10.0.1.7 => constant.numeric.address.ipv4.seg',
  ': => punctuation.separator.colon.seg',
  '22 => constant.numeric.integer.seg',
  'egress => keyword.other.direction.seg',
  '} => punctuation.section.braces.seg',
  '100 => constant.numeric.priority.seg',
  'test => entity.name.function.rule.seg',
  ': => punctuation.separator.rule-name.seg',
  'allow => keyword.control.action.allow.seg',
  'tcp => support.type.protocol.seg',
  'from => keyword.operator.from.seg',
  // A contextual word is a name where the core grammar takes one.
  'expect => variable.other.seg',
  'to => keyword.operator.to.seg',
  'any => constant.language.any.seg',
  'nosession => keyword.other.nosession.seg',
  'expires => keyword.other.expires.seg',
  '2027-03-31 => constant.other.date.seg',
];

describe('grammar/segc.tmLanguage.json', () => {
  const raw = read('grammar/segc.tmLanguage.json');
  let grammar: textmate.IGrammar;

  beforeAll(async () => {
    const require = createRequire(import.meta.url);
    const wasm = readFileSync(require.resolve('vscode-oniguruma/release/onig.wasm'));
    await oniguruma.loadWASM(wasm.buffer.slice(wasm.byteOffset, wasm.byteOffset + wasm.byteLength) as ArrayBuffer);
    const registry = new textmate.Registry({
      onigLib: Promise.resolve({
        createOnigScanner: (patterns: string[]) => new oniguruma.OnigScanner(patterns),
        createOnigString: (text: string) => new oniguruma.OnigString(text),
      }),
      loadGrammar: async (scopeName) => (scopeName === 'source.seg' ? textmate.parseRawGrammar(raw, 'segc.tmLanguage.json') : null),
    });
    const loaded = await registry.loadGrammar('source.seg');
    if (!loaded) throw new Error('source.seg did not load');
    grammar = loaded;
  });

  /** The innermost scope of each token of each line, as `text => scope`. */
  function scopes(text: string): string[] {
    let state = textmate.INITIAL;
    const out: string[] = [];
    for (const line of text.split('\n')) {
      const result = grammar.tokenizeLine(line, state);
      for (const token of result.tokens) {
        const piece = line.slice(token.startIndex, token.endIndex);
        if (piece.trim() !== '') out.push(`${piece.trim()} => ${token.scopes.at(-1)}`);
      }
      state = result.ruleStack;
    }
    return out;
  }

  it("names the spec keywords and segc's soft keywords, each once", () => {
    const words = [...raw.matchAll(/\(([a-z0-9|]+)\)\(\?!/g)].flatMap((m) => m[1]!.split('|'));
    expect([...words].sort()).toEqual([...KEYWORDS, ...EXTENSION_KEYWORDS].sort());
  });

  it('scopes audit after deny as an action word, and as a name elsewhere', () => {
    expect(scopes('  100 audit: deny audit log tcp from audit to any')).toEqual([
      '100 => constant.numeric.priority.seg',
      'audit => entity.name.function.rule.seg',
      ': => punctuation.separator.rule-name.seg',
      'deny => keyword.control.action.deny.seg',
      'audit => keyword.control.action.audit.seg',
      'log => keyword.control.action.log.seg',
      'tcp => support.type.protocol.seg',
      'from => keyword.operator.from.seg',
      'audit => variable.other.seg',
      'to => keyword.operator.to.seg',
      'any => constant.language.any.seg',
    ]);
  });

  it('scopes a declaration with its addresses', () => {
    expect(scopes('set office = { 10.20.0.0/16, 2001:db8:20::/48, ::ffff:10.0.0.1 } # offices')).toEqual([
      'set => storage.type.set.seg',
      'office => entity.name.type.set.seg',
      '= => keyword.operator.assignment.seg',
      '{ => punctuation.section.braces.seg',
      '10.20.0.0/16 => constant.numeric.address.ipv4.seg',
      ', => punctuation.separator.comma.seg',
      '2001:db8:20::/48 => constant.numeric.address.ipv6.seg',
      ', => punctuation.separator.comma.seg',
      '::ffff:10.0.0.1 => constant.numeric.address.ipv6.seg',
      '} => punctuation.section.braces.seg',
      '# => punctuation.definition.comment.seg',
      'offices => comment.line.number-sign.seg',
    ]);
  });

  it('scopes a rule: priority, name, action, protocol, sets, ports and description', () => {
    expect(scopes('  100 fe80: deny log tcp from deny-all port 32768-60999 to fe80::1 port 22 "no \\"ssh\\""')).toEqual([
      '100 => constant.numeric.priority.seg',
      'fe80 => entity.name.function.rule.seg',
      ': => punctuation.separator.rule-name.seg',
      'deny => keyword.control.action.deny.seg',
      'log => keyword.control.action.log.seg',
      'tcp => support.type.protocol.seg',
      'from => keyword.operator.from.seg',
      'deny-all => variable.other.seg',
      'port => keyword.operator.port.seg',
      '32768-60999 => constant.numeric.range.seg',
      'to => keyword.operator.to.seg',
      'fe80::1 => constant.numeric.address.ipv6.seg',
      'port => keyword.operator.port.seg',
      '22 => constant.numeric.integer.seg',
      '" => punctuation.definition.string.begin.seg',
      'no => string.quoted.double.seg',
      '\\" => constant.character.escape.seg',
      'ssh => string.quoted.double.seg',
      '\\" => constant.character.escape.seg',
      '" => punctuation.definition.string.end.seg',
    ]);
  });

  it('scopes a policy header, any4 against any, and the icmp clause', () => {
    expect(scopes('policy ingress default allow {\n  500 allow icmp from any4 to any icmp 3/4\n}')).toEqual([
      'policy => storage.type.policy.seg',
      'ingress => keyword.other.direction.seg',
      'default => keyword.other.default.seg',
      'allow => keyword.control.action.allow.seg',
      '{ => punctuation.section.braces.seg',
      '500 => constant.numeric.priority.seg',
      'allow => keyword.control.action.allow.seg',
      'icmp => support.type.protocol.seg',
      'from => keyword.operator.from.seg',
      'any4 => constant.language.any4.seg',
      'to => keyword.operator.to.seg',
      'any => constant.language.any.seg',
      'icmp => support.type.protocol.seg',
      '3 => constant.numeric.integer.seg',
      '/ => punctuation.separator.slash.seg',
      '4 => constant.numeric.integer.seg',
      '} => punctuation.section.braces.seg',
    ]);
  });

  it("scopes segc's extensions: a test block's expectations and nosession and expires tails, and leaves the words names elsewhere", () => {
    const text = 'test "ssh" {\n  expect rule ssh tcp [2001:db8::1]:1 -> 10.0.1.7:22 egress\n}\n  100 test: allow tcp from expect to any nosession expires 2027-03-31';
    expect(scopes(text)).toEqual(SCOPES_OF_EXTENSIONS);
  });

  it('keeps a # inside a string out of the comment', () => {
    expect(scopes('include "a#b.seg" # c')).toEqual([
      'include => storage.type.include.seg',
      '" => punctuation.definition.string.begin.seg',
      'a#b.seg => string.quoted.double.seg',
      '" => punctuation.definition.string.end.seg',
      '# => punctuation.definition.comment.seg',
      'c => comment.line.number-sign.seg',
    ]);
  });

  it('ends an unterminated string at the end of its line, and marks bad escapes', () => {
    expect(scopes('include "a\\q\nset b = any')).toEqual([
      'include => storage.type.include.seg',
      '" => punctuation.definition.string.begin.seg',
      'a => string.quoted.double.seg',
      '\\q => invalid.illegal.escape.seg',
      'set => storage.type.set.seg',
      'b => entity.name.type.set.seg',
      '= => keyword.operator.assignment.seg',
      'any => constant.language.any.seg',
    ]);
  });
});
