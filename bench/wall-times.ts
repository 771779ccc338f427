// Benchmark support: wall times of whole commands (cold starts), run in turns so that every
// command sees the same machine load, after one warm-up round (file cache, V8 compile cache).
import { spawnSync } from 'node:child_process';

/** Sorted wall times (ms) of each command, `runs` times each, in turns, run in `cwd`. */
export function wallTimes(commands: readonly (readonly string[])[], runs: number, cwd: string): number[][] {
  const times = commands.map((): number[] => []);
  const once = (argv: readonly string[]) => {
    const [cmd = '', ...args] = argv;
    const start = performance.now();
    const r = spawnSync(cmd, args, { cwd, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${argv.join(' ')} exited ${r.status}: ${r.stdout}${r.stderr}`);
    return performance.now() - start;
  };
  for (const c of commands) once(c);
  for (let i = 0; i < runs; i++) commands.forEach((c, k) => times[k]?.push(once(c)));
  return times.map((t) => t.sort((a, b) => a - b));
}

export function median(sorted: readonly number[]): number {
  const n = sorted.length;
  return n === 0 ? NaN : ((sorted[(n - 1) >> 1] ?? 0) + (sorted[n >> 1] ?? 0)) / 2;
}
