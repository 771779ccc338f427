// The operations files shipped in ops/: alert rules checked and unit-tested by promtool, the
// systemd units verified by systemd-analyze, and every PromQL query of the dashboard and the
// alerts naming only metrics the agent exports (and docs/metrics.md documents).
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentMetrics } from '../../runtime/agent/metrics.ts';
import { DeploymentReader } from '../../runtime/agent/reader.ts';
import { HAVE_PROMTOOL } from '../support/agent-harness.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const OPS = join(ROOT, 'ops');
const HAVE_SYSTEMD_ANALYZE = spawnSync('systemd-analyze', ['--version'], { timeout: 10_000 }).status === 0;
/** Series Prometheus makes itself for every target. */
const PROMETHEUS_SERIES = new Set(['up', 'ALERTS']);
const PROMQL_WORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'and', 'or', 'unless', 'offset', 'bool', 'inf', 'nan']);

/** Metric names a PromQL expression reads: identifiers that are not functions, keywords, labels or strings. */
function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\$\w+/g, ' ')
    // Numbers and durations (`15m`, `0.95`, `1e3`).
    .replace(/(?<![\w:])\d[\w.]*/g, ' ');
  const out = new Set<string>();
  for (const m of stripped.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\()?/g)) {
    const [, name, call] = m;
    if (call !== undefined || PROMQL_WORDS.has((name as string).toLowerCase()) || /^\d/.test(name as string)) continue;
    out.add(name as string);
  }
  return [...out];
}

describe('operations files', () => {
  let exported: Set<string>;
  let stateDir: string;

  beforeAll(async () => {
    stateDir = mkdtempSync(join(tmpdir(), 'segct-ops-'));
    const metrics = new AgentMetrics(new DeploymentReader(stateDir));
    // The names in the text GET /metrics serves (the rule counters are written beside prom-client's registry).
    exported = new Set([...(await metrics.scrape()).matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1] as string));
  });

  afterAll(() => rmSync(stateDir, { recursive: true, force: true }));

  it('finds the metric names in PromQL', () => {
    expect(metricNames('sum by (deployment, verdict) (rate(segc_packets_total{deployment=~"$deployment"}[$__rate_interval])) > 0')).toEqual(['segc_packets_total']);
    expect(metricNames('segc_a > 10 * clamp_min(avg_over_time(segc_b[1h] offset 15m), 50)')).toEqual(['segc_a', 'segc_b']);
    expect(metricNames('up{job="segc"} == 0 or absent(up{job="segc"})')).toEqual(['up']);
  });

  it('documents every metric the agent exports in docs/metrics.md, and nothing it does not', () => {
    const doc = readFileSync(join(ROOT, 'docs', 'metrics.md'), 'utf8');
    const documented = new Set([...doc.matchAll(/^\| `(segc_[a-z_]+)` \|/gm)].map((m) => m[1] as string));
    const ours = [...exported].filter((n) => n.startsWith('segc_')).sort();
    expect([...documented].sort()).toEqual(ours);
    expect(ours.length).toBeGreaterThan(25);
  });

  it('has a dashboard whose every query names only metrics the agent exports', () => {
    const dashboard = JSON.parse(readFileSync(join(OPS, 'grafana', 'segc-dashboard.json'), 'utf8')) as { panels: { title: string; targets: { expr: string }[] }[]; templating: { list: { query?: { query?: string } | string }[] } };
    const exprs = [...dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr)), ...dashboard.templating.list.map((v) => (typeof v.query === 'object' ? v.query.query : undefined)).filter((q): q is string => q !== undefined && q.includes('('))];
    expect(exprs.length).toBeGreaterThan(15);
    for (const expr of exprs) {
      const names = metricNames(expr.replace(/label_values\(([a-z_]+), *[a-z_]+\)/, '$1'));
      expect(names.length, expr).toBeGreaterThan(0);
      for (const n of names) expect(exported.has(n) || PROMETHEUS_SERIES.has(n), `${n} in ${expr}`).toBe(true);
    }
  });

  it('has alert and recording rules whose every expression names only metrics the agent exports or the file records', () => {
    const text = readFileSync(join(OPS, 'prometheus', 'segc-alerts.yml'), 'utf8');
    const exprs = [...text.matchAll(/^\s+expr: (.+)$/gm)].map((m) => m[1] as string);
    const recorded = new Set([...text.matchAll(/^\s+- record: (\S+)$/gm)].map((m) => m[1] as string));
    expect([...recorded].sort()).toEqual(['segc:drop_ratio:rate5m', 'segc:session_hit_ratio:rate5m']);
    expect(exprs.length).toBe(14);
    for (const expr of exprs) for (const n of metricNames(expr)) expect(exported.has(n) || PROMETHEUS_SERIES.has(n) || recorded.has(n), `${n} in ${expr}`).toBe(true);
  });

  it('fails a query that names a metric the agent does not export', () => {
    expect(metricNames('rate(segc_no_such_metric_total[5m])').every((n) => exported.has(n))).toBe(false);
  });

  it.skipIf(!HAVE_PROMTOOL)('has alert rules that promtool checks and whose unit tests pass', () => {
    const check = spawnSync('promtool', ['check', 'rules', join(OPS, 'prometheus', 'segc-alerts.yml')], { encoding: 'utf8', timeout: 60_000 });
    expect(check.status, check.stdout + check.stderr).toBe(0);
    expect(check.stdout).toMatch(/SUCCESS: 14 rules found/);
    const test = spawnSync('promtool', ['test', 'rules', join(OPS, 'prometheus', 'segc-alerts.test.yml')], { encoding: 'utf8', timeout: 60_000 });
    expect(test.status, test.stdout + test.stderr).toBe(0);
  });

  it.skipIf(!HAVE_PROMTOOL)('has alert unit tests that would catch an alert that never fires', () => {
    const dir = mkdtempSync(join(tmpdir(), 'segct-ops-'));
    try {
      // The same tests against rules whose thresholds can never be crossed: they must fail.
      const rules = readFileSync(join(OPS, 'prometheus', 'segc-alerts.yml'), 'utf8');
      for (const [from, to, alert] of [
        ['segc_sessions_utilization_ratio > 0.95', 'segc_sessions_utilization_ratio > 2', 'SegcSessionTableFull'],
        ['segc:session_hit_ratio:rate5m < 0.9', 'segc:session_hit_ratio:rate5m < 0', 'SegcSessionHitRatioLow'],
        ['segc:drop_ratio:rate5m > 0.25', 'segc:drop_ratio:rate5m > 2', 'SegcHighDropRate'],
      ] as const) {
        expect(rules).toContain(from);
        writeFileSync(join(dir, 'segc-alerts.yml'), rules.replace(from, to));
        copyFileSync(join(OPS, 'prometheus', 'segc-alerts.test.yml'), join(dir, 'segc-alerts.test.yml'));
        const test = spawnSync('promtool', ['test', 'rules', join(dir, 'segc-alerts.test.yml')], { encoding: 'utf8', timeout: 60_000 });
        expect(test.status, alert).not.toBe(0);
        expect(test.stdout + test.stderr).toMatch(new RegExp(alert));
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  // systemd-analyze verify checks that ExecStart names an executable; /usr/local/bin/segc exists
  // only where segc is installed, so the units are verified as copies naming this checkout's bin.
  it.skipIf(!HAVE_SYSTEMD_ANALYZE)('has systemd units that systemd-analyze verify accepts without a warning', () => {
    const dir = mkdtempSync(join(tmpdir(), 'segct-units-'));
    try {
      for (const [unit, as] of [['segc-agent.service', 'segc-agent.service'], ['segc-deploy@.service', 'segc-deploy@default.service']] as const) {
        const text = readFileSync(join(OPS, 'systemd', unit), 'utf8');
        expect(text).toMatch(/^ProtectSystem=strict$/m);
        expect(text).toMatch(/^NoNewPrivileges=yes$/m);
        expect(text).toMatch(/^CapabilityBoundingSet=CAP_BPF CAP_PERFMON CAP_NET_ADMIN CAP_SYS_ADMIN$/m);
        writeFileSync(join(dir, as), text.replaceAll('/usr/local/bin/segc', join(ROOT, 'bin', 'segc')));
        const r = spawnSync('systemd-analyze', ['verify', join(dir, as)], { encoding: 'utf8', timeout: 60_000 });
        expect(r.status, r.stderr).toBe(0);
        // Unknown keys and other mistakes are warnings with exit 0: any output is a failure.
        expect(r.stderr.split('\n').filter((l) => l.includes(as)), r.stderr).toEqual([]);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
