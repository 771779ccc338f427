// The language server's view of the compiler, on its message loop: decides what to compile when
// a document changes, and runs it off the loop. The language worker (language-worker.ts) holds
// every open document (its text kept by the edits the client sends, so that a change re-checks
// the lines it touched: compiler/incremental.ts) and its compilation, publishes its syntax, name
// and value diagnostics at once and answers the features' requests; the rule analysis
// (shadowed, redundant, conflict, generalization) follows in a second worker, within a time
// budget, and a run whose text has changed since is cancelled by terminating its thread. Every
// request reaches compilations through this module only.
import { Worker } from 'node:worker_threads';
import { ResponseError, type PublishDiagnosticsParams } from 'vscode-languageserver';
import type { AnalysisJob, AnalysisReply } from './analysis-worker.ts';
import type { QueryName, Queries, WorkerConfig, WorkerReply, WorkerRequest } from './language-worker.ts';
import type { DocumentChange } from './open-documents.ts';

/** An open document as the editor has it. */
export interface OpenDocument {
  readonly path: string;
  readonly text: string;
  readonly version: number;
}

export interface DocumentAnalysisOptions {
  /** The open documents (their text wins over the disk). */
  readonly documents: () => Iterable<OpenDocument>;
  /** Sends publications (the language worker makes them). */
  readonly publish: (params: readonly PublishDiagnosticsParams[]) => void;
  /** Milliseconds the rule analysis of one compilation may take (SEG5005 says what was left). */
  readonly analysisBudgetMs: number;
  /** Run the analysis phase at all (off: syntax, names and values only). */
  readonly analysis: boolean;
  readonly config: WorkerConfig;
  /** The server's log (the client shows it): what went wrong and was mended. */
  readonly log?: (message: string) => void;
}

export interface DocumentAnalysis {
  /**
   * An open document was opened or changed by the client: its change goes to the language worker
   * (which keeps the text), and what depends on it is re-checked.
   */
  edited(path: string, version: number, change: DocumentChange): void;
  /** A file changed on disk (or a document was closed): re-check what depends on it. */
  changed(path: string): void;
  /** A document was closed: forget its text and compilation (and clear what only it published). */
  closed(path: string): void;
  /**
   * Answers a feature's request for an open document from its compilation of the current text
   * (waiting for that compilation when one is due); null when the document is not open.
   */
  query<Q extends QueryName>(root: string, query: Q, args: Queries[Q]): Promise<unknown>;
  dispose(): Promise<void>;
}

type WorkerFile = 'language-worker' | 'analysis-worker';

function workerUrl(file: WorkerFile): URL {
  // Beside this module: tsc's output (dist/runtime/lsp/), the bundle (dist/cli/, where each
  // worker is an entry of its own), or the sources when run by Node's type stripping.
  return new URL(import.meta.url.endsWith('.ts') ? `./${file}.ts` : `./${file}.js`, import.meta.url);
}

/**
 * The language worker: requests matched to replies by id; respawned (state lost) if it dies.
 * `resync` sends a new thread the open documents' texts, right after its configuration.
 */
function createLanguageLane(config: WorkerConfig, onRespawn: () => void, resync: (post: (make: (id: number) => WorkerRequest) => void) => void) {
  let worker: Worker | undefined;
  const pending = new Map<number, (reply: WorkerReply | undefined) => void>();
  let ids = 0;
  const spawn = (): Worker => {
    const w = new Worker(workerUrl('language-worker'));
    w.on('message', (reply: WorkerReply) => {
      const settle = pending.get(reply.id);
      pending.delete(reply.id);
      settle?.(reply);
    });
    const gone = () => {
      if (worker !== w) return;
      worker = undefined;
      for (const settle of pending.values()) settle(undefined);
      pending.clear();
      onRespawn();
    };
    // A thread that dies (out of memory on a hostile file) loses its compilations: they are redone.
    w.on('error', gone);
    w.on('exit', gone);
    w.unref();
    w.postMessage({ type: 'init', id: ++ids, config } satisfies WorkerRequest);
    resync((make) => w.postMessage(make(++ids)));
    return w;
  };
  const send = (w: Worker, make: (id: number) => WorkerRequest): Promise<WorkerReply | undefined> => {
    const request = make(++ids);
    return new Promise((resolve) => {
      pending.set(request.id, resolve);
      w.postMessage(request);
    });
  };
  return {
    request(make: (id: number) => WorkerRequest): Promise<WorkerReply | undefined> {
      worker ??= spawn();
      return send(worker, make);
    },
    /**
     * A change of the documents the thread keeps. A thread started for it got the documents as
     * they are now from `resync`, this change included, so it is not sent again.
     */
    update(make: (id: number) => WorkerRequest): Promise<WorkerReply | undefined> {
      if (!worker) {
        worker = spawn();
        return Promise.resolve(undefined);
      }
      return send(worker, make);
    },
    /** Starts the thread before the first document, so that opening one does not wait for it. */
    warm() {
      worker ??= spawn();
    },
    async dispose() {
      const w = worker;
      worker = undefined;
      await w?.terminate();
    },
  };
}

/** An idle analysis worker is ended after this long, so its heap (a large policy's) goes with it. */
const ANALYSIS_IDLE_MS = 15_000;

/** The analysis worker: one job at a time; `cancel` ends the running job with its thread (exported for its test). */
export function createAnalysisLane() {
  let worker: Worker | undefined;
  let pending: ((reply: AnalysisReply | undefined) => void) | undefined;
  let idle: NodeJS.Timeout | undefined;
  const settle = (reply: AnalysisReply | undefined) => {
    const p = pending;
    pending = undefined;
    p?.(reply);
    clearTimeout(idle);
    idle = setTimeout(() => {
      if (pending !== undefined) return;
      const w = worker;
      worker = undefined;
      void w?.terminate();
    }, ANALYSIS_IDLE_MS).unref();
  };
  const spawn = (): Worker => {
    const w = new Worker(workerUrl('analysis-worker'));
    // Only the current thread settles a job: a cancelled thread's late reply or exit would
    // otherwise settle the job started after it (its result lost, or the old text's taken).
    w.on('message', (reply: AnalysisReply) => {
      if (worker === w) settle(reply);
    });
    w.on('error', (e) => {
      if (worker !== w) return;
      worker = undefined;
      settle({ ok: false, message: e instanceof Error ? e.message : String(e) });
    });
    w.on('exit', () => {
      if (worker !== w) return;
      worker = undefined;
      settle(undefined);
    });
    w.unref();
    return w;
  };
  return {
    get busy() {
      return pending !== undefined;
    },
    run(job: AnalysisJob): Promise<AnalysisReply | undefined> {
      worker ??= spawn();
      const w = worker;
      return new Promise((resolve) => {
        pending = resolve;
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
  /** Bumped with every change to the root or a file its compilation holds. */
  generation: number;
  /** The generation the language worker last compiled (-1: none yet). */
  compiled: number;
  files: ReadonlySet<string>;
  waiters: (() => void)[];
}

export function createDocumentAnalysis(options: DocumentAnalysisOptions): DocumentAnalysis {
  const roots = new Map<string, RootState>();
  const frontQueue = new Set<string>();
  const analysisQueue = new Map<string, { generation: number; texts: ReadonlyMap<string, string> }>();
  let compiling = false;
  let analysing: { root: string; generation: number } | undefined;
  let disposed = false;

  const language = createLanguageLane(options.config, () => {
    // The worker's compilations went with it: every root is compiled again.
    compiling = false;
    for (const [root, state] of roots) {
      state.compiled = -1;
      frontQueue.add(root);
    }
    setImmediate(pumpFront);
  }, (post) => {
    for (const d of options.documents()) post((id) => ({ type: 'document', id, path: d.path, version: d.version, change: { kind: 'full', text: d.text }, length: d.text.length }));
  });
  const analysis = createAnalysisLane();
  language.warm();

  const wake = (state: RootState) => {
    for (const w of state.waiters.splice(0)) w();
  };

  const pumpFront = (): void => {
    if (disposed || compiling) return;
    const [root] = frontQueue;
    if (root === undefined) return;
    frontQueue.delete(root);
    const state = roots.get(root);
    if (!state) return pumpFront();
    const generation = state.generation;
    compiling = true;
    void language
      .request((id) => ({ type: 'compile', id, root, generation, analysis: options.analysis }))
      .then((reply) => {
        compiling = false;
        const s = roots.get(root);
        if (reply?.resync && s) {
          // The worker's copy of these documents went wrong (a bug): it gets their whole text.
          const docs = new Map([...options.documents()].map((d) => [d.path, d]));
          options.log?.(`segc lsp: the language worker's copy of ${reply.resync.join(', ')} disagreed with the client's; sent whole (a bug in segc)`);
          for (const path of reply.resync) {
            const d = docs.get(path);
            if (d) void language.update((id) => ({ type: 'document', id, path, version: d.version, change: { kind: 'full', text: d.text }, length: d.text.length }));
          }
          frontQueue.add(root);
        } else if (reply && s) {
          s.files = new Set(reply.files ?? []);
          s.compiled = generation;
          // A stale compilation is not published: the current one is queued already.
          if (s.generation === generation) {
            if (reply.publish) options.publish(reply.publish);
            if (options.analysis && reply.analysisTexts) {
              analysisQueue.set(root, { generation, texts: reply.analysisTexts });
              pumpAnalysis();
            }
          }
          wake(s);
        }
        pumpFront();
      });
  };

  const pumpAnalysis = (): void => {
    if (disposed || analysis.busy) return;
    const [entry] = analysisQueue;
    if (entry === undefined) return;
    const [root, { generation, texts }] = entry;
    analysisQueue.delete(root);
    if (roots.get(root)?.generation !== generation) return pumpAnalysis();
    analysing = { root, generation };
    void analysis.run({ root, texts, budgetMs: options.analysisBudgetMs, expiry: options.config.expiry }).then(async (reply) => {
      analysing = undefined;
      if (reply?.ok === true && roots.get(root)?.generation === generation) {
        const published = await language.request((id) => ({ type: 'analysed', id, root, generation, analysis: { diagnostics: reply.diagnostics, complete: reply.complete, elapsedMs: reply.elapsedMs } }));
        if (published?.publish && roots.get(root)?.generation === generation) options.publish(published.publish);
      }
      pumpAnalysis();
    });
  };

  /** Waits until the language worker has compiled the root's current generation. */
  const current = (root: string): Promise<boolean> => {
    const state = roots.get(root);
    if (!state) return Promise.resolve(false);
    return new Promise((resolve) => {
      const check = () => {
        const s = roots.get(root);
        if (!s) resolve(false);
        else if (s.compiled === s.generation) resolve(true);
        else s.waiters.push(check);
      };
      check();
    });
  };

  const changed = (path: string): void => {
    if (disposed) return;
    const isOpen = [...options.documents()].some((d) => d.path === path);
    if (isOpen && !roots.has(path)) roots.set(path, { generation: 0, compiled: -1, files: new Set([path]), waiters: [] });
    for (const [root, state] of roots) {
      if (root !== path && !state.files.has(path)) continue;
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
  };

  return {
    edited(path, version, change) {
      if (disposed) return;
      void language.update((id) => ({ type: 'document', id, path, version, change, length: change.kind === 'full' ? change.text.length : documentLength(options.documents(), path) }));
      changed(path);
    },
    changed,
    closed(path) {
      // The worker forgets the document's text (a thread started now never had it).
      void language.update((id) => ({ type: 'close', id, root: path })).then((reply) => {
        if (reply?.publish) options.publish(reply.publish);
      });
      const state = roots.get(path);
      if (!state) return;
      roots.delete(path);
      frontQueue.delete(path);
      analysisQueue.delete(path);
      if (analysing?.root === path) {
        analysing = undefined;
        analysis.cancel();
        pumpAnalysis();
      }
      wake(state);
    },
    async query(root, query, args) {
      if (!(await current(root))) return null;
      const reply = await language.request((id) => ({ type: 'query', id, root, query, args }));
      if (reply?.error) throw new ResponseError(reply.error.code, reply.error.message);
      return reply?.result ?? null;
    },
    async dispose() {
      disposed = true;
      for (const state of roots.values()) wake(state);
      await Promise.all([language.dispose(), analysis.dispose()]);
    },
  };
}

/** The length of an open document's text (what the worker's copy must have after an edit). */
function documentLength(documents: Iterable<OpenDocument>, path: string): number {
  for (const d of documents) if (d.path === path) return d.text.length;
  return -1;
}
