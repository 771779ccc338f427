// Benchmark of `segc fmt` (prints, never asserts): the cold-start wall time of the real binary's
// `fmt --check` on an example (what a pre-commit hook pays) next to a bare `node -e 0`; then,
// for generated unformatted policies of 1k, 10k and 100k rules (with comments, lists and groups),
// the time to parse alone (`parseSourceFile`), then the time of `formatSource`, what `segc fmt`
// runs per file (its own parse, the printing and the proof that scans the output and compares
// its tokens with the input's), and the heap used. Run: `node bench/format.ts` (builds dist/ first; `--no-build` skips that). Each
// size runs in a fresh child process so its memory is its own.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseSourceFile } from '../compiler/build-ast.ts';
import { createCollector } from '../compiler/diagnostics.ts';
import { formatSource } from '../compiler/format.ts';
import { createSourceFile } from '../compiler/source.ts';
import { exitIfDryRun } from './dry-run.ts';
import { median, wallTimes } from './wall-times.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const SIZES = [1_000, 10_000, 100_000];
const RUNS = 10;
const EXAMPLE = 'examples/k8s-node.seg';

interface SizeResult {
  readonly rules: number;
  readonly bytes: number;
  /** `parseSourceFile` alone, for reference. */
  readonly parseMs: number;
  /** `formatSource`: parse, print and proof (the whole of `segc fmt`'s work on the file). */
  readonly formatMs: number;
  readonly outBytes: number;
  readonly heapMB: number;
  /** CPU time of `formatSource` (the steadier figure on a shared machine). */
  readonly cpuMs: number;
  readonly maxRssMB: number;
}

if (process.argv[2] === '--size') {
  process.stdout.write(JSON.stringify(benchSize(Number(process.argv[3]))) + '\n');
} else {
  // A dry run proves the generator and the formatter work on a small policy, then stops.
  if (process.argv.includes('--dry')) benchSize(100);
  exitIfDryRun([EXAMPLE]);
  if (!process.argv.includes('--no-build')) {
    const build = spawnSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'inherit' });
    if (build.status !== 0) throw new Error('build failed');
  }
  console.log(`segc fmt --check cold start (${RUNS} runs each, in turns; median and minimum)`);
  const [bare = [], fmt = []] = wallTimes([
    [process.execPath, '-e', '0'],
    [process.execPath, 'bin/segc.js', 'fmt', '--check', EXAMPLE],
  ], RUNS, ROOT);
  const row = (label: string, t: readonly number[]) => console.log(`  ${label.padEnd(52)} ${median(t).toFixed(1).padStart(7)} ms ${(t[0] ?? 0).toFixed(1).padStart(7)} ms`);
  row('node -e 0', bare);
  row(`node bin/segc.js fmt --check ${EXAMPLE}`, fmt);
  console.log(`  ratio of medians ${(median(fmt) / median(bare)).toFixed(2)} x`);
  console.log('');
  console.log(`segc fmt on generated policies (node ${process.version}; fmt = formatSource: parse, print, proof; cpu is fmt's)`);
  console.log('     rules      bytes   parse ms     fmt ms    cpu ms   heap MB  max RSS MB');
  for (const size of SIZES) {
    const child = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--size', String(size)], { encoding: 'utf8', maxBuffer: 1 << 20 });
    if (child.status !== 0) throw new Error(`size ${size} failed: ${child.stderr}`);
    const r = JSON.parse(child.stdout) as SizeResult;
    console.log(
      `  ${String(r.rules).padStart(8)} ${String(r.bytes).padStart(10)} ${r.parseMs.toFixed(0).padStart(10)} ${r.formatMs.toFixed(0).padStart(10)} ${r.cpuMs.toFixed(0).padStart(9)} ${r.heapMB.toFixed(0).padStart(9)} ${r.maxRssMB.toFixed(0).padStart(11)}`,
    );
  }
}

function benchSize(rules: number): SizeResult {
  const text = benchPolicy(rules);
  const source = createSourceFile('bench.seg', text);
  const t0 = performance.now();
  const diagnostics = createCollector();
  parseSourceFile(source, diagnostics);
  const t1 = performance.now();
  if (diagnostics.items.length > 0) throw new Error(`generated policy has errors: ${diagnostics.items[0]?.message}`);
  const cpu0 = process.cpuUsage();
  const t2 = performance.now();
  const out = formatSource(source).text;
  const t3 = performance.now();
  const cpu = process.cpuUsage(cpu0);
  if (out === undefined) throw new Error('generated policy was refused');
  return {
    rules,
    bytes: text.length,
    parseMs: t1 - t0,
    formatMs: t3 - t2,
    outBytes: out.length,
    heapMB: process.memoryUsage().heapUsed / 2 ** 20,
    cpuMs: (cpu.user + cpu.system) / 1000,
    maxRssMB: process.resourceUsage().maxRSS / 1024,
  };
}

/** An unformatted policy: odd spacing, comments, broken lists, groups of rules. */
function benchPolicy(rules: number): string {
  const out: string[] = ['# generated for the fmt benchmark'];
  for (let i = 0; i < 100; i++) out.push(`set  s${i} =  {10.${i}.0.0/16,2001:db8:${i}::/48}   # set ${i}`);
  out.push('ports web = {80,443}', '', 'policy ingress default deny {');
  for (let i = 0; i < rules; i++) {
    if (i % 50 === 0) out.push('', `  # group ${i / 50}`);
    const prio = (i + 1) % 65536;
    // Priorities are unique per direction: past 65535 rules, the rest go to egress.
    if (i === 65535) out.push('}', 'policy egress default deny {');
    const name = i % 3 === 0 ? `r${i}: ` : '';
    const src = i % 7 === 0 ? `{ s${i % 100},\n    s${(i + 1) % 100} }` : `s${i % 100}`;
    const tail = i % 5 === 0 ? ' "described"' : i % 5 === 1 ? ' # note' : '';
    out.push(`${prio} ${name}allow  tcp from ${src} to any port ${i % 2 === 0 ? 'web' : String(1024 + (i % 1000))}${tail}`);
  }
  out.push('}');
  return out.join('\n') + '\n';
}
