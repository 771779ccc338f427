// `segc lsp`: the language server (LSP 3.17 over stdio, vscode-languageserver). Keeps the open
// documents, hands compilations to document-analysis.ts and answers each request with the
// module of its feature. Nothing here parses or analyses: the compiler's stages do, in worker
// threads, so the message loop stays free whatever the input.
import { CodeActionKind, ProposedFeatures, TextDocuments, TextDocumentSyncKind, type CancellationToken, type Connection, type InitializeResult } from 'vscode-languageserver';
import { createConnection, StreamMessageReader, StreamMessageWriter } from 'vscode-languageserver/node.js';
import { TextDocument } from 'vscode-languageserver-textdocument';
import type { ExpiryOptions } from '../../compiler/expiry.ts';
import { createSourceFile } from '../../compiler/source.ts';
import { codeActions } from './code-actions.ts';
import { codeLenses, POLICY_SUMMARY_COMMAND, RUN_TESTS_COMMAND, runTestBlock } from './code-lens.ts';
import { complete } from './completion.ts';
import { findDefinition } from './definition.ts';
import { createDiagnosticsPublisher, snapshotDiagnostics } from './diagnostics.ts';
import { createDocumentAnalysis, type DocumentSnapshot } from './document-analysis.ts';
import { documentSymbols } from './document-symbols.ts';
import { foldingRanges } from './folding.ts';
import { formatDocument, formatRange } from './formatting.ts';
import { hover } from './hover.ts';
import { offsetAt, pathOfUri } from './positions.ts';
import { findReferences } from './references.ts';
import { prepareRename, rename } from './rename.ts';

export interface LspServerOptions {
  readonly input: NodeJS.ReadableStream;
  readonly output: NodeJS.WritableStream;
  /** docs/diagnostics.md as a URI; each code links to its entry. */
  readonly docsUri: string;
  readonly expiry: ExpiryOptions;
  readonly version: string;
  /** Default time budget of the rule analysis, in milliseconds. */
  readonly analysisBudgetMs: number;
}

/** What a client may pass as `initializationOptions` (docs/editors.md). */
interface InitializationOptions {
  /** Run the rule analysis as you type (default true). */
  readonly analysis?: boolean;
  readonly analysisBudgetMs?: number;
}

/**
 * Starts the server and returns: the connection keeps the process alive, and ends it on the
 * client's `exit` (code 0 after `shutdown`, else 1) or when the input closes.
 */
export function startLspServer(options: LspServerOptions): void {
  const connection = createConnection(ProposedFeatures.all, new StreamMessageReader(options.input), new StreamMessageWriter(options.output));
  const documents = new TextDocuments(TextDocument);
  const publisher = createDiagnosticsPublisher(connection, options.docsUri);
  let analysis = createAnalysis(connection, documents, publisher, options, {});

  connection.onInitialize((params): InitializeResult => {
    void analysis.dispose();
    analysis = createAnalysis(connection, documents, publisher, options, (params.initializationOptions ?? {}) as InitializationOptions);
    return {
      capabilities: {
        textDocumentSync: { openClose: true, change: TextDocumentSyncKind.Incremental, save: false },
        definitionProvider: true,
        referencesProvider: true,
        renameProvider: { prepareProvider: true },
        hoverProvider: true,
        completionProvider: { triggerCharacters: ['"', '/', ' ', '{', ','] },
        codeActionProvider: { codeActionKinds: [CodeActionKind.QuickFix, CodeActionKind.RefactorRewrite] },
        documentFormattingProvider: true,
        documentRangeFormattingProvider: true,
        documentSymbolProvider: true,
        foldingRangeProvider: true,
        codeLensProvider: { resolveProvider: false },
        executeCommandProvider: { commands: [RUN_TESTS_COMMAND, POLICY_SUMMARY_COMMAND] },
      },
      serverInfo: { name: 'segc', version: options.version },
    };
  });

  documents.onDidChangeContent((e) => analysis.changed(pathOfUri(e.document.uri)));
  documents.onDidClose((e) => {
    const path = pathOfUri(e.document.uri);
    analysis.closed(path);
    publisher.forget(path, analysis.all());
    // Documents that include it now read it from the disk.
    analysis.changed(path);
  });
  connection.onDidChangeWatchedFiles((p) => {
    for (const change of p.changes) analysis.changed(pathOfUri(change.uri));
  });

  /** The current snapshot of a document and its file, or undefined once the request is cancelled. */
  const snapshotOf = async (uri: string, token?: CancellationToken): Promise<{ snapshot: DocumentSnapshot; path: string } | undefined> => {
    const path = pathOfUri(uri);
    const snapshot = await analysis.current(path);
    if (!snapshot || token?.isCancellationRequested === true) return undefined;
    return { snapshot, path };
  };
  const offsetIn = (snapshot: DocumentSnapshot, path: string, position: { line: number; character: number }) => {
    const file = snapshot.compilation.sources.get(path);
    return file ? offsetAt(file, position) : undefined;
  };

  connection.onDefinition(async (p, token) => {
    const s = await snapshotOf(p.textDocument.uri, token);
    const offset = s && offsetIn(s.snapshot, s.path, p.position);
    return s && offset !== undefined ? (findDefinition(s.snapshot, s.path, offset) ?? null) : null;
  });
  connection.onReferences(async (p, token) => {
    const s = await snapshotOf(p.textDocument.uri, token);
    const offset = s && offsetIn(s.snapshot, s.path, p.position);
    return s && offset !== undefined ? findReferences(s.snapshot, analysis.all(), s.path, offset, p.context.includeDeclaration) : null;
  });
  connection.onPrepareRename(async (p, token) => {
    const s = await snapshotOf(p.textDocument.uri, token);
    const offset = s && offsetIn(s.snapshot, s.path, p.position);
    return s && offset !== undefined ? prepareRename(s.snapshot, s.path, offset) : null;
  });
  connection.onRenameRequest(async (p, token) => {
    const s = await snapshotOf(p.textDocument.uri, token);
    const offset = s && offsetIn(s.snapshot, s.path, p.position);
    return s && offset !== undefined ? rename(s.snapshot, analysis.all(), s.path, offset, p.newName) : null;
  });
  connection.onHover(async (p, token) => {
    const s = await snapshotOf(p.textDocument.uri, token);
    const offset = s && offsetIn(s.snapshot, s.path, p.position);
    return s && offset !== undefined ? (hover(s.snapshot, s.path, offset) ?? null) : null;
  });
  connection.onCompletion((p) => {
    // Never waits: the words before the cursor come from the text as it is now, the names in
    // scope from the latest compilation.
    const doc = documents.get(p.textDocument.uri);
    if (!doc) return [];
    const path = pathOfUri(doc.uri);
    const file = createSourceFile(path, doc.getText());
    return complete(analysis.latest(path), file, offsetAt(file, p.position));
  });
  connection.onCodeAction(async (p, token) => {
    const s = await snapshotOf(p.textDocument.uri, token);
    const file = s?.snapshot.compilation.sources.get(s.path);
    if (!s || !file) return [];
    return codeActions({ snapshot: s.snapshot, file, start: offsetAt(file, p.range.start), end: offsetAt(file, p.range.end), diagnostics: p.context.diagnostics, today: options.expiry.today });
  });
  connection.onDocumentFormatting((p) => {
    const doc = documents.get(p.textDocument.uri);
    return doc ? formatDocument(pathOfUri(doc.uri), doc.getText()) : [];
  });
  connection.onDocumentRangeFormatting((p) => {
    const doc = documents.get(p.textDocument.uri);
    return doc ? formatRange(pathOfUri(doc.uri), doc.getText(), p.range) : [];
  });
  connection.onDocumentSymbol(async (p, token) => {
    const s = await snapshotOf(p.textDocument.uri, token);
    const ast = s?.snapshot.compilation.asts.get(s.path);
    const file = s?.snapshot.compilation.sources.get(s.path);
    return ast && file ? documentSymbols(ast, file) : [];
  });
  connection.onFoldingRanges(async (p, token) => {
    const s = await snapshotOf(p.textDocument.uri, token);
    const ast = s?.snapshot.compilation.asts.get(s.path);
    const file = s?.snapshot.compilation.sources.get(s.path);
    return ast && file ? foldingRanges(ast, file) : [];
  });
  connection.onCodeLens(async (p, token) => {
    const s = await snapshotOf(p.textDocument.uri, token);
    return s ? codeLenses(s.snapshot, s.path) : [];
  });
  connection.onExecuteCommand(async (p) => {
    const [path, arg] = (p.arguments ?? []) as [string | undefined, string | undefined];
    if (path === undefined || arg === undefined) return null;
    const snapshot = await analysis.current(path);
    if (!snapshot) return null;
    if (p.command === RUN_TESTS_COMMAND) {
      const summary = runTestBlock(snapshot, path, arg);
      const head = summary.error ?? `test "${arg}": ${summary.passed} passed, ${summary.failed} failed`;
      const text = [head, ...summary.failures].join('\n');
      if (summary.error !== undefined || summary.failed > 0) void connection.window.showWarningMessage(text);
      else void connection.window.showInformationMessage(text);
      return summary;
    }
    if (p.command === POLICY_SUMMARY_COMMAND) {
      const findings = snapshotDiagnostics(snapshot).filter((d) => d.code.startsWith('SEG5'));
      return { findings: findings.map((d) => `${d.code} ${d.message}`) };
    }
    return null;
  });

  connection.onShutdown(() => analysis.dispose());
  // A bug in a handler must not take the editor's server down: it is logged (the client shows
  // the server's log) and the server goes on.
  process.on('uncaughtException', (e) => connection.console.error(`segc lsp: internal error: ${e.stack ?? String(e)}`));
  process.on('unhandledRejection', (e) => connection.console.error(`segc lsp: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`));
  documents.listen(connection);
  connection.listen();
}

function createAnalysis(
  connection: Connection,
  documents: TextDocuments<TextDocument>,
  publisher: ReturnType<typeof createDiagnosticsPublisher>,
  options: LspServerOptions,
  init: InitializationOptions,
) {
  const analysis = createDocumentAnalysis({
    documents: () => documents.all().map((d) => ({ path: pathOfUri(d.uri), text: d.getText(), version: d.version })),
    onSnapshot: (snapshot) => {
      publisher.publish(snapshot, analysis.all());
    },
    analysisBudgetMs: typeof init.analysisBudgetMs === 'number' && init.analysisBudgetMs > 0 ? init.analysisBudgetMs : options.analysisBudgetMs,
    expiry: options.expiry,
    analysis: init.analysis !== false,
  });
  void connection;
  return analysis;
}
