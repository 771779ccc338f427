// The agent's exposition text, byte for byte, over a fixed series of synthetic snapshots (no
// kernel): every segc_* series, label and value a scrape serves, in its order, in each
// --rule-metrics mode. The golden file was written by the agent before its scrape path was
// rewritten for speed; a change to the served text shows up here as a diff to review.
import { describe, expect, it } from 'vitest';
import { SegStat } from '../../../runtime/datapath/abi.ts';
import type { BundleRule } from '../../../compiler/bundle.ts';
import { AgentMetrics, type ReloadReport, type RuleMetricsMode } from '../../../runtime/agent/metrics.ts';
import type { DeploymentSnapshot, HostSnapshot, RuleHits } from '../../../runtime/agent/reader.ts';
import type { DeploymentRecord } from '../../../runtime/state.ts';

/** Rules whose names, files and actions need every escape the format has, and ties in priority. */
function policy(count: number, file: string): BundleRule[] {
  const names = ['ssh', 'web "front"', 'back\\slash', 'two\nlines', 'dns', 'ntp'];
  return Array.from({ length: count }, (_, id) => ({
    id,
    name: names[id % names.length] + (id < names.length ? '' : `-${id}`),
    direction: id % 3 === 2 ? 'egress' : 'ingress',
    priority: 100 + (id % 4),
    action: id % 5 === 4 ? 'deny' : 'allow',
    log: false,
    file,
    line: 3 + id,
  }));
}

function hits(generation: number, rules: readonly BundleRule[], packets: readonly number[]): RuleHits {
  return { generation, rules, packets: Float64Array.from(rules, (_, i) => packets[i] ?? 0), bytes: Float64Array.from(rules, (_, i) => (packets[i] ?? 0) * 61 + (packets[i] ? 7 : 0)) };
}

function stats(seed: number, big = 0n) {
  return Array.from({ length: SegStat.SEG_STAT_COUNT }, (_, i) => ({ packets: BigInt((i * 7 + seed) % 23) + (i === SegStat.SEG_STAT_INGRESS_ALLOW ? big : 0n), bytes: BigInt(((i * 7 + seed) % 23) * 90) }));
}

interface Shape {
  readonly name: string;
  readonly maps: number;
  readonly generation: number;
  readonly recorded?: number;
  readonly inForce?: RuleHits;
  readonly standby?: RuleHits;
  readonly seed: number;
  readonly big?: bigint;
  readonly sessions: number;
  readonly censusAgeMs?: number;
  readonly canary?: boolean;
}

function deployment(s: Shape): DeploymentSnapshot {
  const record = { name: s.name, policyHash: `sha256:${s.name}${s.generation}`, generation: s.recorded ?? s.generation, deployedAt: '2026-03-04T05:06:07.890Z' } as DeploymentRecord;
  const role = (k: number) => ({ allow: BigInt(10 * k), deny: BigInt(k), flows: BigInt(3 * k), flowDeny: BigInt(k), wouldDeny: 0n, sessionHits: BigInt(7 * k), revoked: BigInt(k % 2) });
  const current = s.inForce?.rules ?? [];
  return {
    name: s.name,
    record,
    mapsId: s.maps,
    stats: stats(s.seed, s.big),
    activeGeneration: s.generation,
    inForce: s.inForce,
    standby: s.standby,
    sessions: { entries: s.sessions, capacity: 4096, byState: [s.sessions - 5, 1, 1, 1, 0, 1, 1, 0] },
    ruleCounts: { ingress: current.filter((r) => r.direction === 'ingress').length, egress: current.filter((r) => r.direction === 'egress').length },
    ...(s.censusAgeMs === undefined ? {} : { census: { ageMs: s.censusAgeMs, stats: stats(s.seed + 1) } }),
    ...(s.canary ? { canary: { generation: s.generation + 1, baselineGeneration: s.generation, shareBp: 1250, counts: { baseline: role(s.seed), canary: role(s.seed + 2) } } } : {}),
  };
}

const web1 = policy(14, 'web.seg');
const web2 = policy(16, 'web "v2".seg');
const db1 = policy(6, 'db\\main.seg');

/** Five collections: busy rules, a quiet repeat, totals that move, a policy switch with new maps, a removed deployment. */
function snapshots(): HostSnapshot[] {
  const unreadable = [{ name: 'gone', error: 'pins missing' }];
  const damaged = [{ name: 'broken', path: '/var/lib/segc/broken.json', error: 'not JSON' }];
  const webHits1 = [5, 0, 9, 9, 1, 0, 12, 3, 3, 0, 40, 2, 0, 9];
  const webHits2 = [6, 0, 9, 10, 1, 4, 12, 3, 3, 0, 41, 2, 0, 9];
  const one = (tookMs: number, deployments: DeploymentSnapshot[]): HostSnapshot => ({ deployments, unreadable: [], damaged: [], tookMs });
  return [
    { ...one(3.25, [deployment({ name: 'web', maps: 11, generation: 1, inForce: hits(1, web1, webHits1), seed: 1, sessions: 40, censusAgeMs: 1500 }), deployment({ name: 'db', maps: 12, generation: 4, inForce: hits(4, db1, [1, 2, 3, 0, 5, 6]), seed: 2, sessions: 9, canary: true })]), unreadable },
    one(2, [deployment({ name: 'web', maps: 11, generation: 1, inForce: hits(1, web1, webHits1), seed: 1, sessions: 40, censusAgeMs: 2100 }), deployment({ name: 'db', maps: 12, generation: 4, inForce: hits(4, db1, [1, 2, 3, 0, 5, 6]), seed: 2, sessions: 9, canary: true })]),
    { ...one(1.5, [deployment({ name: 'web', maps: 11, generation: 1, inForce: hits(1, web1, webHits2), seed: 3, sessions: 44 }), deployment({ name: 'db', maps: 12, generation: 4, inForce: hits(4, db1, [1, 2, 3, 8, 5, 6]), seed: 2, sessions: 9 })]), damaged },
    one(4, [
      deployment({ name: 'web', maps: 11, generation: 2, inForce: hits(2, web2, [0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2 ** 53 + 2]), standby: hits(1, web1, webHits2.map((p) => p + 1)), seed: 4, sessions: 50, big: 2n ** 60n }),
      deployment({ name: 'db', maps: 20, generation: 1, recorded: 2, inForce: hits(1, db1, [0, 0, 1, 0, 0, 0]), seed: 0, sessions: 5 }),
    ]),
    one(2.5, [deployment({ name: 'web', maps: 11, generation: 2, inForce: hits(2, web2, [0, 4, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 2 ** 53 + 2]), seed: 5, sessions: 51 })]),
  ];
}

const reports: ReloadReport[] = [
  { name: 'web', successes: 3, failures: 1, lastSuccessSeconds: 1767225600, watchedHash: 'sha256:web2' },
  { name: 'db', successes: 0, failures: 2, lastSuccessSeconds: 0, watchedHash: undefined },
];

/** The text without prom-client's process_* and nodejs_* defaults (their values are this process's). */
function segcPart(text: string): string {
  return text
    .split('\n')
    .filter((line) => !/^(# (HELP|TYPE) )?(process|nodejs)_/.test(line))
    .join('\n');
}

async function expositions(mode: RuleMetricsMode): Promise<string> {
  const queue = snapshots();
  const metrics = new AgentMetrics({ snapshot: () => queue.shift() ?? { deployments: [], unreadable: [], damaged: [], tookMs: 0 } }, { ruleMetrics: mode, reloads: { reports: () => reports } });
  const texts: string[] = [];
  for (let i = 1; queue.length > 0; i++) texts.push(`## collection ${i}\n${segcPart(await metrics.scrape())}`);
  return texts.join('\n');
}

describe('agent exposition text', () => {
  for (const [label, mode] of [['top-3', { kind: 'top', limit: 3 }], ['top-500', { kind: 'top', limit: 500 }], ['hit', { kind: 'hit' }], ['none', { kind: 'none' }]] as const) {
    it(`serves the same bytes as before the scrape path was rewritten (--rule-metrics ${label})`, async () => {
      await expect(await expositions(mode)).toMatchFileSnapshot(`baselines/exposition-${label}.txt`);
    });
  }
});
