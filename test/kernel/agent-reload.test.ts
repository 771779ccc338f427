// Hot reload by the segc agent with real traffic: the agent watches a policy file and the file it
// includes inside a test namespace; edits (valid, invalid, valid again, an include, a save storm)
// and SIGHUP are followed while a UDP stream runs. The invalid version never enforces and the
// switches drop nothing. Every namespace, pin, record and process is removed by name/pid.
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KERNEL_AVAILABLE } from '../support/datapath-harness.ts';
import { httpGet, parseMetrics, startAgent, valueOf, type Sample, type Started } from '../support/agent-harness.ts';
import { createPolicyDir, type PolicyDir, segc, startEchoServers, startUdpStream, tearDownDeployTest, udpEchoes } from '../support/deploy-harness.ts';
import { NetnsSandbox, waitFor, type VethPair } from '../support/netns.ts';

const HOST4 = '10.205.0.1';
const PEER4 = '10.205.0.2';
const AGENT = 'http://127.0.0.1:9464';

const policy = (extra = '') => `include "ports.seg"

policy ingress default deny {
  100 stream: allow udp from any to any port stream${extra}
}
policy egress default allow {
}
`;
const TELNET = '\n  110 telnet: allow tcp from any to any port 23';
const BROKEN = 'policy ingress default deny {\n  100 stream: allow udp from nowhere to any port stream\n}\n';

describe.skipIf(!KERNEL_AVAILABLE)('segc agent --watch: hot reload with real traffic', () => {
  const sandbox = new NetnsSandbox('rld');
  const name = `segct-${process.pid}-rld`;
  let host: string;
  let peer: string;
  let link: VethPair;
  let policies: PolicyDir;
  let stateDir: string;
  let agent: Started | undefined;
  const servers: ChildProcess[] = [];
  let main: string;

  const scrape = (): Sample[] => {
    const body = httpGet(host, `${AGENT}/metrics`);
    if (body === undefined) throw new Error(`no scrape; agent log:\n${agent?.output() ?? ''}`);
    return parseMetrics(body);
  };
  const reloads = (result: 'success' | 'failure') => valueOf(scrape(), 'segc_reloads_total', { deployment: name, result });
  const generation = () => valueOf(scrape(), 'segc_policy_generation', { deployment: name });
  const inSync = () => valueOf(scrape(), 'segc_watch_in_sync', { deployment: name });

  beforeAll(async () => {
    host = sandbox.createNetns('host');
    peer = sandbox.createNetns('peer');
    link = sandbox.createVethPair(host, peer, { a: { ipv4: `${HOST4}/24` }, b: { ipv4: `${PEER4}/24` } });
    servers.push(await startEchoServers(host, [23], [5000, 5001]));
    policies = createPolicyDir();
    stateDir = mkdtempSync(join(tmpdir(), 'segct-state-'));
    policies.write('ports.seg', 'ports stream = 5000\n');
    main = policies.write('main.seg', policy());
    agent = startAgent(host, ['--listen', '127.0.0.1:9464', '--watch', main, '--iface', link.a.name, '--name', name, '--debounce', '200', '--scrape-max-age', '0'], stateDir);
    await waitFor('the agent to serve /metrics', () => httpGet(host, `${AGENT}/metrics`, 2_000) !== undefined, 60_000, 200);
  }, 90_000);

  afterAll(async () => {
    try {
      await agent?.stop();
    } finally {
      tearDownDeployTest({ host, names: [name], stateDir, servers, policies, sandbox });
    }
  }, 60_000);

  /** The agent's log, once it shows `pattern` (its output arrives while this process waits). */
  const logShows = (pattern: RegExp) =>
    waitFor(`the agent to log ${pattern}`, () => pattern.test(agent?.output() ?? ''), 10_000).catch((error: unknown) => {
      throw new Error(`${String(error)}; the log:\n${agent?.output() ?? ''}`);
    });

  it('deploys the watched files at start, exactly as segc deploy', async () => {
    expect(reloads('success')).toBe(1);
    expect(inSync()).toBe(1);
    const status = JSON.parse(segc(host, ['status', '--name', name, '--json'], { stateDir }).stdout) as { deployments: { files: string[]; kernel: { inForce: boolean } }[] };
    expect(status.deployments[0]).toMatchObject({ files: [main, join(policies.dir, 'ports.seg')], kernel: { inForce: true } });
    expect(udpEchoes(peer, HOST4, 5000)).toBe(true);
    expect(udpEchoes(peer, HOST4, 5001)).toBe(false);
    await logShows(/reload '.*': deployed '.*': 1 rules, generation/);
  });

  it('follows valid -> invalid -> valid edits while a UDP stream runs: the invalid one never enforces, the switches drop nothing', async () => {
    // Runs until stopped, across both reloads however long they take on a loaded machine.
    const stream = startUdpStream(peer, HOST4, 5000, 50_000, 10);
    await waitFor('the stream to flow', () => stream.echoed().length > 20, 10_000);
    const before = generation();
    writeFileSync(main, BROKEN);
    await waitFor('the refused reload', () => reloads('failure') === 1, 20_000, 100);
    expect(generation()).toBe(before);
    expect(inSync()).toBe(0);
    await logShows(/reload '.*': the policy does not check; the deployed policy stays in force\n.*unknown address set 'nowhere'/);
    writeFileSync(main, policy(TELNET));
    await waitFor('the next reload', () => reloads('success') === 2, 20_000, 100);
    expect(generation()).toBeGreaterThan(before);
    expect(inSync()).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 500));
    stream.stop();
    const sent = await stream.done;
    const echoed = stream.echoed();
    expect(sent).toBeGreaterThan(100);
    expect(echoed).toEqual(Array.from({ length: sent }, (_, i) => i));
  }, 60_000);

  it('follows a change to an included file, and verdicts follow it', async () => {
    writeFileSync(join(policies.dir, 'ports.seg'), 'ports stream = 5001\n');
    await waitFor('the reload of the include', () => reloads('success') === 3, 20_000, 100);
    expect(udpEchoes(peer, HOST4, 5001)).toBe(true);
    expect(udpEchoes(peer, HOST4, 5000)).toBe(false);
    // A broken include is refused too; the last good policy stays.
    writeFileSync(join(policies.dir, 'ports.seg'), 'ports stream = 99999\n');
    await waitFor('the refused include', () => reloads('failure') === 2, 20_000, 100);
    expect(udpEchoes(peer, HOST4, 5001)).toBe(true);
  }, 60_000);

  it('debounces a save storm into one reload', async () => {
    const gen = generation();
    for (let i = 0; i < 20; i++) {
      writeFileSync(join(policies.dir, 'ports.seg'), i === 19 ? 'ports stream = 5000\n' : `ports stream = ${6000 + i}\n`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await waitFor('the reload after the storm', () => reloads('success') === 4, 20_000, 100);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(reloads('success')).toBe(4);
    expect(reloads('failure')).toBe(2);
    expect(generation()).toBe(gen + 1);
    expect(udpEchoes(peer, HOST4, 5000)).toBe(true);
  }, 60_000);

  it('deploys again on SIGHUP', async () => {
    const gen = generation();
    agent?.child.kill('SIGHUP');
    await waitFor('the SIGHUP reload', () => reloads('success') === 5, 20_000, 100);
    expect(generation()).toBe(gen + 1);
    await logShows(/SIGHUP: reloading every watched deployment/);
  });
});
