// Experiment (not in `make bench`): two session tables in BPF_PROG_TEST_RUN, measured in turns,
// e.g. data-path version 4's LRU hash (`make bpf-at-ref REF=<a version-4 commit> OUT=A.bpf.o`)
// against version 5's set-associative table (bpf/build/segc.bpf.o); docs/performance.md "The
// set-associative session table". Prints, never asserts.
//
//   node bench/experiments/session-table.ts A.bpf.o B.bpf.o [--sessions N] [--policy 10|fw1]
//        [--rounds R] [--flows F]            in-program ns: session hit, new flow (table full)
//   node bench/experiments/session-table.ts A.bpf.o B.bpf.o --eviction [--sessions N]
//        [--loads 0.5,0.75,0.9,1]
//        hit ratio of long-lived flows beside a churn of one-packet flows, by load, and the
//        table's fill at the end (`segc status`'s utilization: what its warning reads)
//
// A new flow is one frame in one BPF_PROG_TEST_RUN (repeat 1): its figure carries the test
// run's own per-call cost, the same for both objects; `parse-only` is that cost plus parsing,
// measured on the same frames (new flow - parse-only = the session and policy work).
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { emit } from '../../compiler/emit.ts';
import { activateSlot } from '../../runtime/datapath/config.ts';
import { type Datapath } from '../../runtime/datapath/datapath.ts';
import { installPolicy } from '../../runtime/datapath/slots.ts';
import { runFrame } from '../../runtime/datapath/test-run.ts';
import { SegReason } from '../../runtime/datapath/abi.ts';
import { censusSessions } from '../../runtime/datapath/sessions.ts';
import { closeDatapath, loadDatapath } from '../../runtime/loader.ts';
import { buildFrame } from '../../runtime/packet-bytes.ts';
import { classBenchToIr, readClassBenchRules } from '../../test/support/classbench.ts';
import { CORPUS } from '../../test/support/corpus.ts';

const { values: args, positionals: objects } = parseArgs({
  allowPositionals: true,
  options: {
    sessions: { type: 'string', default: '262144' },
    policy: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '6' },
    flows: { type: 'string', default: '4000' },
    eviction: { type: 'boolean', default: false },
    loads: { type: 'string', default: '0.5,0.75,0.9,1' },
  },
});
if (objects.length !== 2) {
  process.stderr.write('usage: node bench/experiments/session-table.ts A.bpf.o B.bpf.o [--sessions N] [--policy 10|fw1] [--rounds R] [--flows F] [--eviction]\n');
  process.exit(2);
}
const sessions = Number(args.sessions);
const out = (line: string) => process.stdout.write(line + '\n');

function policyImage(which: string) {
  const file = which === 'fw1' ? 'fw1_10K' : 'acl1_100';
  const rules = readClassBenchRules(readFileSync(`${CORPUS}/classbench-hs1/rules/${file}`, 'utf8'));
  // Every rule allows (as bench/peers' ClassBench policies): each flow opens a session.
  return emit(classBenchToIr(which === 'fw1' ? rules : rules.slice(0, 10), { action: () => 'allow', defaultAction: 'allow' }).ir);
}

/** Flow n's first packet: a UDP datagram from a distinct (address, port) pair. */
function flowFrame(n: number, base: number): Uint8Array {
  const k = base + n;
  const src = `10.${(k >>> 16) & 255}.${(k >>> 8) & 255}.${k & 255}`;
  return buildFrame({ proto: 17, src, dst: '172.16.0.9', srcPort: 1024 + ((k >>> 24) & 1023), dstPort: 53 });
}

function load(objectPath: string, capacity: number, image: ReturnType<typeof policyImage>): Datapath {
  const dp = loadDatapath({ objectPath, sessions: capacity, rulesPerSlot: 16384 });
  installPolicy(dp, image, { slot: 0, generation: 1n });
  activateSlot(dp, 0);
  return dp;
}

const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
const range = (xs: readonly number[]) => `${Math.min(...xs).toFixed(0)}-${Math.max(...xs).toFixed(0)} (median ${median(xs).toFixed(0)})`;

function measure(): void {
  const image = policyImage(args.policy);
  const rounds = Number(args.rounds), flows = Number(args.flows);
  const dps = objects.map((o) => load(o, sessions, image));
  try {
    // Full tables: 1.25 x capacity flows first, so that every later new flow evicts.
    const fill = Math.ceil(sessions * 1.25);
    dps.forEach((dp) => {
      for (let n = 0; n < fill; n++) runFrame(dp, 'ingress', flowFrame(n, 0));
    });
    const hit: number[][] = [[], []], fresh: number[][] = [[], []], parse: number[][] = [[], []];
    let next = fill;
    for (let r = 0; r < rounds; r++) {
      const frames = Array.from({ length: flows }, (_, n) => flowFrame(n, next));
      next += flows;
      dps.forEach((dp, i) => {
        // The last flow of the fill, as its reply: a session hit in both tables.
        runFrame(dp, 'ingress', flowFrame(fill - 1, 0));
        const h = runFrame(dp, 'ingress', buildFrame({ proto: 17, src: '172.16.0.9', dst: flowAddress(fill - 1), srcPort: 53, dstPort: 1024 + (((fill - 1) >>> 24) & 1023) }), 5000);
        if (h.reason !== SegReason.SEG_REASON_SESSION) throw new Error(`${objects[i]}: the reply was no session hit (reason ${h.reason})`);
        hit[i]!.push(h.duration);
        let p = 0, f = 0;
        for (const frame of frames) p += runFrame(dp, 'parseOnly', frame).duration;
        for (const frame of frames) {
          const d = runFrame(dp, 'ingress', frame);
          if (d.reason === SegReason.SEG_REASON_SESSION) throw new Error(`${objects[i]}: a new flow hit a session`);
          f += d.duration;
        }
        parse[i]!.push(p / flows);
        fresh[i]!.push(f / flows);
      });
    }
    out(`policy ${args.policy === 'fw1' ? 'fw1 10k' : '10 rules'}, table ${sessions} sessions (full), ${rounds} rounds in turns, ${flows} new flows a round; ns per packet, min-max (median)`);
    objects.forEach((o, i) => {
      const net = fresh[i]!.map((f, k) => f - parse[i]![k]!);
      out(`  ${o}: session hit ${range(hit[i]!)}; new flow ${range(fresh[i]!)}, parse-only ${range(parse[i]!)}, new flow - parse-only ${range(net)}`);
    });
  } finally {
    dps.forEach(closeDatapath);
  }
}

function flowAddress(k: number): string {
  return `10.${(k >>> 16) & 255}.${(k >>> 8) & 255}.${k & 255}`;
}

/**
 * L long-lived flows (L = load x capacity), each sending one packet per epoch, in an order
 * shuffled each epoch, interleaved with C/4 one-packet flows per epoch (scans, DNS): after two
 * warm-up epochs, the share of the long-lived flows' packets that found their session.
 */
function eviction(): void {
  const image = policyImage('10');
  const churn = Math.floor(sessions / 4);
  out(`eviction: table ${sessions} sessions, ${churn} one-packet flows an epoch beside the long-lived ones; long-lived packets that hit their session (epochs 3-4)`);
  const loads = args.loads.split(',').map(Number);
  if (loads.some((l) => !(l > 0 && l <= 1))) {
    process.stderr.write('--loads: comma-separated loads in (0, 1], such as 0.5,0.75\n');
    process.exit(2);
  }
  for (const load_ of loads) {
    const live = Math.floor(sessions * load_);
    const line: string[] = [];
    for (const o of objects) {
      const dp = load(o, sessions, image);
      try {
        let hits = 0, asked = 0, next = live;
        for (let epoch = 0; epoch < 4; epoch++) {
          const order = shuffled(live, epoch + 1);
          const every = Math.max(1, Math.floor(live / churn));
          order.forEach((n, j) => {
            const d = runFrame(dp, 'ingress', flowFrame(n, 0));
            if (epoch >= 2) {
              asked++;
              if (d.reason === SegReason.SEG_REASON_SESSION) hits++;
            }
            if (j % every === 0) runFrame(dp, 'ingress', flowFrame(next++, 1 << 22));
          });
        }
        const fill = censusSessions(dp);
        line.push(`${o}: ${((100 * hits) / asked).toFixed(2)}% (fill ${((100 * fill.entries) / fill.capacity).toFixed(1)}%)`);
      } finally {
        closeDatapath(dp);
      }
    }
    out(`  load ${load_}: ${line.join(', ')}`);
  }
}

/** 0..n-1 in a deterministic shuffled order (xorshift). */
function shuffled(n: number, seed: number): number[] {
  const a = Array.from({ length: n }, (_, i) => i);
  let s = (seed * 2654435761) >>> 0 || 1;
  for (let i = n - 1; i > 0; i--) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    const j = s % (i + 1);
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

if (args.eviction) eviction();
else measure();
