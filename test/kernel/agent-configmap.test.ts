// Hot reload of a policy mounted from a Kubernetes ConfigMap: the kubelet never writes a key's
// file in place; it writes a new timestamped folder, points a `..data_tmp` link at it, renames
// that link over `..data` and removes the old folder (each key is a link `KEY -> ..data/KEY`).
// This test makes that layout and those exact steps on a running `segc agent --watch` deploying
// into a namespace, for a watched folder (as the DaemonSet in ops/kubernetes runs it) and a
// watched file: a new policy is deployed once, a broken one is refused and counted, and the
// old one keeps enforcing. Every namespace, pin, record and process is removed by name/pid.
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KERNEL_AVAILABLE } from '../support/datapath-harness.ts';
import { httpGet, parseMetrics, startAgent, valueOf, type Sample, type Started } from '../support/agent-harness.ts';
import { createPolicyDir, type PolicyDir, segc, startEchoServers, tcpEchoes, tearDownDeployTest } from '../support/deploy-harness.ts';
import { NetnsSandbox, waitFor } from '../support/netns.ts';

const AGENT = 'http://127.0.0.1:9465';
const allowPorts = (ports: string) => `include "common.seg"\n\npolicy ingress default deny {\n  100 web: allow tcp from any to any port ${ports}\n  200 admin: allow tcp from admins to any port 22\n}\n`;
const COMMON = 'set admins = 10.0.0.0/8\n';
const BROKEN = 'include "common.seg"\n\npolicy ingress default deny {\n  100 web: allow tcp from nowhere to any port 80\n}\n';

/** A folder laid out as a kubelet mounts a ConfigMap, updated as a kubelet updates it. */
class ConfigMapVolume {
  #generation = 0;
  #current: string | undefined;
  readonly dir: string;
  constructor(dir: string) {
    this.dir = dir;
    mkdirSync(dir, { recursive: true });
  }

  /** Writes every key to a new `..<timestamp>` folder and swaps `..data` to it atomically. */
  update(data: Readonly<Record<string, string>>): void {
    const folder = `..2026_12_06_00_00_00.${String(++this.#generation).padStart(9, '0')}`;
    mkdirSync(join(this.dir, folder));
    for (const [key, text] of Object.entries(data)) writeFileSync(join(this.dir, folder, key), text);
    symlinkSync(folder, join(this.dir, '..data_tmp'));
    renameSync(join(this.dir, '..data_tmp'), join(this.dir, '..data'));
    for (const key of Object.keys(data)) {
      try {
        symlinkSync(join('..data', key), join(this.dir, key));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
    }
    if (this.#current !== undefined) rmSync(join(this.dir, this.#current), { recursive: true, force: true });
    this.#current = folder;
  }
}

describe.skipIf(!KERNEL_AVAILABLE)('segc agent --watch on a ConfigMap volume (the ..data swap)', () => {
  const sandbox = new NetnsSandbox('cm');
  const byFolder = `segct-${process.pid}-cmdir`;
  const byFile = `segct-${process.pid}-cmfile`;
  let host = '';
  let peer = '';
  let policies: PolicyDir | undefined;
  let stateDir = '';
  let agent: Started | undefined;
  const servers: ChildProcess[] = [];
  let volume: ConfigMapVolume;

  const scrape = (): Sample[] => {
    const body = httpGet(host, `${AGENT}/metrics`);
    if (body === undefined) throw new Error(`no scrape; agent log:\n${agent?.output() ?? ''}`);
    return parseMetrics(body);
  };
  const reloads = (name: string, result: 'success' | 'failure') => valueOf(scrape(), 'segc_reloads_total', { deployment: name, result });
  const generation = (name: string) => valueOf(scrape(), 'segc_policy_generation', { deployment: name });
  // Both deployments, through their own interface and address.
  const opens = (address: string, port: number) => tcpEchoes(peer, address, port, 800);

  beforeAll(async () => {
    host = sandbox.createNetns('host');
    peer = sandbox.createNetns('peer');
    const one = sandbox.createVethPair(host, peer, { a: { ipv4: '10.218.1.1/24' }, b: { ipv4: '10.218.1.2/24' } });
    const two = sandbox.createVethPair(host, peer, { a: { ipv4: '10.218.2.1/24' }, b: { ipv4: '10.218.2.2/24' } });
    servers.push(await startEchoServers(host, [80, 443, 8080], []));
    policies = createPolicyDir();
    stateDir = mkdtempSync(join(tmpdir(), 'segct-state-'));
    volume = new ConfigMapVolume(join(policies.dir, 'policy'));
    volume.update({ 'node.seg': allowPorts('80'), 'common.seg': COMMON });
    const config = policies.write(
      'agent.json',
      JSON.stringify({
        listen: '127.0.0.1:9465',
        debounceMs: 200,
        // Each check reads what the reload before it did, never an earlier collection's text.
        scrapeMaxAgeMs: 0,
        deployments: [
          { name: byFolder, files: [volume.dir], interfaces: [one.a.name] },
          { name: byFile, files: [join(volume.dir, 'node.seg')], interfaces: [two.a.name] },
        ],
      }),
    );
    agent = startAgent(host, ['--config', config], stateDir);
    await waitFor('the agent to serve /metrics', () => httpGet(host, `${AGENT}/metrics`, 2_000) !== undefined, 60_000, 200);
  }, 90_000);

  afterAll(async () => {
    try {
      await agent?.stop();
    } finally {
      tearDownDeployTest({ host, names: [byFolder, byFile], stateDir, servers, policies, sandbox });
    }
  }, 60_000);

  it('deploys the mounted policy at start, through the links', () => {
    for (const name of [byFolder, byFile]) {
      expect(reloads(name, 'success'), agent?.output()).toBe(1);
      const status = JSON.parse(segc(host, ['status', '--name', name, '--json'], { stateDir }).stdout) as { deployments: { files: string[] }[] };
      expect(status.deployments[0]?.files).toContain(join(volume.dir, 'node.seg'));
    }
    for (const address of ['10.218.1.1', '10.218.2.1']) {
      expect(opens(address, 80)).toBe(true);
      expect(opens(address, 443)).toBe(false);
    }
  });

  it('deploys a new ConfigMap version once, after the ..data swap', async () => {
    const before = [generation(byFolder), generation(byFile)];
    volume.update({ 'node.seg': allowPorts('{ 80, 443 }'), 'common.seg': COMMON });
    await waitFor('both reloads', () => reloads(byFolder, 'success') === 2 && reloads(byFile, 'success') === 2, 20_000, 100);
    // The swap's several events (new folder, link, rename, removal) make one deploy each.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect([reloads(byFolder, 'success'), reloads(byFile, 'success')]).toEqual([2, 2]);
    expect([generation(byFolder), generation(byFile)]).toEqual(before.map((g) => g + 1));
    for (const address of ['10.218.1.1', '10.218.2.1']) expect(opens(address, 443)).toBe(true);
  }, 40_000);

  it('refuses a broken version and counts it; the old policy keeps enforcing', async () => {
    const before = [generation(byFolder), generation(byFile)];
    volume.update({ 'node.seg': BROKEN, 'common.seg': COMMON });
    await waitFor('both refusals', () => reloads(byFolder, 'failure') === 1 && reloads(byFile, 'failure') === 1, 20_000, 100);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect([reloads(byFolder, 'failure'), reloads(byFile, 'failure')]).toEqual([1, 1]);
    expect([generation(byFolder), generation(byFile)]).toEqual(before);
    expect(agent?.output()).toMatch(/the policy does not check; the deployed policy stays in force\n.*unknown address set 'nowhere'/);
    for (const address of ['10.218.1.1', '10.218.2.1']) {
      expect(opens(address, 443)).toBe(true);
      expect(opens(address, 8080)).toBe(false);
    }
  }, 40_000);

  it('deploys a fixed version after the broken one', async () => {
    volume.update({ 'node.seg': allowPorts('8080'), 'common.seg': COMMON });
    await waitFor('the fixed version', () => reloads(byFolder, 'success') === 3 && reloads(byFile, 'success') === 3, 20_000, 100);
    for (const address of ['10.218.1.1', '10.218.2.1']) {
      expect(opens(address, 8080)).toBe(true);
      expect(opens(address, 443)).toBe(false);
    }
  }, 40_000);
});
