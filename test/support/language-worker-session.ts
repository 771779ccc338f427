// The language worker in process, as the LSP tests drive it: a fresh worker, initialised, and a
// `send` that numbers each request the way the server's thread does.
import { createLanguageWorker, type WorkerReply, type WorkerRequest } from '../../runtime/lsp/language-worker.ts';

/** A request without its id (distributed over the union, so each kind keeps its fields). */
export type Unsent = WorkerRequest extends infer R ? (R extends WorkerRequest ? Omit<R, 'id'> : never) : never;

/** Starts a worker and returns its `send`. */
export function startLanguageWorker(): (request: Unsent) => WorkerReply {
  const worker = createLanguageWorker();
  let id = 0;
  const send = (request: Unsent): WorkerReply => worker.handle({ ...request, id: ++id } as WorkerRequest);
  send({ type: 'init', config: { docsUri: '', expiry: { today: 20_000, windowDays: 14 } } });
  return send;
}
