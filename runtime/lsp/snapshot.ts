// What the language worker keeps for each open document: the latest compilation with the
// document as its root (its includes read with unsaved text winning over the disk), and the
// rule analysis's diagnostics once they came. Every feature answers from one of these.
import type { Diagnostic } from '../../compiler/diagnostics.ts';
import type { Compilation } from '../../compiler/program.ts';

/** The compilation without the rule analysis (the front phase). */
export type FrontCompilation = Omit<Compilation, 'analysis'>;

export interface DocumentSnapshot {
  readonly root: string;
  /** Bumped by the server with every change to the root or a file it includes. */
  readonly generation: number;
  readonly compilation: FrontCompilation;
  /** The analysis phase's diagnostics (a superset of the front phase's), once it has run. */
  readonly analysis?: { readonly diagnostics: readonly Diagnostic[]; readonly complete: boolean; readonly elapsedMs: number };
  /** Set when the compiler failed on this input (a bug); the message is reported as SEG9001. */
  readonly failure?: string;
}
