// The kernel contract: seg_session_meta, the session table's own state (struct
// seg_session_table): the bucket hash's key, random per deployment, and the table's fill.
import { randomBytes } from 'node:crypto';
import { bpf_map_lookup_elem, bpf_map_update_elem } from '../libbpf.ts';
import { SEG_SESSION_TABLE, SegMap, SegSessionTableLimits } from './abi.ts';
import { decode, encode, encodeU32 } from './codec.ts';
import { mapOf, type Datapath } from './datapath.ts';

const ZERO = encodeU32(0);

function readMeta(dp: Datapath): { hash_key: readonly number[]; live: bigint } {
  const value = bpf_map_lookup_elem(mapOf(dp, SegMap.sessionMeta).fd, ZERO);
  if (!value) throw new Error('seg_session_meta has no entry');
  const t = decode(SEG_SESSION_TABLE, value);
  return { hash_key: t.hash_key as readonly number[], live: t.live };
}

/** The deployment's bucket hash key (SEG_SESSION_HASH_WORDS words). */
export function readHashKey(dp: Datapath): readonly number[] {
  return readMeta(dp).hash_key;
}

/**
 * Draws the bucket hash key where the table has none yet (a new deployment's maps); a map
 * handed over by a redeploy or an upgrade keeps its key, so its sessions stay findable.
 * Returns whether a key was drawn.
 */
export function ensureHashKey(dp: Datapath): boolean {
  const fd = mapOf(dp, SegMap.sessionMeta).fd;
  const { hash_key, live } = readMeta(dp);
  if (hash_key.some((w) => w !== 0)) return false;
  const words = new Uint32Array(randomBytes(SegSessionTableLimits.SEG_SESSION_HASH_WORDS * 4).buffer.slice(0));
  // All-zero words would read as "no key yet" on the next load: one set bit is enough.
  words[0] = (words[0] ?? 0) | 1;
  bpf_map_update_elem(fd, ZERO, encode(SEG_SESSION_TABLE, { hash_key: [...words], live }));
  return true;
}

/** Writes the hash key (an upgrade carrying a deployment's key into new maps; tests). */
export function writeHashKey(dp: Datapath, hashKey: readonly number[]): void {
  const { live } = readMeta(dp);
  bpf_map_update_elem(mapOf(dp, SegMap.sessionMeta).fd, ZERO, encode(SEG_SESSION_TABLE, { hash_key: [...hashKey], live }));
}

/** Sessions in the table as the kernel counts them (for table pressure); never below 0. */
export function readLiveSessions(dp: Datapath): number {
  const live = readMeta(dp).live;
  return live > 0n ? Number(live) : 0;
}

/**
 * Moves the fill count by `delta` after a userspace change (seeding, removing, flushing). A
 * read-modify-write: a kernel insert or remove in between is lost from the count, which only
 * moves the pressure threshold by that many sessions (docs/datapath.md "The session table").
 */
export function addLiveSessions(dp: Datapath, delta: number): void {
  if (delta === 0) return;
  const { hash_key, live } = readMeta(dp);
  const next = live + BigInt(delta);
  bpf_map_update_elem(mapOf(dp, SegMap.sessionMeta).fd, ZERO, encode(SEG_SESSION_TABLE, { hash_key, live: next > 0n ? next : 0n }));
}
