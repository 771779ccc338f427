// Upgrading a live deployment in place, with real traffic: a deployment made by the segc of a
// fixed earlier commit (9463f29, the last without data-path versions: a git worktree of it,
// its classifier built by the test) is redeployed by this segc while long-lived TCP
// connections (inbound, and opened by the host) and a UDP stream run through it. Also: an
// upgrade that fails half-way, a data path from the future, and a resize by redeploy. And a
// deployment of data-path version 2 (371f4ba) upgraded to this version with established TCP
// connections, whose sessions (no TCP windows in version 2) then learn their windows, and on
// which a canary then runs. And a deployment of data-path version 3 (a58d257) upgraded to this
// version with established connections and a UDP stream, after which a `nosession` service runs.
// And a deployment of data-path version 4 (1801022, an LRU session table) upgraded to version 5's
// set-associative table under traffic, every session placed in its bucket. The blocks share one
// set-up (useUpgradeSandbox).
import type { ChildProcess } from 'node:child_process';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentMetrics } from '../../runtime/agent/metrics.ts';
import { DeploymentReader } from '../../runtime/agent/reader.ts';
import { DATAPATH_VERSION } from '../../runtime/datapath/version.ts';
import { KERNEL_AVAILABLE } from '../support/datapath-harness.ts';
import { createPolicyDir, segc, segcAsync as segcRun, type PolicyDir, type SegcRun, startEchoServers, startTcpStream, startUdpStream, tcpEchoes, tearDownDeployTest, udpEchoes, type UdpStream } from '../support/deploy-harness.ts';
import { NetnsSandbox, type VethPair } from '../support/netns.ts';
import { checkoutOldSegc, oldSegcAvailable, removeOldSegc } from '../support/old-segc.ts';

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

const OLD_AVAILABLE = KERNEL_AVAILABLE && oldSegcAvailable(OLD_COMMIT);
if (KERNEL_AVAILABLE && !OLD_AVAILABLE) process.stderr.write(`upgrade.test.ts: skipped: needs git history with ${OLD_COMMIT}, clang and node_modules\n`);

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

/** One counter of `segc stats --json` for a deployment (0 when it has none). */
function statsCounter(host: string, name: string, stateDir: string, which: string): number {
  const r = segc(host, ['stats', '--name', name, '--json'], { stateDir });
  expect(r.code, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as { counters: { counter: string; packets: number }[] }).counters.find((c) => c.counter === which)?.packets ?? 0;
}

/** No TCP stream broke: every line came back in order, and at most 5 were still in flight at its end. */
function expectTcpStreamsWhole(streams: readonly (readonly [{ echoed(): readonly number[] }, number])[]): void {
  for (const [stream, sent] of streams) {
    expect(contiguous(stream.echoed())).toBe(true);
    expect(sent - stream.echoed().length).toBeLessThanOrEqual(5);
  }
}

/** What one upgrade block works with: an old segc's checkout, a host and a peer namespace, echo servers, a state directory. */
interface UpgradeSandbox {
  readonly host: string;
  readonly peer: string;
  readonly link: VethPair;
  readonly policies: PolicyDir;
  readonly stateDir: string;
  readonly oldDir: string;
  /** POLICY, written. */
  readonly policy: string;
}

/**
 * The set-up every upgrade block shares (in its describe): the old segc at `commit` checked out
 * and built, the host (TCP 22 and `hostUdp` echoed) and the peer (TCP 8080) joined by a veth
 * pair, a policy directory and a state directory; `use` gets them before the tests, and
 * everything is taken down after (deployment `name` included).
 */
function useUpgradeSandbox(sandbox: NetnsSandbox, name: string, how: { readonly commit: string; readonly host4: string; readonly peer4: string; readonly hostUdp: readonly number[] }, use: (env: UpgradeSandbox) => void): void {
  const servers: ChildProcess[] = [];
  let env: UpgradeSandbox | undefined;
  let oldDir: string | undefined;
  beforeAll(async () => {
    oldDir = checkoutOldSegc(how.commit);
    const host = sandbox.createNetns('host');
    const peer = sandbox.createNetns('peer');
    const link = sandbox.createVethPair(host, peer, { a: { ipv4: `${how.host4}/24` }, b: { ipv4: `${how.peer4}/24` } });
    servers.push(await startEchoServers(host, [22], how.hostUdp));
    servers.push(await startEchoServers(peer, [8080], []));
    const policies = createPolicyDir();
    const stateDir = mkdtempSync(join(tmpdir(), 'segct-state-'));
    env = { host, peer, link, policies, stateDir, oldDir, policy: policies.write('host.seg', POLICY) };
    use(env);
  }, 180_000);
  afterAll(() => {
    try {
      if (env) tearDownDeployTest({ host: env.host, names: [name], stateDir: env.stateDir, servers, policies: env.policies, sandbox });
    } finally {
      if (oldDir !== undefined) removeOldSegc(oldDir);
    }
  });
}

describe.skipIf(!OLD_AVAILABLE)(`upgrading a deployment made by segc ${OLD_COMMIT} in place, with traffic running`, () => {
  const sandbox = new NetnsSandbox('upg');
  const name = `segct-${process.pid}-upg`;
  let host: string;
  let peer: string;
  let link: VethPair;
  let stateDir: string;
  let oldDir: string;
  let policy: string;

  const oldSegc = (args: readonly string[]): SegcRun => segc(host, args, { stateDir, root: oldDir });
  /** `segc ARGS` (this build) without blocking the event loop: the streams are read meanwhile. */
  const segcAsync = (args: readonly string[], env: Record<string, string> = {}): Promise<SegcRun> => segcRun(host, args, { stateDir, env });
  const deployArgs = (extra: readonly string[] = []) => ['deploy', policy, '--iface', link.a.name, '--name', name, '--max-rules', '64', '--sessions', '1024', ...extra];
  const statusOf = () => JSON.parse(segc(host, ['status', '--name', name, '--json'], { stateDir }).stdout) as { deployments: { attachments: { progId: number }[]; kernel: { datapathVersion: number; sessions: { entries: number; capacity: number } } }[] };
  const sessionPorts = () => {
    const r = segc(host, ['sessions', '--name', name, '--json'], { stateDir });
    expect(r.code, r.stderr).toBe(0);
    return (JSON.parse(r.stdout) as { sessions: { a: string; b: string; portA: number; portB: number }[] }).sessions.map((s) => `${s.a}:${s.portA} ${s.b}:${s.portB}`).join('\n');
  };

  useUpgradeSandbox(sandbox, name, { commit: OLD_COMMIT, host4: HOST4, peer4: PEER4, hostUdp: [5000] }, (env) => ({ host, peer, link, stateDir, oldDir, policy } = env));

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

/** The last commit of data-path version 2 (before the TCP windows of version 3). */
const V2_COMMIT = '371f4ba';
const V2_HOST4 = '10.205.0.1';
const V2_PEER4 = '10.205.0.2';
const HAVE_PYTHON3 = spawnSync('python3', ['--version'], { timeout: 5_000 }).status === 0;
const V2_AVAILABLE = KERNEL_AVAILABLE && HAVE_PYTHON3 && oldSegcAvailable(V2_COMMIT);
if (KERNEL_AVAILABLE && !V2_AVAILABLE) process.stderr.write(`upgrade.test.ts: version-2 upgrade skipped: needs git history with ${V2_COMMIT}, clang, python3 and node_modules\n`);

describe.skipIf(!V2_AVAILABLE)(`upgrading a data-path version 2 deployment (segc ${V2_COMMIT}) in place, with established TCP connections`, () => {
  const sandbox = new NetnsSandbox('upg2');
  const name = `segct-${process.pid}-upg2`;
  let host: string;
  let peer: string;
  let link: VethPair;
  let stateDir: string;
  let oldDir: string;
  let policy: string;

  const oldSegc = (args: readonly string[]): SegcRun => segc(host, args, { stateDir, root: oldDir });
  const segcAsync = (args: readonly string[]): Promise<SegcRun> => segcRun(host, args, { stateDir });
  const deployArgs = () => ['deploy', policy, '--iface', link.a.name, '--name', name, '--max-rules', '64', '--sessions', '1024'];
  const counter = (which: string): number => statsCounter(host, name, stateDir, which);
  const sessionTo = (port: number) => {
    const r = segc(host, ['sessions', '--name', name, '--port', String(port), '--json'], { stateDir });
    expect(r.code, r.stderr).toBe(0);
    return (JSON.parse(r.stdout) as { sessions: { a: string; portA: number; portB: number; state: string; tcp?: { knownA: boolean; knownB: boolean; endA: number; endB: number; scaled: boolean } }[] }).sessions.find((x) => x.portA === port || x.portB === port);
  };

  useUpgradeSandbox(sandbox, name, { commit: V2_COMMIT, host4: V2_HOST4, peer4: V2_PEER4, hostUdp: [] }, (env) => ({ host, peer, link, stateDir, oldDir, policy } = env));

  it(`upgrades to version ${DATAPATH_VERSION}: the connections go on, their sessions learn the windows, then refuse an RST outside them; counters keep their names; a canary then runs on it`, async () => {
    const r = oldSegc(deployArgs());
    expect(r.code, r.stderr).toBe(0);
    const inbound = startTcpStream(peer, V2_HOST4, 22, 20_000);
    const outbound = startTcpStream(host, V2_PEER4, 8080, 20_000);
    await sleep(2_000);
    const denied = counter('deny');
    const ingressAllow = counter('ingress-allow');
    const sessionHits = counter('session-hit');
    expect(ingressAllow).toBeGreaterThan(0);

    const upgraded = await segcAsync(deployArgs());
    expect(upgraded.code, upgraded.stderr).toBe(0);
    expect(upgraded.stdout).toMatch(new RegExp(`upgraded +data path in place, version 2 -> ${DATAPATH_VERSION}`));
    // The counters after the reasons moved by one in version 3: they carried over by name.
    expect(counter('ingress-allow')).toBeGreaterThanOrEqual(ingressAllow);
    expect(counter('session-hit')).toBeGreaterThanOrEqual(sessionHits);
    await sleep(1_500);
    // The migrated sessions knew no window (version 2 had none) and learnt it from the traffic;
    // the handshake was not seen, so no scale (the largest is assumed).
    const out = sessionTo(8080);
    expect(out?.state).toBe('established');
    expect(out?.tcp).toMatchObject({ knownA: true, knownB: true, scaled: false });
    const rejected = counter('reason:tcp-window');
    const spoofed = spawnSync('nsenter', [`--net=/var/run/netns/${peer}`, '--', 'python3', join(ROOT, 'test', 'support', 'tcp-spoof.py'), V2_PEER4, '8080', V2_HOST4, String(out?.portA ?? 0), 'rst', '100', String(((out?.tcp?.endB ?? 0) + 2 ** 31) >>> 0), '1'], { encoding: 'utf8', timeout: 30_000 });
    expect(spoofed.status, spoofed.stderr).toBe(0);
    expect(counter('reason:tcp-window') - rejected).toBe(100);
    expect(sessionTo(8080)?.portA).toBe(out?.portA);
    // A canary runs on the upgraded data path, the connections still going through it.
    const canary = await segcAsync([...deployArgs(), '--canary', '50%']);
    expect(canary.code, canary.stderr).toBe(0);
    const s = JSON.parse(segc(host, ['status', '--name', name, '--json'], { stateDir }).stdout) as { deployments: { kernel: { datapathVersion: number }; canary: { kernelShareBp: number } | null }[] };
    expect(s.deployments[0]?.kernel.datapathVersion).toBe(DATAPATH_VERSION);
    expect(s.deployments[0]?.canary?.kernelShareBp).toBe(5000);

    const [inSent, outSent] = await Promise.all([inbound.done, outbound.done]);
    process.stdout.write(`version 2 -> ${DATAPATH_VERSION} upgrade: inbound TCP ${inbound.echoed().length}/${inSent}, host-opened TCP ${outbound.echoed().length}/${outSent} lines echoed\n`);
    expectTcpStreamsWhole([
      [inbound, inSent],
      [outbound, outSent],
    ]);
    // Not one packet of the flows was dropped, by the old or the new data path (the 100 RSTs aside).
    expect(counter('deny') - denied).toBe(100);
  }, 180_000);
});

/** The last commit of data-path version 3 (before seg_rule_info.no_session of version 4). */
const V3_COMMIT = 'a58d257';
const V3_HOST4 = '10.206.0.1';
const V3_PEER4 = '10.206.0.2';
const V3_AVAILABLE = KERNEL_AVAILABLE && oldSegcAvailable(V3_COMMIT);
if (KERNEL_AVAILABLE && !V3_AVAILABLE) process.stderr.write(`upgrade.test.ts: version-3 upgrade skipped: needs git history with ${V3_COMMIT}, clang and node_modules\n`);

/** POLICY plus a UDP service whose flows open no session, both ways (a version-4 policy). */
const V4_POLICY = `
policy ingress default deny {
  100 ssh:     allow tcp from any to any port 22
  110 stream:  allow udp from any to any port 5000
  120 lookup:  allow udp from any to any port 5353 nosession
}
policy egress default deny {
  100 web-out: allow tcp from any to any port 8080
  110 lookup-replies: allow udp from any port 5353 to any nosession
}
`;

describe.skipIf(!V3_AVAILABLE)(`upgrading a data-path version 3 deployment (segc ${V3_COMMIT}) in place, with established TCP connections and a UDP stream`, () => {
  const sandbox = new NetnsSandbox('upg3');
  const name = `segct-${process.pid}-upg3`;
  let host: string;
  let peer: string;
  let link: VethPair;
  let policies: PolicyDir;
  let stateDir: string;
  let oldDir: string;

  const oldSegc = (args: readonly string[]): SegcRun => segc(host, args, { stateDir, root: oldDir });
  const deployArgs = (file: string) => ['deploy', file, '--iface', link.a.name, '--name', name, '--max-rules', '64', '--sessions', '1024'];
  const counter = (which: string): number => statsCounter(host, name, stateDir, which);
  const sessionPorts = (): number[][] => {
    const r = segc(host, ['sessions', '--name', name, '--json'], { stateDir });
    expect(r.code, r.stderr).toBe(0);
    return (JSON.parse(r.stdout) as { sessions: { portA: number; portB: number }[] }).sessions.map((s) => [s.portA, s.portB]);
  };

  useUpgradeSandbox(sandbox, name, { commit: V3_COMMIT, host4: V3_HOST4, peer4: V3_PEER4, hostUdp: [5000, 5353] }, (env) => ({ host, peer, link, policies, stateDir, oldDir } = env));

  it(`upgrades to version ${DATAPATH_VERSION} under traffic: nothing breaks or is dropped, sessions carry over; then a 'nosession' service answers without opening sessions`, async () => {
    const r = oldSegc(deployArgs(policies.write('v3.seg', POLICY)));
    expect(r.code, r.stderr).toBe(0);
    const inbound = startTcpStream(peer, V3_HOST4, 22, 20_000);
    const outbound = startTcpStream(host, V3_PEER4, 8080, 20_000);
    const udp = startUdpStream(peer, V3_HOST4, 5000, 20_000);
    await sleep(2_000);
    const denied = counter('deny');
    const sessionsBefore = sessionPorts();
    expect(sessionsBefore.some((p) => p.includes(22))).toBe(true);

    const upgraded = await segcRun(host, deployArgs(policies.write('v4.seg', V4_POLICY)), { stateDir });
    expect(upgraded.code, upgraded.stderr).toBe(0);
    expect(upgraded.stdout).toMatch(new RegExp(`upgraded +data path in place, version 3 -> ${DATAPATH_VERSION}`));
    // The sessions of version 3 are in the new table (the connections' and the stream's).
    for (const port of [22, 8080, 5000]) expect(sessionPorts().some((p) => p.includes(port)), `a session of port ${port}`).toBe(true);

    // The new rules: the lookups are answered, and neither their queries nor their replies open a session.
    const newBefore = counter('session-new');
    for (let i = 0; i < 5; i++) expect(udpEchoes(peer, V3_HOST4, 5353)).toBe(true);
    expect(sessionPorts().some((p) => p.includes(5353))).toBe(false);
    expect(counter('session-new')).toBe(newBefore);

    const [inSent, outSent, udpSent] = await Promise.all([inbound.done, outbound.done, udp.done]);
    process.stdout.write(`version 3 -> ${DATAPATH_VERSION} upgrade: inbound TCP ${inbound.echoed().length}/${inSent}, host-opened TCP ${outbound.echoed().length}/${outSent}, UDP ${udp.echoed().length}/${udpSent} echoed\n`);
    expectTcpStreamsWhole([
      [inbound, inSent],
      [outbound, outSent],
    ]);
    expect(contiguous(udp.echoed())).toBe(true);
    // Not one packet of the flows was dropped, by the old or the new data path.
    expect(counter('deny') - denied).toBe(0);
  }, 180_000);
});

/** The last commit of data-path version 4 (the LRU session table, before the set-associative one of version 5). */
const V4_COMMIT = '1801022';
const V4_HOST4 = '10.207.0.1';
const V4_PEER4 = '10.207.0.2';
const V4_AVAILABLE = KERNEL_AVAILABLE && oldSegcAvailable(V4_COMMIT);
if (KERNEL_AVAILABLE && !V4_AVAILABLE) process.stderr.write(`upgrade.test.ts: version-4 upgrade skipped: needs git history with ${V4_COMMIT}, clang and node_modules\n`);

describe.skipIf(!V4_AVAILABLE)(`upgrading a data-path version 4 deployment (segc ${V4_COMMIT}, an LRU session table) in place, with established TCP connections and a UDP stream`, () => {
  const sandbox = new NetnsSandbox('upg4');
  const name = `segct-${process.pid}-upg4`;
  let host: string;
  let peer: string;
  let link: VethPair;
  let stateDir: string;
  let oldDir: string;
  let policy: string;
  useUpgradeSandbox(sandbox, name, { commit: V4_COMMIT, host4: V4_HOST4, peer4: V4_PEER4, hostUdp: [5000] }, (env) => ({ host, peer, link, stateDir, oldDir, policy } = env));

  const oldSegc = (args: readonly string[]): SegcRun => segc(host, args, { stateDir, root: oldDir });
  const deployArgs = () => ['deploy', policy, '--iface', link.a.name, '--name', name, '--max-rules', '64', '--sessions', '1024'];
  const counter = (which: string): number => statsCounter(host, name, stateDir, which);
  /** Every session as `a:port b:port proto`, sorted. */
  const sessionSet = (): string[] => {
    const r = segc(host, ['sessions', '--name', name, '--json'], { stateDir });
    expect(r.code, r.stderr).toBe(0);
    return (JSON.parse(r.stdout) as { sessions: { a: string; b: string; portA: number; portB: number; proto: string }[] }).sessions.map((s) => `${s.a}:${s.portA} ${s.b}:${s.portB} ${s.proto}`).sort();
  };

  it(`upgrades to version ${DATAPATH_VERSION} under traffic: every session of the LRU table is in its bucket, nothing breaks or is dropped`, async () => {
    const r = oldSegc(deployArgs());
    expect(r.code, r.stderr).toBe(0);
    const inbound = startTcpStream(peer, V4_HOST4, 22, 20_000);
    const outbound = startTcpStream(host, V4_PEER4, 8080, 20_000);
    const udp = startUdpStream(peer, V4_HOST4, 5000, 20_000);
    // Short flows too, so that the table holds more than the three long ones.
    for (let i = 0; i < 10; i++) expect(tcpEchoes(peer, V4_HOST4, 22)).toBe(true);
    await sleep(2_000);
    const denied = counter('deny');
    const before = sessionSet();
    expect(before.length).toBeGreaterThanOrEqual(3);

    const upgraded = await segcRun(host, deployArgs(), { stateDir });
    expect(upgraded.code, upgraded.stderr).toBe(0);
    expect(upgraded.stdout).toMatch(new RegExp(`upgraded +data path in place, version 4 -> ${DATAPATH_VERSION}`));
    expect(upgraded.stdout).toMatch(/migrated \d+ sessions/);
    // 1,024 sessions in 256 buckets: a handful of flows all find a free way (none turned away).
    expect(upgraded.stdout).not.toMatch(/were not kept/);
    // Every session of the LRU table is in the new one (the long flows' and the finished ones').
    const after = sessionSet();
    for (const s of before) expect(after, s).toContain(s);
    const status = JSON.parse(segc(host, ['status', '--name', name, '--json'], { stateDir }).stdout) as { deployments: { kernel: { datapathVersion: number; sessions: { entries: number; capacity: number } } }[] };
    expect(status.deployments[0]?.kernel.datapathVersion).toBe(DATAPATH_VERSION);
    expect(status.deployments[0]?.kernel.sessions.capacity).toBe(1024);

    const [inSent, outSent, udpSent] = await Promise.all([inbound.done, outbound.done, udp.done]);
    process.stdout.write(`version 4 -> ${DATAPATH_VERSION} upgrade: ${before.length} sessions carried; inbound TCP ${inbound.echoed().length}/${inSent}, host-opened TCP ${outbound.echoed().length}/${outSent}, UDP ${udp.echoed().length}/${udpSent} echoed\n`);
    expectTcpStreamsWhole([
      [inbound, inSent],
      [outbound, outSent],
    ]);
    expect(contiguous(udp.echoed())).toBe(true);
    // Not one packet of the flows was dropped, by the old or the new data path.
    expect(counter('deny') - denied).toBe(0);
  }, 180_000);
});
