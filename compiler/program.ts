// The compiler pipeline: takes root files and a host; parses each file (and its includes),
// resolves names, lowers to the IR and, when asked, runs the rule analysis. Runs the stages and
// nothing else; returns a `Compilation`.
import { analyze, DEFAULT_ANALYSIS_BUDGET_MS, type AnalysisOptions, type AnalysisResult } from './analysis/index.ts';
import type { FileAst } from './ast.ts';
import { parseSourceFile } from './build-ast.ts';
import { Code, createCollector, sortDiagnostics, type Diagnostic } from './diagnostics.ts';
import { createInputReader } from './input-limits.ts';
import type { ProgramIr } from './ir.ts';
import { checkExpiry, type ExpiryOptions } from './expiry.ts';
import { decideNoSession, type NoSessionResult } from './analysis/no-session.ts';

// For the CLI, which loads this module lazily: the stages its commands run besides `compile`
// come with it, so that the bundled CLI (scripts/bundle-cli.ts) loads one chunk for them, not
// one per module that two commands share.
export { dayOf } from './expiry.ts';
export { expectationHolds, runTests } from './packet-tests.ts';
export { diffPolicies } from './diff.ts';
export { evaluate } from './evaluate.ts';
import { lower, type LowerCache } from './lower.ts';
import { lowerTests, type PacketTestIr } from './packet-tests.ts';
import { findLockouts, keepPolicyText, type KeepEntry, type ManagementFlow } from './lockout.ts';
import { resolve, type ParseFile, type ResolvedProgram } from './resolve.ts';
import { createMemoryHost, DEFAULT_COMPILE_BUDGET_MS, DEFAULT_COMPILE_MEMORY_BYTES, DEFAULT_INPUT_LIMITS, type CompilerHost, type InputLimits, type SourceFile } from './source.ts';

export { DEFAULT_COMPILE_BUDGET_MS, DEFAULT_COMPILE_MEMORY_BYTES } from './source.ts';

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
  /** Check the lock-out guard against these management flows (SEG5101); absent, it does not run. */
  readonly hostContext?: HostContext;
  /** What the compilation may read (per file, in all, include depth); absent fields: the defaults. */
  readonly limits?: Partial<InputLimits>;
  /**
   * Milliseconds the whole compilation may take (reading, parsing, lowering; the analysis keeps
   * its own budget inside what is left). Over it, the stages not done are named by SEG9002 and
   * there is no IR. Default 60 000; 0 or less: unlimited.
   */
  readonly budgetMs?: number;
  /** The clock, in milliseconds (default `performance.now`); tests pass a fake one. */
  readonly now?: () => number;
  /**
   * Bytes of memory the whole compilation may take beyond what was in use when it began, by
   * `memoryUsed`. Over it, as over the time budget: reading stops, the stages not done are named
   * by SEG9002 (no IR), and the analysis stops with SEG5005. Default 2 GiB; 0 or less: unlimited.
   */
  readonly memoryBudgetBytes?: number;
  /** The host's measure of memory in use, in bytes (the CLI: the process's resident set); absent: no memory budget. */
  readonly memoryUsed?: () => number;
  /**
   * Lowered rules of an earlier compilation of the same document to reuse where a rule's text is
   * unchanged (lower.ts `createLowerCache`; the language server keeps one per open document).
   */
  readonly lowerCache?: LowerCache;
  /**
   * Keep the syntax trees in the result (`asts`, `resolved`): the default. `false` lets them go
   * once the IR is made, before the rule analysis, whose working memory then comes on top of the
   * IR alone (a 100k-rule `segc check` peaks some 45 MB lower); `asts` is then empty and
   * `resolved` keeps only `files`. For callers that read nothing but the IR, the diagnostics
   * and the sources.
   */
  readonly keepSyntax?: boolean;
}

/** The connections that manage the host (`check --host-context`, `deploy`'s guard). */
export interface HostContext {
  readonly flows: readonly ManagementFlow[];
  readonly keeps: readonly KeepEntry[];
  /** A deploy in audit mode denies nothing. */
  readonly audit?: boolean;
}

export interface Compilation {
  /** The IR, or undefined when any front-end error was reported. */
  readonly ir: ProgramIr | undefined;
  /** Every diagnostic, sorted (file, offset, code). */
  readonly diagnostics: readonly Diagnostic[];
  /** Every file of the compilation (roots and includes), by path, sorted. */
  readonly sources: ReadonlyMap<string, SourceFile>;
  /** Every file's AST, by path (none with `keepSyntax: false`). */
  readonly asts: ReadonlyMap<string, FileAst>;
  /** What name resolution found (declarations and where each name is used), for tools (only `files` with `keepSyntax: false`). */
  readonly resolved: ResolvedProgram;
  /** The `test` blocks (segc's extension), lowered; their errors are among `diagnostics`. */
  readonly tests: readonly PacketTestIr[];
  /** The rule analysis's result (its findings are among `diagnostics`), when it ran. */
  readonly analysis?: AnalysisResult;
  /**
   * With an IR: the rules whose `nosession` takes effect (hand `ruleIds` to `emit`); its
   * warnings (SEG5102, SEG5103) are among `diagnostics`. Decided whether or not the rule
   * analysis runs: the data path depends on it.
   */
  readonly noSession?: NoSessionResult;
}

export function compile(rootFiles: readonly string[], host: CompilerHost, options: CompileOptions = {}): Compilation {
  const diagnostics = createCollector();
  const now = options.now ?? (() => performance.now());
  const budgetMs = options.budgetMs ?? DEFAULT_COMPILE_BUDGET_MS;
  const deadline = budgetMs > 0 ? now() + budgetMs : Infinity;
  const memoryUsed = options.memoryUsed;
  const memoryBudget = options.memoryBudgetBytes ?? DEFAULT_COMPILE_MEMORY_BYTES;
  const memoryCeiling = memoryUsed !== undefined && memoryBudget > 0 ? memoryUsed() + memoryBudget : Infinity;
  const overMemory = () => memoryCeiling !== Infinity && (memoryUsed?.() ?? 0) > memoryCeiling;
  const memoryLabel = `${Math.round(memoryBudget / 1024 ** 2)} MiB of memory`;
  let cause: 'time' | 'memory' | undefined;
  const overBudget = () => {
    if (cause === undefined && now() > deadline) cause = 'time';
    if (cause === undefined && overMemory()) cause = 'memory';
    return cause !== undefined;
  };
  const limits: InputLimits = { ...DEFAULT_INPUT_LIMITS, ...options.limits };
  const read = createInputReader(host, limits, overBudget);
  let resolved = resolve({ rootFiles, host, parseFile: options.parseFile ?? parseSourceFile, diagnostics, read, maxIncludeDepth: limits.maxIncludeDepth });
  // Over budget after reading: say what was not done and stop (no IR, so nothing deploys).
  const stop = (what: string) => {
    const first = rootFiles[0] ?? '';
    const memory = cause === 'memory';
    diagnostics.add(Code.CompileBudget, { file: first, start: 0, end: 0 }, { budget: memory ? memoryLabel : `${budgetMs} ms`, what, option: memory ? '--compile-memory' : '--compile-budget' });
  };
  let tests: readonly PacketTestIr[] = [];
  let ir: ProgramIr | undefined;
  if (overBudget()) stop('lowering, and with it the rule analysis and the packet tests,');
  else {
    // Before `lower`, so that a malformed test is an error of the compilation (no IR).
    tests = lowerTests(resolved, diagnostics);
    ir = lower(resolved, diagnostics, options.lowerCache);
    if (ir !== undefined && overBudget()) {
      ir = undefined;
      stop('the rule analysis (lowering finished late)');
    }
  }
  // The syntax trees are garbage from here on when the caller wants none (before the analysis).
  if (options.keepSyntax === false) resolved = compileWithoutSyntax(resolved);
  // Expiry reports on a valid IR; an expired rule is an error but the IR stays (deploy decides).
  // Findings are appended by loops, never push(...findings): a spread passes each item as an
  // argument, and past some 100k of them that overflows the call stack.
  if (ir !== undefined && options.expiry !== undefined) for (const d of checkExpiry(ir, options.expiry)) diagnostics.items.push(d);
  const noSession = ir !== undefined ? decideNoSession(ir) : undefined;
  if (noSession) for (const d of noSession.diagnostics) diagnostics.items.push(d);
  // lower() gives an IR only when there is no error, so the analysis never sees a broken policy.
  // Its budget is its own, within what is left of the compile's.
  const analysisOptions = options.analysis && {
    ...options.analysis,
    budgetMs: Math.max(1, Math.min(options.analysis.budgetMs ?? DEFAULT_ANALYSIS_BUDGET_MS, deadline - now())),
    ...(memoryUsed !== undefined && memoryCeiling !== Infinity ? { memory: { used: memoryUsed, ceiling: memoryCeiling, label: memoryLabel } } : {}),
  };
  const analysis = ir !== undefined && analysisOptions !== undefined ? analyze(ir, analysisOptions) : undefined;
  if (analysis) for (const d of analysis.diagnostics) diagnostics.items.push(d);
  if (ir !== undefined && options.hostContext !== undefined) for (const d of checkLockout(ir, options.hostContext)) diagnostics.items.push(d);
  return {
    ir,
    diagnostics: sortDiagnostics(diagnostics.items),
    sources: new Map(resolved.files.map((f) => [f.path, f])),
    asts: new Map(resolved.asts.map((a, i) => [(resolved.files[i] as SourceFile).path, a])),
    resolved,
    tests,
    ...(analysis ? { analysis } : {}),
    ...(noSession ? { noSession } : {}),
  };
}

/** What a compilation keeps of name resolution when its caller wants no syntax trees. */
function compileWithoutSyntax(resolved: ResolvedProgram): ResolvedProgram {
  return { files: resolved.files, asts: [], symbols: new Map(), order: [], references: { get: () => null }, policies: [] };
}

/** The lock-out guard: one SEG5101 per management flow `ir` would deny. */
export function checkLockout(ir: ProgramIr, context: HostContext): Diagnostic[] {
  let keepIr: ProgramIr | undefined;
  if (context.keeps.length > 0) {
    const keepFile = '<keep>';
    keepIr = compile([keepFile], createMemoryHost({ [keepFile]: keepPolicyText(context.keeps) })).ir;
    // parseKeep admits only what compiles; a failure here is a bug.
    if (keepIr === undefined) throw new Error(`the keep entries do not compile: ${context.keeps.map((k) => k.text).join(', ')}`);
  }
  return findLockouts(ir, context.flows, context.keeps, keepIr, { audit: context.audit === true });
}
