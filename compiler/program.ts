// The compiler pipeline: takes root files and a host; parses each file (and its includes),
// resolves names, lowers to the IR and, when asked, runs the rule analysis. Runs the stages and
// nothing else; returns a `Compilation`.
import { analyze, type AnalysisOptions, type AnalysisResult } from './analysis/index.ts';
import type { FileAst } from './ast.ts';
import { parseSourceFile } from './build-ast.ts';
import { createCollector, sortDiagnostics, type Diagnostic } from './diagnostics.ts';
import type { ProgramIr } from './ir.ts';
import { checkExpiry, type ExpiryOptions } from './expiry.ts';

// For the CLI, which loads this module lazily: the stages its commands run besides `compile`
// come with it, so that the bundled CLI (scripts/bundle-cli.ts) loads one chunk for them, not
// one per module that two commands share.
export { dayOf } from './expiry.ts';
export { expectationHolds, runTests } from './packet-tests.ts';
export { diffPolicies } from './diff.ts';
export { evaluate } from './evaluate.ts';
import { lower } from './lower.ts';
import { lowerTests, type PacketTestIr } from './packet-tests.ts';
import { resolve, type ParseFile, type ResolvedProgram } from './resolve.ts';
import type { CompilerHost, SourceFile } from './source.ts';

/** Options of a compilation. */
export interface CompileOptions {
  /** The parser to use; tests and tools may pass another. Defaults to `parseSourceFile`. */
  readonly parseFile?: ParseFile;
  /**
   * Run the rule analysis (shadowed, redundant, conflict, generalization, unused) on an IR
   * without errors, with these options; absent, it does not run (compile and emit need none).
   */
  readonly analysis?: AnalysisOptions;
  /**
   * Check `expires` dates against this day (SEG3103 expired, SEG3104 soon); absent, they are
   * not checked. The caller supplies the day: the compiler reads no clock.
   */
  readonly expiry?: ExpiryOptions;
}

export interface Compilation {
  /** The IR, or undefined when any front-end error was reported. */
  readonly ir: ProgramIr | undefined;
  /** Every diagnostic, sorted (file, offset, code). */
  readonly diagnostics: readonly Diagnostic[];
  /** Every file of the compilation (roots and includes), by path, sorted. */
  readonly sources: ReadonlyMap<string, SourceFile>;
  readonly asts: ReadonlyMap<string, FileAst>;
  /** What name resolution found (declarations and where each name is used), for tools. */
  readonly resolved: ResolvedProgram;
  /** The `test` blocks (segc's extension), lowered; their errors are among `diagnostics`. */
  readonly tests: readonly PacketTestIr[];
  /** The rule analysis's result (its findings are among `diagnostics`), when it ran. */
  readonly analysis?: AnalysisResult;
}

export function compile(rootFiles: readonly string[], host: CompilerHost, options: CompileOptions = {}): Compilation {
  const diagnostics = createCollector();
  const resolved = resolve({ rootFiles, host, parseFile: options.parseFile ?? parseSourceFile, diagnostics });
  // Before `lower`, so that a malformed test is an error of the compilation (no IR).
  const tests = lowerTests(resolved, diagnostics);
  const ir = lower(resolved, diagnostics);
  // Expiry reports on a valid IR; an expired rule is an error but the IR stays (deploy decides).
  if (ir !== undefined && options.expiry !== undefined) diagnostics.items.push(...checkExpiry(ir, options.expiry));
  // lower() gives an IR only when there is no error, so the analysis never sees a broken policy.
  const analysis = ir !== undefined && options.analysis !== undefined ? analyze(ir, options.analysis) : undefined;
  if (analysis) diagnostics.items.push(...analysis.diagnostics);
  return {
    ir,
    diagnostics: sortDiagnostics(diagnostics.items),
    sources: new Map(resolved.files.map((f) => [f.path, f])),
    asts: new Map(resolved.asts.map((a, i) => [(resolved.files[i] as SourceFile).path, a])),
    resolved,
    tests,
    ...(analysis ? { analysis } : {}),
  };
}
