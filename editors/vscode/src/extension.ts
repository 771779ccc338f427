// The VS Code client of segc's language server: starts `segc lsp` over stdio for `.seg`
// files and hands everything else to the server (diagnostics, navigation, formatting...).
import { commands, workspace, type ExtensionContext } from 'vscode';
import { LanguageClient, TransportKind, type LanguageClientOptions, type ServerOptions } from 'vscode-languageclient/node';

let client: LanguageClient | undefined;

export async function activate(context: ExtensionContext): Promise<void> {
  context.subscriptions.push(
    commands.registerCommand('segc.restartServer', async () => {
      await client?.stop();
      await start();
    }),
    workspace.onDidChangeConfiguration(async (e) => {
      if (e.affectsConfiguration('segc')) await commands.executeCommand('segc.restartServer');
    }),
  );
  await start();
}

export async function deactivate(): Promise<void> {
  await client?.stop();
  client = undefined;
}

async function start(): Promise<void> {
  const config = workspace.getConfiguration('segc');
  const command = config.get<string>('path', 'segc');
  // A checkout's bin/segc.js runs with node; an installed `segc` runs as it is.
  const server = command.endsWith('.js') ? { command: process.execPath, args: [command, 'lsp'] } : { command, args: ['lsp'] };
  const serverOptions: ServerOptions = { ...server, transport: TransportKind.stdio, options: { env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' } } };
  const clientOptions: LanguageClientOptions = {
    documentSelector: [
      { scheme: 'file', language: 'seg' },
      { scheme: 'untitled', language: 'seg' },
    ],
    synchronize: { fileEvents: workspace.createFileSystemWatcher('**/*.seg') },
    initializationOptions: {
      analysis: config.get<boolean>('analysis', true),
      analysisBudgetMs: config.get<number>('analysisBudgetMs', 5000),
    },
  };
  client = new LanguageClient('segc', 'segc language server', serverOptions, clientOptions);
  await client.start();
}
