// Package benchmark: the size of the tarball `npm pack` makes (packed, unpacked, files, and
// what the bundled dependencies weigh), the time of `npm install -g` of it into a fresh
// prefix with an empty cache and `--offline` (nothing may come from a registry), and the
// installed `segc --version` start. Packs what is built (`--ignore-scripts`: run `npm run build`
// and `make bpf` first, as `make bench` does). Prints figures; asserts nothing.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { exitIfDryRun } from './dry-run.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const INSTALLS = 3;
const VERSION_RUNS = 10;
// What it packs: the built CLI and the BPF object (make bench builds both first).
exitIfDryRun([join(ROOT, 'dist'), join(ROOT, 'bpf/build/segc.bpf.o')]);

const work = mkdtempSync(join(tmpdir(), 'segc-bench-package-'));
try {
  const packed = JSON.parse(execFileSync('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', work], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })) as {
    filename: string;
    size: number;
    unpackedSize: number;
    entryCount: number;
    bundled: string[];
  }[];
  const info = packed[0];
  if (!info) throw new Error('npm pack printed nothing');
  const tarball = join(work, info.filename);
  const own = spawnSync('tar', ['tzvf', tarball], { encoding: 'utf8', maxBuffer: 64 << 20 }).stdout.split('\n');
  const bytesOf = (test: (path: string) => boolean) => own.reduce((sum, line) => {
    const fields = line.trim().split(/\s+/);
    return fields.length >= 6 && test(fields[fields.length - 1] ?? '') ? sum + Number(fields[2]) : sum;
  }, 0);
  const mb = (n: number) => `${(n / 1e6).toFixed(2)} MB`;
  console.log(`tarball ${info.filename}: ${mb(statSync(tarball).size)} packed, ${mb(info.unpackedSize)} unpacked, ${info.entryCount} files, ${info.bundled.length} bundled dependencies`);
  console.log(`  unpacked: dependencies ${mb(bytesOf((p) => p.startsWith('package/node_modules/')))}, dist ${mb(bytesOf((p) => p.startsWith('package/dist/')))}, BPF object ${mb(bytesOf((p) => p === 'package/bpf/build/segc.bpf.o'))}, docs ${mb(bytesOf((p) => p.startsWith('package/docs/')))}`);

  const times: number[] = [];
  let prefix = '';
  for (let i = 0; i < INSTALLS; i++) {
    prefix = join(work, `prefix-${i}`);
    const cache = join(work, `cache-${i}`);
    const started = process.hrtime.bigint();
    const r = spawnSync('npm', ['install', '-g', '--offline', '--prefix', prefix, '--cache', cache, '--no-audit', '--no-fund', tarball], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`npm install failed:\n${r.stderr}`);
    times.push(Number(process.hrtime.bigint() - started) / 1e6);
  }
  times.sort((a, b) => a - b);
  console.log(`offline install (npm install -g, empty cache), ${INSTALLS} runs: median ${(times[Math.floor(INSTALLS / 2)]! / 1000).toFixed(2)} s, min ${(times[0]! / 1000).toFixed(2)} s, max ${(times[INSTALLS - 1]! / 1000).toFixed(2)} s`);
  const installed = readdirSync(join(prefix, 'lib/node_modules/segc/node_modules')).length;
  console.log(`  installed: ${installed} top-level dependency folders`);

  const starts: number[] = [];
  for (let i = 0; i < VERSION_RUNS; i++) {
    const started = process.hrtime.bigint();
    spawnSync(join(prefix, 'bin/segc'), ['--version'], { encoding: 'utf8' });
    starts.push(Number(process.hrtime.bigint() - started) / 1e6);
  }
  starts.sort((a, b) => a - b);
  console.log(`installed segc --version: median ${starts[Math.floor(VERSION_RUNS / 2)]!.toFixed(0)} ms over ${VERSION_RUNS} runs`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
