// Benchmark of `segc check` (prints, never asserts): the cold-start wall time of the real
// binary on an example next to a bare `node -e 0`, and parse and resolve+lower time and memory
// for generated policies of 1k, 10k and 100k rules, and the heap their AST and IR hold (a
// figure that does not move with the machine's load). Run: `node bench/check.ts` (runs
// `npm run build` first; `--no-build` skips that). Each policy size runs in a fresh child
// process so that its peak memory is its own.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseSourceFile } from '../compiler/build-ast.ts';
import { createCollector } from '../compiler/diagnostics.ts';
import { lower } from '../compiler/lower.ts';
import { resolve } from '../compiler/resolve.ts';
import { createMemoryHost, createSourceFile } from '../compiler/source.ts';
import { exitIfDryRun } from './dry-run.ts';
import { median, wallTimes } from './wall-times.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const RUNS = 15;
const SIZES = [1_000, 10_000, 100_000];

interface SizeResult {
  readonly rules: number;
  readonly bytes: number;
  readonly parseMs: number;
  readonly lowerMs: number;
  /** CPU time of both (the steadier figure on a shared machine; it counts V8's GC threads). */
  readonly cpuMs: number;
  readonly heapMB: number;
  readonly maxRssMB: number;
  readonly diagnostics: number;
}

if (process.argv[2] === '--size') {
  process.stdout.write(JSON.stringify(measureSize(Number(process.argv[3]))) + '\n');
} else if (process.argv[2] === '--retained') {
  process.stdout.write(JSON.stringify(measureRetained(Number(process.argv[3]))) + '\n');
} else {
  benchMain();
}

function benchMain(): void {
  // A dry run proves the generator and the stages work on a small policy, then stops.
  if (process.argv.includes('--dry')) measureSize(100);
  exitIfDryRun();
  if (!process.argv.includes('--no-build')) {
    // `npm run build`, not tsc alone: bin/segc.js runs the bundle it makes (scripts/bundle-cli.ts).
    const build = spawnSync('npm', ['run', '--silent', 'build'], { cwd: ROOT, stdio: 'inherit' });
    if (build.status !== 0) throw new Error('build failed');
  }
  const example = readdirSync(join(ROOT, 'examples')).filter((f) => f.endsWith('.seg')).sort()[0];
  if (example === undefined) throw new Error('no examples/*.seg to check');

  console.log(`segc check cold start (${RUNS} runs each, interleaved so that both see the same load; node ${process.version})`);
  const [bare, check] = wallTimes([
    [process.execPath, '-e', '0'],
    [process.execPath, 'bin/segc.js', 'check', `examples/${example}`],
  ], RUNS, ROOT);
  const row = (label: string, t: readonly number[]) => console.log(`  ${label.padEnd(46)} median ${median(t).toFixed(1).padStart(7)} ms   min ${(t[0] ?? 0).toFixed(1).padStart(7)} ms`);
  row('node -e 0', bare ?? []);
  row(`node bin/segc.js check examples/${example}`, check ?? []);
  console.log(`  ratio of medians ${(median(check ?? []) / median(bare ?? [])).toFixed(2)} x, of minimums ${((check?.[0] ?? 0) / (bare?.[0] ?? 1)).toFixed(2)} x   (aim: <= 3x)`);
  console.log('');
  console.log('parse and resolve+lower of generated policies (one child process per size)');
  console.log('     rules      bytes  node flags                   parse ms  lower ms  total ms    cpu ms   heap MB  max RSS MB  diagnostics');
  for (const size of SIZES) {
    // Parsing keeps every token alive until the AST is built, so the young generation's
    // copying dominates large inputs; a larger semi-space (a start-up flag only) shows how much.
    // `--max-semi-space-size=4` is what bin/segc (the command users run) starts Node with.
    for (const flags of [[], ['--max-semi-space-size=4'], ['--max-semi-space-size=64']]) {
      const child = spawnSync(process.execPath, [...flags, fileURLToPath(import.meta.url), '--size', String(size)], { cwd: ROOT, encoding: 'utf8', maxBuffer: 1 << 20 });
      if (child.status !== 0) throw new Error(`size ${size} failed: ${child.stderr}`);
      const r = JSON.parse(child.stdout) as SizeResult;
      console.log(
        [
          String(r.rules).padStart(10),
          String(r.bytes).padStart(10),
          ' ' + (flags.join(' ') || '(none)').padEnd(27),
          r.parseMs.toFixed(0).padStart(9),
          r.lowerMs.toFixed(0).padStart(9),
          (r.parseMs + r.lowerMs).toFixed(0).padStart(9),
          r.cpuMs.toFixed(0).padStart(9),
          r.heapMB.toFixed(0).padStart(9),
          r.maxRssMB.toFixed(0).padStart(11),
          String(r.diagnostics).padStart(12),
        ].join(' '),
      );
    }
  }
  console.log('  (aim: 100k rules parsed and lowered in under 1500 ms, 10k in under 150 ms, 100k under 400 MB RSS)');
  console.log('');
  // What the AST and the IR hold after a full collection: the same on every run, unlike the
  // times, so it shows a change of representation (compact spans, fewer nodes) on a busy machine.
  for (const size of [10_000, 100_000]) {
    const child = spawnSync(process.execPath, ['--expose-gc', fileURLToPath(import.meta.url), '--retained', String(size)], { cwd: ROOT, encoding: 'utf8' });
    if (child.status !== 0) throw new Error(`retained ${size} failed: ${child.stderr}`);
    const r = JSON.parse(child.stdout) as RetainedResult;
    console.log(`retained after a full collection, ${size} rules: AST ${r.astMB.toFixed(1)} MB (${((r.astMB * 2 ** 20) / size).toFixed(0)} bytes a rule), IR ${r.irMB.toFixed(1)} MB`);
  }
  console.log('');
  realCheck(100_000);
}

interface RetainedResult {
  readonly rules: number;
  readonly astMB: number;
  readonly irMB: number;
}

/** Heap held by the AST, then by the IR, each after a full collection (needs `--expose-gc`). */
function measureRetained(rules: number): RetainedResult {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('--retained needs node --expose-gc');
  const used = () => {
    gc();
    return process.memoryUsage().heapUsed / 2 ** 20;
  };
  const text = generatePolicy(rules);
  const host = createMemoryHost({ 'gen.seg': text });
  const diagnostics = createCollector();
  const before = used();
  const ast = parseSourceFile(createSourceFile('gen.seg', text), diagnostics);
  const afterParse = used();
  const ir = lower(resolve({ rootFiles: ['gen.seg'], host, parseFile: () => ast, diagnostics }), diagnostics);
  const afterLower = used();
  if (ir === undefined) throw new Error('generated policy has errors');
  return { rules, astMB: afterParse - before, irMB: afterLower - afterParse };
}

/**
 * The whole `segc check` of a 100k-rule file as users run it (bin/segc, the launcher, and
 * `node bin/segc.js` without its V8 flags), interleaved: wall time and peak RSS from GNU time.
 */
function realCheck(rules: number): void {
  const dir = mkdtempSync(join(tmpdir(), 'segc-bench-check-'));
  try {
    const file = join(dir, 'gen.seg');
    writeFileSync(file, generatePolicy(rules));
    console.log(`segc check of a ${rules}-rule file, the whole command (GNU time; 3 runs each, interleaved)`);
    const commands: [string, string[]][] = [
      ['bin/segc check', [join(ROOT, 'bin/segc'), 'check', file]],
      ['node bin/segc.js check', [process.execPath, join(ROOT, 'bin/segc.js'), 'check', file]],
    ];
    const rows = new Map<string, { wall: number[]; rss: number[] }>();
    for (let run = 0; run < 3; run++) {
      for (const [label, argv] of commands) {
        const r = spawnSync('/usr/bin/time', ['-f', '%e %M', ...argv], { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 << 20 });
        // check exits 0 (clean) or 1 (findings); the time line is the last line of stderr.
        if (r.status !== 0 && r.status !== 1) throw new Error(`${label} exited ${r.status}: ${r.stderr.slice(-500)}`);
        const [wall, rssKiB] = (r.stderr.trim().split('\n').pop() ?? '').split(' ').map(Number);
        const row = rows.get(label) ?? { wall: [], rss: [] };
        row.wall.push((wall ?? NaN) * 1000);
        row.rss.push((rssKiB ?? NaN) / 1024);
        rows.set(label, row);
      }
    }
    for (const [label, { wall, rss }] of rows) {
      const range = (v: number[]) => `${Math.min(...v).toFixed(0)}..${Math.max(...v).toFixed(0)}`;
      console.log(`  ${label.padEnd(24)} wall ms ${range(wall).padStart(12)}   max RSS MB ${range(rss).padStart(10)}`);
    }
    console.log('  (aim: the 100k-rule check under 400 MB RSS)');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function measureSize(rules: number): SizeResult {
  const text = generatePolicy(rules);
  const host = createMemoryHost({ 'gen.seg': text });
  const diagnostics = createCollector();
  const heapBefore = process.memoryUsage().heapUsed;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const ast = parseSourceFile(createSourceFile('gen.seg', text), diagnostics);
  const t1 = performance.now();
  // resolve() parses through parseFile; handing it the AST just built keeps parse time apart.
  const resolved = resolve({ rootFiles: ['gen.seg'], host, parseFile: () => ast, diagnostics });
  const ir = lower(resolved, diagnostics);
  const t2 = performance.now();
  const cpu = process.cpuUsage(cpu0);
  const heapMB = (process.memoryUsage().heapUsed - heapBefore) / 2 ** 20;
  if (ir === undefined) throw new Error(`generated policy has errors: ${diagnostics.items.slice(0, 3).map((d) => d.message).join('; ')}`);
  return {
    rules,
    bytes: text.length,
    parseMs: t1 - t0,
    lowerMs: t2 - t1,
    cpuMs: (cpu.user + cpu.system) / 1000,
    heapMB,
    maxRssMB: process.resourceUsage().maxRSS / 1024,
    diagnostics: diagnostics.items.length,
  };
}

/**
 * A policy of `rules` rules split over ingress and egress (priorities are unique per direction
 * and at most 65535), with named sets and port sets, IPv4 and IPv6 prefixes, port ranges,
 * protocol lists, ICMP types, `except`, names and descriptions: every construct the parser and
 * lowering meet in real policies. Deterministic (a fixed linear congruential generator).
 */
function generatePolicy(rules: number): string {
  let seed = 12345;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  const lines: string[] = ['# generated by bench/check.ts'];
  const sets = Math.max(4, Math.floor(rules / 50));
  for (let i = 0; i < sets; i++) {
    const a = `10.${rand(256)}.${rand(256)}.0/24`;
    const b = `2001:db8:${rand(65536).toString(16)}::/48`;
    lines.push(i % 5 === 0 ? `set s${i} = { ${a}, ${b} } except { 10.0.0.0/30 }` : `set s${i} = { ${a}, ${b}, 172.16.${rand(256)}.0/24 }`);
  }
  for (let i = 0; i < 8; i++) lines.push(`ports p${i} = { ${rand(1024)}, ${1024 + rand(1000)}-${3000 + rand(1000)} }`);
  const perDirection = Math.ceil(rules / 2);
  for (const direction of ['ingress', 'egress']) {
    lines.push(`policy ${direction} default deny {`);
    const count = direction === 'ingress' ? perDirection : rules - perDirection;
    for (let i = 0; i < count; i++) {
      const name = i % 3 === 0 ? `r${direction[0]}${i}: ` : '';
      const action = ['allow', 'deny', 'log', 'allow log', 'deny log'][rand(5)];
      const src = rand(4) === 0 ? 'any' : rand(2) === 0 ? `s${rand(sets)}` : `10.${rand(256)}.${rand(256)}.${rand(64) * 4}/30`;
      const dst = rand(3) === 0 ? 'any4' : `s${rand(sets)}`;
      const kind = rand(10);
      let rule: string;
      if (kind < 6) rule = `${action} tcp from ${src} to ${dst} port ${rand(2) === 0 ? `p${rand(8)}` : `{ ${rand(65536)}, ${rand(30000)}-${30000 + rand(30000)} }`}`;
      else if (kind < 8) rule = `${action} { tcp, udp } from ${src} port 1024-65535 to ${dst} port ${rand(1024)}`;
      else if (kind < 9) rule = `${action} icmp from ${src} to ${dst === 'any4' ? 'any4' : 'any'} icmp echo-request`;
      else rule = `${action} ${[47, 50, 51, 132][rand(4)]} from ${src} to ${dst}`;
      lines.push(`  ${i} ${name}${rule}${i % 7 === 0 ? ` "generated rule ${i}"` : ''}`);
    }
    lines.push('}');
  }
  return lines.join('\n') + '\n';
}
