// Peer benchmark: the figures. Turns each cell's paired windows (no-filter baseline, then the
// filter) into ratios and added ns/packet with their min-max over the windows, prints the
// table and writes every window as a TSV row.
import { writeFileSync } from 'node:fs';
import type { Window } from './topology.ts';
import type { Cell } from './families.ts';

/** One pair: the baseline window taken just before the cell's window, and the kernel's accounting. */
export interface Pair {
  readonly baseline: Window;
  readonly cell: Window;
  /** bpf_stats over the cell's window (TC families): run_time_ns and run_cnt deltas. */
  readonly program?: { readonly runNs: number; readonly runs: number };
}

export interface CellResult {
  readonly cell: Pick<Cell, 'family' | 'size' | 'path' | 'traffic'>;
  readonly pairs: readonly Pair[];
}

/** CPU time per frame: time other processes took from the sender's CPU does not count. */
const nsPerPacket = (w: Window) => (w.sent === 0 ? NaN : w.cpuNs / w.sent);

function median(xs: readonly number[]): number {
  const s = [...xs].filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

function range(xs: readonly number[], digits: number): string {
  const s = xs.filter((x) => !Number.isNaN(x));
  if (s.length === 0) return '-';
  const f = (x: number) => x.toFixed(digits);
  const lo = Math.min(...s);
  const hi = Math.max(...s);
  return s.length === 1 || f(lo) === f(hi) ? f(median(s)) : `${f(median(s))} (${f(lo)}..${f(hi)})`;
}

export interface Summary {
  readonly inProgram: readonly number[];
  readonly added: readonly number[];
  readonly ratio: readonly number[];
  readonly baselineNs: readonly number[];
  /** Fraction of the cell's frames that did not reach the UDP layer (a filter dropped them, or the backlog). */
  readonly lost: number;
}

export function summarize(result: CellResult): Summary {
  const inProgram = result.pairs.map((p) => (p.program && p.program.runs > 0 ? p.program.runNs / p.program.runs : NaN));
  const added = result.pairs.map((p) => nsPerPacket(p.cell) - nsPerPacket(p.baseline));
  const ratio = result.pairs.map((p) => nsPerPacket(p.cell) / nsPerPacket(p.baseline));
  const sent = result.pairs.reduce((n, p) => n + p.cell.sent, 0);
  const delivered = result.pairs.reduce((n, p) => n + p.cell.delivered, 0);
  return { inProgram, added, ratio, baselineNs: result.pairs.map((p) => nsPerPacket(p.baseline)), lost: sent === 0 ? 0 : Math.max(0, sent - delivered) / sent };
}

const HEADER = ['family', 'holds', 'path', 'in-program ns/pkt', 'added ns/pkt', 'ratio to no filter', 'baseline ns/pkt'];

/** The results table: medians with the min..max over the windows. */
export function formatTable(results: readonly CellResult[]): string {
  const rows = results.map((r) => {
    const s = summarize(r);
    const lost = s.lost > 0.01 ? `  (${(100 * s.lost).toFixed(1)} % not delivered)` : '';
    return [r.cell.family, r.cell.size, r.cell.path, range(s.inProgram, 0), range(s.added, 0), range(s.ratio, 2), range(s.baselineNs, 0) + lost];
  });
  // Minimum widths fit every family, so that rows printed one at a time line up.
  const minimum = [23, 12, 19, 17, 12, 18, 15];
  const widths = HEADER.map((h, i) => Math.max(h.length, minimum[i] ?? 0, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => (i < 3 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ').trimEnd();
  return [line(HEADER), ...rows.map(line)].join('\n');
}

/** The same table as Markdown (docs/performance.md quotes it). */
export function formatMarkdown(results: readonly CellResult[]): string {
  const rows = results.map((r) => {
    const s = summarize(r);
    return `| ${r.cell.family} | ${r.cell.size} | ${r.cell.path} | ${range(s.inProgram, 0)} | ${range(s.added, 0)} | ${range(s.ratio, 2)} | ${range(s.baselineNs, 0)} |`;
  });
  return [`| ${HEADER.join(' | ')} |`, `|${HEADER.map((_, i) => (i < 3 ? '---' : '---:')).join('|')}|`, ...rows].join('\n');
}

/** Every window, one row each: the raw data behind the table. */
export function writeTsv(path: string, results: readonly CellResult[]): void {
  const head = ['family', 'holds', 'path', 'traffic', 'window', 'baseline_sent', 'baseline_ns', 'baseline_cpu_ns', 'baseline_delivered', 'cell_sent', 'cell_ns', 'cell_cpu_ns', 'cell_delivered', 'prog_run_ns', 'prog_runs'];
  const lines = [head.join('\t')];
  for (const r of results) {
    r.pairs.forEach((p, i) => {
      lines.push([r.cell.family, r.cell.size, r.cell.path, r.cell.traffic, i + 1, p.baseline.sent, p.baseline.ns, p.baseline.cpuNs, p.baseline.delivered, p.cell.sent, p.cell.ns, p.cell.cpuNs, p.cell.delivered, p.program?.runNs ?? '', p.program?.runs ?? ''].join('\t'));
    });
  }
  writeFileSync(path, lines.join('\n') + '\n');
}
