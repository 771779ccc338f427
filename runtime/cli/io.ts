// The CLI's window on the world: output streams, environment, and the files commands read and
// write. Commands take a `CliIo`; `createNodeIo()` is the real one, `createMemoryIo()` the one
// tests (and tools) run commands against without touching the disk.
import { closeSync, constants, fstatSync, openSync, readdirSync, readSync, realpathSync, statSync, type Stats } from 'node:fs';
import { join, resolve } from 'node:path';
import { DEFAULT_INPUT_LIMITS, normalizePosixPath, resolvePosixInclude, tooLarge, type CompilerHost, type SourceRead } from '../../compiler/source.ts';

export interface TextWriter {
  write(text: string): void;
}

/** `special`: a device, FIFO or socket (never read: a FIFO would block, /dev/zero never ends). */
export type PathKind = 'file' | 'directory' | 'special';

export interface CliIo {
  readonly stdout: TextWriter;
  readonly stderr: TextWriter;
  /** The folder relative paths are read from (and SARIF uris are made relative to). */
  readonly cwd: string;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Whether each stream is a terminal (colour is on by default only there). */
  readonly stdoutIsTTY: boolean;
  readonly stderrIsTTY: boolean;
  /** The compiler's view of the same files (paths as the user gave them, relative to `cwd`). */
  readonly host: CompilerHost;
  /** What is at a path, or undefined when nothing is. */
  stat(path: string): PathKind | undefined;
  /** Every `*.seg` file below a folder (recursively; skips `node_modules` and dot-folders), sorted. */
  listSegFiles(dir: string): string[];
  readFile(path: string): string | undefined;
  /** Replaces a file's content in one step (a temporary file renamed over it), keeping its mode. */
  writeFileAtomic(path: string, text: string): Promise<void>;
}

/** The folders `listSegFiles` does not descend into. */
export function isSkippedFolder(name: string): boolean {
  return name === 'node_modules' || name.startsWith('.');
}

/**
 * The paths of a folder walk, as the user would write them: `dir/sub/x.seg`. Sorting by
 * UTF-16 code units keeps the order identical on every machine and file system.
 */
function sortPaths(paths: string[]): string[] {
  return paths.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** The io of a real process; `cwd` (default: the process's) is where relative paths start. */
export function createNodeIo(cwd: string = process.cwd()): CliIo {
  const abs = (path: string) => resolve(cwd, path);
  const readSource = (path: string, maxBytes: number): SourceRead => readRegularFile(abs(path), maxBytes);
  const readFile = (path: string): string | undefined => {
    const read = readSource(path, DEFAULT_INPUT_LIMITS.maxFileBytes);
    // Missing, a folder, unreadable: the compiler reports the file as not found.
    return read.kind === 'text' ? read.text : undefined;
  };
  const stat = (path: string): PathKind | undefined => {
    try {
      const s = statSync(abs(path));
      return s.isDirectory() ? 'directory' : s.isFile() ? 'file' : 'special';
    } catch {
      return undefined;
    }
  };
  return {
    stdout: { write: (text) => void process.stdout.write(text) },
    stderr: { write: (text) => void process.stderr.write(text) },
    cwd,
    env: process.env,
    stdoutIsTTY: process.stdout.isTTY === true,
    stderrIsTTY: process.stderr.isTTY === true,
    host: { readFile, readSource, resolveInclude: resolvePosixInclude },
    stat,
    listSegFiles(dir) {
      const out: string[] = [];
      // Real paths of the folders walked, so that a link back up the tree is not a loop.
      const seen = new Set<string>();
      const walk = (rel: string) => {
        const real = realpathSync(abs(rel));
        if (seen.has(real)) return;
        seen.add(real);
        for (const entry of readdirSync(abs(rel), { withFileTypes: true })) {
          const path = rel === '.' ? entry.name : join(rel, entry.name);
          // Symbolic links are followed to what they name (a linked folder of policies counts).
          const kind = entry.isSymbolicLink() ? stat(path) : entry.isDirectory() ? 'directory' : entry.isFile() ? 'file' : undefined;
          if (kind === 'directory' && !isSkippedFolder(entry.name)) walk(path);
          else if (kind === 'file' && entry.name.endsWith('.seg')) out.push(path);
        }
      };
      walk(dir);
      return sortPaths(out);
    },
    readFile,
    async writeFileAtomic(path, text) {
      // Loaded here, not at the top: `check` never writes, and its start-up time matters.
      const { default: write } = await import('write-file-atomic');
      await write(abs(path), text);
    },
  };
}

/** What kind of file a stat describes, for a message (`a FIFO`). */
export function describeFileKind(st: Stats): string {
  if (st.isDirectory()) return 'a folder';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

/**
 * A policy file's text, read with care: opened non-blocking (opening a FIFO for a blocking read
 * waits for a writer forever), then only a regular file (fstat of the open descriptor, so a
 * swap after a stat cannot slip a device in) of at most `maxBytes`, decoded as strict UTF-8.
 * Refusals say what the file is, never what it holds.
 */
export function readRegularFile(path: string, maxBytes: number): SourceRead {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return { kind: 'missing' };
    if (code === 'EACCES' || code === 'EPERM') return { kind: 'refused', reason: 'permission denied', hint: 'make the file readable by the user running segc' };
    if (code === 'ELOOP') return { kind: 'refused', reason: 'too many levels of symbolic links', hint: 'a symbolic link points at itself; fix the link' };
    if (code === 'ENXIO') return { kind: 'refused', reason: 'it is a socket, not a regular file', hint: 'name a .seg policy file' };
    return { kind: 'refused', reason: `it cannot be opened (${code ?? String(error)})`, hint: 'name a readable .seg policy file' };
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return { kind: 'refused', reason: `it is ${describeFileKind(st)}, not a regular file`, hint: st.isDirectory() ? 'name a .seg file (a folder is read whole only on the command line)' : 'name a .seg policy file' };
    if (st.size > maxBytes) return tooLarge(st.size, maxBytes);
    // One byte more than allowed, to notice a file that grows while it is read.
    const buffer = Buffer.alloc(Math.min(st.size, maxBytes) + 1);
    let got = 0;
    for (;;) {
      const n = readSync(fd, buffer, got, buffer.length - got, null);
      if (n === 0) break;
      got += n;
      if (got === buffer.length) break;
    }
    if (got > maxBytes) return tooLarge(got, maxBytes);
    try {
      return { kind: 'text', text: STRICT_UTF8.decode(buffer.subarray(0, got)) };
    } catch {
      return { kind: 'refused', reason: 'it is not UTF-8 text', hint: 'policy files are UTF-8 text; include only .seg policy files' };
    }
  } catch (error) {
    return { kind: 'refused', reason: `it cannot be read (${(error as NodeJS.ErrnoException).code ?? String(error)})`, hint: 'name a readable .seg policy file' };
  } finally {
    closeSync(fd);
  }
}

const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

/** What a memory io captured: the output so far and the files as they are now. */
export interface MemoryIo extends CliIo {
  readonly files: Map<string, string>;
  /** Everything written to stdout / stderr so far. */
  out(): string;
  err(): string;
}

export interface MemoryIoOptions {
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly isTTY?: boolean;
  readonly cwd?: string;
}

/**
 * An io over a map of POSIX paths (relative, normalised: `dir/a.seg`) to texts. Folders exist
 * implicitly wherever some file lies below them; `.` is the root.
 */
export function createMemoryIo(initial: Readonly<Record<string, string>>, options: MemoryIoOptions = {}): MemoryIo {
  const files = new Map<string, string>();
  for (const [path, text] of Object.entries(initial)) files.set(normalizePosixPath(path), text);
  let out = '';
  let err = '';
  const readFile = (path: string) => files.get(normalizePosixPath(path));
  const under = (dir: string) => (dir === '.' ? '' : dir + '/');
  const isDirectory = (dir: string) => dir === '.' || [...files.keys()].some((p) => p.startsWith(under(dir)));
  return {
    files,
    out: () => out,
    err: () => err,
    stdout: { write: (text) => void (out += text) },
    stderr: { write: (text) => void (err += text) },
    cwd: options.cwd ?? '/work',
    env: options.env ?? {},
    stdoutIsTTY: options.isTTY ?? false,
    stderrIsTTY: options.isTTY ?? false,
    host: { readFile, resolveInclude: resolvePosixInclude },
    stat(path) {
      const p = normalizePosixPath(path);
      return files.has(p) ? 'file' : isDirectory(p) ? 'directory' : undefined;
    },
    listSegFiles(dir) {
      const prefix = under(normalizePosixPath(dir));
      const found = [...files.keys()].filter(
        (p) => p.startsWith(prefix) && p.endsWith('.seg') && !p.slice(prefix.length).split('/').slice(0, -1).some(isSkippedFolder),
      );
      return sortPaths(found);
    },
    readFile,
    writeFileAtomic(path, text) {
      files.set(normalizePosixPath(path), text);
      return Promise.resolve();
    },
  };
}
