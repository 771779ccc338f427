// Bundles the compiled CLI (dist/runtime/cli/main.js, emitted by tsc) into dist/cli/: segc.js
// plus the chunks its lazy imports need. Loading some eighty ES modules costs `segc check` more
// in resolving and linking than in running; the bundle loads about a dozen. Code splitting keeps
// each command's implementation in chunks that load only when its action runs (so `check` still
// loads neither the runtime nor koffi). Run by `npm run build` after tsc; bin/segc.js uses the
// bundle only when it is newer than tsc's output (see there).
//
// Left outside the bundle: chevrotain (compiler/chevrotain.ts finds its single-file build from
// its own resolved URL), koffi (a native addon), and the packages only deploy and compile load
// (prom-client, source-map, write-file-atomic) and the language server's (vscode-languageserver,
// CommonJS that requires built-ins at run time), which stay as they are published.
import { build, type Plugin } from 'esbuild';
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

export const EXTERNAL_PACKAGES = ['chevrotain', 'koffi', 'prom-client', 'source-map', 'write-file-atomic', 'vscode-languageserver', 'vscode-languageserver-textdocument'] as const;

/** Writes the bundle of `dist/runtime/cli/main.js` to `outdir` (which must lie inside the package). */
export async function bundleCli(outdir: string): Promise<void> {
  // Chunk names carry a content hash: clear the previous build's so none lingers.
  rmSync(outdir, { recursive: true, force: true });
  await build({
    // The language server's workers are entries of their own: a worker thread loads each by
    // URL, beside the chunk of document-analysis.ts.
    entryPoints: {
      segc: join(ROOT, 'dist/runtime/cli/main.js'),
      'language-worker': join(ROOT, 'dist/runtime/lsp/language-worker.js'),
      'analysis-worker': join(ROOT, 'dist/runtime/lsp/analysis-worker.js'),
    },
    outdir,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node22.12',
    external: [...EXTERNAL_PACKAGES],
    plugins: [lazyBuiltins],
    chunkNames: 'chunk-[hash]',
    logLevel: 'warning',
  });
}

/**
 * Built-in modules that commander imports for what segc never or seldom does (child_process to
 * run executable subcommands, util to measure coloured help text), and the named exports it
 * takes from each. Loading node:util and node:child_process costs about 4 ms each at start-up.
 */
const LAZY_BUILTINS: Readonly<Record<string, readonly string[]>> = {
  'node:child_process': [],
  'node:util': ['stripVTControlCharacters'],
};

/**
 * Hands commander stand-ins for the LAZY_BUILTINS that load the real module on first use
 * (`process.getBuiltinModule`, synchronous): the default export is a proxy of the module and
 * each named export a function calling the module's own. A name commander takes that is not
 * listed makes the build fail ("No matching export"), never the run.
 */
const lazyBuiltins: Plugin = {
  name: 'lazy-builtins',
  setup(plugin) {
    const filter = new RegExp(`^(${Object.keys(LAZY_BUILTINS).join('|')})$`);
    plugin.onResolve({ filter }, (args) =>
      /[\\/]node_modules[\\/]commander[\\/]/.test(args.importer) ? { path: args.path, namespace: 'lazy-builtin' } : undefined,
    );
    plugin.onLoad({ filter: /.*/, namespace: 'lazy-builtin' }, (args) => {
      const id = JSON.stringify(args.path);
      const lines = [
        `const load = () => process.getBuiltinModule(${id});`,
        `export default new Proxy({}, { get: (_, key) => load()[key] });`,
        ...(LAZY_BUILTINS[args.path] ?? []).map((name) => `export function ${name}(...args) { return load().${name}(...args); }`),
      ];
      return { contents: lines.join('\n') + '\n', loader: 'js' };
    });
  },
};

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await bundleCli(join(ROOT, 'dist/cli'));
}
