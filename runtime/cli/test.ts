// `segc test`: compiles the named policy files (each named X.seg brings its X.test.seg along)
// and runs the expectations of their `test` blocks against the reference interpreter; with
// --kernel also through the compiled program under BPF_PROG_TEST_RUN. Reports failures in
// words, as JSON or as JUnit XML, with --coverage the rules no expectation reaches. Exit 1 on a
// failed expectation or a policy with errors.
import { Option, type Command } from 'commander';
import { hasErrors } from '../../compiler/diagnostics.ts';
import type { ProgramIr } from '../../compiler/ir.ts';
import type { ExpectationResult } from '../../compiler/packet-tests.ts';
import { formatHuman } from '../../compiler/report/human.ts';
import type { KernelResult } from '../../compiler/report/test-results.ts';
import { CliError, recordOutcome, type Outcome } from './command.ts';
import { colorOption, noColorOption, useColor } from './options.ts';
import { testFilesOf } from './inputs.ts';
import type { CliIo } from './io.ts';

export const TEST_FORMATS = ['human', 'json', 'junit'] as const;

export interface TestOptions {
  readonly format: (typeof TEST_FORMATS)[number];
  readonly kernel?: boolean;
  readonly coverage?: boolean;
  readonly color?: boolean;
}

const EXAMPLES = `
Examples:
  $ segc test web.seg                      web.seg and web.test.seg (when there is one)
  $ segc test policies/                    every .seg file below the folder, one policy
  $ segc test --format junit . > segc-tests.xml
  $ sudo segc test --kernel --coverage web.seg

A test block lists expectations, one per line:
  test "office reaches ssh" {
    expect allow tcp 10.20.1.5:40000 -> 10.0.1.7:22 ingress
    expect deny  tcp 192.0.2.1 -> 10.0.1.7:22
    expect rule ssh-office tcp 10.20.1.5 -> 10.0.1.7:22
  }
The packet is written as for explain --packet (a destination port alone gives source port
40000); the direction defaults to that of the rule named, else ingress.

Exit codes: 0 every expectation holds, 1 one fails (or the policy has errors), 2 usage or
internal error.`;

export function register(program: Command, io: CliIo): void {
  program
    .command('test')
    .summary('run the packet tests of test blocks')
    .description('Run the expectations of test blocks against the policy (and with --kernel, against the compiled program).')
    .argument('[paths...]', 'policy and test files, or folders (default: the current folder)')
    .addOption(new Option('--format <format>', 'output format').choices(TEST_FORMATS).default('human'))
    .option('--kernel', 'also run every expectation through the compiled program (BPF_PROG_TEST_RUN; root)')
    .option('--coverage', 'list the rules no expectation reaches, and the share that do')
    .addOption(colorOption('error output even when it is not a terminal'))
    .addOption(noColorOption())
    .addHelpText('after', EXAMPLES)
    .action(async (paths: string[], options: TestOptions, command: Command) => {
      recordOutcome(command, await testCommand(paths, options, io));
    });
}

export async function testCommand(paths: readonly string[], options: TestOptions, io: CliIo): Promise<Outcome> {
  const files = testFilesOf(paths, io);
  const [{ compile, runTests }, report] = await Promise.all([import('../../compiler/program.ts'), import('../../compiler/report/test-results.ts')]);
  const compilation = compile(files, io.host);
  if (compilation.ir === undefined || hasErrors(compilation.diagnostics)) {
    io.stderr.write(formatHuman(compilation.diagnostics.filter((d) => d.severity === 'error'), compilation.sources, { color: useColor(io, 'stderr', options.color) }));
    io.stderr.write('error: the policy or its tests have errors; no test ran\n');
    return 'findings';
  }
  const ir = compilation.ir;
  const run = runTests(ir, compilation.tests);
  let kernel: KernelResult[] | undefined;
  if (options.kernel === true) kernel = await runInKernel(ir, run.results);
  const input = { ir, run, sources: compilation.sources, ...(kernel ? { kernel } : {}), ...(options.coverage === true ? { coverage: true } : {}) };
  if (options.format === 'json') io.stdout.write(JSON.stringify(report.testJson(input)) + '\n');
  else if (options.format === 'junit') io.stdout.write(report.formatTestJunit(input));
  else io.stdout.write(report.formatTestHuman(input));
  const failed = run.results.some((r, i) => report.resultFailed(r, kernel?.[i]));
  return failed ? 'findings' : 'ok';
}

async function runInKernel(ir: ProgramIr, results: readonly ExpectationResult[]): Promise<KernelResult[]> {
  if (process.getuid?.() !== 0) throw new CliError('environment', '--kernel loads the data path, which needs root', 'run as root (sudo segc test --kernel ...); `segc doctor` checks the host');
  const [{ runExpectationsInKernel }, { expectationHolds }] = await Promise.all([import('../test-kernel.ts'), import('../../compiler/program.ts')]);
  const outcomes = runExpectationsInKernel(ir, results.map((r) => r.expectation));
  return outcomes.map((k, i) => {
    const r = results[i] as ExpectationResult;
    const rule = k.rule === null ? null : (ir.rules.find((x) => x.name === k.rule && x.direction === r.expectation.direction) ?? null);
    const sameAsInterpreter = k.verdict === r.actual.verdict && (k.rule ?? null) === (r.actual.rule?.name ?? null);
    const holds = expectationHolds(r.expectation.expected, { verdict: k.verdict, log: false, audit: rule?.audit === true, rule });
    return { verdict: k.verdict, rule: k.rule, agrees: sameAsInterpreter && holds === r.passed };
  });
}
