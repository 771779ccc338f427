// `segc diff`: the semantic difference between two policies (compiler/diff.ts), each side a set
// of files on disk, or the files of a git revision (includes resolved inside that revision), or
// the merge base of a branch. Prints the regions of packets whose verdict changes, in words, as
// JSON or as Markdown; a side that does not compile is reported, naming its revision and file.
import { InvalidArgumentError, Option, type Command } from 'commander';
import type { Diagnostic } from '../../compiler/diagnostics.ts';
import type { ProgramIr } from '../../compiler/ir.ts';
import { formatHuman } from '../../compiler/report/human.ts';
import { createSourceFile, type CompilerHost, type SourceFile } from '../../compiler/source.ts';
import { CliError, recordOutcome, type Outcome } from './command.ts';
import { colorOption, noColorOption, useColor } from './options.ts';
import { resolveInputFiles } from './inputs.ts';
import type { CliIo } from './io.ts';

export const DIFF_FORMATS = ['human', 'json', 'markdown'] as const;

export interface DiffOptions {
  readonly old?: string[];
  readonly new?: string[];
  readonly git?: string;
  readonly mergeBase?: string | true;
  readonly format: (typeof DIFF_FORMATS)[number];
  readonly maxRegions?: number;
  readonly exitCode?: boolean;
  readonly color?: boolean;
}

const EXAMPLES = `
Examples:
  $ segc diff old.seg new.seg                      two files (or two folders)
  $ segc diff --old a.seg --old common.seg --new b.seg --new common.seg
  $ segc diff --git HEAD~1                         the last commit against the work tree
  $ segc diff --git v1.2 v1.3 policies/            two revisions, the .seg files below policies/
  $ segc diff --merge-base origin/main --format markdown   for a pull request comment

Each side is one policy: all its files form one compilation. With --git, every file (and what
it includes) is read from the revision with 'git show'; files added, renamed or deleted between
the sides are simply part of one side or the other. The diff is exact: every packet whose
verdict changes lies in a printed region (see --format json for all of them), and a change of
text that keeps the meaning (reordered, renamed, reformatted rules) prints "no change in meaning".

Exit codes: 0 (with --exit-code: 0 no change in meaning, 1 some verdict changes), 1 a side does
not compile, 2 usage or internal error.`;

export function register(program: Command, io: CliIo): void {
  program
    .command('diff')
    .summary('show the packets whose verdict changes between two policies')
    .description('Semantic diff of two policies: the exact regions of packets whose verdict changes, with examples and the deciding rules.')
    .argument('[paths...]', 'OLD NEW (two files or folders); with --git or --merge-base: [REV2] [PATH...]')
    .option('--old <path>', 'a file or folder of the old policy (repeat for several)', collect, undefined)
    .option('--new <path>', 'a file or folder of the new policy (repeat for several)', collect, undefined)
    .option('--git <rev>', 'the old policy is the .seg files of this git revision; the new one the work tree, or REV2')
    .option('--merge-base [branch]', 'the old policy is the merge base of BRANCH (default main) and HEAD; the new one the work tree')
    .addOption(new Option('--format <format>', 'output format').choices(DIFF_FORMATS).default('human'))
    .option('--max-regions <n>', 'regions to print (default 20; json prints all)', positive)
    .option('--exit-code', 'exit 1 when some verdict changes, like git diff --exit-code')
    .addOption(colorOption('error output even when it is not a terminal'))
    .addOption(noColorOption())
    .addHelpText('after', EXAMPLES)
    .action(async (paths: string[], options: DiffOptions, command: Command) => {
      recordOutcome(command, await diffCommand(paths, options, io));
    });
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

function positive(text: string): number {
  if (!/^\d+$/.test(text) || Number(text) < 1) throw new InvalidArgumentError('expected a whole number, at least 1');
  return Number(text);
}

/** One side of a diff: the files and where they are read from. */
interface DiffSide {
  /** `HEAD~1` for a revision (prefixed to file names), empty for files on disk. */
  readonly label: string;
  /** How errors name this side: `revision HEAD~1 (1a2b3c4)`, `the old files`. */
  readonly what: string;
  readonly files: readonly string[];
  readonly host: CompilerHost;
}

async function sidesOf(paths: readonly string[], options: DiffOptions, io: CliIo): Promise<[DiffSide, DiffSide]> {
  const disk = (what: string, list: readonly string[]): DiffSide => ({ label: '', what, files: resolveInputFiles(list, io), host: io.host });
  if (options.git !== undefined || options.mergeBase !== undefined) {
    if (options.old !== undefined || options.new !== undefined) throw new CliError('usage', '--git and --merge-base take the place of --old and --new');
    const git = await import('./git-source.ts');
    const rev = options.git ?? git.mergeBase(io, options.mergeBase === true || options.mergeBase === undefined ? 'main' : options.mergeBase);
    let rest = [...paths];
    let rev2: string | undefined;
    // `--git A B path`: B is a second revision when it names a commit and no file or folder.
    if (options.git !== undefined && rest[0] !== undefined && io.stat(rest[0]) === undefined && git.isRevision(io, rest[0])) [rev2, ...rest] = rest;
    const revSide = (r: string): DiffSide => {
      const commit = git.resolveRevision(io, r);
      const label = options.git === undefined && r === rev ? `merge-base ${commit.slice(0, 7)}` : r;
      return { label, what: `revision ${r} (${commit.slice(0, 7)})`, files: git.listRevisionSegFiles(io, commit, r, rest), host: git.createGitHost(io, commit) };
    };
    const before = revSide(rev);
    const after = rev2 !== undefined ? revSide(rev2) : disk('the work tree', rest.length === 0 ? ['.'] : rest);
    return [before, after];
  }
  if (options.old !== undefined || options.new !== undefined) {
    if (options.old === undefined || options.new === undefined || paths.length > 0) throw new CliError('usage', 'give both --old and --new (and no other paths)', 'e.g. segc diff --old a.seg --new b.seg');
    return [disk('the old files', options.old), disk('the new files', options.new)];
  }
  if (paths.length !== 2) throw new CliError('usage', 'name the two policies to compare: segc diff OLD NEW', 'for sets of files use --old/--new, for git revisions --git REV');
  return [disk(`the old policy (${paths[0]})`, [paths[0] as string]), disk(`the new policy (${paths[1]})`, [paths[1] as string])];
}

/** A side's diagnostics and sources with its label before every file name (`HEAD~1:web.seg`). */
function labelled(side: DiffSide, diagnostics: readonly Diagnostic[], sources: ReadonlyMap<string, SourceFile>): { diagnostics: Diagnostic[]; sources: Map<string, SourceFile> } {
  if (side.label === '') return { diagnostics: [...diagnostics], sources: new Map(sources) };
  const name = (file: string) => `${side.label}:${file}`;
  return {
    diagnostics: diagnostics.map((d) => ({ ...d, span: { ...d.span, file: name(d.span.file) }, related: d.related.map((r) => ({ ...r, span: { ...r.span, file: name(r.span.file) } })) })),
    sources: new Map([...sources].map(([path, f]) => [name(path), createSourceFile(name(path), f.text)])),
  };
}

export async function diffCommand(paths: readonly string[], options: DiffOptions, io: CliIo): Promise<Outcome> {
  const [before, after] = await sidesOf(paths, options, io);
  const [{ compile, diffPolicies }, report] = await Promise.all([import('../../compiler/program.ts'), import('../../compiler/report/diff.ts')]);
  const compiled: { ir: ProgramIr; sources: ReadonlyMap<string, SourceFile> }[] = [];
  for (const side of [before, after]) {
    if (side.files.length === 0) io.stderr.write(`note: ${side.what} has no .seg files here; it is compared as an empty policy (every default deny)\n`);
    const c = compile(side.files, side.host);
    if (c.ir === undefined) {
      const shown = labelled(side, c.diagnostics.filter((d) => d.severity === 'error'), c.sources);
      io.stderr.write(formatHuman(shown.diagnostics, shown.sources, { color: useColor(io, 'stderr', options.color) }));
      const first = shown.diagnostics[0];
      io.stderr.write(`error: ${side.what} does not compile${first ? ` (first error in ${first.span.file})` : ''}; no diff\n`);
      return 'findings';
    }
    compiled.push({ ir: c.ir, sources: c.sources });
  }
  const [old, now] = compiled as [(typeof compiled)[number], (typeof compiled)[number]];
  const diff = diffPolicies(old.ir, now.ir);
  const reportOptions = { before: { label: before.label, sources: old.sources }, after: { label: after.label, sources: now.sources }, ...(options.maxRegions !== undefined ? { maxRegions: options.maxRegions } : {}) };
  if (options.format === 'json') io.stdout.write(JSON.stringify(report.diffJson(diff, reportOptions)) + '\n');
  else if (options.format === 'markdown') io.stdout.write(report.formatDiffMarkdown(diff, reportOptions));
  else io.stdout.write(report.formatDiffHuman(diff, reportOptions));
  return options.exitCode === true && diff.regions.length > 0 ? 'findings' : 'ok';
}
