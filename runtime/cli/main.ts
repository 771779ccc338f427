// The `segc` command line: parses argv with commander, runs one command, and turns what came of
// it into the exit code (cli.md): 0 success, 1 the input has problems, 2 usage, environment
// or internal error. This file is the only place an exit code is chosen.
import { Command, CommanderError } from 'commander';
import { CliError, outcomeOf, type CommandModule, type Outcome } from './command.ts';
import { createNodeIo, type CliIo } from './io.ts';
import { versionText } from './package-info.ts';
import * as check from './check.ts';
import * as compile from './compile.ts';
import * as explain from './explain.ts';
import * as fmt from './fmt.ts';
import * as deploy from './deploy.ts';
import * as status from './status.ts';
import * as undeploy from './undeploy.ts';
import * as rollback from './rollback.ts';
import * as sessions from './sessions.ts';
import * as stats from './stats.ts';
import * as monitor from './monitor.ts';
import * as doctor from './doctor.ts';
import * as agent from './agent.ts';
import * as diff from './diff.ts';
import * as test from './test.ts';
import * as confirm from './confirm.ts';
import * as canary from './canary.ts';
import * as lsp from './lsp.ts';

/** Every command, in the order `segc --help` lists them. Each module adds its own line here. */
const COMMANDS: readonly CommandModule[] = [check, fmt, test, diff, explain, compile, deploy, confirm, canary, status, undeploy, rollback, sessions, stats, monitor, agent, doctor, lsp];

export const ExitCode = { Success: 0, Findings: 1, Failure: 2 } as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

const EXAMPLES = `
Examples:
  $ segc check policies/               check every .seg file below a folder
  $ segc check --format sarif web.seg  SARIF for GitHub code scanning
  $ segc explain web.seg --packet 'tcp 10.0.0.1:40000 -> 10.0.1.5:443'
  $ segc test web.seg                  run the expectations of its test blocks
  $ segc diff --git HEAD~1             what the last commit changed in meaning

Exit codes: 0 success, 1 the input has problems, 2 usage, environment or internal error.`;

/** Runs one command line (without `node segc`) against `io`; resolves to the exit code. */
export async function run(argv: readonly string[], io: CliIo): Promise<ExitCode> {
  const program = createProgram(io);
  let settled: Settled;
  try {
    await program.parseAsync([...argv], { from: 'user' });
    settled = { outcome: outcomeOf(program) ?? 'ok' };
  } catch (failure) {
    settled = { failure };
  }
  return exitCodeOf(settled, io, argv.includes('--debug'));
}

/**
 * The entry point of bin/segc.js, which has already turned on V8's on-disk code cache (as tsc
 * does) so that this module, commander, the compiler and chevrotain load from cached bytecode.
 */
export async function main(): Promise<void> {
  // A reader that goes away (`segc check . | head`) is not an error of ours.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE') throw e;
  });
  process.exitCode = await run(process.argv.slice(2), createNodeIo());
}

function createProgram(io: CliIo): Command {
  const program = new Command('segc');
  program
    .description('Policy-as-code compiler and loader for host microsegmentation (eBPF TC).')
    .version(versionText(), '-V, --version', 'print the version and the data-path version')
    .option('--debug', 'show the stack trace of internal errors')
    .helpOption('-h, --help', 'show help for a command')
    .helpCommand('help [command]', 'show help for a command')
    .showHelpAfterError('(run with --help for usage and examples)')
    // Commander would call process.exit and write to the process's streams; `run` decides
    // the exit code and the io receives all output. Subcommands inherit both settings.
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
      outputError: (text, write) => write(text),
    })
    .addHelpText('after', EXAMPLES);
  for (const command of COMMANDS) command.register(program, io);
  return program;
}

/** How a run ended: the command's outcome, or what it threw. */
type Settled = { readonly outcome: Outcome } | { readonly failure: unknown };

function exitCodeOf(settled: Settled, io: CliIo, debug: boolean): ExitCode {
  if ('outcome' in settled) return settled.outcome === 'findings' ? ExitCode.Findings : ExitCode.Success;
  const failure = settled.failure;
  if (failure instanceof CommanderError) {
    // Commander has already printed its message, or the help or version asked for (its exit
    // code 0); help shown because no command was given is a usage error like the others.
    return failure.exitCode === 0 ? ExitCode.Success : ExitCode.Failure;
  }
  if (failure instanceof CliError) {
    io.stderr.write(`error: ${failure.message}\n` + (failure.hint === undefined ? '' : `hint: ${failure.hint}\n`));
    return ExitCode.Failure;
  }
  const environment = environmentFailure(failure);
  if (environment !== undefined) {
    io.stderr.write(`error: ${environment.message}\nhint: ${environment.hint}\n`);
    return ExitCode.Failure;
  }
  const message = failure instanceof Error ? failure.message : String(failure);
  const detail = debug && failure instanceof Error && failure.stack !== undefined ? failure.stack : 'run again with --debug to see the stack trace';
  io.stderr.write(`internal error: ${message}\n${detail}\nthis is a bug in segc; please report it with the command and its input\n`);
  return ExitCode.Failure;
}

/** Errno codes that say the host, not segc, is in the way, with what to do about each. */
const ENVIRONMENT_ERRNOS: Readonly<Record<string, string>> = {
  EACCES: 'run it as root (sudo), or as a user the file or folder allows',
  EPERM: 'run it as root (sudo): the kernel needs CAP_BPF, CAP_NET_ADMIN and CAP_SYS_ADMIN',
  EROFS: 'the filesystem is mounted read-only: remount it read-write (for bpffs: mount -t bpf bpf /sys/fs/bpf), or point segc elsewhere (SEGC_STATE_DIR)',
  ENOSPC: 'the filesystem is full: free some space',
  EDQUOT: 'the disk quota is used up: free some space',
  ENOTDIR: 'a path segc needs is not a folder: check SEGC_STATE_DIR and the bpffs mount (segc doctor)',
};

/**
 * A failure the host caused (a damaged deployment record, a permission, a read-only or full
 * filesystem), told as an environment error with its fix rather than as a bug in segc. Matched by
 * shape, so that this file loads no runtime module.
 */
function environmentFailure(failure: unknown): { message: string; hint: string } | undefined {
  if (!(failure instanceof Error)) return undefined;
  const hint = (failure as { hint?: unknown }).hint;
  if ((failure.name === 'RecordError' || failure.name === 'StateDirError') && typeof hint === 'string') return { message: failure.message, hint };
  const code = (failure as NodeJS.ErrnoException).code;
  if (typeof code !== 'string' || ENVIRONMENT_ERRNOS[code] === undefined) return undefined;
  // Node's message names the call and the path (`EACCES: permission denied, open '/x'`), a BpfError's the operation.
  const message = failure.message;
  return { message, hint: ENVIRONMENT_ERRNOS[code] };
}
