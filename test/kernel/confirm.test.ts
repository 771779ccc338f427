// Commit-confirmed deploys with real traffic: a long-lived TCP connection from a peer namespace
// to the host's port 22 stands in for the operator's SSH session. A `--confirm` deploy that
// cuts it, whose deploying shell and processes are all killed right after the switch, must be
// rolled back by its detached watcher within the window plus one second, and the connection
// resume; a confirmed one stays; rollback cancels a trial; a dead watcher's overdue trial is
// rolled back by the next command.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPinnedDatapath, releaseDatapath } from '../../runtime/deploy.ts';
import { readConfig } from '../../runtime/datapath/config.ts';
import { slotGeneration } from '../../runtime/datapath/slots.ts';
import { KERNEL_AVAILABLE } from '../support/datapath-harness.ts';
import { createPolicyDir, type PolicyDir, segc, type SegcRun, startEchoServers, startTcpStream, tearDownDeployTest } from '../support/deploy-harness.ts';
import { NetnsSandbox, waitFor, type VethPair } from '../support/netns.ts';

const HOST4 = '10.203.0.1';
const PEER4 = '10.203.0.2';
const SEGC = join(dirname(fileURLToPath(import.meta.url)), '..', 'support', 'segc-source.ts');

/** ssh and telnet in; everything out. */
const POLICY_OPEN = `
policy ingress default deny {
  100 ssh:     allow tcp from any to any port 22
  110 telnet:  allow tcp from any to any port 23
}
policy egress default allow {
}
`;

/** A harmless change: telnet gone, ssh still allowed. */
const POLICY_NO_TELNET = POLICY_OPEN.replace(/^ {2}110 telnet: .*$/m, '');

/**
 * ssh denied, and egress too (otherwise the host's retransmissions would reopen the flow from
 * the egress side): the deploy that locks the operator out.
 */
const POLICY_CUT = POLICY_OPEN.replace(/^ {2}100 ssh: .*$/m, '').replace('policy egress default allow', 'policy egress default deny');

interface Confirmation {
  generation: number;
  deadline: string;
  rollbackTo: number | null;
  overdue: boolean;
  watcher: { pid: number; running: boolean } | null;
}

describe.skipIf(!KERNEL_AVAILABLE)('segc deploy --confirm with real traffic', () => {
  const sandbox = new NetnsSandbox('cfm');
  const name = `segct-${process.pid}-cfm`;
  let host: string;
  let peer: string;
  let link: VethPair;
  let policies: PolicyDir;
  let stateDir: string;
  let servers: Awaited<ReturnType<typeof startEchoServers>>[] = [];
  let open: string;
  let noTelnet: string;
  let cut: string;

  const deployArgs = (file: string, extra: readonly string[]) => ['deploy', file, '--iface', link.a.name, '--name', name, '--max-rules', '64', '--sessions', '1024', ...extra];
  const run = (args: readonly string[], env: Record<string, string> = {}): SegcRun => segc(host, args, { stateDir, env });
  const status = () => {
    const r = run(['status', '--name', name, '--json']);
    expect(r.code, r.stderr).toBe(0);
    return { ...(JSON.parse(r.stdout) as { deployments: { generation: number; policyHash: string; confirmation: Confirmation | null }[] }).deployments[0], stderr: r.stderr };
  };
  /** The generation the kernel runs, read from the pinned config (no segc process involved). */
  const kernelGeneration = (): number => {
    const dp = openPinnedDatapath(join('/sys/fs/bpf/segc', name));
    try {
      return Number(slotGeneration(dp, readConfig(dp).activeSlot));
    } finally {
      releaseDatapath(dp, true);
    }
  };
  const pendingFile = () => join(stateDir, name, 'confirm.json');
  const watcherAlive = (pid: number) => existsSync(`/proc/${pid}`) && readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('confirm-watch');

  beforeAll(async () => {
    host = sandbox.createNetns('host');
    peer = sandbox.createNetns('peer');
    link = sandbox.createVethPair(host, peer, { a: { ipv4: `${HOST4}/24` }, b: { ipv4: `${PEER4}/24` } });
    servers = [await startEchoServers(host, [22, 23], [])];
    policies = createPolicyDir();
    stateDir = mkdtempSync(join(tmpdir(), 'segct-state-'));
    open = policies.write('open.seg', POLICY_OPEN);
    noTelnet = policies.write('no-telnet.seg', POLICY_NO_TELNET);
    cut = policies.write('cut.seg', POLICY_CUT);
    const first = run(deployArgs(open, []));
    expect(first.code, first.stderr).toBe(0);
  }, 60_000);

  afterAll(() => {
    // A watcher left by a failed test: stopped by undeploy (tearDownDeployTest runs it).
    tearDownDeployTest({ host, names: [name], stateDir, servers, policies, sandbox });
  });

  it('puts the previous policy back within the window plus one second after the deploying session is killed right after the switch, and the connection resumes', async () => {
    const openHash = status().policyHash;
    const stream = startTcpStream(peer, HOST4, 22, 20_000);
    await waitFor('the stream to echo', () => stream.echoed().length > 10, 5_000);
    const before = kernelGeneration();

    // The operator's shell: its own session (like sshd's child), running segc, which dies right
    // after the switch (SEGC_TEST_FAIL_AT=switched: SIGKILL before attach, verify and record).
    const shellCommand = [process.execPath, '--no-warnings', SEGC, ...deployArgs(cut, ['--confirm', '5s'])].map((a) => `'${a}'`).join(' ');
    const shell = spawn('nsenter', [`--net=/var/run/netns/${host}`, '--', 'sh', '-c', `${shellCommand}; sleep 60`], {
      detached: true,
      stdio: 'ignore',
      env: { ...process.env, NO_COLOR: '1', SEGC_STATE_DIR: stateDir, SEGC_TEST_FAIL_AT: 'switched' },
    });
    await waitFor('the switch to the cutting policy', () => kernelGeneration() > before, 20_000, 10);
    // Every process of the session goes: the shell and whatever segc left in its group.
    process.kill(-(shell.pid as number), 'SIGKILL');
    const cutGeneration = kernelGeneration();
    const pending = JSON.parse(readFileSync(pendingFile(), 'utf8')) as { deadline: string; armedAt: string; generation: number; rollbackTo: number; watcher: { pid: number } | null };
    expect(pending.generation).toBe(cutGeneration);
    expect(pending.rollbackTo).toBe(before);
    expect(Date.parse(pending.deadline) - Date.parse(pending.armedAt)).toBe(5_000);
    expect(pending.watcher).not.toBeNull();
    expect(watcherAlive(pending.watcher?.pid as number)).toBe(true);

    // The connection is cut while the trial lasts.
    const echoedAtCut = stream.echoed().length;
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(kernelGeneration()).toBe(cutGeneration);
    const echoedDuringCut = stream.echoed().length;
    expect(echoedDuringCut - echoedAtCut).toBeLessThan(5);

    await waitFor('the rollback', () => kernelGeneration() !== cutGeneration, 10_000, 20);
    const back = Date.now();
    // armedAt precedes the switch, so this bounds the time from the switch to the rollback.
    expect(back - Date.parse(pending.armedAt)).toBeLessThanOrEqual(6_000);
    await waitFor('the connection to resume', () => stream.echoed().length > echoedDuringCut + 10, 20_000);
    await waitFor('the watcher to exit', () => !watcherAlive(pending.watcher?.pid as number), 5_000);

    const after = status();
    expect(after.policyHash).toBe(openHash);
    expect(after.generation).toBe(kernelGeneration());
    expect(after.confirmation).toBeNull();
    expect(existsSync(pendingFile())).toBe(false);
    expect(readFileSync(join(stateDir, name, 'confirm.log'), 'utf8')).toMatch(new RegExp(`generation ${cutGeneration} was not confirmed .*rolled back to the policy of generation ${before}`));
    await stream.done;
  }, 90_000);

  it('keeps a deploy that is confirmed in time, and its watcher goes', async () => {
    // Long enough for segc processes from source to start on a busy machine before the deadline.
    const r = run(deployArgs(noTelnet, ['--confirm', '15s']));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/confirm {4}by .* \(15 s\): run 'segc confirm --name/);
    const trial = status();
    expect(trial.confirmation).toMatchObject({ generation: trial.generation, overdue: false, watcher: { running: true } });
    const confirmed = run(['confirm', '--name', name]);
    expect(confirmed.code, `${confirmed.stderr}${existsSync(join(stateDir, name, 'confirm.log')) ? readFileSync(join(stateDir, name, 'confirm.log'), 'utf8') : ''} ${new Date().toISOString()} ${JSON.stringify(trial.confirmation)}`).toBe(0);
    expect(confirmed.stdout).toMatch(new RegExp(`confirmed '${name}': generation ${trial.generation} stays in force`));
    await waitFor('the watcher to stop', () => !watcherAlive(trial.confirmation?.watcher?.pid as number), 5_000);
    await waitFor('the deadline to pass', () => Date.now() > Date.parse(trial.confirmation?.deadline as string) + 500, 20_000);
    const later = status();
    expect(later.generation).toBe(trial.generation);
    expect(kernelGeneration()).toBe(trial.generation);
    expect(later.confirmation).toBeNull();
    // Nothing left to confirm: exit 1.
    expect(run(['confirm', '--name', name]).code).toBe(1);
  }, 60_000);

  it('refuses a second deploy while one waits for confirmation; rollback cancels the trial', async () => {
    const inForce = status();
    const trial = run(deployArgs(cut, ['--confirm', '60s']));
    expect(trial.code, trial.stderr).toBe(0);
    const pending = status();
    expect(run(['status', '--name', name]).stdout).toMatch(/confirm {6}PENDING: generation \d+ until .* s left\); then generation \d+'s policy comes back unless 'segc confirm/);
    const second = run(deployArgs(open, []));
    expect(second.code).toBe(2);
    expect(second.stderr).toMatch(new RegExp(`generation ${pending.generation} waiting for confirmation until`));
    expect(second.stderr).toMatch(/segc confirm --name .*segc rollback --name/);
    expect(kernelGeneration()).toBe(pending.generation);
    const rolled = run(['rollback', '--name', name]);
    expect(rolled.code, rolled.stderr).toBe(0);
    const after = status();
    expect(after.policyHash).toBe(inForce.policyHash);
    expect(after.confirmation).toBeNull();
    await waitFor('the watcher to stop', () => !watcherAlive(pending.confirmation?.watcher?.pid as number), 5_000);
  }, 60_000);

  it('rolls back an overdue trial at the next segc command when its watcher was killed too', async () => {
    const inForce = status();
    const trial = run(deployArgs(cut, ['--confirm', '2s']));
    expect(trial.code, trial.stderr).toBe(0);
    const pending = JSON.parse(readFileSync(pendingFile(), 'utf8')) as Confirmation;
    process.kill(pending.watcher?.pid as number, 'SIGKILL');
    await waitFor('the deadline to pass', () => Date.now() > Date.parse(pending.deadline) + 300, 10_000);
    // Still the trial in the kernel: nobody has acted yet.
    expect(kernelGeneration()).toBe(pending.generation);
    const after = status();
    expect(after.stderr).toMatch(new RegExp(`the confirmation window of '${name}' \\(generation ${pending.generation}\\) ended at .*: rolled back to the policy of generation ${inForce.generation}`));
    expect(after.policyHash).toBe(inForce.policyHash);
    expect(after.confirmation).toBeNull();
    expect(kernelGeneration()).toBe(after.generation);
  }, 60_000);

  it('undeploys a first deploy that is not confirmed', async () => {
    const other = `${name}2`;
    const sandboxIface = sandbox.createVethPair(host, peer, { a: { ipv4: '10.204.0.1/24' }, b: { ipv4: '10.204.0.2/24' } });
    try {
      const r = run(['deploy', open, '--iface', sandboxIface.a.name, '--name', other, '--max-rules', '64', '--sessions', '1024', '--confirm', '1s']);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/otherwise the deployment is removed/);
      await waitFor('the first deploy to be removed', () => !existsSync(join('/sys/fs/bpf/segc', other)), 8_000);
      expect(run(['status', '--json']).stdout).not.toContain(other);
    } finally {
      run(['undeploy', '--name', other]);
    }
  }, 60_000);
});
