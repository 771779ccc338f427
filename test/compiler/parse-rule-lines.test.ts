// The parser's fast path for rule lines (compiler/parse-rule-lines.ts) against the grammar
// alone: for clean and damaged policies, `parseSourceFile` (fast path, grammar for the rest)
// and tokenize + parse + buildAst over every token give the same diagnostics and the same AST,
// field order included.
import { describe, expect, it } from 'vitest';
import { buildAst, parseSourceFile } from '../../compiler/build-ast.ts';
import { createCollector } from '../../compiler/diagnostics.ts';
import { tokenize } from '../../compiler/lexer.ts';
import { parseRuleLines } from '../../compiler/parse-rule-lines.ts';
import { parse } from '../../compiler/parser.ts';
import { createSourceFile } from '../../compiler/source.ts';
import { createRandom, mutatePolicy } from '../support/mutate-policy.ts';

/** A policy in every shape a rule line takes (lists, except, names, icmp, descriptions, expiry). */
function samplePolicy(seed: number, rules: number): string {
  const random = createRandom(seed);
  const pick = <T>(xs: readonly T[]): T => xs[random(xs.length)]!;
  const lines = ['# sample', 'set web = { 10.0.0.0/8, 2001:db8::/32 } except { 10.9.0.0/16 }', 'ports high = { 1024-65535, }', ''];
  for (const direction of ['ingress', 'egress']) {
    lines.push(pick([`policy ${direction} default deny {`, `policy ${direction} {`, `policy ${direction} default allow {`]));
    for (let i = 1; i <= rules; i++) {
      const name = pick(['', `r${i}: `, 'audit: ', 'test: ', 'expires: ', 'nosession: ']);
      const action = pick(['allow', 'allow log', 'deny', 'deny log', 'deny audit', 'deny audit log', 'log']);
      const proto = pick(['tcp', 'udp', 'sctp', 'any', '47', '{ tcp, udp }', '{ tcp, udp, }', '{ {tcp}, 6 }', '{}', 'icmp', 'icmpv6']);
      const addr = () => pick(['any', 'any4', 'any6', 'web', '10.1.2.0/24', 'fe80::1', '::', '{ 10.0.0.1, web }', '{ web except 10.1.0.0/16, }', 'web except { 10.0.0.0/8 } except 10.0.0.1', '{ { any } }', 'rule', '{}']);
      const ports = () => pick(['', ' port 80', ' port 1-2', ' port high', ' port { 80, 443, 8000-8080 }', ' port { 22, }', ' port {}']);
      const icmp = pick(['', '', ' icmp echo-request', ' icmp 3/4', ' icmp 8', ' icmp expires']);
      const tail = pick(['', '', ' "described"', ' "esc \\" q"', ' expires 2030-01-02', ' "d" expires 2030-1-2', ' nosession', ' "d" nosession expires 2030-01-02']);
      lines.push(`  ${pick(['', '  ', '\t'])}${i * 10} ${name}${action} ${proto} from ${addr()}${ports()} to ${addr()}${ports()}${icmp}${tail}`);
      if (random(10) === 0) lines.push('');
      if (random(20) === 0) lines.push('  # a comment');
    }
    lines.push('}');
  }
  lines.push('test "t" {', '  expect allow tcp 10.0.0.1:40000 -> 10.0.1.5:443', '}');
  return lines.join('\n') + (random(2) === 0 ? '\n' : '');
}

function bothWays(text: string): { fast: string; grammar: string } {
  const file = createSourceFile('p.seg', text);
  const fastDiagnostics = createCollector();
  const fastAst = parseSourceFile(file, fastDiagnostics);
  const grammarDiagnostics = createCollector();
  const { tokens, comments } = tokenize(file, grammarDiagnostics);
  const grammarAst = buildAst(file, parse(file, tokens, grammarDiagnostics), comments);
  return {
    fast: JSON.stringify({ ast: fastAst, diagnostics: fastDiagnostics.items }),
    grammar: JSON.stringify({ ast: grammarAst, diagnostics: grammarDiagnostics.items }),
  };
}

describe('the fast path of rule lines', () => {
  it('reads numbers of every length as the grammar does (digits in place, Number past 15)', () => {
    // Priorities, ports, range ends, protocol numbers and ICMP types and codes of 1-25 digits,
    // leading zeros included: the values past 2^53 are where reading digits in place would round
    // differently from Number.
    const numbers = ['0', '007', '65535', '65536', '4294967296', '9007199254740991', '9007199254740993', '123456789012345', '1234567890123456', '99999999999999999999', '0000000000000000000000001', '18446744073709551617'];
    const lines = ['policy ingress {'];
    numbers.forEach((n, i) => {
      lines.push(`  ${n} allow tcp from any to any port ${n}`);
      lines.push(`  ${i + 1} allow { tcp, ${n} } from any port ${n}-${numbers[(i + 1) % numbers.length]} to any`);
      lines.push(`  ${i + 100} allow icmp from any to any icmp ${n}/${n}`);
    });
    lines.push('}');
    const text = lines.join('\n') + '\n';
    const file = createSourceFile('p.seg', text);
    expect(parseRuleLines(file, tokenize(file, createCollector()).tokens).taken).toBe(numbers.length * 3);
    const { fast, grammar } = bothWays(text);
    expect(fast).toBe(grammar);
  });

  it('takes every valid rule line of a clean policy and gives the grammar\'s AST', () => {
    for (let seed = 1; seed <= 20; seed++) {
      const text = samplePolicy(seed, 60);
      const file = createSourceFile('p.seg', text);
      const { tokens } = tokenize(file, createCollector());
      expect(parseRuleLines(file, tokens).taken).toBeGreaterThan(60);
      const { fast, grammar } = bothWays(text);
      expect(fast).toBe(grammar);
    }
  });

  it('gives the grammar\'s diagnostics and AST on damaged policies', () => {
    for (let seed = 1; seed <= 200; seed++) {
      const text = mutatePolicy(samplePolicy(seed, 25), seed, [0.02, 0.1, 0.4][seed % 3]!);
      const { fast, grammar } = bothWays(text);
      if (fast !== grammar) expect({ seed, text, fast }).toEqual({ seed, text, fast: grammar });
    }
  });

  it('falls back to the grammar when a block ends before the lines it would take', () => {
    // A stray `}` closes the block early: the rules after it are stray lines to the grammar.
    for (const text of [
      'policy ingress default deny {\n  1 allow tcp from any to any\n  2 allow tcp from any to any }\n  3 allow tcp from any to any\n}\n',
      'policy ingress {\n  1 allow tcp from any to any\n  2 deny {tcp from any to any\n  3 allow tcp from any to any\n}\n',
      'set x = { 10.0.0.0/8 }}\npolicy ingress {\n  1 allow tcp from any to any\n}\n',
      'policy ingress {\n  1 allow tcp from any to any set\n  2 allow tcp from any to any\n}\n',
      'policy ingress {\n  1 allow tcp from any to any\n  test "x" {\n  2 allow tcp from any to any\n}\n',
      'policy ingress {\n  1 allow tcp from any to any\n',
      'policy ingress {\n  1 allow tcp from any to any',
    ]) {
      const { fast, grammar } = bothWays(text);
      expect(fast).toBe(grammar);
    }
  });
});

describe('the fast path after very many diagnostics', () => {
  it('parses a file when the collector already holds 300k diagnostics (no spread of them all)', () => {
    const diagnostics = createCollector();
    const bad = createSourceFile('bad.seg', ';');
    parseSourceFile(bad, diagnostics);
    const one = diagnostics.items[0]!;
    for (let i = 1; i < 300_000; i++) diagnostics.items.push(one);
    const ast = parseSourceFile(createSourceFile('good.seg', 'policy ingress {\n  1 allow tcp from any to any\n}\n'), diagnostics);
    expect(ast.declarations).toHaveLength(1);
    expect(diagnostics.items).toHaveLength(300_000);
  });
});
