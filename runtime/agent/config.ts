// Agent: its configuration, from the command line or a JSON config file (plain data): where to
// listen, which rules get series, and which deployments to keep in step with policy files.
import { isIP } from 'node:net';
import { dirname, resolve } from 'node:path';
import { MAX_CONFIRM_MS, MIN_CONFIRM_MS, parseDuration } from '../duration.ts';
import { isDeploymentName } from '../state.ts';
import { DEFAULT_RULE_METRICS, DEFAULT_SCRAPE_MAX_AGE_MS, parseRuleMetricsMode, type RuleMetricsMode } from './metrics.ts';

export const DEFAULT_LISTEN = '127.0.0.1:9464';
export const DEFAULT_DEBOUNCE_MS = 300;
/** Longer would serve a text older than the shortest scrape intervals in use (1 s). */
export const MAX_SCRAPE_MAX_AGE_MS = 10_000;
/**
 * `--census-max-age`: the session gauges may be this old (a census walks the whole table: 20-30
 * ms at 262,144 sessions, taken ahead of the scrapes so it is off their path). A few seconds
 * beside a 15 s scrape interval; at most a minute.
 */
export const DEFAULT_CENSUS_MAX_AGE_MS = 5_000;
export const MAX_CENSUS_MAX_AGE_MS = 60_000;

/** A deployment the agent redeploys when its policy files (or their includes) change. */
export interface WatchedDeployment {
  readonly name: string;
  /** Policy files or folders, absolute (as `segc deploy` takes them). */
  readonly files: readonly string[];
  readonly interfaces: readonly string[];
  readonly strict: boolean;
  /** Each reload is a commit-confirmed deploy with this window (ms): rolled back unless `segc confirm`. */
  readonly confirmMs?: number;
  /** Management flows a reload must not deny (deploy --keep); the agent's own port joins them when it listens beyond loopback. */
  readonly keep?: readonly string[];
}

export interface AgentConfig {
  readonly host: string;
  readonly port: number;
  readonly ruleMetrics: RuleMetricsMode;
  readonly debounceMs: number;
  /** A scrape within this many ms of the last collection's start is served its text (0: every scrape after a collection ended reads the maps). */
  readonly scrapeMaxAgeMs: number;
  /** A collection may use a session census taken at most this many ms before it (0: a census in every collection). */
  readonly censusMaxAgeMs: number;
  readonly watch: readonly WatchedDeployment[];
}

/** A configuration mistake: the CLI reports it as a usage error. */
export class AgentConfigError extends Error {
  override readonly name = 'AgentConfigError';
}

/** `127.0.0.1:9464`, `[::1]:9464`, `:9464` (all addresses) into host and port. */
export function parseListen(text: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(text);
  const host = m ? (m[1] ?? m[2] ?? '') : '';
  const port = m ? Number(m[3]) : NaN;
  if (!m || !(port >= 0 && port <= 65535) || (host !== '' && isIP(host) === 0 && host !== 'localhost')) {
    throw new AgentConfigError(`--listen '${text}' is not ADDRESS:PORT (for example 127.0.0.1:9464 or [::1]:9464)`);
  }
  return { host: host === '' ? '0.0.0.0' : host, port };
}

/** Whether `host` can only be reached from this machine. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

export interface AgentFlags {
  readonly listen?: string;
  readonly ruleMetrics?: string;
  readonly debounce?: number;
  readonly scrapeMaxAge?: number;
  readonly censusMaxAge?: number;
  readonly watch?: readonly string[];
  readonly name?: string;
  readonly iface?: readonly string[];
  readonly strict?: boolean;
  /** `--confirm`, in ms, for the `--watch` deployment. */
  readonly confirm?: number;
}

interface ConfigFile {
  listen?: unknown;
  ruleMetrics?: unknown;
  debounceMs?: unknown;
  scrapeMaxAgeMs?: unknown;
  censusMaxAgeMs?: unknown;
  deployments?: unknown;
}

/**
 * The configuration: flags win over the file's values; `--watch` adds one deployment
 * (`--name`, `--iface`) to the file's list. Relative paths are relative to the file (or `cwd`).
 */
export function agentConfig(flags: AgentFlags, cwd: string, file?: { readonly path: string; readonly text: string }): AgentConfig {
  let parsed: ConfigFile = {};
  if (file) {
    try {
      parsed = JSON.parse(file.text) as ConfigFile;
    } catch (error) {
      throw new AgentConfigError(`${file.path} is not JSON: ${error instanceof Error ? error.message : String(error)}`);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new AgentConfigError(`${file.path}: expected a JSON object`);
  }
  const text = (v: unknown, what: string): string | undefined => {
    if (v === undefined) return undefined;
    if (typeof v !== 'string') throw new AgentConfigError(`${file?.path ?? 'config'}: ${what} must be a string`);
    return v;
  };
  const { host, port } = parseListen(flags.listen ?? text(parsed.listen, 'listen') ?? DEFAULT_LISTEN);
  const modeText = flags.ruleMetrics ?? text(parsed.ruleMetrics, 'ruleMetrics');
  const ruleMetrics = modeText === undefined ? DEFAULT_RULE_METRICS : parseRuleMetricsMode(modeText);
  if (!ruleMetrics) throw new AgentConfigError(`--rule-metrics '${modeText}': expected top:N, hit or none`);
  const debounceMs = flags.debounce ?? (typeof parsed.debounceMs === 'number' ? parsed.debounceMs : DEFAULT_DEBOUNCE_MS);
  if (parsed.scrapeMaxAgeMs !== undefined && !(typeof parsed.scrapeMaxAgeMs === 'number' && Number.isInteger(parsed.scrapeMaxAgeMs) && parsed.scrapeMaxAgeMs >= 0 && parsed.scrapeMaxAgeMs <= MAX_SCRAPE_MAX_AGE_MS)) {
    throw new AgentConfigError(`${file?.path ?? 'config'}: scrapeMaxAgeMs must be a whole number of milliseconds from 0 to ${MAX_SCRAPE_MAX_AGE_MS}`);
  }
  if (flags.scrapeMaxAge !== undefined && flags.scrapeMaxAge > MAX_SCRAPE_MAX_AGE_MS) throw new AgentConfigError(`--scrape-max-age ${flags.scrapeMaxAge}: at most ${MAX_SCRAPE_MAX_AGE_MS} ms`);
  const scrapeMaxAgeMs = flags.scrapeMaxAge ?? (parsed.scrapeMaxAgeMs as number | undefined) ?? DEFAULT_SCRAPE_MAX_AGE_MS;
  if (parsed.censusMaxAgeMs !== undefined && !(typeof parsed.censusMaxAgeMs === 'number' && Number.isInteger(parsed.censusMaxAgeMs) && parsed.censusMaxAgeMs >= 0 && parsed.censusMaxAgeMs <= MAX_CENSUS_MAX_AGE_MS)) {
    throw new AgentConfigError(`${file?.path ?? 'config'}: censusMaxAgeMs must be a whole number of milliseconds from 0 to ${MAX_CENSUS_MAX_AGE_MS}`);
  }
  if (flags.censusMaxAge !== undefined && flags.censusMaxAge > MAX_CENSUS_MAX_AGE_MS) throw new AgentConfigError(`--census-max-age ${flags.censusMaxAge}: at most ${MAX_CENSUS_MAX_AGE_MS} ms`);
  const censusMaxAgeMs = flags.censusMaxAge ?? (parsed.censusMaxAgeMs as number | undefined) ?? DEFAULT_CENSUS_MAX_AGE_MS;
  const watch: WatchedDeployment[] = [];
  if (parsed.deployments !== undefined) {
    if (!Array.isArray(parsed.deployments)) throw new AgentConfigError(`${file?.path}: deployments must be a list`);
    const base = file ? dirname(resolve(cwd, file.path)) : cwd;
    for (const [i, d] of (parsed.deployments as unknown[]).entries()) watch.push(watchedFromFile(d, i, base, file?.path ?? 'config'));
  }
  if (flags.watch && flags.watch.length > 0) {
    if (!flags.iface || flags.iface.length === 0) throw new AgentConfigError('--watch needs --iface (the interfaces to deploy on, as for segc deploy)');
    watch.push(watchedDeployment(flags.name ?? 'default', flags.watch.map((f) => resolve(cwd, f)), flags.iface, flags.strict === true, '--name', flags.confirm));
  }
  // Scrapes reach a metrics port on the network through the policy: a reload must not cut them.
  if (!isLoopback(host)) for (const [i, w] of watch.entries()) watch[i] = { ...w, keep: [...(w.keep ?? []), `tcp ${port}`] };
  const names = watch.map((w) => w.name);
  const twice = names.find((n, i) => names.indexOf(n) !== i);
  if (twice !== undefined) throw new AgentConfigError(`deployment '${twice}' is watched twice`);
  return { host, port, ruleMetrics, debounceMs, scrapeMaxAgeMs, censusMaxAgeMs, watch };
}

function watchedFromFile(d: unknown, index: number, base: string, path: string): WatchedDeployment {
  const o = (typeof d === 'object' && d !== null ? d : {}) as Record<string, unknown>;
  const list = (v: unknown, what: string): string[] => {
    if (!Array.isArray(v) || v.length === 0 || !v.every((x) => typeof x === 'string')) throw new AgentConfigError(`${path}: deployments[${index}].${what} must be a non-empty list of strings`);
    return v as string[];
  };
  const name = typeof o['name'] === 'string' ? o['name'] : 'default';
  let confirmMs: number | undefined;
  if (o['confirm'] !== undefined) {
    confirmMs = typeof o['confirm'] === 'string' ? parseDuration(o['confirm']) : undefined;
    if (confirmMs === undefined || confirmMs < MIN_CONFIRM_MS || confirmMs > MAX_CONFIRM_MS) throw new AgentConfigError(`${path}: deployments[${index}].confirm must be a duration from 1s to 24h, such as "2m"`);
  }
  const w = watchedDeployment(name, list(o['files'], 'files').map((f) => resolve(base, f)), list(o['interfaces'], 'interfaces'), o['strict'] === true, `${path}: deployments[${index}].name`, confirmMs);
  return o['keep'] === undefined ? w : { ...w, keep: list(o['keep'], 'keep') };
}

function watchedDeployment(name: string, files: readonly string[], interfaces: readonly string[], strict: boolean, where: string, confirmMs?: number): WatchedDeployment {
  if (!isDeploymentName(name)) throw new AgentConfigError(`${where} '${name}' is not a deployment name`);
  return { name, files, interfaces, strict, ...(confirmMs === undefined ? {} : { confirmMs }) };
}
