// A/B benchmark of the session hit (prints, never asserts): loads two builds of the data path
// object and measures them alternately, so that load on the machine falls on both alike.
// Run as root: `node bench/session-ab.ts A.bpf.o B.bpf.o` (each built like `make bpf`); `make bench`
// passes HEAD's build (or BENCH_AB_BASE's, see scripts/bench.sh) as A and the working tree's as B.
import { emit } from '../compiler/emit.ts';
import { activateSlot } from '../runtime/datapath/config.ts';
import { closeDatapath, loadDatapath } from '../runtime/loader.ts';
import { installPolicy } from '../runtime/datapath/slots.ts';
import { runFrame } from '../runtime/datapath/test-run.ts';
import { type Datapath } from '../runtime/datapath/datapath.ts';
import { buildFrame } from '../runtime/packet-bytes.ts';
import { classBenchToIr, readClassBenchRules } from '../test/support/classbench.ts';
import { CORPUS } from '../test/support/corpus.ts';
import { readFileSync } from 'node:fs';
import { benchArgs, exitIfDryRun } from './dry-run.ts';

const REPEAT = 5000;
const ROUNDS = 40;

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}

const objects = benchArgs();
if (objects.length !== 2) {
  process.stderr.write('usage: node bench/session-ab.ts A.bpf.o B.bpf.o   (or run `make bench`, which builds both)\n');
  process.exit(2);
}
const RULES_FILE = `${CORPUS}/classbench-hs1/rules/acl1_100`;
exitIfDryRun([...objects, RULES_FILE]);
const rules = readClassBenchRules(readFileSync(RULES_FILE, 'utf8')).slice(0, 10);
const image = emit(classBenchToIr(rules, { defaultAction: 'allow' }).ir);
const sample = { proto: 6, src: '10.0.0.1', dst: '10.0.0.9', srcPort: 40000, dstPort: 80 };
const reply = { proto: 6, src: '10.0.0.9', dst: '10.0.0.1', srcPort: 80, dstPort: 40000 };
const ack = buildFrame(reply, { tcpFlags: 'ack' });
const dps: Datapath[] = objects.map((objectPath) => {
  const dp = loadDatapath({ objectPath, sessions: 65536, rulesPerSlot: 1024 });
  installPolicy(dp, image, { slot: 0, generation: 1n });
  activateSlot(dp, 0);
  runFrame(dp, 'egress', buildFrame(sample, { tcpFlags: 'syn' }));
  return dp;
});
try {
  const parse: number[][] = [[], []];
  const hit: number[][] = [[], []];
  for (let r = 0; r < ROUNDS; r++) {
    dps.forEach((dp, i) => {
      parse[i]!.push(runFrame(dp, 'parseOnly', ack, REPEAT).duration);
      hit[i]!.push(runFrame(dp, 'ingress', ack, REPEAT).duration);
    });
  }
  objects.forEach((o, i) => {
    const p = median(parse[i]!), h = median(hit[i]!);
    process.stdout.write(
      `${o}: parse-only ${p.toFixed(1)} (min ${Math.min(...parse[i]!)}), session hit ${h.toFixed(1)} (min ${Math.min(...hit[i]!)}) ns/packet, ${(h / p).toFixed(2)}x\n`,
    );
  });
} finally {
  dps.forEach(closeDatapath);
}
