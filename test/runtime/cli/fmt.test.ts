// `segc fmt`, run in process through `run(argv, io)`: rewriting, --check and --diff exit codes,
// files with syntax errors left byte-identical, and every write going through the atomic writer.
import { chmodSync, lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createMemoryIo, createNodeIo, type MemoryIo } from '../../../runtime/cli/io.ts';
import { run } from '../../../runtime/cli/main.ts';

// The real atomic writer, wrapped so that tests see every call.
const writeFileAtomic = vi.hoisted(() => vi.fn());
vi.mock('write-file-atomic', async (importOriginal) => {
  const actual = await importOriginal<{ default: (path: string, text: string) => Promise<void> }>();
  writeFileAtomic.mockImplementation(actual.default);
  return { default: writeFileAtomic };
});

const FORMATTED = 'set a = { 10.0.0.0/8, 2001:db8::/32 }\n\npolicy ingress default deny {\n   10 ssh: allow tcp from a   to any port 22\n  200      allow udp from any to a port 53\n}\n';
const UNFORMATTED = 'set a={10.0.0.0/8,2001:db8::/32}\n\n\npolicy ingress default deny {\n10 ssh: allow tcp from a to any port 22\n 200 allow udp from any to a port 53\n}';
const BROKEN = 'set a = { 10.0.0.0/8,\npolicy ingress {\n10 allow tcp from a to\n}\n';

/** A memory io whose atomic writer is counted. */
function memoryIo(files: Record<string, string>): MemoryIo & { writes: string[] } {
  const io = createMemoryIo(files);
  const writes: string[] = [];
  const write = io.writeFileAtomic.bind(io);
  return Object.assign(io, {
    writes,
    writeFileAtomic: (path: string, text: string) => {
      writes.push(path);
      return write(path, text);
    },
  });
}

describe('segc fmt', () => {
  it('rewrites an unformatted file, lists it and exits 0', async () => {
    const io = memoryIo({ 'web.seg': UNFORMATTED });
    expect(await run(['fmt', 'web.seg'], io)).toBe(0);
    expect(io.files.get('web.seg')).toBe(FORMATTED);
    expect(io.out()).toBe('web.seg\n');
    expect(io.writes).toEqual(['web.seg']);
  });

  it('does not write a file that is already formatted', async () => {
    const io = memoryIo({ 'web.seg': FORMATTED });
    expect(await run(['fmt', 'web.seg'], io)).toBe(0);
    expect(io.writes).toEqual([]);
    expect(io.out()).toBe('');
  });

  it('formats every .seg file below a folder', async () => {
    const io = memoryIo({ 'p/a.seg': UNFORMATTED, 'p/sub/b.seg': FORMATTED, 'p/c.seg': UNFORMATTED, 'p/notes.txt': UNFORMATTED });
    expect(await run(['fmt', 'p'], io)).toBe(0);
    expect(io.writes).toEqual(['p/a.seg', 'p/c.seg']);
    expect(io.files.get('p/notes.txt')).toBe(UNFORMATTED);
  });

  it('leaves a file with syntax errors byte-identical, reports it and exits 1, but formats the others', async () => {
    const io = memoryIo({ 'bad.seg': BROKEN, 'good.seg': UNFORMATTED });
    expect(await run(['fmt', 'bad.seg', 'good.seg'], io)).toBe(1);
    expect(io.files.get('bad.seg')).toBe(BROKEN);
    expect(io.writes).toEqual(['good.seg']);
    expect(io.err()).toMatch(/error\[SEG1\d{3}\]/);
    expect(io.err()).toContain('bad.seg: not formatted: fix the syntax errors first');
  });

  it('never touches an included file, even one that is not formatted', async () => {
    const io = memoryIo({ 'web.seg': `include "common.seg"\n${FORMATTED}`, 'common.seg': UNFORMATTED.replace('set a', 'set b') });
    expect(await run(['fmt', 'web.seg'], io)).toBe(0);
    expect(io.writes).toEqual([]);
  });

  it('exits 2 for a path that does not exist, and writes nothing', async () => {
    const io = memoryIo({ 'web.seg': UNFORMATTED });
    expect(await run(['fmt', 'web.seg', 'nope.seg'], io)).toBe(2);
    expect(io.writes).toEqual([]);
    expect(io.err()).toContain("no such file or folder: 'nope.seg'");
  });
});

describe('segc fmt after an internal error', () => {
  afterEach(() => {
    vi.doUnmock('../../../compiler/format.ts');
    vi.resetModules();
  });

  it('writes no file, not even the ones formatted before the failure, and exits 2', async () => {
    vi.resetModules();
    vi.doMock('../../../compiler/format.ts', () => ({
      formatSource: (source: { path: string }) => {
        if (source.path === 'b.seg') throw new Error('the formatter broke');
        return { text: FORMATTED, diagnostics: [] };
      },
    }));
    const { run: freshRun } = await import('../../../runtime/cli/main.ts');
    const io = memoryIo({ 'a.seg': UNFORMATTED, 'b.seg': UNFORMATTED, 'c.seg': UNFORMATTED });
    expect(await freshRun(['fmt', '.'], io)).toBe(2);
    expect(io.writes).toEqual([]);
    expect(io.err()).toContain('internal error: the formatter broke');
  });
});

describe('segc fmt --check', () => {
  it('exits 0 and prints nothing when every file is formatted', async () => {
    const io = memoryIo({ 'a.seg': FORMATTED, 'b.seg': FORMATTED });
    expect(await run(['fmt', '--check', 'a.seg', 'b.seg'], io)).toBe(0);
    expect(io.out()).toBe('');
    expect(io.err()).toBe('');
  });

  it('lists the unformatted files, writes nothing and exits 1', async () => {
    const io = memoryIo({ 'a.seg': UNFORMATTED, 'b.seg': FORMATTED, 'c.seg': UNFORMATTED });
    expect(await run(['fmt', '--check', '.'], io)).toBe(1);
    expect(io.out()).toBe('a.seg\nc.seg\n');
    expect(io.err()).toBe("2 files are not formatted; run 'segc fmt' on them\n");
    expect(io.writes).toEqual([]);
    expect(io.files.get('a.seg')).toBe(UNFORMATTED);
  });

  it('exits 1 for a file with syntax errors even when nothing else is unformatted', async () => {
    const io = memoryIo({ 'bad.seg': BROKEN });
    expect(await run(['fmt', '--check', 'bad.seg'], io)).toBe(1);
    expect(io.writes).toEqual([]);
  });
});

describe('segc fmt --diff', () => {
  it('prints a unified diff, writes nothing and exits 1', async () => {
    const io = memoryIo({ 'web.seg': 'set a   =   any\nset bb = any6\n' });
    expect(await run(['fmt', '--diff', 'web.seg'], io)).toBe(1);
    expect(io.out()).toBe(['--- a/web.seg', '+++ b/web.seg', '@@ -1,2 +1,2 @@', '-set a   =   any', '+set a  = any', ' set bb = any6', ''].join('\n'));
    expect(io.writes).toEqual([]);
  });

  it('prints nothing and exits 0 when the file is formatted', async () => {
    const io = memoryIo({ 'web.seg': FORMATTED });
    expect(await run(['fmt', '--diff', 'web.seg'], io)).toBe(0);
    expect(io.out()).toBe('');
  });
});

describe('segc fmt on the file system', () => {
  let dir = '';
  afterEach(() => {
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
    dir = '';
    writeFileAtomic.mockClear();
  });

  /** A node io over a fresh temporary folder (paths are absolute), with its output swallowed. */
  function tempIo(files: Record<string, string>) {
    dir = mkdtempSync(join(tmpdir(), 'segc-fmt-'));
    for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
    return Object.assign(createNodeIo(), { stdout: { write: () => undefined }, stderr: { write: () => undefined } });
  }

  it('writes through write-file-atomic, and only the files that change', async () => {
    const io = tempIo({ 'changed.seg': UNFORMATTED, 'same.seg': FORMATTED, 'bad.seg': BROKEN });
    expect(await run(['fmt', dir], io)).toBe(1);
    expect(writeFileAtomic).toHaveBeenCalledTimes(1);
    expect(writeFileAtomic).toHaveBeenCalledWith(join(dir, 'changed.seg'), FORMATTED);
    expect(readFileSync(join(dir, 'changed.seg'), 'utf8')).toBe(FORMATTED);
    expect(readFileSync(join(dir, 'same.seg'), 'utf8')).toBe(FORMATTED);
    expect(readFileSync(join(dir, 'bad.seg'), 'utf8')).toBe(BROKEN);
    // No temporary file is left behind.
    expect(readdirSync(dir).sort()).toEqual(['bad.seg', 'changed.seg', 'same.seg']);
  });

  it('keeps a symbolic link a link and a file its mode', async () => {
    const io = tempIo({ 'target.seg': UNFORMATTED, 'private.seg': UNFORMATTED });
    symlinkSync(join(dir, 'target.seg'), join(dir, 'link.seg'));
    chmodSync(join(dir, 'private.seg'), 0o640);
    expect(await run(['fmt', join(dir, 'link.seg'), join(dir, 'private.seg')], io)).toBe(0);
    expect(lstatSync(join(dir, 'link.seg')).isSymbolicLink()).toBe(true);
    expect(readFileSync(join(dir, 'target.seg'), 'utf8')).toBe(FORMATTED);
    expect(statSync(join(dir, 'private.seg')).mode & 0o777).toBe(0o640);
  });

  it('writes nothing with --check', async () => {
    const io = tempIo({ 'changed.seg': UNFORMATTED });
    expect(await run(['fmt', '--check', dir], io)).toBe(1);
    expect(writeFileAtomic).not.toHaveBeenCalled();
    expect(readFileSync(join(dir, 'changed.seg'), 'utf8')).toBe(UNFORMATTED);
  });
});
