// fmt's proof (compiler/format.ts): `formatSource` proves its output by comparing token streams,
// and parses again only where they differ. Counting the calls of `parseSourceFile` (which only
// that full proof makes) shows which proof ran: the token proof must hold on every layout change
// fmt makes, or every file would pay for a second parse without any test noticing.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import * as buildAst from '../../compiler/build-ast.ts';
import { formatSource } from '../../compiler/format.ts';
import { createSourceFile } from '../../compiler/source.ts';

vi.mock(import('../../compiler/build-ast.ts'), async (original) => {
  const actual = await original();
  return { ...actual, parseSourceFile: vi.fn(actual.parseSourceFile) };
});

const parses = vi.mocked(buildAst.parseSourceFile);
afterEach(() => parses.mockClear());

const EXAMPLES_DIR = join(import.meta.dirname, '../../examples');

describe("fmt's token proof", () => {
  it.each([
    ['blank lines collapsed, spacing and CRLF line ends', 'set  a =  {10.0.0.0/8,2001:db8::/32}\r\n\r\n\r\n\r\nports  p = {80,443}\r\npolicy ingress {\r\n\r\n1 allow tcp from a to any port p\r\n}'],
    ['an empty block printed on two lines', 'policy egress {}\ntest "t" {}\n'],
    ['a list broken over lines, and a long declaration broken', `set a = { 10.0.0.1,\n 10.0.0.2 }\nset b = { ${Array.from({ length: 12 }, (_, i) => `10.0.${i}.0/24`).join(', ')} }\n`],
    ['comments moved to their canonical place', '# top\npolicy ingress { # trailing\n  # own line\n1 allow tcp from any to any   # after\n\n\n  # before the brace\n}\n'],
  ])('proves %s without parsing the output', (_, text) => {
    const result = formatSource(createSourceFile('p.seg', text));
    expect(result.text).toBeDefined();
    expect(parses).not.toHaveBeenCalled();
  });

  it.each(readdirSync(EXAMPLES_DIR).filter((f) => f.endsWith('.seg')).sort())('proves examples/%s without parsing the output', (name) => {
    const text = readFileSync(join(EXAMPLES_DIR, name), 'utf8');
    // Indentation and trailing spaces changed: fmt puts them back.
    const scrambled = text.replace(/^ +/gm, '     ').replace(/\n/g, '   \n');
    expect(formatSource(createSourceFile(name, scrambled)).text).toBe(formatSource(createSourceFile(name, text)).text);
    expect(parses).not.toHaveBeenCalled();
  });
});
