// Benchmark of the data path (prints, never asserts): in-kernel ns/packet from
// BPF_PROG_TEST_RUN next to the parse-only reference program, for a session hit and for new
// flows classified under ClassBench acl/fw/ipc policies of 10, 1k and 10k rules; the kernel
// memory each policy's tables take; and the compile time of a 10k-rule policy into a bundle.
// Run as root: `node bench/datapath.ts` (make bpf first); `--session` runs only the reference,
// the session hit and the unfiltered-direction lines (a direction without a policy block).
import { readFileSync } from 'node:fs';
import { bundle } from '../compiler/bundle.ts';
import { emit } from '../compiler/emit.ts';
import { compile } from '../compiler/program.ts';
import { createMemoryHost } from '../compiler/source.ts';
import type { ProgramIr } from '../compiler/ir.ts';
import { SEG_CFG_STATELESS } from '../runtime/datapath/abi.ts';
import { activateSlot, readConfig, writeConfig } from '../runtime/datapath/config.ts';
import { closeDatapath, DEFAULT_OBJECT_PATH, loadDatapath } from '../runtime/loader.ts';
import { flushSessions } from '../runtime/datapath/sessions.ts';
import { installPolicy } from '../runtime/datapath/slots.ts';
import { runFrame } from '../runtime/datapath/test-run.ts';
import { type Datapath } from '../runtime/datapath/datapath.ts';
import { buildFrame } from '../runtime/packet-bytes.ts';
import { classBenchToIr, classBenchToSeg, readClassBenchRules, readHs1Trace, type ClassBenchRule } from '../test/support/classbench.ts';
import { CORPUS } from '../test/support/corpus.ts';
import { exitIfDryRun } from './dry-run.ts';

const HS1 = `${CORPUS}/classbench-hs1`;
const REPEAT = 2000;
const RUNS = 15;
const TRACE_PACKETS = 300;

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}

let generation = 0n;
function deploy(dp: Datapath, ir: ProgramIr): void {
  const image = emit(ir);
  const slot = generation === 0n ? 0 : 1 - readConfig(dp).activeSlot;
  generation += 1n;
  installPolicy(dp, image, { slot, generation });
  activateSlot(dp, slot);
}

function setFlags(dp: Datapath, flags: number): void {
  writeConfig(dp, { ...readConfig(dp), flags });
}

/** Median over RUNS of the kernel's average ns for REPEAT runs of one frame. */
function nsPerPacket(dp: Datapath, program: 'ingress' | 'egress' | 'parseOnly', frame: Uint8Array): number {
  return median(Array.from({ length: RUNS }, () => runFrame(dp, program, frame, REPEAT).duration));
}

function rulesOf(name: string): ClassBenchRule[] {
  return readClassBenchRules(readFileSync(`${HS1}/rules/${name}`, 'utf8'));
}

/** Median of single runs of `frame`, each on an empty session table: a new flow's cost. */
function newFlowNs(dp: Datapath, program: 'ingress' | 'egress', frame: Uint8Array, samples = 300): number {
  return median(
    Array.from({ length: samples }, () => {
      flushSessions(dp);
      return runFrame(dp, program, frame, 1).duration;
    }),
  );
}

/**
 * A direction without a policy block (egress here, under an ingress-only default-deny policy):
 * it classifies nothing, but every packet it passes opens or hits a session.
 */
function unfiltered(out: (line: string) => void, parseOnly: number): void {
  const c = compile(['in.seg'], createMemoryHost({ 'in.seg': 'policy ingress default deny {\n  100 allow tcp from any to any port 22\n}\n' }));
  if (!c.ir) throw new Error('the ingress-only policy did not compile');
  deploy(dp, c.ir);
  const outbound = buildFrame({ proto: 17, src: '10.0.0.1', dst: '10.0.0.53', srcPort: 40001, dstPort: 53 });
  const answer = buildFrame({ proto: 17, src: '10.0.0.53', dst: '10.0.0.1', srcPort: 53, dstPort: 40001 });
  setFlags(dp, SEG_CFG_STATELESS);
  const passOnly = nsPerPacket(dp, 'egress', outbound);
  setFlags(dp, 0);
  const opened = newFlowNs(dp, 'egress', outbound);
  flushSessions(dp);
  runFrame(dp, 'egress', outbound);
  const hitOut = nsPerPacket(dp, 'egress', outbound);
  const hitBack = nsPerPacket(dp, 'ingress', answer);
  flushSessions(dp);
  const ratio = (ns: number) => `(${(ns / parseOnly).toFixed(2)}x parse-only)`;
  out(`unfiltered egress, sessions off    ${passOnly.toFixed(1)} ns/packet  ${ratio(passOnly)}  (default without classification)`);
  out(`unfiltered egress, new flow        ${opened.toFixed(0)} ns/packet  (single runs, table flushed: miss + session insert)`);
  out(`unfiltered egress, session hit     ${hitOut.toFixed(1)} ns/packet  ${ratio(hitOut)}`);
  out(`its reply on default-deny ingress  ${hitBack.toFixed(1)} ns/packet  ${ratio(hitBack)}  (session hit)`);
}

exitIfDryRun([
  DEFAULT_OBJECT_PATH,
  ...['acl1', 'fw1', 'ipc1'].flatMap((f) => [`${f}_100`, `${f}_1K`, `${f}_10K`].flatMap((file) => [`${HS1}/rules/${file}`, `${HS1}/traces/${file}_trace`])),
]);
const dp = loadDatapath({ sessions: 65536, rulesPerSlot: 16384 });
try {
  const out = (line: string) => process.stdout.write(line + '\n');
  out(`segc data path benchmark: BPF_PROG_TEST_RUN, median of ${RUNS} x ${REPEAT} runs per frame`);

  // Reference and session hit, with a one-rule policy.
  const sample = { proto: 6, src: '10.0.0.1', dst: '10.0.0.9', srcPort: 40000, dstPort: 80 };
  const reply = { proto: 6, src: '10.0.0.9', dst: '10.0.0.1', srcPort: 80, dstPort: 40000 };
  deploy(dp, classBenchToIr(rulesOf('acl1_100').slice(0, 10), { defaultAction: 'allow' }).ir);
  setFlags(dp, 0);
  const parseOnly = nsPerPacket(dp, 'parseOnly', buildFrame(reply, { tcpFlags: 'ack' }));
  runFrame(dp, 'egress', buildFrame(sample, { tcpFlags: 'syn' }));
  const hit = nsPerPacket(dp, 'ingress', buildFrame(reply, { tcpFlags: 'ack' }));
  out(`parse-only reference program        ${parseOnly.toFixed(1)} ns/packet`);
  out(`session hit                         ${hit.toFixed(1)} ns/packet  (${(hit / parseOnly).toFixed(2)}x parse-only)`);
  unfiltered(out, parseOnly);
  if (!process.argv.includes('--session')) {
    out('');
    out('new flows: trace packets of each policy; "classify" = sessions off (parse + classification),');
    out('"new session" = sessions on, table flushed before each packet (lookup miss + classification + insert when allowed), single runs');
    out('policy        rules  classify ns  vs parse  new session ns  max lookups  rows   memory/slot');
    const baseline = new Map<string, number>();
    for (const family of ['acl1', 'fw1', 'ipc1']) {
      for (const [label, file, take] of [['10', `${family}_100`, 10], ['1k', `${family}_1K`, Infinity], ['10k', `${family}_10K`, Infinity]] as const) {
        const rules = rulesOf(file).slice(0, take);
        const { ir } = classBenchToIr(rules);
        const image = emit(ir);
        deploy(dp, ir);
        const trace = readHs1Trace(readFileSync(`${HS1}/traces/${file}_trace`, 'utf8')).slice(0, TRACE_PACKETS);
        const frames = trace.map((t) => buildFrame(t.packet, { tcpFlags: 'syn' }));
        setFlags(dp, SEG_CFG_STATELESS);
        const classify = median(frames.map((f) => runFrame(dp, 'ingress', f, REPEAT / 10).duration));
        setFlags(dp, 0);
        const fresh = median(
          frames.map((f) => {
            flushSessions(dp);
            return runFrame(dp, 'ingress', f, 1).duration;
          }),
        );
        if (label === '10') baseline.set(family, classify);
        const ratio = classify / (baseline.get(family) ?? classify);
        out(
          `${`${family} ${label}`.padEnd(13)} ${String(ir.rules.length).padStart(5)}  ${classify.toFixed(1).padStart(11)}  ${(classify / parseOnly).toFixed(2).padStart(8)}` +
            `  ${fresh.toFixed(0).padStart(14)}  ${String(image.stats.maxLookups).padStart(11)}  ${String(image.stats.rows).padStart(5)}  ${(image.stats.memoryBytes / (1 << 20)).toFixed(1).padStart(7)} MiB` +
            (label === '10' ? '' : `  (${ratio.toFixed(2)}x the 10-rule policy)`),
        );
      }
    }
    flushSessions(dp);

    out('');
    const text = classBenchToSeg(rulesOf('acl1_10K'));
    const times: number[] = [];
    let ruleCount = 0;
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      const c = compile(['acl1_10K.seg'], createMemoryHost({ 'acl1_10K.seg': text }));
      if (!c.ir) throw new Error('the ClassBench policy did not compile');
      const image = emit(c.ir, { origins: true });
      bundle(c.ir, image, c.sources, { bundleFile: 'b.json', sourceMapFile: 'b.json.map' });
      times.push(performance.now() - t0);
      ruleCount = c.ir.rules.length;
    }
    out(`compile acl1_10K (${ruleCount} rules) .seg -> IR -> tables -> bundle + source map: ${median(times).toFixed(0)} ms (median of 3)`);
  }
} finally {
  closeDatapath(dp);
}
