// End-to-end deploy tests with real traffic: a protected namespace ("host") and a peer joined
// by a veth pair, segc run as a real process inside the host namespace, echo servers on both
// sides. Every namespace, pin and record is removed by name afterwards.
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildFrame } from '../../runtime/packet-bytes.ts';
import { KERNEL_AVAILABLE } from '../support/datapath-harness.ts';
import { createPolicyDir, HAVE_PING, pings, type PolicyDir, segc, type SegcRun, startEchoServers, startTcpStream, startUdpStream, tcpEchoes, tearDownDeployTest, udpEchoes } from '../support/deploy-harness.ts';
import { NetnsSandbox, run, type VethPair, waitFor } from '../support/netns.ts';

const HOST4 = '10.201.0.1';
const PEER4 = '10.201.0.2';
const HOST6 = 'fd00:201::1';
const PEER6 = 'fd00:201::2';

/** ssh and 5000/udp in, ping in; everything out. */
const POLICY_A = `
policy ingress default deny {
  100 ssh:     allow tcp from any to any port 22
  110 stream:  allow udp from any to any port 5000
  120 ping:    allow { icmp, icmpv6 } from any to any icmp echo-request
}
policy egress default allow {
}
`;

/** A plus telnet: ssh still allowed. */
const POLICY_A2 = POLICY_A.replace('  110 stream:', '  105 telnet:  allow tcp from any to any port 23\n  110 stream:');

/**
 * ssh now denied (telnet and the stream still allowed), and egress denied by default: with
 * egress open, the host's own retransmissions on the revoked connection would open a new
 * (mid-stream) session from the egress side and let the peer's packets back in as replies.
 */
const POLICY_A3 = POLICY_A2.replace(/^ {2}100 ssh: .*$/m, '').replace('policy egress default allow', 'policy egress default deny');

/** Telnet instead of ssh, the stream still allowed, no ping. */
const POLICY_B = `
policy ingress default deny {
  100 telnet:  allow tcp from any to any port 23
  110 stream:  allow udp from any to any port 5000
}
policy egress default allow {
}
`;

/** The stream now denied. */
const POLICY_C = `
policy ingress default deny {
  100 telnet:  allow tcp from any to any port 23
}
policy egress default allow {
}
`;

describe.skipIf(!KERNEL_AVAILABLE)('segc deploy on a veth pair with real traffic', () => {
  const sandbox = new NetnsSandbox('dep');
  const name = `segct-${process.pid}-dep`;
  let host: string;
  let peer: string;
  let link: VethPair;
  let policies: PolicyDir;
  let stateDir: string;
  const servers: ChildProcess[] = [];
  let a: string;
  let b: string;
  let c: string;

  const deploy = (file: string, extra: readonly string[] = [], env: Record<string, string> = {}): SegcRun =>
    segc(host, ['deploy', file, '--iface', link.a.name, '--name', name, '--max-rules', '64', '--sessions', '1024', ...extra], { stateDir, env });
  const status = () => {
    const r = segc(host, ['status', '--name', name, '--json'], { stateDir });
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout) as { deployments: { generation: number; policyHash: string; attachments: { progId: number }[]; pins: { programs: { ingress: string; egress: string } }; kernel: { activeGeneration: number; inForce: boolean; missing: string[] } }[] };
  };
  const verdictsOfA = () => ({ ssh: tcpEchoes(peer, HOST4, 22), telnet: tcpEchoes(peer, HOST4, 23), stream: udpEchoes(peer, HOST4, 5000), dns: udpEchoes(peer, HOST4, 53) });

  beforeAll(async () => {
    host = sandbox.createNetns('host');
    peer = sandbox.createNetns('peer');
    link = sandbox.createVethPair(host, peer, { a: { ipv4: `${HOST4}/24`, ipv6: `${HOST6}/64` }, b: { ipv4: `${PEER4}/24`, ipv6: `${PEER6}/64` } });
    servers.push(await startEchoServers(host, [22, 23], [53, 5000]));
    servers.push(await startEchoServers(peer, [8080], []));
    policies = createPolicyDir();
    stateDir = mkdtempSync(join(tmpdir(), 'segct-state-'));
    a = policies.write('a.seg', POLICY_A);
    b = policies.write('b.seg', POLICY_B);
    c = policies.write('c.seg', POLICY_C);
  }, 60_000);

  afterAll(() => tearDownDeployTest({ host, names: [name], stateDir, servers, policies, sandbox }));

  it('lets everything through before a deploy', () => {
    expect(verdictsOfA()).toEqual({ ssh: true, telnet: true, stream: true, dns: true });
  });

  it('refuses a policy with errors (exit 1) and an unknown interface (exit 2), changing nothing', () => {
    const broken = policies.write('broken.seg', 'policy ingress default deny {\n  100 x: allow tcp from nowhere to any port 22\n}\n');
    const r = deploy(broken);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/nothing was deployed/);
    const missing = segc(host, ['deploy', a, '--iface', 'segct-nosuch', '--name', name], { stateDir });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/no interface 'segct-nosuch'/);
    expect(missing.stderr).not.toMatch(/\n\s+at /);
    // Sizes that would take the host's memory are refused before anything is loaded.
    const huge = deploy(a, ['--max-rules', '400000000']);
    expect(huge.code).toBe(2);
    expect(huge.stderr).toMatch(/--max-rules 400000000 is out of range/);
    expect(segc(host, ['status', '--json'], { stateDir }).stdout).toBe('{"deployments":[]}\n');
  });

  it('leaves nothing behind when the first deploy fails at any step', () => {
    for (const step of ['load', 'pin', 'install', 'switch', 'attach', 'verify', 'record']) {
      const r = deploy(a, [], { SEGC_TEST_FAIL_AT: step });
      expect(r.code, `${step}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toMatch(new RegExp(`injected failure at step '${step}'`));
      expect(existsSync(join('/sys/fs/bpf/segc', name)), step).toBe(false);
      expect(sandbox.exec(host, 'tc', ['filter', 'show', 'dev', link.a.name, 'ingress'])).toBe('');
      expect(verdictsOfA().telnet, step).toBe(true);
    }
  }, 120_000);

  it('enforces the policy: an allowed TCP connection carries data, a denied one fails; UDP likewise', () => {
    const r = deploy(a);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/deployed '.*': 3 rules, generation 1/);
    expect(verdictsOfA()).toEqual({ ssh: true, telnet: false, stream: true, dns: false });
  });

  it('enforces IPv6 too', () => {
    expect(tcpEchoes(peer, HOST6, 22)).toBe(true);
    expect(tcpEchoes(peer, HOST6, 23)).toBe(false);
    expect(udpEchoes(peer, HOST6, 5000)).toBe(true);
    expect(udpEchoes(peer, HOST6, 53)).toBe(false);
  });

  it.skipIf(!HAVE_PING)('answers an allowed ICMP echo', () => {
    expect(pings(peer, HOST4)).toBe(true);
    expect(pings(peer, HOST6)).toBe(true);
  });

  it('lets the replies of a connection the host opened in under default-deny ingress', () => {
    expect(tcpEchoes(host, PEER4, 8080)).toBe(true);
    expect(tcpEchoes(host, PEER6, 8080)).toBe(true);
  });

  it('outlives the segc process and reports pinned programs that bpftool can run', () => {
    const [d] = status().deployments;
    expect(d).toMatchObject({ generation: 1, kernel: { activeGeneration: 1, inForce: true, missing: [] } });
    const frame = buildFrame({ proto: 6, src: PEER4, dst: HOST4, srcPort: 40000, dstPort: 23 }, { tcpFlags: 'syn' });
    const dir = mkdtempSync(join(tmpdir(), 'segct-frame-'));
    try {
      writeFileSync(join(dir, 'frame'), frame);
      const out = run('bpftool', ['prog', 'run', 'pinned', d?.pins.programs.ingress ?? '', 'data_in', join(dir, 'frame'), 'repeat', '1']);
      // TC_ACT_SHOT (2): port 23 is denied.
      expect(out).toMatch(/Return value: 2\b/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('shows per-rule hits with file:line and the sessions of allowed flows', () => {
    const stats = segc(host, ['stats', '--name', name, '--json'], { stateDir });
    expect(stats.code, stats.stderr).toBe(0);
    const parsed = JSON.parse(stats.stdout) as { rules: { name: string; file: string; line: number; packets: number }[] };
    expect(parsed.rules.find((r) => r.name === 'ssh')).toMatchObject({ location: `${a}:3`, file: a, line: 3 });
    expect(parsed.rules.find((r) => r.name === 'ssh')?.packets).toBeGreaterThan(0);
    const sessions = segc(host, ['sessions', '--name', name, '--proto', 'tcp', '--port', '22', '--json'], { stateDir });
    expect(sessions.code, sessions.stderr).toBe(0);
    expect((JSON.parse(sessions.stdout) as { sessions: { rule: string }[] }).sessions.every((s) => s.rule.startsWith('ssh'))).toBe(true);
  });

  it('keeps the previous verdicts when a redeploy fails at any step, or crashes half-way', () => {
    for (const step of ['install', 'switch', 'attach', 'verify', 'record', 'crash']) {
      const r = deploy(b, [], { SEGC_TEST_FAIL_AT: step });
      if (step === 'crash') expect(r.signal).toBe('SIGKILL');
      else expect(r.code, `${step}: ${r.stderr}`).toBe(2);
      expect(verdictsOfA(), step).toEqual({ ssh: true, telnet: false, stream: true, dns: false });
      expect(status().deployments[0], step).toMatchObject({ generation: 1, kernel: { activeGeneration: 1, inForce: true } });
    }
  }, 120_000);

  it('refuses a policy that does not fit the deployed maps, before anything changes', () => {
    const rules = Array.from({ length: 70 }, (_, i) => `  ${100 + i} r${i}: allow tcp from any to any port ${1000 + i}`).join('\n');
    const big = policies.write('big.seg', `policy ingress default deny {\n${rules}\n}\n`);
    const r = deploy(big);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/70 rules; .* at most 64/);
    expect(verdictsOfA()).toEqual({ ssh: true, telnet: false, stream: true, dns: false });
  });

  it('prints what a redeploy would change with --dry-run, and changes nothing', () => {
    const r = deploy(b, ['--dry-run']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/added +ingress rule telnet/);
    expect(r.stdout).toMatch(/removed +ingress rule ssh/);
    expect(r.stdout).toMatch(/verdict +ingress tcp .*:23: deny -> allow/);
    expect(status().deployments[0]?.generation).toBe(1);
  });

  it('keeps a long-lived TCP connection flowing across a redeploy that still allows it, and stops it once denied', async () => {
    const a2 = policies.write('a2.seg', POLICY_A2);
    const a3 = policies.write('a3.seg', POLICY_A3);
    // Runs until stopped: two deploys on a loaded machine can outlast any fixed duration.
    const stream = startTcpStream(peer, HOST4, 22, 45_000);
    await waitFor('the stream to flow', () => stream.echoed().length > 0, 15_000);
    const before = stream.echoed().length;
    const toA2 = deploy(a2);
    expect(toA2.code, toA2.stderr).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, 600));
    const afterA2 = stream.echoed().length;
    // It cuts an established connection to port 22 on purpose: past the lock-out guard.
    const toA3 = deploy(a3, ['--allow-lockout']);
    expect(toA3.code, toA3.stderr).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const afterA3 = stream.echoed().length;
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    stream.stop();
    const sent = await stream.done;
    const echoed = stream.echoed();
    expect(before).toBeGreaterThan(0);
    expect(afterA2).toBeGreaterThan(before);
    expect(echoed).toEqual(Array.from({ length: echoed.length }, (_, i) => i));
    expect(echoed.length).toBe(afterA3);
    expect(sent).toBeGreaterThan(afterA3 + 20);
    expect(tcpEchoes(peer, HOST4, 22)).toBe(false);
    expect(tcpEchoes(peer, HOST4, 23)).toBe(true);
  }, 60_000);

  it('switches atomically on redeploy: a stream still allowed loses nothing, one now denied stops', async () => {
    // Runs until stopped: two deploys on a loaded machine can outlast any fixed duration.
    const stream = startUdpStream(peer, HOST4, 5000, 45_000);
    await waitFor('the stream to flow', () => stream.echoed().length > 0, 15_000);
    const before = stream.echoed().length;
    const toB = deploy(b);
    expect(toB.code, toB.stderr).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, 600));
    const afterB = stream.echoed().length;
    const toC = deploy(c);
    expect(toC.code, toC.stderr).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const afterC = stream.echoed().length;
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    stream.stop();
    const sent = await stream.done;
    const echoed = stream.echoed();
    expect(before).toBeGreaterThan(0);
    expect(afterB).toBeGreaterThan(before);
    // No gap across the switch to B: every datagram up to the last echoed one came back.
    expect(echoed).toEqual(Array.from({ length: echoed.length }, (_, i) => i));
    // Under C the stream is revoked: nothing more came back after C was in force.
    expect(echoed.length).toBe(afterC);
    expect(sent).toBeGreaterThan(afterC + 50);
    expect(tcpEchoes(peer, HOST4, 23)).toBe(true);
    expect(tcpEchoes(peer, HOST4, 22)).toBe(false);
  }, 60_000);

  it('rolls back to the previous policy atomically, and twice returns', () => {
    const generation = status().deployments[0]?.generation ?? 0;
    const r = segc(host, ['rollback', '--name', name], { stateDir });
    expect(r.code, r.stderr).toBe(0);
    expect(udpEchoes(peer, HOST4, 5000)).toBe(true);
    const again = segc(host, ['rollback', '--name', name], { stateDir });
    expect(again.code, again.stderr).toBe(0);
    expect(udpEchoes(peer, HOST4, 5000)).toBe(false);
    // Each rollback is a deploy of its own: a new generation, so sessions are judged again.
    expect(status().deployments[0]).toMatchObject({ generation: generation + 2, kernel: { inForce: true } });
  });

  it('undeploys: filters, pins and record are gone and traffic passes again', () => {
    const r = segc(host, ['undeploy', '--name', name], { stateDir });
    expect(r.code, r.stderr).toBe(0);
    expect(verdictsOfA()).toEqual({ ssh: true, telnet: true, stream: true, dns: true });
    expect(run('ls', ['/sys/fs/bpf/segc']).split('\n')).not.toContain(name);
    expect(segc(host, ['status', '--json'], { stateDir }).stdout).toBe('{"deployments":[]}\n');
    expect(segc(host, ['undeploy', '--name', name], { stateDir }).code).toBe(2);
  });
});
