// The agent's metrics over synthetic snapshots (no kernel): the rule-series cap, counters that
// go on across a policy switch (with the switched-out slot's final counts), across new maps and
// across a removed deployment, the derived evictions, and the reload gauges.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { SegReason, SegStat } from '../../../runtime/datapath/abi.ts';
import type { BundleRule } from '../../../compiler/bundle.ts';
import { AgentMetrics, BURST_WINDOWS, busiest, type ReloadReport, type RuleMetricsMode } from '../../../runtime/agent/metrics.ts';
import fc from 'fast-check';
import type { DeploymentSnapshot, HostSnapshot, RuleHits } from '../../../runtime/agent/reader.ts';
import type { DeploymentRecord } from '../../../runtime/state.ts';
import { parseMetrics, valueOf, type Sample } from '../../support/agent-harness.ts';

const rules = (n: number): BundleRule[] => Array.from({ length: n }, (_, id) => ({ id, name: `r${id}`, direction: 'ingress', priority: 100 + id, action: 'allow', log: false, file: 'p.seg', line: 2 + id }));

function hits(generation: number, rs: readonly BundleRule[], packets: readonly number[]): RuleHits {
  return { generation, rules: rs, packets: Float64Array.from(packets), bytes: Float64Array.from(packets, (p) => p * 100) };
}

interface Shape {
  readonly name?: string;
  readonly maps?: number;
  readonly generation: number;
  readonly inForce?: RuleHits;
  readonly standby?: RuleHits;
  readonly stats?: Partial<Record<number, number>>;
  readonly sessions?: number;
  readonly hash?: string;
  /** A census kept from earlier: its age and the counters read with it. */
  readonly census?: { readonly ageMs: number; readonly stats: Partial<Record<number, number>> };
}

function statsOf(counts: Partial<Record<number, number>> | undefined) {
  return Array.from({ length: SegStat.SEG_STAT_COUNT }, (_, i) => ({ packets: BigInt(counts?.[i] ?? 0), bytes: BigInt((counts?.[i] ?? 0) * 60) }));
}

function deployment(s: Shape): DeploymentSnapshot {
  const stats = statsOf(s.stats);
  const record = { name: s.name ?? 'web', policyHash: s.hash ?? 'sha256:aa', generation: s.generation, deployedAt: '2026-01-01T00:00:00.000Z' } as DeploymentRecord;
  return {
    name: s.name ?? 'web',
    record,
    mapsId: s.maps ?? 1,
    stats,
    activeGeneration: s.generation,
    inForce: s.inForce,
    standby: s.standby,
    sessions: { entries: s.sessions ?? 0, capacity: 1000, byState: [1, 2, 3, 0, 0, 0, 0, 0] },
    ruleCounts: { ingress: s.inForce?.rules.length ?? 0, egress: 0 },
    ...(s.census ? { census: { ageMs: s.census.ageMs, stats: statsOf(s.census.stats) } } : {}),
  };
}

/** Metrics over a queue of snapshots, one per scrape. */
function agentOver(mode: RuleMetricsMode | undefined, reports: ReloadReport[] = []) {
  const queue: HostSnapshot[] = [];
  const metrics = new AgentMetrics({ snapshot: () => queue.shift() ?? { deployments: [], unreadable: [], damaged: [], tookMs: 1 } }, { ruleMetrics: mode, reloads: { reports: () => reports } });
  return {
    async scrape(...deployments: DeploymentSnapshot[]): Promise<Sample[]> {
      queue.push({ deployments, unreadable: [], damaged: [], tookMs: 2 });
      return parseMetrics(await metrics.scrape());
    },
    /** The exposition text itself, as GET /metrics serves it. */
    async text(...deployments: DeploymentSnapshot[]): Promise<string> {
      queue.push({ deployments, unreadable: [], damaged: [], tookMs: 2 });
      return metrics.scrape();
    },
  };
}

const rule = (s: Sample[], name: string, deployment = 'web') => valueOf(s, 'segc_rule_packets_total', { deployment, rule: name });
const ruleSeries = (s: Sample[]) => s.filter((x) => x.name === 'segc_rule_packets_total').map((x) => x.labels['rule']);

describe('agent metrics', () => {
  it('exports only rules that were hit, the N busiest per deployment with top:N', async () => {
    const rs = rules(6);
    const a = agentOver({ kind: 'top', limit: 2 });
    const s = await a.scrape(deployment({ generation: 1, inForce: hits(1, rs, [5, 0, 9, 1, 0, 7]) }));
    expect(ruleSeries(s).sort()).toEqual(['r2', 'r5']);
    expect(s.find((x) => x.name === 'segc_rule_packets_total' && x.labels['rule'] === 'r2')?.labels).toEqual({ deployment: 'web', direction: 'ingress', rule: 'r2', priority: '102', action: 'allow', location: 'p.seg:4' });
    expect(valueOf(s, 'segc_rule_bytes_total', { rule: 'r5' })).toBe(700);
    const hit = await agentOver({ kind: 'hit' }).scrape(deployment({ generation: 1, inForce: hits(1, rs, [5, 0, 9, 1, 0, 7]) }));
    expect(ruleSeries(hit).sort()).toEqual(['r0', 'r2', 'r3', 'r5']);
    const none = await agentOver({ kind: 'none' }).scrape(deployment({ generation: 1, inForce: hits(1, rs, [5, 0, 9, 1, 0, 7]) }));
    expect(ruleSeries(none)).toEqual([]);
  });

  it('picks the same busiest rules, in the same order, as sorting them all (ties by key)', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.string({ maxLength: 4 }), fc.nat(6)), { maxLength: 60 }), fc.nat(70), (items, limit) => {
        const unique = [...new Map(items).entries()];
        const keys = unique.map(([k]) => k);
        const totals = unique.map(([, n]) => n);
        const sorted = unique.sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, limit).map(([k]) => k);
        expect(busiest(keys, totals, limit)).toEqual(sorted);
      }),
    );
  });

  it('writes rule labels with quotes, backslashes and newlines escaped, as prom-client writes every other label', async () => {
    const odd: BundleRule[] = [{ id: 0, name: 'say "hi"', direction: 'egress', priority: 7, action: 'deny', log: false, file: 'C:\\pol\nicy "x".seg', line: 3 }];
    const text = await agentOver({ kind: 'hit' }).text(deployment({ name: 'we"b', generation: 1, inForce: hits(1, odd, [4]) }));
    expect(text).toContain('segc_rule_packets_total{deployment="we\\"b",direction="egress",rule="say \\"hi\\"",priority="7",action="deny",location="C:\\\\pol\\nicy \\"x\\".seg:3"} 4\n');
    expect(text).toMatch(/^# TYPE segc_rule_bytes_total counter$/m);
    const s = parseMetrics(text);
    // (parseMetrics reads `\\n` back as `n`: the text above pins the newline.)
    expect(s.find((x) => x.name === 'segc_rule_bytes_total')?.labels).toMatchObject({ deployment: 'we"b', direction: 'egress', rule: 'say "hi"', priority: '7', action: 'deny' });
    expect(valueOf(s, 'segc_rule_bytes_total', { deployment: 'we"b' })).toBe(400);
  });

  it('carries a rule series across a policy switch, adding the switched-out slot final counts once', async () => {
    const rs = rules(2);
    const a = agentOver(undefined);
    expect(rule(await a.scrape(deployment({ generation: 1, inForce: hits(1, rs, [10, 0]) })), 'r0')).toBe(10);
    // Generation 2 in force; generation 1 still in the standby slot, with 2 more packets since.
    const after = await a.scrape(deployment({ generation: 2, inForce: hits(2, rs, [3, 0]), standby: hits(1, rs, [12, 0]) }));
    expect(rule(after, 'r0')).toBe(15);
    expect(valueOf(after, 'segc_policy_switches_total', { deployment: 'web' })).toBe(1);
    // Read again: nothing counted twice.
    expect(rule(await a.scrape(deployment({ generation: 2, inForce: hits(2, rs, [4, 0]), standby: hits(1, rs, [12, 0]) })), 'r0')).toBe(16);
    // A third generation fills the first slot again; generation 1's counts are gone from the kernel.
    expect(rule(await a.scrape(deployment({ generation: 3, inForce: hits(3, rs, [1, 0]), standby: hits(2, rs, [4, 0]) })), 'r0')).toBe(17);
  });

  it('keeps counters going when the maps are replaced, and keeps a removed deployment at its last values', async () => {
    const a = agentOver(undefined);
    const allow = (s: Sample[]) => valueOf(s, 'segc_packets_total', { deployment: 'web', direction: 'egress', verdict: 'allow' });
    expect(allow(await a.scrape(deployment({ generation: 1, stats: { [SegStat.SEG_STAT_ALLOW]: 40, [SegStat.SEG_STAT_EGRESS_ALLOW]: 40 } })))).toBe(40);
    const gone = await a.scrape();
    expect(allow(gone)).toBe(40);
    expect(gone.some((x) => x.name === 'segc_policy_info')).toBe(false);
    expect(valueOf(gone, 'segc_deployments')).toBe(0);
    const back = await a.scrape(deployment({ maps: 2, generation: 1, stats: { [SegStat.SEG_STAT_ALLOW]: 3, [SegStat.SEG_STAT_EGRESS_ALLOW]: 3 } }));
    expect(allow(back)).toBe(43);
    expect(valueOf(back, 'segc_bytes_total', { deployment: 'web', direction: 'egress', verdict: 'allow' })).toBe(43 * 60);
  });

  it('labels reasons and events from the ABI and derives evictions that never go backwards', async () => {
    const a = agentOver(undefined);
    const stats = { [SegStat.SEG_STAT_SESSION_NEW]: 100, [SegStat.SEG_STAT_SESSION_EXPIRED]: 20, [SegStat.SEG_STAT_SESSION_CLOSED]: 30, [SegStat.SEG_STAT_REASON_BASE + SegReason.SEG_REASON_SESSION_REVOKED]: 5, [SegStat.SEG_STAT_REASON_BASE + SegReason.SEG_REASON_TRUNC_IP4]: 4, [SegStat.SEG_STAT_SESSION_TABLE_FULL]: 2 };
    const s = await a.scrape(deployment({ generation: 1, stats, sessions: 40 }));
    expect(valueOf(s, 'segc_sessions_evicted_total', { deployment: 'web' })).toBe(5);
    expect(valueOf(s, 'segc_reason_packets_total', { deployment: 'web', reason: 'trunc_ip4' })).toBe(4);
    expect(valueOf(s, 'segc_session_insert_failures_total', { deployment: 'web' })).toBe(2);
    expect(valueOf(s, 'segc_sessions_created_total', { deployment: 'web' })).toBe(100);
    expect(valueOf(s, 'segc_datapath_events_total', { deployment: 'web', event: 'session_expired' })).toBe(20);
    expect(valueOf(s, 'segc_sessions_utilization_ratio', { deployment: 'web' })).toBe(0.04);
    expect(valueOf(s, 'segc_sessions_half_open', { deployment: 'web' })).toBe(3);
    expect(valueOf(s, 'segc_tcp_sessions', { deployment: 'web', state: 'syn_recv' })).toBe(2);
    // More sessions in the table than before: the derived count stays where it was.
    const later = await a.scrape(deployment({ generation: 1, stats, sessions: 44 }));
    expect(valueOf(later, 'segc_sessions_evicted_total', { deployment: 'web' })).toBe(5);
  });

  it('serves the same rule series while no rule total changes, and the new top and totals as soon as one does', async () => {
    const rs = rules(4);
    const a = agentOver({ kind: 'top', limit: 2 });
    const rulePart = (text: string) => text.split('\n').filter((l) => l.startsWith('segc_rule_')).join('\n');
    const first = await a.text(deployment({ generation: 1, inForce: hits(1, rs, [5, 0, 9, 1]) }));
    const quiet = await a.text(deployment({ generation: 1, inForce: hits(1, rs, [5, 0, 9, 1]) }));
    expect(rulePart(quiet)).toBe(rulePart(first));
    // Only bytes moved (r0): its bytes total changes, the top stays.
    const bytesOnly = parseMetrics(await a.text(deployment({ generation: 1, inForce: { ...hits(1, rs, [5, 0, 9, 1]), bytes: Float64Array.of(600, 0, 900, 100) } })));
    expect(valueOf(bytesOnly, 'segc_rule_bytes_total', { rule: 'r0' })).toBe(600);
    // r3 climbs past r0: the top changes.
    const moved = parseMetrics(await a.text(deployment({ generation: 1, inForce: hits(1, rs, [5, 0, 9, 20]) })));
    expect(ruleSeries(moved).sort()).toEqual(['r2', 'r3']);
    expect(valueOf(moved, 'segc_rule_packets_total', { rule: 'r3' })).toBe(20);
  });

  it('derives evictions from the counters read with a census kept from earlier, and exports its age', async () => {
    const a = agentOver(undefined);
    const atCensus = { [SegStat.SEG_STAT_SESSION_NEW]: 100, [SegStat.SEG_STAT_SESSION_EXPIRED]: 20, [SegStat.SEG_STAT_SESSION_CLOSED]: 30 };
    // Since the census 60 more sessions opened: with today's counters the table would look 60 short.
    const now = { ...atCensus, [SegStat.SEG_STAT_SESSION_NEW]: 160 };
    const s = await a.scrape(deployment({ generation: 1, stats: now, sessions: 45, census: { ageMs: 2500, stats: atCensus } }));
    expect(valueOf(s, 'segc_sessions_evicted_total', { deployment: 'web' })).toBe(5);
    expect(valueOf(s, 'segc_sessions_created_total', { deployment: 'web' })).toBe(160);
    expect(valueOf(s, 'segc_sessions_census_age_seconds', { deployment: 'web' })).toBe(2.5);
    expect(valueOf(s, 'segc_sessions', { deployment: 'web' })).toBe(45);
    // A snapshot without a kept census (its census is the snapshot's own) exports no age.
    const b = await agentOver(undefined).scrape(deployment({ generation: 1, sessions: 3 }));
    expect(b.some((x) => x.name === 'segc_sessions_census_age_seconds')).toBe(false);
  });

  it('reports reloads and whether the watched files are what is deployed', async () => {
    const reports: ReloadReport[] = [{ name: 'web', successes: 3, failures: 1, lastSuccessSeconds: 1700000000, watchedHash: 'sha256:aa' }, { name: 'db', successes: 0, failures: 2, lastSuccessSeconds: 0, watchedHash: undefined }];
    const s = await agentOver(undefined, reports).scrape(deployment({ generation: 4, hash: 'sha256:aa' }), deployment({ name: 'db', generation: 1, hash: 'sha256:bb' }));
    expect(valueOf(s, 'segc_reloads_total', { deployment: 'web', result: 'success' })).toBe(3);
    expect(valueOf(s, 'segc_reloads_total', { deployment: 'db', result: 'failure' })).toBe(2);
    expect(valueOf(s, 'segc_watch_in_sync', { deployment: 'web' })).toBe(1);
    expect(valueOf(s, 'segc_watch_in_sync', { deployment: 'db' })).toBe(0);
    expect(valueOf(s, 'segc_reload_last_success_timestamp_seconds', { deployment: 'web' })).toBe(1700000000);
    expect(valueOf(s, 'segc_policy_generation', { deployment: 'web' })).toBe(4);
    expect(valueOf(s, 'segc_scrape_duration_seconds')).toBe(0.002);
  });

  it('serves concurrent scrapes from one collection, and a later scrape from a fresh one', async () => {
    let reads = 0;
    const metrics = new AgentMetrics({
      snapshot: () => {
        reads++;
        return { deployments: [deployment({ generation: 1, stats: { [SegStat.SEG_STAT_SESSION_NEW]: reads } })], unreadable: [], damaged: [], tookMs: 1 };
      },
    });
    const burst = await Promise.all(Array.from({ length: 50 }, () => metrics.scrape()));
    expect(reads).toBe(1);
    expect(metrics.collections).toBe(1);
    expect(new Set(burst).size).toBe(1);
    expect(valueOf(parseMetrics(burst[0] ?? ''), 'segc_sessions_created_total', { deployment: 'web' })).toBe(1);
    const later = await metrics.scrape();
    expect(reads).toBe(2);
    expect(valueOf(parseMetrics(later), 'segc_sessions_created_total', { deployment: 'web' })).toBe(2);
  });

  it('serves a burst one collection however long its clients take to arrive, while each comes within maxAgeMs of the one before, for at most BURST_WINDOWS windows', async () => {
    let reads = 0;
    let clock = 1000;
    const metrics = new AgentMetrics(
      {
        snapshot: () => {
          reads++;
          return { deployments: [deployment({ generation: 1, stats: { [SegStat.SEG_STAT_SESSION_NEW]: reads } })], unreadable: [], damaged: [], tookMs: 1 };
        },
      },
      { maxAgeMs: 500, now: () => clock },
    );
    // 50 clients one after the other (each after the one before has its answer), 30 ms apart:
    // 1.47 s in all, longer than the window, as a burst of big answers arrives.
    const texts: string[] = [];
    for (let i = 0; i < 50; i++) {
      texts.push(await metrics.scrape());
      clock += 30;
    }
    expect(metrics.collections).toBe(1);
    expect(new Set(texts).size).toBe(1);
    // A pause longer than the window after the last one: a fresh read.
    clock += 501;
    const later = await metrics.scrape();
    expect(metrics.collections).toBe(2);
    expect(valueOf(parseMetrics(later), 'segc_sessions_created_total', { deployment: 'web' })).toBe(2);
    expect(valueOf(parseMetrics(later), 'segc_scrape_collections_total')).toBe(2);
    // A steady stream, each within the window of the one before, is served the same collection
    // only up to BURST_WINDOWS windows from its start.
    const started = clock;
    while (clock + 400 - started <= BURST_WINDOWS * 500) {
      clock += 400;
      expect(await metrics.scrape()).toBe(later);
    }
    clock += 400;
    expect(await metrics.scrape()).not.toBe(later);
    expect(metrics.collections).toBe(3);
    // Bytes and text of one collection are the same, encoded once for every client.
    const bodies = await Promise.all([metrics.scrapeBody(), metrics.scrapeBody()]);
    expect(bodies[0]).toBe(bodies[1]);
    expect(bodies[0]?.toString('utf8')).toBe(await metrics.scrape());
    expect(metrics.collections).toBe(3);
  });

  it('does not serve a failed collection to later scrapes', async () => {
    let reads = 0;
    const metrics = new AgentMetrics(
      {
        snapshot: () => {
          reads++;
          if (reads === 1) throw new Error('maps gone');
          return { deployments: [], unreadable: [], damaged: [], tookMs: 1 };
        },
      },
      { maxAgeMs: 60_000 },
    );
    await expect(metrics.scrape()).rejects.toThrow('maps gone');
    await expect(metrics.scrape()).resolves.toMatch(/^segc_deployments 0$/m);
    expect(reads).toBe(2);
  });

  it('lets a scrape read while a collection works (between its steps, or just after its text is ready) join it', async () => {
    let reads = 0;
    const joined: Promise<string>[] = [];
    const metrics = new AgentMetrics({
      snapshot: () => {
        reads++;
        // Requests the event loop reads after the maps were read, and after the text is ready.
        setImmediate(() => {
          joined.push(metrics.scrape());
          setImmediate(() => joined.push(metrics.scrape()));
        });
        return { deployments: [deployment({ generation: 1, stats: { [SegStat.SEG_STAT_SESSION_NEW]: reads } })], unreadable: [], damaged: [], tookMs: 1 };
      },
    });
    const first = await metrics.scrape();
    expect(joined).toHaveLength(2);
    expect(await Promise.all(joined)).toEqual([first, first]);
    expect(reads).toBe(1);
  });
});

const HAVE_PROMTOOL = spawnSync('promtool', ['--version'], { timeout: 10_000 }).status === 0;

describe('the /metrics text', () => {
  it.skipIf(!HAVE_PROMTOOL)("passes promtool's check metrics with no lint finding (Debian's promtool)", async () => {
    const rs = rules(3);
    const a = agentOver({ kind: 'hit' }, [{ name: 'web', successes: 2, failures: 1, lastSuccessSeconds: 1_700_000_000, watchedHash: 'sha256:bb' }]);
    await a.scrape(deployment({ generation: 1, inForce: hits(1, rs, [5, 0, 9]), sessions: 12, stats: { [SegStat.SEG_STAT_INGRESS_DENY]: 3 } }));
    const text = await a.text(deployment({ generation: 2, inForce: hits(2, rs, [6, 1, 9]), standby: hits(1, rs, [5, 0, 9]), sessions: 10 }));
    expect(text).toMatch(/^# TYPE nodejs_active_handles gauge$/m);
    expect(text).not.toMatch(/nodejs_active_\w+_total/);
    const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8', timeout: 60_000 });
    expect(`${r.stdout}${r.stderr}`).toBe('');
    expect(r.status).toBe(0);
  });
});
