import { describe, expect, it } from 'vitest';
import { canonicalRule, canonicalRuleLine } from '../../compiler/hash.ts';
import type { RuleIr } from '../../compiler/ir.ts';

// canonicalRuleLine writes the JSON by hand; any difference from JSON.stringify of the
// structure would change every policy's hash.
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const STRINGS = ['', 'ssh-office', 'a "quoted" \\ name', 'tab\there\nnewline', 'ünïcödé ✓', '\u0000\u001f\u007f', 'lone \ud800 surrogate', '10.0.0.0/8', '2001:db8::/32', '</script>'];

function randomRule(next: () => number): RuleIr {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!;
  const list = <T>(make: () => T): T[] => Array.from({ length: Math.floor(next() * 4) }, make);
  const maybe = <T>(make: () => T): T | null => (next() < 0.4 ? null : make());
  const num = (): number => pick([0, 1, 6, 17, 255, 65535, Math.floor(next() * 70000), -0]);
  const rule: RuleIr = {
    id: Math.floor(next() * 100),
    direction: pick(['ingress', 'egress'] as const),
    priority: num(),
    name: pick(STRINGS),
    named: next() < 0.5,
    action: pick(['allow', 'deny'] as const),
    log: next() < 0.5,
    audit: next() < 0.3,
    protocols: maybe(() => list(num)),
    src: { v4: list(() => pick(STRINGS)), v6: list(() => pick(STRINGS)) },
    dst: { v4: list(() => pick(STRINGS)), v6: list(() => pick(STRINGS)) },
    srcPorts: maybe(() => list(() => [num(), num()] as const)),
    dstPorts: maybe(() => list(() => [num(), num()] as const)),
    icmp: maybe(() => ({ type4: maybe(num), type6: maybe(num), code: maybe(num) })),
    description: maybe(() => pick(STRINGS)),
    ...(next() < 0.3 ? { expires: '2027-01-31' } : {}),
    span: { file: 'a.seg', start: 0, end: 1 },
  };
  return rule;
}

describe('canonicalRuleLine', () => {
  it('is JSON.stringify of the canonical structure, byte for byte', () => {
    const next = rng(20);
    for (let i = 0; i < 3000; i++) {
      const rule = randomRule(next);
      expect(canonicalRuleLine(rule)).toBe(JSON.stringify(canonicalRule(rule)));
    }
  });
});
