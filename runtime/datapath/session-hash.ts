// The kernel contract: the session table's bucket hash, the mirror of bpf/lib/session_table.h
// seg_session_hash (NH over the deployment's key words, then a 64-bit finaliser), so that
// userspace finds and places sessions in the buckets the kernel uses (two choices: the hash's low
// half names a flow's first bucket, its high half the second and the tag). test/kernel/
// session-table.test.ts checks it against the kernel: flows opened by packets are found in the
// bucket this predicts.
import { SEG_SESSION_KEY, SegSessionTableLimits } from './abi.ts';

const MASK32 = 0xffff_ffffn;
const MASK64 = 0xffff_ffff_ffff_ffffn;

/**
 * Where a flow may live: its first bucket, its second (null when both are one bucket), and the
 * tag its way carries in either (never 0).
 */
export interface SessionPlace {
  readonly bucket: number;
  readonly second: number | null;
  readonly tag: number;
}

/** The 64-bit hash of a raw struct seg_session_key under `hashKey` (SEG_SESSION_HASH_WORDS words). */
export function sessionHash(key: Uint8Array, hashKey: readonly number[]): bigint {
  if (key.length !== SEG_SESSION_KEY.size) throw new RangeError(`a session key is ${SEG_SESSION_KEY.size} bytes, not ${key.length}`);
  const view = new DataView(key.buffer, key.byteOffset, key.byteLength);
  let h = 0n;
  for (let i = 0; i < SegSessionTableLimits.SEG_SESSION_HASH_WORDS; i += 2) {
    // The kernel reads the key's words in the host's order (little-endian on the targets segc builds for).
    const a = (view.getUint32(i * 4, true) + (hashKey[i] ?? 0)) >>> 0;
    const b = (view.getUint32((i + 1) * 4, true) + (hashKey[i + 1] ?? 0)) >>> 0;
    h += BigInt(a) * BigInt(b);
  }
  h &= MASK64;
  h ^= h >> 31n;
  h = (h * 0xbf58476d1ce4e5b9n) & MASK64;
  h ^= h >> 32n;
  return h;
}

/** The two buckets and the tag of a raw session key in a table of `buckets` buckets. */
export function sessionPlace(key: Uint8Array, hashKey: readonly number[], buckets: number): SessionPlace {
  const h = sessionHash(key, hashKey);
  const high = h >> 32n;
  const bucket = Number(((h & MASK32) * BigInt(buckets)) >> 32n);
  const second = Number((high * BigInt(buckets)) >> 32n);
  return { bucket, second: second === bucket ? null : second, tag: (Number(high) | 1) >>> 0 };
}

/** A place's buckets, the first first. */
export function placeBuckets(place: SessionPlace): number[] {
  return place.second === null ? [place.bucket] : [place.bucket, place.second];
}
