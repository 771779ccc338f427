// The real io over node:fs (in a temporary folder) and the in-memory io tests use: both list
// folders the same way, read what is there, and write atomically.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryIo, createNodeIo, type CliIo } from '../../../runtime/cli/io.ts';

let root = '';

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'segc-io-'));
  const put = (path: string, text: string) => {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), text);
  };
  put('p/b.seg', 'b');
  put('p/a.seg', 'a');
  put('p/sub/c.seg', 'c');
  put('p/notes.txt', 'n');
  put('p/.hidden/h.seg', 'h');
  put('p/node_modules/m.seg', 'm');
  // A link back up the tree must not make the walk loop.
  symlinkSync('..', join(root, 'p/sub/up'));
});

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

const memory = () =>
  createMemoryIo({ 'p/b.seg': 'b', 'p/a.seg': 'a', 'p/sub/c.seg': 'c', 'p/notes.txt': 'n', 'p/.hidden/h.seg': 'h', 'p/node_modules/m.seg': 'm' });

describe.each([
  ['createNodeIo', () => createNodeIo(root)],
  ['createMemoryIo', memory],
] as [string, () => CliIo][])('%s', (_name, make) => {
  it('lists the .seg files below a folder, sorted, without dot-folders, node_modules or loops', () => {
    expect(make().listSegFiles('p')).toEqual(['p/a.seg', 'p/b.seg', 'p/sub/c.seg']);
  });

  it('tells files from folders and from nothing', () => {
    const io = make();
    expect([io.stat('p'), io.stat('p/a.seg'), io.stat('p/zzz.seg')]).toEqual(['directory', 'file', undefined]);
  });

  it('reads files through its compiler host, and nothing where there is no file', () => {
    const io = make();
    expect(io.host.readFile('p/a.seg')).toBe('a');
    expect(io.host.readFile('./p/sub/../b.seg')).toBe('b');
    expect(io.host.readFile('p/missing.seg')).toBeUndefined();
    expect(io.host.readFile('p')).toBeUndefined();
    expect(io.host.resolveInclude('p/sub/c.seg', '../a.seg')).toBe('p/a.seg');
  });

  it('replaces a file in one step', async () => {
    const io = make();
    await io.writeFileAtomic('p/out.seg', 'new text\n');
    expect(io.readFile('p/out.seg')).toBe('new text\n');
  });
});

describe('createNodeIo', () => {
  it('leaves no temporary file behind after an atomic write', async () => {
    const before = readdirSync(join(root, 'p')).sort();
    await createNodeIo(root).writeFileAtomic('p/a.seg', 'rewritten\n');
    expect(readFileSync(join(root, 'p/a.seg'), 'utf8')).toBe('rewritten\n');
    expect(readdirSync(join(root, 'p')).sort()).toEqual(before);
  });
});
