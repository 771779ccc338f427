// Benchmark of log events (prints, never asserts): in-kernel ns/packet from BPF_PROG_TEST_RUN
// for a packet decided by a rule without log, by a log rule whose event is sent (the ring is
// drained between runs), by a log rule whose events the rule's token bucket drops, and by a
// log rule whose events find the ring full; and a session hit with and without log.
// Run as root: `node bench/events.ts` (make bpf first).
import { SEG_CFG_STATELESS, SegStat } from '../runtime/datapath/abi.ts';
import { EventReader } from '../runtime/datapath/events.ts';
import { closeDatapath, DEFAULT_OBJECT_PATH, loadDatapath } from '../runtime/loader.ts';
import { flushSessions } from '../runtime/datapath/sessions.ts';
import { readConfig, writeConfig, type EventLimits } from '../runtime/datapath/config.ts';
import { readStats } from '../runtime/datapath/counters.ts';
import { runFrame } from '../runtime/datapath/test-run.ts';
import { type Datapath } from '../runtime/datapath/datapath.ts';
import { buildFrame } from '../runtime/packet-bytes.ts';
import { deployIr } from '../test/support/datapath-harness.ts';
import { programIr } from '../test/support/ir-builder.ts';
import { exitIfDryRun } from './dry-run.ts';

// 500 runs leave room in the 256 KiB ring (2,978 records) between drains.
const REPEAT = 500;
const RUNS = 41;

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}

const BIG: EventLimits = { rate: 1_000_000, burst: 1_000_000, globalRate: 1_000_000, globalBurst: 1_000_000 };
const DROPPING: EventLimits = { rate: 1, burst: 1, globalRate: 1_000_000, globalBurst: 1_000_000 };

function configure(dp: Datapath, flags: number, events: EventLimits): void {
  writeConfig(dp, { ...readConfig(dp), flags, events });
}

exitIfDryRun([DEFAULT_OBJECT_PATH]);
const dp = loadDatapath({ sessions: 4096, rulesPerSlot: 64 });
let events = 0;
const reader = new EventReader(dp, () => events++);
try {
  const out = (line: string) => process.stdout.write(line + '\n');
  deployIr(
    dp,
    programIr({
      ingress: { default: 'deny', rules: [{ name: 'plain', action: 'allow', proto: 'tcp', dport: 80 }, { name: 'logged', action: 'allow log', proto: 'tcp', dport: 22 }] },
      egress: { default: 'allow', rules: [] },
    }),
  );
  const plain = buildFrame({ proto: 6, src: '10.0.0.9', dst: '10.0.0.1', srcPort: 40000, dstPort: 80 }, { tcpFlags: 'ack' });
  const logged = buildFrame({ proto: 6, src: '10.0.0.9', dst: '10.0.0.1', srcPort: 40000, dstPort: 22 }, { tcpFlags: 'ack' });
  const stat = (i: number) => readStats(dp)[i]?.packets ?? 0n;

  /** Median over RUNS of the kernel's average; `between` runs after each (draining, say). */
  const measure = (program: 'ingress' | 'parseOnly', frame: Uint8Array, between: () => void = () => undefined) =>
    median(
      Array.from({ length: RUNS }, () => {
        const d = runFrame(dp, program, frame, REPEAT).duration;
        between();
        return d;
      }),
    );
  const drain = () => void reader.drain();
  const fill = () => {
    // A full ring: events pile up with nobody reading.
    for (let i = 0; i < 8; i++) runFrame(dp, 'ingress', logged, REPEAT);
  };

  out(`segc event benchmark: BPF_PROG_TEST_RUN, median of ${RUNS} x ${REPEAT} runs per frame, sessions off unless said`);
  configure(dp, SEG_CFG_STATELESS, BIG);
  const parseOnly = measure('parseOnly', plain);
  const noLog = measure('ingress', plain, drain);
  const before = stat(SegStat.SEG_STAT_EVENT_SENT);
  const sent = measure('ingress', logged, drain);
  const sentCount = stat(SegStat.SEG_STAT_EVENT_SENT) - before;
  configure(dp, SEG_CFG_STATELESS, DROPPING);
  const limitedBefore = stat(SegStat.SEG_STAT_EVENT_RULE_LIMITED);
  const limited = measure('ingress', logged, drain);
  const limitedCount = stat(SegStat.SEG_STAT_EVENT_RULE_LIMITED) - limitedBefore;
  configure(dp, SEG_CFG_STATELESS, BIG);
  // The rule's bucket refills at 10^6 a second from empty: wait until it holds all the runs.
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
  drain();
  fill();
  const fullBefore = stat(SegStat.SEG_STAT_EVENT_RING_FULL);
  const full = measure('ingress', logged);
  const fullCount = stat(SegStat.SEG_STAT_EVENT_RING_FULL) - fullBefore;
  drain();

  // Session hits: the flows' first packets open sessions, then their replies hit.
  configure(dp, 0, BIG);
  flushSessions(dp);
  runFrame(dp, 'ingress', buildFrame({ proto: 6, src: '10.0.0.9', dst: '10.0.0.1', srcPort: 40000, dstPort: 80 }, { tcpFlags: 'syn' }));
  runFrame(dp, 'ingress', buildFrame({ proto: 6, src: '10.0.0.9', dst: '10.0.0.1', srcPort: 40000, dstPort: 22 }, { tcpFlags: 'syn' }));
  const hitPlain = measure('ingress', plain, drain);
  const hitLogged = measure('ingress', logged, drain);
  drain();

  const row = (label: string, ns: number, note = '') => out(`${label.padEnd(44)} ${ns.toFixed(1).padStart(7)} ns/packet  ${(ns / parseOnly).toFixed(2)}x parse-only${note}`);
  row('parse-only reference program', parseOnly);
  row('rule without log', noLog);
  row('log rule, event sent', sent, `  (+${(sent - noLog).toFixed(1)} ns; ${sentCount} events sent)`);
  row('log rule, rule bucket empty (rate limiter)', limited, `  (+${(limited - noLog).toFixed(1)} ns; ${limitedCount} limited)`);
  row('log rule, ring buffer full', full, `  (+${(full - noLog).toFixed(1)} ns; ${fullCount} refused)`);
  row('session hit, rule without log', hitPlain);
  row('session hit, log rule (event sent)', hitLogged, `  (+${(hitLogged - hitPlain).toFixed(1)} ns)`);
  out(`events read by the reader: ${events}`);
} finally {
  reader.close();
  closeDatapath(dp);
}
