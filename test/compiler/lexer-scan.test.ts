// The scanner (compiler/lexer-scan.ts) against chevrotain's lexer over the same token types:
// on random text made of the characters the token patterns care about, both give the same
// tokens (type, image, offset, object shape), comments and errors (offset and length).
import { describe, expect, it } from 'vitest';
import { createSegLexer } from '../../compiler/lexer.ts';
import { tokenizeScan } from '../../compiler/lexer-scan.ts';
import { createRandom } from '../support/mutate-policy.ts';

const reference = createSegLexer();

function viaChevrotain(text: string): unknown {
  const r = reference.tokenize(text);
  return { tokens: r.tokens, comments: r.groups['comments'] ?? [], errors: r.errors.map((e) => ({ offset: e.offset, length: e.length })) };
}

const PIECES = [
  ' ', '  ', '\t', '\n', '\r\n', '\r', '\f', '\v', '\uFEFF', '#', '# c', '"', '\\', '"a b"', '"x\\"y"', '"\\', '"\\q"', '\\"', '"\\\n', '"\\\\"', '"ab', '[', ']', '[::1]:443', '[2001:db8::1]', '::', ':', '::1',
  'fe80::1', 'fe80:', '2001:db8::/32', '1:2:3:4:5:6:7:8', '::ffff:10.0.0.1', 'g1', '10.0.0.0/8', '10.0.0', '10.', '1.2.3-4', '1-2', '1-2-3', '2027-3-31', '32768-60999',
  '80to', '1abc', '0', '65535', '/', '/24', '-', '->', '{', '}', ',', '=', '.', ';', "'", '%', '!', '*', '@', '$', 'é', '😀', '\u0007', '_x', 'x-y', 'deny-all',
  'any', 'any4', 'any6', 'any4x', 'anyx', 'icmp', 'icmpv6', 'icmpv', 'allow', 'Allow', 'deny', 'log', 'audit', 'auditx', 'test', 'tests', 'expect', 'expires', 'nosession', 'nosessions', 'rule', 'rules',
  'include', 'set', 'ports', 'port', 'policy', 'ingress', 'egress', 'default', 'from', 'to', 'tcp', 'udp', 'sctp', 'except', 'abc', 'a:b:', 'de:ad:', 'add::1', 'a.b', 'f',
];

describe('the scanner', () => {
  it('gives chevrotain\'s tokens, comments and errors on random text', () => {
    const random = createRandom(99);
    for (let n = 0; n < 6000; n++) {
      let text = '';
      const length = 1 + random(24);
      for (let i = 0; i < length; i++) text += PIECES[random(PIECES.length)]! + (random(3) === 0 ? ' ' : '');
      const scanned = tokenizeScan(text);
      expect({ text, ...scanned }).toEqual({ text, ...(viaChevrotain(text) as object) });
      // The same object shape as chevrotain's tokens (the parser reads them in hot loops).
      for (const t of scanned.tokens) expect(Object.keys(t)).toEqual(['image', 'startOffset', 'tokenTypeIdx', 'tokenType']);
    }
  });

  it('gives chevrotain\'s tokens on the examples and a policy of every construct', async () => {
    const { readdirSync, readFileSync } = await import('node:fs');
    const dir = `${import.meta.dirname}/../../examples`;
    for (const name of readdirSync(dir).filter((f) => f.endsWith('.seg'))) {
      const text = readFileSync(`${dir}/${name}`, 'utf8');
      expect(tokenizeScan(text)).toEqual(viaChevrotain(text));
    }
  });
});
