import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  familyMax,
  formatIpv4,
  formatIpv6,
  formatPrefix,
  intersectRanges,
  normalizeRanges,
  parseAddress,
  parseIpv4,
  parseIpv6,
  parsePrefix,
  prefixRange,
  prefixTextsToRanges,
  rangesContain,
  rangesToPrefixes,
  rangesToPrefixTexts,
  subtractRanges,
  unionRanges,
  type AddrRange,
  type Family,
  type Prefix,
} from '../../compiler/cidr.ts';

describe('IPv4 parsing', () => {
  it.each([
    ['0.0.0.0', 0n],
    ['10.0.0.1', 0x0a000001n],
    ['255.255.255.255', 0xffffffffn],
    ['192.168.1.20', 0xc0a80114n],
  ])('reads %s', (text, value) => {
    expect(parseIpv4(text)).toBe(value);
  });

  it.each(['10.0.0', '10.0.0.0.0', '256.0.0.1', '10.0.0.01', '010.0.0.1', '10..0.1', '', '1.2.3.-4', '1.2.3.4 ', 'a.b.c.d', '1.2.3.1000'])(
    'refuses %j',
    (text) => {
      expect(parseIpv4(text)).toBeUndefined();
    },
  );
});

// The definition parseIpv4 and parsePrefix's IPv4 path are read against (they scan characters):
// split on dots, each part matched by a regular expression, the value built in bigints.
function referenceIpv4(text: string): bigint | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let v = 0n;
  for (const p of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p) || Number(p) > 255) return undefined;
    v = (v << 8n) | BigInt(Number(p));
  }
  return v;
}

function referenceIpv4Prefix(text: string): unknown {
  const slash = text.indexOf('/');
  const addr = referenceIpv4(slash < 0 ? text : text.slice(0, slash));
  if (addr === undefined) return { ok: false, error: 'invalid-ipv4' };
  if (slash < 0) return { ok: true, prefix: { family: 4, value: addr, length: 32 } };
  const lenText = text.slice(slash + 1);
  if (!/^[0-9]{1,3}$/.test(lenText) || Number(lenText) > 32) return { ok: false, error: 'length-out-of-range', family: 4, length: lenText };
  const length = Number(lenText);
  const network = addr & (0xffffffffn ^ ((1n << BigInt(32 - length)) - 1n));
  if (network !== addr) return { ok: false, error: 'host-bits', network: { family: 4, value: network, length } };
  return { ok: true, prefix: { family: 4, value: addr, length } };
}

describe('IPv4 scanning against the split-and-regex definition', () => {
  // Texts near the valid ones: numbers of 0-4 digits (leading zeros, 256, 999), 3-5 parts,
  // stray dots, signs, spaces and letters, and lengths 0-40 with the same mistakes.
  const part = fc.oneof(fc.integer({ min: 0, max: 300 }).map(String), fc.constantFrom('', '0', '00', '01', '010', '255', '256', '999', '1000', '-1', '+1', ' 1', '1 ', 'a', '1e1', '0x1'));
  const address = fc.array(part, { minLength: 3, maxLength: 5 }).map((ps) => ps.join('.'));
  const length = fc.oneof(fc.integer({ min: 0, max: 40 }).map(String), fc.constantFrom('', '00', '08', '032', '-1', '1.5', ' 8'));
  const text = fc.oneof(address, fc.tuple(address, length).map(([a, l]) => `${a}/${l}`), fc.string({ maxLength: 20 }));

  it('parseIpv4 and parsePrefix give what the definition gives', () => {
    fc.assert(
      fc.property(text, (t) => {
        expect(parseIpv4(t)).toBe(referenceIpv4(t));
        if (!t.includes(':')) expect(parsePrefix(t)).toEqual(referenceIpv4Prefix(t));
      }),
      { numRuns: 20_000 },
    );
  });

  it('every prefix length of every host-bit position', () => {
    for (let length = 0; length <= 32; length++) {
      for (const t of [`255.255.255.255/${length}`, `128.0.0.0/${length}`, `0.0.0.1/${length}`, `10.0.0.0/${length}`]) {
        expect(parsePrefix(t)).toEqual(referenceIpv4Prefix(t));
      }
    }
  });
});

describe('IPv6 parsing', () => {
  it.each([
    ['::', 0n],
    ['::1', 1n],
    ['1::', 1n << 112n],
    ['2001:db8::1', 0x20010db8000000000000000000000001n],
    ['2001:0DB8:0000:0000:0000:0000:0000:0001', 0x20010db8000000000000000000000001n],
    ['1:2:3:4:5:6:7:8', 0x00010002000300040005000600070008n],
    ['1:2:3:4:5:6:7::', 0x00010002000300040005000600070000n],
    ['::2:3:4:5:6:7:8', 0x00000002000300040005000600070008n],
    ['::ffff:10.0.0.1', 0xffff0a000001n],
    ['64:ff9b::192.0.2.33', 0x0064ff9b0000000000000000c0000221n],
    ['1:2:3:4:5:6:1.2.3.4', 0x00010002000300040005000601020304n],
  ])('reads %s', (text, value) => {
    expect(parseIpv6(text)).toBe(value);
  });

  it.each([':::', '1::2::3', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7', '12345::', 'g::1', ':1::', '1:2:3:4:5:6:7:8::', '::ffff:1.2.3', '1:2:3:4:5:6:7:1.2.3.4', 'fe80::1%eth0', ''])(
    'refuses %j',
    (text) => {
      expect(parseIpv6(text)).toBeUndefined();
    },
  );

  it('tells the families apart by the colon', () => {
    expect(parseAddress('10.1.2.3')).toEqual({ family: 4, value: 0x0a010203n });
    expect(parseAddress('::a')).toEqual({ family: 6, value: 10n });
    expect(parseAddress('10.1.2')).toBeUndefined();
  });
});

describe('RFC 5952 printing', () => {
  it.each([
    ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
    ['2001:DB8::1', '2001:db8::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
    ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'],
    ['0:0:0:0:0:0:0:0', '::'],
    ['0:0:0:0:0:0:0:1', '::1'],
    ['1:0:0:0:0:0:0:0', '1::'],
    ['fe80:0:0:0:0:0:0:1', 'fe80::1'],
    ['1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8'],
  ])('prints %s as %s', (text, printed) => {
    expect(formatIpv6(parseIpv6(text) as bigint)).toBe(printed);
  });

  it('prints IPv4 dotted', () => {
    expect(formatIpv4(0x0a000001n)).toBe('10.0.0.1');
    expect(formatIpv4(0xffffffffn)).toBe('255.255.255.255');
  });

  it('reads back what it prints, for any address', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: familyMax(6) }), (v) => {
        const text = formatIpv6(v);
        expect(parseIpv6(text)).toBe(v);
        expect(text).toBe(text.toLowerCase());
        // Never a `::` for a single zero group, never two of them.
        expect(text.split('::').length).toBeLessThanOrEqual(2);
        if (text.includes('::')) expect(text.split(':').filter((g) => g !== '').length).toBeLessThanOrEqual(6);
      }),
    );
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: familyMax(4) }), (v) => {
        expect(parseIpv4(formatIpv4(v))).toBe(v);
      }),
    );
  });
});

describe('prefix parsing', () => {
  it('reads a bare address as a host prefix', () => {
    expect(parsePrefix('10.0.0.1')).toEqual({ ok: true, prefix: { family: 4, value: 0x0a000001n, length: 32 } });
    expect(parsePrefix('2001:db8::1')).toEqual({ ok: true, prefix: { family: 6, value: 0x20010db8000000000000000000000001n, length: 128 } });
  });

  it('reads CIDRs of both families, including /0', () => {
    expect(parsePrefix('10.0.0.0/8')).toEqual({ ok: true, prefix: { family: 4, value: 0x0a000000n, length: 8 } });
    expect(parsePrefix('0.0.0.0/0')).toEqual({ ok: true, prefix: { family: 4, value: 0n, length: 0 } });
    expect(parsePrefix('::/0')).toEqual({ ok: true, prefix: { family: 6, value: 0n, length: 0 } });
    expect(parsePrefix('2001:db8::/32')).toEqual({ ok: true, prefix: { family: 6, value: 0x20010db8n << 96n, length: 32 } });
  });

  it('gives the network when host bits are set', () => {
    const r = parsePrefix('10.0.0.1/8');
    expect(r.ok).toBe(false);
    if (!r.ok && r.error === 'host-bits') expect(formatPrefix(r.network)).toBe('10.0.0.0/8');
    else expect.unreachable();
    const r6 = parsePrefix('2001:db8::1/32');
    if (!r6.ok && r6.error === 'host-bits') expect(formatPrefix(r6.network)).toBe('2001:db8::/32');
    else expect.unreachable();
  });

  it('refuses lengths beyond the family and malformed addresses', () => {
    expect(parsePrefix('10.0.0.0/33')).toEqual({ ok: false, error: 'length-out-of-range', family: 4, length: '33' });
    expect(parsePrefix('::/129')).toEqual({ ok: false, error: 'length-out-of-range', family: 6, length: '129' });
    expect(parsePrefix('10.0.0.0/1234')).toMatchObject({ ok: false, error: 'length-out-of-range' });
    expect(parsePrefix('10.0.0/8')).toEqual({ ok: false, error: 'invalid-ipv4' });
    expect(parsePrefix('2001:db8:::/48')).toEqual({ ok: false, error: 'invalid-ipv6' });
  });
});

// Small families keep brute force cheap: ranges within [0, 255] of IPv4.
const smallRange = fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 })).map(([a, b]): AddrRange => [BigInt(Math.min(a, b)), BigInt(Math.max(a, b))]);
const smallRanges = fc.array(smallRange, { maxLength: 6 });

function members(ranges: readonly AddrRange[]): Set<number> {
  const out = new Set<number>();
  for (const [lo, hi] of ranges) for (let v = Number(lo); v <= Number(hi); v++) out.add(v);
  return out;
}

function isNormalised(ranges: readonly AddrRange[]): boolean {
  return ranges.every((r, i) => r[0] <= r[1] && (i === 0 || (ranges[i - 1] as AddrRange)[1] + 1n < r[0]));
}

describe('interval lists', () => {
  it('normalise to sorted, disjoint, non-adjacent ranges with the same members', () => {
    fc.assert(
      fc.property(smallRanges, (rs) => {
        const n = normalizeRanges(rs);
        expect(isNormalised(n)).toBe(true);
        expect(members(n)).toEqual(members(rs));
      }),
    );
  });

  it('compute union, difference and intersection exactly', () => {
    fc.assert(
      fc.property(smallRanges, smallRanges, (ra, rb) => {
        const a = normalizeRanges(ra);
        const b = normalizeRanges(rb);
        const ma = members(a);
        const mb = members(b);
        const union = unionRanges(a, b);
        const diff = subtractRanges(a, b);
        const inter = intersectRanges(a, b);
        for (const r of [union, diff, inter]) expect(isNormalised(r)).toBe(true);
        expect(members(union)).toEqual(new Set([...ma, ...mb]));
        expect(members(diff)).toEqual(new Set([...ma].filter((v) => !mb.has(v))));
        expect(members(inter)).toEqual(new Set([...ma].filter((v) => mb.has(v))));
        for (let v = 0; v < 256; v++) expect(rangesContain(a, BigInt(v))).toBe(ma.has(v));
      }),
    );
  });
});

describe('ranges and prefixes', () => {
  const prefixArb = (family: Family) =>
    fc.tuple(fc.bigInt({ min: 0n, max: familyMax(family) }), fc.integer({ min: 0, max: family === 4 ? 32 : 128 })).map(([v, length]): Prefix => {
      const bits = BigInt(family === 4 ? 32 : 128);
      const hostMask = (1n << (bits - BigInt(length))) - 1n;
      return { family, value: v & ~hostMask, length };
    });

  it('prints and reads back any prefix of either family', () => {
    fc.assert(
      fc.property(fc.oneof(prefixArb(4), prefixArb(6)), (p) => {
        expect(parsePrefix(formatPrefix(p))).toEqual({ ok: true, prefix: p });
      }),
    );
  });

  it('turn a prefix into its range and back into the same single prefix', () => {
    fc.assert(
      fc.property(fc.oneof(prefixArb(4), prefixArb(6)), (p) => {
        expect(rangesToPrefixes(p.family, [prefixRange(p)])).toEqual([p]);
      }),
    );
  });

  it('cover any range with the minimal list of aligned prefixes', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: familyMax(4) }), fc.bigInt({ min: 0n, max: familyMax(4) }), (a, b) => {
        const range: AddrRange = a <= b ? [a, b] : [b, a];
        const prefixes = rangesToPrefixes(4, [range]);
        // Consecutive, aligned, and exactly covering the range.
        let next = range[0];
        for (const p of prefixes) {
          const [lo, hi] = prefixRange(p);
          expect(lo).toBe(next);
          expect(p.value & ((1n << BigInt(32 - p.length)) - 1n)).toBe(0n);
          next = hi + 1n;
        }
        expect(next).toBe(range[1] + 1n);
        // Minimal: no two neighbours are the halves of one shorter prefix.
        for (let i = 1; i < prefixes.length; i++) {
          const x = prefixes[i - 1] as Prefix;
          const y = prefixes[i] as Prefix;
          const siblings = x.length === y.length && x.length > 0 && (x.value >> BigInt(33 - x.length)) === (y.value >> BigInt(33 - y.length));
          expect(siblings).toBe(false);
        }
        // At most 2 * 32 - 2 prefixes for any IPv4 range.
        expect(prefixes.length).toBeLessThanOrEqual(62);
      }),
    );
  });

  it('round-trip prefix texts through ranges', () => {
    fc.assert(
      fc.property(fc.array(prefixArb(6), { maxLength: 5 }), (ps) => {
        const ranges = normalizeRanges(ps.map(prefixRange));
        const texts = rangesToPrefixTexts(6, ranges);
        expect(prefixTextsToRanges(texts)).toEqual(ranges);
      }),
    );
  });

  it('covers the whole space with one /0 prefix', () => {
    expect(rangesToPrefixTexts(4, [[0n, familyMax(4)]])).toEqual(['0.0.0.0/0']);
    expect(rangesToPrefixTexts(6, [[0n, familyMax(6)]])).toEqual(['::/0']);
    expect(rangesToPrefixTexts(4, [[0x0a000000n, 0x0a0000ffn], [0x0a000101n, 0x0a000101n]])).toEqual(['10.0.0.0/24', '10.0.1.1/32']);
  });
});
