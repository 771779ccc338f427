// The files a command works on: command-line paths expanded (a folder means every *.seg below
// it, sorted), normalised and without repeats, and a policy's packet tests beside it (X.test.seg
// next to X.seg). Missing paths are a usage error (exit 2).
import { normalizePosixPath } from '../../compiler/source.ts';
import { CliError } from './command.ts';
import type { CliIo } from './io.ts';

export function resolveInputFiles(paths: readonly string[], io: CliIo): string[] {
  const files: string[] = [];
  const missing: string[] = [];
  const empty: string[] = [];
  for (const path of paths) {
    const kind = io.stat(path);
    if (kind === undefined) missing.push(path);
    else if (kind === 'file') files.push(path);
    else {
      const found = io.listSegFiles(path);
      if (found.length === 0) empty.push(path);
      files.push(...found);
    }
  }
  const quote = (list: string[]) => list.map((p) => `'${p}'`).join(', ');
  if (missing.length > 0) throw new CliError('usage', `no such file or folder: ${quote(missing)}`, 'check the path (relative paths start from the current folder)');
  if (empty.length > 0) throw new CliError('usage', `no .seg files under ${quote(empty)}`, 'name .seg files or folders that hold some');
  // Paths are normalised so that a file named twice (or also reached through an include,
  // whose path the compiler normalises) is one file, not two with clashing declarations.
  return [...new Set(files.map(normalizePosixPath))];
}

/** The X.test.seg beside a policy X.seg, when there is one. */
export function companionTests(file: string, io: CliIo): string | undefined {
  const companion = file.replace(/(?<!\.test)\.seg$/, '.test.seg');
  return companion !== file && io.stat(companion) === 'file' ? companion : undefined;
}

/** The files named, each X.seg with the X.test.seg beside it. */
export function testFilesOf(paths: readonly string[], io: CliIo): string[] {
  const files = resolveInputFiles(paths.length === 0 ? ['.'] : paths, io);
  const out = new Set(files);
  for (const f of files) {
    const companion = companionTests(f, io);
    if (companion !== undefined) out.add(companion);
  }
  return [...out];
}
