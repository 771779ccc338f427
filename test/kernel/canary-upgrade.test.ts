// Upgrading a live version-2 deployment (segc at 371f4ba, the last before the canary) to data
// path version 3 in place, with a TCP connection and a UDP stream running through it: no
// connection breaks, the sessions carry over, and a canary then runs on the upgraded path.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATAPATH_VERSION } from '../../runtime/datapath/version.ts';
import { KERNEL_AVAILABLE } from '../support/datapath-harness.ts';
import { createPolicyDir, segc, segcAsync as segcRun, type PolicyDir, type SegcRun, startEchoServers, startTcpStream, startUdpStream, tearDownDeployTest } from '../support/deploy-harness.ts';
import { NetnsSandbox, type VethPair } from '../support/netns.ts';
import { checkoutOldSegc, oldSegcAvailable, removeOldSegc } from '../support/old-segc.ts';

const OLD_COMMIT = '371f4ba';
const HOST4 = '10.208.0.1';
const PEER4 = '10.208.0.2';

const POLICY = `
policy ingress default deny {
  100 ssh:     allow tcp from any to any port 22
  110 stream:  allow udp from any to any port 5000
}
policy egress default deny {
}
`;

const OLD_AVAILABLE = KERNEL_AVAILABLE && oldSegcAvailable(OLD_COMMIT);
if (KERNEL_AVAILABLE && !OLD_AVAILABLE) process.stderr.write(`canary-upgrade.test.ts: skipped: needs git history with ${OLD_COMMIT}, clang and node_modules\n`);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.skipIf(!OLD_AVAILABLE)(`upgrading a version-2 deployment (segc ${OLD_COMMIT}) to version 3 in place`, () => {
  const sandbox = new NetnsSandbox('cup');
  const name = `segct-${process.pid}-cup`;
  let host: string;
  let peer: string;
  let link: VethPair;
  let policies: PolicyDir;
  let stateDir: string;
  let oldDir: string;
  let policy: string;
  const servers: Awaited<ReturnType<typeof startEchoServers>>[] = [];
  const oldSegc = (args: readonly string[]): SegcRun => segc(host, args, { stateDir, root: oldDir });
  const segcAsync = (args: readonly string[]): Promise<SegcRun> => segcRun(host, args, { stateDir });
  const deployArgs = (extra: readonly string[] = []) => ['deploy', policy, '--iface', link.a.name, '--name', name, '--max-rules', '64', '--sessions', '1024', ...extra];
  const sessionCount = () => (JSON.parse(segc(host, ['sessions', '--name', name, '--json'], { stateDir }).stdout) as { sessions: unknown[] }).sessions.length;

  beforeAll(async () => {
    oldDir = checkoutOldSegc(OLD_COMMIT);
    host = sandbox.createNetns('host');
    peer = sandbox.createNetns('peer');
    link = sandbox.createVethPair(host, peer, { a: { ipv4: `${HOST4}/24` }, b: { ipv4: `${PEER4}/24` } });
    servers.push(await startEchoServers(host, [22], [5000]));
    policies = createPolicyDir();
    stateDir = mkdtempSync(join(tmpdir(), 'segct-state-'));
    policy = policies.write('host.seg', POLICY);
  }, 180_000);

  afterAll(() => {
    try {
      tearDownDeployTest({ host, names: [name], stateDir, servers, policies, sandbox });
    } finally {
      removeOldSegc(oldDir);
    }
  });

  it('keeps the connection and the sessions through the upgrade; a canary then runs on it', async () => {
    const first = oldSegc(deployArgs());
    expect(first.code, first.stderr).toBe(0);
    const tcp = startTcpStream(peer, HOST4, 22, 12_000);
    const udp = startUdpStream(peer, HOST4, 5000, 12_000);
    await sleep(2_000);
    const before = sessionCount();
    expect(before).toBeGreaterThanOrEqual(2);
    const upgraded = await segcAsync(deployArgs());
    expect(upgraded.code, upgraded.stderr).toBe(0);
    expect(upgraded.stdout).toMatch(new RegExp(`upgraded +data path in place, version 2 -> ${DATAPATH_VERSION}`));
    expect(sessionCount()).toBeGreaterThanOrEqual(before);
    const canary = await segcAsync(deployArgs(['--canary', '50%']));
    expect(canary.code, canary.stderr).toBe(0);
    const [tcpSent, udpSent] = await Promise.all([tcp.done, udp.done]);
    const echoedTcp = tcp.echoed();
    const echoedUdp = udp.echoed();
    expect(echoedTcp.every((n, i) => n === i)).toBe(true);
    expect(tcpSent - echoedTcp.length).toBeLessThanOrEqual(5);
    expect(echoedUdp.every((n, i) => n === i)).toBe(true);
    expect(udpSent - echoedUdp.length).toBeLessThanOrEqual(5);
    const s = JSON.parse(segc(host, ['status', '--name', name, '--json'], { stateDir }).stdout) as { deployments: { kernel: { datapathVersion: number }; canary: { shareBp: number; kernelShareBp: number } | null }[] };
    expect(s.deployments[0]?.kernel.datapathVersion).toBe(DATAPATH_VERSION);
    expect(s.deployments[0]?.canary?.kernelShareBp).toBe(5000);
    process.stdout.write(`canary-upgrade figures: TCP ${echoedTcp.length}/${tcpSent}, UDP ${echoedUdp.length}/${udpSent}, sessions ${before} before the upgrade\n`);
  }, 120_000);
});
