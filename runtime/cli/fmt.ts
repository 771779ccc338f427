// `segc fmt`: rewrites .seg files (and folders of them) in their canonical form, in place and
// atomically, and only when the text changes. `--check` writes nothing and lists the files that
// are not formatted; `--diff` writes nothing and prints the changes as a unified diff. A file
// with syntax errors is reported and left untouched. Every file is formatted in memory before
// the first write, so an internal error leaves every file as it was.
import type { Command } from 'commander';
import type { Diagnostic } from '../../compiler/diagnostics.ts';
import { formatHuman } from '../../compiler/report/human.ts';
import { createSourceFile, type SourceFile } from '../../compiler/source.ts';
import { CliError, recordOutcome, type Outcome } from './command.ts';
import { colorOption, noColorOption, useColor } from './options.ts';
import { resolveInputFiles } from './inputs.ts';
import type { CliIo } from './io.ts';
import { unifiedDiff } from './unified-diff.ts';

export interface FmtOptions {
  readonly check?: boolean;
  readonly diff?: boolean;
  readonly color?: boolean;
}

const EXAMPLES = `
Examples:
  $ segc fmt policies/                 rewrite every .seg file below the folder
  $ segc fmt --check policies/         in CI: list the files that are not formatted
  $ segc fmt --diff web.seg | less     see what fmt would change

fmt prints the path of each file it rewrote (with --check, that it would rewrite). Exit codes:
0 done (with --check or --diff: every file formatted), 1 some file is not formatted (--check,
--diff) or has syntax errors (it is left untouched), 2 usage or internal error.`;

export function register(program: Command, io: CliIo): void {
  program
    .command('fmt')
    .summary('format .seg files in their canonical layout')
    .description(
      'Format .seg policy files in place: one space between tokens, rule columns aligned, comments ' +
        'kept where they are. Meaning never changes; files with syntax errors are reported and left untouched.',
    )
    .argument('<paths...>', 'policy files, or folders (every *.seg below them)')
    .option('--check', 'write nothing; list the files that are not formatted (exit 1 if any)')
    .option('--diff', 'write nothing; print a unified diff of the changes (exit 1 if any)')
    .addOption(colorOption('syntax errors even when it is not a terminal'))
    .addOption(noColorOption())
    .addHelpText('after', EXAMPLES)
    .action(async (paths: string[], options: FmtOptions, command: Command) => {
      recordOutcome(command, await fmt(paths, options, io));
    });
}

/** What formatting one file gave. */
type FmtResult =
  | { readonly kind: 'formatted'; readonly path: string; readonly before: string; readonly after: string }
  | { readonly kind: 'syntax-errors'; readonly source: SourceFile; readonly diagnostics: readonly Diagnostic[] };

export async function fmt(paths: readonly string[], options: FmtOptions, io: CliIo): Promise<Outcome> {
  const files = resolveInputFiles(paths, io);
  // Loaded here so that `segc --help` and the other commands do not pay for the parser.
  const { formatSource } = await import('../../compiler/format.ts');
  const results = files.map((path): FmtResult => {
    const text = io.readFile(path);
    if (text === undefined) throw new CliError('environment', `cannot read '${path}'`, 'check that the file exists and is readable');
    const source = createSourceFile(path, text);
    const formatted = formatSource(source);
    return formatted.text === undefined
      ? { kind: 'syntax-errors', source, diagnostics: formatted.diagnostics }
      : { kind: 'formatted', path, before: text, after: formatted.text };
  });

  const dryRun = options.check === true || options.diff === true;
  let findings = false;
  let unformatted = 0;
  for (const result of results) {
    if (result.kind === 'syntax-errors') {
      findings = true;
      const sources = new Map([[result.source.path, result.source]]);
      io.stderr.write(formatHuman(result.diagnostics, sources, { color: useColor(io, 'stderr', options.color) }));
      io.stderr.write(`${result.source.path}: not formatted: fix the syntax errors first\n`);
      continue;
    }
    if (result.before === result.after) continue;
    if (options.diff === true) io.stdout.write(unifiedDiff(result.path, result.before, result.after));
    else io.stdout.write(`${result.path}\n`);
    if (dryRun) unformatted++;
    else await io.writeFileAtomic(result.path, result.after);
  }
  if (unformatted > 0) {
    const files = unformatted === 1 ? '1 file is' : `${unformatted} files are`;
    io.stderr.write(`${files} not formatted; run 'segc fmt' on ${unformatted === 1 ? 'it' : 'them'}\n`);
  }
  return findings || unformatted > 0 ? 'findings' : 'ok';
}
