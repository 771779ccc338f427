// `segc check`: compiles the named files (and folders of them), reports every diagnostic in
// the chosen format, and says whether the input has problems: errors, or with --strict
// warnings too.
import { setFlagsFromString } from 'node:v8';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { Code, hasErrors, makeDiagnostic, sortDiagnostics, type Diagnostic } from '../../compiler/diagnostics.ts';
import type { CompileOptions, HostContext } from '../../compiler/program.ts';
import type { SourceFile } from '../../compiler/source.ts';
import { formatHuman } from '../../compiler/report/human.ts';
import { formatJson } from '../../compiler/report/json.ts';
import { formatSarif } from '../../compiler/report/sarif.ts';
import type { ReportSources } from '../../compiler/report/location.ts';
import { CliError, recordOutcome, type Outcome } from './command.ts';
import { colorOption, noColorOption, useColor } from './options.ts';
import { EXPIRY_WINDOW_HELP, expiryOptionsOf, parseExpiryWindow } from './clock.ts';
import { addInputLimitOptions, companionTests, inputLimitsOf, resolveInputFiles, type InputLimitOptions } from './inputs.ts';
import type { CliIo } from './io.ts';
import { packageInfo } from './package-info.ts';

export const CHECK_FORMATS = ['human', 'json', 'sarif'] as const;
export type CheckFormat = (typeof CHECK_FORMATS)[number];

export interface CheckOptions extends InputLimitOptions {
  readonly format: CheckFormat;
  readonly strict?: boolean;
  readonly color?: boolean;
  /** Milliseconds the rule analysis may take before it reports what it did not finish. */
  readonly analysisBudget?: number;
  /** Each file (with its includes) is a policy of its own, instead of all files being one. */
  readonly each?: boolean;
  /** Days before a rule's `expires` date from which it is reported (SEG3104). */
  readonly expiryWindow?: number;
  /** A JSON file of management flows the policy must not deny (the lock-out guard, SEG5101). */
  readonly hostContext?: string;
}

const EXAMPLES = `
Examples:
  $ segc check web.seg common.seg
  $ segc check policies/                      every .seg file below the folder
  $ segc check --strict --format json policies/
  $ segc check --format sarif . > segc.sarif  for GitHub code scanning (upload-sarif)
  $ segc check --each hosts/                  each file a policy of its own (with its includes)
  $ segc check --expiry-window 30d web.seg    warn 30 days before a rule's 'expires' date
  $ segc check --host-context host.json web.seg   the deploy's lock-out guard, for CI

The files named form one policy, as for compile and deploy: names declared in one are visible in
all. A folder of separate policies (one per host, say) is checked with --each. A rule past its
'expires' date is an error, one within the window a warning; SEGC_NOW=YYYY-MM-DD sets "today".
--host-context FILE runs the lock-out guard of 'segc deploy' (SEG5101): FILE is JSON,
  {"keep": ["tcp 22", "tcp 9464"], "flows": ["tcp 10.0.0.2:50000 -> 10.0.0.1:22"],
   "ssh": "10.0.0.2 50000 10.0.0.1 22"}   (every field optional; "ssh" as SSH_CONNECTION).

Exit codes: 0 no errors, 1 errors (with --strict, warnings too), 2 usage or internal error.`;

export function register(program: Command, io: CliIo): void {
  const command = program
    .command('check')
    .summary('report every problem in .seg files')
    .description('Check .seg policy files: syntax, names, values, includes and the rule analysis.')
    .argument('<paths...>', 'policy files, or folders (every *.seg below them, sorted)')
    .addOption(new Option('--format <format>', 'output format').choices(CHECK_FORMATS).default('human'))
    .option('--strict', 'treat warnings as problems too (exit 1)')
    .addOption(colorOption('the human output even when it is not a terminal'))
    .addOption(noColorOption())
    .option('--each', 'check each file, with the files it includes, as a policy of its own')
    .option('--analysis-budget <ms>', 'time the rule analysis may take, in milliseconds', parseMilliseconds)
    .option('--expiry-window <days>', EXPIRY_WINDOW_HELP, parseExpiryWindow)
    .option('--host-context <file>', "management flows the policy must not deny (JSON: keep, flows, ssh): deploy's lock-out guard");
  addInputLimitOptions(command)
    .addHelpText('after', EXAMPLES)
    .action(async (paths: string[], options: CheckOptions, command: Command) => {
      // The rule analysis of a big policy makes garbage that lives for a while: V8 lets the old
      // generation grow to about 2.6 times what survived the last full collection before it
      // collects again, and that garbage became the check's peak RSS (a 100k-rule check: 440-480
      // MiB). Growing by 1.5 times instead costs a few more full collections and keeps the peak
      // near 345-415 MiB (docs/front-end.md). A V8 flag, so set for this process's command only.
      setFlagsFromString('--heap-growing-percent=50');
      recordOutcome(command, await check(paths, options, io));
    });
}

export async function check(paths: readonly string[], options: CheckOptions, io: CliIo): Promise<Outcome> {
  const files = resolveInputFiles(paths, io);
  let report: CheckReport;
  try {
    report = await checkFiles(files, options, io);
  } catch (error) {
    // A bug in segc. Tools reading JSON or SARIF still get a report they can parse, naming the
    // bug as SEG9001; then the error goes on to `run`, which prints it and exits 2.
    if (options.format !== 'human') io.stdout.write(formatCheckReport([internalErrorDiagnostic(error, files)], new Map(), options, io));
    throw error;
  }
  io.stdout.write(formatCheckReport(report.diagnostics, report.sources, options, io));
  return checkOutcome(report.diagnostics, options.strict === true);
}

interface CheckReport {
  readonly diagnostics: readonly Diagnostic[];
  readonly sources: ReadonlyMap<string, SourceFile>;
}

/**
 * One compilation of every file, or with --each one per file. With --each, a file that another
 * named file includes is checked inside that one (where its declarations are used), not again
 * on its own, and a file two of them include is reported once; a policy's packet tests
 * (X.test.seg beside X.seg) are checked with it, as `segc test` runs them.
 */
async function checkFiles(files: readonly string[], options: CheckOptions, io: CliIo): Promise<CheckReport> {
  // Loaded here so that `segc --help` and the other commands do not pay for the compiler.
  const { compile } = await import('../../compiler/program.ts');
  const groups = options.each === true ? eachGroups(files, io) : [files];
  const runs: (CheckReport & { readonly root: string })[] = [];
  for (const group of groups) {
    const compilation = compile(group, io.host, await compileOptionsOf(options, io));
    runs.push({ root: group[0] ?? '', sources: compilation.sources, diagnostics: compilation.diagnostics });
  }
  const [only] = runs;
  if (runs.length === 1 && only !== undefined) return only;
  const includedByAnother = (r: (typeof runs)[number]) => runs.some((o) => o !== r && o.sources.has(r.root) && !r.sources.has(o.root));
  const sources = new Map<string, SourceFile>();
  const found = new Map<string, Diagnostic>();
  for (const r of runs.filter((x) => !includedByAnother(x))) {
    for (const [path, file] of r.sources) sources.set(path, file);
    for (const d of r.diagnostics) found.set(diagnosticKey(d), d);
  }
  return { diagnostics: sortDiagnostics([...found.values()]), sources };
}

/** --each: one group per policy, its packet tests with it; tests beside no policy on their own. */
function eachGroups(files: readonly string[], io: CliIo): string[][] {
  const companions = new Map(files.map((f) => [f, companionTests(f, io)]));
  const joined = new Set([...companions.values()].filter((c) => c !== undefined));
  return files.filter((f) => !joined.has(f)).map((f) => {
    const c = companions.get(f);
    return c === undefined ? [f] : [f, c];
  });
}

/** Two diagnostics with this key say the same thing at the same place. */
function diagnosticKey(d: Diagnostic): string {
  return `${d.code} ${d.span.file} ${d.span.start} ${d.span.end} ${d.message}`;
}

/**
 * check always runs the rule analysis (within the budget when one is given) and checks expiry.
 * It reports from the diagnostics and the sources alone, so the syntax trees go before the
 * analysis (its memory then comes on top of the IR only).
 */
async function compileOptionsOf(options: CheckOptions, io: CliIo): Promise<CompileOptions> {
  const hostContext = options.hostContext === undefined ? undefined : await readHostContext(options.hostContext, io);
  return { keepSyntax: false, analysis: options.analysisBudget === undefined ? {} : { budgetMs: options.analysisBudget }, expiry: await expiryOptionsOf(io, options.expiryWindow), ...inputLimitsOf(options), ...(hostContext ? { hostContext } : {}) };
}

/** `--host-context FILE`: the management flows, as `deploy` gathers them on a host. */
async function readHostContext(path: string, io: CliIo): Promise<HostContext> {
  const text = io.readFile(path);
  if (text === undefined) throw new CliError('usage', `cannot read the host context ${path}`);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new CliError('usage', `${path} is not JSON: ${(error as Error).message}`);
  }
  const o = (typeof json === 'object' && json !== null && !Array.isArray(json) ? json : undefined) as Record<string, unknown> | undefined;
  const list = (v: unknown, what: string): string[] => {
    if (v === undefined) return [];
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw new CliError('usage', `${path}: ${what} must be a list of strings`);
    return v as string[];
  };
  if (!o) throw new CliError('usage', `${path}: expected a JSON object with keep, flows and ssh`);
  if (o['ssh'] !== undefined && typeof o['ssh'] !== 'string') throw new CliError('usage', `${path}: ssh must be a string like SSH_CONNECTION ("client port server port")`);
  const { managementContext, KeepError } = await import('../lockout.ts');
  try {
    return await managementContext({ env: { SSH_CONNECTION: o['ssh'] as string | undefined }, keep: [...list(o['keep'], 'keep'), ...list(o['flows'], 'flows')] });
  } catch (error) {
    if (error instanceof KeepError) throw new CliError('usage', `${path}: ${error.message.replace(/^--keep /, '')}`);
    throw error;
  }
}

/** SEG9001 for an exception out of the compiler, placed at the start of the first file. */
export function internalErrorDiagnostic(error: unknown, files: readonly string[]): Diagnostic {
  const message = error instanceof Error ? error.message : String(error);
  return makeDiagnostic(Code.InternalError, { file: files[0] ?? '', start: 0, end: 0 }, { message });
}

/** Findings are errors, and with `strict` warnings too; infos never are. */
export function checkOutcome(diagnostics: readonly Diagnostic[], strict: boolean): Outcome {
  const failing = hasErrors(diagnostics) || (strict && diagnostics.some((d) => d.severity === 'warning'));
  return failing ? 'findings' : 'ok';
}

export function formatCheckReport(diagnostics: readonly Diagnostic[], sources: ReportSources, options: CheckOptions, io: CliIo): string {
  switch (options.format) {
    case 'human':
      return formatHuman(diagnostics, sources, { color: useColor(io, 'stdout', options.color), fileCount: sources.size });
    case 'json':
      return formatJson(diagnostics, sources, { fileCount: sources.size });
    case 'sarif': {
      const info = packageInfo();
      return formatSarif(diagnostics, sources, {
        toolVersion: info.version,
        informationUri: info.informationUri,
        docsUri: info.docsUri,
        baseDir: io.cwd,
      });
    }
  }
}

function parseMilliseconds(text: string): number {
  if (!/^\d+$/.test(text) || Number(text) < 1) throw new InvalidArgumentError('expected a whole number of milliseconds, at least 1');
  return Number(text);
}
