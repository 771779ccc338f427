// The language server's language worker (a worker thread): compiles each open document (the
// front phase: syntax, names, values, includes, expiry), keeps the compilations, and answers
// every feature's request from them with the feature modules, so that the server's message
// loop never parses, never holds a 10k-rule AST and never waits on a 5 MB file. It also turns
// diagnostics into the publications the server sends. document-analysis.ts is its one client.
import { parentPort } from 'node:worker_threads';
import { ResponseError, type PublishDiagnosticsParams } from 'vscode-languageserver';
import type { ExpiryOptions } from '../../compiler/expiry.ts';
import { compile } from '../../compiler/program.ts';
import { createSourceFile } from '../../compiler/source.ts';
import { codeActions } from './code-actions.ts';
import { codeLenses, runTestBlock } from './code-lens.ts';
import { complete } from './completion.ts';
import { findDefinition } from './definition.ts';
import { createDiagnosticsPublisher, snapshotDiagnostics } from './diagnostics.ts';
import { documentSymbols } from './document-symbols.ts';
import { foldingRanges } from './folding.ts';
import { formatDocument, formatRange } from './formatting.ts';
import { hover } from './hover.ts';
import { createOverlayHost } from './overlay-host.ts';
import { offsetAt } from './positions.ts';
import { findReferences } from './references.ts';
import { prepareRename, rename } from './rename.ts';
import type { DocumentSnapshot, FrontCompilation } from './snapshot.ts';

export interface WorkerConfig {
  readonly docsUri: string;
  readonly expiry: ExpiryOptions;
}

/** A position in a document, as the protocol gives it. */
interface At {
  readonly position: { readonly line: number; readonly character: number };
}

/** The requests features make, each with its arguments (the protocol's params, mostly). */
export interface Queries {
  definition: At;
  references: At & { readonly includeDeclaration: boolean };
  prepareRename: At;
  rename: At & { readonly newName: string };
  hover: At;
  completion: At & { readonly text: string };
  codeAction: { readonly range: { readonly start: At['position']; readonly end: At['position'] }; readonly diagnostics: Parameters<typeof codeActions>[0]['diagnostics'] };
  formatting: { readonly text: string };
  rangeFormatting: { readonly text: string; readonly range: { readonly start: At['position']; readonly end: At['position'] } };
  documentSymbol: Record<string, never>;
  foldingRange: Record<string, never>;
  codeLens: Record<string, never>;
  runTests: { readonly title: string };
  policySummary: Record<string, never>;
}
export type QueryName = keyof Queries;

export type WorkerRequest =
  | { readonly type: 'init'; readonly id: number; readonly config: WorkerConfig }
  | { readonly type: 'compile'; readonly id: number; readonly root: string; readonly generation: number; readonly overlay: ReadonlyMap<string, string>; readonly versions: ReadonlyMap<string, number> }
  | { readonly type: 'analysed'; readonly id: number; readonly root: string; readonly generation: number; readonly analysis: NonNullable<DocumentSnapshot['analysis']> }
  | { readonly type: 'close'; readonly id: number; readonly root: string }
  | { readonly type: 'query'; readonly id: number; readonly root: string; readonly query: QueryName; readonly args: unknown };

export interface WorkerReply {
  readonly id: number;
  /** Publications to send, when the request changed what is published. */
  readonly publish?: readonly PublishDiagnosticsParams[];
  /** compile: every file of the compilation (the server re-checks the root when one changes). */
  readonly files?: readonly string[];
  /** compile: the texts compiled, when the rule analysis is due (no front-end error). */
  readonly analysisTexts?: ReadonlyMap<string, string>;
  readonly result?: unknown;
  readonly error?: { readonly code: number; readonly message: string };
}

/** The worker's state and how it answers one request; exported for tests that run it in process. */
export function createLanguageWorker() {
  let config: WorkerConfig = { docsUri: '', expiry: { today: 0, windowDays: 14 } };
  const snapshots = new Map<string, DocumentSnapshot>();
  const versions = new Map<string, number>();
  let publisher = createDiagnosticsPublisher('', versions);
  const all = () => [...snapshots.values()];

  const answer = (snapshot: DocumentSnapshot, query: QueryName, args: unknown): unknown => {
    const root = snapshot.root;
    const file = snapshot.compilation.sources.get(root);
    const ast = snapshot.compilation.asts.get(root);
    const offset = (at: At) => (file ? offsetAt(file, at.position) : undefined);
    switch (query) {
      case 'definition': {
        const o = offset(args as At);
        return o === undefined ? null : (findDefinition(snapshot, root, o) ?? null);
      }
      case 'references': {
        const a = args as Queries['references'];
        const o = offset(a);
        return o === undefined ? [] : findReferences(snapshot, all(), root, o, a.includeDeclaration);
      }
      case 'prepareRename': {
        const o = offset(args as At);
        return o === undefined ? null : prepareRename(snapshot, root, o);
      }
      case 'rename': {
        const a = args as Queries['rename'];
        const o = offset(a);
        return o === undefined ? null : rename(snapshot, all(), root, o, a.newName);
      }
      case 'hover': {
        const o = offset(args as At);
        return o === undefined ? null : (hover(snapshot, root, o) ?? null);
      }
      case 'completion': {
        // The words before the cursor come from the text as it is now; names from the snapshot.
        const a = args as Queries['completion'];
        const now = createSourceFile(root, a.text);
        return complete(snapshot, now, offsetAt(now, a.position));
      }
      case 'codeAction': {
        const a = args as Queries['codeAction'];
        if (!file) return [];
        return codeActions({ snapshot, file, start: offsetAt(file, a.range.start), end: offsetAt(file, a.range.end), diagnostics: a.diagnostics, today: config.expiry.today });
      }
      case 'formatting':
        return formatDocument(root, (args as Queries['formatting']).text);
      case 'rangeFormatting': {
        const a = args as Queries['rangeFormatting'];
        return formatRange(root, a.text, a.range);
      }
      case 'documentSymbol':
        return ast && file ? documentSymbols(ast, file) : [];
      case 'foldingRange':
        return ast && file ? foldingRanges(ast, file) : [];
      case 'codeLens':
        return codeLenses(snapshot, root);
      case 'runTests':
        return runTestBlock(snapshot, root, (args as Queries['runTests']).title);
      case 'policySummary':
        return { findings: snapshotDiagnostics(snapshot).filter((d) => d.code.startsWith('SEG5')).map((d) => `${d.code} ${d.message}`) };
    }
  };

  const handle = (request: WorkerRequest): WorkerReply => {
    switch (request.type) {
      case 'init':
        config = request.config;
        publisher = createDiagnosticsPublisher(config.docsUri, versions);
        return { id: request.id };
      case 'compile': {
        for (const [path, version] of request.versions) versions.set(path, version);
        let snapshot: DocumentSnapshot;
        try {
          const { analysis: _, ...compilation } = compile([request.root], createOverlayHost(request.overlay), { expiry: config.expiry });
          snapshot = { root: request.root, generation: request.generation, compilation };
        } catch (error) {
          // A bug in the compiler: reported as SEG9001; the previous compilation stays for the features.
          const previous = snapshots.get(request.root)?.compilation ?? emptyCompilation();
          snapshot = { root: request.root, generation: request.generation, compilation: previous, failure: error instanceof Error ? error.message : String(error) };
        }
        snapshots.set(request.root, snapshot);
        const c = snapshot.compilation;
        const analysisTexts = snapshot.failure === undefined && c.ir !== undefined ? new Map([...c.sources].map(([p, f]) => [p, f.text])) : undefined;
        return { id: request.id, publish: publisher.publish(snapshot, all()), files: [...c.sources.keys()], ...(analysisTexts ? { analysisTexts } : {}) };
      }
      case 'analysed': {
        const s = snapshots.get(request.root);
        if (!s || s.generation !== request.generation) return { id: request.id };
        const updated = { ...s, analysis: request.analysis };
        snapshots.set(request.root, updated);
        return { id: request.id, publish: publisher.publish(updated, all()) };
      }
      case 'close': {
        snapshots.delete(request.root);
        versions.delete(request.root);
        return { id: request.id, publish: publisher.forget(request.root, all()) };
      }
      case 'query': {
        const s = snapshots.get(request.root);
        if (!s) return { id: request.id, result: null };
        try {
          return { id: request.id, result: answer(s, request.query, request.args) };
        } catch (error) {
          if (error instanceof ResponseError) return { id: request.id, error: { code: error.code, message: error.message } };
          throw error;
        }
      }
    }
  };
  return { handle };
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

if (parentPort) {
  const port = parentPort;
  const worker = createLanguageWorker();
  port.on('message', (request: WorkerRequest) => {
    let reply: WorkerReply;
    try {
      reply = worker.handle(request);
    } catch (error) {
      // A bug in a feature: the request fails with its message; the worker and its state stay.
      reply = { id: request.id, error: { code: -32603, message: `internal error: ${error instanceof Error ? error.message : String(error)}` } };
    }
    port.postMessage(reply);
  });
}
