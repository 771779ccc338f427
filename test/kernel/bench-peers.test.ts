// The peer benchmark (bench/peers/) in its tiny mode, so that it cannot rot: a few hundred
// frames per window, one family of each kind (no filter, TC hook, segc, nftables stateless and
// stateful, iptables-legacy with ipset or its skip note). Checks that it runs to the end, that
// every frame of every window reached the receiver (no family here drops the bench's traffic),
// that the TC families report in-program time, and that it leaves nothing behind: no
// namespace, no pin, bpf_stats as it was. Figures are printed by the bench, never asserted.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { KERNEL_AVAILABLE } from '../support/datapath-harness.ts';
import { run } from '../support/netns.ts';

const HAVE_TOOLS = ['cc', 'nft', 'bpftool', 'clang'].every((tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0);
const STATS = '/proc/sys/kernel/bpf_stats_enabled';

describe.skipIf(!KERNEL_AVAILABLE || !HAVE_TOOLS)('make bench-peers in its quick mode', () => {
  const outDir = mkdtempSync(join(tmpdir(), 'segct-peers-out-'));
  afterAll(() => rmSync(outDir, { recursive: true, force: true }));

  it('runs every kind of family, reaches the receiver with every frame and cleans up', () => {
    const statsBefore = readFileSync(STATS, 'utf8');
    const bench = join(import.meta.dirname, '..', '..', 'bench', 'peers', 'main.ts');
    const r = spawnSync(process.execPath, ['--no-warnings', bench, '--quick', '--out', outDir], { encoding: 'utf8', timeout: 120_000 });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    for (const family of ['no filter', 'TC hook alone', 'segc', 'nftables stateless', 'nftables stateful']) expect(r.stdout).toContain(family);
    expect(r.stdout).toMatch(/iptables-legacy \+ ipset|iptables-legacy with ipset: skipped/);

    const [head, ...rows] = readFileSync(join(outDir, 'peers.tsv'), 'utf8').trim().split('\n').map((l) => l.split('\t'));
    const col = (name: string) => (head ?? []).indexOf(name);
    expect(rows.length).toBeGreaterThanOrEqual(12);
    for (const row of rows) {
      const sent = Number(row[col('cell_sent')]);
      expect(sent).toBeGreaterThan(0);
      expect(Number(row[col('cell_delivered')]), row.join(' ')).toBe(sent);
      expect(Number(row[col('baseline_delivered')]), row.join(' ')).toBe(Number(row[col('baseline_sent')]));
    }
    const segcHit = rows.find((row) => row[col('family')] === 'segc' && row[col('path')] === 'session hit');
    expect(Number(segcHit?.[col('prog_runs')])).toBeGreaterThan(0);
    expect(Number(segcHit?.[col('prog_run_ns')])).toBeGreaterThan(0);
    expect(existsSync(join(outDir, 'peers.md'))).toBe(true);

    expect(readFileSync(STATS, 'utf8')).toBe(statsBefore);
    const pid = r.pid;
    expect(run('ip', ['netns', 'list'])).not.toContain(`segct-${pid}-`);
    expect(readdirSync('/sys/fs/bpf').filter((n) => n.startsWith(`segct-${pid}-`))).toEqual([]);
    expect(existsSync(`/sys/fs/bpf/segc/segct-${pid}-peer`)).toBe(false);
  });
});
