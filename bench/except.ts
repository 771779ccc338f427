// Benchmark of an except-heavy policy (prints, never asserts): `set holes = any except { 5,000
// IPv4 and 2,000 IPv6 hosts }` used by 50 rules, the shape of issue 15 (check past 120 s, compile
// 42 s and 892 MB before the fix). Runs the real binary's `check` and `compile` in child
// processes and prints each one's wall time and peak memory, next to the same policy with one
// rule using the set (the work that is the set's own, not the rules'). Run: `node bench/except.ts`
// (after `npm run build`).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { exitIfDryRun } from './dry-run.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const SEGC = join(ROOT, 'bin', 'segc.js');
// GNU time (Debian's `time`, installed by scripts/setup.sh) reports the peak memory.
exitIfDryRun([SEGC, '/usr/bin/time']);

function exceptPolicy(rules: number): string {
  const v4 = Array.from({ length: 5000 }, (_, i) => `10.${(i >> 8) & 255}.${i & 255}.${((i * 7) % 250) + 1}`);
  const v6 = Array.from({ length: 2000 }, (_, i) => `2001:db8:${i.toString(16)}::${(((i * 13) % 65535) + 1).toString(16)}`);
  const lines = Array.from({ length: rules }, (_, i) => `  ${100 + i} r${i}: allow tcp from holes to any port ${1000 + i}`);
  return `set holes = any except {\n${[...v4, ...v6].map((h) => `  ${h}`).join(',\n')}\n}\npolicy ingress default deny {\n${lines.join('\n')}\n}\n`;
}

/** Wall time and peak resident memory of one run of the binary (GNU time's report). */
function measure(args: readonly string[], cwd: string): { seconds: number; cpu: number; maxRssMB: number; code: number | null } {
  const r = spawnSync('/usr/bin/time', ['-f', '%e %U %S %M', process.execPath, SEGC, ...args], { cwd, encoding: 'utf8', timeout: 600_000 });
  const last = r.stderr.trim().split('\n').pop() ?? '';
  const [seconds, user, sys, kb] = last.split(' ').map(Number);
  return { seconds: seconds ?? NaN, cpu: (user ?? NaN) + (sys ?? NaN), maxRssMB: (kb ?? NaN) / 1024, code: r.status };
}

const dir = mkdtempSync(join(tmpdir(), 'segc-bench-except-'));
try {
  process.stdout.write('except-heavy policy: any except 5,000 IPv4 + 2,000 IPv6 hosts\n');
  for (const rules of [1, 50]) {
    const file = `except-${rules}.seg`;
    writeFileSync(join(dir, file), exceptPolicy(rules));
    const check = measure(['check', file], dir);
    const compile = measure(['compile', file, '-o', `except-${rules}.bundle.json`], dir);
    // CPU time beside the wall time: on a shared machine the wall time is mostly waiting.
    const show = (m: ReturnType<typeof measure>) => `${m.seconds.toFixed(1)} s wall, ${m.cpu.toFixed(1)} s CPU, ${m.maxRssMB.toFixed(0)} MB (exit ${m.code})`;
    process.stdout.write(`  ${String(rules).padStart(2)} rule(s): check ${show(check)}; compile ${show(compile)}\n`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
