// A/B benchmark of the in-kernel canary's cost (prints, never asserts), BPF_PROG_TEST_RUN:
// A is a build of the classifier without the canary (make passes main's or BENCH_AB_BASE's),
// B this tree's. Per build, alternately so that the machine's load falls on both alike: a
// session hit (the reply of an open flow) and a new flow's classification (sessions off: parse
// + classify, no insert); for B also with a canary running at 50 %: a flow of the policy in
// force, a flow the hash gives the canary (the extra hash and the other slot's header), and a
// session hit of the canary's generation.
// Run as root: `node bench/canary.ts A.bpf.o B.bpf.o` (each built like `make bpf`).
import { readFileSync } from 'node:fs';
import { emit } from '../compiler/emit.ts';
import { SEG_CFG_STATELESS } from '../runtime/datapath/abi.ts';
import { readConfig, writeConfig } from '../runtime/datapath/config.ts';
import { type Datapath } from '../runtime/datapath/datapath.ts';
import { flowHash, isCanaryFlow, packetFlow } from '../runtime/datapath/flow-hash.ts';
import { flushSessions } from '../runtime/datapath/sessions.ts';
import { installPolicy } from '../runtime/datapath/slots.ts';
import { runFrame } from '../runtime/datapath/test-run.ts';
import { closeDatapath, loadDatapath } from '../runtime/loader.ts';
import { buildFrame } from '../runtime/packet-bytes.ts';
import { classBenchToIr, readClassBenchRules } from '../test/support/classbench.ts';
import { CORPUS } from '../test/support/corpus.ts';
import { benchArgs, exitIfDryRun } from './dry-run.ts';

const REPEAT = 5000;
const ROUNDS = 30;

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}

const objects = benchArgs();
if (objects.length !== 2) {
  process.stderr.write('usage: node bench/canary.ts A.bpf.o B.bpf.o   (A without the canary, e.g. make bpf-at-ref REF=main OUT=/tmp/a.bpf.o; B bpf/build/segc.bpf.o)\n');
  process.exit(2);
}
const RULES_FILE = `${CORPUS}/classbench-hs1/rules/acl1_100`;
exitIfDryRun([...objects, RULES_FILE]);
const rules = readClassBenchRules(readFileSync(RULES_FILE, 'utf8')).slice(0, 100);
const image = emit(classBenchToIr(rules, { defaultAction: 'allow' }).ir);

/** A TCP flow from 10.0.0.1:sport to 10.0.0.9:80 the hash gives the canary at 50 % (or not). */
function flowFor(canary: boolean): { out: Uint8Array; syn: Uint8Array; reply: Uint8Array } {
  for (let sport = 40000; ; sport++) {
    const p = { proto: 6, src: '10.0.0.1', dst: '10.0.0.9', srcPort: sport, dstPort: 80 };
    if (isCanaryFlow(flowHash(packetFlow(p)), 5000) !== canary) continue;
    return { out: buildFrame(p, { tcpFlags: 'ack' }), syn: buildFrame(p, { tcpFlags: 'syn' }), reply: buildFrame({ ...p, src: p.dst, dst: p.src, srcPort: 80, dstPort: sport }, { tcpFlags: 'ack' }) };
  }
}
const base = flowFor(false);
const other = flowFor(true);

const dps: Datapath[] = objects.map((objectPath) => {
  const dp = loadDatapath({ objectPath, sessions: 65536, rulesPerSlot: 1024, allowMissingMaps: true });
  installPolicy(dp, image, { slot: 0, generation: 1n });
  writeConfig(dp, { ...readConfig(dp), activeSlot: 0 });
  return dp;
});
const b = dps[1] as Datapath;
installPolicy(b, image, { slot: 1, generation: 2n });

type Case = { label: string; run: (dp: Datapath) => number; bOnly?: boolean };
const setCanary = (dp: Datapath, on: boolean) => writeConfig(dp, { ...readConfig(dp), canaryGeneration: on ? 2n : 0n, canaryShare: on ? 5000 : 0 });
const setStateless = (dp: Datapath, on: boolean) => writeConfig(dp, { ...readConfig(dp), flags: on ? SEG_CFG_STATELESS : 0 });
/** A session hit: the flow opened (its SYN) under the current config, then its reply repeated. */
const hit = (dp: Datapath, flow: typeof base) => {
  setStateless(dp, false);
  flushSessions(dp);
  runFrame(dp, 'egress', flow.syn);
  return runFrame(dp, 'ingress', flow.reply, REPEAT).duration;
};
const classify = (dp: Datapath, flow: typeof base) => {
  setStateless(dp, true);
  return runFrame(dp, 'egress', flow.out, REPEAT).duration;
};
const cases: Case[] = [
  { label: 'parse only (reference)', run: (dp) => runFrame(dp, 'parseOnly', base.out, REPEAT).duration },
  { label: 'session hit, no canary', run: (dp) => (setCanary(dp, false), hit(dp, base)) },
  { label: 'new flow classify, no canary', run: (dp) => (setCanary(dp, false), classify(dp, base)) },
  { label: 'canary 50%: hit, baseline flow', run: (dp) => (setCanary(dp, true), hit(dp, base)), bOnly: true },
  { label: 'canary 50%: hit, canary flow', run: (dp) => (setCanary(dp, true), hit(dp, other)), bOnly: true },
  { label: 'canary 50%: classify, baseline flow', run: (dp) => (setCanary(dp, true), classify(dp, base)), bOnly: true },
  { label: 'canary 50%: classify, canary flow', run: (dp) => (setCanary(dp, true), classify(dp, other)), bOnly: true },
];
try {
  const results = cases.map(() => [[], []] as number[][]);
  for (let r = 0; r < ROUNDS; r++) {
    cases.forEach((c, ci) =>
      dps.forEach((dp, i) => {
        if (c.bOnly === true && i === 0) return;
        results[ci]![i]!.push(c.run(dp));
      }),
    );
  }
  process.stdout.write(`ns/packet, median of ${ROUNDS} rounds of ${REPEAT} runs (100 ClassBench rules)\nA ${objects[0]}\nB ${objects[1]}\n`);
  process.stdout.write(`${'case'.padEnd(38)} ${'A'.padStart(8)} ${'B'.padStart(8)}  B-A\n`);
  cases.forEach((c, ci) => {
    const a = c.bOnly === true ? NaN : median(results[ci]![0]!);
    const bv = median(results[ci]![1]!);
    const diff = c.bOnly === true ? '' : `${(bv - a >= 0 ? '+' : '') + (bv - a).toFixed(1)}`;
    process.stdout.write(`${c.label.padEnd(38)} ${(Number.isNaN(a) ? '-' : a.toFixed(1)).padStart(8)} ${bv.toFixed(1).padStart(8)}  ${diff}\n`);
  });
} finally {
  dps.forEach(closeDatapath);
}
