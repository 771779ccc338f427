// Agent benchmark (root): the cost of one `/metrics` scrape and the agent's memory, for a
// deployment of 10 and of 10k rules (ClassBench acl1) with a full session table of the default
// size (filled through the loader with batch updates, no traffic) and every rule hit (the worst
// case for the per-rule series and their top-N cap), then 50 concurrent clients scraping at
// once (p50/p99 of their GETs, and how many collections the agent made for them). The agent
// runs as a real process, as users run it: bin/segc, the launcher, on the bundled CLI (`npm run build` first;
// `--sources` runs test/support/segc-source.ts instead, about 30 MiB more RSS); scrapes are HTTP
// GETs. Prints figures; asserts nothing. `--sessions N` sizes the table; `--baseline DIR` runs
// each case a second time with the agent of another checkout (built: `npm run build` there),
// alternating with this one on the same deployment, so both rows come from one run;
// `--only 10k-top` picks cases by label; `--agent-node-options '...'` passes NODE_OPTIONS to
// the agent alone (`--cpu-prof --cpu-prof-dir=DIR`, `--heap-prof`, V8 flags to compare);
// `--agent-args '...'` passes arguments to this checkout's agent (`--census-max-age 0`) and
// `--agent-env 'NAME=VALUE ...'` its environment (`MALLOC_ARENA_MAX=8`), `--pace
// MS` spaces the serial scrapes (default 600), `--traffic N` moves N rules' totals before each
// serial scrape (the bench writes them into seg_rule_hits, as traffic would; default 0, quiet).
import { spawn } from 'node:child_process';
import { get } from 'node:http';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SEG_COUNTER, SEG_SESSION, SEG_SESSION_KEY, SegMap, SegState } from '../runtime/datapath/abi.ts';
import { bundle } from '../compiler/bundle.ts';
import { emit } from '../compiler/emit.ts';
import { compile } from '../compiler/program.ts';
import { createMemoryHost } from '../compiler/source.ts';
import { deploy, openPinnedDatapath, releaseDatapath, undeploy } from '../runtime/deploy.ts';
import { bpf_map_update_batch, libbpf_num_possible_cpus } from '../runtime/libbpf.ts';
import { censusSessions, writeSessions } from '../runtime/datapath/sessions.ts';
import { readConfig } from '../runtime/datapath/config.ts';
import { DEFAULT_SESSIONS } from '../runtime/loader.ts';
import { classBenchToSeg, readClassBenchRules } from '../test/support/classbench.ts';
import { CORPUS } from '../test/support/corpus.ts';
import { NetnsSandbox } from '../test/support/netns.ts';
import { exitIfDryRun } from './dry-run.ts';

const HS1 = `${CORPUS}/classbench-hs1`;
const sessionsArg = process.argv.indexOf('--sessions');
const SESSIONS = sessionsArg > 0 ? Number(process.argv[sessionsArg + 1]) : DEFAULT_SESSIONS;
const argOf = (flag: string): string | undefined => {
  const i = process.argv.indexOf(flag);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const BASELINE = argOf('--baseline');
const ONLY = argOf('--only');
const AGENT_NODE_OPTIONS = argOf('--agent-node-options');
/** V8 flags for the agent's Node (NODE_OPTIONS refuses most V8 flags): variants to compare, `|`-separated ('' = none but the launcher's cap of the young generation). */
const AGENT_V8 = argOf('--agent-v8');
/** Seconds to keep each agent running after its measurements, its pid printed (to read /proc/PID/smaps, send signals). */
const HOLD_S = Number(argOf('--hold') ?? 0);
/** Milliseconds between serial scrapes (longer than the freshness window, so each is a collection; Prometheus' interval is 15 s or so). */
const PACE_MS = Number(argOf('--pace') ?? 600);
/** Extra arguments for this checkout's agent (`--census-max-age 0` to compare within one build). */
const AGENT_ARGS = (argOf('--agent-args') ?? '').split(' ').filter((a) => a !== '');
/** Extra environment for this checkout's agent (`MALLOC_ARENA_MAX=8` to compare the launcher's setting), `NAME=VALUE` words. */
const AGENT_ENV: Record<string, string> = Object.fromEntries((argOf('--agent-env') ?? '').split(' ').filter((a) => a.includes('=')).map((a) => [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)]));
/** Rules whose totals move before each serial scrape (traffic; 0: a quiet policy, whose rule series the agent reuses). */
const TRAFFIC = Number(argOf('--traffic') ?? 0);
const SCRAPES = 20;
const CLIENTS = 50;
const BURSTS = 5;
const CASES = [
  { label: '10', file: 'acl1_100', take: 10, mode: 'top:500' },
  { label: '10k', file: 'acl1_10K', take: Infinity, mode: 'top:500' },
  { label: '10k', file: 'acl1_10K', take: Infinity, mode: 'hit' },
].filter((c) => ONLY === undefined || ONLY.split(',').includes(`${c.label}-${c.mode.replace(/:.*/, '')}`));
/** The builds to run: this checkout, and the baseline's when given. */
const BUILDS: { name: string; dir: string; v8?: string; args?: readonly string[]; env?: Record<string, string> }[] = [
  ...(AGENT_V8 === undefined ? [{ name: 'this', dir: join(import.meta.dirname, '..'), args: AGENT_ARGS, env: AGENT_ENV }] : AGENT_V8.split('|').map((v8) => ({ name: v8 === '' ? 'no flags' : v8, dir: join(import.meta.dirname, '..'), v8 }))),
  ...(BASELINE === undefined ? [] : [{ name: 'base', dir: BASELINE }]),
];

exitIfDryRun([...new Set(CASES.map((c) => `${HS1}/rules/${c.file}`))]);
const out = (line: string) => process.stdout.write(line + '\n');
if (process.getuid?.() !== 0) {
  out('bench/agent.ts needs root (namespaces, BPF)');
  process.exit(2);
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}

/** Fills the session table with `count` distinct IPv4 TCP/UDP flows in a mix of states. */
function fillSessions(pinDir: string, count: number): number {
  const dp = openPinnedDatapath(pinDir);
  try {
    const keys = new Uint8Array(count * SEG_SESSION_KEY.size);
    const values = new Uint8Array(count * SEG_SESSION.size);
    const kv = new DataView(keys.buffer);
    const vv = new DataView(values.buffer);
    const states = [SegState.SEG_STATE_TCP_ESTABLISHED, SegState.SEG_STATE_TCP_SYN_SENT, SegState.SEG_STATE_UDP, SegState.SEG_STATE_TCP_SYN_RECV];
    for (let i = 0; i < count; i++) {
      const k = i * SEG_SESSION_KEY.size;
      kv.setUint32(k, 0x0a000001, false);
      kv.setUint32(k + 16, 0x0b000000 + i, false);
      kv.setUint16(k + 32, 40000 + (i % 20000), true);
      kv.setUint16(k + 34, 443, true);
      keys[k + 36] = 6;
      const v = i * SEG_SESSION.size;
      vv.setBigUint64(v, 1n, true);
      vv.setBigUint64(v + 8, 1n, true);
      vv.setBigUint64(v + 16, 1n, true);
      values[v + 36] = 1;
      values[v + 38] = states[i % states.length] ?? 0;
    }
    writeSessions(dp, Array.from({ length: count }, (_, i) => ({ key: keys.subarray(i * SEG_SESSION_KEY.size, (i + 1) * SEG_SESSION_KEY.size), value: values.subarray(i * SEG_SESSION.size, (i + 1) * SEG_SESSION.size) })));
    return censusSessions(dp).entries;
  } finally {
    releaseDatapath(dp, true);
  }
}

/** The bench's own count of each rule's hits (CPU 0's share; the others stay 0), as it last wrote them. */
let ruleHits: number[] = [];

/** Gives every rule of the policy in force some hits, as if each had decided packets. */
function hitEveryRule(pinDir: string, rules: number): void {
  ruleHits = Array.from({ length: rules }, (_, i) => 1 + ((i * 7919) % 100000));
  writeRuleHits(pinDir, Array.from({ length: rules }, (_, i) => i));
}

/** Writes the bench's counts of `which` rules into the policy in force's seg_rule_hits (one batch update). */
function writeRuleHits(pinDir: string, which: readonly number[]): void {
  const dp = openPinnedDatapath(pinDir);
  try {
    const slot = readConfig(dp).activeSlot;
    const cpus = libbpf_num_possible_cpus();
    const keys = new Uint8Array(which.length * 4);
    const values = new Uint8Array(which.length * SEG_COUNTER.size * cpus);
    const kv = new DataView(keys.buffer);
    const vv = new DataView(values.buffer);
    which.forEach((rule, i) => {
      const packets = ruleHits[rule] ?? 0;
      kv.setUint32(i * 4, slot * dp.rulesPerSlot + rule, true);
      vv.setBigUint64(i * SEG_COUNTER.size * cpus, BigInt(packets), true);
      vv.setBigUint64(i * SEG_COUNTER.size * cpus + 8, BigInt(64 * packets), true);
    });
    bpf_map_update_batch(dp.maps[SegMap.ruleHits] as number, keys, values, which.length);
  } finally {
    releaseDatapath(dp, true);
  }
}

/**
 * Traffic between two scrapes, as the kernel would count it: `count` rules (spread over the
 * policy, a different set each round) decide more packets, some enough to change the top N.
 */
function moveRules(pinDir: string, count: number, round: number): void {
  const rules = ruleHits.length;
  if (count <= 0 || rules === 0) return;
  const which = Array.from({ length: Math.min(count, rules) }, (_, i) => (Math.floor((i * rules) / Math.min(count, rules)) + round * 7) % rules);
  for (const rule of which) ruleHits[rule] = (ruleHits[rule] ?? 0) + 1 + ((rule * 31 + round * 997) % 5000);
  writeRuleHits(pinDir, which);
}

function percentile(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
}

/**
 * Scrapes a counter the agent exports about itself, through /metrics, on a connection of its
 * own: a new client always gets a fresh collection (AgentMetrics.scrape), counted in the text.
 */
function collectionsOf(url: string): Promise<number> {
  return scrapeOnce(url).then((body) => Number(/^segc_scrape_collections_total (\S+)$/m.exec(body)?.[1] ?? NaN));
}

function scrapeOnce(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    get(url, { agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
}

/** User plus system CPU time of `pid` so far, ms (the census runs in the kernel: system time). */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}

function rssKb(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN);
}

/** A scrape served within this long of its collection's start may be that collection's (docs/metrics.md): serial scrapes wait longer. */
const PAUSE_MS = 600;
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface AgentRow {
  readonly scrapeMs: number;
  /** The agent's CPU time (user + system) per serial scrape, mean. */
  readonly cpuMs: number;
  /** The agent's CPU time over the whole serial run (the census refreshed between scrapes included), per scrape. */
  readonly cpuAllMs: number;
  readonly readMs: number;
  readonly series: number;
  readonly bodyBytes: number;
  readonly idleKb: number;
  readonly afterKb: number;
  readonly afterBurstsKb: number;
  readonly p50: number;
  readonly p99: number;
  readonly collections: number;
  /** V8's heap after the bursts (prom-client's nodejs_heap_* of a last scrape), MiB. */
  readonly heapUsed: number;
  readonly heapTotal: number;
}

/** Runs the agent of the checkout `dir` on the deployment in place and measures it. */
async function measureAgent(dir: string, pinDir: string, mode: string, v8?: string, extra: readonly string[] = [], extraEnv: Record<string, string> = {}): Promise<AgentRow> {
  // bin/segc, the launcher users and the systemd unit run (it sets the agent's V8 flags), on this
  // Node; a variant of --agent-v8 runs bin/segc.js with the launcher's young-generation cap and its own flags instead.
  const sources = process.argv.includes('--sources');
  const [command, args] = sources
    ? [process.execPath, ['--no-warnings', join(dir, 'test', 'support', 'segc-source.ts')]]
    : v8 !== undefined
      ? [process.execPath, ['--max-semi-space-size=4', ...v8.split(' ').filter((f) => f !== ''), join(dir, 'bin', 'segc.js')]]
      : [join(dir, 'bin', 'segc'), []];
  const node = process.execPath;
  const agent = spawn(command, [...args, 'agent', '--listen', '127.0.0.1:0', '--rule-metrics', mode, ...extra], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, ...extraEnv, SEGC_STATE_DIR: stateDir, SEGC_NODE: node, ...(AGENT_NODE_OPTIONS === undefined ? {} : { NODE_OPTIONS: AGENT_NODE_OPTIONS }) },
  });
  let log = '';
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the agent did not start: ${log}`)), 30_000);
      agent.stderr.on('data', (d: Buffer) => {
        log += d.toString();
        const m = /serving (http:\/\/\S+)/.exec(log);
        if (m) {
          clearTimeout(timer);
          resolve(m[1] as string);
        }
      });
    });
    const idleKb = rssKb(agent.pid as number);
    const times: number[] = [];
    const reads: number[] = [];
    let body = '';
    let cpu = 0;
    let cpuStart = 0;
    for (let i = 0; i < SCRAPES + 1; i++) {
      await pause(i === 0 ? PAUSE_MS : PACE_MS);
      moveRules(pinDir, TRAFFIC, i);
      const c0 = cpuMs(agent.pid as number);
      if (i === 1) cpuStart = c0;
      const t = performance.now();
      body = await (await fetch(url)).text();
      if (i > 0) times.push(performance.now() - t);
      if (i > 0) cpu += cpuMs(agent.pid as number) - c0;
      reads.push(1000 * Number(/^segc_scrape_duration_seconds (\S+)$/m.exec(body)?.[1] ?? NaN));
    }
    const cpuAll = cpuMs(agent.pid as number) - cpuStart;
    const series = body.split('\n').filter((l) => l.startsWith('segc_rule_packets_total{')).length;
    const afterKb = rssKb(agent.pid as number);
    // Bursts of concurrent clients: every client's GET timed from the burst's start.
    const latencies: number[] = [];
    let collections = 0;
    for (let b = 0; b < BURSTS; b++) {
      await pause(PAUSE_MS);
      const before = await collectionsOf(url);
      await pause(PAUSE_MS);
      const t = performance.now();
      await Promise.all(
        Array.from({ length: CLIENTS }, async () => {
          await (await fetch(url)).text();
          latencies.push(performance.now() - t);
        }),
      );
      await pause(PAUSE_MS);
      collections += (await collectionsOf(url)) - before - 1;
    }
    await pause(PAUSE_MS);
    const last = await scrapeOnce(url);
    if (HOLD_S > 0) {
      process.stderr.write(`agent pid ${agent.pid} at ${url}: holding ${HOLD_S} s\n`);
      await pause(HOLD_S * 1000);
    }
    const mib = (metric: string) => Number(new RegExp(`^${metric} (\\S+)$`, 'm').exec(last)?.[1] ?? NaN) / 1048576;
    return {
      heapUsed: mib('nodejs_heap_size_used_bytes'),
      heapTotal: mib('nodejs_heap_size_total_bytes'),
      scrapeMs: median(times),
      cpuMs: cpu / SCRAPES,
      cpuAllMs: cpuAll / SCRAPES,
      readMs: median(reads.slice(1)),
      series,
      bodyBytes: body.length,
      idleKb,
      afterKb,
      afterBurstsKb: rssKb(agent.pid as number),
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
      collections: collections / BURSTS,
    };
  } catch (error) {
    throw new Error(`${String(error)}; the agent's stderr: ${log}`, { cause: error });
  } finally {
    agent.kill('SIGTERM');
    await new Promise((resolve) => agent.once('exit', resolve));
  }
}

const sandbox = new NetnsSandbox('bagt');
const stateDir = mkdtempSync(join(tmpdir(), 'segct-bench-state-'));
const name = `segct-${process.pid}-bagt`;
try {
  const host = sandbox.createNetns('host');
  const peer = sandbox.createNetns('peer');
  const link = sandbox.createVethPair(host, peer, { a: { ipv4: '10.206.0.1/24' }, b: { ipv4: '10.206.0.2/24' } });
  out(`segc agent scrape benchmark (ClassBench acl1, a full ${SESSIONS}-entry session table, every rule hit${TRAFFIC > 0 ? `, ${TRAFFIC} rules' totals moving before each scrape` : ''}; median of ${SCRAPES} scrapes)`);
  out('rules  --rule-metrics  sessions  scrape ms (HTTP)  CPU ms  CPU ms all  of which reading maps  rule series  body KiB  agent RSS MiB (idle -> after scrapes -> after bursts)  50 clients p50/p99 ms  collections/burst  heap used/total MiB');
  for (const c of CASES) {
    const rules = readClassBenchRules(readFileSync(`${HS1}/rules/${c.file}`, 'utf8')).slice(0, c.take);
    const text = classBenchToSeg(rules, { defaultAction: 'deny' });
    const compilation = compile(['policy.seg'], createMemoryHost({ 'policy.seg': text }));
    const ir = compilation.ir;
    if (!ir) throw new Error(`${c.file} does not compile`);
    const bundleText = bundle(ir, emit(ir, { origins: true }), compilation.sources, { bundleFile: 'b.json', sourceMapFile: 'b.json.map', includeSources: false }).text;
    const result = await sandbox.within(host, () => deploy({ bundleText, interfaces: [link.a.name], options: { name, stateDir, rulesPerSlot: 16384, sessions: SESSIONS } }));
    const entries = fillSessions(result.record.pins.dir, SESSIONS);
    hitEveryRule(result.record.pins.dir, ir.rules.length);

    for (const build of BUILDS) {
      const row = await measureAgent(build.dir, result.record.pins.dir, c.mode, build.v8, build.args, build.env);
      out(
        `${(BUILDS.length > 1 ? `${build.name}: ` : '') + c.label.padEnd(6)} ${c.mode.padEnd(14)} ${String(entries).padStart(8)} ${row.scrapeMs.toFixed(1).padStart(17)} ${row.cpuMs.toFixed(1).padStart(7)} ${row.cpuAllMs.toFixed(1).padStart(7)} ${row.readMs.toFixed(1).padStart(22)} ${String(row.series).padStart(12)} ${(row.bodyBytes / 1024).toFixed(0).padStart(9)} ${(row.idleKb / 1024).toFixed(0).padStart(14)} -> ${(row.afterKb / 1024).toFixed(0)} -> ${(row.afterBurstsKb / 1024).toFixed(0)}` +
          `  ${row.p50.toFixed(0)}/${row.p99.toFixed(0)}  ${Number.isNaN(row.collections) ? '-' : row.collections.toFixed(1)}  ${row.heapUsed.toFixed(0)}/${row.heapTotal.toFixed(0)}`,
      );
    }
    await sandbox.within(host, () => undeploy({ name, stateDir }));
  }
  out('');
  out('scrape ms = one GET /metrics end to end (read every map, fold, render), median; CPU ms = the agent\'s user + system time per scrape,');
  out('mean (the census\'s walk counts as system time); CPU ms all = the agent\'s CPU over the whole serial run per scrape (a census');
  out('refreshed between scrapes included; serial scrapes every --pace ms, default 600); reading maps = segc_scrape_duration_seconds');
  out('(stats, the active and standby slots\' rule hits and the session census). 50 clients: bursts of 50 concurrent GETs,');
  out('each timed from its burst\'s start; collections/burst: the map walks the agent made per burst (segc_scrape_collections_total).');
} finally {
  rmSync(join('/sys/fs/bpf/segc', name), { recursive: true, force: true });
  rmSync(stateDir, { recursive: true, force: true });
  sandbox.cleanup();
}
