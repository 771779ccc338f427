// The language server's compile worker (a worker thread): takes a job (root files, the open
// documents' unsaved texts, which phase) and runs the compiler on it, off the server's message
// loop, so that a 10k-rule or a 5 MB file never holds up the editor. The front phase (syntax,
// names, values, includes, expiry) answers with the whole compilation; the analysis phase runs
// the rule analysis as well and answers with its diagnostics. document-analysis.ts owns the
// workers and cancels a stale run by terminating the thread that runs it.
import { readFileSync, statSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';
import type { Diagnostic } from '../../compiler/diagnostics.ts';
import type { ExpiryOptions } from '../../compiler/expiry.ts';
import { compile, type Compilation } from '../../compiler/program.ts';
import { resolvePosixInclude, type CompilerHost } from '../../compiler/source.ts';

/** Files on disk above this size are treated as unreadable (an include of a device or a dump). */
export const MAX_DISK_FILE_BYTES = 32 * 1024 * 1024;

export interface CompileJob {
  readonly id: number;
  readonly phase: 'front' | 'analysis';
  readonly roots: readonly string[];
  /** Texts that win over the disk: the open documents (unsaved text), by path. */
  readonly overlay: ReadonlyMap<string, string>;
  readonly expiry?: ExpiryOptions;
  readonly analysisBudgetMs: number;
}

/** What the front phase gives: the compilation without the rule analysis. */
export type FrontCompilation = Omit<Compilation, 'analysis'>;

export type CompileReply =
  | { readonly id: number; readonly phase: 'front'; readonly compilation: FrontCompilation }
  | { readonly id: number; readonly phase: 'analysis'; readonly diagnostics: readonly Diagnostic[]; readonly complete: boolean; readonly elapsedMs: number }
  | { readonly id: number; readonly phase: 'failed'; readonly message: string };

/** A host whose readFile prefers the open documents' text, then reads the disk (bounded). */
export function createOverlayHost(overlay: ReadonlyMap<string, string>): CompilerHost {
  return {
    readFile(path) {
      const open = overlay.get(path);
      if (open !== undefined) return open;
      try {
        const s = statSync(path);
        if (!s.isFile() || s.size > MAX_DISK_FILE_BYTES) return undefined;
        return readFileSync(path, 'utf8');
      } catch {
        return undefined;
      }
    },
    resolveInclude: resolvePosixInclude,
  };
}

export function runCompileJob(job: CompileJob): CompileReply {
  const host = createOverlayHost(job.overlay);
  try {
    if (job.phase === 'front') {
      const { analysis: _, ...compilation } = compile(job.roots, host, job.expiry ? { expiry: job.expiry } : {});
      return { id: job.id, phase: 'front', compilation };
    }
    const started = performance.now();
    const c = compile(job.roots, host, { analysis: { budgetMs: job.analysisBudgetMs }, ...(job.expiry ? { expiry: job.expiry } : {}) });
    return { id: job.id, phase: 'analysis', diagnostics: c.diagnostics, complete: c.analysis?.complete ?? true, elapsedMs: performance.now() - started };
  } catch (error) {
    // A bug in the compiler: the server reports it as SEG9001 and keeps running.
    return { id: job.id, phase: 'failed', message: error instanceof Error ? error.message : String(error) };
  }
}

parentPort?.on('message', (job: CompileJob) => {
  parentPort?.postMessage(runCompileJob(job));
});
