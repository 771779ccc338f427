// `segc lsp`: runs the language server over stdio until the client says exit. The server's
// modules load inside the action, so the other commands do not pay for them.
import { InvalidArgumentError, type Command } from 'commander';
import { recordOutcome } from './command.ts';
import { expiryOptionsOf } from './clock.ts';
import type { CliIo } from './io.ts';
import { packageInfo } from './package-info.ts';

const EXAMPLES = `
Examples:
  $ segc lsp                         what an editor starts (VS Code, Neovim, Helix, Emacs...)
  $ segc lsp --analysis-budget 2000  give the rule analysis 2 s per change

The server speaks the Language Server Protocol over stdin/stdout: diagnostics as you type
(syntax and names at once, the rule analysis after, cancelled when the text changes), go to
definition, references, rename, hover, completion, code actions, formatting, outline, folding
and code lenses. Set-up for VS Code and Neovim: docs/editors.md.

Exit codes: 0 after the client's shutdown and exit (or when the input closes), 1 after exit
without shutdown, 2 usage error.`;

/** The rule analysis's budget per change: shorter than check's, since it reruns as you type. */
const DEFAULT_ANALYSIS_BUDGET_MS = 5_000;

interface LspOptions {
  readonly analysisBudget?: number;
}

export function register(program: Command, io: CliIo): void {
  program
    .command('lsp')
    .summary('run the language server (LSP over stdio) for editors')
    .description('Run the segc language server: the Language Server Protocol over stdin and stdout, for editors.')
    .option('--stdio', 'talk over stdin and stdout (the default and only transport; accepted for clients that pass it)')
    .option('--analysis-budget <ms>', `time the rule analysis may take per change, in milliseconds (default ${DEFAULT_ANALYSIS_BUDGET_MS})`, parseMilliseconds)
    .addHelpText('after', EXAMPLES)
    .action(async (options: LspOptions, command: Command) => {
      const expiry = await expiryOptionsOf(io, undefined);
      const { startLspServer } = await import('../lsp/server.ts');
      const info = packageInfo();
      startLspServer({
        input: process.stdin,
        output: process.stdout,
        docsUri: info.docsUri,
        expiry,
        version: info.version,
        analysisBudgetMs: options.analysisBudget ?? DEFAULT_ANALYSIS_BUDGET_MS,
      });
      recordOutcome(command, 'ok');
    });
}

function parseMilliseconds(text: string): number {
  if (!/^\d+$/.test(text) || Number(text) < 1) throw new InvalidArgumentError('expected a whole number of milliseconds, at least 1');
  return Number(text);
}
