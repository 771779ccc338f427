// Agent: the reader. Takes a snapshot of every deployment recorded on this host (its record,
// its pinned maps: counters, the rule hits of the policy in force, the session census) as plain
// data. The metrics, `segc stats --watch` and the map-pressure line of `segc status` all read
// through it, so a terminal and Prometheus see the same numbers.
import { lstatSync } from 'node:fs';
import { parseBundle, type BundleRule } from '../../compiler/bundle.ts';
import { censusSessions, type SessionCensus } from '../datapath/sessions.ts';
import { readConfig } from '../datapath/config.ts';
import { readCanaryCounts, type CanaryCounts } from '../datapath/canary-stats.ts';
import { readRuleHitsRange, readStats } from '../datapath/counters.ts';
import { slotGeneration } from '../datapath/slots.ts';
import { readDatapathInfo } from '../datapath/info.ts';
import { openPinnedDatapath, releaseDatapath } from '../deploy.ts';
import { openSessionCensus, type SessionCensusCounter } from '../datapath/census.ts';
import { SegMap } from '../datapath/abi.ts';
import { mapOf, type Datapath } from '../datapath/datapath.ts';
import { bpf_map_get_info_by_fd } from '../libbpf.ts';
import { isRecordError, listDeployments, readState, recordPath, type DeploymentRecord } from '../state.ts';

export interface Counter {
  readonly packets: bigint;
  readonly bytes: bigint;
}

/** The rules of one policy generation, as the bundle names them, and their hits. */
export interface RuleHits {
  readonly generation: number;
  readonly rules: readonly BundleRule[];
  /** Indexed by rule id (the bundle's ids run 0..ruleCount-1), summed over CPUs as doubles (exact below 2^53). */
  readonly packets: Float64Array;
  readonly bytes: Float64Array;
}

/** A deployment record without its bundle and sources (megabytes for a 10k-rule policy): what readers use. */
export type RecordSummary = Omit<DeploymentRecord, 'bundle' | 'sources'>;

export interface DeploymentSnapshot {
  readonly name: string;
  readonly record: RecordSummary;
  /** The kernel id of the deployment's seg_stats map: a new id means new maps (undeploy, deploy). */
  readonly mapsId: number;
  /** seg_stats by SegStat index. */
  readonly stats: readonly Counter[];
  readonly activeGeneration: number;
  /** Hits of the policy in force, when its record is known (the current or the previous one). */
  readonly inForce: RuleHits | undefined;
  /** Hits of the other slot's policy, while it still holds a recorded generation. */
  readonly standby: RuleHits | undefined;
  readonly sessions: SessionCensus;
  /**
   * How old `sessions` is, in ms (the agent's census may come from before the snapshot:
   * `censusMaxAgeMs`), and the seg_stats read just before that census, which the derived
   * eviction count must pair with it (both from one moment, not the census from one and the
   * counters from another). Absent: the census was taken with `stats`.
   */
  readonly census?: { readonly ageMs: number; readonly stats: readonly Counter[] };
  readonly ruleCounts: { readonly ingress: number; readonly egress: number };
  /** A canary running beside the policy in force: both generations, its share, the counters per role. */
  readonly canary?: { readonly generation: number; readonly baselineGeneration: number; readonly shareBp: number; readonly counts: CanaryCounts };
}

export interface HostSnapshot {
  readonly deployments: readonly DeploymentSnapshot[];
  /** Deployments whose record exists but whose pins could not be read, with why. */
  readonly unreadable: readonly { readonly name: string; readonly error: string }[];
  /** Deployments whose record is damaged (RecordError): the others are read all the same. */
  readonly damaged: readonly { readonly name: string; readonly path: string; readonly error: string }[];
  /** Milliseconds the snapshot took. */
  readonly tookMs: number;
}

interface CachedRecord {
  readonly mtimeMs: number;
  readonly size: number;
  readonly current: RecordSummary;
  readonly rules: ReadonlyMap<number, readonly BundleRule[]>;
}

/** The session census of one deployment's maps: in the kernel when it can load, else by batch lookups. */
interface CensusOf {
  readonly mapsId: number;
  readonly counter: SessionCensusCounter | undefined;
  /** The last census, when it was taken (by `now`) and the seg_stats read just before it. */
  last?: { readonly census: SessionCensus; readonly takenAt: number; readonly stats: readonly Counter[] };
}

export interface DeploymentReaderOptions {
  /**
   * A snapshot may reuse a session census taken at most this many ms before it (0, the
   * default: a census at every snapshot). The agent refreshes the census ahead of its scrapes
   * (`refreshCensus`), so that a full table's walk is off the scrape's path.
   */
  readonly censusMaxAgeMs?: number;
  /** The clock of `censusMaxAgeMs`, in ms (tests pass their own). */
  readonly now?: () => number;
}

function summarize(record: DeploymentRecord): RecordSummary {
  const { bundle: _bundle, sources: _sources, ...rest } = record;
  return rest;
}

/** The rules of a bundle, without keeping the rest of it (tables, origins) alive. */
function bundleRules(text: string): readonly BundleRule[] {
  return parseBundle(text).rules.map((r) => ({ ...r }));
}

/**
 * Reads deployments, keeping parsed records between calls: a record (with a 10k-rule bundle,
 * megabytes of JSON) is parsed again only when its file changes.
 */
export class DeploymentReader {
  readonly #stateDir: string;
  readonly #cache = new Map<string, CachedRecord>();
  readonly #census = new Map<string, CensusOf>();
  readonly #censusMaxAgeMs: number;
  readonly #now: () => number;

  constructor(stateDir: string, options: DeploymentReaderOptions = {}) {
    this.#stateDir = stateDir;
    this.#censusMaxAgeMs = options.censusMaxAgeMs ?? 0;
    this.#now = options.now ?? (() => performance.now());
  }

  /**
   * Takes a new session census of every deployment read so far (its counters first), for the
   * snapshots of the next `censusMaxAgeMs`. A deployment that cannot be read now is left to the
   * next snapshot, which reports it.
   */
  refreshCensus(): void {
    for (const name of [...this.#census.keys()]) {
      const cached = this.#cache.get(name);
      if (!cached) continue;
      let dp: Datapath | undefined;
      try {
        dp = openPinnedDatapath(cached.current.pins.dir);
        this.#takeCensus(name, dp);
      } catch {
        // The next snapshot reads this deployment again and says why it cannot.
      } finally {
        if (dp) releaseDatapath(dp, true);
      }
    }
  }

  /** How old the oldest census kept is, in ms (undefined: none kept). */
  censusAgeMs(): number | undefined {
    let oldest: number | undefined;
    for (const { last } of this.#census.values()) if (last && (oldest === undefined || last.takenAt < oldest)) oldest = last.takenAt;
    return oldest === undefined ? undefined : this.#now() - oldest;
  }

  /** Every recorded deployment (or only `names`). */
  snapshot(names?: readonly string[]): HostSnapshot {
    const started = performance.now();
    const deployments: DeploymentSnapshot[] = [];
    const unreadable: { name: string; error: string }[] = [];
    const damaged: { name: string; path: string; error: string }[] = [];
    const wanted = names ?? listDeployments(this.#stateDir);
    for (const name of [...this.#cache.keys()]) if (!wanted.includes(name)) this.#cache.delete(name);
    for (const name of [...this.#census.keys()]) if (!wanted.includes(name)) this.#dropCensus(name);
    for (const name of wanted) {
      let cached: CachedRecord | undefined;
      try {
        cached = this.#record(name);
      } catch (error) {
        if (!isRecordError(error)) throw error;
        this.#cache.delete(name);
        damaged.push({ name, path: error.path, error: error.message });
        continue;
      }
      if (!cached) continue;
      try {
        deployments.push(this.#read(cached));
      } catch (error) {
        unreadable.push({ name, error: error instanceof Error ? error.message : String(error) });
      }
    }
    return { deployments, unreadable, damaged, tookMs: performance.now() - started };
  }

  #record(name: string): CachedRecord | undefined {
    let st;
    try {
      // lstat: a record swapped for a symbolic link must reach readState, which refuses it.
      st = lstatSync(recordPath(this.#stateDir, name));
    } catch {
      this.#cache.delete(name);
      return undefined;
    }
    const cached = this.#cache.get(name);
    if (cached && st.isFile() && cached.mtimeMs === st.mtimeMs && cached.size === st.size) return cached;
    const state = readState(this.#stateDir, name);
    if (!state) return undefined;
    const rules = new Map<number, readonly BundleRule[]>();
    for (const r of [state.current, state.previous]) if (r) rules.set(r.generation, bundleRules(r.bundle));
    // Only the summary and the rules stay: the record's bundles and sources are garbage now.
    const fresh = { mtimeMs: st.mtimeMs, size: st.size, current: summarize(state.current), rules };
    this.#cache.set(name, fresh);
    return fresh;
  }

  /** Releases what the reader holds in the kernel (the census programs). */
  close(): void {
    for (const name of [...this.#census.keys()]) this.#dropCensus(name);
  }

  #dropCensus(name: string): void {
    this.#census.get(name)?.counter?.close();
    this.#census.delete(name);
  }

  /** The census entry of `name`'s maps (`dp`): a census program bound to its session table, loaded once per table. */
  #censusEntry(name: string, dp: Datapath): CensusOf {
    // The census program is bound to the session table itself, which an upgrade may replace.
    const mapsId = bpf_map_get_info_by_fd(mapOf(dp, SegMap.sessions).fd).id;
    let entry = this.#census.get(name);
    if (entry?.mapsId !== mapsId) {
      this.#dropCensus(name);
      const opened = openSessionCensus(dp);
      entry = { mapsId, counter: 'unavailable' in opened ? undefined : opened };
      this.#census.set(name, entry);
    }
    return entry;
  }

  /** A census of `dp` now, kept with the counters read just before it. */
  #takeCensus(name: string, dp: Datapath): NonNullable<CensusOf['last']> {
    const entry = this.#censusEntry(name, dp);
    // Counters before the census: a session opened in between is in the census and not yet in
    // session_new, so the derived evictions err low, never high (they are a running maximum).
    const stats = readStats(dp);
    const census = entry.counter ? entry.counter.census() : censusSessions(dp);
    entry.last = { census, takenAt: this.#now(), stats };
    return entry.last;
  }

  /** The census of `dp` for a snapshot: the kept one while young enough, else a new one. */
  #censusOf(name: string, dp: Datapath): Pick<DeploymentSnapshot, 'sessions' | 'census'> {
    const kept = this.#censusEntry(name, dp).last;
    const last = this.#censusMaxAgeMs > 0 && kept && this.#now() - kept.takenAt <= this.#censusMaxAgeMs ? kept : this.#takeCensus(name, dp);
    return { sessions: last.census, census: { ageMs: this.#now() - last.takenAt, stats: last.stats } };
  }

  #read(cached: CachedRecord): DeploymentSnapshot {
    const { current: record, rules } = cached;
    const dp = openPinnedDatapath(record.pins.dir);
    try {
      const config = readConfig(dp);
      const generations = [Number(slotGeneration(dp, 0)), Number(slotGeneration(dp, 1))];
      const activeGeneration = generations[config.activeSlot] ?? 0;
      const hitsOf = (slot: number): RuleHits | undefined => {
        const generation = generations[slot] ?? 0;
        const known = rules.get(generation);
        if (generation === 0 || !known) return undefined;
        const { packets, bytes } = readRuleHitsRange(dp, slot, known.length);
        return { generation, rules: known, packets, bytes };
      };
      const current = rules.get(record.generation) ?? [];
      const stats = readStats(dp);
      return {
        name: record.name,
        record,
        // The counters' lineage: the first seg_stats map's id, kept when an upgrade migrates them.
        mapsId: Number(readDatapathInfo(dp).lineage),
        stats,
        activeGeneration,
        inForce: hitsOf(config.activeSlot),
        standby: hitsOf(1 - config.activeSlot),
        ...this.#censusOf(record.name, dp),
        ruleCounts: { ingress: current.filter((r) => r.direction === 'ingress').length, egress: current.filter((r) => r.direction === 'egress').length },
        ...((config.canaryGeneration ?? 0n) === 0n
          ? {}
          : { canary: { generation: Number(config.canaryGeneration), baselineGeneration: activeGeneration, shareBp: config.canaryShare ?? 0, counts: readCanaryCounts(dp) } }),
      };
    } finally {
      releaseDatapath(dp, true);
    }
  }
}
