// The segc agent against real deployments: a protected namespace ("host") and a peer joined by
// veth pairs, the agent run as a real process inside the host namespace, real pings and UDP
// datagrams, /metrics scraped over HTTP, and a real Prometheus server scraping the agent and
// queried through its HTTP API. Every namespace, pin, record and process is removed by name/pid.
import { spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPinnedDatapath, releaseDatapath } from '../../runtime/deploy.ts';
import { DeploymentReader } from '../../runtime/agent/reader.ts';
import { SegStat, SegState } from '../../runtime/datapath/abi.ts';
import { runFrame } from '../../runtime/datapath/test-run.ts';
import { buildFrame } from '../../runtime/packet-bytes.ts';
import { KERNEL_AVAILABLE } from '../support/datapath-harness.ts';
import { HAVE_PROMETHEUS, httpGet, parseMetrics, startAgent, startPrometheus, valueOf, type PrometheusServer, type Sample, type Started } from '../support/agent-harness.ts';
import { createPolicyDir, HAVE_PING, type PolicyDir, segc, type SegcRun, startEchoServers, tearDownDeployTest, udpEchoes } from '../support/deploy-harness.ts';
import { NetnsSandbox, waitFor, type VethPair } from '../support/netns.ts';

const HOST4 = '10.203.0.1';
const PEER4 = '10.203.0.2';
const AGENT = 'http://127.0.0.1:9464';

const POLICY = `policy ingress default deny {
  100 ping:   allow icmp from any to any icmp echo-request
  110 stream: allow udp  from any to any port 5000
  120 no-dns: deny  udp  from any to any port 53
}
policy egress default allow {
}
`;

/** The same rules on the same lines, one more after them: the rules' series continue. */
const POLICY_2 = POLICY.replace('  120 no-dns: deny  udp  from any to any port 53\n', '  120 no-dns: deny  udp  from any to any port 53\n  130 telnet: allow tcp  from any to any port 23\n');

/** `count` echo requests from `netns` in one ping process (one ICMP identifier: one session). */
function ping(netns: string, host: string, count: number): number {
  const r = spawnSync('nsenter', [`--net=/var/run/netns/${netns}`, '--', 'ping', '-c', String(count), '-i', '0.2', '-W', '1', host], { encoding: 'utf8', timeout: 30_000 });
  return Number(/(\d+) received/.exec(r.stdout)?.[1] ?? -1);
}

describe.skipIf(!KERNEL_AVAILABLE || !HAVE_PING)('segc agent on real deployments with real traffic', () => {
  const sandbox = new NetnsSandbox('agt');
  const name = `segct-${process.pid}-agt`;
  const second = `segct-${process.pid}-agt2`;
  let host: string;
  let peer: string;
  let link: VethPair;
  let link2: VethPair;
  let policies: PolicyDir;
  let stateDir: string;
  let agent: Started | undefined;
  let prometheus: PrometheusServer | undefined;
  const servers: ChildProcess[] = [];
  let file: string;

  const deploy = (f: string, deployment = name, iface = link.a.name): SegcRun => segc(host, ['deploy', f, '--iface', iface, '--name', deployment, '--max-rules', '64', '--sessions', '1024'], { stateDir });
  const scrape = (): Sample[] => {
    const body = httpGet(host, `${AGENT}/metrics`);
    if (body === undefined) throw new Error(`no scrape; agent log:\n${agent?.output() ?? ''}`);
    return parseMetrics(body);
  };
  const rule = (samples: Sample[], ruleName: string, deployment = name) => valueOf(samples, 'segc_rule_packets_total', { deployment, rule: ruleName });

  beforeAll(async () => {
    host = sandbox.createNetns('host');
    peer = sandbox.createNetns('peer');
    link = sandbox.createVethPair(host, peer, { a: { ipv4: `${HOST4}/24` }, b: { ipv4: `${PEER4}/24` } });
    link2 = sandbox.createVethPair(host, peer, { a: { ipv4: '10.204.0.1/24' }, b: { ipv4: '10.204.0.2/24' } });
    servers.push(await startEchoServers(host, [23], [53, 5000]));
    policies = createPolicyDir();
    stateDir = mkdtempSync(join(tmpdir(), 'segct-state-'));
    file = policies.write('agent.seg', POLICY);
    const r = deploy(file);
    expect(r.code, r.stderr).toBe(0);
    // Every scrape reads the maps afresh: each step checks what the step before it did.
    agent = startAgent(host, ['--listen', '127.0.0.1:9464', '--scrape-max-age', '0', '--census-max-age', '0'], stateDir);
    await waitFor('the agent to serve /metrics', () => httpGet(host, `${AGENT}/metrics`, 2_000) !== undefined, 30_000, 200);
  }, 90_000);

  afterAll(async () => {
    try {
      await prometheus?.stop();
      prometheus?.remove();
      await agent?.stop();
    } finally {
      tearDownDeployTest({ host, names: [name, second], stateDir, servers, policies, sandbox });
    }
  }, 60_000);

  it('counts exactly the pings and datagrams sent, per rule with file:line, per reason and verdict', () => {
    const before = scrape();
    expect(ping(peer, HOST4, 5)).toBe(5);
    for (let i = 0; i < 3; i++) expect(udpEchoes(peer, HOST4, 53)).toBe(false);
    const after = scrape();
    // Five requests in and five replies out: the first by the rule, nine on its session.
    expect(rule(after, 'ping') - rule(before, 'ping')).toBe(10);
    expect(rule(after, 'no-dns') - rule(before, 'no-dns')).toBe(3);
    const reason = (s: Sample[], r: string) => valueOf(s, 'segc_reason_packets_total', { deployment: name, reason: r });
    expect(reason(after, 'session') - reason(before, 'session')).toBe(9);
    expect(reason(after, 'rule') - reason(before, 'rule')).toBe(4);
    // By hook: the echo requests and datagrams arrive on ingress, the echo replies leave on egress
    // (other traffic of the link, neighbour discovery say, may add to these).
    const verdict = (s: Sample[], direction: string, v: string) => valueOf(s, 'segc_packets_total', { deployment: name, direction, verdict: v });
    expect(verdict(after, 'ingress', 'deny') - verdict(before, 'ingress', 'deny')).toBeGreaterThanOrEqual(3);
    expect(verdict(after, 'ingress', 'allow') - verdict(before, 'ingress', 'allow')).toBeGreaterThanOrEqual(5);
    expect(verdict(after, 'egress', 'allow') - verdict(before, 'egress', 'allow')).toBeGreaterThanOrEqual(5);
    const ping1 = after.find((s) => s.name === 'segc_rule_packets_total' && s.labels['rule'] === 'ping');
    expect(ping1?.labels).toEqual({ deployment: name, direction: 'ingress', rule: 'ping', priority: '100', action: 'allow', location: `${file}:2` });
    // The rule that was never hit has no series.
    expect(after.some((s) => s.name === 'segc_rule_packets_total' && s.labels['rule'] === 'stream')).toBe(false);
    expect(valueOf(after, 'segc_sessions_capacity', { deployment: name })).toBe(1024);
    expect(valueOf(after, 'segc_sessions_by_state', { deployment: name, state: 'icmp' })).toBeGreaterThanOrEqual(1);
    expect(valueOf(after, 'segc_sessions', { deployment: name })).toBeGreaterThanOrEqual(1);
    expect(valueOf(after, 'segc_sessions_utilization_ratio', { deployment: name })).toBeCloseTo(valueOf(after, 'segc_sessions', { deployment: name }) / 1024, 6);
    expect(valueOf(after, 'segc_sessions_created_total', { deployment: name }) - valueOf(before, 'segc_sessions_created_total', { deployment: name })).toBe(1);
    const status = JSON.parse(segc(host, ['status', '--name', name, '--json'], { stateDir }).stdout) as { deployments: { policyHash: string; generation: number }[] };
    const info = after.find((s) => s.name === 'segc_policy_info');
    expect(info?.labels).toEqual({ deployment: name, policy_hash: status.deployments[0]?.policyHash, generation: String(status.deployments[0]?.generation) });
    expect(valueOf(after, 'segc_policy_rules', { deployment: name, direction: 'ingress' })).toBe(3);
    expect(valueOf(after, 'segc_policy_in_force', { deployment: name })).toBe(1);
    // prom-client's process metrics and the agent's own.
    expect(after.some((s) => s.name === 'process_resident_memory_bytes')).toBe(true);
    expect(valueOf(after, 'segc_scrape_duration_seconds')).toBeGreaterThan(0);
  }, 60_000);

  it('keeps a session census up to its max age with the counters read with it, and takes a new one when refreshed or too old', () => {
    let clock = 0;
    const reader = new DeploymentReader(stateDir, { censusMaxAgeMs: 5_000, now: () => clock });
    const read = () => {
      const d = reader.snapshot([name]).deployments[0];
      if (!d) throw new Error(`${name} was not read`);
      return d;
    };
    const opened = (stats: readonly { packets: bigint }[]) => stats[SegStat.SEG_STAT_SESSION_NEW]?.packets ?? 0n;
    try {
      const first = read();
      expect(first.census?.ageMs).toBe(0);
      expect(udpEchoes(peer, HOST4, 5000)).toBe(true);
      clock = 4_000;
      const kept = read();
      expect(kept.census?.ageMs).toBe(4_000);
      expect(kept.sessions).toEqual(first.sessions);
      // The counters of now see the new session; those kept with the census do not.
      expect(opened(kept.stats) - opened(first.stats)).toBeGreaterThanOrEqual(1n);
      expect(kept.census?.stats).toEqual(first.census?.stats);
      reader.refreshCensus();
      const fresh = read();
      expect(fresh.census?.ageMs).toBe(0);
      expect(fresh.sessions.byState[SegState.SEG_STATE_UDP]).toBe((first.sessions.byState[SegState.SEG_STATE_UDP] ?? 0) + 1);
      expect(opened(fresh.census?.stats ?? [])).toBe(opened(kept.stats));
      clock = 9_001;
      expect(read().census?.ageMs).toBe(0);
    } finally {
      reader.close();
    }
  }, 30_000);

  it.skipIf(!HAVE_PROMETHEUS)('is scraped by a real Prometheus server, which holds the same counts', async () => {
    prometheus = await startPrometheus(host, 9090, 9464, [join(process.cwd(), 'ops', 'prometheus', 'segc-alerts.yml')]);
    const expected = rule(scrape(), 'ping');
    await waitFor(
      'Prometheus to hold the ping counter',
      () => Number(prometheus?.query(`segc_rule_packets_total{deployment="${name}",rule="ping"}`)[0]?.value[1] ?? -1) === expected,
      30_000,
      500,
    );
    expect(prometheus.query('up{job="segc"}')[0]?.value[1]).toBe('1');
    expect(prometheus.query(`segc_sessions_capacity{deployment="${name}"}`)[0]?.value[1]).toBe('1024');
    // The shipped alert rules load and evaluate against the agent's series; none is active once
    // the agent is scraped (SegcAgentDown may be pending before the first scrape).
    const p = prometheus;
    await waitFor('the alert rules to be evaluated, none active', () => p.rules().length === 14 && p.rules().every((r) => r.health === 'ok' && (r.type === 'recording' || r.state === 'inactive')), 30_000, 500).catch((error: unknown) => {
      throw new Error(`${String(error)}: ${JSON.stringify(p.rules().filter((r) => r.state !== 'inactive'))}`);
    });
  }, 60_000);

  it('survives a redeploy, a rollback, an undeploy and a new name without a counter going backwards', async () => {
    const first = scrape();
    const total = rule(first, 'ping');
    // The edited file: the rules keep their names and lines, so their series go on.
    policies.write('agent.seg', POLICY_2);
    expect(deploy(file).code).toBe(0);
    expect(rule(scrape(), 'ping')).toBe(total);
    expect(ping(peer, HOST4, 3)).toBe(3);
    const redeployed = scrape();
    expect(rule(redeployed, 'ping')).toBe(total + 6);
    expect(valueOf(redeployed, 'segc_policy_switches_total', { deployment: name })).toBe(1);
    expect(segc(host, ['rollback', '--name', name], { stateDir }).code).toBe(0);
    expect(ping(peer, HOST4, 2)).toBe(2);
    const rolledBack = scrape();
    expect(rule(rolledBack, 'ping')).toBe(total + 10);
    // New maps under the same name: the kernel's counters restart at zero, the series do not.
    const allow = valueOf(rolledBack, 'segc_packets_total', { deployment: name, direction: 'ingress', verdict: 'allow' });
    expect(segc(host, ['undeploy', '--name', name], { stateDir }).code).toBe(0);
    const gone = scrape();
    expect(gone.some((s) => s.name === 'segc_policy_info' && s.labels['deployment'] === name)).toBe(false);
    expect(rule(gone, 'ping')).toBe(total + 10);
    expect(deploy(file).code).toBe(0);
    expect(ping(peer, HOST4, 1)).toBe(1);
    const again = scrape();
    expect(rule(again, 'ping')).toBe(total + 12);
    expect(valueOf(again, 'segc_packets_total', { deployment: name, direction: 'ingress', verdict: 'allow' })).toBeGreaterThanOrEqual(allow + 1);
    // A deployment that appears while the agent runs.
    expect(deploy(file, second, link2.a.name).code).toBe(0);
    expect(ping(peer, '10.204.0.1', 2)).toBe(2);
    const both = scrape();
    expect(rule(both, 'ping', second)).toBe(4);
    expect(valueOf(both, 'segc_deployments')).toBe(2);
    if (prometheus) {
      const p = prometheus;
      // Prometheus saw every step: no reset of any segc counter.
      await waitFor('Prometheus to scrape the new deployment', () => p.query(`segc_policy_info{deployment="${second}"}`).length === 1, 30_000, 500);
      expect(p.query(`resets(segc_rule_packets_total{deployment="${name}"}[10m]) > 0`)).toEqual([]);
      expect(p.query(`resets(segc_packets_total{deployment="${name}"}[10m]) > 0`)).toEqual([]);
    }
  }, 120_000);

  it('counts half-open TCP sessions (the SYN-flood signature) exactly, for SYNs run through the pinned program', () => {
    const before = scrape();
    const dp = openPinnedDatapath(join('/sys/fs/bpf/segc', name));
    try {
      for (let i = 0; i < 7; i++) {
        const syn = buildFrame({ proto: 6, src: PEER4, dst: HOST4, srcPort: 50000 + i, dstPort: 23 }, { tcpFlags: 'syn' });
        expect(runFrame(dp, 'ingress', syn).verdict).toBe('allow');
      }
    } finally {
      releaseDatapath(dp, true);
    }
    const after = scrape();
    const delta = (metric: string, labels: Record<string, string> = {}) => valueOf(after, metric, { deployment: name, ...labels }) - valueOf(before, metric, { deployment: name, ...labels });
    expect(delta('segc_sessions_half_open')).toBe(7);
    expect(delta('segc_tcp_sessions', { state: 'syn_sent' })).toBe(7);
    expect(delta('segc_sessions_by_state', { state: 'tcp_syn_sent' })).toBe(7);
    expect(delta('segc_sessions_created_total')).toBe(7);
    expect(delta('segc_rule_packets_total', { rule: 'telnet' })).toBe(7);
    expect(delta('segc_datapath_events_total', { event: 'session_miss' })).toBe(7);
  });

  it('shows the same counters in segc stats --watch and the map pressure in segc status', () => {
    const watch = segc(host, ['stats', '--name', name, '--watch', '--interval', '0.3', '--count', '2'], { stateDir });
    expect(watch.code, watch.stderr).toBe(0);
    const frames = watch.stdout.split(/\n(?=')/);
    expect(frames).toHaveLength(2);
    expect(frames[1]).toMatch(/ingress ping\s+allow\s+\d+ packets\s+[\d.]+\/s {2}.*agent\.seg:2/);
    const status = segc(host, ['status', '--name', name], { stateDir });
    expect(status.stdout).toMatch(/sessions {5}\d+ of 1024 \(\d+\.\d % full\), \d+ half-open/);
  });

  it('stops on SIGTERM with exit 0, and enforcement goes on without it', async () => {
    const code = await agent?.stop();
    expect(code).toBe(0);
    expect(agent?.output()).toMatch(/SIGTERM: stopping/);
    expect(httpGet(host, `${AGENT}/metrics`, 1_000)).toBeUndefined();
    expect(ping(peer, HOST4, 1)).toBe(1);
    expect(udpEchoes(peer, HOST4, 53)).toBe(false);
    expect(udpEchoes(peer, HOST4, 5000)).toBe(true);
  });
});
