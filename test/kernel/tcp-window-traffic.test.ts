// TCP sequence windows with real traffic between two namespaces: under an ingress-only
// default-deny policy, a connection the host opened survives 10,000 spoofed RSTs and 10,000
// spoofed SYNs from its peer's address and port with sequence numbers outside the window
// (test/support/tcp-spoof.py, a raw-socket sender bounded in count), keeps carrying data, and
// the counters show every rejected segment; an RST inside the window still ends the session.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KERNEL_AVAILABLE } from '../support/datapath-harness.ts';
import { createPolicyDir, type PolicyDir, segc, startEchoServers, startTcpStream, tearDownDeployTest } from '../support/deploy-harness.ts';
import { NetnsSandbox, waitFor, type VethPair } from '../support/netns.ts';

const HOST4 = '10.204.0.1';
const PEER4 = '10.204.0.2';
const ECHO_PORT = 8080;
const IDLE_PORT = 8081;
const HAVE_PYTHON3 = spawnSync('python3', ['--version'], { timeout: 5_000 }).status === 0;
const SPOOF = join(import.meta.dirname, '..', 'support', 'tcp-spoof.py');

/** Only ssh in; no egress block: the host's own connections get their replies by session. */
const POLICY = `
policy ingress default deny {
  100 ssh: allow tcp from any to any port 22
}
`;

interface SessionJson {
  a: string;
  b: string;
  portA: number;
  portB: number;
  state: string;
  tcp?: { knownA: boolean; knownB: boolean; endA: number; endB: number; maxWindowA: number; maxWindowB: number; scaled: boolean };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.skipIf(!KERNEL_AVAILABLE || !HAVE_PYTHON3)('TCP sequence windows with real traffic', () => {
  const sandbox = new NetnsSandbox('tcpw');
  const name = `segct-${process.pid}-tcpw`;
  let host: string;
  let peer: string;
  let link: VethPair;
  let policies: PolicyDir;
  let stateDir: string;
  const servers: ChildProcess[] = [];

  const run = (args: readonly string[]) => segc(host, args, { stateDir });
  const sessionTo = (port: number): SessionJson | undefined => {
    const r = run(['sessions', '--name', name, '--port', String(port), '--json']);
    expect(r.code, r.stderr).toBe(0);
    return (JSON.parse(r.stdout) as { sessions: SessionJson[] }).sessions.find((s) => s.portB === port && s.b === PEER4);
  };
  const counter = (which: string): number => {
    const r = run(['stats', '--name', name, '--json']);
    expect(r.code, r.stderr).toBe(0);
    return (JSON.parse(r.stdout) as { counters: { counter: string; packets: number }[] }).counters.find((c) => c.counter === which)?.packets ?? 0;
  };
  /** Segments from the peer's address and port to the host's port, spoofed from inside the peer's namespace. */
  const spoofFrom = (peerPort: number, hostPort: number, kind: 'rst' | 'syn', count: number, base: number, span: number) => {
    const r = spawnSync('nsenter', [`--net=/var/run/netns/${peer}`, '--', 'python3', SPOOF, PEER4, String(peerPort), HOST4, String(hostPort), kind, String(count), String(base >>> 0), String(span)], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe(`sent ${count}\n`);
  };

  beforeAll(async () => {
    host = sandbox.createNetns('host');
    peer = sandbox.createNetns('peer');
    link = sandbox.createVethPair(host, peer, { a: { ipv4: `${HOST4}/24` }, b: { ipv4: `${PEER4}/24` } });
    servers.push(await startEchoServers(peer, [ECHO_PORT, IDLE_PORT], []));
    policies = createPolicyDir();
    stateDir = mkdtempSync(join(tmpdir(), 'segct-state-'));
    const r = run(['deploy', policies.write('host.seg', POLICY), '--iface', link.a.name, '--name', name, '--sessions', '1024']);
    expect(r.code, r.stderr).toBe(0);
  }, 120_000);

  afterAll(() => {
    tearDownDeployTest({ host, names: [name], stateDir, servers, policies, sandbox });
  });

  it('a host-opened connection survives 10,000 out-of-window RSTs and 10,000 SYNs from its peer, keeps carrying data, and the counters show them', async () => {
    // Ended by the test once the spray is over and more lines came back: a loaded machine's
    // spray can take longer than any fixed duration, and a stream that ended meanwhile would
    // leave the session closing.
    const stream = startTcpStream(host, PEER4, ECHO_PORT, 60_000, 20);
    await sleep(2_000);
    const before = sessionTo(ECHO_PORT);
    expect(before?.state).toBe('established');
    expect(before?.tcp).toMatchObject({ knownA: true, knownB: true, scaled: true });
    const hostPort = before?.portA ?? 0;
    // The peer is endpoint b (the higher address). Outside the window by at least 2^30 either
    // way: the host's largest window is far below (the stream moves a few KB meanwhile).
    const base = (before?.tcp?.endB ?? 0) + 2 ** 30;
    const rejected = counter('reason:tcp-window');
    const denied = counter('deny');
    const closed = counter('session-closed');
    const echoedBefore = stream.echoed().length;
    expect(echoedBefore).toBeGreaterThan(0);

    const started = Date.now();
    spoofFrom(ECHO_PORT, hostPort, 'rst', 10_000, base, 2 ** 31);
    spoofFrom(ECHO_PORT, hostPort, 'syn', 10_000, base, 2 ** 31);
    const sprayMs = Date.now() - started;
    const echoedAtEnd = stream.echoed().length;

    // The session is the same one, untouched by the spray.
    const after = sessionTo(ECHO_PORT);
    expect(after?.portA).toBe(hostPort);
    expect(after?.state).toBe('established');
    // Every spoofed segment that reached the hook (a loaded machine's veth backlog may drop a
    // few before it) was rejected, and the ingress default denied each.
    const rejectedNow = counter('reason:tcp-window') - rejected;
    expect(rejectedNow).toBeGreaterThanOrEqual(19_500);
    expect(rejectedNow).toBeLessThanOrEqual(20_000);
    expect(counter('deny') - denied).toBe(rejectedNow);
    expect(counter('session-closed')).toBe(closed);
    const human = run(['stats', '--name', name]);
    expect(human.stdout).toMatch(/reason:tcp-window +\d+ packets/);

    // And the connection carries data on: every line echoed, in order, and more after the spray.
    await waitFor('lines echoed after the spray', () => stream.echoed().length > echoedAtEnd + 50, 20_000, 100);
    stream.stop();
    const sent = await stream.done;
    const echoed = stream.echoed();
    process.stdout.write(`tcp-window traffic: 20,000 spoofed segments in ${sprayMs} ms, ${rejectedNow} rejected; lines echoed ${echoedBefore} before the spray, ${echoed.length} of ${sent} in all\n`);
    expect(echoed.every((n, i) => n === i)).toBe(true);
    expect(echoed.length).toBeGreaterThan(echoedAtEnd);
    expect(sent - echoed.length).toBeLessThanOrEqual(5);
  }, 90_000);

  it('an RST inside the window still ends the session', async () => {
    // An idle connection: its sequence numbers stay where the handshake left them.
    const idle = spawn('nsenter', [`--net=/var/run/netns/${host}`, '--', process.execPath, '-e', `const s = require('node:net').connect({ host: '${PEER4}', port: ${IDLE_PORT} }); s.on('error', () => {}); setTimeout(() => process.exit(0), 15000);`], { stdio: 'ignore' });
    try {
      let session: SessionJson | undefined;
      for (let i = 0; i < 50 && session?.state !== 'established'; i++) {
        await sleep(100);
        session = sessionTo(IDLE_PORT);
      }
      expect(session?.state).toBe('established');
      const closed = counter('session-closed');
      const rejected = counter('reason:tcp-window');
      // Exactly the peer's next sequence number: the host's TCP takes it too.
      spoofFrom(IDLE_PORT, session?.portA ?? 0, 'rst', 1, session?.tcp?.endB ?? 0, 1);
      expect(sessionTo(IDLE_PORT)).toBeUndefined();
      expect(counter('session-closed')).toBe(closed + 1);
      expect(counter('reason:tcp-window')).toBe(rejected);
    } finally {
      idle.kill();
    }
  }, 60_000);
});
