// The language server's view of the compiler: keeps, for each open document, the latest
// compilation of it (with its includes, unsaved text winning over the disk), and runs the two
// phases of its diagnostics off the message loop. The front phase (syntax, names, values,
// includes, expiry) runs in one worker thread and is published at once; the rule analysis
// (shadowed, redundant, conflict, generalization) follows in a second worker, within a time
// budget, and a run whose input has changed since is cancelled by terminating its thread.
// Every feature reads compilations through this module only, so that an incremental
// compiler can replace the full one here without touching them.
import { Worker } from 'node:worker_threads';
import type { Diagnostic } from '../../compiler/diagnostics.ts';
import type { ExpiryOptions } from '../../compiler/expiry.ts';
import type { CompileJob, CompileReply, FrontCompilation } from './compile-worker.ts';

export type { FrontCompilation } from './compile-worker.ts';

/** An open document as the editor has it. */
export interface OpenDocument {
  readonly path: string;
  readonly text: string;
  readonly version: number;
}

/** The latest compilation with the document as its root, and what the analysis added. */
export interface DocumentSnapshot {
  readonly root: string;
  /** Bumped with every change to the root or a file it includes; see `DocumentAnalysis`. */
  readonly generation: number;
  readonly compilation: FrontCompilation;
  /** The analysis phase's diagnostics (a superset of the front phase's), once it has run. */
  readonly analysis?: { readonly diagnostics: readonly Diagnostic[]; readonly complete: boolean; readonly elapsedMs: number };
  /** Set when the compiler failed on this input (a bug); the message is reported as SEG9001. */
  readonly failure?: string;
}

export interface DocumentAnalysisOptions {
  /** The open documents (their text wins over the disk). */
  readonly documents: () => Iterable<OpenDocument>;
  /** Called with each new snapshot that is current: after the front phase, then the analysis. */
  readonly onSnapshot: (snapshot: DocumentSnapshot, phase: 'front' | 'analysis') => void;
  /** Milliseconds the rule analysis of one compilation may take (SEG5005 says what was left). */
  readonly analysisBudgetMs: number;
  readonly expiry?: ExpiryOptions;
  /** Run the analysis phase at all (off: syntax, names and values only). */
  readonly analysis: boolean;
}

export interface DocumentAnalysis {
  /** A document was opened or changed (or a file on disk changed): re-check what depends on it. */
  changed(path: string): void;
  /** A document was closed: forget its compilation. */
  closed(path: string): void;
  /** The latest snapshot of a root, whatever its generation. */
  latest(root: string): DocumentSnapshot | undefined;
  /** The snapshot of a root for its current text (waits for the front phase when one is due). */
  current(root: string): Promise<DocumentSnapshot | undefined>;
  /** Every root's latest snapshot. */
  all(): DocumentSnapshot[];
  dispose(): Promise<void>;
}

/** One worker thread running one job at a time; `cancel` ends the running job with the thread. */
interface WorkerLane {
  readonly busy: boolean;
  run(job: CompileJob): Promise<CompileReply | undefined>;
  cancel(): void;
  dispose(): Promise<void>;
}

function workerUrl(): URL {
  // Beside this module: tsc's output (dist/runtime/lsp/), the bundle (dist/cli/, where the
  // worker is an entry of its own), or the sources when run by Node's type stripping.
  return new URL(import.meta.url.endsWith('.ts') ? './compile-worker.ts' : './compile-worker.js', import.meta.url);
}

function createWorkerLane(): WorkerLane {
  let worker: Worker | undefined;
  let pending: { resolve: (reply: CompileReply | undefined) => void } | undefined;
  const settle = (reply: CompileReply | undefined) => {
    const p = pending;
    pending = undefined;
    p?.resolve(reply);
  };
  const spawn = (): Worker => {
    const w = new Worker(workerUrl());
    w.on('message', (reply: CompileReply) => settle(reply));
    // A thread that dies (out of memory on a hostile file) answers its job with a failure.
    w.on('error', (e) => {
      if (worker === w) worker = undefined;
      settle({ id: -1, phase: 'failed', message: e instanceof Error ? e.message : String(e) });
    });
    w.on('exit', () => {
      if (worker === w) worker = undefined;
      settle(undefined);
    });
    w.unref();
    return w;
  };
  return {
    get busy() {
      return pending !== undefined;
    },
    run(job) {
      worker ??= spawn();
      const w = worker;
      return new Promise((resolve) => {
        pending = { resolve };
        w.postMessage(job);
      });
    },
    cancel() {
      const w = worker;
      worker = undefined;
      settle(undefined);
      void w?.terminate();
    },
    async dispose() {
      const w = worker;
      worker = undefined;
      settle(undefined);
      await w?.terminate();
    },
  };
}

interface RootState {
  generation: number;
  snapshot: DocumentSnapshot | undefined;
  waiters: (() => void)[];
}

export function createDocumentAnalysis(options: DocumentAnalysisOptions): DocumentAnalysis {
  const roots = new Map<string, RootState>();
  const front = createWorkerLane();
  const analysis = createWorkerLane();
  // Roots waiting for each phase, with the generation they wait for.
  const frontQueue = new Set<string>();
  const analysisQueue = new Set<string>();
  let analysing: { root: string; generation: number } | undefined;
  let jobIds = 0;
  let disposed = false;

  const overlay = (): Map<string, string> => new Map([...options.documents()].map((d) => [d.path, d.text]));

  const wake = (state: RootState) => {
    const waiters = state.waiters;
    state.waiters = [];
    for (const w of waiters) w();
  };

  const pumpFront = (): void => {
    if (disposed || front.busy) return;
    const [root] = frontQueue;
    if (root === undefined) return;
    frontQueue.delete(root);
    const state = roots.get(root);
    if (!state) return pumpFront();
    const generation = state.generation;
    const job: CompileJob = { id: ++jobIds, phase: 'front', roots: [root], overlay: overlay(), analysisBudgetMs: options.analysisBudgetMs, ...(options.expiry ? { expiry: options.expiry } : {}) };
    void front.run(job).then((reply) => {
      const s = roots.get(root);
      if (s && reply && s.generation === generation) {
        const snapshot: DocumentSnapshot =
          reply.phase === 'front'
            ? { root, generation, compilation: reply.compilation }
            : { root, generation, compilation: s.snapshot?.compilation ?? emptyCompilation(), failure: reply.phase === 'failed' ? reply.message : 'no answer' };
        s.snapshot = snapshot;
        options.onSnapshot(snapshot, 'front');
        wake(s);
        if (options.analysis && snapshot.failure === undefined && snapshot.compilation.ir !== undefined) {
          analysisQueue.add(root);
          pumpAnalysis();
        }
      } else if (s && !reply && s.generation === generation) {
        // The thread went away without answering (terminated or crashed): try once more.
        frontQueue.add(root);
      }
      pumpFront();
    });
  };

  const pumpAnalysis = (): void => {
    if (disposed || analysis.busy) return;
    const [root] = analysisQueue;
    if (root === undefined) return;
    analysisQueue.delete(root);
    const state = roots.get(root);
    const snapshot = state?.snapshot;
    if (!state || !snapshot || snapshot.generation !== state.generation) return pumpAnalysis();
    const generation = state.generation;
    // The texts the front phase compiled, so that both phases speak of the same text.
    const texts = new Map([...snapshot.compilation.sources].map(([path, file]) => [path, file.text]));
    const job: CompileJob = { id: ++jobIds, phase: 'analysis', roots: [root], overlay: texts, analysisBudgetMs: options.analysisBudgetMs, ...(options.expiry ? { expiry: options.expiry } : {}) };
    analysing = { root, generation };
    void analysis.run(job).then((reply) => {
      analysing = undefined;
      const s = roots.get(root);
      if (s && reply && reply.phase === 'analysis' && s.generation === generation && s.snapshot?.generation === generation) {
        s.snapshot = { ...s.snapshot, analysis: { diagnostics: reply.diagnostics, complete: reply.complete, elapsedMs: reply.elapsedMs } };
        options.onSnapshot(s.snapshot, 'analysis');
      }
      pumpAnalysis();
    });
  };

  const affectedRoots = (path: string): string[] => {
    const out: string[] = [];
    for (const [root, state] of roots) {
      if (root === path || state.snapshot?.compilation.sources.has(path) === true) out.push(root);
    }
    return out;
  };

  return {
    changed(path) {
      if (disposed) return;
      const isOpen = [...options.documents()].some((d) => d.path === path);
      if (isOpen && !roots.has(path)) roots.set(path, { generation: 0, snapshot: undefined, waiters: [] });
      for (const root of affectedRoots(path)) {
        const state = roots.get(root) as RootState;
        state.generation++;
        frontQueue.add(root);
        analysisQueue.delete(root);
        // A stale analysis run is cancelled now, not left to finish.
        if (analysing?.root === root) {
          analysing = undefined;
          analysis.cancel();
        }
      }
      pumpFront();
      pumpAnalysis();
    },
    closed(path) {
      const state = roots.get(path);
      roots.delete(path);
      frontQueue.delete(path);
      analysisQueue.delete(path);
      if (analysing?.root === path) {
        analysing = undefined;
        analysis.cancel();
        pumpAnalysis();
      }
      if (state) wake(state);
    },
    latest: (root) => roots.get(root)?.snapshot,
    current(root) {
      const state = roots.get(root);
      if (!state) return Promise.resolve(undefined);
      if (state.snapshot?.generation === state.generation) return Promise.resolve(state.snapshot);
      return new Promise((resolve) => {
        const check = () => {
          const s = roots.get(root);
          if (!s) resolve(undefined);
          else if (s.snapshot?.generation === s.generation) resolve(s.snapshot);
          else s.waiters.push(check);
        };
        state.waiters.push(check);
      });
    },
    all: () => [...roots.values()].flatMap((s) => (s.snapshot ? [s.snapshot] : [])),
    async dispose() {
      disposed = true;
      await Promise.all([front.dispose(), analysis.dispose()]);
    },
  };
}

/** A compilation of nothing, standing in when the compiler failed on the very first run. */
function emptyCompilation(): FrontCompilation {
  return {
    ir: undefined,
    diagnostics: [],
    sources: new Map(),
    asts: new Map(),
    resolved: { files: [], asts: [], symbols: new Map(), order: [], references: new Map(), policies: [] },
    tests: [],
  };
}
