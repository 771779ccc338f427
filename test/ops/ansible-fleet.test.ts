// The segc.firewall collection on a fleet reached over real SSH. Three hosts, each a network
// namespace plus a mount namespace of its own (its own bpffs; its own state directory) running
// its own sshd on its own address; the control side, another namespace, reaches them over veth
// with a key this test generates, and runs Debian's ansible-playbook with the collection's
// rollout playbook. Cases: the first run deploys everywhere and a second changes nothing; check
// mode with --diff shows the semantic change and changes nothing; a policy that does not check
// stops the run before any host changes; a health gate that fails rolls back the hosts already
// changed and never touches the others; real traffic through each host follows its policy.
// Also: ansible-lint passes on the collection. Every process (by pid) and namespace (by name) goes.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KERNEL_AVAILABLE } from '../support/datapath-harness.ts';
import { tcpEchoes } from '../support/deploy-harness.ts';
import { NetnsSandbox, waitFor } from '../support/netns.ts';
import { HAVE_NPM, NODE_BIN_DIR, packSegc, ROOT } from '../support/package-harness.ts';

const COLLECTION = join(ROOT, 'ops/ansible');
const has = (command: string, args: readonly string[]) => spawnSync(command, args, { timeout: 60_000 }).status === 0;
const HAVE_ANSIBLE = has('ansible-playbook', ['--version']);
const HAVE_SSHD = existsSync('/usr/sbin/sshd') && existsSync('/usr/bin/ssh-keygen');
const HAVE_LINT = has('ansible-lint', ['--version']);
const HOSTS = 3;
/** One ansible-playbook run; minutes only on a machine loaded far beyond its cores. */
const RUN_TIMEOUT_MS = 540_000;

/**
 * The policy template every host renders: SSH, its own application port, and the variant's
 * change ("blocking" lets the application port in only from a network the test's traffic is not in).
 */
const TEMPLATE = `# {{ inventory_hostname }}: rendered by the segc role
policy ingress default deny {
  100 ssh: allow tcp from any to any port 22
  110 app: allow tcp from {{ '192.0.2.0/24' if segc_test_variant == 'blocking' else 'any' }} to any port {{ app_port }}
{% if segc_test_variant == 'more' %}
  120 metrics: allow tcp from 10.219.0.0/16 to any port 9100
{% endif %}
{% if segc_test_variant == 'broken' %}
  130 broken: allow tcp from nowhere to any port 1
{% endif %}
}
`;

interface Host {
  readonly name: string;
  readonly netns: string;
  readonly address: string;
  readonly iface: string;
  readonly appPort: number;
  readonly dir: string;
  sshd?: ChildProcess;
}

describe.skipIf(!KERNEL_AVAILABLE || !HAVE_ANSIBLE || !HAVE_SSHD || !HAVE_NPM)('segc.firewall over real SSH', () => {
  const sandbox = new NetnsSandbox('fleet');
  const deployment = `segct-${process.pid}-fleet`;
  const hosts: Host[] = [];
  const servers: ChildProcess[] = [];
  let control = '';
  let work = '';
  let env: Record<string, string> = {};

  /** Runs ansible-playbook from the control namespace; its output and each host's recap. */
  const playbook = (name: 'site' | 'rollout', extra: Readonly<Record<string, unknown>>, flags: readonly string[] = []) => {
    const r = spawnSync('nsenter', [`--net=/var/run/netns/${control}`, '--', 'ansible-playbook', '-i', join(work, 'inventory.yml'), `segc.firewall.${name}`, '-e', JSON.stringify(extra), ...flags], {
      encoding: 'utf8',
      timeout: RUN_TIMEOUT_MS,
      env,
      cwd: work,
    });
    const output = `${r.stdout}\n${r.stderr}`;
    const recap = new Map<string, Record<string, number>>();
    for (const m of output.matchAll(/^(h\d)\s+: (.*)$/gm)) {
      recap.set(m[1] as string, Object.fromEntries([...(m[2] as string).matchAll(/(\w+)=(\d+)/g)].map((x) => [x[1], Number(x[2])])));
    }
    return { code: r.status, output, recap };
  };

  /** The deployment on a host, read inside its namespaces (its bpffs) with the installed segc. */
  const statusOf = (h: Host): { policyHash: string; generation: number } | undefined => {
    const pid = h.sshd?.pid;
    if (pid === undefined) throw new Error(`${h.name} has no sshd`);
    const r = spawnSync('nsenter', [`--target=${pid}`, '--net', '--mount', '--', 'env', `PATH=${NODE_BIN_DIR}:/usr/sbin:/usr/bin:/sbin:/bin`, `SEGC_STATE_DIR=${join(h.dir, 'state')}`, join(h.dir, 'prefix/bin/segc'), 'status', '--name', deployment, '--json'], { encoding: 'utf8', timeout: 30_000 });
    if (r.status !== 0) return undefined;
    const d = (JSON.parse(r.stdout) as { deployments: { policyHash: string; generation: number }[] }).deployments[0];
    return d && { policyHash: d.policyHash, generation: d.generation };
  };
  const statuses = () => hosts.map(statusOf);

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'segct-fleet-'));
    chmodSync(work, 0o755);
    const tarball = packSegc(join(work, 'pack'), false);
    spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(work, 'id_control')], { timeout: 30_000 });
    writeFileSync(join(work, 'authorized_keys'), readFileSync(join(work, 'id_control.pub')));
    mkdirSync('/run/sshd', { recursive: true });
    mkdirSync(join(work, 'cp'));
    control = sandbox.createNetns('ctl');
    for (let i = 1; i <= HOSTS; i++) {
      const netns = sandbox.createNetns(`h${i}`);
      const pair = sandbox.createVethPair(control, netns, { a: { ipv4: `10.219.${i}.1/24` }, b: { ipv4: `10.219.${i}.2/24` } });
      const dir = join(work, `h${i}`);
      mkdirSync(join(dir, 'state'), { recursive: true });
      hosts.push({ name: `h${i}`, netns, address: `10.219.${i}.2`, iface: pair.b.name, appPort: 9000 + i, dir });
    }
    for (const h of hosts) {
      spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(h.dir, 'host_key')], { timeout: 30_000 });
      writeFileSync(
        join(h.dir, 'sshd_config'),
        [
          `ListenAddress ${h.address}:22`,
          `HostKey ${join(h.dir, 'host_key')}`,
          `AuthorizedKeysFile ${join(work, 'authorized_keys')}`,
          'PidFile none',
          'PermitRootLogin prohibit-password',
          'PasswordAuthentication no',
          'KbdInteractiveAuthentication no',
          'UsePAM no',
          'StrictModes no',
          'Subsystem sftp /usr/lib/openssh/sftp-server',
          '',
        ].join('\n'),
      );
      // The host: its network namespace, then a private mount namespace with a bpffs of its own.
      // nsenter and unshare exec (no fork), so the pid is sshd's.
      h.sshd = spawn('nsenter', [`--net=/var/run/netns/${h.netns}`, '--', 'unshare', '--mount', '--propagation', 'private', '--', 'sh', '-c', 'mount -t bpf bpf /sys/fs/bpf && exec /usr/sbin/sshd -D -e -f "$0"', join(h.dir, 'sshd_config')], { stdio: ['ignore', 'pipe', 'pipe'] });
      h.sshd.stderr?.resume();
      // Echo servers on the application ports of every host (so a port's verdict is the policy's).
      servers.push(spawn('nsenter', [`--net=/var/run/netns/${h.netns}`, '--', process.execPath, '-e', ECHO, JSON.stringify(hosts.map((x) => x.appPort).concat(9100))], { stdio: 'ignore' }));
    }
    for (const h of hosts) await waitFor(`sshd on ${h.name}`, () => tcpEchoesOrBanner(control, h.address), 15_000, 100);

    mkdirSync(join(work, 'collections/ansible_collections/segc'), { recursive: true });
    symlinkSync(COLLECTION, join(work, 'collections/ansible_collections/segc/firewall'));
    writeFileSync(join(work, 'policy.seg.j2'), TEMPLATE);
    writeFileSync(
      join(work, 'ansible.cfg'),
      [
        '[defaults]',
        `collections_path = ${join(work, 'collections')}`,
        `local_tmp = ${join(work, 'ansible-local')}`,
        'remote_tmp = /tmp/.segct-ansible',
        'host_key_checking = False',
        'interpreter_python = /usr/bin/python3',
        'forks = 5',
        'nocolor = true',
        '[ssh_connection]',
        'pipelining = True',
        // One master connection per host for the whole test (closed by afterAll with ssh -O exit).
        'ssh_args = -o ControlMaster=auto -o ControlPersist=300s -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o ConnectTimeout=10',
        `control_path = ${join(work, 'cp')}/%%h`,
        '',
      ].join('\n'),
    );
    const inventory = {
      all: {
        vars: {
          ansible_user: 'root',
          ansible_ssh_private_key_file: join(work, 'id_control'),
          segc_package_tarball: tarball,
          segc_deployment: deployment,
          segc_policy_templates: [{ src: join(work, 'policy.seg.j2'), dest: 'host.seg' }],
          segc_agent_service_state: 'unmanaged',
          segc_test_variant: 'good',
          segc_gate_window: 3,
          segc_gate_max_deny_rate: 2,
        },
        children: {
          segc: {
            hosts: Object.fromEntries(
              hosts.map((h) => [
                h.name,
                {
                  ansible_host: h.address,
                  app_port: h.appPort,
                  segc_interfaces: [h.iface],
                  segc_prefix: join(h.dir, 'prefix'),
                  segc_policy_dir: join(h.dir, 'etc-segc'),
                  segc_systemd_dir: join(h.dir, 'systemd'),
                  segc_agent_env_file: join(h.dir, 'default-segc-agent'),
                  segc_package_cache: h.dir,
                  segc_environment: { PATH: `${NODE_BIN_DIR}:/usr/sbin:/usr/bin:/sbin:/bin`, SEGC_STATE_DIR: join(h.dir, 'state') },
                },
              ]),
            ),
          },
        },
      },
    };
    writeFileSync(join(work, 'inventory.yml'), JSON.stringify(inventory, null, 2));
    env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: work, ANSIBLE_CONFIG: join(work, 'ansible.cfg'), ANSIBLE_FORCE_COLOR: '0', LANG: 'C.UTF-8' };
  }, 120_000);

  afterAll(() => {
    // The master connections first (they hold a session on each host), then each sshd by pid.
    for (const h of hosts) {
      if (control && work) spawnSync('nsenter', [`--net=/var/run/netns/${control}`, '--', 'ssh', '-O', 'exit', '-o', `ControlPath=${join(work, 'cp', h.address)}`, h.address], { timeout: 10_000, stdio: 'ignore' });
    }
    for (const h of hosts) h.sshd?.kill('SIGKILL');
    for (const s of servers) s.kill('SIGKILL');
    // The hosts' bpffs go with their mount namespaces, their filters with their network namespaces.
    sandbox.cleanup();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('the first run installs segc and deploys everywhere; traffic through each host follows its own policy', () => {
    const r = playbook('site', {});
    expect(r.code, r.output).toBe(0);
    for (const h of hosts) expect(r.recap.get(h.name)?.['changed'], r.output).toBeGreaterThan(0);
    const all = statuses();
    expect(all.map((s) => s?.generation)).toEqual([1, 1, 1]);
    for (const h of hosts) {
      expect(tcpEchoes(control, h.address, h.appPort), `${h.name}:${h.appPort}`).toBe(true);
      for (const other of hosts.filter((x) => x !== h)) expect(tcpEchoes(control, h.address, other.appPort, 600), `${h.name}:${other.appPort}`).toBe(false);
      expect(tcpEchoes(control, h.address, 9100, 600)).toBe(false);
    }
    // The role installed the agent's unit, pointed at this installation.
    expect(readFileSync(join(hosts[0]!.dir, 'systemd/segc-agent.service.d/ansible.conf'), 'utf8')).toContain(`ExecStart=${join(hosts[0]!.dir, 'prefix/bin/segc')} agent`);
  }, RUN_TIMEOUT_MS + 60_000);

  it('a second run changes nothing', () => {
    const before = statuses();
    const r = playbook('site', {});
    expect(r.code, r.output).toBe(0);
    for (const h of hosts) expect(r.recap.get(h.name)?.['changed'], r.output).toBe(0);
    expect(statuses()).toEqual(before);
  }, RUN_TIMEOUT_MS + 60_000);

  it('check mode with --diff shows the semantic change on every host and changes nothing', () => {
    const before = statuses();
    const files = hosts.map((h) => readFileSync(join(h.dir, 'etc-segc/host.seg'), 'utf8'));
    const r = playbook('site', { segc_test_variant: 'more' }, ['--check', '--diff']);
    expect(r.code, r.output).toBe(0);
    // One changed region per host: TCP to 9100 from 10.219/16, deny by default before, allow by the new rule after.
    const minus = [...r.output.matchAll(/^-ingress tcp (\S+) -> (\S+):9100 \(deny -> allow\): deny by default of the direction \(deployed:\S+host\.seg:\d+\)$/gm)];
    const plus = [...r.output.matchAll(/^\+ingress tcp (\S+) -> (\S+):9100 \(deny -> allow\): allow by rule metrics \(priority 120, \S+host\.seg:\d+\)$/gm)];
    expect(minus.length, r.output).toBe(HOSTS);
    expect(plus.length, r.output).toBe(HOSTS);
    for (const m of plus) expect(m[1]).toMatch(/^10\.219\./);
    expect(statuses()).toEqual(before);
    expect(hosts.map((h) => readFileSync(join(h.dir, 'etc-segc/host.seg'), 'utf8'))).toEqual(files);
    for (const h of hosts) expect(tcpEchoes(control, h.address, 9100, 600)).toBe(false);
  }, RUN_TIMEOUT_MS + 60_000);

  it('a policy that does not check stops the run before any host changes', () => {
    const before = statuses();
    const files = hosts.map((h) => readFileSync(join(h.dir, 'etc-segc/host.seg'), 'utf8'));
    const r = playbook('rollout', { segc_test_variant: 'broken' });
    expect(r.code, r.output).not.toBe(0);
    expect(r.output).toMatch(/unknown address set 'nowhere'/);
    expect(statuses()).toEqual(before);
    expect(hosts.map((h) => readFileSync(join(h.dir, 'etc-segc/host.seg'), 'utf8'))).toEqual(files);
    // The first stage failed; the later stages' hosts were never part of the run.
    expect(r.recap.has('h2') || r.recap.has('h3'), r.output).toBe(false);
  }, RUN_TIMEOUT_MS + 60_000);

  it('a health gate that fails on the first stage rolls that host back and never touches the others', async () => {
    const before = statuses();
    const h1 = hosts[0]!;
    // Traffic the test keeps running through h1: connections to its application port, which
    // the "blocking" policy denies, so that its deny rate crosses the gate's threshold.
    const traffic = spawn('nsenter', [`--net=/var/run/netns/${control}`, '--', process.execPath, '-e', CONNECT_LOOP, h1.address, String(h1.appPort), '120000'], { stdio: 'ignore' });
    try {
      const r = playbook('rollout', { segc_test_variant: 'blocking' });
      expect(r.code, r.output).not.toBe(0);
      expect(r.output).toMatch(/health gate failed on h1: [\d.]+ denied packets\/s/);
      const after = statuses();
      expect(after[0]?.policyHash).toBe(before[0]?.policyHash);
      // Deployed (generation +1), then rolled back (+1 again).
      expect(after[0]?.generation).toBe((before[0]?.generation ?? 0) + 2);
      expect(after.slice(1)).toEqual(before.slice(1));
      expect(r.recap.has('h2') || r.recap.has('h3'), r.output).toBe(false);
    } finally {
      traffic.kill('SIGKILL');
    }
    // The rolled-back policy lets the application port in again (retried: the machine may be loaded).
    await waitFor(`${h1.name}:${h1.appPort} to open again`, () => tcpEchoes(control, h1.address, h1.appPort, 3_000), 20_000, 500);
  }, RUN_TIMEOUT_MS + 60_000);

  it.skipIf(!HAVE_LINT)('ansible-lint passes on the collection', () => {
    const r = spawnSync('ansible-lint', ['--offline', '--nocolor'], { cwd: join(work, 'collections/ansible_collections/segc/firewall'), encoding: 'utf8', timeout: 240_000, env: { ...env, ANSIBLE_COLLECTIONS_PATH: join(work, 'collections') } });
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
  }, RUN_TIMEOUT_MS + 60_000);
});

const ECHO = `
const net = require('node:net');
for (const port of JSON.parse(process.argv[1])) net.createServer((s) => { s.on('data', (d) => s.write(d)); s.on('error', () => {}); }).listen(port);
// Ended by afterAll; the bound only catches a run that died (on a loaded machine a run takes 20 min).
setTimeout(() => process.exit(0), 3600000);
`;

/** Opens a TCP connection every 50 ms to host:port until the deadline (ms). */
const CONNECT_LOOP = `
const net = require('node:net');
const end = Date.now() + Number(process.argv[3]);
setInterval(() => {
  if (Date.now() > end) process.exit(0);
  const s = net.connect({ host: process.argv[1], port: Number(process.argv[2]) });
  s.setTimeout(1000, () => s.destroy());
  s.on('connect', () => s.end());
  s.on('error', () => {});
}, 50);
`;

/** True when an SSH server answers on address:22 from `netns` (its banner starts with SSH-). */
function tcpEchoesOrBanner(netns: string, address: string): boolean {
  const r = spawnSync('nsenter', [`--net=/var/run/netns/${netns}`, '--', process.execPath, '-e', `const s=require('node:net').connect(22,'${address}');s.on('data',d=>process.exit(String(d).startsWith('SSH-')?0:1));s.on('error',()=>process.exit(2));setTimeout(()=>process.exit(3),1000)`], { timeout: 5_000 });
  return r.status === 0;
}
