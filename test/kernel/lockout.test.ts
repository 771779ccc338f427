// The lock-out guard of `segc deploy`, with real traffic: a deploy that would deny the SSH
// connection it runs under (SSH_CONNECTION, set by the test), an established SSH session in the
// deployment's session table, or a --keep flow is refused, nothing changes in the kernel or
// the record, and the message names the flow and the rule (file:line); --allow-lockout deploys.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KERNEL_AVAILABLE } from '../support/datapath-harness.ts';
import { createPolicyDir, type PolicyDir, segc, type SegcRun, startEchoServers, startTcpStream, tcpEchoes, tearDownDeployTest } from '../support/deploy-harness.ts';
import { NetnsSandbox, waitFor, type VethPair } from '../support/netns.ts';

const HOST4 = '10.205.0.1';
const PEER4 = '10.205.0.2';

const POLICY_OPEN = `
policy ingress default deny {
  100 ssh:     allow tcp from any to any port 22
  110 telnet:  allow tcp from any to any port 23
}
`;

/** Line 3 denies ssh. */
const POLICY_CUT = `
policy ingress default deny {
  90 no-ssh:   deny tcp from any to any port 22
  110 telnet:  allow tcp from any to any port 23
}
`;

describe.skipIf(!KERNEL_AVAILABLE)('the lock-out guard of segc deploy, with real traffic', () => {
  const sandbox = new NetnsSandbox('lck');
  const name = `segct-${process.pid}-lck`;
  let host: string;
  let peer: string;
  let link: VethPair;
  let policies: PolicyDir;
  let stateDir: string;
  let servers: Awaited<ReturnType<typeof startEchoServers>>[] = [];
  let open: string;
  let cut: string;

  const deploy = (file: string, extra: readonly string[] = [], env: Record<string, string> = {}): SegcRun =>
    segc(host, ['deploy', file, '--iface', link.a.name, '--name', name, '--max-rules', '64', '--sessions', '1024', ...extra], { stateDir, env });
  const generation = () => (JSON.parse(segc(host, ['status', '--name', name, '--json'], { stateDir }).stdout) as { deployments: { generation: number; kernel: { activeGeneration: number } }[] }).deployments[0];

  beforeAll(async () => {
    host = sandbox.createNetns('host');
    peer = sandbox.createNetns('peer');
    link = sandbox.createVethPair(host, peer, { a: { ipv4: `${HOST4}/24` }, b: { ipv4: `${PEER4}/24` } });
    servers = [await startEchoServers(host, [22, 23], [])];
    policies = createPolicyDir();
    stateDir = mkdtempSync(join(tmpdir(), 'segct-state-'));
    open = policies.write('open.seg', POLICY_OPEN);
    cut = policies.write('cut.seg', POLICY_CUT);
    const first = deploy(open);
    expect(first.code, first.stderr).toBe(0);
  }, 60_000);

  afterAll(() => tearDownDeployTest({ host, names: [name], stateDir, servers, policies, sandbox }));

  it('refuses a deploy that denies the SSH connection it runs under, naming the rule, and changes nothing', () => {
    const before = generation();
    const r = deploy(cut, [], { SSH_CONNECTION: `${PEER4} 50022 ${HOST4} 22` });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`error[SEG5101]: ingress rule 'no-ssh' denies the SSH connection this command runs under (SSH_CONNECTION): ingress tcp ${PEER4}:50022 -> ${HOST4}:22`);
    expect(r.stderr).toContain(`--> ${cut}:3:3`);
    expect(r.stderr).toMatch(/nothing was deployed\nhint: .*--confirm DURATION.*--allow-lockout/);
    expect(generation()).toEqual(before);
    expect(tcpEchoes(peer, HOST4, 22)).toBe(true);
    // The dry run says the same and exits 1; an SSH connection the policy allows passes the guard.
    const dry = deploy(cut, ['--dry-run'], { SSH_CONNECTION: `${PEER4} 50022 ${HOST4} 22` });
    expect(dry.code).toBe(1);
    expect(dry.stderr).toMatch(/denies the SSH connection[\s\S]*a deploy would be refused/);
    expect(deploy(cut, ['--dry-run'], { SSH_CONNECTION: `${PEER4} 50023 ${HOST4} 23` }).code).toBe(0);
    // An SSH connection that does not cross the deployed interface (over lo here) is not the policy's.
    expect(deploy(cut, ['--dry-run'], { SSH_CONNECTION: '127.0.0.1 50022 127.0.0.1 22' }).code).toBe(0);
  });

  it('refuses a deploy that denies a --keep flow', () => {
    const before = generation();
    const r = deploy(cut, ['--keep', 'tcp 22']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/error\[SEG5101\]: ingress rule 'no-ssh' denies the kept management flow 'tcp 22': ingress tcp \S+ -> \S+:22/);
    expect(r.stderr).toContain(`--> ${cut}:3:3`);
    expect(generation()).toEqual(before);
    expect(deploy(cut, ['--keep', 'tcp 23']).code).toBe(0);
    const back = deploy(open);
    expect(back.code, back.stderr).toBe(0);
  });

  it('refuses a deploy that denies an established SSH session in the session table; --allow-lockout deploys it', async () => {
    const stream = startTcpStream(peer, HOST4, 22, 20_000);
    await waitFor('the SSH stand-in to flow', () => stream.echoed().length > 5, 5_000);
    const before = generation();
    const r = deploy(cut);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`ingress rule 'no-ssh' denies an established SSH session in the session table: ingress tcp ${PEER4.replace(/\./g, '\\.')}:\\d+ -> ${HOST4.replace(/\./g, '\\.')}:22`));
    expect(generation()).toEqual(before);
    const forced = deploy(cut, ['--allow-lockout']);
    expect(forced.code, forced.stderr).toBe(0);
    expect(forced.stderr).toMatch(/warning\[SEG5101\][\s\S]*deploying anyway \(--allow-lockout\)/);
    expect(generation()?.generation).toBe((before?.generation ?? 0) + 1);
    await stream.done;
  }, 60_000);
});
