// A reference model of the session table's bucket policy (bpf/lib/session_table.h), for the
// differential test test/kernel/session-table.test.ts: where a flow's session goes (its two
// buckets and tag by runtime/datapath/session-hash.ts; the find reads the first, then the
// second), which bucket and way a new session takes (in each bucket its best victim: a free way,
// else the one without reference bit seen longest ago, else the one seen longest ago, the lowest
// way on ties; of the two, the better victim, the first bucket's on a tie), and what a hit changes (the reference bit; the stamp when the clock moved on). The
// clock is the kernel's (coarse, cached per tick): the model takes the stamp the kernel wrote
// for the way a packet touched, and checks that nothing else moved.
import { sessionPlace } from '../../runtime/datapath/session-hash.ts';

export interface ModelWay {
  tag: number;
  key: Uint8Array;
  stamp: number;
  ref: number;
}

/** What one packet did to the table, as the model decides it. */
export interface ModelStep {
  readonly bucket: number;
  readonly way: number;
  readonly kind: 'hit' | 'insert';
}

export const MODEL_WAYS = 4;

function sameKey(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** The victim score of a way now (`st`): higher is replaced first; a free way scores highest. */
function score(way: ModelWay | undefined, st: number): bigint {
  if (!way) return (1n << 64n) - 1n;
  const age = (st - way.stamp) | 0;
  return (BigInt(way.ref === 0 ? 1 : 0) << 32n) | BigInt(age > 0 ? age : 0);
}

export class SessionTableModel {
  readonly buckets: (ModelWay | undefined)[][];
  readonly bucketCount: number;
  readonly hashKey: readonly number[];

  constructor(bucketCount: number, hashKey: readonly number[]) {
    this.bucketCount = bucketCount;
    this.hashKey = hashKey;
    this.buckets = Array.from({ length: bucketCount }, () => new Array<ModelWay | undefined>(MODEL_WAYS).fill(undefined));
  }

  /**
   * A packet of the flow with session key `key`, allowed (it opens a session when it has none)
   * at stamp `st` (the session clock >> 20 as the kernel read it).
   */
  packet(key: Uint8Array, st: number): ModelStep {
    const place = sessionPlace(key, this.hashKey, this.bucketCount);
    const { tag } = place;
    const candidates = place.second === null ? [place.bucket] : [place.bucket, place.second];
    for (const bucket of candidates) {
      const ways = this.buckets[bucket] as (ModelWay | undefined)[];
      for (let i = 0; i < MODEL_WAYS; i++) {
        const w = ways[i];
        if (w && w.tag === tag && sameKey(w.key, key)) {
          w.stamp = st;
          w.ref = 1;
          return { bucket, way: i, kind: 'hit' };
        }
      }
    }
    let target = place.bucket;
    let victim = 0;
    let best = -1n;
    for (const bucket of candidates) {
      const ways = this.buckets[bucket] as (ModelWay | undefined)[];
      for (let i = 0; i < MODEL_WAYS; i++) {
        const s = score(ways[i], st);
        if (s > best) {
          best = s;
          victim = i;
          target = bucket;
        }
      }
    }
    (this.buckets[target] as (ModelWay | undefined)[])[victim] = { tag, key: key.slice(), stamp: st, ref: 0 };
    return { bucket: target, way: victim, kind: 'insert' };
  }
}
