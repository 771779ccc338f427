import { describe, expect, it } from 'vitest';
import { MonotonicTotals, RuleTotals } from '../../../runtime/agent/continuity.ts';

describe('MonotonicTotals', () => {
  const labels = { deployment: 'web' };

  it('follows the kernel counter within one epoch', () => {
    const t = new MonotonicTotals<typeof labels>();
    expect(t.observe('k', labels, { maps: 1, generation: 1 }, 5n)).toBe(5n);
    expect(t.observe('k', labels, { maps: 1, generation: 1 }, 9n)).toBe(9n);
  });

  it('never goes backwards when a counter restarts in a newer epoch (new maps, new generation)', () => {
    const t = new MonotonicTotals<typeof labels>();
    t.observe('k', labels, { maps: 1, generation: 1 }, 10n);
    expect(t.observe('k', labels, { maps: 1, generation: 2 }, 0n)).toBe(10n);
    expect(t.observe('k', labels, { maps: 1, generation: 2 }, 4n)).toBe(14n);
    expect(t.observe('k', labels, { maps: 7, generation: 1 }, 1n)).toBe(15n);
  });

  it('takes the final count of the epoch in force before the next one opens, and ignores a late one', () => {
    const t = new MonotonicTotals<typeof labels>();
    t.observe('k', labels, { maps: 1, generation: 1 }, 10n);
    // The standby slot still holds generation 1: its last packets count once.
    expect(t.observe('k', labels, { maps: 1, generation: 1 }, 12n)).toBe(12n);
    expect(t.observe('k', labels, { maps: 1, generation: 2 }, 3n)).toBe(15n);
    expect(t.observe('k', labels, { maps: 1, generation: 1 }, 20n)).toBe(15n);
  });

  it('ignores a value lower than the last within an epoch (a racing read)', () => {
    const t = new MonotonicTotals<typeof labels>();
    t.observe('k', labels, { maps: 1, generation: 1 }, 10n);
    expect(t.observe('k', labels, { maps: 1, generation: 1 }, 8n)).toBe(10n);
  });

  it('keeps series that are no longer observed, with their last totals', () => {
    const t = new MonotonicTotals<typeof labels>();
    t.observe('a', labels, { maps: 1, generation: 1 }, 3n);
    t.observe('b', { deployment: 'db' }, { maps: 2, generation: 1 }, 4n);
    t.observe('a', labels, { maps: 1, generation: 1 }, 5n);
    expect([...t.entries()].map((e) => [e.key, e.total])).toEqual([
      ['a', 5n],
      ['b', 4n],
    ]);
    expect(t.has('b')).toBe(true);
    expect(t.size).toBe(2);
  });

  it('moves its version when a series is added, a total grows or an epoch turns, and only then (the rule series, RuleTotals)', () => {
    const t = new RuleTotals();
    const record = (epoch: { maps: number; generation: number }, packets: number) => t.record(t.indexOf('a'), 'a', 'web', epoch, packets, packets);
    const v0 = t.version;
    record({ maps: 1, generation: 1 }, 5);
    const v1 = t.version;
    expect(v1).toBeGreaterThan(v0);
    record({ maps: 1, generation: 1 }, 5);
    record({ maps: 1, generation: 1 }, 4);
    record({ maps: 1, generation: 0 }, 9);
    expect(t.version).toBe(v1);
    record({ maps: 1, generation: 1 }, 6);
    const v2 = t.version;
    expect(v2).toBeGreaterThan(v1);
    record({ maps: 1, generation: 2 }, 0);
    expect(t.version).toBeGreaterThan(v2);
    expect(t.packets(t.indexOf('a'))).toBe(6);
  });
});
