// Agent: counters that never go backwards. A kernel counter restarts from zero when its maps
// are replaced (undeploy then deploy of the same name) and a rule's counter when a new policy
// generation takes over; each such life is an epoch. A series adds up its finished epochs and
// the current one, and keeps its last value while it is not seen (a removed deployment).

/** (maps id, generation): maps ids and generations only grow on a host. */
export interface Epoch {
  readonly maps: number;
  readonly generation: number;
}

/** The order of epoch (aMaps, aGeneration) against (bMaps, bGeneration); in parts, so a caller that keeps them in columns makes no object. */
function compareEpochParts(aMaps: number, aGeneration: number, bMaps: number, bGeneration: number): number {
  return aMaps !== bMaps ? aMaps - bMaps : aGeneration - bGeneration;
}

interface Series<L> {
  readonly labels: L;
  finished: bigint;
  epoch: Epoch;
  last: bigint;
  /** finished + last, kept as it changes: reading 10k totals a scrape allocates no bigints (and while nothing is finished it is `last` itself, no new one either). */
  total: bigint;
}

export class MonotonicTotals<L> {
  readonly #series = new Map<string, Series<L>>();

  /**
   * Records the kernel's `value` of series `key` in `epoch`; returns the series total. A value
   * of an epoch older than the series' current one is ignored (its final count came too late).
   */
  observe(key: string, labels: L, epoch: Epoch, value: bigint): bigint {
    this.record(key, labels, epoch, value);
    return this.total(key) as bigint;
  }

  /** `observe` without the total (no bigint made for a caller that does not need it). */
  record(key: string, labels: L, epoch: Epoch, value: bigint): void {
    const s = this.#series.get(key);
    if (!s) {
      this.#series.set(key, { labels, finished: 0n, epoch, last: value, total: value });
      return;
    }
    const order = compareEpochParts(epoch.maps, epoch.generation, s.epoch.maps, s.epoch.generation);
    if (order > 0) {
      s.finished += s.last;
      s.epoch = epoch;
      s.last = value;
      s.total = s.finished === 0n ? value : s.finished + value;
    } else if (order === 0 && value > s.last) {
      s.last = value;
      s.total = s.finished === 0n ? value : s.finished + value;
    }
  }

  /** The total of series `key`, or undefined when it was never seen. */
  total(key: string): bigint | undefined {
    return this.#series.get(key)?.total;
  }

  /** Every series seen so far, with its total. */
  *entries(): IterableIterator<{ readonly key: string; readonly labels: L; readonly total: bigint }> {
    for (const [key, s] of this.#series) yield { key, labels: s.labels, total: s.total };
  }

  has(key: string): boolean {
    return this.#series.has(key);
  }

  get size(): number {
    return this.#series.size;
  }
}

/**
 * The rule series' totals (packets and bytes), by the same rules as MonotonicTotals, held in
 * columns of doubles instead of an object and bigints per series: a 10k-rule policy whose rules
 * all moved made some 40k bigints a collection, most of which outlived the young generation, and
 * collecting them cost more than everything else a scrape did. Doubles are exact below 2^53
 * (packets, or 9 PB); the exposition text writes every total as a double anyway.
 */
export class RuleTotals {
  readonly #index = new Map<string, number>();
  #keys: string[] = [];
  /** The deployment of each series (for the top N per deployment). */
  #owners: string[] = [];
  #epochMaps = new Float64Array(0);
  #epochGeneration = new Float64Array(0);
  #finishedPackets = new Float64Array(0);
  #lastPackets = new Float64Array(0);
  #finishedBytes = new Float64Array(0);
  #lastBytes = new Float64Array(0);
  #version = 0;

  /** Grows whenever a series is added, one of its totals changes or its epoch turns: a reader that saw this version can reuse what it made from the totals. */
  get version(): number {
    return this.#version;
  }

  get size(): number {
    return this.#keys.length;
  }

  /** The series of `key`, or -1 when it was never recorded. */
  indexOf(key: string): number {
    return this.#index.get(key) ?? -1;
  }

  /**
   * Records the kernel's packets and bytes of series `key` (owned by `owner`) in `epoch`,
   * `at` being `indexOf(key)`; a value of an older epoch than the series' is ignored. Returns
   * the series' index (a new one when `at` was -1), which stays its index for good.
   */
  record(at: number, key: string, owner: string, epoch: Epoch, packets: number, bytes: number): number {
    if (at < 0) {
      at = this.#keys.length;
      if (at === this.#epochMaps.length) this.#grow(Math.max(64, at * 2));
      this.#index.set(key, at);
      this.#keys.push(key);
      this.#owners.push(owner);
      this.#epochMaps[at] = epoch.maps;
      this.#epochGeneration[at] = epoch.generation;
      this.#finishedPackets[at] = 0;
      this.#finishedBytes[at] = 0;
      this.#lastPackets[at] = packets;
      this.#lastBytes[at] = bytes;
      this.#version++;
      return at;
    }
    const order = compareEpochParts(epoch.maps, epoch.generation, this.#epochMaps[at] as number, this.#epochGeneration[at] as number);
    if (order > 0) {
      // A new epoch whose values are 0 leaves the totals as they were, but the series' epoch changed: count it all the same.
      this.#version++;
      (this.#finishedPackets[at] as number) += this.#lastPackets[at] as number;
      (this.#finishedBytes[at] as number) += this.#lastBytes[at] as number;
      this.#epochMaps[at] = epoch.maps;
      this.#epochGeneration[at] = epoch.generation;
      this.#lastPackets[at] = packets;
      this.#lastBytes[at] = bytes;
    } else if (order === 0) {
      if (packets > (this.#lastPackets[at] as number)) {
        this.#version++;
        this.#lastPackets[at] = packets;
      }
      if (bytes > (this.#lastBytes[at] as number)) {
        this.#version++;
        this.#lastBytes[at] = bytes;
      }
    }
    return at;
  }

  key(at: number): string {
    return this.#keys[at] as string;
  }

  owner(at: number): string {
    return this.#owners[at] as string;
  }

  packets(at: number): number {
    return (this.#finishedPackets[at] as number) + (this.#lastPackets[at] as number);
  }

  bytes(at: number): number {
    return (this.#finishedBytes[at] as number) + (this.#lastBytes[at] as number);
  }

  #grow(capacity: number): void {
    const grown = (a: Float64Array) => {
      const b = new Float64Array(capacity);
      b.set(a);
      return b;
    };
    this.#epochMaps = grown(this.#epochMaps);
    this.#epochGeneration = grown(this.#epochGeneration);
    this.#finishedPackets = grown(this.#finishedPackets);
    this.#lastPackets = grown(this.#lastPackets);
    this.#finishedBytes = grown(this.#finishedBytes);
    this.#lastBytes = grown(this.#lastBytes);
  }
}
