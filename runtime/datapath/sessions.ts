// The kernel contract: seg_sessions, the session table shared by every policy generation. Data
// path version 5: a set-associative table (bpf/lib/session_table.h): an array of buckets
// (struct seg_session_bucket), each with SEG_SESSION_WAYS ways of key + session; a way is in use
// when its tag is set. Version 4 and older: an LRU hash of struct seg_session_key -> struct
// seg_session, still read here for a deployment not upgraded yet.
//
// Userspace writes a whole bucket under its lock (BPF_F_LOCK): the kernel's readers take no
// lock and skip a way whose sequence word is odd, so a way is written odd first and made even
// by a second write. What the kernel wrote to the bucket between this module's read and its
// write (a hit's counters or state, a session opened there) is overwritten: the race of
// userspace changes, documented in docs/datapath.md "The session table".
import { bpf_map_get_info_by_fd, bpf_map_lookup_elem, BPF_F_LOCK } from '../libbpf.ts';
import {
  SEG_RULE_NONE,
  SEG_SESSION,
  SEG_SESSION_BUCKET,
  SEG_SESSION_KEY,
  SEG_SESSION_WAY,
  SegFamily,
  SegMap,
  SegSessionTableLimits,
  SegState,
  SegTcpWindowFlag,
  SegVerdict,
  SegDir,
  type SegSession,
} from './abi.ts';
import { decode, decodeField, encodeU32 } from './codec.ts';
import { mapOf, type Datapath } from './datapath.ts';
import { iterateBatches, iterateEntries, writeEntries } from './iterate.ts';
import { layoutOf, migrateValue } from './migrate.ts';
import { addLiveSessions, readHashKey } from './session-meta.ts';
import { placeBuckets, sessionPlace, type SessionPlace } from './session-hash.ts';

const WAYS = SegSessionTableLimits.SEG_SESSION_WAYS;
const STAMP_SHIFT = BigInt(SegSessionTableLimits.SEG_SESSION_STAMP_SHIFT);
const BUCKET = SEG_SESSION_BUCKET.fields;

/** One session as the kernel holds it (struct seg_session_key + struct seg_session). */
export interface SessionEntry {
  readonly family: 4 | 6;
  readonly proto: number;
  /** Endpoint a is the lower of the two (address, then port). */
  readonly addrA: Uint8Array;
  readonly addrB: Uint8Array;
  readonly portA: number;
  readonly portB: number;
  readonly lastSeenNs: bigint;
  readonly generation: bigint;
  readonly packets: bigint;
  readonly bytes: bigint;
  readonly rule: number | null;
  readonly verdict: 'allow' | 'deny';
  readonly direction: 'ingress' | 'egress';
  /** enum seg_state (SegState). */
  readonly state: number;
  /** enum seg_session_flag bits (SegSessionFlag). */
  readonly flags: number;
  /** TCP: each endpoint's sequence window as far as the session knows it (lib/tcp_window.h). */
  readonly tcp?: TcpWindow;
  /** The raw key, for deleting the session. */
  readonly key: Uint8Array;
}

/**
 * What a TCP session knows of each endpoint's sequence space: the sequence number after the
 * furthest byte it sent and the largest window it advertised (bytes), once it was heard from
 * (`knownA`/`knownB`; a session migrated from data-path version 2 starts knowing nothing); the
 * window scales when the handshake was seen (`scaled`).
 */
export interface TcpWindow {
  readonly knownA: boolean;
  readonly knownB: boolean;
  readonly endA: number;
  readonly endB: number;
  readonly maxWindowA: number;
  readonly maxWindowB: number;
  readonly scaled: boolean;
  readonly scaleA: number;
  readonly scaleB: number;
}

/** The session table in numbers: entries, and entries by state (SegState index). */
export interface SessionCensus {
  readonly entries: number;
  readonly capacity: number;
  readonly byState: readonly number[];
}

/** Whether the table is data-path version 5's set-associative one (else an older LRU hash). */
function isBucketTable(dp: Datapath): boolean {
  return bpf_map_get_info_by_fd(mapOf(dp, SegMap.sessions).fd).valueSize === SEG_SESSION_BUCKET.size;
}

/**
 * The data-path version whose seg_session an older LRU table holds (a deployment not upgraded
 * yet, read by this segc's status, stats or sessions), by value size.
 */
function legacyVersion(size: number): number {
  for (let v = 4; v >= 1; v--) if (layoutOf('seg_session', v).size === size) return v;
  throw new Error(`seg_sessions holds ${size}-byte sessions, which no data-path version this segc knows has (a newer segc's? use it, or undeploy)`);
}

/** The sessions the table holds at most (buckets x ways; an older LRU table: its entries). */
export function sessionCapacity(dp: Datapath): number {
  const info = bpf_map_get_info_by_fd(mapOf(dp, SegMap.sessions).fd);
  return info.valueSize === SEG_SESSION_BUCKET.size ? info.maxEntries * WAYS : info.maxEntries;
}

/** The buckets a table of `sessions` sessions has: sessions / SEG_SESSION_WAYS, up to a power of two. */
export function sessionBuckets(sessions: number): number {
  let buckets = 1;
  while (buckets * WAYS < sessions) buckets *= 2;
  return buckets;
}

function u32At(bytes: Uint8Array, at: number): number {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(at, true);
}

function setU32At(bytes: Uint8Array, at: number, value: number): void {
  new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).setUint32(at, value >>> 0, true);
}

/** One way of a bucket (raw, `bucket` at offset 0). */
export interface BucketWay {
  readonly way: number;
  readonly tag: number;
  readonly seq: number;
  readonly stamp: number;
  readonly ref: number;
  readonly key: Uint8Array;
  readonly value: Uint8Array;
}

/** The ways of a raw bucket whose tag is set. */
export function waysOf(bucket: Uint8Array, at = 0): BucketWay[] {
  const ways: BucketWay[] = [];
  for (let i = 0; i < WAYS; i++) {
    const tag = u32At(bucket, at + BUCKET.tag.offset + 4 * i);
    if (tag === 0) continue;
    const base = at + BUCKET.way.offset + i * SEG_SESSION_WAY.size;
    const keyAt = base + SEG_SESSION_WAY.fields.key.offset;
    const valueAt = base + SEG_SESSION_WAY.fields.s.offset;
    ways.push({
      way: i,
      tag,
      seq: u32At(bucket, at + BUCKET.seq.offset + 4 * i),
      stamp: u32At(bucket, at + BUCKET.stamp.offset + 4 * i),
      ref: bucket[at + BUCKET.ref.offset + i] ?? 0,
      key: bucket.slice(keyAt, keyAt + SEG_SESSION_KEY.size),
      value: bucket.slice(valueAt, valueAt + SEG_SESSION.size),
    });
  }
  return ways;
}

/** Every bucket of the table with its index, in batches (raw, as the kernel copied them). */
function* bucketsOf(dp: Datapath): Generator<{ index: number; bucket: Uint8Array }> {
  for (const batch of iterateBatches(mapOf(dp, SegMap.sessions).fd, 4, SEG_SESSION_BUCKET.size)) {
    for (let i = 0; i < batch.count; i++) {
      yield { index: u32At(batch.keys, i * 4), bucket: batch.values.subarray(i * SEG_SESSION_BUCKET.size, (i + 1) * SEG_SESSION_BUCKET.size) };
    }
  }
}

/**
 * Every session of the table, raw key and value in this version's layout (a snapshot), with the
 * bucket it is in. Every way in use: a flow two CPUs opened at once in both its buckets is here
 * twice (readSessions reports it once).
 */
export function* rawSessions(dp: Datapath): Generator<{ key: Uint8Array; value: Uint8Array; bucket?: number }> {
  if (isBucketTable(dp)) {
    for (const { index, bucket } of bucketsOf(dp)) for (const way of waysOf(bucket)) yield { key: way.key, value: way.value, bucket: index };
    return;
  }
  const size = bpf_map_get_info_by_fd(mapOf(dp, SegMap.sessions).fd).valueSize;
  const version = legacyVersion(size);
  for (const entry of iterateEntries(mapOf(dp, SegMap.sessions).fd, SEG_SESSION_KEY.size, size)) {
    yield { key: entry.key, value: migrateValue('seg_session', version, entry.value) };
  }
}

/** Every session of the table with the bucket and way it is in (tests, the differential model). */
export function readBucketWays(dp: Datapath): { readonly bucket: number; readonly ways: readonly BucketWay[] }[] {
  const out: { bucket: number; ways: BucketWay[] }[] = [];
  for (const { index, bucket } of bucketsOf(dp)) {
    const ways = waysOf(bucket);
    if (ways.length > 0) out.push({ bucket: index, ways });
  }
  return out;
}

/**
 * Counts the sessions by state with batch lookups (a full 262,144-session table is 16 calls
 * of 4,096 buckets), decoding only the state of each way in use. A snapshot: the table keeps
 * changing.
 */
export function censusSessions(dp: Datapath): SessionCensus {
  const capacity = sessionCapacity(dp);
  const byState = new Array<number>(SegState.SEG_STATE_COUNT).fill(0);
  let entries = 0;
  for (const { value } of rawSessions(dp)) {
    const state = decodeField(SEG_SESSION.fields.state, value) as number;
    if (state < byState.length) byState[state] = (byState[state] ?? 0) + 1;
    entries++;
  }
  return { entries, capacity, byState };
}

/**
 * Every session in the table (a snapshot; the table keeps changing). A flow held in both its
 * buckets is reported once, as the kernel's find returns it: its first bucket's session.
 */
export function readSessions(dp: Datapath): SessionEntry[] {
  const byKey = new Map<string, { key: Uint8Array; value: Uint8Array; bucket?: number }>();
  let place: ((key: Uint8Array) => SessionPlace) | undefined;
  for (const raw of rawSessions(dp)) {
    const id = Buffer.from(raw.key.buffer, raw.key.byteOffset, raw.key.byteLength).toString('hex');
    const seen = byKey.get(id);
    if (seen === undefined) {
      byKey.set(id, raw);
      continue;
    }
    // Rare (a race): the hash is computed for these keys only.
    place ??= (key) => placeOf(dp, key);
    if (raw.bucket === place(raw.key).bucket) byKey.set(id, raw);
  }
  return [...byKey.values()].map(({ key, value }) => decodeSession(key, value));
}

/** One session from its raw key and value. */
export function decodeSession(key: Uint8Array, value: Uint8Array): SessionEntry {
  const k = decode(SEG_SESSION_KEY, key);
  const v = decode(SEG_SESSION, value);
  const family = k.family === SegFamily.SEG_FAMILY_IP4 ? 4 : 6;
  const addrLength = family === 4 ? 4 : 16;
  return {
    family,
    proto: k.proto,
    addrA: k.addr_a.slice(0, addrLength),
    addrB: k.addr_b.slice(0, addrLength),
    portA: k.port_a,
    portB: k.port_b,
    lastSeenNs: v.last_seen_ns,
    generation: v.generation,
    packets: v.packets,
    bytes: v.bytes,
    rule: v.rule_id === SEG_RULE_NONE ? null : v.rule_id,
    verdict: v.verdict === SegVerdict.SEG_VERDICT_ALLOW ? 'allow' : 'deny',
    direction: v.dir === SegDir.SEG_DIR_INGRESS ? 'ingress' : 'egress',
    state: v.state,
    flags: v.flags,
    ...(k.proto === 6 ? { tcp: tcpWindowOf(v) } : {}),
    key: key.slice(),
  };
}

function tcpWindowOf(v: SegSession): TcpWindow {
  const known = v.tcp_window;
  const scaled = (known & SegTcpWindowFlag.SEG_TCP_SCALED) !== 0;
  return {
    knownA: (known & SegTcpWindowFlag.SEG_TCP_WINDOW_A) !== 0,
    knownB: (known & SegTcpWindowFlag.SEG_TCP_WINDOW_B) !== 0,
    endA: v.tcp_end_a,
    endB: v.tcp_end_b,
    maxWindowA: v.tcp_maxwin_a,
    maxWindowB: v.tcp_maxwin_b,
    scaled,
    scaleA: scaled ? v.tcp_scale_a : 0,
    scaleB: scaled ? v.tcp_scale_b : 0,
  };
}

/** The buckets a raw key may live in, and its tag, in this deployment's table. */
function placeOf(dp: Datapath, key: Uint8Array): SessionPlace {
  return sessionPlace(key, readHashKey(dp), bpf_map_get_info_by_fd(mapOf(dp, SegMap.sessions).fd).maxEntries);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** A raw bucket under its lock (BPF_F_LOCK: a copy no writer is changing). */
function lockedBucket(fd: number, index: number): Uint8Array {
  const value = bpf_map_lookup_elem(fd, encodeU32(index), SEG_SESSION_BUCKET.size, BPF_F_LOCK);
  if (!value) throw new Error(`seg_sessions has no bucket ${index}`);
  return value;
}

/**
 * Writes changed buckets so that the kernel's lock-free readers never see a way half-written:
 * first with each changed way's sequence word odd (a reader skips the way), then even.
 */
function writeBuckets(fd: number, buckets: ReadonlyMap<number, { bytes: Uint8Array; changed: Set<number> }>): void {
  if (buckets.size === 0) return;
  const keys = new Uint8Array(buckets.size * 4);
  const values = new Uint8Array(buckets.size * SEG_SESSION_BUCKET.size);
  for (const pass of [0, 1]) {
    let i = 0;
    for (const [index, { bytes, changed }] of buckets) {
      for (const way of changed) {
        const at = BUCKET.seq.offset + 4 * way;
        const seq = u32At(bytes, at);
        // Odd on the first pass, even on the second, and far from the word read: a reader
        // that saw the word before this write cannot see it again after (the kernel would have
        // to change the way 32,768 times in between).
        setU32At(bytes, at, pass === 0 ? (seq | 1) + 0x10000 : seq + 1);
      }
      setU32At(keys, i * 4, index);
      values.set(bytes, i * SEG_SESSION_BUCKET.size);
      i++;
    }
    writeEntries(fd, keys, values, buckets.size, 4, SEG_SESSION_BUCKET.size, BPF_F_LOCK);
  }
}

/**
 * Removes one session by its raw key, from both its buckets (as the kernel's remove: two CPUs
 * opening a flow at once may leave it in both); false when it was gone already.
 */
export function deleteSession(dp: Datapath, key: Uint8Array): boolean {
  if (!isBucketTable(dp)) throw new Error('this deployment\'s session table is an older data path\'s: deploy again to upgrade it');
  const fd = mapOf(dp, SegMap.sessions).fd;
  const place = placeOf(dp, key);
  const changes = new Map<number, { bytes: Uint8Array; changed: Set<number> }>();
  for (const bucket of placeBuckets(place)) {
    const bytes = lockedBucket(fd, bucket);
    const way = waysOf(bytes).find((w) => w.tag === place.tag && sameBytes(w.key, key));
    if (!way) continue;
    setU32At(bytes, BUCKET.tag.offset + 4 * way.way, 0);
    changes.set(bucket, { bytes, changed: new Set([way.way]) });
  }
  if (changes.size === 0) return false;
  writeBuckets(fd, changes);
  addLiveSessions(dp, -changes.size);
  return true;
}

/**
 * Removes every session; returns how many there were. Bucket by bucket (a batch of 4,096 at a
 * time): a session the kernel opens in a bucket between its read and its write is removed too,
 * and one opened in a bucket already written stays (it is newer than the flush).
 */
export function flushSessions(dp: Datapath): number {
  if (!isBucketTable(dp)) throw new Error('this deployment\'s session table is an older data path\'s: deploy again to upgrade it');
  const fd = mapOf(dp, SegMap.sessions).fd;
  let n = 0;
  let pending = new Map<number, { bytes: Uint8Array; changed: Set<number> }>();
  for (const { index, bucket } of bucketsOf(dp)) {
    const ways = waysOf(bucket);
    if (ways.length === 0) continue;
    const bytes = bucket.slice();
    for (const way of ways) setU32At(bytes, BUCKET.tag.offset + 4 * way.way, 0);
    pending.set(index, { bytes, changed: new Set(ways.map((w) => w.way)) });
    n += ways.length;
    if (pending.size >= 4096) {
      writeBuckets(fd, pending);
      pending = new Map();
    }
  }
  writeBuckets(fd, pending);
  addLiveSessions(dp, -n);
  return n;
}

/** A session to write: raw key and value (this version's struct seg_session). */
export interface SessionWrite {
  readonly key: Uint8Array;
  readonly value: Uint8Array;
}

export interface SessionWriteResult {
  /** Sessions written into a free way or over an older session. */
  readonly written: number;
  /** Sessions the table had already (left as they were with `keepExisting`, else replaced). */
  readonly existing: number;
  /** Sessions of the table written over: seen longer ago than the session that took their way. */
  readonly replaced: number;
  /** Sessions whose buckets were full of sessions seen as recently or later: not written. */
  readonly unplaced: readonly SessionWrite[];
}

/** The victim score of the kernel's insert (lib/session_table.h seg_session_victim_score). */
function victimScore(bytes: Uint8Array, way: number, st: number): bigint {
  if (u32At(bytes, BUCKET.tag.offset + 4 * way) === 0) return (1n << 64n) - 1n;
  const age = (st - u32At(bytes, BUCKET.stamp.offset + 4 * way)) | 0;
  return (BigInt(bytes[BUCKET.ref.offset + way] === 0 ? 1 : 0) << 32n) | BigInt(age > 0 ? age : 0);
}

/** A bucket's best victim now (`st`): its way and score, the lowest way on ties. */
function bestVictim(bytes: Uint8Array, st: number): { way: number; score: bigint } {
  let best = { way: 0, score: victimScore(bytes, 0, st) };
  for (let i = 1; i < WAYS; i++) {
    const score = victimScore(bytes, i, st);
    if (score > best.score) best = { way: i, score };
  }
  return best;
}

/**
 * Writes sessions where the kernel's insert would put them: of a flow's two buckets, the one
 * whose best victim is better (a free way, else one never seen again, else the one seen longest
 * ago; the first bucket on a tie), the most recently seen sessions first. A session takes a free
 * way, or the victim's way when the victim was seen longer ago than it (`replaced`); else it is
 * returned in `unplaced` (so that a session written here is never written over by an older one).
 * The way's eviction stamp is its last-seen time, its reference bit set when it saw more than one
 * packet. Seeding (tests, benchmarks) and the upgrade from an LRU table of data-path version 4
 * use it.
 */
export function writeSessions(dp: Datapath, sessions: readonly SessionWrite[], options: { readonly keepExisting?: boolean } = {}): SessionWriteResult {
  if (!isBucketTable(dp)) throw new Error('this deployment\'s session table is an older data path\'s: deploy again to upgrade it');
  const fd = mapOf(dp, SegMap.sessions).fd;
  const hashKey = readHashKey(dp);
  const bucketCount = bpf_map_get_info_by_fd(fd).maxEntries;
  const list = sessions.map((write) => {
    // Two members only (a million sessions are seeded in seconds, not decoded whole).
    const view = new DataView(write.value.buffer, write.value.byteOffset, write.value.byteLength);
    return { place: sessionPlace(write.key, hashKey, bucketCount), write, lastSeen: view.getBigUint64(SEG_SESSION.fields.last_seen_ns.offset, true), packets: view.getBigUint64(SEG_SESSION.fields.packets.offset, true) };
  });
  list.sort((a, b) => (a.lastSeen < b.lastSeen ? 1 : a.lastSeen > b.lastSeen ? -1 : 0));
  let written = 0;
  let existing = 0;
  let replaced = 0;
  let freed = 0;
  const unplaced: SessionWrite[] = [];
  // The buckets read so far (under their lock) and changed, written 4,096 at a time.
  let loaded = new Map<number, { bytes: Uint8Array; changed: Set<number> }>();
  const bucketAt = (index: number): { bytes: Uint8Array; changed: Set<number> } => {
    let b = loaded.get(index);
    if (!b) loaded.set(index, (b = { bytes: lockedBucket(fd, index), changed: new Set() }));
    return b;
  };
  for (const { place, write, lastSeen, packets } of list) {
    const st = Number((lastSeen >> STAMP_SHIFT) & 0xffff_ffffn);
    const candidates = placeBuckets(place).map((index) => ({ index, ...bucketAt(index) }));
    let target: { index: number; bytes: Uint8Array; changed: Set<number> } | undefined;
    let way: number | undefined;
    for (const c of candidates) {
      const same = waysOf(c.bytes).find((w) => w.tag === place.tag && sameBytes(w.key, write.key));
      if (same) {
        target = c;
        way = same.way;
        break;
      }
    }
    if (target) {
      // The same flow twice in the input (an old table's two copies of a raced flow): the
      // most recent, written first, stays.
      if (target.changed.has(way as number)) continue;
      existing++;
      if (options.keepExisting === true) continue;
    } else {
      let best: { c: (typeof candidates)[number]; way: number; score: bigint } | undefined;
      for (const c of candidates) {
        const v = bestVictim(c.bytes, st);
        if (!best || v.score > best.score) best = { c, ...v };
      }
      const victim = best as NonNullable<typeof best>;
      const free = victim.score === (1n << 64n) - 1n;
      // A victim seen as recently as this session, or later, stays (the most recent first).
      if (!free && ((st - u32At(victim.c.bytes, BUCKET.stamp.offset + 4 * victim.way)) | 0) <= 0) {
        unplaced.push(write);
        continue;
      }
      target = victim.c;
      way = victim.way;
      written++;
      if (free) freed++;
      else replaced++;
    }
    const { bytes, changed } = target;
    const w = way as number;
    setU32At(bytes, BUCKET.tag.offset + 4 * w, place.tag);
    setU32At(bytes, BUCKET.stamp.offset + 4 * w, st);
    bytes[BUCKET.ref.offset + w] = packets > 1n ? 1 : 0;
    const base = BUCKET.way.offset + w * SEG_SESSION_WAY.size;
    bytes.set(write.key, base + SEG_SESSION_WAY.fields.key.offset);
    bytes.set(write.value.subarray(0, SEG_SESSION.size), base + SEG_SESSION_WAY.fields.s.offset);
    changed.add(w);
    if (loaded.size >= 4096) {
      writeBuckets(fd, changedOf(loaded));
      loaded = new Map();
    }
  }
  writeBuckets(fd, changedOf(loaded));
  addLiveSessions(dp, freed);
  return { written, existing, replaced, unplaced };
}

function changedOf(loaded: ReadonlyMap<number, { bytes: Uint8Array; changed: Set<number> }>): Map<number, { bytes: Uint8Array; changed: Set<number> }> {
  return new Map([...loaded].filter(([, b]) => b.changed.size > 0));
}
