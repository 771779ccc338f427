// End to end with real traffic between namespaces: `segc monitor --json` prints the events of
// log rules (rule name and file:line right), `deploy --audit` lets denied traffic through and
// counts it until a redeploy without --audit enforces, and a SYN flood from many spoofed
// sources (test/support/synflood.py, a raw-socket sender bounded in count) against a host with a
// small session table leaves its established flows alone, unless the protection is turned off.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KERNEL_AVAILABLE } from '../support/datapath-harness.ts';
import { createPolicyDir, type PolicyDir, segc, type SegcRun, startEchoServers, startTcpStream, tcpEchoes, tearDownDeployTest, udpEchoes } from '../support/deploy-harness.ts';
import { NetnsSandbox, type VethPair } from '../support/netns.ts';

const HOST4 = '10.202.0.1';
const PEER4 = '10.202.0.2';
const HAVE_PYTHON3 = spawnSync('python3', ['--version'], { timeout: 5_000 }).status === 0;
const SYNFLOOD = join(import.meta.dirname, '..', 'support', 'synflood.py');
const SEGC_SOURCE = join(import.meta.dirname, '..', 'support', 'segc-source.ts');

const LOGGED = `
policy ingress default deny {
  100 ssh:      allow tcp from any to any port 22
  200 no-mdns:  deny log udp from any to any port 5353
  300 echo:     allow log udp from any to any port 7
}
policy egress default allow {
}
`;

const STRICT = `
policy ingress default deny {
  100 ssh:      allow tcp from any to any port 22
  200 telnet:   deny tcp from any to any port 23
}
policy egress default allow {
}
`;

/** The host serves port 80; its own connections out (to the peer's echo servers) need sessions for their replies. */
const SERVER = `
policy ingress default deny {
  100 web:  allow tcp from any to any port 80
}
policy egress default allow {
}
`;

interface StatsJson {
  mode: string;
  counters: { counter: string; packets: number }[];
  rules: { name: string; wouldDeny: number; packets: number; audit: boolean }[];
  sessions: { live: number; capacity: number; evictedEstimate: number };
  synSources: { source: string; total: number }[];
}

describe.skipIf(!KERNEL_AVAILABLE)('monitor, audit and SYN floods with real traffic', () => {
  const sandbox = new NetnsSandbox('mon');
  const name = `segct-${process.pid}-mon`;
  let host: string;
  let peer: string;
  let link: VethPair;
  let policies: PolicyDir;
  let stateDir: string;
  const servers: ChildProcess[] = [];

  const run = (args: readonly string[]): SegcRun => segc(host, args, { stateDir });
  const deploy = (file: string, extra: readonly string[] = []): SegcRun => run(['deploy', file, '--iface', link.a.name, '--name', name, '--max-rules', '64', ...extra]);
  const stats = (): StatsJson => {
    const r = run(['stats', '--name', name, '--json', '--all']);
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout) as StatsJson;
  };
  const counter = (s: StatsJson, c: string) => s.counters.find((x) => x.counter === c)?.packets ?? 0;
  /** `segc monitor` as a process in the host namespace; resolves with its stdout. */
  const monitor = (args: readonly string[]): Promise<string> =>
    new Promise((resolve, reject) => {
      const child = spawn('nsenter', [`--net=/var/run/netns/${host}`, '--', process.execPath, '--no-warnings', SEGC_SOURCE, 'monitor', '--name', name, ...args], {
        env: { ...process.env, NO_COLOR: '1', SEGC_STATE_DIR: stateDir },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
      child.once('exit', (code) => {
        clearTimeout(timer);
        if (code === 0) resolve(out);
        else reject(new Error(`segc monitor exited with ${code}: ${err}`));
      });
    });

  beforeAll(async () => {
    host = sandbox.createNetns('host');
    peer = sandbox.createNetns('peer');
    // No IPv6 on the link: its multicast listener reports would be denied by default and blur
    // the counters the flood test reads.
    for (const ns of [host, peer]) for (const scope of ['all', 'default']) sandbox.exec(ns, 'sysctl', ['-qw', `net.ipv6.conf.${scope}.disable_ipv6=1`]);
    link = sandbox.createVethPair(host, peer, { a: { ipv4: `${HOST4}/24` }, b: { ipv4: `${PEER4}/24` } });
    // A route for the flood's random sources, so that the host answers each SYN with a SYN-ACK
    // (the peer, not a router, drops them), as a host on the Internet does.
    sandbox.exec(host, 'ip', ['route', 'add', 'default', 'via', PEER4]);
    policies = createPolicyDir();
    stateDir = mkdtempSync(join(tmpdir(), 'segct-state-'));
    servers.push(await startEchoServers(host, [22, 23, 80], [7, 5353]));
    servers.push(await startEchoServers(peer, [7000, 7001, 7002, 7003, 7004, 7005, 7006, 7007, 7008, 7009], []));
  });

  afterAll(() => tearDownDeployTest({ host, names: [name], stateDir, servers, policies, sandbox }));

  it('monitor --json prints one event per packet of a log rule, naming the rule and its file:line', async () => {
    const file = policies.write('logged.seg', LOGGED);
    const r = deploy(file);
    expect(r.code, r.stderr).toBe(0);
    // Events wait in the ring buffer until a reader takes them: traffic first, then the reader.
    for (let i = 0; i < 4; i++) expect(udpEchoes(peer, HOST4, 5353, 300)).toBe(false);
    expect(tcpEchoes(peer, HOST4, 22)).toBe(true);
    const out = await monitor(['--json', '--rule', 'no-mdns', '--count', '4', '--timeout', '20']);
    const lines = out.trim().split('\n').map((l) => JSON.parse(l) as { verdict: string; rule: { name: string; file: string; line: number }; packet: string; direction: string; iface: string });
    expect(lines).toHaveLength(4);
    for (const l of lines) {
      expect(l).toMatchObject({ verdict: 'deny', direction: 'ingress', iface: link.a.name, rule: { name: 'no-mdns', location: `${file}:4`, file, line: 4 } });
      expect(l.packet).toMatch(new RegExp(`^udp ${PEER4}:\\d+ -> ${HOST4}:5353$`));
    }
    // The printed packet is one `segc explain` takes, and it names the same rule.
    const explained = run(['explain', file, '--packet', lines[0]!.packet, '--json']);
    expect(explained.code, explained.stderr).toBe(0);
    expect(explained.stdout).toContain('no-mdns');
    // A UDP request and its reply: two events of the allow log rule, the reply as a session hit.
    expect(udpEchoes(peer, HOST4, 7)).toBe(true);
    const echo = (await monitor(['--json', '--rule', `${file}:5`, '--count', '2', '--timeout', '20'])).trim().split('\n').map((l) => JSON.parse(l) as { verdict: string; reason: string; direction: string });
    expect(echo.map((e) => [e.verdict, e.direction, e.reason])).toEqual([
      ['allow', 'ingress', 'rule'],
      ['allow', 'egress', 'session'],
    ]);
    const s = stats();
    expect(counter(s, 'event-sent')).toBeGreaterThanOrEqual(6);
    expect(counter(s, 'event-rule-limited') + counter(s, 'event-global-limited') + counter(s, 'event-ring-full')).toBe(0);
  });

  it('audit mode passes what the policy denies, counts it per rule, sends would-deny events; a redeploy without --audit enforces', async () => {
    const file = policies.write('strict.seg', STRICT);
    let r = deploy(file, ['--audit']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('audit since');
    expect(tcpEchoes(peer, HOST4, 23)).toBe(true);
    expect(udpEchoes(peer, HOST4, 5353)).toBe(true);
    const s = stats();
    expect(s.mode).toBe('audit');
    const telnet = s.rules.find((x) => x.name === 'telnet');
    expect(telnet?.audit).toBe(true);
    // The SYN: its SYN-ACK, allowed out, opened a session that the rest of the connection hit.
    expect(telnet?.wouldDeny).toBeGreaterThanOrEqual(1);
    expect(counter(s, 'would-deny')).toBeGreaterThan(telnet?.wouldDeny ?? 0);
    const st = run(['status', '--name', name, '--json']);
    const status = JSON.parse(st.stdout) as { deployments: { audit: { mode: string; since: string }; kernel: { audit: boolean; wouldDeny: number } }[] };
    expect(status.deployments[0]).toMatchObject({ audit: { mode: 'audit' }, kernel: { audit: true } });
    expect(status.deployments[0]?.kernel.wouldDeny).toBe(counter(s, 'would-deny'));
    expect(run(['status', '--name', name, '--audit-warn', '0']).stderr).toContain('in audit mode since');
    const events = (await monitor(['--json', '--verdict', 'would-deny', '--count', '1', '--timeout', '20'])).trim().split('\n');
    expect(JSON.parse(events[0]!)).toMatchObject({ verdict: 'would-deny' });

    const dry = run(['deploy', file, '--iface', link.a.name, '--name', name, '--dry-run']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain('mode       audit -> enforce');
    r = deploy(file);
    expect(r.code, r.stderr).toBe(0);
    expect(tcpEchoes(peer, HOST4, 23)).toBe(false);
    expect(udpEchoes(peer, HOST4, 5353)).toBe(false);
    expect(tcpEchoes(peer, HOST4, 22)).toBe(true);
    expect(stats().mode).toBe('enforce');
  });

  it.skipIf(!HAVE_PYTHON3)('keeps established flows through a SYN flood from many sources; with the protection off the flood takes the table', async () => {
    const file = policies.write('server.seg', SERVER);
    // A fresh data path with a small session table (capacities are fixed at first deploy).
    expect(run(['undeploy', '--name', name]).code).toBe(0);
    const established = (): number => {
      const r = run(['sessions', '--name', name, '--state', 'established', '--json']);
      expect(r.code, r.stderr).toBe(0);
      const sessions = (JSON.parse(r.stdout) as { sessions: { b: string; portB: number }[] }).sessions;
      return sessions.filter((x) => x.b === PEER4 && x.portB >= 7000 && x.portB < 7010).length;
    };
    const flood = (protection: boolean) => {
      const r = deploy(file, ['--sessions', '128', ...(protection ? [] : ['--no-syn-protection'])]);
      expect(r.code, r.stderr).toBe(0);
      run(['sessions', '--name', name, '--flush']);
      const before = stats();
      // 10 connections from the host out to the peer, idle during the flood (a line at 10 s):
      // the LRU keeps recently used entries, so idle flows are the ones a flood evicts.
      const streams = Array.from({ length: 10 }, (_, i) => startTcpStream(host, PEER4, 7000 + i, 12_000, 10_000));
      spawnSync('sleep', ['1.5']);
      const held = established();
      // 20,000 sources, one SYN each to port 80, sent four times (retransmissions), in 3-5 s.
      const sender = spawnSync('nsenter', [`--net=/var/run/netns/${peer}`, '--', 'python3', SYNFLOOD, HOST4, '80', '20000', '4'], { timeout: 60_000 });
      expect(sender.status, String(sender.stderr)).toBe(0);
      const during = stats();
      return { streams, before, during, held, survived: established() };
    };

    const measure = async ({ streams, before, during, held, survived }: ReturnType<typeof flood>) => {
      const sent = await Promise.all(streams.map((s) => s.done));
      const echoed = streams.map((s) => s.echoed().length);
      const after = stats();
      const delta = (c: string) => counter(during, c) - counter(before, c);
      return { sent, echoed, after, delta, held, survived };
    };

    const on = await measure(flood(true));
    expect(on.held).toBe(10);
    // Every SYN was allowed; the table stopped taking them at 75 % of 128.
    expect(on.delta('syn')).toBeGreaterThan(20_000);
    expect(on.delta('syn-untracked')).toBeGreaterThan(20_000);
    expect(on.delta('pressure')).toBeGreaterThan(20_000);
    expect(on.after.sessions.live).toBeLessThanOrEqual(96 + 10);
    expect(on.after.synSources.length).toBeGreaterThan(0);
    // The established flows all kept their sessions, nothing was dropped, every line came back.
    expect(on.survived).toBe(10);
    expect(on.delta('deny')).toBe(0);
    on.sent.forEach((n, i) => expect(on.echoed[i], `stream ${i}`).toBe(n));
    const events = await monitor(['--json', '--count', '5', '--timeout', '20']);
    expect(events).toContain('"kind":"syn-untracked"');

    const off = await measure(flood(false));
    expect(off.held).toBe(10);
    expect(off.delta('syn-untracked')).toBe(0);
    // The flood took the table: the LRU evicted the idle established flows.
    // The flood took the table: its SYNs opened sessions and the LRU evicted some 80,000. Which
    // ones is the LRU's heuristic (per-CPU free lists, a reference bit): in most runs it evicted
    // the idle established flows too (0 of 10 kept), in some it kept them all; the figure is
    // printed, and events.test.ts shows the eviction deterministically on one CPU.
    expect(off.delta('session-new')).toBeGreaterThan(20_000);
    expect(off.after.sessions.evictedEstimate).toBeGreaterThan(20_000);
    expect(off.after.sessions.evictedEstimate).toBeGreaterThan(20_000);
    // Who holds the table: sessions by the source that opened them, busiest first.
    const bySource = run(['sessions', '--name', name, '--count-by', 'source', '--limit', '3', '--json']);
    expect(bySource.code, bySource.stderr).toBe(0);
    const counted = JSON.parse(bySource.stdout) as { total: number; bySource: { source: string; sessions: number }[] };
    expect(counted.total).toBeGreaterThan(0);
    expect(counted.bySource.length).toBeGreaterThan(0);
    expect(counted.bySource.length).toBeLessThanOrEqual(3);
    expect(counted.bySource.map((x) => x.sessions)).toEqual([...counted.bySource.map((x) => x.sessions)].sort((x, y) => y - x));
    expect(run(['sessions', '--name', name, '--state', 'half-open', '--json']).code).toBe(0);
    const oldest = JSON.parse(run(['sessions', '--name', name, '--sort', 'age', '--limit', '5', '--json']).stdout) as { sessions: { idleSeconds: number }[] };
    expect(oldest.sessions).toHaveLength(5);
    expect(oldest.sessions.map((x) => x.idleSeconds)).toEqual([...oldest.sessions.map((x) => x.idleSeconds)].sort((x, y) => y - x));
    const watched = run(['sessions', '--name', name, '--state', 'established', '--watch', '0.2', '--iterations', '2']);
    expect(watched.code, watched.stderr).toBe(0);
    expect(watched.stdout.match(/every 0.2s/g)).toHaveLength(2);
    const figures = {
      protected: { established: `${on.survived}/${on.held}`, syns: on.delta('syn'), untracked: on.delta('syn-untracked'), drops: on.delta('deny'), live: on.after.sessions.live },
      unprotected: { established: `${off.survived}/${off.held}`, syns: off.delta('syn'), live: off.after.sessions.live, evictedEstimate: off.after.sessions.evictedEstimate },
    };
    console.log(`SYN flood figures: ${JSON.stringify(figures)}`);
  }, 120_000);
});
