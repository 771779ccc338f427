// The language server's analysis worker (a worker thread): compiles a root with the rule
// analysis (shadowed, redundant, conflict, generalization) within a time budget, from the texts
// the front phase compiled, and answers with the diagnostics. document-analysis.ts cancels a
// run whose text has changed since by terminating this thread.
import { parentPort } from 'node:worker_threads';
import type { Diagnostic } from '../../compiler/diagnostics.ts';
import type { ExpiryOptions } from '../../compiler/expiry.ts';
import { compile } from '../../compiler/program.ts';
import { createOverlayHost } from './overlay-host.ts';

export interface AnalysisJob {
  readonly root: string;
  /** Every file of the compilation, as the front phase read it. */
  readonly texts: ReadonlyMap<string, string>;
  readonly budgetMs: number;
  readonly expiry?: ExpiryOptions;
}

export type AnalysisReply =
  | { readonly ok: true; readonly diagnostics: readonly Diagnostic[]; readonly complete: boolean; readonly elapsedMs: number }
  | { readonly ok: false; readonly message: string };

export function runAnalysisJob(job: AnalysisJob): AnalysisReply {
  try {
    const started = performance.now();
    const c = compile([job.root], createOverlayHost(job.texts), { analysis: { budgetMs: job.budgetMs }, ...(job.expiry ? { expiry: job.expiry } : {}) });
    return { ok: true, diagnostics: c.diagnostics, complete: c.analysis?.complete ?? true, elapsedMs: performance.now() - started };
  } catch (error) {
    return { ok: false, message: error instanceof Error ? error.message : String(error) };
  }
}

parentPort?.on('message', (job: AnalysisJob) => parentPort?.postMessage(runAnalysisJob(job)));
