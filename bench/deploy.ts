// Deploy benchmark (root): end-to-end time of `segc deploy` for ClassBench policies of 10, 1k
// and 10k rules on a veth in a throwaway namespace: check (parse, resolve, lower, rule
// analysis), compile (tables + bundle), then the runtime deploy: a first deploy (load the
// classifier, pin, fill, switch, attach) and redeploys (adopt the pins, fill the other slot,
// switch). The switch itself is the one config write. Prints figures; asserts nothing.
import { readFileSync, rmSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { analyze } from '../compiler/analysis/index.ts';
import { bundle } from '../compiler/bundle.ts';
import { emit } from '../compiler/emit.ts';
import { compile } from '../compiler/program.ts';
import { createMemoryHost } from '../compiler/source.ts';
import { deploy, undeploy, type DeployResult } from '../runtime/deploy.ts';
import { classBenchToSeg, readClassBenchRules } from '../test/support/classbench.ts';
import { CORPUS } from '../test/support/corpus.ts';
import { NetnsSandbox } from '../test/support/netns.ts';
import { DEFAULT_OBJECT_PATH } from '../runtime/loader.ts';
import { exitIfDryRun } from './dry-run.ts';

const HS1 = `${CORPUS}/classbench-hs1`;
const REDEPLOYS = 5;
const POLICIES = [
  { label: '10', file: 'acl1_100', take: 10 },
  { label: '1k', file: 'acl1_1K', take: Infinity },
  { label: '10k', file: 'acl1_10K', take: Infinity },
];

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}

exitIfDryRun([DEFAULT_OBJECT_PATH, ...POLICIES.map((p) => `${HS1}/rules/${p.file}`)]);
const out = (line: string) => process.stdout.write(line + '\n');
if (process.getuid?.() !== 0) {
  out('bench/deploy.ts needs root (namespaces, BPF)');
  process.exit(2);
}

const sandbox = new NetnsSandbox('bench');
const stateDir = mkdtempSync(join(tmpdir(), 'segct-bench-state-'));
const name = `segct-${process.pid}-bench`;
try {
  const host = sandbox.createNetns('host');
  const peer = sandbox.createNetns('peer');
  const link = sandbox.createVethPair(host, peer, { a: { ipv4: '10.202.0.1/24' }, b: { ipv4: '10.202.0.2/24' } });
  out('segc deploy benchmark (ClassBench acl1; ms; redeploy = median of ' + REDEPLOYS + ')');
  out('policy  rules   check  analysis  compile  first deploy  redeploy  of which fill  switch     check+compile+redeploy');
  for (const p of POLICIES) {
    const rules = readClassBenchRules(readFileSync(`${HS1}/rules/${p.file}`, 'utf8')).slice(0, p.take);
    const text = classBenchToSeg(rules, { defaultAction: 'deny' });
    const host_ = createMemoryHost({ 'policy.seg': text });

    let t = performance.now();
    const compilation = compile(['policy.seg'], host_);
    const checkMs = performance.now() - t;
    const ir = compilation.ir;
    if (!ir) throw new Error(`${p.file} does not compile`);
    t = performance.now();
    analyze(ir, { budgetMs: 10_000 });
    const analysisMs = performance.now() - t;
    t = performance.now();
    const image = emit(ir, { origins: true });
    const bundleText = bundle(ir, image, compilation.sources, { bundleFile: 'b.json', sourceMapFile: 'b.json.map', includeSources: false }).text;
    const compileMs = performance.now() - t;

    const options = { name, stateDir, rulesPerSlot: 16384, sessions: 65536 };
    const timed = (): { ms: number; result: DeployResult } => {
      const started = performance.now();
      const result = deploy({ bundleText, interfaces: [link.a.name], options });
      return { ms: performance.now() - started, result };
    };
    const first = await sandbox.within(host, timed);
    const again: { ms: number; result: DeployResult }[] = [];
    for (let i = 0; i < REDEPLOYS; i++) again.push(await sandbox.within(host, timed));
    await sandbox.within(host, () => undeploy({ name, stateDir }));

    const redeployMs = median(again.map((r) => r.ms));
    const fillMs = median(again.map((r) => r.result.timings.installMs));
    const switchMs = median(again.map((r) => r.result.timings.switchMs));
    out(
      `${p.label.padEnd(6)} ${String(ir.rules.length).padStart(6)} ${checkMs.toFixed(0).padStart(7)} ${analysisMs.toFixed(0).padStart(9)} ${compileMs.toFixed(0).padStart(8)} ` +
        `${first.ms.toFixed(0).padStart(13)} ${redeployMs.toFixed(0).padStart(9)} ${fillMs.toFixed(0).padStart(14)} ${switchMs.toFixed(3).padStart(7)} ${(checkMs + compileMs + redeployMs).toFixed(0).padStart(14)}`,
    );
  }
  out('');
  out('check = parse + resolve + lower; analysis = rule analysis (printed by deploy; blocking only with --strict);');
  out('first deploy loads and verifies the classifier; redeploy adopts the pinned maps; switch = one seg_config write.');
} finally {
  rmSync(join('/sys/fs/bpf/segc', name), { recursive: true, force: true });
  rmSync(stateDir, { recursive: true, force: true });
  sandbox.cleanup();
}
