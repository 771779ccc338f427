// When the agent takes the session census (runtime/agent/census-refresh.ts): ahead of the next
// scrape it expects from the scrapers' rhythm, never inside the freshness window, and only when
// the census kept would be too old by then. Fake timers and a fake census taker: no kernel.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { CensusRefresher, planCensusRefresh } from '../../../runtime/agent/census-refresh.ts';

describe('planCensusRefresh', () => {
  const plan = { previousStart: 0, startedAt: 15_000, maxAgeMs: 5_000, censusAt: undefined, quietMs: 500 };

  it('plans half the max age before the next expected collection', () => {
    expect(planCensusRefresh(plan)).toBe(27_500);
    expect(planCensusRefresh({ ...plan, censusAt: 14_000 })).toBe(27_500);
  });

  it('plans nothing before a rhythm is seen, with reuse off, or while the census kept will still do', () => {
    expect(planCensusRefresh({ ...plan, previousStart: undefined })).toBeUndefined();
    expect(planCensusRefresh({ ...plan, maxAgeMs: 0 })).toBeUndefined();
    // Scrapes every second: a census 2 s old now is 3 s old at the next one.
    expect(planCensusRefresh({ ...plan, previousStart: 14_000, censusAt: 13_000 })).toBeUndefined();
  });

  it('never plans inside the freshness window, whose stragglers are served first', () => {
    expect(planCensusRefresh({ ...plan, previousStart: 14_000, censusAt: 10_500 })).toBe(15_500);
  });
});

describe('CensusRefresher', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('takes the census on its own timer ahead of the next scrape, and stops', () => {
    vi.useFakeTimers();
    let clock = 0;
    let takenAt: number | undefined;
    const taker = { refreshCensus: vi.fn(() => (takenAt = clock)), censusAgeMs: () => (takenAt === undefined ? undefined : clock - takenAt) };
    const refresher = new CensusRefresher(taker, { maxAgeMs: 5_000, quietMs: 500, now: () => clock });
    takenAt = 0;
    refresher.collected(0);
    expect(vi.getTimerCount()).toBe(0);
    clock = 15_000;
    takenAt = 15_000; // this collection took its own census (the one kept was too old)
    refresher.collected(15_000);
    vi.advanceTimersByTime(12_400);
    expect(taker.refreshCensus).not.toHaveBeenCalled();
    clock = 27_500;
    vi.advanceTimersByTime(100);
    expect(taker.refreshCensus).toHaveBeenCalledTimes(1);
    // The next collection (at 30 s) found that census 2.5 s old; the plan repeats, then stop drops it.
    clock = 30_000;
    refresher.collected(30_000);
    expect(vi.getTimerCount()).toBe(1);
    refresher.stop();
    expect(vi.getTimerCount()).toBe(0);
  });
});
