// Agent: when to take the session census, so that a full table's walk (20-30 ms for 262,144
// sessions) is off the scrape's path. Scrapers come at a steady interval (Prometheus'
// scrape_interval): after each collection the agent plans one census half the census max age
// before the next collection it expects, so that collection finds a census young enough to use.
// A scraper off its rhythm finds the census too old and its collection takes one itself.

/** What the refresher drives: the reader's census (DeploymentReader). */
export interface CensusTaker {
  refreshCensus(): void;
  /** How old the oldest census kept is, in ms (undefined: none kept). */
  censusAgeMs(): number | undefined;
}

export interface CensusPlan {
  /** Start of the collection before this one (ms, the reader's clock), if any. */
  readonly previousStart: number | undefined;
  /** Start of the collection just served. */
  readonly startedAt: number;
  /** The census max age (0: a census in every collection, none planned). */
  readonly maxAgeMs: number;
  /** When the census kept was taken, if one is. */
  readonly censusAt: number | undefined;
  /** The freshness window (--scrape-max-age): its stragglers are served the text before any census. */
  readonly quietMs: number;
}

/**
 * When to refresh the census after a collection (ms, the reader's clock): half the max age
 * before the next collection, expected one interval after this one; undefined when none is
 * needed: no rhythm seen yet, census reuse off, or the census kept still young enough then.
 */
export function planCensusRefresh(p: CensusPlan): number | undefined {
  if (p.previousStart === undefined || p.maxAgeMs <= 0) return undefined;
  const next = p.startedAt + (p.startedAt - p.previousStart);
  if (p.censusAt !== undefined && next - p.censusAt <= p.maxAgeMs) return undefined;
  return Math.max(p.startedAt + p.quietMs, next - p.maxAgeMs / 2);
}

export class CensusRefresher {
  readonly #taker: CensusTaker;
  readonly #maxAgeMs: number;
  readonly #quietMs: number;
  readonly #now: () => number;
  #previousStart: number | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(taker: CensusTaker, options: { readonly maxAgeMs: number; readonly quietMs: number; readonly now?: () => number }) {
    this.#taker = taker;
    this.#maxAgeMs = options.maxAgeMs;
    this.#quietMs = options.quietMs;
    this.#now = options.now ?? (() => performance.now());
  }

  /** A collection that started at `startedAt` has read the maps: plan the census for the next one. */
  collected(startedAt: number): void {
    const previous = this.#previousStart;
    this.#previousStart = startedAt;
    const now = this.#now();
    const age = this.#taker.censusAgeMs();
    const at = planCensusRefresh({ previousStart: previous, startedAt, maxAgeMs: this.#maxAgeMs, censusAt: age === undefined ? undefined : now - age, quietMs: this.#quietMs });
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (at === undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#taker.refreshCensus();
    }, Math.max(0, at - now));
    this.#timer.unref();
  }

  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
