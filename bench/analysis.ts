// Benchmark: rule analysis over the ClassBench rule sets of the shared corpus. Prints, per set,
// the rules, findings per category, the wall and CPU time of `analyze` (the machine is shared:
// CPU time is the steadier figure) and the peak heap it reached (sampled, so a lower bound).
// The budget is 60 s here, so a set that needs longer is marked INCOMPLETE.
// Run: node bench/analysis.ts [set ...]   (a set is a path under the corpus; default: the list below)
import { readFileSync } from 'node:fs';
import { analyze } from '../compiler/analysis/index.ts';
import { classBenchToIr, readClassBenchRules } from '../test/support/classbench.ts';
import { CORPUS } from '../test/support/corpus.ts';
import { benchArgs, exitIfDryRun } from './dry-run.ts';

const DEFAULT_SETS = [
  'classbench-hs1/rules/acl1_1K',
  'classbench-hs1/rules/fw1_1K',
  'classbench-hs1/rules/ipc1_1K',
  'classbench-neurocuts/acl1_1k',
  'classbench-neurocuts/fw1_1k',
  'classbench-neurocuts/ipc1_1k',
  'classbench-hs1/rules/acl1_10K',
  'classbench-hs1/rules/fw1_10K',
  'classbench-hs1/rules/ipc1_10K',
  'classbench-neurocuts/acl1_10k',
  'classbench-neurocuts/fw1_10k',
  'classbench-neurocuts/ipc1_10k',
];

function benchSet(path: string): void {
  const rules = readClassBenchRules(readFileSync(`${CORPUS}/${path}`, 'utf8'));
  const { ir } = classBenchToIr(rules);
  global.gc?.();
  const heapBefore = process.memoryUsage().heapUsed;
  let peak = heapBefore;
  // Sample the heap while analysing: a timer cannot fire during a synchronous run, so the
  // clock option (read by the budget every few hundred units of work) doubles as the sampler.
  let reads = 0;
  const now = () => {
    if (reads++ % 16 === 0) {
      const used = process.memoryUsage().heapUsed;
      if (used > peak) peak = used;
    }
    return performance.now();
  };
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const result = analyze(ir, { budgetMs: 60_000, now });
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const count = (c: string) => result.findings.filter((f) => f.category === c).length;
  console.log(
    [
      path.padEnd(34),
      `${String(ir.rules.length).padStart(5)} rules`,
      `${ms.toFixed(0).padStart(6)} ms`,
      `cpu ${((cpu.user + cpu.system) / 1000).toFixed(0).padStart(6)} ms`,
      `peak heap +${((peak - heapBefore) / 2 ** 20).toFixed(1).padStart(6)} MiB`,
      `shadowed ${count('shadowed')}`,
      `redundant ${count('redundant')}`,
      `conflict ${count('conflict')}`,
      `generalization ${count('generalization')}`,
      result.complete ? '' : 'INCOMPLETE',
    ].join('  '),
  );
}

const args = benchArgs();
const sets = args.length > 0 ? args : DEFAULT_SETS;
exitIfDryRun(sets.map((set) => `${CORPUS}/${set}`));
for (const set of sets) benchSet(set);
