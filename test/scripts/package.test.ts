// The installable package on a fresh host: `npm pack` (with the package's own prepack: build,
// `make bpf`, the pack-time check of the BPF object), then `npm install -g` of the tarball into
// a clean prefix with no network, and the installed segc run with a PATH that has no clang:
// --version, doctor, check of the shipped examples and a real deploy in a network namespace
// with traffic through it.
import { spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATAPATH_VERSION } from '../../runtime/datapath/version.ts';
import { KERNEL_AVAILABLE } from '../support/datapath-harness.ts';
import { removeDeploymentPins, startEchoServers, tcpEchoes } from '../support/deploy-harness.ts';
import { NetnsSandbox } from '../support/netns.ts';
import { HAVE_NPM, installSegc, packSegc, ROOT, toolchainFreePath } from '../support/package-harness.ts';

const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const ONLY_SSH = 'policy ingress default deny {\n  100 ssh: allow tcp from any to any port 22\n}\n';

describe.skipIf(!HAVE_NPM)('the npm package', () => {
  let work = '';
  let tarball = '';
  let prefix = '';
  let path = '';
  let installTime = 0;

  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'segct-package-'));
    chmodSync(work, 0o755);
    tarball = packSegc(join(work, 'pack'), true);
    prefix = join(work, 'prefix');
    const started = Date.now();
    const installed = installSegc(tarball, prefix);
    installTime = Date.now() - started;
    expect(installed.status, installed.output).toBe(0);
    path = toolchainFreePath(prefix);
  }, 480_000);

  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  const installed = (args: readonly string[], options: { netns?: string; env?: Record<string, string>; asUser?: number } = {}) => {
    const env = { PATH: path, NO_COLOR: '1', HOME: work, ...options.env };
    const user = options.asUser === undefined ? [] : ['setpriv', `--reuid=${options.asUser}`, `--regid=${options.asUser}`, '--clear-groups', '--'];
    const ns = options.netns === undefined ? [] : ['nsenter', `--net=/var/run/netns/${options.netns}`, '--'];
    const argv = [...ns, ...user, 'env', '-i', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), 'segc', ...args];
    const r = spawnSync(argv[0] as string, argv.slice(1), { encoding: 'utf8', timeout: 60_000, cwd: work });
    return { code: r.status, out: r.stdout, err: r.stderr };
  };

  it('bundles every runtime dependency, so that a host without a registry can install it', () => {
    const json = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string>; bundleDependencies: string[] };
    expect([...json.bundleDependencies].sort()).toEqual(Object.keys(json.dependencies).sort());
  });

  it('carries the compiled data path, the bundled CLI, the ops files and the docs, and no build tree', () => {
    const list = spawnSync('tar', ['tzf', tarball], { encoding: 'utf8' }).stdout.split('\n');
    for (const f of ['bpf/build/segc.bpf.o', 'bpf/build/segc_census.bpf.o', 'dist/cli/segc.js', 'bin/segc.js', 'ops/systemd/segc-agent.service', 'ops/prometheus/segc-alerts.yml', 'ops/grafana/segc-dashboard.json', 'docs/deploy.md', 'README.md', 'node_modules/koffi/package.json']) {
      expect(list, f).toContain(`package/${f}`);
    }
    expect(list.filter((f) => /^package\/(test|bench|\.tools)\//.test(f))).toEqual([]);
    process.stdout.write(`package: ${tarball.split('/').pop()} ${(statSync(tarball).size / 1e6).toFixed(2)} MB, offline install ${(installTime / 1000).toFixed(1)} s\n`);
  });

  it('installs a segc that finds no clang on its PATH and names its version and data-path version', () => {
    expect(spawnSync('env', ['-i', `PATH=${path}`, 'sh', '-c', 'command -v clang || command -v make || command -v git']).status).not.toBe(0);
    const r = installed(['--version']);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toBe(`${VERSION} (data path version ${DATAPATH_VERSION})\n`);
    expect(existsSync(join(prefix, 'lib/node_modules/segc/bpf/build/segc.bpf.o'))).toBe(true);
  });

  it('checks the examples it ships', () => {
    const r = installed(['check', '--each', join(prefix, 'lib/node_modules/segc/examples')]);
    expect(r.code, r.out + r.err).toBe(0);
    expect(r.err).not.toMatch(/\n\s+at /);
  });

  it.skipIf(process.getuid?.() !== 0)('doctor says what a host lacks (privileges for a plain user) and never asks for clang', () => {
    const nobody = installed(['doctor'], { asUser: 65534 });
    expect(nobody.code, nobody.err).toBe(2);
    expect(nobody.out).toMatch(/FAIL\s+privileges\s+uid 65534, missing/);
    expect(nobody.out).toMatch(/ok\s+data path object\s+\S+lib\/node_modules\/segc\/bpf\/build\/segc\.bpf\.o \(data path version \d+\)/);
    expect(nobody.out + nobody.err).not.toMatch(/clang|make bpf/);
    if (KERNEL_AVAILABLE) {
      const root = installed(['doctor', '--json']);
      const report = JSON.parse(root.out) as { ok: boolean; checks: { name: string; ok: boolean }[] };
      expect(report.checks.filter((c) => !c.ok), root.out).toEqual([]);
      expect(root.code).toBe(0);
    }
  });

  describe.skipIf(!KERNEL_AVAILABLE)('a real deploy from the installed copy', () => {
    const sandbox = new NetnsSandbox('pkg');
    const name = `segct-${process.pid}-pkg`;
    let host = '';
    let peer = '';
    let iface = '';
    let stateDir = '';
    const servers: ChildProcess[] = [];

    beforeAll(async () => {
      host = sandbox.createNetns('host');
      peer = sandbox.createNetns('peer');
      iface = sandbox.createVethPair(host, peer, { a: { ipv4: '10.217.1.1/24' }, b: { ipv4: '10.217.1.2/24' } }).a.name;
      servers.push(await startEchoServers(host, [22, 23], []));
      stateDir = mkdtempSync(join(tmpdir(), 'segct-state-'));
    });

    afterAll(() => {
      try {
        if (host) installed(['undeploy', '--name', name], { netns: host, env: { SEGC_STATE_DIR: stateDir } });
      } finally {
        for (const s of servers) s.kill('SIGKILL');
        removeDeploymentPins(name);
        if (stateDir) rmSync(stateDir, { recursive: true, force: true });
        sandbox.cleanup();
      }
    });

    it('deploys the policy, which then decides the traffic, and undeploys it', () => {
      const policy = join(work, 'ssh.seg');
      spawnSync('sh', ['-c', `cat > ${policy}`], { input: ONLY_SSH });
      expect(tcpEchoes(peer, '10.217.1.1', 23)).toBe(true);
      const r = installed(['deploy', policy, '--iface', iface, '--name', name, '--json'], { netns: host, env: { SEGC_STATE_DIR: stateDir } });
      expect(r.code, r.err).toBe(0);
      expect((JSON.parse(r.out) as { generation: number }).generation).toBe(1);
      expect(tcpEchoes(peer, '10.217.1.1', 22)).toBe(true);
      expect(tcpEchoes(peer, '10.217.1.1', 23, 800)).toBe(false);
      const status = installed(['status', '--name', name, '--json'], { netns: host, env: { SEGC_STATE_DIR: stateDir } });
      expect(status.code, status.err).toBe(0);
      const u = installed(['undeploy', '--name', name], { netns: host, env: { SEGC_STATE_DIR: stateDir } });
      expect(u.code, u.err).toBe(0);
      expect(tcpEchoes(peer, '10.217.1.1', 23)).toBe(true);
    });
  });
});
