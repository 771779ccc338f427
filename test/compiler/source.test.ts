import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  createMemoryHost,
  createSourceFile,
  joinSpans,
  lineText,
  normalizePosixPath,
  positionOf,
  resolvePosixInclude,
} from '../../compiler/source.ts';

describe('source files', () => {
  it('gives 1-based line and column for offsets, including CRLF and lone CR line ends', () => {
    const f = createSourceFile('a.seg', 'ab\ncd\r\nef\rgh');
    expect(positionOf(f, 0)).toEqual({ line: 1, column: 1 });
    expect(positionOf(f, 2)).toEqual({ line: 1, column: 3 });
    expect(positionOf(f, 3)).toEqual({ line: 2, column: 1 });
    expect(positionOf(f, 7)).toEqual({ line: 3, column: 1 });
    expect(positionOf(f, 10)).toEqual({ line: 4, column: 1 });
    expect(lineText(f, 2)).toBe('cd');
    expect(lineText(f, 3)).toBe('ef');
    expect(lineText(f, 4)).toBe('gh');
  });

  it('clamps offsets past the end to the last position', () => {
    const f = createSourceFile('a.seg', 'x\n');
    expect(positionOf(f, 99)).toEqual({ line: 2, column: 1 });
  });

  it('agrees with a naive line count for any text and offset', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom('a', '\n', 'b', ' ') }), fc.nat(), (text, n) => {
        const offset = text.length === 0 ? 0 : n % (text.length + 1);
        const before = text.slice(0, offset);
        const line = before.split('\n').length;
        const column = offset - (before.lastIndexOf('\n') + 1) + 1;
        expect(positionOf(createSourceFile('f', text), offset)).toEqual({ line, column });
      }),
    );
  });

  it('joins spans into the smallest span that holds both', () => {
    expect(joinSpans({ file: 'f', start: 5, end: 9 }, { file: 'f', start: 2, end: 6 })).toEqual({ file: 'f', start: 2, end: 9 });
  });
});

describe('include paths', () => {
  it('resolves includes against the including file and normalises dot segments', () => {
    expect(resolvePosixInclude('policies/web.seg', 'common.seg')).toBe('policies/common.seg');
    expect(resolvePosixInclude('policies/web.seg', '../shared/c.seg')).toBe('shared/c.seg');
    expect(resolvePosixInclude('web.seg', './c.seg')).toBe('c.seg');
    expect(resolvePosixInclude('/etc/segc/web.seg', '/abs/c.seg')).toBe('/abs/c.seg');
    expect(normalizePosixPath('../a/./b/../c')).toBe('../a/c');
    expect(normalizePosixPath('/../a')).toBe('/a');
  });

  it('serves files from memory by normalised path', () => {
    const host = createMemoryHost({ 'dir/a.seg': 'x' });
    expect(host.readFile('dir/./a.seg')).toBe('x');
    expect(host.readFile('dir/b.seg')).toBeUndefined();
    expect(host.resolveInclude('dir/a.seg', 'b.seg')).toBe('dir/b.seg');
  });
});
