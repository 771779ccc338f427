// Stage 0 (files): what a compilation may read. Every file goes through one reader that applies
// the limits (bytes per file and in all, include depth, the compile's time and memory budget) and decides
// whether an included text is a policy at all before the lexer's diagnostics could quote it.
// The host does the reading; nothing here touches the disk.
import { createCollector } from './diagnostics.ts';
import { tokenize } from './lexer.ts';
import { createSourceFile, tooLarge, type CompilerHost, type InputLimits, type SourceRead } from './source.ts';

export { DEFAULT_INPUT_LIMITS, type InputLimits } from './source.ts';

/** What the reader gives resolve: a SourceRead, or an included text that is not a policy. */
export type InputRead = SourceRead | { readonly kind: 'not-policy'; readonly reason: string };

/** Reads a file of the compilation; `included` is true for a file reached by an `include`. */
export type InputReader = (path: string, included: boolean) => InputRead;

/** The words a policy file's first declaration starts with (the spec's, and segc's `test`). */
const DECLARATION_WORDS: ReadonlySet<string> = new Set(['include', 'set', 'ports', 'policy', 'test']);
/** How much of an included file is looked at to decide that it is a policy. */
const HEAD_LINES = 8;
const HEAD_CHARS = 4096;

/**
 * The reader of one compilation over `host`. `overBudget` says when the compile's time is up;
 * a file read after that is refused, so a compilation of thousands of includes stops.
 */
export function createInputReader(host: CompilerHost, limits: InputLimits, overBudget: () => boolean): InputReader {
  let total = 0;
  return (path, included) => {
    if (overBudget()) return { kind: 'refused', reason: 'the compile ran out of its time or memory budget before this file was read', hint: 'raise --compile-budget or --compile-memory, or split the policy' };
    const read = readWithin(host, path, limits.maxFileBytes);
    if (read.kind !== 'text') return read;
    total += read.text.length;
    if (total > limits.maxTotalBytes) {
      return { kind: 'refused', reason: `the files of this compilation hold more than ${limits.maxTotalBytes} bytes together`, hint: 'split the policy into several deployments' };
    }
    if (included) {
      const problem = policyTextProblem(read.text);
      if (problem !== undefined) return { kind: 'not-policy', reason: problem };
    }
    return read;
  };
}

function readWithin(host: CompilerHost, path: string, maxBytes: number): SourceRead {
  if (host.readSource) return host.readSource(path, maxBytes);
  const text = host.readFile(path);
  if (text === undefined) return { kind: 'missing' };
  if (text.length > maxBytes) return tooLarge(text.length, maxBytes);
  return { kind: 'text', text };
}

/**
 * Why an included text is not a segc policy, or undefined when it may be one. Decided on its
 * first lines, before the lexer and parser see it, so that a diagnostic never quotes a file
 * that is not a policy (`include "/etc/shadow"`): NUL bytes or U+FFFD (binary, or not UTF-8),
 * characters no token matches, or a first word that starts no declaration.
 */
export function policyTextProblem(text: string): string | undefined {
  if (text.includes('\u0000')) return 'it holds NUL bytes (a binary file)';
  if (text.includes('\uFFFD')) return 'it is not UTF-8 text';
  let end = 0;
  for (let line = 0; line < HEAD_LINES && end < text.length; line++) {
    const next = text.indexOf('\n', end);
    end = next < 0 ? text.length : next + 1;
  }
  if (end > HEAD_CHARS) end = Math.max(text.lastIndexOf('\n', HEAD_CHARS) + 1, 0);
  const head = text.slice(0, end);
  const diagnostics = createCollector();
  const { tokens } = tokenize(createSourceFile('(head)', head), diagnostics);
  if (diagnostics.items.some((d) => d.severity === 'error')) return 'its first lines are not segc syntax';
  const first = tokens.find((t) => t.tokenType.name !== 'Newline');
  if (first !== undefined && !DECLARATION_WORDS.has(first.image)) return 'it does not start with a declaration (include, set, ports, policy or test)';
  return undefined;
}
