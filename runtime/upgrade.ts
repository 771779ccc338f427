// Runtime: upgrading a running deployment's data path in place (a newer segc, another
// classifier object, or new capacities). The new object is loaded beside the old one, reusing
// every pinned map whose layout and size did not change; the state of the others (sessions,
// fragments, SYN sources, counters) is migrated entry by entry into fresh maps before the new
// programs attach (runtime/datapath/migrate.ts); deploy then installs the policy, switches and
// replaces the programs on every hook (attach new, the old one goes in the same replace);
// entries the old programs made meanwhile are copied once more, and the new pins replace the
// old ones by rename. Until the attach, the old data path enforces untouched.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { bpf_map_get_info_by_fd, bpf_obj_pin, type BpfObject } from './libbpf.ts';
import { SEG_MAPS, SegMap, type MapName } from './datapath/abi.ts';
import type { Datapath } from './datapath/datapath.ts';
import { readDatapathInfo } from './datapath/info.ts';
import { isMigrated, layoutUnchanged, migrateEntries, type MigrationContext } from './datapath/migrate.ts';
import { readHashKey, writeHashKey } from './datapath/session-meta.ts';
import { rawSessions, sessionBuckets, sessionCapacity, writeSessions } from './datapath/sessions.ts';
import { rebaseSlot } from './datapath/slots.ts';
import { DATAPATH_VERSION } from './datapath/version.ts';
import { closeDatapath, DEFAULT_FRAGMENTS, DEFAULT_SESSIONS, loadDatapath, mapCapacities } from './loader.ts';

/** The sizes a data path's state maps are loaded with. */
export interface Capacities {
  readonly sessions: number;
  readonly fragments: number;
  readonly rulesPerSlot: number;
  readonly eventBufferBytes: number;
}

/** Why and how a running data path is replaced. */
export interface UpgradePlan {
  /** The running data path's version (1: pinned without a version record). */
  readonly from: number;
  readonly to: number;
  /** What differs, in words: `data-path version 1 -> 2`, `--sessions 65536 -> 200000`, ... */
  readonly reasons: readonly string[];
  readonly capacities: Capacities;
  readonly oldCapacities: Capacities;
  /** The counters' lineage to keep (the agent's series go on). */
  readonly lineage: bigint;
}

/** sha256 of the classifier object: a redeploy with another object replaces the programs. */
export function objectHash(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

function capacitiesOf(dp: Datapath): Capacities {
  const size = (name: MapName, fallback: number) => {
    const fd = dp.maps[name];
    return fd === undefined ? fallback : bpf_map_get_info_by_fd(fd).maxEntries;
  };
  return {
    sessions: dp.maps[SegMap.sessions] === undefined ? DEFAULT_SESSIONS : sessionCapacity(dp),
    fragments: size(SegMap.fragments, DEFAULT_FRAGMENTS),
    rulesPerSlot: dp.rulesPerSlot,
    eventBufferBytes: size(SegMap.events, 256 * 1024),
  };
}

export interface UpgradeRequest {
  /** sha256 of the object this segc deploys, and of the one recorded for the running data path. */
  readonly objectHash: string;
  readonly recordedObjectHash: string | undefined;
  readonly sessions?: number;
  readonly fragments?: number;
  readonly rulesPerSlot?: number;
  readonly eventBufferBytes?: number;
}

/**
 * What an upgrade of `adopted` would do for this request, or undefined when the running data
 * path stays as it is (same version, same object, same sizes). A newer version is the
 * caller's to refuse (`from > to`).
 */
export function planUpgrade(adopted: Datapath, request: UpgradeRequest): UpgradePlan | undefined {
  const info = readDatapathInfo(adopted);
  const old = capacitiesOf(adopted);
  const capacities: Capacities = {
    sessions: request.sessions ?? old.sessions,
    fragments: request.fragments ?? old.fragments,
    rulesPerSlot: request.rulesPerSlot ?? old.rulesPerSlot,
    eventBufferBytes: request.eventBufferBytes ?? old.eventBufferBytes,
  };
  const reasons: string[] = [];
  if (info.version !== DATAPATH_VERSION) reasons.push(`data-path version ${info.version} -> ${DATAPATH_VERSION}`);
  // Without a record of the object (a first deploy that died before writing it), the pins are
  // taken as they are, as before data-path versions.
  else if (request.recordedObjectHash !== undefined && request.recordedObjectHash !== request.objectHash) reasons.push('another classifier object');
  // The table holds a power of two of buckets: a request it rounds to the same size changes nothing.
  if (sessionBuckets(capacities.sessions) !== sessionBuckets(old.sessions) || (info.version !== DATAPATH_VERSION && capacities.sessions !== old.sessions)) reasons.push(`--sessions ${old.sessions} -> ${capacities.sessions}`);
  if (capacities.fragments !== old.fragments) reasons.push(`--fragments ${old.fragments} -> ${capacities.fragments}`);
  if (capacities.rulesPerSlot !== old.rulesPerSlot) reasons.push(`--max-rules ${old.rulesPerSlot} -> ${capacities.rulesPerSlot}`);
  if (capacities.eventBufferBytes !== old.eventBufferBytes) reasons.push(`--event-buffer ${old.eventBufferBytes / 1024} -> ${capacities.eventBufferBytes / 1024} KiB`);
  if (reasons.length === 0) return undefined;
  return { from: info.version, to: DATAPATH_VERSION, reasons, capacities, oldCapacities: old, lineage: info.lineage };
}

/** The policy maps: reused together or not at all (old programs read config and slots as one). */
const POLICY_MAPS: readonly MapName[] = (Object.keys(SEG_MAPS) as MapName[]).filter((n) => n === SegMap.config || n.startsWith('seg_slot_'));

/** The maps of `adopted` the new object can use as they are. */
function reusableMaps(adopted: Datapath, plan: UpgradePlan): Partial<Record<MapName, number>> {
  const wanted = mapCapacities(plan.capacities);
  const reuse: Partial<Record<MapName, number>> = {};
  for (const name of Object.keys(SEG_MAPS) as MapName[]) {
    const fd = adopted.maps[name];
    if (fd === undefined) continue;
    const def = SEG_MAPS[name];
    const info = bpf_map_get_info_by_fd(fd);
    const entries = wanted[name] ?? def.maxEntries;
    const same = info.keySize === def.keySize && info.valueSize === def.valueSize && info.maxEntries === entries && layoutUnchanged(def.key, plan.from) && layoutUnchanged(def.value, plan.from);
    if (same) reuse[name] = fd;
  }
  if (POLICY_MAPS.some((n) => reuse[n] === undefined)) for (const n of POLICY_MAPS) delete reuse[n];
  // The table's key and fill go with its buckets: a new table gets a new fill count (and the
  // old key, copied by migrateSessions).
  if (reuse[SegMap.sessions] === undefined) delete reuse[SegMap.sessionMeta];
  return reuse;
}

export interface LoadedUpgrade {
  readonly dp: Datapath;
  /** Maps handed over as they are. */
  readonly reused: ReadonlySet<MapName>;
  /** Entries copied into each new map. */
  readonly migrated: Readonly<Partial<Record<MapName, number>>>;
  /** Sessions of the old table that found no way in their two buckets of the new one (not kept). */
  unplacedSessions: number;
}

/**
 * Loads the new object beside `adopted`, reusing what it can, and migrates the state of the
 * maps it made anew. Nothing of the running data path changes (a failure closes the new one).
 */
export function loadUpgrade(adopted: Datapath, plan: UpgradePlan, objectPath: string, prepare: (obj: BpfObject) => void): LoadedUpgrade {
  const reuse = reusableMaps(adopted, plan);
  const dp = loadDatapath({ objectPath, ...plan.capacities, reuse, lineage: plan.lineage, prepare });
  try {
    const loaded: LoadedUpgrade = { dp, reused: new Set(Object.keys(reuse) as MapName[]), migrated: {}, unplacedSessions: 0 };
    const migrated = migrateState(adopted, loaded, plan, reuse, false);
    // The header of a slot points at its rule counters: resized counters, new bases.
    if (plan.capacities.rulesPerSlot !== plan.oldCapacities.rulesPerSlot) for (const slot of [0, 1]) rebaseSlot(dp, slot);
    return { ...loaded, migrated };
  } catch (error) {
    closeDatapath(dp);
    throw error;
  }
}

function migrateState(adopted: Datapath, upgrade: LoadedUpgrade, plan: UpgradePlan, reuse: Partial<Record<MapName, number>>, onlyNew: boolean): Partial<Record<MapName, number>> {
  const dp = upgrade.dp;
  const context: MigrationContext = { from: plan.from, oldRulesPerSlot: plan.oldCapacities.rulesPerSlot, newRulesPerSlot: plan.capacities.rulesPerSlot };
  const migrated: Partial<Record<MapName, number>> = {};
  for (const name of Object.keys(SEG_MAPS) as MapName[]) {
    const oldFd = adopted.maps[name];
    const newFd = dp.maps[name];
    if (reuse[name] !== undefined || oldFd === undefined || newFd === undefined || !isMigrated(name)) continue;
    // Counters are copied once: after the new programs took over, the old ones count no more.
    if (onlyNew && SEG_MAPS[name].type.startsWith('PERCPU_ARRAY')) continue;
    migrated[name] = name === SegMap.sessions ? migrateSessions(adopted, upgrade, onlyNew) : migrateEntries(name, oldFd, newFd, context, { onlyNew });
  }
  return migrated;
}

/**
 * Places the old table's sessions (an LRU hash of data-path version 4 or older, or a table of
 * another size) in the new table's buckets, under the old table's hash key where it had one;
 * a session whose bucket is full is counted in `unplacedSessions`. Returns the sessions written.
 */
function migrateSessions(adopted: Datapath, upgrade: LoadedUpgrade, onlyNew: boolean): number {
  if (!onlyNew && adopted.maps[SegMap.sessionMeta] !== undefined) writeHashKey(upgrade.dp, readHashKey(adopted));
  const result = writeSessions(upgrade.dp, [...rawSessions(adopted)], { keepExisting: onlyNew });
  upgrade.unplacedSessions += result.unplaced.length;
  return result.written + (onlyNew ? 0 : result.existing);
}

/**
 * After the new programs are attached: copies the sessions, fragments and SYN sources the old
 * programs made since the first copy (entries the new data path has already are kept).
 */
export function catchUpUpgrade(adopted: Datapath, upgrade: LoadedUpgrade, plan: UpgradePlan): Partial<Record<MapName, number>> {
  const reuse = Object.fromEntries([...upgrade.reused].map((n) => [n, 0])) as Partial<Record<MapName, number>>;
  return migrateState(adopted, upgrade, plan, reuse, true);
}

/**
 * Points the deployment's pins at the new data path: each new map and both programs are pinned
 * beside their old pin and renamed over it (one step per pin, never a missing pin). Returns how
 * to put the old pins back.
 */
export function repinUpgrade(pinDir: string, adopted: Datapath, upgrade: LoadedUpgrade, programPins: { readonly ingress: string; readonly egress: string }): () => void {
  const replaced: { path: string; oldFd: number | undefined }[] = [];
  const pins: [number, string, number | undefined][] = [];
  for (const name of Object.keys(SEG_MAPS) as MapName[]) {
    const fd = upgrade.dp.maps[name];
    if (fd === undefined || upgrade.reused.has(name)) continue;
    pins.push([fd, name, adopted.maps[name]]);
  }
  pins.push([upgrade.dp.programs.ingress, programPins.ingress, adopted.programs.ingress], [upgrade.dp.programs.egress, programPins.egress, adopted.programs.egress]);
  const restore = () => {
    for (const { path, oldFd } of replaced.reverse()) {
      if (oldFd === undefined) rmSync(path, { force: true });
      else pinOver(oldFd, path);
    }
  };
  try {
    for (const [fd, name, oldFd] of pins) {
      const path = join(pinDir, name);
      pinOver(fd, path);
      replaced.push({ path, oldFd });
    }
  } catch (error) {
    restore();
    throw error;
  }
  return restore;
}

/** Pins `fd` at `path`, replacing what is there in one rename. */
function pinOver(fd: number, path: string): void {
  // bpffs takes no dot in a name.
  const staging = `${path}_upgrade`;
  if (existsSync(staging)) rmSync(staging, { force: true });
  bpf_obj_pin(fd, staging);
  renameSync(staging, path);
}
