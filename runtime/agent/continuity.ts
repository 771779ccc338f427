// Agent: counters that never go backwards. A kernel counter restarts from zero when its maps
// are replaced (undeploy then deploy of the same name) and a rule's counter when a new policy
// generation takes over; each such life is an epoch. A series adds up its finished epochs and
// the current one, and keeps its last value while it is not seen (a removed deployment).

/** (maps id, generation): maps ids and generations only grow on a host. */
export interface Epoch {
  readonly maps: number;
  readonly generation: number;
}

function compareEpochs(a: Epoch, b: Epoch): number {
  return a.maps !== b.maps ? a.maps - b.maps : a.generation - b.generation;
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
  #version = 0;

  /** Grows whenever a series is added or a total changes: a reader that saw this version can reuse what it made from the totals. */
  get version(): number {
    return this.#version;
  }

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
      this.#version++;
      return;
    }
    const order = compareEpochs(epoch, s.epoch);
    if (order > 0) {
      // A new epoch whose value is 0 leaves the total as it was, but the series' epoch changed: count it all the same.
      this.#version++;
      s.finished += s.last;
      s.epoch = epoch;
      s.last = value;
      s.total = s.finished === 0n ? value : s.finished + value;
    } else if (order === 0 && value > s.last) {
      this.#version++;
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

  /** The series `key` with its total, or undefined when it was never seen. */
  get(key: string): { readonly labels: L; readonly total: bigint } | undefined {
    const s = this.#series.get(key);
    return s && { labels: s.labels, total: s.total };
  }

  /** Calls `fn` for every series (no iterator objects: a scrape visits 10k rule series). */
  forEach(fn: (key: string, labels: L, total: bigint) => void): void {
    for (const [key, s] of this.#series) fn(key, s.labels, s.total);
  }

  has(key: string): boolean {
    return this.#series.has(key);
  }

  get size(): number {
    return this.#series.size;
  }
}
