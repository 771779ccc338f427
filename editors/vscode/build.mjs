// Builds the extension's contents: the client bundled into one CommonJS file (VS Code loads
// extensions with require; `vscode` is the editor's own), and the TextMate grammar copied from
// grammar/, its one source.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync } from 'node:fs';

mkdirSync('syntaxes', { recursive: true });
copyFileSync('../../grammar/segc.tmLanguage.json', 'syntaxes/segc.tmLanguage.json');
await build({
  entryPoints: ['src/extension.ts'],
  outfile: 'out/extension.js',
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node18',
  external: ['vscode'],
  minify: true,
  logLevel: 'warning',
});
