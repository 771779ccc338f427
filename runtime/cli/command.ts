// What every command module shares: the typed failure the runtime throws for the user's and the
// environment's mistakes, how an action hands its outcome to `run`, and the colour choice.
// `main.ts` turns outcomes and failures into exit codes; nothing else picks an exit code.
import type { Command } from 'commander';
import type { CliIo } from './io.ts';

/**
 * A failure that is not a bug: a usage mistake (bad option value, missing file) or an
 * environment problem (not root, no bpffs, no such interface). `run` prints the message and
 * hint, never a stack trace, and exits 2.
 */
export class CliError extends Error {
  readonly kind: 'usage' | 'environment';
  /** What to do about it, printed after the message. */
  readonly hint: string | undefined;

  constructor(kind: 'usage' | 'environment', message: string, hint?: string) {
    super(message);
    this.name = 'CliError';
    this.kind = kind;
    this.hint = hint;
  }
}

/** A command's result: `findings` means the input has problems (exit 1). */
export type Outcome = 'ok' | 'findings';

/** Each command file exports `register`; `main.ts` lists the modules. */
export interface CommandModule {
  register(program: Command, io: CliIo): void;
}

// Commander's `parseAsync` drops what an action returns; the outcome travels here, keyed by
// the root command that `run` created for this one invocation.
const outcomes = new WeakMap<Command, Outcome>();

function rootOf(command: Command): Command {
  let c = command;
  while (c.parent) c = c.parent;
  return c;
}

/** Called by an action (with the command commander passes it last) to report its outcome. */
export function recordOutcome(command: Command, outcome: Outcome): void {
  const root = rootOf(command);
  // Several outcomes in one run cannot happen today; if they ever do, findings win.
  if (outcomes.get(root) !== 'findings') outcomes.set(root, outcome);
}

export function outcomeOf(program: Command): Outcome | undefined {
  return outcomes.get(program);
}
