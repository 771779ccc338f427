// The kernel contract: the session table's bucket hash, the mirror of bpf/lib/session_table.h
// seg_session_hash (NH over the deployment's key words, then a 64-bit finaliser), so that
// userspace finds and places sessions in the bucket the kernel uses. test/kernel/
// session-table.test.ts checks it against the kernel: flows opened by packets are found in the
// bucket this predicts.
import { SEG_SESSION_KEY, SegSessionTableLimits } from './abi.ts';

const MASK32 = 0xffff_ffffn;
const MASK64 = 0xffff_ffff_ffff_ffffn;

/** Where a flow lives: its bucket, and the tag its way carries (never 0). */
export interface SessionPlace {
  readonly bucket: number;
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

/** The bucket and tag of a raw session key in a table of `buckets` buckets. */
export function sessionPlace(key: Uint8Array, hashKey: readonly number[], buckets: number): SessionPlace {
  const h = sessionHash(key, hashKey);
  return { bucket: Number(((h & MASK32) * BigInt(buckets)) >> 32n), tag: (Number(h >> 32n) | 1) >>> 0 };
}
