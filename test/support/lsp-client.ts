// A language client for tests: starts the real `segc lsp` (bin/segc.js, the built CLI) and
// speaks JSON-RPC to it over its stdio, as an editor does (vscode-languageserver-protocol's
// client side). Keeps every publishDiagnostics it receives, so tests can wait for the ones
// about a document's latest text.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createProtocolConnection, StreamMessageReader, StreamMessageWriter, type ProtocolConnection, type PublishDiagnosticsParams, type Range } from 'vscode-languageserver-protocol/node';

const ROOT = join(import.meta.dirname, '../..');

export interface LspClient {
  readonly connection: ProtocolConnection;
  readonly child: ChildProcess;
  /** Every publication so far, in order. */
  readonly published: PublishDiagnosticsParams[];
  /** The server's log messages (window/logMessage) so far. */
  readonly logs: string[];
  /** Resolves with the first publication for `uri` from now on that satisfies `accept`. */
  waitForDiagnostics(uri: string, accept?: (p: PublishDiagnosticsParams) => boolean, timeoutMs?: number): Promise<PublishDiagnosticsParams>;
  open(uri: string, text: string, version?: number): void;
  /** A full-text change. */
  change(uri: string, text: string, version: number): void;
  /** Incremental changes, applied in order (each range is in the text the previous ones left). */
  edit(uri: string, version: number, changes: readonly { readonly range: Range; readonly text: string }[]): void;
  close(uri: string): void;
  /** The server's stderr so far. */
  stderr(): string;
  /** shutdown, exit; resolves with the process's exit code. */
  stop(): Promise<number | null>;
}

/** `bin`: the segc.js to start (default this checkout's; a bench passes another's as a baseline). */
export async function startLspClient(options: { readonly env?: Record<string, string>; readonly args?: readonly string[]; readonly initializationOptions?: unknown; readonly bin?: string } = {}): Promise<LspClient> {
  const child = spawn(process.execPath, [options.bin ?? join(ROOT, 'bin/segc.js'), 'lsp', ...(options.args ?? [])], { cwd: ROOT, env: { ...process.env, ...options.env }, stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (b: Buffer) => void (stderr += b.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const connection = createProtocolConnection(new StreamMessageReader(child.stdout!), new StreamMessageWriter(child.stdin!));
  const published: PublishDiagnosticsParams[] = [];
  const waiters: (() => void)[] = [];
  connection.onNotification('textDocument/publishDiagnostics', (p: PublishDiagnosticsParams) => {
    published.push(p);
    for (const w of waiters.splice(0)) w();
  });
  const logs: string[] = [];
  connection.onNotification('window/logMessage', (p: { message: string }) => void logs.push(p.message));
  connection.onRequest('window/showMessageRequest', () => null);
  connection.onRequest('workspace/configuration', () => []);
  connection.onRequest('client/registerCapability', () => null);
  connection.listen();
  await connection.sendRequest('initialize', {
    processId: process.pid,
    rootUri: null,
    capabilities: { textDocument: { publishDiagnostics: { relatedInformation: true, codeDescriptionSupport: true, dataSupport: true } } },
    ...(options.initializationOptions === undefined ? {} : { initializationOptions: options.initializationOptions }),
  });
  await connection.sendNotification('initialized', {});

  return {
    connection,
    child,
    published,
    logs,
    waitForDiagnostics(uri, accept = () => true, timeoutMs = 20_000) {
      let from = published.length;
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no matching diagnostics for ${uri} within ${timeoutMs} ms; got ${JSON.stringify(published.filter((p) => p.uri === uri).at(-1))}\n${stderr}`)), timeoutMs);
        const look = () => {
          for (; from < published.length; from++) {
            const p = published[from] as PublishDiagnosticsParams;
            if (p.uri === uri && accept(p)) {
              clearTimeout(timer);
              resolve(p);
              return;
            }
          }
          waiters.push(look);
        };
        look();
      });
    },
    open(uri, text, version = 1) {
      void connection.sendNotification('textDocument/didOpen', { textDocument: { uri, languageId: 'seg', version, text } });
    },
    change(uri, text, version) {
      void connection.sendNotification('textDocument/didChange', { textDocument: { uri, version }, contentChanges: [{ text }] });
    },
    edit(uri, version, changes) {
      void connection.sendNotification('textDocument/didChange', { textDocument: { uri, version }, contentChanges: changes });
    },
    close(uri) {
      void connection.sendNotification('textDocument/didClose', { textDocument: { uri } });
    },
    stderr: () => stderr,
    async stop() {
      await connection.sendRequest('shutdown');
      await connection.sendNotification('exit');
      const code = await exited;
      connection.dispose();
      return code;
    },
  };
}
