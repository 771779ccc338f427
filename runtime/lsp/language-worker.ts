// The language server's language worker (a worker thread): keeps every open document's text
// and syntax tree up to date from the client's edits (compiler/incremental.ts re-parses the
// lines an edit touches), compiles each open document (the front phase: syntax, names, values,
// includes, expiry), keeps the compilations, and answers every feature's request from them with
// the feature modules, so that the server's message loop never parses, never holds a 10k-rule
// AST and never waits on a 5 MB file. It also turns diagnostics into the publications the
// server sends. document-analysis.ts is its one client.
import { parentPort } from 'node:worker_threads';
import { ResponseError, type PublishDiagnosticsParams } from 'vscode-languageserver';
import type { ExpiryOptions } from '../../compiler/expiry.ts';
import { applyEdit, createIncrementalDocument, parseFileWith, type IncrementalDocument, type TextEdit } from '../../compiler/incremental.ts';
import { createLowerCache, type LowerCache } from '../../compiler/lower.ts';
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
import type { DocumentChange } from './open-documents.ts';
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
  /** An open document's change, in the client's order; `length` is its text's length after it. */
  | { readonly type: 'document'; readonly id: number; readonly path: string; readonly version: number; readonly change: DocumentChange; readonly length: number }
  /** Compiles a root from the open documents' texts as they are now (the disk for others). */
  | { readonly type: 'compile'; readonly id: number; readonly root: string; readonly generation: number; readonly analysis: boolean }
  | { readonly type: 'analysed'; readonly id: number; readonly root: string; readonly generation: number; readonly analysis: NonNullable<DocumentSnapshot['analysis']> }
  /** A document was closed: its text, its compilation and what only it published go. */
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
  /** compile: nothing was compiled; these documents' copies went wrong and need their whole text. */
  readonly resync?: readonly string[];
  readonly result?: unknown;
  readonly error?: { readonly code: number; readonly message: string };
}

/** The worker's state and how it answers one request; exported for tests that run it in process. */
export function createLanguageWorker() {
  let config: WorkerConfig = { docsUri: '', expiry: { today: 0, windowDays: 14 } };
  const snapshots = new Map<string, DocumentSnapshot>();
  const versions = new Map<string, number>();
  const documents = createWorkerDocuments();
  // Each root's lowered rules, reused by its next compilation where a rule's text is unchanged.
  const lowerCaches = new Map<string, LowerCache>();
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

  const lowerCacheOf = (root: string): LowerCache => {
    let cache = lowerCaches.get(root);
    if (cache === undefined) lowerCaches.set(root, (cache = createLowerCache()));
    return cache;
  };

  const handle = (request: WorkerRequest): WorkerReply => {
    switch (request.type) {
      case 'init':
        config = request.config;
        publisher = createDiagnosticsPublisher(config.docsUri, versions);
        return { id: request.id };
      case 'document':
        documents.change(request.path, request.change, request.length);
        versions.set(request.path, request.version);
        return { id: request.id };
      case 'compile': {
        const current = documents.current();
        if (current.broken.length > 0) return { id: request.id, resync: current.broken };
        let snapshot: DocumentSnapshot;
        try {
          const overlay = new Map([...current.docs].map(([path, doc]) => [path, doc.text]));
          const { analysis: _, ...compilation } = compile([request.root], createOverlayHost(overlay), { expiry: config.expiry, parseFile: parseFileWith(current.docs), lowerCache: lowerCacheOf(request.root) });
          snapshot = { root: request.root, generation: request.generation, compilation };
        } catch (error) {
          // A bug in the compiler: reported as SEG9001; the previous compilation stays for the features.
          const previous = snapshots.get(request.root)?.compilation ?? emptyCompilation();
          snapshot = { root: request.root, generation: request.generation, compilation: previous, failure: error instanceof Error ? error.message : String(error) };
        }
        snapshots.set(request.root, snapshot);
        const c = snapshot.compilation;
        // The texts go back only when the analysis will run (a copy of every file's text).
        const analysisTexts = request.analysis && snapshot.failure === undefined && c.ir !== undefined ? new Map([...c.sources].map(([p, f]) => [p, f.text])) : undefined;
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
        documents.close(request.root);
        lowerCaches.delete(request.root);
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

/** More edits than this waiting for one document are applied to its text and parsed whole. */
const MAX_INCREMENTAL_EDITS = 8;

interface WorkerDocument {
  /** The document as last parsed; undefined until first needed (and after a whole-text change). */
  doc: IncrementalDocument | undefined;
  /** Its text when `doc` is undefined. */
  text: string;
  /** Edits received since, in order, not yet applied. */
  pending: TextEdit[];
  /** The length the text must have once they are applied (a check that the copies agree). */
  length: number;
  broken: boolean;
}

/**
 * The open documents' texts and syntax trees, kept from the client's changes. Edits are applied
 * when a compilation needs the text (a burst of keystrokes, coalesced by the server, costs one
 * compilation and one re-parse per edit of the touched lines; a long burst is parsed whole).
 */
function createWorkerDocuments() {
  const documents = new Map<string, WorkerDocument>();
  const settle = (path: string, d: WorkerDocument): IncrementalDocument | undefined => {
    if (d.broken) return undefined;
    try {
      if (d.doc !== undefined && d.pending.length > 0 && d.pending.length <= MAX_INCREMENTAL_EDITS) {
        // applyEdit moves the rule nodes of the document's last AST in place: a snapshot of
        // another root that includes this document holds them until that root is compiled
        // again, which the server asks for whenever a file of its compilation changes.
        let doc = d.doc;
        for (const edit of d.pending) doc = applyEdit(doc, edit);
        d.doc = doc;
      } else if (d.doc === undefined || d.pending.length > 0) {
        let text = d.doc?.text ?? d.text;
        for (const e of d.pending) {
          if (!(0 <= e.start && e.start <= e.end && e.end <= text.length)) throw new RangeError(`edit [${e.start}, ${e.end}) is outside the text (0..${text.length})`);
          text = text.slice(0, e.start) + e.text + text.slice(e.end);
        }
        d.doc = createIncrementalDocument(path, text);
      }
      d.pending = [];
      d.text = '';
      if (d.doc.text.length !== d.length) d.broken = true;
    } catch {
      // An edit outside the text: the client and this copy disagree. The server sends it whole.
      d.broken = true;
    }
    if (d.broken) {
      d.doc = undefined;
      d.pending = [];
    }
    return d.doc;
  };
  return {
    change(path: string, change: DocumentChange, length: number): void {
      const d = documents.get(path);
      if (change.kind === 'full' || d === undefined) {
        const text = change.kind === 'full' ? change.text : '';
        documents.set(path, { doc: undefined, text, pending: [], length: change.kind === 'full' ? length : -1, broken: change.kind !== 'full' });
        return;
      }
      if (d.broken) return;
      for (const e of change.edits) d.pending.push(e);
      d.length = length;
    },
    close(path: string): void {
      documents.delete(path);
    },
    /** Every open document with its edits applied, and those whose copy is broken. */
    current(): { docs: Map<string, IncrementalDocument>; broken: string[] } {
      const docs = new Map<string, IncrementalDocument>();
      const broken: string[] = [];
      for (const [path, d] of documents) {
        const doc = settle(path, d);
        if (doc) docs.set(path, doc);
        else broken.push(path);
      }
      return { docs, broken };
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
