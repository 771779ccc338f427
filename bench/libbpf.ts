// Benchmark of the runtime's libbpf bindings (prints, never asserts): what one call costs from
// JavaScript, next to what the kernel itself reports, so the data-path and deploy figures can
// be read net of binding overhead. Run as root: `node bench/libbpf.ts` (builds the test
// fixtures first with `make -s fixtures`).
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  BPF_MAP_TYPE,
  bpf_map__fd,
  bpf_map_create,
  bpf_map_delete_elem,
  bpf_map_lookup_elem,
  bpf_map_update_batch,
  bpf_map_update_elem,
  bpf_object__close,
  bpf_object__find_map_by_name,
  bpf_object__find_program_by_name,
  bpf_object__load,
  bpf_object__open_file,
  bpf_prog_test_run_opts,
  bpf_program__fd,
  close,
} from '../runtime/libbpf.ts';
import { buildFrame, parseFrame } from '../runtime/packet-bytes.ts';
import { exitIfDryRun } from './dry-run.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const ROUNDS = 7;

/** Median over ROUNDS of the mean time per call of `n` calls, in microseconds. */
function measure(n: number, body: (i: number) => void): number {
  const perCall: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < n; i++) body(i);
    perCall.push(Number(process.hrtime.bigint() - start) / n / 1000);
  }
  perCall.sort((a, b) => a - b);
  return perCall[Math.floor(ROUNDS / 2)] as number;
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
}

function main(): void {
  exitIfDryRun([join(ROOT, 'test/kernel/fixtures/libbpf_fixture.bpf.c')]);
  if (process.getuid?.() !== 0) {
    console.log('bench/libbpf.ts needs root (it loads a BPF program); skipped');
    return;
  }
  execFileSync('make', ['-s', 'fixtures'], { cwd: ROOT, stdio: 'inherit' });
  const obj = bpf_object__open_file(join(ROOT, 'test/kernel/fixtures/build/libbpf_fixture.bpf.o'));
  try {
    bpf_object__load(obj);
    const progFd = bpf_program__fd(bpf_object__find_program_by_name(obj, 'fx_classify'));
    const hashFd = bpf_map__fd(bpf_object__find_map_by_name(obj, 'fx_hash'));
    const packet = { proto: 6, src: '192.0.2.1', srcPort: 40000, dst: '198.51.100.7', dstPort: 443 };
    const frame = buildFrame(packet);
    const rows: [string, string][] = [];
    const us = (v: number) => `${v.toFixed(2)} us`;

    rows.push(['buildFrame (IPv4 TCP)', us(measure(20_000, () => buildFrame(packet)))]);
    rows.push(['parseFrame (IPv4 TCP)', us(measure(20_000, () => parseFrame(frame)))]);
    rows.push(['bpf_prog_test_run_opts, no ctx', us(measure(5_000, () => bpf_prog_test_run_opts(progFd, { data: frame, ctxOut: false })))]);
    rows.push(['bpf_prog_test_run_opts, ctx in and out', us(measure(5_000, () => bpf_prog_test_run_opts(progFd, { data: frame, ctx: { cb: [0, 0, 0, 0, 0] } })))]);
    const kernelNs = bpf_prog_test_run_opts(progFd, { data: frame, repeat: 100_000, ctxOut: false }).duration;
    rows.push(['  of which in the kernel (repeat 100k, per run)', `${kernelNs} ns`]);
    rows.push(['bpf_map_update_elem (hash)', us(measure(20_000, (i) => bpf_map_update_elem(hashFd, u32(i % 16), u32(i))))]);
    rows.push(['bpf_map_lookup_elem (hash)', us(measure(20_000, (i) => bpf_map_lookup_elem(hashFd, u32(i % 16), 4)))]);
    rows.push(['bpf_map_delete_elem (hash, absent)', us(measure(20_000, (i) => bpf_map_delete_elem(hashFd, u32(1000 + (i % 16)))))]);

    const entries = 10_000;
    const big = bpf_map_create(BPF_MAP_TYPE.HASH, 'bench_batch', 4, 4, entries);
    try {
      const keys = Buffer.concat(Array.from({ length: entries }, (_, i) => u32(i)));
      const values = Buffer.concat(Array.from({ length: entries }, (_, i) => u32(i * 7)));
      const batch = measure(1, () => bpf_map_update_batch(big, keys, values, entries));
      const single = measure(1, () => {
        for (let i = 0; i < entries; i++) bpf_map_update_elem(big, keys.subarray(i * 4, i * 4 + 4), values.subarray(i * 4, i * 4 + 4));
      });
      rows.push([`bpf_map_update_batch, ${entries} entries`, `${(batch / 1000).toFixed(2)} ms (${((batch / entries) * 1000).toFixed(0)} ns per entry)`]);
      rows.push([`bpf_map_update_elem x ${entries}`, `${(single / 1000).toFixed(2)} ms (${((single / entries) * 1000).toFixed(0)} ns per entry)`]);
    } finally {
      close(big);
    }

    const width = Math.max(...rows.map(([name]) => name.length));
    console.log(`libbpf bindings, median of ${ROUNDS} rounds (node ${process.version}, ${process.arch})`);
    for (const [name, value] of rows) console.log(`  ${name.padEnd(width)}  ${value}`);
  } finally {
    bpf_object__close(obj);
  }
}

main();
