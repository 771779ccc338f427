// The files a command works on: command-line paths expanded (a folder means every *.seg below
// it, sorted), normalised and without repeats, and a policy's packet tests beside it (X.test.seg
// next to X.seg). Missing paths, and devices, FIFOs and sockets, are a usage error (exit 2).
import { InvalidArgumentError, type Command } from 'commander';
import { getHeapStatistics } from 'node:v8';
import { DEFAULT_COMPILE_BUDGET_MS, DEFAULT_COMPILE_MEMORY_BYTES, DEFAULT_INPUT_LIMITS, normalizePosixPath } from '../../compiler/source.ts';
import { CliError } from './command.ts';
import type { CliIo } from './io.ts';

export function resolveInputFiles(paths: readonly string[], io: CliIo): string[] {
  const files: string[] = [];
  const missing: string[] = [];
  const empty: string[] = [];
  const special: string[] = [];
  for (const path of paths) {
    const kind = io.stat(path);
    if (kind === undefined) missing.push(path);
    else if (kind === 'special') special.push(path);
    else if (kind === 'file') files.push(path);
    else {
      const found = io.listSegFiles(path);
      if (found.length === 0) empty.push(path);
      // A loop: a folder may hold more files than a spread can pass as arguments.
      for (const f of found) files.push(f);
    }
  }
  const quote = (list: string[]) => list.map((p) => `'${p}'`).join(', ');
  if (missing.length > 0) throw new CliError('usage', `no such file or folder: ${quote(missing)}`, 'check the path (relative paths start from the current folder)');
  // A device, FIFO or socket is never opened (a FIFO would block, /dev/zero never ends).
  if (special.length > 0) throw new CliError('usage', `not a policy file: ${quote(special)} is a device, FIFO or socket, not a regular file`, 'name .seg policy files, or folders that hold them');
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

/** The options that bound what a compilation reads and how long it runs (check, compile, deploy). */
export interface InputLimitOptions {
  readonly maxIncludeSize?: number;
  readonly maxIncludeDepth?: number;
  readonly compileBudget?: number;
  readonly compileMemory?: number;
}

function wholeNumberAtLeastOne(text: string): number {
  if (!/^\d+$/.test(text) || Number(text) < 1) throw new InvalidArgumentError('expected a whole number, at least 1');
  return Number(text);
}

/**
 * The memory budget when --compile-memory is absent: the compiler's default, or less where this
 * process's heap limit is lower (past that limit V8 ends the process instead of the compile
 * stopping with a diagnostic).
 */
export function defaultCompileMemory(): number {
  return Math.min(DEFAULT_COMPILE_MEMORY_BYTES, Math.floor(getHeapStatistics().heap_size_limit * 0.75));
}

/** Adds --max-include-size, --max-include-depth, --compile-budget and --compile-memory (docs/cli.md "Input limits"). */
export function addInputLimitOptions(command: Command): Command {
  return command
    .option('--max-include-size <bytes>', `bytes a policy file may hold (default ${DEFAULT_INPUT_LIMITS.maxFileBytes}, 16 MiB)`, wholeNumberAtLeastOne)
    .option('--max-include-depth <n>', `how deep includes may nest (default ${DEFAULT_INPUT_LIMITS.maxIncludeDepth})`, wholeNumberAtLeastOne)
    .option('--compile-budget <ms>', `time the whole compilation may take, analysis included (default ${DEFAULT_COMPILE_BUDGET_MS})`, wholeNumberAtLeastOne)
    .option('--compile-memory <MiB>', `memory the whole compilation may take beyond what segc used when it began, analysis included (default ${DEFAULT_COMPILE_MEMORY_BYTES / 1024 ** 2}, less where Node's heap limit is lower)`, wholeNumberAtLeastOne);
}

/** The compile options those flags give (absent flags: the compiler's defaults). */
export function inputLimitsOf(options: InputLimitOptions): { limits?: { maxFileBytes?: number; maxIncludeDepth?: number }; budgetMs?: number; memoryBudgetBytes: number; memoryUsed: () => number } {
  const limits = {
    ...(options.maxIncludeSize === undefined ? {} : { maxFileBytes: options.maxIncludeSize }),
    ...(options.maxIncludeDepth === undefined ? {} : { maxIncludeDepth: options.maxIncludeDepth }),
  };
  return {
    limits,
    ...(options.compileBudget === undefined ? {} : { budgetMs: options.compileBudget }),
    memoryBudgetBytes: options.compileMemory === undefined ? defaultCompileMemory() : options.compileMemory * 1024 ** 2,
    // The resident set: what the host pays, whatever holds it (heap, buffers, the parser's tables).
    memoryUsed: () => process.memoryUsage.rss(),
  };
}
