// Damaged deployment records, crash points between the switch and the record, lost pins and
// filters nobody recorded: one deployment's trouble never takes the others down, and what segc
// prints matches what the kernel holds. segc runs as a real process; every namespace, pin and
// record goes at the end.
import { spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, copyFileSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentMetrics } from '../../runtime/agent/metrics.ts';
import { DeploymentReader } from '../../runtime/agent/reader.ts';
import { recordPath } from '../../runtime/state.ts';
import { KERNEL_AVAILABLE } from '../support/datapath-harness.ts';
import { createTwoLinkHost, removeDeploymentPins, segc, tcpEchoes, tearDownDeployTest, type PolicyDir } from '../support/deploy-harness.ts';
import { NetnsSandbox, run, type VethPair } from '../support/netns.ts';


interface StatusJson {
  deployments: { name: string; generation: number; kernel: { activeGeneration?: number; inForce?: boolean; error?: string } }[];
  /** Present only when some record is damaged, or some filter unrecorded (cli.md's shape otherwise). */
  damaged?: { name: string; path: string; error: string; hint: string }[];
  unrecorded?: { iface: string; direction: string; progName: string }[];
}

describe.skipIf(!KERNEL_AVAILABLE)('deployment records that are damaged, lost or behind the kernel', () => {
  const sandbox = new NetnsSandbox('records');
  const first = `segct-${process.pid}-rec1`;
  const second = `segct-${process.pid}-rec2`;
  let host: string;
  let peer1: string;
  let peer2: string;
  let link1: VethPair;
  let link2: VethPair;
  let policies: PolicyDir;
  let stateDir: string;
  let ssh: string;
  let telnet: string;
  const servers: ChildProcess[] = [];

  beforeAll(async () => {
    let server: ChildProcess;
    ({ host, peer1, peer2, link1, link2, server, policies, stateDir, ssh, telnet } = await createTwoLinkHost(sandbox, 204));
    servers.push(server);
  }, 60_000);

  afterAll(() => tearDownDeployTest({ host, names: [first, second], stateDir, servers, policies, sandbox }));

  const cli = (args: readonly string[], env?: Record<string, string>) => segc(host, args, { stateDir, ...(env ? { env } : {}) });
  const deploy = (file: string, iface: string, name: string, env?: Record<string, string>) => cli(['deploy', file, '--iface', iface, '--name', name, '--max-rules', '16', '--sessions', '256'], env);
  const status = (): StatusJson => JSON.parse(cli(['status', '--json']).stdout) as StatusJson;
  const through = (peer: string, address: string) => ({ ssh: tcpEchoes(peer, address, 22), telnet: tcpEchoes(peer, address, 23) });

  it('deploys two named deployments', () => {
    expect(deploy(ssh, link1.a.name, first).code).toBe(0);
    const r = deploy(telnet, link2.a.name, second);
    expect(r.code, r.stderr).toBe(0);
    expect(through(peer1, '10.204.1.1')).toEqual({ ssh: true, telnet: false });
  });

  const SHAPES: readonly (readonly [string, (path: string) => void])[] = [
    ['empty', (p) => writeFileSync(p, '')],
    ['truncated', (p) => writeFileSync(p, readFileSync(p, 'utf8').slice(0, 100))],
    ['null', (p) => writeFileSync(p, 'null\n')],
    ['garbage', (p) => writeFileSync(p, Buffer.from([0x7b, 0xff, 0x00, 0x13, 0x37]))],
    ['a valid header with an empty current', (p) => writeFileSync(p, JSON.stringify({ format: 'segc-deployment', version: 1, current: {}, previous: null }))],
    ['a symbolic link', (p) => {
      copyFileSync(p, `${p}.elsewhere`);
      rmSync(p);
      symlinkSync(`${p}.elsewhere`, p);
    }],
  ];

  it('keeps every other deployment working while one record is damaged, in each shape', () => {
    const path = recordPath(stateDir, second);
    const good = readFileSync(path);
    const reader = new DeploymentReader(stateDir);
    const metrics = new AgentMetrics(reader);
    let redeploys = 0;
    for (const [shape, damage] of SHAPES) {
      damage(path);
      // The other deployment deploys (twice: a new generation each time), shows and is scraped.
      const again = deploy(redeploys++ % 2 === 0 ? telnet : ssh, link1.a.name, first);
      expect(again.code, `${shape}: ${again.stderr}`).toBe(0);
      const s = status();
      expect(s.deployments.map((d) => d.name), shape).toEqual([first]);
      expect(s.deployments[0]?.kernel.inForce, shape).toBe(true);
      expect(s.damaged, shape).toMatchObject([{ name: second, path }]);
      expect(s.damaged?.[0]?.hint, shape).toMatch(new RegExp(`segc deploy --name ${second}`));
      const human = cli(['status']);
      expect(human.code, shape).toBe(0);
      expect(human.stdout, shape).toMatch(new RegExp(`${second}: DAMAGED RECORD ${path}`));
      // Asked for by name: an environment error with the file and the repair, never a bug.
      const one = cli(['status', '--name', second]);
      expect(one.code, shape).toBe(2);
      expect(one.stderr, shape).toContain(path);
      expect(one.stderr, shape).toMatch(/hint: deploy/);
      expect(one.stderr, shape).not.toMatch(/internal error|bug in segc/);
      const snapshot = metrics.refresh();
      expect(snapshot.deployments.map((d) => d.name), shape).toEqual([first]);
      expect(snapshot.damaged.map((d) => d.name), shape).toEqual([second]);
      // The damaged one keeps enforcing: telnet only on its interface.
      expect(through(peer2, '10.204.2.1'), shape).toEqual({ ssh: false, telnet: true });
      rmSync(path, { force: true });
      rmSync(`${path}.elsewhere`, { force: true });
      writeFileSync(path, good);
    }
  }, 180_000);

  it('exports the damaged record as segc_deployment_record_errors', async () => {
    const path = recordPath(stateDir, second);
    const good = readFileSync(path);
    writeFileSync(path, '');
    try {
      const metrics = new AgentMetrics(new DeploymentReader(stateDir));
      const text = await metrics.scrape();
      expect(text).toMatch(new RegExp(`segc_deployment_record_errors\\{deployment="${second}"\\} 1`));
      expect(text).toMatch(new RegExp(`segc_deployments 1`));
    } finally {
      writeFileSync(path, good);
    }
  });

  it('repairs a damaged record by deploying that deployment again, and says what was lost', () => {
    const path = recordPath(stateDir, second);
    writeFileSync(path, JSON.stringify({ format: 'segc-deployment', version: 1, current: {}, previous: null }));
    const r = deploy(telnet, link2.a.name, second);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr + r.stdout).toMatch(/damaged.*replaced/);
    const s = status();
    expect(s.damaged).toBeUndefined();
    expect(s.deployments.find((d) => d.name === second)?.kernel.inForce).toBe(true);
    expect(through(peer2, '10.204.2.1')).toEqual({ ssh: false, telnet: true });
  });

  it('prints an outcome that matches the kernel at each failure between the switch and the record', () => {
    const before = status().deployments.find((d) => d.name === first);
    const held = through(peer1, '10.204.1.1');
    for (const step of ['switch', 'attach', 'verify', 'record']) {
      const r = deploy(ssh, link1.a.name, first, { SEGC_TEST_FAIL_AT: step });
      expect(r.code, `${step}: ${r.stderr}`).toBe(2);
      expect(r.stderr, step).toMatch(/the previous policy stays in force/);
      expect(r.stderr, step).not.toMatch(/internal error/);
      const now = status().deployments.find((d) => d.name === first);
      expect(now, step).toMatchObject({ generation: before?.generation, kernel: { activeGeneration: before?.generation, inForce: true } });
      expect(through(peer1, '10.204.1.1'), step).toEqual(held);
    }
  }, 120_000);

  it('after a crash between the switch and the record, status says the kernel is ahead; the next deploy catches up and sweeps the temporary record', () => {
    const recorded = status().deployments.find((d) => d.name === first)?.generation ?? 0;
    // The policy that is not in force now, so the crash visibly switches.
    const other = through(peer1, '10.204.1.1').ssh ? telnet : ssh;
    const crashed = deploy(other, link1.a.name, first, { SEGC_TEST_FAIL_AT: 'crash-switched' });
    expect(crashed.signal).toBe('SIGKILL');
    const after = status().deployments.find((d) => d.name === first);
    expect(after?.generation).toBe(recorded);
    expect(after?.kernel.inForce).toBe(false);
    expect(after?.kernel.activeGeneration).toBeGreaterThan(recorded);
    expect(cli(['status']).stdout).toMatch(/NOT the recorded/);
    // A record write killed half-way leaves its temporary file; the next lock holder removes it.
    writeFileSync(`${recordPath(stateDir, first)}.4242`, '{"format":"segc-dep');
    const r = deploy(other, link1.a.name, first);
    expect(r.code, r.stderr).toBe(0);
    expect(status().deployments.find((d) => d.name === first)?.kernel.inForce).toBe(true);
    expect(readdirSync(join(stateDir, first))).toEqual(['deployment.json']);
  }, 60_000);

  it('undeploys a deployment whose pins are gone: no filter of it stays attached', () => {
    removeDeploymentPins(second);
    const seen = status().deployments.find((d) => d.name === second);
    expect(seen?.kernel.error).toBeDefined();
    const r = cli(['undeploy', '--name', second]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`detached from ${link2.a.name}`));
    expect(run('ip', ['netns', 'exec', host, 'tc', 'filter', 'show', 'dev', link2.a.name, 'ingress'])).not.toMatch(/seg_ingress/);
    expect(run('ip', ['netns', 'exec', host, 'tc', 'filter', 'show', 'dev', link2.a.name, 'egress'])).not.toMatch(/seg_egress/);
    expect(through(peer2, '10.204.2.1')).toEqual({ ssh: true, telnet: true });
  });

  it('shows segc filters enforcing with no record and no pins', () => {
    expect(deploy(telnet, link2.a.name, second).code).toBe(0);
    removeDeploymentPins(second);
    rmSync(join(stateDir, second), { recursive: true, force: true });
    const s = status();
    expect(s.unrecorded).toEqual(expect.arrayContaining([expect.objectContaining({ iface: link2.a.name, direction: 'ingress', progName: 'seg_ingress' }), expect.objectContaining({ iface: link2.a.name, direction: 'egress', progName: 'seg_egress' })]));
    expect(cli(['status']).stdout).toMatch(new RegExp(`unrecorded: ${link2.a.name} ingress runs segc program`));
    run('ip', ['netns', 'exec', host, 'tc', 'filter', 'del', 'dev', link2.a.name, 'ingress']);
    run('ip', ['netns', 'exec', host, 'tc', 'filter', 'del', 'dev', link2.a.name, 'egress']);
    expect(status().unrecorded).toBeUndefined();
  });

  it('tells a user without root that the host is in the way (exit 2, a fix), never an internal error', () => {
    expect(deploy(ssh, link1.a.name, first).code).toBe(0);
    for (const mode of [0o700, 0o755]) {
      chmodSync(stateDir, mode);
      for (const args of [['status'], ['status', '--name', first], ['stats', '--name', first]]) {
        const r = unprivileged(host, stateDir, args);
        expect(r.status, `${mode.toString(8)} ${args.join(' ')}: ${r.stderr}`).toBe(2);
        expect(r.stderr).toMatch(/^error: .*\nhint: .*(root|sudo)/m);
        expect(r.stderr).not.toMatch(/internal error|bug in segc|\n\s+at /);
      }
    }
    chmodSync(stateDir, 0o700);
  });

  it('reports an interface that vanished after it was attached, and status says it is absent', () => {
    const extra = sandbox.createVethPair(host, peer2, {});
    const r = cli(['deploy', ssh, '--iface', link1.a.name, '--iface', extra.a.name, '--name', first], { SEGC_TEST_FAIL_AT: 'vanish' });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`warning +interface '${extra.a.name}' vanished after it was attached`));
    const s = JSON.parse(cli(['status', '--json', '--name', first]).stdout) as { deployments: { kernel: { absent: string[]; missing: string[] } }[] };
    expect(s.deployments[0]?.kernel).toMatchObject({ absent: [extra.a.name], missing: [] });
    expect(cli(['status', '--name', first]).stdout).toMatch(new RegExp(`absent +${extra.a.name} \\(no such interface`));
  });
});

/** `segc ARGS` as nobody (uid 65534, no capabilities) inside `netns`. */
function unprivileged(netns: string, stateDir: string, args: readonly string[]) {
  const script = join(import.meta.dirname, '..', 'support', 'segc-source.ts');
  return spawnSync('nsenter', [`--net=/var/run/netns/${netns}`, '--', 'setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', process.execPath, '--no-warnings', script, ...args], {
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, NO_COLOR: '1', SEGC_STATE_DIR: stateDir },
  });
}
