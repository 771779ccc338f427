// Peer benchmark (`make bench-peers`, root): segc against no filter, a bare TC hook,
// nftables (stateless and conntrack) and iptables-legacy with ipset, on real traffic: 64-byte
// UDP frames from our own AF_PACKET sender over a veth pair between two namespaces it makes.
// Every cell's window follows a no-filter baseline window in the same pair; in-program time
// comes from the kernel's own accounting (kernel.bpf_stats_enabled). Prints the table, writes
// every window as TSV. Method and a run's figures: docs/performance.md.
//
//   node bench/peers/main.ts [--quick] [--windows N] [--seconds S] [--count N]
//                            [--only FAMILY[,FAMILY]] [--paths PATH[,PATH]] [--out DIR] [--drain]
//                            [--sessions N] [--object LABEL=PATH ...] [--canary PERCENT] [--nosession] [--help]
//   (--canary: segc with the same policy as a canary beside it; --nosession: each segc policy
//   also with `nosession` on the rules the traffic meets, in turn)
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { bpf_prog_get_info_by_fd } from '../../runtime/libbpf.ts';
import {
  classBenchPolicy,
  iptablesFamily,
  iptablesLegacyMissing,
  nftFamily,
  noFilter,
  segcFamily,
  syntheticPolicy,
  SYNTHETIC_SIZES,
  tcHookAlone,
  undeploySegc,
  type Cell,
  type Family,
  type SegcPolicy,
} from './families.ts';
import { formatMarkdown, formatTable, writeTsv, type CellResult, type Pair } from './report.ts';
import { buildBinaries, PeerBed, type WindowLimits } from './topology.ts';

const out = (line = '') => process.stdout.write(line + '\n');

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    windows: { type: 'string' },
    seconds: { type: 'string' },
    count: { type: 'string' },
    only: { type: 'string' },
    out: { type: 'string' },
    drain: { type: 'boolean', default: false },
    sessions: { type: 'string' },
    canary: { type: 'string' },
    'sender-cpu': { type: 'string', default: '1' },
    'sink-cpu': { type: 'string', default: '0' },
    paths: { type: 'string' },
    object: { type: 'string', multiple: true },
    nosession: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});

if (args.help) {
  out(`usage: node bench/peers/main.ts [options]   (root; make bench-peers runs it)

segc beside no filter, a bare TC hook, nftables (stateless, conntrack) and iptables-legacy with
ipset, on 64-byte UDP frames over a veth pair between two namespaces; every cell window follows a
no-filter baseline window; in-program ns from kernel.bpf_stats_enabled. docs/performance.md.

  --quick               a few hundred frames a window, one family per kind (the test's run)
  --windows N           window pairs per cell (default 3)
  --seconds S           each window's time bound (default 1)
  --count N             each window's frame bound (default 5000000)
  --only F[,F]          families whose name starts so: 'no filter', 'tc', 'segc 10k', 'segc fw1',
                        'nftables stateful', 'iptables' (with --object: 'segc A 10 rules')
  --paths P[,P]         cells whose path starts so: 'session hit', 'new flow', 'sessions off',
                        'one flow'
  --object LABEL=PATH   segc families for this build of the data path (repeat to compare builds
                        in one run: each policy runs under each build in turn, e.g.
                        --object A=/tmp/a.bpf.o --object B=bpf/build/segc.bpf.o; make
                        bpf-at-ref REF=main OUT=/tmp/a.bpf.o builds a commit's)
  --nosession           each segc policy twice in turn: as it is, and with 'nosession' on its
                        allowing rules (family 'segc nosession'; their flows open no session)
  --sessions N          segc's session table (default: segc's)
  --drain               a sink that reads its socket
  --sender-cpu N, --sink-cpu N   (defaults 1 and 0)
  --out DIR             peers.tsv and peers.md (default bench-results/peers/)

Example: node bench/peers/main.ts --only segc --paths 'session hit' --windows 5 --seconds 0.5 \\
           --object main=/tmp/main.bpf.o --object new=bpf/build/segc.bpf.o`);
  process.exit(0);
}

if (process.getuid?.() !== 0) {
  out('bench/peers needs root (namespaces, BPF, nftables)');
  process.exit(2);
}

const quick = args.quick === true;
const windows = Number(args.windows ?? (quick ? 1 : 3));
const limits: WindowLimits = { count: Number(args.count ?? (quick ? 300 : 5_000_000)), seconds: Number(args.seconds ?? (quick ? 1 : 1)) };
const outDir = resolve(args.out ?? 'bench-results/peers');
const only = args.only?.split(',').map((s) => s.trim().toLowerCase());
const sessions = args.sessions === undefined ? undefined : Number(args.sessions);
const paths = args.paths?.split(',').map((s) => s.trim().toLowerCase());
const objects = (args.object ?? []).map((o) => {
  const eq = o.indexOf('=');
  return { label: o.slice(0, eq), path: resolve(o.slice(eq + 1)) };
});
if (objects.some((o) => !/^[a-z0-9][a-z0-9_.-]{0,11}$/i.test(o.label) || !existsSync(o.path))) {
  out('--object LABEL=PATH: a label of letters, digits, _.- (at most 12) and an existing object file');
  process.exit(2);
}
if (!(windows >= 1 && windows <= 50 && limits.count >= 1 && limits.seconds > 0 && limits.seconds <= 30)) {
  out('--windows 1..50, --count >= 1, --seconds in (0, 30]');
  process.exit(2);
}

const STATS_SYSCTL = '/proc/sys/kernel/bpf_stats_enabled';
const statsBefore = readFileSync(STATS_SYSCTL, 'utf8').trim();
const stateDir = mkdtempSync(join(tmpdir(), 'segct-peer-state-'));
const canaryShareBp = args.canary === undefined ? undefined : Math.round(Number(args.canary.replace('%', '')) * 100);
if (canaryShareBp !== undefined && !(canaryShareBp > 0 && canaryShareBp <= 10_000)) {
  out('--canary 0.01..100 (percent of new flows)');
  process.exit(2);
}
const host = { stateDir, name: `segct-${process.pid}-peer`, sessions, ...(canaryShareBp === undefined ? {} : { canaryShareBp }) };
const buildDir = join(import.meta.dirname, 'build');
let bed: PeerBed | undefined;

/** Takes down all this run made, once: from the end of the run or from a signal. */
let cleaned = false;
async function cleanUp(): Promise<void> {
  if (cleaned) return;
  cleaned = true;
  if (bed) {
    await undeploySegc(bed, host).catch(() => {});
    bed.close();
  }
  writeFileSync(STATS_SYSCTL, statsBefore);
  rmSync(stateDir, { recursive: true, force: true });
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    out(`${signal}: cleaning up`);
    void cleanUp().finally(() => process.exit(130));
  });
}

/** One cell: `windows` pairs of (detach, baseline window, attach, cell window). */
async function measure(b: PeerBed, cell: Cell): Promise<CellResult> {
  const pairs: Pair[] = [];
  // Warm-up: the first packet of a flow opens its session, caches fill.
  await cell.attach();
  b.window(cell.traffic, { count: Math.min(limits.count, 20_000), seconds: Math.min(limits.seconds, 0.2) });
  for (let i = 0; i < windows; i++) {
    await cell.detach();
    const baseline = b.window(cell.traffic, limits);
    await cell.attach();
    const fd = cell.programFd();
    const before = fd === undefined ? undefined : bpf_prog_get_info_by_fd(fd);
    const measured = b.window(cell.traffic, limits);
    const after = fd === undefined ? undefined : bpf_prog_get_info_by_fd(fd);
    const program = before && after ? { runNs: Number(after.runTimeNs - before.runTimeNs), runs: Number(after.runCnt - before.runCnt) } : undefined;
    pairs.push({ baseline, cell: measured, ...(program ? { program } : {}) });
  }
  await cell.detach();
  return { cell, pairs };
}

function families(b: PeerBed, tcPass: string): { list: Family[]; notes: string[] } {
  const notes: string[] = [];
  const list: Family[] = [noFilter(), tcHookAlone(b, tcPass)];
  const sizes = quick ? SYNTHETIC_SIZES.slice(0, 1) : SYNTHETIC_SIZES;
  // Each policy under each build in turn (--object), so that compared builds run side by side.
  const hosts = objects.length > 0 ? objects.map((object) => ({ ...host, object })) : [host];
  // --nosession: each build again with the option on, right after it (same policy, same run).
  const builds = args.nosession === true ? hosts.flatMap((h) => [h, { ...h, noSession: true }]) : hosts;
  const segc = (policy: () => SegcPolicy) => {
    const p = policy();
    for (const h of builds) list.push(segcFamily(b, p, h));
  };
  for (const s of sizes) segc(() => syntheticPolicy(s.count, s.label));
  if (!quick) {
    for (const set of ['fw1', 'acl1']) {
      segc(() => classBenchPolicy(`${set}_1K`, `${set} 1k`));
      segc(() => classBenchPolicy(`${set}_10K`, `${set} 10k`));
    }
  }
  for (const s of sizes) list.push(nftFamily(b, s.count, s.label, false));
  for (const s of sizes) list.push(nftFamily(b, s.count, s.label, true));
  // Last: once used, iptables-legacy's filter table stays registered in the namespace, and
  // the baselines after it would carry its (empty) chain.
  const missing = iptablesLegacyMissing(b);
  if (missing) notes.push(`iptables-legacy with ipset: skipped, the kernel refuses it here (${missing})`);
  else for (const s of sizes) list.push(iptablesFamily(b, s.count, s.label));
  const wanted = only ? list.filter((f) => only.some((o) => f.name.toLowerCase().startsWith(o))) : list;
  return { list: wanted, notes };
}

try {
  mkdirSync(outDir, { recursive: true });
  const binaries = buildBinaries(buildDir);
  writeFileSync(STATS_SYSCTL, '1');
  bed = new PeerBed(binaries, { senderCpu: Number(args['sender-cpu']), sinkCpu: Number(args['sink-cpu']), drain: args.drain === true });
  await bed.ready();
  const { list, notes } = families(bed, binaries.tcPass);
  out(`segc peer benchmark: 64-byte UDP frames over a veth pair (${bed.link.a.name} -> ${bed.link.b.name}), sender on CPU ${args['sender-cpu']}`);
  out(`${windows} window pair(s) per cell of at most ${limits.count} frames and ${limits.seconds} s; each cell window follows a no-filter baseline window`);
  for (const note of notes) out(note);
  out('');
  const results: CellResult[] = [];
  for (const family of list) {
    const cells = await family.prepare();
    try {
      for (const cell of cells) {
        if (paths && !paths.some((p) => cell.path.toLowerCase().startsWith(p))) continue;
        const result = await measure(bed, cell);
        results.push(result);
        out(formatTable([result]).split('\n')[1] ?? '');
      }
    } finally {
      await family.dispose();
    }
  }
  await undeploySegc(bed, host);
  out('');
  out(formatTable(results));
  out('');
  out('added ns/pkt = the sender thread\'s CPU time per frame with the filter minus that of the baseline window just before');
  out('it (the whole receive path runs in the sender\'s softirq on its CPU and is charged to it; time other processes took');
  out('is not); ratio = the same as a quotient; in-program = bpf_stats of the ingress program over the cell window.');
  out('Medians, (min..max) over the windows. On a shared machine absolute figures move with the load; paired figures less.');
  const tsv = join(outDir, 'peers.tsv');
  writeTsv(tsv, results);
  writeFileSync(join(outDir, 'peers.md'), formatMarkdown(results) + '\n');
  out(`raw windows: ${tsv}; Markdown table: ${join(outDir, 'peers.md')}`);
} finally {
  await cleanUp();
}
