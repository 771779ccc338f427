// The in-kernel canary with real traffic between namespaces: thousands of new UDP flows (one
// source port each) meet the canary in the share asked for, each flow exactly as the flow hash
// computed in TypeScript (runtime/datapath/flow-hash.ts) predicts, both ways; sessions keep the
// policy that opened them across promote and rollback; a staged canary whose policy denies the
// traffic rolls back by itself at its first gate, and a healthy one reaches 100 % (promoted).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentMetrics } from '../../runtime/agent/metrics.ts';
import { DeploymentReader } from '../../runtime/agent/reader.ts';
import { flowHash, isCanaryFlow } from '../../runtime/datapath/flow-hash.ts';
import { KERNEL_AVAILABLE } from '../support/datapath-harness.ts';
import { createPolicyDir, type PolicyDir, segc, startEchoServers, tearDownDeployTest } from '../support/deploy-harness.ts';
import { NetnsSandbox, waitFor, type VethPair } from '../support/netns.ts';

const HOST4 = '10.207.0.1';
const PEER4 = '10.207.0.2';
const PORT = 5000;

const BASELINE = `
policy ingress default deny {
  100 udp-in:  allow udp from any to any port ${PORT}
}
policy egress default allow {
}
`;
/** The canary that denies the test's traffic (its flows get no echo). */
const DENYING = `
policy ingress default deny {
  100 other:   allow udp from any to any port ${PORT + 1}
}
policy egress default allow {
}
`;
/** A healthy canary: the same meaning, another rule name. */
const HEALTHY = BASELINE.replace('udp-in:', 'udp-new:');

/** For each source port of [first, first + count): whether its datagram came back (in batches, bounded). */
const FLOWS = `
const dgram = require('node:dgram');
const [host, port, first, count, repeat] = process.argv.slice(1).map((v, i) => i === 0 ? v : Number(v));
const echoed = {};
async function one(sport) {
  return new Promise((resolve) => {
    const u = dgram.createSocket({ type: 'udp4', reuseAddr: true });
    let got = 0;
    const done = () => { try { u.close(); } catch {} resolve(); };
    u.on('message', () => { got++; echoed[sport] = got; if (got >= repeat) { clearTimeout(t); done(); } });
    u.on('error', done);
    const t = setTimeout(done, 400);
    u.bind(sport, () => { for (let i = 0; i < repeat; i++) u.send('x' + i, port, host); });
  });
}
(async () => {
  for (let p = first; p < first + count; p += 100) {
    const batch = [];
    for (let q = p; q < Math.min(p + 100, first + count); q++) batch.push(one(q));
    await Promise.all(batch);
  }
  process.stdout.write(JSON.stringify(echoed));
})();
`;

/** A stream of new flows (a new source port every few ms) for `ms`: traffic for the gates. */
const FLOW_STREAM = `
const dgram = require('node:dgram');
const [host, port, ms, base] = [process.argv[1], Number(process.argv[2]), Number(process.argv[3]), Number(process.argv[4])];
let sport = base;
const end = Date.now() + ms;
const t = setInterval(() => {
  if (Date.now() > end) { clearInterval(t); setTimeout(() => process.exit(0), 300); return; }
  const u = dgram.createSocket('udp4');
  u.on('error', () => {});
  u.bind(sport++, () => u.send('x', port, host, () => setTimeout(() => u.close(), 200)));
}, 4);
`;

describe.skipIf(!KERNEL_AVAILABLE)('the in-kernel canary with real traffic', () => {
  const sandbox = new NetnsSandbox('can');
  const name = `segct-${process.pid}-can`;
  let host: string;
  let peer: string;
  let link: VethPair;
  let policies: PolicyDir;
  let stateDir: string;
  let servers: Awaited<ReturnType<typeof startEchoServers>>[] = [];
  const files: Record<string, string> = {};
  const run = (args: readonly string[]) => segc(host, args, { stateDir });
  const deploy = (file: string, extra: readonly string[] = []) => run(['deploy', file, '--iface', link.a.name, '--name', name, '--max-rules', '64', '--sessions', '16384', ...extra]);
  const flows = (first: number, count: number, repeat = 1): Record<string, number> => {
    const r = spawnSync('nsenter', [`--net=/var/run/netns/${peer}`, '--', process.execPath, '-e', FLOWS, HOST4, String(PORT), String(first), String(count), String(repeat)], { encoding: 'utf8', timeout: 120_000 });
    expect(r.status, r.stderr).toBe(0);
    return JSON.parse(r.stdout) as Record<string, number>;
  };
  const predicted = (sport: number, shareBp: number) =>
    isCanaryFlow(flowHash({ family: 0, proto: 17, src: { addr: addr(PEER4), port: sport }, dst: { addr: addr(HOST4), port: PORT } }), shareBp);
  const status = () => {
    const r = run(['status', '--name', name, '--json']);
    expect(r.code, r.stderr).toBe(0);
    return (JSON.parse(r.stdout) as { deployments: { generation: number; canary: null | { generation: number; baselineGeneration: number; shareBp: number; kernelShareBp: number | null; counters: { canary: { flows: number; flowDeny: number } } } }[] }).deployments[0];
  };
  const sessionGenerations = () => {
    const r = run(['sessions', '--name', name, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const m = new Map<number, number>();
    for (const s of (JSON.parse(r.stdout) as { sessions: { a: string; b: string; portA: number; portB: number; generation: number }[] }).sessions) {
      const sport = s.a === PEER4 ? s.portA : s.portB;
      m.set(sport, s.generation);
    }
    return m;
  };
  // Each stream opens flows from source ports not used before (an old flow would be a session hit).
  let nextPort = 10000;
  const streamFlows = (ms: number) => {
    const base = nextPort;
    nextPort += Math.ceil(ms / 4) + 100;
    return spawnSync('nsenter', [`--net=/var/run/netns/${peer}`, '--', process.execPath, '-e', FLOW_STREAM, HOST4, String(PORT), String(ms), String(base)], { timeout: ms + 20_000 });
  };

  beforeAll(async () => {
    host = sandbox.createNetns('host');
    peer = sandbox.createNetns('peer');
    // IPv4 only: with IPv6 off the veths carry no link-local traffic (MLD reports, router
    // solicitations), so the canary's counters and gates see the test's flows alone.
    for (const ns of [host, peer]) sandbox.exec(ns, 'sysctl', ['-qw', 'net.ipv6.conf.default.disable_ipv6=1']);
    link = sandbox.createVethPair(host, peer, { a: { ipv4: `${HOST4}/24` }, b: { ipv4: `${PEER4}/24` } });
    servers = [await startEchoServers(host, [], [PORT])];
    policies = createPolicyDir();
    stateDir = mkdtempSync(`${tmpdir()}/segct-state-`);
    files['baseline'] = policies.write('baseline.seg', BASELINE);
    files['denying'] = policies.write('denying.seg', DENYING);
    files['healthy'] = policies.write('healthy.seg', HEALTHY);
  }, 60_000);

  afterAll(() => tearDownDeployTest({ host, names: [name], stateDir, servers, policies, sandbox }));

  it('judges 25 % of 3000 new flows by the canary, each as the flow hash predicts, every packet of a flow alike', async () => {
    const r0 = deploy(files['baseline'] as string);
    expect(r0.code, r0.stderr).toBe(0);
    const r = deploy(files['denying'] as string, ['--canary', '25%']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/judges 25% of new flows/);
    const s = status();
    expect(s?.canary?.shareBp).toBe(2500);
    expect(s?.canary?.kernelShareBp).toBe(2500);
    const first = 30000;
    const count = 3000;
    // Three datagrams a flow: a flow is echoed three times (baseline) or never (canary).
    const echoed = flows(first, count, 3);
    let canary = 0;
    let mismatches = 0;
    let partial = 0;
    for (let p = first; p < first + count; p++) {
      const got = echoed[p] ?? 0;
      if (got !== 0 && got !== 3) partial++;
      const isCanary = got === 0;
      if (isCanary) canary++;
      if (isCanary !== predicted(p, 2500)) mismatches++;
    }
    // Binomial: n = 3000, p = 0.25, sd = 23.7 flows; 5 sd = 119 flows = 4 points.
    expect(Math.abs(canary / count - 0.25)).toBeLessThan(0.04);
    // The kernel's choice is the TypeScript hash's (a lost datagram on the veth aside).
    expect(mismatches).toBeLessThanOrEqual(count * 0.002);
    expect(partial).toBeLessThanOrEqual(count * 0.002);
    const c = status()?.canary?.counters?.canary;
    // Every datagram of the test's canary flows was classified and denied; the namespaces have
    // IPv6 off, so nothing else reaches the counters (a lost datagram aside).
    expect(c?.flowDeny).toBeGreaterThanOrEqual(canary);
    expect((c?.flows ?? 0) - (c?.flowDeny ?? 0)).toBeLessThanOrEqual(8);
    const human = run(['status', '--name', name]);
    expect(human.stdout).toMatch(/canary +generation \d+ \(.*\) judges 25% of new flows beside generation \d+/);
    expect(human.stdout).toMatch(/canary +generation \d+: \d+ classified \(\d+ denied, 0 would-deny: deny rate (100\.0|99\.\d)%\)/);
    // The agent names both generations and roles.
    const text = await new AgentMetrics(new DeploymentReader(stateDir)).scrape();
    const gen = s?.canary?.generation;
    expect(text).toMatch(new RegExp(`segc_canary_packets_total\\{deployment="${name}",role="canary",generation="${gen}",counter="flows"\\} [1-9]`));
    expect(text).toMatch(new RegExp(`segc_canary_share_ratio\\{deployment="${name}"\\} 0.25`));
    const back = run(['rollback', '--name', name]);
    expect(back.code, back.stderr).toBe(0);
    expect(status()?.canary).toBeNull();
  }, 180_000);

  it('keeps established sessions on the policy that opened them through canary --set, promote and rollback', () => {
    const r = deploy(files['healthy'] as string, ['--canary', '50%']);
    expect(r.code, r.stderr).toBe(0);
    const s = status();
    const baselineGen = s?.canary?.baselineGeneration as number;
    const canaryGen = s?.canary?.generation as number;
    const first = 40000;
    const count = 200;
    flows(first, count);
    let gens = sessionGenerations();
    for (let p = first; p < first + count; p++) expect(gens.get(p), `flow from port ${p}`).toBe(predicted(p, 5000) ? canaryGen : baselineGen);
    // The share moves new flows only.
    expect(run(['canary', '--set', '0%', '--name', name]).code).toBe(0);
    flows(first, count);
    gens = sessionGenerations();
    for (let p = first; p < first + count; p++) expect(gens.get(p)).toBe(predicted(p, 5000) ? canaryGen : baselineGen);
    expect(run(['canary', '--set', '50%', '--name', name]).code).toBe(0);
    // Promote: the canary's sessions carry on untouched (same generation, no re-check).
    const p = run(['promote', '--name', name]);
    expect(p.code, p.stderr).toBe(0);
    expect(status()?.generation).toBe(canaryGen);
    flows(first, count);
    gens = sessionGenerations();
    for (let q = first; q < first + count; q++) if (predicted(q, 5000)) expect(gens.get(q)).toBe(canaryGen);
    // Rollback: the baseline's sessions carry on untouched.
    const again = deploy(files['baseline'] as string, ['--canary', '50%']);
    expect(again.code, again.stderr).toBe(0);
    const base2 = status()?.canary?.baselineGeneration as number;
    const can2 = status()?.canary?.generation as number;
    const first2 = 41000;
    flows(first2, count);
    gens = sessionGenerations();
    for (let q = first2; q < first2 + count; q++) expect(gens.get(q)).toBe(predicted(q, 5000) ? can2 : base2);
    expect(run(['rollback', '--name', name]).code).toBe(0);
    expect(status()?.generation).toBe(base2);
    flows(first2, count);
    gens = sessionGenerations();
    for (let q = first2; q < first2 + count; q++) if (!predicted(q, 5000)) expect(gens.get(q)).toBe(base2);
  }, 120_000);

  it('rolls back a staged canary whose policy denies the traffic at its first gate', async () => {
    const r = deploy(files['denying'] as string, ['--canary-steps', '20,50,100', '--step-time', '2s', '--max-deny-increase', '5', '--min-flows', '5']);
    expect(r.code, r.stderr).toBe(0);
    const gen = status()?.canary?.generation;
    expect(gen).toBeGreaterThan(0);
    const stream = streamFlows(5_000);
    expect(stream.status).toBe(0);
    await waitFor('the canary rolled back', () => status()?.canary === null, 10_000, 200);
    expect(status()?.generation).not.toBe(gen);
    // At the first gate, by the deny rate.
    const log = readFileSync(join(stateDir, name, 'canary.log'), 'utf8');
    expect(log).toMatch(new RegExp(`canary generation ${gen} rolled back: gate failed at step 1/3 \\(20%\\): deny rate (100\\.0|99\\.\\d)%`));
    const human = run(['status', '--name', name]);
    expect(human.code).toBe(0);
  }, 60_000);

  it('promotes a healthy staged canary once it reaches 100 %', async () => {
    const r = deploy(files['baseline'] as string, ['--canary-steps', '25,50,100', '--step-time', '2s', '--max-deny-increase', '5', '--min-flows', '5']);
    expect(r.code, r.stderr).toBe(0);
    const gen = status()?.canary?.generation;
    const deadline = Date.now() + 25_000;
    while (status()?.canary !== null && Date.now() < deadline) streamFlows(2_000);
    expect(status()?.canary).toBeNull();
    expect(status()?.generation).toBe(gen);
  }, 60_000);
});

function addr(v4: string): Uint8Array {
  const a = new Uint8Array(16);
  v4.split('.').forEach((o, i) => (a[i] = Number(o)));
  return a;
}
