// The compiler pipeline: takes root files and a host; parses each file (and its includes),
// resolves names and lowers to the IR. Runs the stages and nothing else; returns a `Compilation`.
import type { FileAst } from './ast.ts';
import { parseSourceFile } from './build-ast.ts';
import { createCollector, sortDiagnostics, type Diagnostic } from './diagnostics.ts';
import type { ProgramIr } from './ir.ts';
import { lower } from './lower.ts';
import { resolve, type ParseFile } from './resolve.ts';
import type { CompilerHost, SourceFile } from './source.ts';

/** Options of a compilation; later stages (rule analysis) add theirs here. */
export interface CompileOptions {
  /** The parser to use; tests and tools may pass another. Defaults to `parseSourceFile`. */
  readonly parseFile?: ParseFile;
}

export interface Compilation {
  /** The IR, or undefined when any front-end error was reported. */
  readonly ir: ProgramIr | undefined;
  /** Every diagnostic, sorted (file, offset, code). */
  readonly diagnostics: readonly Diagnostic[];
  /** Every file of the compilation (roots and includes), by path, sorted. */
  readonly sources: ReadonlyMap<string, SourceFile>;
  readonly asts: ReadonlyMap<string, FileAst>;
}

export function compile(rootFiles: readonly string[], host: CompilerHost, options: CompileOptions = {}): Compilation {
  const diagnostics = createCollector();
  const resolved = resolve({ rootFiles, host, parseFile: options.parseFile ?? parseSourceFile, diagnostics });
  const ir = lower(resolved, diagnostics);
  return {
    ir,
    diagnostics: sortDiagnostics(diagnostics.items),
    sources: new Map(resolved.files.map((f) => [f.path, f])),
    asts: new Map(resolved.asts.map((a, i) => [(resolved.files[i] as SourceFile).path, a])),
  };
}
