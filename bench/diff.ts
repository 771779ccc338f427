// Benchmark: `segc diff` of two 10k-rule ClassBench-derived policies that differ in ten rules
// (four actions flipped, three rules removed, three moved), and of a policy against itself
// reordered where that changes nothing. Prints the wall and CPU time of `diffPolicies`, the
// regions found and the rules the walk had to consider.
// Run: node bench/diff.ts [set ...]   (a set is a path under the corpus; default: the list below)
import { readFileSync } from 'node:fs';
import { diffPolicies } from '../compiler/diff.ts';
import type { ProgramIr, RuleIr } from '../compiler/ir.ts';
import { classBenchToIr, readClassBenchRules } from '../test/support/classbench.ts';
import { CORPUS } from '../test/support/corpus.ts';
import { benchArgs, exitIfDryRun } from './dry-run.ts';

const DEFAULT_SETS = ['classbench-hs1/rules/acl1_10K', 'classbench-hs1/rules/fw1_10K', 'classbench-hs1/rules/ipc1_10K'];

/** Ten edits spread over the list: flips at 10%..40%, removals at 50%..70%, moves from 75%..95%. */
function tenChanges(rules: readonly RuleIr[]): RuleIr[] {
  const n = rules.length;
  const out = [...rules];
  for (const f of [0.1, 0.2, 0.3, 0.4]) {
    const i = Math.floor(n * f);
    const r = out[i]!;
    out[i] = { ...r, action: r.action === 'allow' ? 'deny' : 'allow' };
  }
  for (const f of [0.7, 0.6, 0.5]) out.splice(Math.floor(n * f), 1);
  for (const f of [0.95, 0.85, 0.75]) {
    const [moved] = out.splice(Math.floor(out.length * f), 1);
    out.splice(Math.floor(out.length * (f - 0.5)), 0, moved!);
  }
  return out.map((r, i) => ({ ...r, priority: i + 1 }));
}

function withIngress(ir: ProgramIr, rules: RuleIr[]): ProgramIr {
  return { ...ir, ingress: { ...ir.ingress, rules }, rules: [...rules, ...ir.egress.rules] };
}

function time<T>(f: () => T): { value: T; ms: number; cpuMs: number } {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const value = f();
  const cpu = process.cpuUsage(cpu0);
  return { value, ms: performance.now() - t0, cpuMs: (cpu.user + cpu.system) / 1000 };
}

const args = benchArgs();
const sets = args.length > 0 ? args : DEFAULT_SETS;
exitIfDryRun(sets.map((set) => `${CORPUS}/${set}`));
for (const path of sets) {
  const { ir } = classBenchToIr(readClassBenchRules(readFileSync(`${CORPUS}/${path}`, 'utf8')));
  const changed = withIngress(ir, tenChanges(ir.ingress.rules));
  const r = time(() => diffPolicies(ir, changed));
  console.log(
    `${path.padEnd(32)} ${String(ir.rules.length).padStart(5)} rules, 10 changed: ${r.ms.toFixed(0).padStart(6)} ms (cpu ${r.cpuMs.toFixed(0)} ms), ` +
      `${r.value.regions.length} regions, ${r.value.regions.reduce((n, x) => n + x.boxes.length, 0)} boxes, ${r.value.unpaired.ingress} rules walked`,
  );
  const same = time(() => diffPolicies(ir, ir));
  console.log(`${path.padEnd(32)} ${String(ir.rules.length).padStart(5)} rules, itself:     ${same.ms.toFixed(0).padStart(6)} ms, ${same.value.regions.length} regions`);
}
