// Benchmark support: the `--dry` flag every benchmark takes. A dry run starts the benchmark
// (loads its modules, reads its arguments, checks that its inputs exist) and exits 0 before it
// measures anything, so that a test can run `make bench`'s whole list in seconds and a
// benchmark that cannot start fails CI instead of the next person's `make bench`.
import { existsSync } from 'node:fs';
import { basename } from 'node:path';

/** Whether this run is a dry one. */
export const dryRun = process.argv.includes('--dry');

/** The benchmark's own arguments: argv past the script, without `--dry`. */
export function benchArgs(): string[] {
  return process.argv.slice(2).filter((a) => a !== '--dry');
}

/**
 * In a dry run: checks that every input exists (exit 2 naming the first one missing), says the
 * benchmark is ready and exits 0. Otherwise does nothing.
 */
export function exitIfDryRun(inputs: readonly string[] = []): void {
  if (!dryRun) return;
  const missing = inputs.find((path) => !existsSync(path));
  if (missing !== undefined) {
    process.stderr.write(`${basename(process.argv[1] ?? 'bench')}: missing input ${missing}\n`);
    process.exit(2);
  }
  process.stdout.write(`dry run: ${basename(process.argv[1] ?? 'bench')} ready (${inputs.length} inputs present)\n`);
  process.exit(0);
}
