// The kernel contract: the one way to walk a map's entries. Hash and array maps are read with
// batch lookups (a 65,536-entry table is 16 system calls, not 131,072); a kernel or map type
// without them falls back to get_next_key + lookup. Writes go in batches the same way.
import { bpf_map_get_next_key, bpf_map_lookup_batch, bpf_map_lookup_elem, bpf_map_update_batch, bpf_map_update_elem } from '../libbpf.ts';
import { BpfError } from '../errors.ts';

/** One raw entry: `value` is the whole value (every CPU's share for a per-CPU map). */
export interface RawEntry {
  readonly key: Uint8Array;
  readonly value: Uint8Array;
}

const BATCH = 4096;

// EINVAL, EOPNOTSUPP, ENOTSUPP: the map type or kernel has no batch operation.
const NO_BATCH = new Set([22, 95, 524]);

function batchUnsupported(error: unknown): boolean {
  return error instanceof BpfError && error.errno !== undefined && NO_BATCH.has(error.errno);
}

export interface IterateOptions {
  /** false: key by key (LPM tries have no batch lookup). */
  readonly batch?: boolean;
  /** At most this many entries. */
  readonly limit?: number;
  /** Arrays: start after this key (the entry before the first one wanted). */
  readonly after?: Uint8Array | null;
}

/** One batch lookup's entries, packed: `count` keys of the key size, `count` whole values. */
export interface RawBatch {
  readonly keys: Uint8Array;
  readonly values: Uint8Array;
  readonly count: number;
}

/**
 * The entries of the map at `fd` in packed batches, as the kernel returns them (readers that
 * fold thousands of entries skip a copy per entry); with `batch: false`, or a kernel or map
 * without batch lookups, one entry per batch. `valueSize` is the bytes of one whole value
 * (per-CPU maps: every CPU's).
 */
export function* iterateBatches(fd: number, keySize: number, valueSize: number, options: IterateOptions = {}): Generator<RawBatch> {
  const limit = options.limit ?? Number.POSITIVE_INFINITY;
  let seen = 0;
  if (limit <= 0) return;
  if (options.batch !== false) {
    // The kernel's batch token is the last key it read: a key of ours starts after it.
    let token: Uint8Array | null = options.after ?? null;
    let first = true;
    try {
      for (;;) {
        const batch = bpf_map_lookup_batch(fd, token, keySize, valueSize, Math.min(BATCH, limit - seen));
        first = false;
        const count = Math.min(batch.count, limit - seen);
        seen += count;
        if (count > 0) yield { keys: batch.keys.subarray(0, count * keySize), values: batch.values.subarray(0, count * valueSize), count };
        if (batch.next === null || batch.count === 0 || seen >= limit) return;
        token = batch.next;
      }
    } catch (error) {
      // Only the first call may find that batches are missing; later failures are real.
      if (!first || !batchUnsupported(error)) throw error;
    }
  }
  let key = bpf_map_get_next_key(fd, options.after ?? null, keySize);
  while (key && seen < limit) {
    const value = bpf_map_lookup_elem(fd, key, valueSize);
    if (value) {
      yield { keys: key.slice(), values: value, count: 1 };
      seen++;
    }
    key = bpf_map_get_next_key(fd, key, keySize);
  }
}

/**
 * Every entry of the map at `fd` (a snapshot: the kernel keeps changing it). `valueSize` is the
 * bytes of one whole value (per-CPU maps: every CPU's).
 */
export function* iterateEntries(fd: number, keySize: number, valueSize: number, options: IterateOptions = {}): Generator<RawEntry> {
  for (const batch of iterateBatches(fd, keySize, valueSize, options)) {
    for (let i = 0; i < batch.count; i++) {
      yield { key: batch.keys.slice(i * keySize, (i + 1) * keySize), value: batch.values.slice(i * valueSize, (i + 1) * valueSize) };
    }
  }
}

/** Writes `count` entries (keys and values packed) with batch updates where the map has them. */
export function writeEntries(fd: number, keys: Uint8Array, values: Uint8Array, count: number, keySize: number, valueSize: number, flags = 0): void {
  if (count === 0) return;
  try {
    bpf_map_update_batch(fd, keys, values, count, { elemFlags: flags });
    return;
  } catch (error) {
    if (!batchUnsupported(error)) throw error;
  }
  for (let i = 0; i < count; i++) {
    bpf_map_update_elem(fd, keys.subarray(i * keySize, (i + 1) * keySize), values.subarray(i * valueSize, (i + 1) * valueSize), flags);
  }
}
