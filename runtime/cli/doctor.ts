// `segc doctor`: checks that this host can run segc deployments: kernel version, BTF, bpffs,
// root and capabilities, libbpf, the program and map types the classifier needs, clsact and
// the data path object. Each failed check says what to do; any failure exits 2.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { packageRoot } from '../package-root.ts';
import { recordOutcome, CliError, type Outcome } from './command.ts';
import type { CliIo } from './io.ts';

export interface DoctorCheck {
  readonly name: string;
  readonly ok: boolean;
  readonly detail: string;
  /** What to do when the check fails. */
  readonly fix?: string;
}

/** Oldest kernel the classifier is tested on (map-in-map inner maps of any size, bpf_loop-free). */
const MIN_KERNEL: readonly [number, number] = [5, 10];

/** CAP_NET_ADMIN (12), CAP_SYS_ADMIN (21), CAP_BPF (39) in CapEff of /proc/self/status. */
const NEEDED_CAPS = { CAP_NET_ADMIN: 12, CAP_SYS_ADMIN: 21, CAP_BPF: 39 } as const;

export function register(program: Command, io: CliIo): void {
  program
    .command('doctor')
    .summary('check that this host can enforce policies')
    .description('Check the kernel, BTF, bpffs, privileges, libbpf and clsact support, with a fix for each problem.')
    .option('--json', 'print the checks as JSON')
    .addHelpText('after', '\nExamples:\n  $ sudo segc doctor\n  $ segc doctor --json')
    .action(async (options: { json?: boolean }, command: Command) => {
      recordOutcome(command, await doctor(options, io));
    });
}

export function parseKernelRelease(release: string): [number, number] | undefined {
  const m = /^(\d+)\.(\d+)/.exec(release);
  return m ? [Number(m[1]), Number(m[2])] : undefined;
}

/** Effective capabilities from a /proc/<pid>/status text. */
export function effectiveCapabilities(statusText: string): bigint {
  const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(statusText);
  return m ? BigInt('0x' + (m[1] ?? '0')) : 0n;
}

export async function runDoctorChecks(): Promise<DoctorCheck[]> {
  const checks: DoctorCheck[] = [];
  const { release } = await import('node:os');
  const kernel = release();
  const version = parseKernelRelease(kernel);
  const recentEnough = version !== undefined && (version[0] > MIN_KERNEL[0] || (version[0] === MIN_KERNEL[0] && version[1] >= MIN_KERNEL[1]));
  checks.push({ name: 'kernel', ok: recentEnough, detail: `Linux ${kernel}`, fix: `upgrade to Linux ${MIN_KERNEL.join('.')} or later` });

  const btf = existsSync('/sys/kernel/btf/vmlinux');
  checks.push({ name: 'btf', ok: btf, detail: btf ? '/sys/kernel/btf/vmlinux present' : '/sys/kernel/btf/vmlinux missing', fix: 'use a kernel built with CONFIG_DEBUG_INFO_BTF=y (every mainstream distribution kernel is)' });

  const caps = effectiveCapabilities(readFileSync('/proc/self/status', 'utf8'));
  const missingCaps = Object.entries(NEEDED_CAPS).filter(([, bit]) => (caps & (1n << BigInt(bit))) === 0n).map(([n]) => n);
  const root = process.getuid?.() === 0;
  checks.push({
    name: 'privileges',
    ok: missingCaps.length === 0,
    detail: `${root ? 'root' : `uid ${process.getuid?.() ?? '?'}`}${missingCaps.length > 0 ? `, missing ${missingCaps.join(', ')}` : ', CAP_BPF, CAP_NET_ADMIN and CAP_SYS_ADMIN'}`,
    fix: 'run segc as root (sudo segc ...)',
  });

  const { isBpffs, BPFFS_ROOT } = await import('../bpffs.ts');
  const bpffs = isBpffs(BPFFS_ROOT);
  checks.push({ name: 'bpffs', ok: bpffs, detail: bpffs ? `mounted on ${BPFFS_ROOT}` : `not mounted on ${BPFFS_ROOT}`, fix: `mount it (segc deploy does this too): mount -t bpf bpf ${BPFFS_ROOT}` });

  let libbpf: typeof import('../libbpf.ts') | undefined;
  try {
    libbpf = await import('../libbpf.ts');
    const v = libbpf.libbpf_version_string();
    const ok = /^v?(\d+)\.(\d+)/.exec(v);
    checks.push({ name: 'libbpf', ok: ok !== null && (Number(ok[1]) > 1 || (Number(ok[1]) === 1 && Number(ok[2]) >= 0)), detail: `libbpf.so.1 ${v}`, fix: 'install libbpf 1.0 or later (Debian/Ubuntu: apt install libbpf1)' });
  } catch (error) {
    checks.push({ name: 'libbpf', ok: false, detail: `cannot load libbpf.so.1: ${error instanceof Error ? error.message : String(error)}`, fix: 'install libbpf 1.0 or later (Debian/Ubuntu: apt install libbpf1)' });
  }

  if (libbpf && missingCaps.length === 0) {
    const probe = (what: () => boolean): boolean => {
      try {
        return what();
      } catch {
        return false;
      }
    };
    const lb = libbpf;
    const cls = probe(() => lb.libbpf_probe_bpf_prog_type(lb.BPF_PROG_TYPE_SCHED_CLS));
    checks.push({ name: 'tc classifier', ok: cls, detail: cls ? 'the kernel loads sched_cls programs' : 'the kernel refuses sched_cls programs', fix: 'enable CONFIG_NET_CLS_BPF and CONFIG_NET_SCH_INGRESS (clsact)' });
    const maps = (['ARRAY_OF_MAPS', 'LPM_TRIE', 'LRU_HASH', 'PERCPU_ARRAY'] as const).filter((t) => !probe(() => lb.libbpf_probe_bpf_map_type(lb.BPF_MAP_TYPE[t])));
    checks.push({ name: 'map types', ok: maps.length === 0, detail: maps.length === 0 ? 'array of maps, LPM trie, LRU hash, per-CPU array' : `missing ${maps.join(', ')}`, fix: 'upgrade the kernel' });
    checks.push(await clsactCheck());
  } else {
    checks.push({ name: 'clsact', ok: false, detail: 'not checked (needs root)', fix: 'run segc doctor as root' });
  }

  const { DEFAULT_OBJECT_PATH: objectPath } = await import('../loader.ts');
  const { DATAPATH_VERSION } = await import('../datapath/version.ts');
  const object = existsSync(objectPath);
  checks.push({ name: 'data path object', ok: object, detail: object ? `${objectPath} (data path version ${DATAPATH_VERSION})` : `${objectPath} missing`, fix: objectFix() });
  if (root) checks.push(await deployedVersionsCheck(DATAPATH_VERSION));
  return checks;
}

/** The data-path version of each deployment on this host: older ones are upgraded by the next deploy; newer ones need a newer segc. */
async function deployedVersionsCheck(current: number): Promise<DoctorCheck> {
  const { listDeployments, readState, stateDirOf, isRecordError } = await import('../state.ts');
  const { openPinnedDatapath, releaseDatapath } = await import('../deploy.ts');
  const { readDatapathInfo } = await import('../datapath/info.ts');
  const seen: string[] = [];
  const newer: string[] = [];
  const stateDir = stateDirOf();
  for (const name of listDeployments(stateDir)) {
    let state;
    try {
      state = readState(stateDir, name);
    } catch (error) {
      if (!isRecordError(error)) throw error;
      seen.push(`${name} (record damaged: segc status says how to repair it)`);
      continue;
    }
    if (!state) continue;
    try {
      const dp = openPinnedDatapath(state.current.pins.dir);
      try {
        const version = readDatapathInfo(dp).version;
        seen.push(`${name} ${version}${version < current ? ' (the next deploy upgrades it in place)' : ''}`);
        if (version > current) newer.push(name);
      } finally {
        releaseDatapath(dp, true);
      }
    } catch {
      seen.push(`${name} (pins unreadable: deploy again)`);
    }
  }
  return {
    name: 'data path versions',
    ok: newer.length === 0,
    detail: seen.length === 0 ? 'no deployment on this host' : `deployed: ${seen.join(', ')}`,
    fix: `${newer.join(', ')} run a data path newer than this segc's (${current}): use a newer segc`,
  };
}

/**
 * How to get the data path object back. An installed package carries it built (npm pack
 * checks it), so the fix there is to reinstall; only a checkout (it has a Makefile, which the
 * package does not ship) builds it, with clang.
 */
function objectFix(): string {
  const root = packageRoot()?.dir;
  if (root !== undefined && existsSync(join(root, 'Makefile'))) return "build it with 'make bpf' (needs clang)";
  return 'reinstall the segc package (npm install -g segc-VERSION.tgz): the object ships inside it';
}

/** Creates and removes a clsact qdisc on a dummy interface in a throwaway network namespace. */
async function clsactCheck(): Promise<DoctorCheck> {
  const { execFileSync } = await import('node:child_process');
  const ns = `segc-doctor-${process.pid}`;
  const run = (...args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: 5_000, encoding: 'utf8' });
  try {
    run('netns', 'add', ns);
    try {
      run('-n', ns, 'link', 'add', 'segcd0', 'type', 'veth', 'peer', 'name', 'segcd1');
      execFileSync('nsenter', [`--net=/var/run/netns/${ns}`, '--', 'tc', 'qdisc', 'add', 'dev', 'segcd0', 'clsact'], { stdio: 'ignore', timeout: 5_000 });
      return { name: 'clsact', ok: true, detail: 'a clsact qdisc can be added (tested in a throwaway namespace)' };
    } finally {
      run('netns', 'delete', ns);
    }
  } catch (error) {
    const message = error instanceof Error ? error.message.split('\n')[0] : String(error);
    return { name: 'clsact', ok: false, detail: `adding clsact failed: ${message}`, fix: 'enable CONFIG_NET_SCH_INGRESS (clsact) and install iproute2' };
  }
}

export async function doctor(options: { readonly json?: boolean }, io: CliIo): Promise<Outcome> {
  const checks = await runDoctorChecks();
  if (options.json === true) io.stdout.write(JSON.stringify({ ok: checks.every((c) => c.ok), checks }) + '\n');
  else {
    for (const c of checks) io.stdout.write(`${c.ok ? 'ok  ' : 'FAIL'}  ${c.name.padEnd(17)} ${c.detail}${c.ok || c.fix === undefined ? '' : `\n      fix: ${c.fix}`}\n`);
  }
  const failed = checks.filter((c) => !c.ok);
  if (failed.length > 0) throw new CliError('environment', `${failed.length} check(s) failed: ${failed.map((c) => c.name).join(', ')}`, 'apply the fixes above, then run segc doctor again');
  return 'ok';
}
