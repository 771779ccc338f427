// `segc lsp`: the language server (LSP 3.17 over stdio, vscode-languageserver). Keeps the open
// documents and hands every request to document-analysis.ts, whose worker threads compile and
// answer with the feature modules; nothing on this message loop parses or analyses, so it stays
// free whatever the input.
import { CodeActionKind, ProposedFeatures, TextDocumentSyncKind, type CancellationToken, type InitializeResult } from 'vscode-languageserver';
import { createConnection, StreamMessageReader, StreamMessageWriter } from 'vscode-languageserver/node.js';
import type { ExpiryOptions } from '../../compiler/expiry.ts';
import { POLICY_SUMMARY_COMMAND, RUN_TESTS_COMMAND, type TestRunSummary } from './code-lens.ts';
import { createDocumentAnalysis, type DocumentAnalysis } from './document-analysis.ts';
import type { QueryName, Queries } from './language-worker.ts';
import { createOpenDocuments } from './open-documents.ts';
import { pathOfUri, uriOfPath } from './positions.ts';

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
  let analysis: DocumentAnalysis | undefined;
  // Each change goes to the language worker as the edits the client sent, so that it re-checks
  // the lines they touch (compiler/incremental.ts), not the whole file.
  const documents = createOpenDocuments({
    changed: (uri, version, change) => analysis?.edited(pathOfUri(uri), version, change),
    closed(uri) {
      const path = pathOfUri(uri);
      analysis?.closed(path);
      // Documents that include it now read it from the disk.
      analysis?.changed(path);
    },
  });
  const start = (init: InitializationOptions): DocumentAnalysis =>
    createDocumentAnalysis({
      documents: () => documents.all().map((d) => ({ path: pathOfUri(d.uri), text: d.getText(), version: d.version })),
      publish: (params) => {
        for (const p of params) void connection.sendDiagnostics(p);
      },
      analysisBudgetMs: typeof init.analysisBudgetMs === 'number' && init.analysisBudgetMs > 0 ? init.analysisBudgetMs : options.analysisBudgetMs,
      analysis: init.analysis !== false,
      config: { docsUri: options.docsUri, expiry: options.expiry },
      log: (message) => connection.console.warn(message),
    });

  connection.onInitialize((params): InitializeResult => {
    analysis = start((params.initializationOptions ?? {}) as InitializationOptions);
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

  connection.onDidChangeWatchedFiles((p) => {
    for (const change of p.changes) analysis?.changed(pathOfUri(change.uri));
  });

  /**
   * A feature's answer for a document, or null once the client cancelled the request. The
   * language worker made it with the feature's module; its type is the protocol's for `query`.
   */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- each handler's result type is the protocol's; the worker's reply is that value
  const ask = async <Q extends QueryName>(uri: string, query: Q, args: Queries[Q], token?: CancellationToken): Promise<any> => {
    const cancelled = () => token?.isCancellationRequested === true;
    if (!analysis || cancelled()) return null;
    const result = await analysis.query(pathOfUri(uri), query, args);
    return cancelled() ? null : result;
  };
  const textOf = (uri: string) => documents.get(uri)?.getText() ?? '';

  connection.onDefinition((p, token) => ask(p.textDocument.uri, 'definition', { position: p.position }, token));
  connection.onReferences((p, token) => ask(p.textDocument.uri, 'references', { position: p.position, includeDeclaration: p.context.includeDeclaration }, token));
  connection.onPrepareRename((p, token) => ask(p.textDocument.uri, 'prepareRename', { position: p.position }, token));
  connection.onRenameRequest((p, token) => ask(p.textDocument.uri, 'rename', { position: p.position, newName: p.newName }, token));
  connection.onHover((p, token) => ask(p.textDocument.uri, 'hover', { position: p.position }, token));
  connection.onCompletion((p, token) => ask(p.textDocument.uri, 'completion', { position: p.position, text: textOf(p.textDocument.uri) }, token));
  connection.onCodeAction((p, token) => ask(p.textDocument.uri, 'codeAction', { range: p.range, diagnostics: p.context.diagnostics }, token));
  connection.onDocumentFormatting((p, token) => ask(p.textDocument.uri, 'formatting', { text: textOf(p.textDocument.uri) }, token));
  connection.onDocumentRangeFormatting((p, token) => ask(p.textDocument.uri, 'rangeFormatting', { text: textOf(p.textDocument.uri), range: p.range }, token));
  connection.onDocumentSymbol((p, token) => ask(p.textDocument.uri, 'documentSymbol', {}, token));
  connection.onFoldingRanges((p, token) => ask(p.textDocument.uri, 'foldingRange', {}, token));
  connection.onCodeLens((p, token) => ask(p.textDocument.uri, 'codeLens', {}, token));
  connection.onExecuteCommand(async (p) => {
    const [path, arg] = (p.arguments ?? []) as [string | undefined, string | undefined];
    if (path === undefined || arg === undefined) return null;
    if (p.command === RUN_TESTS_COMMAND) {
      const summary = (await ask(uriOfPath(path), 'runTests', { title: arg })) as TestRunSummary | null;
      if (!summary) return null;
      const head = summary.error ?? `test "${arg}": ${summary.passed} passed, ${summary.failed} failed`;
      const text = [head, ...summary.failures].join('\n');
      if (summary.error !== undefined || summary.failed > 0) void connection.window.showWarningMessage(text);
      else void connection.window.showInformationMessage(text);
      return summary;
    }
    if (p.command === POLICY_SUMMARY_COMMAND) return ask(uriOfPath(path), 'policySummary', {});
    return null;
  });

  connection.onShutdown(() => analysis?.dispose());
  // A bug in a handler must not take the editor's server down: it is logged (the client shows
  // the server's log) and the server goes on.
  process.on('uncaughtException', (e) => connection.console.error(`segc lsp: internal error: ${e.stack ?? String(e)}`));
  process.on('unhandledRejection', (e) => connection.console.error(`segc lsp: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`));
  documents.listen(connection);
  connection.listen();
}
