// Several deployments side by side (by --name, on different interfaces), what keeps them apart,
// the deploy lock, a non-root user, `explain --deployed` confirmed by the loaded program, and
// `doctor` on this host. segc runs as a real process; every namespace, pin and record goes.
import { spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acquireLock } from '../../runtime/lock.ts';
import { KERNEL_AVAILABLE } from '../support/datapath-harness.ts';
import { createTwoLinkHost, removeDeploymentPins, segc, tcpEchoes, tearDownDeployTest, type PolicyDir } from '../support/deploy-harness.ts';
import { NetnsSandbox, type VethPair } from '../support/netns.ts';


describe.skipIf(!KERNEL_AVAILABLE)('several deployments on one host', () => {
  const sandbox = new NetnsSandbox('names');
  const first = `segct-${process.pid}-one`;
  const second = `segct-${process.pid}-two`;
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
    ({ host, peer1, peer2, link1, link2, server, policies, stateDir, ssh, telnet } = await createTwoLinkHost(sandbox, 203));
    servers.push(server);
  }, 60_000);

  afterAll(() => tearDownDeployTest({ host, names: [first, second], stateDir, servers, policies, sandbox }));

  const through = (peer: string, address: string) => ({ ssh: tcpEchoes(peer, address, 22), telnet: tcpEchoes(peer, address, 23) });

  it('enforces two named deployments, each on its own interface', () => {
    const one = segc(host, ['deploy', ssh, '--iface', link1.a.name, '--name', first, '--max-rules', '16', '--sessions', '256'], { stateDir });
    expect(one.code, one.stderr).toBe(0);
    const two = segc(host, ['deploy', telnet, '--iface', link2.a.name, '--name', second, '--max-rules', '16', '--sessions', '256', '--json'], { stateDir });
    expect(two.code, two.stderr).toBe(0);
    expect(JSON.parse(two.stdout)).toMatchObject({ name: second, generation: 1, loaded: true, attachments: [{ iface: link2.a.name, direction: 'ingress' }, { iface: link2.a.name, direction: 'egress' }] });
    expect(through(peer1, '10.203.1.1')).toEqual({ ssh: true, telnet: false });
    expect(through(peer2, '10.203.2.1')).toEqual({ ssh: false, telnet: true });
    const status = JSON.parse(segc(host, ['status', '--json'], { stateDir }).stdout) as { deployments: { name: string }[] };
    expect(status.deployments.map((d) => d.name)).toEqual([first, second]);
  });

  it('refuses to put a second deployment on an interface another one holds', () => {
    const r = segc(host, ['deploy', telnet, '--iface', link1.a.name, '--name', second], { stateDir });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`carries deployment '${first}'`));
    expect(through(peer1, '10.203.1.1')).toEqual({ ssh: true, telnet: false });
  });

  it('waits for the deploy lock and gives up with a message naming its holder', () => {
    // A lock file alone holds nothing (flock); a live holder does.
    writeFileSync(join(stateDir, '.lock'), `${process.pid}\n`);
    const lock = acquireLock(stateDir, { timeoutMs: 5_000 });
    try {
      const r = segc(host, ['deploy', telnet, '--iface', link1.a.name, '--name', first], { stateDir, env: { SEGC_LOCK_TIMEOUT_MS: '300' } });
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(new RegExp(`pid ${process.pid}`));
    } finally {
      lock.release();
    }
    expect(through(peer1, '10.203.1.1')).toEqual({ ssh: true, telnet: false });
  });

  it('refuses a user without privileges (exit 2, no stack trace), leaving the policy in force', () => {
    const r = segc(host, ['deploy', telnet, '--iface', link1.a.name, '--name', first], { stateDir });
    expect(r.code).toBe(0);
    // Back to ssh as a user without root, which must fail and change nothing.
    chmodSync(policies.dir, 0o755);
    const denied = segcUnprivileged(host, stateDir, ['deploy', ssh, '--iface', link1.a.name, '--name', first]);
    expect(denied.status).toBe(2);
    expect(denied.stderr).toMatch(/root/);
    expect(denied.stderr).not.toMatch(/\n\s+at /);
    expect(through(peer1, '10.203.1.1')).toEqual({ ssh: false, telnet: true });
  });

  it('explains a packet against a deployment and the loaded program agrees', () => {
    const r = segc(host, ['explain', '--deployed', second, '--packet', 'tcp 10.203.2.2:40000 -> 10.203.2.1:23', '--json'], { stateDir });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ verdict: 'allow', rule: { name: 'telnet', line: 2 }, deployment: second, kernel: { verdict: 'allow', agrees: true } });
    const denied = segc(host, ['explain', '--deployed', second, '--packet', 'tcp 10.203.2.2:40000 -> 10.203.2.1:22'], { stateDir });
    expect(denied.code, denied.stderr).toBe(0);
    expect(denied.stdout).toMatch(/kernel +deny: the loaded program agrees/);
  });

  it('lists sessions by port and flushes only the matching ones', () => {
    expect(tcpEchoes(peer2, '10.203.2.1', 23)).toBe(true);
    const list = (port: number) => JSON.parse(segc(host, ['sessions', '--name', second, '--port', String(port), '--json'], { stateDir }).stdout) as { sessions: { portA: number; portB: number; rule: string | null; direction: string }[] };
    const telnetSessions = list(23).sessions;
    expect(telnetSessions.length).toBeGreaterThan(0);
    expect(telnetSessions[0]).toMatchObject({ direction: 'ingress', rule: expect.stringMatching(/^telnet \(.*telnet\.seg:2\)$/) });
    const all = JSON.parse(segc(host, ['sessions', '--name', second, '--json'], { stateDir }).stdout) as { sessions: unknown[] };
    const flushed = segc(host, ['sessions', '--name', second, '--port', '23', '--flush', '--json'], { stateDir });
    expect(flushed.code, flushed.stderr).toBe(0);
    expect(JSON.parse(flushed.stdout)).toEqual({ flushed: telnetSessions.length });
    expect(list(23).sessions).toEqual([]);
    expect((JSON.parse(segc(host, ['sessions', '--name', second, '--json'], { stateDir }).stdout) as { sessions: unknown[] }).sessions.length).toBe(all.sessions.length - telnetSessions.length);
  });

  it('undeploys one deployment and leaves the other enforcing, even when its record is lost', () => {
    // As after a first deploy that died before writing its record: the filters are found by program.
    rmSync(join(stateDir, first), { recursive: true, force: true });
    const r = segc(host, ['undeploy', '--name', first], { stateDir });
    expect(r.stdout).toMatch(new RegExp(`detached from ${link1.a.name}`));
    expect(r.code, r.stderr).toBe(0);
    expect(through(peer1, '10.203.1.1')).toEqual({ ssh: true, telnet: true });
    expect(through(peer2, '10.203.2.1')).toEqual({ ssh: false, telnet: true });
    const status = JSON.parse(segc(host, ['status', '--json'], { stateDir }).stdout) as { deployments: { name: string; kernel: { inForce: boolean } }[] };
    expect(status.deployments).toMatchObject([{ name: second, kernel: { inForce: true } }]);
  });

  it('survives a first deploy killed half-way: no filter, and the next deploy adopts its pins', () => {
    const third = `segct-${process.pid}-three`;
    try {
      const crashed = segc(host, ['deploy', ssh, '--iface', link1.a.name, '--name', third, '--max-rules', '16', '--sessions', '256'], { stateDir, env: { SEGC_TEST_FAIL_AT: 'crash' } });
      expect(crashed.signal).toBe('SIGKILL');
      expect(through(peer1, '10.203.1.1')).toEqual({ ssh: true, telnet: true });
      expect(sandbox.exec(host, 'tc', ['filter', 'show', 'dev', link1.a.name, 'ingress'])).toBe('');
      const again = segc(host, ['deploy', ssh, '--iface', link1.a.name, '--name', third, '--json'], { stateDir });
      expect(again.code, again.stderr).toBe(0);
      // Adopted, not loaded again; the generation moves past the one the dead run installed.
      expect(JSON.parse(again.stdout)).toMatchObject({ loaded: false, generation: 2 });
      expect(through(peer1, '10.203.1.1')).toEqual({ ssh: true, telnet: false });
      expect(segc(host, ['undeploy', '--name', third], { stateDir }).code).toBe(0);
      expect(through(peer1, '10.203.1.1')).toEqual({ ssh: true, telnet: true });
    } finally {
      removeDeploymentPins(third);
    }
  });

  it('attaches interfaces a redeploy adds and detaches those it drops', () => {
    const both = segc(host, ['deploy', telnet, '--iface', link2.a.name, '--iface', link1.a.name, '--name', second], { stateDir });
    expect(both.code, both.stderr).toBe(0);
    expect(through(peer1, '10.203.1.1')).toEqual({ ssh: false, telnet: true });
    expect(through(peer2, '10.203.2.1')).toEqual({ ssh: false, telnet: true });
    const one = segc(host, ['deploy', telnet, '--iface', link1.a.name, '--name', second], { stateDir });
    expect(one.code, one.stderr).toBe(0);
    expect(one.stdout).toMatch(new RegExp(`detached +${link2.a.name}`));
    expect(through(peer1, '10.203.1.1')).toEqual({ ssh: false, telnet: true });
    expect(through(peer2, '10.203.2.1')).toEqual({ ssh: true, telnet: true });
    const status = JSON.parse(segc(host, ['status', '--name', second, '--json'], { stateDir }).stdout) as { deployments: { attachments: { iface: string }[] }[] };
    expect(status.deployments[0]?.attachments.map((a) => a.iface)).toEqual([link1.a.name, link1.a.name]);
  });

  it('finds this host fit in segc doctor', () => {
    const r = segc(null, ['doctor', '--json'], { stateDir });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as { checks: { name: string; ok: boolean }[] }).checks.map((c) => c.name)).toEqual(
      expect.arrayContaining(['kernel', 'btf', 'privileges', 'bpffs', 'libbpf', 'clsact', 'data path object']),
    );
  });
});

/** Runs segc from source as uid/gid 65534 with no capabilities, inside `netns`. */
function segcUnprivileged(netns: string, stateDir: string, args: readonly string[]) {
  const script = join(import.meta.dirname, '..', 'support', 'segc-source.ts');
  return spawnSync('nsenter', [`--net=/var/run/netns/${netns}`, '--', 'setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', process.execPath, '--no-warnings', script, ...args], {
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, NO_COLOR: '1', SEGC_STATE_DIR: stateDir },
  });
}
