// The segc agent as a real process over HTTP, under a burst of concurrent clients: a 10k-rule
// deployment (ClassBench acl1) with every rule hit, `--rule-metrics hit` (a 3 MiB text), and 50
// clients each on a connection of its own. The burst must cost one collection: every body is
// byte for byte the same, and the collections counter in it is one more than before the burst.
// The agent listens on the root namespace's loopback (it only reads pinned maps); the policy is
// deployed on a veth pair of the test's own namespaces. Everything is removed by name or pid.
import { spawn, type ChildProcess } from 'node:child_process';
import { get } from 'node:http';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundle } from '../../compiler/bundle.ts';
import { emit } from '../../compiler/emit.ts';
import { compile } from '../../compiler/program.ts';
import { createMemoryHost } from '../../compiler/source.ts';
import { SEG_COUNTER, SegMap } from '../../runtime/datapath/abi.ts';
import { readConfig } from '../../runtime/datapath/config.ts';
import { deploy, openPinnedDatapath, releaseDatapath, undeploy } from '../../runtime/deploy.ts';
import { bpf_map_update_batch, libbpf_num_possible_cpus } from '../../runtime/libbpf.ts';
import { classBenchToSeg, readClassBenchRules } from '../support/classbench.ts';
import { CORPUS } from '../support/corpus.ts';
import { KERNEL_AVAILABLE } from '../support/datapath-harness.ts';
import { NetnsSandbox } from '../support/netns.ts';

const SEGC = join(import.meta.dirname, '..', 'support', 'segc-source.ts');
const RULES = `${CORPUS}/classbench-hs1/rules/acl1_10K`;
const CLIENTS = 50;

/** Gives each of the policy in force's `count` rules some hits (CPU 0's counter), as traffic would. */
function hitEveryRule(pinDir: string, count: number): void {
  const dp = openPinnedDatapath(pinDir);
  try {
    const slot = readConfig(dp).activeSlot;
    const cpus = libbpf_num_possible_cpus();
    const keys = new Uint8Array(count * 4);
    const values = new Uint8Array(count * SEG_COUNTER.size * cpus);
    const kv = new DataView(keys.buffer);
    const vv = new DataView(values.buffer);
    for (let rule = 0; rule < count; rule++) {
      const packets = 1 + ((rule * 7919) % 100_000);
      kv.setUint32(rule * 4, slot * dp.rulesPerSlot + rule, true);
      vv.setBigUint64(rule * SEG_COUNTER.size * cpus, BigInt(packets), true);
      vv.setBigUint64(rule * SEG_COUNTER.size * cpus + 8, BigInt(64 * packets), true);
    }
    bpf_map_update_batch(dp.maps[SegMap.ruleHits] as number, keys, values, count);
  } finally {
    releaseDatapath(dp, true);
  }
}

/** One GET on a connection of its own (no keep-alive pool: every client connects, as a new scraper does). */
function fetchBody(url: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    get(url, { agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => (res.statusCode === 200 ? resolve(Buffer.concat(chunks)) : reject(new Error(`HTTP ${res.statusCode}`))));
    }).on('error', reject);
  });
}

function collectionsIn(body: Buffer): number {
  return Number(/^segc_scrape_collections_total (\S+)$/m.exec(body.toString('utf8'))?.[1] ?? NaN);
}

describe.skipIf(!KERNEL_AVAILABLE)('segc agent under a burst of concurrent clients', () => {
  const sandbox = new NetnsSandbox('agb');
  const name = `segct-${process.pid}-agb`;
  const stateDir = mkdtempSync(join(tmpdir(), 'segct-agb-state-'));
  let agent: ChildProcess | undefined;
  let url = '';
  let log = '';

  beforeAll(async () => {
    const host = sandbox.createNetns('host');
    const peer = sandbox.createNetns('peer');
    const link = sandbox.createVethPair(host, peer, { a: { ipv4: '10.207.0.1/24' }, b: { ipv4: '10.207.0.2/24' } });
    const text = classBenchToSeg(readClassBenchRules(readFileSync(RULES, 'utf8')), { defaultAction: 'deny' });
    const compilation = compile(['policy.seg'], createMemoryHost({ 'policy.seg': text }));
    const ir = compilation.ir;
    if (!ir) throw new Error('acl1_10K does not compile');
    const bundleText = bundle(ir, emit(ir, { origins: true }), compilation.sources, { bundleFile: 'b.json', sourceMapFile: 'b.json.map', includeSources: false }).text;
    const result = await sandbox.within(host, () => deploy({ bundleText, interfaces: [link.a.name], options: { name, stateDir, rulesPerSlot: 16384, sessions: 1024 } }));
    hitEveryRule(result.record.pins.dir, ir.rules.length);
    agent = spawn(process.execPath, ['--no-warnings', SEGC, 'agent', '--listen', '127.0.0.1:0', '--rule-metrics', 'hit'], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, SEGC_STATE_DIR: stateDir } });
    url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the agent did not start: ${log}`)), 30_000);
      agent?.stderr?.on('data', (d: Buffer) => {
        log += d.toString();
        const m = /serving (http:\/\/\S+\/metrics)/.exec(log);
        if (m) {
          clearTimeout(timer);
          resolve(m[1] as string);
        }
      });
    });
  }, 120_000);

  afterAll(async () => {
    if (agent && agent.exitCode === null) {
      const exited = new Promise((resolve) => agent?.once('exit', resolve));
      agent.kill('SIGTERM');
      await exited;
    }
    try {
      await undeploy({ name, stateDir });
    } finally {
      rmSync(join('/sys/fs/bpf/segc', name), { recursive: true, force: true });
      rmSync(stateDir, { recursive: true, force: true });
      sandbox.cleanup();
    }
  }, 60_000);

  it('serves 50 concurrent clients of a 3 MiB text from one collection, byte for byte the same, however spread their arrival', async () => {
    const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    // Past the freshness window of any scrape before: each burst starts a collection of its own.
    let collections = collectionsIn(await fetchBody(url));
    // All at once; then each client 15 ms after the one before (0.74 s in all, longer than the
    // 500 ms window: clients that reach the agent while it still writes the first answers).
    for (const spacingMs of [0, 15]) {
      await pause(1_000);
      const bodies = await Promise.all(Array.from({ length: CLIENTS }, async (_, i) => (await pause(i * spacingMs), fetchBody(url))));
      const first = bodies[0] as Buffer;
      expect(first.length).toBeGreaterThan(2 << 20);
      expect(bodies.filter((b) => !b.equals(first))).toHaveLength(0);
      expect(collectionsIn(first)).toBe(++collections);
    }
  }, 120_000);
});
