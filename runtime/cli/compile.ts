// `segc compile`: compiles the named files into a bundle (the data path's map contents and the
// metadata a loader needs) plus its source map; prints what the policy costs the data path.
import type { Command } from 'commander';
import { hasErrors } from '../../compiler/diagnostics.ts';
import { formatHuman } from '../../compiler/report/human.ts';
import type { EmitStats } from '../../compiler/entries.ts';
import { CliError, recordOutcome, type Outcome } from './command.ts';
import { colorOption, noColorOption, useColor } from './options.ts';
import { addInputLimitOptions, inputLimitsOf, resolveInputFiles, type InputLimitOptions } from './inputs.ts';
import type { CliIo } from './io.ts';

export interface CompileCommandOptions extends InputLimitOptions {
  readonly output?: string;
  readonly color?: boolean;
}

const EXAMPLES = `
Examples:
  $ segc compile web.seg common.seg              writes web.bundle.json and web.bundle.json.map
  $ segc compile policies/ -o build/policy.json

The bundle holds every table the classifier reads (compressed), the rule table (id -> name and
file:line) and the sizes a loader needs; the source map leads each rule and table entry back to
its line in the .seg files.`;

export function register(program: Command, io: CliIo): void {
  const command = program
    .command('compile')
    .summary('compile .seg files into a data-path bundle')
    .description('Compile a policy into the eBPF classifier\'s map contents (a JSON bundle) and a source map.')
    .argument('<paths...>', 'policy files, or folders (every *.seg below them, sorted)')
    .option('-o, --output <bundle>', 'where to write the bundle (default: <first file>.bundle.json); the map goes beside it')
    .addOption(colorOption('diagnostics even when stderr is not a terminal'))
    .addOption(noColorOption());
  addInputLimitOptions(command)
    .addHelpText('after', EXAMPLES)
    .action(async (paths: string[], options: CompileCommandOptions, command: Command) => {
      recordOutcome(command, await compileCommand(paths, options, io));
    });
}

export async function compileCommand(paths: readonly string[], options: CompileCommandOptions, io: CliIo): Promise<Outcome> {
  const files = resolveInputFiles(paths, io);
  const [{ compile }, { emit, EmitLimitError }, { bundle }] = await Promise.all([
    import('../../compiler/program.ts'),
    import('../../compiler/emit.ts'),
    import('../../compiler/bundle.ts'),
  ]);
  const compilation = compile(files, io.host, inputLimitsOf(options));
  if (compilation.ir === undefined || hasErrors(compilation.diagnostics)) {
    const errors = compilation.diagnostics.filter((d) => d.severity === 'error');
    io.stderr.write(formatHuman(errors, compilation.sources, { color: useColor(io, 'stderr', options.color) }));
    return 'findings';
  }
  let image;
  try {
    image = emit(compilation.ir, { origins: true, noSession: compilation.noSession?.ruleIds ?? [] });
  } catch (error) {
    if (error instanceof EmitLimitError) {
      io.stderr.write(`error: ${error.message}\n`);
      return 'findings';
    }
    throw error;
  }
  const output = options.output ?? defaultBundlePath(files[0] ?? 'policy.seg');
  const mapPath = `${output}.map`;
  const baseName = (p: string) => p.slice(p.lastIndexOf('/') + 1);
  const out = bundle(compilation.ir, image, compilation.sources, { bundleFile: baseName(output), sourceMapFile: baseName(mapPath) });
  try {
    await io.writeFileAtomic(output, out.text);
    await io.writeFileAtomic(mapPath, out.sourceMap);
  } catch (error) {
    throw new CliError('environment', `cannot write ${output}: ${error instanceof Error ? error.message : String(error)}`, 'check that the folder exists and is writable');
  }
  io.stdout.write(formatCompileSummary(output, compilation.ir.rules.length, image.stats));
  return 'ok';
}

function defaultBundlePath(first: string): string {
  return first.replace(/\.seg$/, '') + '.bundle.json';
}

/** What the policy costs the data path, as `segc compile` prints it. */
export function formatCompileSummary(output: string, rules: number, stats: EmitStats): string {
  const classes = (d: EmitStats['ingress']) =>
    `${d.rules} rules, ${d.chunks} chunk(s); classes: src ${d.srcClasses}, dst ${d.dstClasses}, sport ${d.srcPortClasses}, dport ${d.dstPortClasses}, proto ${d.protoClasses}`;
  return [
    `wrote ${output} (${rules} rules)`,
    `  ingress  ${classes(stats.ingress)}`,
    `  egress   ${classes(stats.egress)}`,
    `  tables   ${stats.rows} bitmap rows, ${stats.prefixEntries} prefix entries, about ${(stats.memoryBytes / (1 << 20)).toFixed(1)} MiB of kernel memory per slot`,
    `  cost     at most ${stats.maxLookups} map lookups for a new flow`,
    '',
  ].join('\n');
}
