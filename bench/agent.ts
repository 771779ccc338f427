// Agent benchmark (root): the cost of one `/metrics` scrape and the agent's memory, for a
// deployment of 10 and of 10k rules (ClassBench acl1) with a full session table of the default
// size (filled through the loader with batch updates, no traffic) and every rule hit (the worst
// case for the per-rule series and their top-N cap), then 50 concurrent clients scraping at
// once (p50/p99 of their GETs, and how many collections the agent made for them). The agent
// runs as a real process, as users run it: bin/segc, the launcher, on the bundled CLI (`npm run build` first;
// `--sources` runs test/support/segc-source.ts instead, about 30 MiB more RSS); scrapes are HTTP
// GETs. Prints figures; asserts nothing. `--sessions N` sizes the table.
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
import { censusSessions } from '../runtime/datapath/sessions.ts';
import { readConfig } from '../runtime/datapath/config.ts';
import { DEFAULT_SESSIONS } from '../runtime/loader.ts';
import { classBenchToSeg, readClassBenchRules } from '../test/support/classbench.ts';
import { CORPUS } from '../test/support/corpus.ts';
import { NetnsSandbox } from '../test/support/netns.ts';
import { exitIfDryRun } from './dry-run.ts';

const HS1 = `${CORPUS}/classbench-hs1`;
const sessionsArg = process.argv.indexOf('--sessions');
const SESSIONS = sessionsArg > 0 ? Number(process.argv[sessionsArg + 1]) : DEFAULT_SESSIONS;
const SCRAPES = 20;
const CLIENTS = 50;
const BURSTS = 5;
const CASES = [
  { label: '10', file: 'acl1_100', take: 10, mode: 'top:500' },
  { label: '10k', file: 'acl1_10K', take: Infinity, mode: 'top:500' },
  { label: '10k', file: 'acl1_10K', take: Infinity, mode: 'hit' },
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
    bpf_map_update_batch(dp.maps[SegMap.sessions] as number, keys, values, count);
    return censusSessions(dp).entries;
  } finally {
    releaseDatapath(dp, true);
  }
}

/** Gives every rule of the policy in force some hits, as if each had decided packets. */
function hitEveryRule(pinDir: string, rules: number): void {
  const dp = openPinnedDatapath(pinDir);
  try {
    const slot = readConfig(dp).activeSlot;
    const cpus = libbpf_num_possible_cpus();
    const keys = new Uint8Array(rules * 4);
    const values = new Uint8Array(rules * SEG_COUNTER.size * cpus);
    const kv = new DataView(keys.buffer);
    const vv = new DataView(values.buffer);
    for (let i = 0; i < rules; i++) {
      kv.setUint32(i * 4, slot * dp.rulesPerSlot + i, true);
      vv.setBigUint64(i * SEG_COUNTER.size * cpus, BigInt(1 + ((i * 7919) % 100000)), true);
      vv.setBigUint64(i * SEG_COUNTER.size * cpus + 8, BigInt(64 * (1 + i)), true);
    }
    bpf_map_update_batch(dp.maps[SegMap.ruleHits] as number, keys, values, rules);
  } finally {
    releaseDatapath(dp, true);
  }
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
  return new Promise((resolve, reject) => {
    get(url, { agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve(Number(/^segc_scrape_collections_total (\S+)$/m.exec(body)?.[1] ?? NaN)));
    }).on('error', reject);
  });
}

function rssKb(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN);
}

const sandbox = new NetnsSandbox('bagt');
const stateDir = mkdtempSync(join(tmpdir(), 'segct-bench-state-'));
const name = `segct-${process.pid}-bagt`;
try {
  const host = sandbox.createNetns('host');
  const peer = sandbox.createNetns('peer');
  const link = sandbox.createVethPair(host, peer, { a: { ipv4: '10.206.0.1/24' }, b: { ipv4: '10.206.0.2/24' } });
  out(`segc agent scrape benchmark (ClassBench acl1, a full ${SESSIONS}-entry session table, every rule hit; median of ${SCRAPES} scrapes)`);
  out('rules  --rule-metrics  sessions  scrape ms (HTTP)  of which reading maps  rule series  body KiB  agent RSS MiB (idle -> after scrapes -> after bursts)  50 clients p50/p99 ms  collections/burst');
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

    // bin/segc, the launcher users and the systemd unit run (it sets the agent's V8 flags), on this Node.
    const sources = process.argv.includes('--sources');
    const [command, args] = sources ? [process.execPath, ['--no-warnings', join(import.meta.dirname, '..', 'test', 'support', 'segc-source.ts')]] : [join(import.meta.dirname, '..', 'bin', 'segc'), []];
    const agent = spawn(command, [...args, 'agent', '--listen', '127.0.0.1:0', '--rule-metrics', c.mode], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, SEGC_STATE_DIR: stateDir, SEGC_NODE: process.execPath },
    });
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let log = '';
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
      const idle = rssKb(agent.pid as number);
      const times: number[] = [];
      const reads: number[] = [];
      let body = '';
      for (let i = 0; i < SCRAPES + 1; i++) {
        const t = performance.now();
        body = await (await fetch(url)).text();
        if (i > 0) times.push(performance.now() - t);
        reads.push(1000 * Number(/^segc_scrape_duration_seconds (\S+)$/m.exec(body)?.[1] ?? NaN));
      }
      const series = body.split('\n').filter((l) => l.startsWith('segc_rule_packets_total{')).length;
      const after = rssKb(agent.pid as number);
      // Bursts of concurrent clients: every client's GET timed from the burst's start.
      const latencies: number[] = [];
      const before = await collectionsOf(url);
      for (let b = 0; b < BURSTS; b++) {
        const t = performance.now();
        await Promise.all(
          Array.from({ length: CLIENTS }, async () => {
            await (await fetch(url)).text();
            latencies.push(performance.now() - t);
          }),
        );
      }
      const collections = ((await collectionsOf(url)) - before - 1) / BURSTS;
      const afterBursts = rssKb(agent.pid as number);
      out(
        `${c.label.padEnd(6)} ${c.mode.padEnd(14)} ${String(entries).padStart(8)} ${median(times).toFixed(1).padStart(17)} ${median(reads.slice(1)).toFixed(1).padStart(22)} ${String(series).padStart(12)} ${(body.length / 1024).toFixed(0).padStart(9)} ${(idle / 1024).toFixed(0).padStart(14)} -> ${(after / 1024).toFixed(0)} -> ${(afterBursts / 1024).toFixed(0)}` +
          `  ${percentile(latencies, 50).toFixed(0)}/${percentile(latencies, 99).toFixed(0)}  ${Number.isNaN(collections) ? '-' : collections.toFixed(1)}`,
      );
    } finally {
      agent.kill('SIGTERM');
      await new Promise((resolve) => agent.once('exit', resolve));
    }
    await sandbox.within(host, () => undeploy({ name, stateDir }));
  }
  out('');
  out('scrape ms = one GET /metrics end to end (read every map, fold, render); reading maps = segc_scrape_duration_seconds');
  out('(stats, the active and standby slots\' rule hits and the session census). 50 clients: bursts of 50 concurrent GETs,');
  out('each timed from its burst\'s start; collections/burst: the map walks the agent made per burst (segc_scrape_collections_total).');
} finally {
  rmSync(join('/sys/fs/bpf/segc', name), { recursive: true, force: true });
  rmSync(stateDir, { recursive: true, force: true });
  sandbox.cleanup();
}
