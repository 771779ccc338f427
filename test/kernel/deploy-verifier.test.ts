// A deploy that meets a real verifier rejection: a classifier object whose ingress program
// the kernel refuses (built here from test/kernel/deploy-fixtures/). The error carries the
// verifier's log, and nothing of the deployment is left on the host.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundle } from '../../compiler/bundle.ts';
import { emit } from '../../compiler/emit.ts';
import { compile } from '../../compiler/program.ts';
import { createMemoryHost } from '../../compiler/source.ts';
import { formatVerifierLog } from '../../runtime/cli/deploy-run.ts';
import { deploy, DeployError } from '../../runtime/deploy.ts';
import { KERNEL_AVAILABLE } from '../support/datapath-harness.ts';
import { removeDeploymentPins } from '../support/deploy-harness.ts';
import { NetnsSandbox, type VethPair } from '../support/netns.ts';

const ROOT = join(import.meta.dirname, '..', '..');

function hasClang(): boolean {
  try {
    execFileSync('clang', ['--version'], { stdio: 'ignore', timeout: 10_000 });
    return true;
  } catch {
    return false;
  }
}

describe.skipIf(!KERNEL_AVAILABLE || !hasClang())('a deploy whose classifier the verifier rejects', () => {
  const sandbox = new NetnsSandbox('verif');
  const name = `segct-${process.pid}-verif`;
  let host: string;
  let link: VethPair;
  let work: string;
  let objectPath: string;

  beforeAll(() => {
    host = sandbox.createNetns('host');
    const peer = sandbox.createNetns('peer');
    link = sandbox.createVethPair(host, peer, { a: { ipv4: '10.204.0.1/24' }, b: { ipv4: '10.204.0.2/24' } });
    work = mkdtempSync(join(tmpdir(), 'segct-verif-'));
    objectPath = join(work, 'rejected-classifier.bpf.o');
    const arch = execFileSync('uname', ['-m'], { encoding: 'utf8' }).trim();
    execFileSync('clang', ['-g', '-O2', '-Wall', '-target', 'bpf', '-D__TARGET_ARCH_x86', `-I/usr/include/${arch}-linux-gnu`, `-I${join(ROOT, 'bpf')}`, '-c', join(ROOT, 'test/kernel/deploy-fixtures/rejected-classifier.bpf.c'), '-o', objectPath], { timeout: 60_000 });
  }, 90_000);

  afterAll(() => {
    removeDeploymentPins(name);
    if (work) rmSync(work, { recursive: true, force: true });
    sandbox.cleanup();
  });

  it('fails at load with the verifier log, exit 2, and leaves no pins, filters or record', async () => {
    const compilation = compile(['p.seg'], createMemoryHost({ 'p.seg': 'policy ingress default deny {\n  100 ssh: allow tcp from any to any port 22\n}\n' }));
    if (!compilation.ir) throw new Error('the policy does not compile');
    const bundleText = bundle(compilation.ir, emit(compilation.ir), compilation.sources, { bundleFile: 'b', sourceMapFile: 'b.map', includeSources: false }).text;
    let failure: unknown;
    await sandbox.within(host, () => {
      try {
        deploy({ bundleText, interfaces: [link.a.name], options: { name, stateDir: work, objectPath, rulesPerSlot: 64, sessions: 256 } });
      } catch (error) {
        failure = error;
      }
    });
    expect(failure).toBeInstanceOf(DeployError);
    const error = failure as DeployError;
    expect(error).toMatchObject({ step: 'load', exitCode: 2 });
    expect(error.message).toMatch(/the verifier rejected the classifier/);
    // The kernel's reason, at the end of the log, survives the excerpt the CLI prints.
    expect(formatVerifierLog(error.log ?? '')).toMatch(/invalid access to packet|R\d+ .*pkt/);
    expect(existsSync(join('/sys/fs/bpf/segc', name))).toBe(false);
    expect(existsSync(join(work, name))).toBe(false);
    expect(sandbox.exec(host, 'tc', ['filter', 'show', 'dev', link.a.name, 'ingress'])).toBe('');
  });
});
