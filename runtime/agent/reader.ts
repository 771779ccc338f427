// Agent: the reader. Takes a snapshot of every deployment recorded on this host (its record,
// its pinned maps: counters, the rule hits of the policy in force, the session census) as plain
// data. The metrics, `segc stats --watch` and the map-pressure line of `segc status` all read
// through it, so a terminal and Prometheus see the same numbers.
import { statSync } from 'node:fs';
import { parseBundle, type BundleRule } from '../../compiler/bundle.ts';
import { censusSessions, type SessionCensus } from '../datapath/sessions.ts';
import { readConfig } from '../datapath/config.ts';
import { readRuleHitsRange, readStats } from '../datapath/counters.ts';
import { slotGeneration } from '../datapath/slots.ts';
import { readDatapathInfo } from '../datapath/info.ts';
import { openPinnedDatapath, releaseDatapath } from '../deploy.ts';
import { listDeployments, readState, recordPath, type DeploymentRecord, type StateFile } from '../state.ts';

export interface Counter {
  readonly packets: bigint;
  readonly bytes: bigint;
}

/** The rules of one policy generation, as the bundle names them, and their hits. */
export interface RuleHits {
  readonly generation: number;
  readonly rules: readonly BundleRule[];
  /** Indexed by rule id (the bundle's ids run 0..ruleCount-1). */
  readonly packets: readonly bigint[];
  readonly bytes: readonly bigint[];
}

export interface DeploymentSnapshot {
  readonly name: string;
  readonly record: DeploymentRecord;
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
  readonly ruleCounts: { readonly ingress: number; readonly egress: number };
}

export interface HostSnapshot {
  readonly deployments: readonly DeploymentSnapshot[];
  /** Deployments whose record exists but whose pins could not be read, with why. */
  readonly unreadable: readonly { readonly name: string; readonly error: string }[];
  /** Milliseconds the snapshot took. */
  readonly tookMs: number;
}

interface CachedRecord {
  readonly mtimeMs: number;
  readonly size: number;
  readonly state: StateFile;
  readonly rules: ReadonlyMap<number, readonly BundleRule[]>;
}

/**
 * Reads deployments, keeping parsed records between calls: a record (with a 10k-rule bundle,
 * megabytes of JSON) is parsed again only when its file changes.
 */
export class DeploymentReader {
  readonly #stateDir: string;
  readonly #cache = new Map<string, CachedRecord>();

  constructor(stateDir: string) {
    this.#stateDir = stateDir;
  }

  /** Every recorded deployment (or only `names`). */
  snapshot(names?: readonly string[]): HostSnapshot {
    const started = performance.now();
    const deployments: DeploymentSnapshot[] = [];
    const unreadable: { name: string; error: string }[] = [];
    const wanted = names ?? listDeployments(this.#stateDir);
    for (const name of [...this.#cache.keys()]) if (!wanted.includes(name)) this.#cache.delete(name);
    for (const name of wanted) {
      const cached = this.#record(name);
      if (!cached) continue;
      try {
        deployments.push(this.#read(cached));
      } catch (error) {
        unreadable.push({ name, error: error instanceof Error ? error.message : String(error) });
      }
    }
    return { deployments, unreadable, tookMs: performance.now() - started };
  }

  #record(name: string): CachedRecord | undefined {
    let st;
    try {
      st = statSync(recordPath(this.#stateDir, name));
    } catch {
      this.#cache.delete(name);
      return undefined;
    }
    const cached = this.#cache.get(name);
    if (cached && cached.mtimeMs === st.mtimeMs && cached.size === st.size) return cached;
    const state = readState(this.#stateDir, name);
    if (!state) return undefined;
    const rules = new Map<number, readonly BundleRule[]>();
    for (const r of [state.current, state.previous]) if (r) rules.set(r.generation, parseBundle(r.bundle).rules);
    const fresh = { mtimeMs: st.mtimeMs, size: st.size, state, rules };
    this.#cache.set(name, fresh);
    return fresh;
  }

  #read(cached: CachedRecord): DeploymentSnapshot {
    const { state, rules } = cached;
    const dp = openPinnedDatapath(state.current.pins.dir);
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
      const current = rules.get(state.current.generation) ?? [];
      return {
        name: state.current.name,
        record: state.current,
        // The counters' lineage: the first seg_stats map's id, kept when an upgrade migrates them.
        mapsId: Number(readDatapathInfo(dp).lineage),
        stats: readStats(dp),
        activeGeneration,
        inForce: hitsOf(config.activeSlot),
        standby: hitsOf(1 - config.activeSlot),
        sessions: censusSessions(dp),
        ruleCounts: { ingress: current.filter((r) => r.direction === 'ingress').length, egress: current.filter((r) => r.direction === 'egress').length },
      };
    } finally {
      releaseDatapath(dp, true);
    }
  }
}
