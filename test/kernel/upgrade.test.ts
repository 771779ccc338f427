// Upgrading a live deployment in place, with real traffic: a deployment made by the segc of a
// fixed earlier commit (9463f29, the last without data-path versions: a git worktree of it,
// its classifier built by the test) is redeployed by this segc while long-lived TCP
// connections (inbound, and opened by the host) and a UDP stream run through it. Also: an
// upgrade that fails half-way, a data path from the future, and a resize by redeploy.
import type { ChildProcess } from 'node:child_process';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentMetrics } from '../../runtime/agent/metrics.ts';
import { DeploymentReader } from '../../runtime/agent/reader.ts';
import { DATAPATH_VERSION } from '../../runtime/datapath/version.ts';
import { KERNEL_AVAILABLE } from '../support/datapath-harness.ts';
import { createPolicyDir, segc, type PolicyDir, type SegcRun, startEchoServers, startTcpStream, startUdpStream, tcpEchoes, tearDownDeployTest, udpEchoes, type UdpStream } from '../support/deploy-harness.ts';
import { NetnsSandbox, type VethPair } from '../support/netns.ts';

const OLD_COMMIT = '9463f29';
const ROOT = process.cwd();
const HOST4 = '10.203.0.1';
const PEER4 = '10.203.0.2';

/** Default deny both ways: ssh and the stream in, the peer's 8080 out; replies only by session. */
const POLICY = `
policy ingress default deny {
  100 ssh:     allow tcp from any to any port 22
  110 stream:  allow udp from any to any port 5000
}
policy egress default deny {
  100 web-out: allow tcp from any to any port 8080
}
`;

function hasOldCommit(): boolean {
  try {
    execFileSync('git', ['-C', ROOT, 'cat-file', '-e', `${OLD_COMMIT}^{commit}`], { stdio: 'ignore' });
    execFileSync('clang', ['--version'], { stdio: 'ignore' });
    return existsSync(join(ROOT, 'node_modules'));
  } catch {
    return false;
  }
}

const OLD_AVAILABLE = KERNEL_AVAILABLE && hasOldCommit();
if (KERNEL_AVAILABLE && !OLD_AVAILABLE) process.stderr.write(`upgrade.test.ts: skipped: needs git history with ${OLD_COMMIT}, clang and node_modules\n`);

/** A worktree of the old commit with its classifier built (npm packages shared with this checkout). */
function buildOldSegc(dir: string): void {
  execFileSync('git', ['-C', ROOT, 'worktree', 'add', '--detach', '--force', dir, OLD_COMMIT], { stdio: 'ignore' });
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  execFileSync('mkdir', ['-p', join(dir, 'bpf', 'build')]);
  const arch = execFileSync('uname', ['-m'], { encoding: 'utf8' }).trim();
  execFileSync('clang', ['-g', '-O2', '-Wall', '-target', 'bpf', '-D__TARGET_ARCH_x86', `-I/usr/include/${arch}-linux-gnu`, `-I${join(dir, 'bpf')}`, '-c', join(dir, 'bpf', 'segc.bpf.c'), '-o', join(dir, 'bpf', 'build', 'segc.bpf.o')], { stdio: 'inherit' });
}

/** Prometheus text: the sum of a metric's samples whose labels contain `match`. */
function sample(text: string, metric: string, match: string): number {
  let sum = 0;
  for (const line of text.split('\n')) if (line.startsWith(`${metric}{`) && line.includes(match)) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  return sum;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The numbers echoed are 0..n-1 with none missing: nothing was lost on the way. */
function contiguous(echoed: readonly number[]): boolean {
  return echoed.every((n, i) => n === i);
}

describe.skipIf(!OLD_AVAILABLE)(`upgrading a deployment made by segc ${OLD_COMMIT} in place, with traffic running`, () => {
  const sandbox = new NetnsSandbox('upg');
  const name = `segct-${process.pid}-upg`;
  let host: string;
  let peer: string;
  let link: VethPair;
  let policies: PolicyDir;
  let stateDir: string;
  let oldDir: string;
  let policy: string;
  const servers: ChildProcess[] = [];

  const oldSegc = (args: readonly string[]): SegcRun => {
    const r = spawnSync('nsenter', [`--net=/var/run/netns/${host}`, '--', process.execPath, '--no-warnings', join(oldDir, 'test', 'support', 'segc-source.ts'), ...args], {
      encoding: 'utf8',
      timeout: 60_000,
      env: { ...process.env, NO_COLOR: '1', SEGC_STATE_DIR: stateDir },
    });
    return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
  };
  /** `segc ARGS` (this build) without blocking the event loop: the streams are read meanwhile. */
  const segcAsync = (args: readonly string[], env: Record<string, string> = {}): Promise<SegcRun> =>
    new Promise((resolve) => {
      const child = spawn('nsenter', [`--net=/var/run/netns/${host}`, '--', process.execPath, '--no-warnings', join(ROOT, 'test', 'support', 'segc-source.ts'), ...args], { env: { ...process.env, NO_COLOR: '1', SEGC_STATE_DIR: stateDir, ...env } });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.once('exit', (code, signal) => resolve({ code, signal, stdout, stderr }));
    });
  const deployArgs = (extra: readonly string[] = []) => ['deploy', policy, '--iface', link.a.name, '--name', name, '--max-rules', '64', '--sessions', '1024', ...extra];
  const statusOf = () => JSON.parse(segc(host, ['status', '--name', name, '--json'], { stateDir }).stdout) as { deployments: { attachments: { progId: number }[]; kernel: { datapathVersion: number; sessions: { entries: number; capacity: number } } }[] };
  const sessionPorts = () => {
    const r = segc(host, ['sessions', '--name', name, '--json'], { stateDir });
    expect(r.code, r.stderr).toBe(0);
    return (JSON.parse(r.stdout) as { sessions: { a: string; b: string; portA: number; portB: number }[] }).sessions.map((s) => `${s.a}:${s.portA} ${s.b}:${s.portB}`).join('\n');
  };

  beforeAll(async () => {
    oldDir = mkdtempSync(join(tmpdir(), 'segct-old-'));
    rmSync(oldDir, { recursive: true, force: true });
    buildOldSegc(oldDir);
    host = sandbox.createNetns('host');
    peer = sandbox.createNetns('peer');
    link = sandbox.createVethPair(host, peer, { a: { ipv4: `${HOST4}/24` }, b: { ipv4: `${PEER4}/24` } });
    servers.push(await startEchoServers(host, [22], [5000]));
    servers.push(await startEchoServers(peer, [8080], []));
    policies = createPolicyDir();
    stateDir = mkdtempSync(join(tmpdir(), 'segct-state-'));
    policy = policies.write('host.seg', POLICY);
  }, 180_000);

  afterAll(() => {
    try {
      tearDownDeployTest({ host, names: [name], stateDir, servers, policies, sandbox });
    } finally {
      if (oldDir !== undefined) spawnSync('git', ['-C', ROOT, 'worktree', 'remove', '--force', oldDir]);
    }
  });

  it('deploys the default-deny policy with the old segc (a data path without a version record)', () => {
    const r = oldSegc(deployArgs());
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(join('/sys/fs/bpf/segc', name, 'seg_info'))).toBe(false);
    expect(statusOf().deployments[0]?.kernel.datapathVersion).toBe(1);
  }, 60_000);

  it('upgrades it: a failed attempt changes nothing; then no connection breaks, no datagram is lost, sessions and counters carry over', async () => {
    // The baseline: the same UDP stream without an upgrade.
    const baseline = startUdpStream(peer, HOST4, 5000, 2_000);
    const baselineSent = await baseline.done;
    const baselineLost = baselineSent - baseline.echoed().length;
    expect(contiguous(baseline.echoed())).toBe(true);

    const inbound = startTcpStream(peer, HOST4, 22, 30_000);
    const outbound = startTcpStream(host, PEER4, 8080, 30_000);
    const udp: UdpStream = startUdpStream(peer, HOST4, 5000, 30_000);
    const counts = () => ({ inbound: inbound.echoed().length, outbound: outbound.echoed().length, udp: udp.echoed().length });
    await sleep(2_000);
    const metrics = new AgentMetrics(new DeploymentReader(stateDir), { ruleMetrics: { kind: 'hit' } });
    const scrape = async () => {
      const text = await metrics.scrape();
      return { ssh: sample(text, 'segc_rule_packets_total', 'rule="ssh"'), allow: sample(text, 'segc_packets_total', 'verdict="allow"') };
    };
    const before = await scrape();
    const progsBefore = statusOf().deployments[0]?.attachments.map((a) => a.progId);
    const countsBefore = counts();
    expect(countsBefore.inbound).toBeGreaterThan(0);
    expect(countsBefore.outbound).toBeGreaterThan(0);
    const denied = () => {
      const r = segc(host, ['stats', '--name', name, '--json'], { stateDir });
      const c = (JSON.parse(r.stdout) as { counters: { counter: string; packets: number }[] }).counters;
      return c.find((x) => x.counter === 'deny')?.packets ?? -1;
    };

    // Half-way: the new maps are made and filled, then the upgrade fails.
    const deniedBefore = denied();
    const failed = await segcAsync(deployArgs(), { SEGC_TEST_FAIL_AT: 'upgrade' });
    expect(failed.code, failed.stderr).toBe(2);
    expect(failed.stderr).toMatch(/injected failure at step 'upgrade'/);
    const afterFailure = statusOf().deployments[0];
    expect(afterFailure?.kernel.datapathVersion).toBe(1);
    expect(afterFailure?.attachments.map((a) => a.progId)).toEqual(progsBefore);
    expect(existsSync(join('/sys/fs/bpf/segc', name, 'seg_info'))).toBe(false);
    expect(sessionPorts()).toMatch(/:22\b/);
    const countsAfterFailure = counts();
    expect(countsAfterFailure.inbound).toBeGreaterThan(countsBefore.inbound);

    // The upgrade, the streams read meanwhile.
    const atStart = counts();
    const upgraded = await segcAsync(deployArgs());
    expect(upgraded.code, upgraded.stderr).toBe(0);
    expect(upgraded.stdout).toMatch(new RegExp(`upgraded +data path in place, version 1 -> ${DATAPATH_VERSION}`));
    const afterUpgrade = counts();
    // Not one packet of the flows was dropped by the data path, old or new, through both attempts.
    expect(denied()).toBe(deniedBefore);
    const probeAfterUpgrade = { ssh: tcpEchoes(peer, HOST4, 22), udp: udpEchoes(peer, HOST4, 5000), telnet: tcpEchoes(peer, HOST4, 23) };
    expect(probeAfterUpgrade).toEqual({ ssh: true, udp: true, telnet: false });
    await sleep(1_500);
    const after = await scrape();

    const [inSent, outSent, udpSent] = await Promise.all([inbound.done, outbound.done, udp.done]);
    const echoedIn = inbound.echoed();
    const echoedOut = outbound.echoed();
    const echoedUdp = udp.echoed();
    const udpLost = udpSent - echoedUdp.length;
    process.stdout.write(
      `upgrade figures: echoed lines (inbound TCP / host-opened TCP / UDP) ${JSON.stringify(atStart)} when the upgrade began, ${JSON.stringify(afterUpgrade)} when it ended; ` +
        `in the end inbound TCP ${echoedIn.length}/${inSent}, host-opened TCP ${echoedOut.length}/${outSent}, UDP ${echoedUdp.length}/${udpSent} (not echoed ${udpLost}; ` +
        `baseline without upgrade: ${baselineLost} of ${baselineSent}); packets denied by the data path during both attempts: ${denied() - deniedBefore - 2}\n`,
    );
    // No connection broke: every line came back in order, and lines kept coming after the upgrade.
    for (const [echoed, sent, atUpgrade] of [
      [echoedIn, inSent, afterUpgrade.inbound],
      [echoedOut, outSent, afterUpgrade.outbound],
    ] as const) {
      expect(contiguous(echoed)).toBe(true);
      expect(echoed.length).toBeGreaterThan(atUpgrade);
      expect(sent - echoed.length).toBeLessThanOrEqual(5);
    }
    expect(contiguous(echoedUdp)).toBe(true);
    expect(echoedUdp.length).toBeGreaterThan(afterUpgrade.udp);

    const s = statusOf().deployments[0];
    expect(s?.kernel.datapathVersion).toBe(DATAPATH_VERSION);
    expect(s?.attachments.map((a) => a.progId)).not.toEqual(progsBefore);
    expect(existsSync(join('/sys/fs/bpf/segc', name, 'seg_info'))).toBe(true);
    const human = segc(host, ['status', '--name', name], { stateDir });
    expect(human.stdout).toMatch(new RegExp(`data path +version ${DATAPATH_VERSION}\\b`));
    // Sessions from before are in the new data path (the map the pins now name).
    expect(sessionPorts()).toMatch(/:22\b/);
    expect(sessionPorts()).toMatch(/:8080\b/);
    // Counters only grow: the agent's per-rule and verdict totals.
    expect(after.ssh).toBeGreaterThanOrEqual(before.ssh);
    expect(after.allow).toBeGreaterThan(before.allow);
  }, 180_000);

  it('refuses a data path from the future, changing nothing', () => {
    const pin = join('/sys/fs/bpf/segc', name, 'seg_info');
    const value = (version: number) => [version, 0, 0, 0].map(String);
    const lineage = execFileSync('bpftool', ['map', 'lookup', 'pinned', pin, 'key', '0', '0', '0', '0', '-j'], { encoding: 'utf8' });
    const raw = (JSON.parse(lineage) as { value: string[] }).value.map((b) => String(Number(b)));
    execFileSync('bpftool', ['map', 'update', 'pinned', pin, 'key', '0', '0', '0', '0', 'value', ...value(DATAPATH_VERSION + 1), ...raw.slice(4)]);
    try {
      const r = segc(host, deployArgs(), { stateDir });
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(new RegExp(`data-path version ${DATAPATH_VERSION + 1}, newer than this segc's \\(${DATAPATH_VERSION}\\); nothing was changed`));
      expect(statusOf().deployments[0]?.kernel.datapathVersion).toBe(DATAPATH_VERSION + 1);
    } finally {
      execFileSync('bpftool', ['map', 'update', 'pinned', pin, 'key', '0', '0', '0', '0', 'value', ...raw]);
    }
  }, 60_000);

  it('resizes the session table by redeploy, keeping the sessions and the connection', async () => {
    const inbound = startTcpStream(peer, HOST4, 22, 25_000);
    await sleep(2_000);
    const before = statusOf().deployments[0]?.kernel.sessions;
    expect(before?.capacity).toBe(1024);
    const r = await segcAsync(deployArgs(['--sessions', '2048']));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/--sessions 1024 -> 2048/);
    expect(r.stdout).toMatch(/migrated \d+ sessions/);
    const at = inbound.echoed().length;
    const after = statusOf().deployments[0]?.kernel.sessions;
    expect(after?.capacity).toBe(2048);
    expect(after?.entries).toBeGreaterThanOrEqual(1);
    expect(sessionPorts()).toMatch(/:22\b/);
    const sent = await inbound.done;
    const echoed = inbound.echoed();
    process.stdout.write(`resize figures: TCP ${echoed.length}/${sent} echoed, ${at} when the resize ended; ${r.stdout.split('\n').find((l) => l.includes('upgraded'))?.trim()}\n`);
    expect(contiguous(echoed)).toBe(true);
    expect(echoed.length).toBeGreaterThan(at);
    expect(sent - echoed.length).toBeLessThanOrEqual(5);
  }, 90_000);
});
