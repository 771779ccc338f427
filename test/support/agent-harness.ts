// Test support for agent tests: the segc agent and a real Prometheus server run as processes
// inside a test namespace (so their ports are the namespace's own and never collide), HTTP GETs
// from inside the namespace, and a parser of the Prometheus text format. Every process is
// stopped by the pid this harness started.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { withoutSsh } from './deploy-harness.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SEGC = join(ROOT, 'test', 'support', 'segc-source.ts');
const NETNS_DIR = '/var/run/netns';

export const HAVE_PROMETHEUS = spawnSync('prometheus', ['--version'], { timeout: 10_000 }).status === 0;
export const HAVE_PROMTOOL = spawnSync('promtool', ['--version'], { timeout: 10_000 }).status === 0;

const HTTP_GET = `
fetch(process.argv[1], { signal: AbortSignal.timeout(Number(process.argv[2])) })
  .then(async (r) => { process.stdout.write(await r.text()); process.exit(r.ok ? 0 : 4); })
  .catch((e) => { process.stderr.write(String(e)); process.exit(3); });
`;

/** GET `url` from inside `netns`; the body, or undefined when it failed or was not 2xx. */
export function httpGet(netns: string, url: string, timeoutMs = 10_000): string | undefined {
  const r = spawnSync('nsenter', [`--net=${NETNS_DIR}/${netns}`, '--', process.execPath, '-e', HTTP_GET, url, String(timeoutMs)], { encoding: 'utf8', timeout: timeoutMs + 10_000 });
  return r.status === 0 ? r.stdout : undefined;
}

/** A process this harness started: its output so far, and a stop by its own pid. */
export interface Started {
  readonly child: ChildProcess;
  output(): string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit code (null: killed by a signal). */
  stop(graceMs?: number): Promise<number | null>;
  readonly exited: Promise<number | null>;
}

function started(child: ChildProcess): Started {
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    output: () => out,
    exited,
    async stop(graceMs = 10_000) {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/** `segc agent ARGS` from the sources inside `netns` (nsenter execs it: the pid is the agent's). */
export function startAgent(netns: string, args: readonly string[], stateDir: string): Started {
  const child = spawn('nsenter', [`--net=${NETNS_DIR}/${netns}`, '--', process.execPath, '--no-warnings', SEGC, 'agent', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...withoutSsh(process.env), NO_COLOR: '1', SEGC_STATE_DIR: stateDir },
  });
  return started(child);
}

/** One sample of the text format. */
export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export function parseMetrics(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not a sample: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, k, v] of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[k as string] = (v as string).replace(/\\(.)/g, '$1');
    out.push({ name: m[1] as string, labels, value: Number(m[3]) });
  }
  return out;
}

/** The value of the one sample of `name` whose labels include `labels`; 0 when there is none. */
export function valueOf(samples: readonly Sample[], name: string, labels: Readonly<Record<string, string>> = {}): number {
  const found = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (found.length > 1) throw new Error(`${found.length} samples of ${name} match ${JSON.stringify(labels)}`);
  return found[0]?.value ?? 0;
}

/** A real Prometheus server in `netns` on 127.0.0.1:`port`, scraping the agent every second. */
export interface PrometheusServer extends Started {
  /** An instant query through the HTTP API: the result vector. */
  query(expr: string): { metric: Record<string, string>; value: [number, string] }[];
  /** The loaded alerting rules: name, health (`ok` once evaluated without error) and state. */
  /** Alerting rules carry a state; recording rules (type 'recording') do not. */
  rules(): { name: string; type: string; health: string; state?: string }[];
  remove(): void;
}

export async function startPrometheus(netns: string, port: number, agentPort: number, ruleFiles: readonly string[] = []): Promise<PrometheusServer> {
  const dir = mkdtempSync(join(tmpdir(), 'segct-prom-'));
  const config = join(dir, 'prometheus.yml');
  writeFileSync(
    config,
    [
      'global:',
      '  scrape_interval: 1s',
      '  evaluation_interval: 1s',
      `rule_files: [${ruleFiles.map((f) => JSON.stringify(f)).join(', ')}]`,
      'scrape_configs:',
      '  - job_name: segc',
      '    static_configs:',
      `      - targets: ['127.0.0.1:${agentPort}']`,
      '',
    ].join('\n'),
  );
  const child = spawn(
    'nsenter',
    [`--net=${NETNS_DIR}/${netns}`, '--', 'prometheus', `--config.file=${config}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const s = started(child);
  const api = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  while (httpGet(netns, `${api}/-/ready`, 2_000) === undefined) {
    if (Date.now() > deadline || child.exitCode !== null) {
      await s.stop();
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`prometheus did not become ready: ${s.output()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return {
    ...s,
    query(expr) {
      const body = httpGet(netns, `${api}/api/v1/query?query=${encodeURIComponent(expr)}`);
      if (body === undefined) throw new Error(`query ${expr} failed`);
      const parsed = JSON.parse(body) as { status: string; data: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] } };
      if (parsed.status !== 'success') throw new Error(`query ${expr}: ${body}`);
      return parsed.data.result;
    },
    rules() {
      const body = httpGet(netns, `${api}/api/v1/rules`);
      if (body === undefined) throw new Error('rules query failed');
      const parsed = JSON.parse(body) as { data: { groups: { rules: { name: string; type: string; health: string; state?: string }[] }[] } };
      return parsed.data.groups.flatMap((g) => g.rules);
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
