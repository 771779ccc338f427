// The ClassBench support module: reading both rule formats and both trace formats, and the
// IR it builds agreeing with the traces' ground truth under the reference interpreter.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { evaluate } from '../../../compiler/evaluate.ts';
import {
  classBenchAgrees,
  classBenchToIr,
  classBenchToSeg,
  readClassBenchRules,
  readHs1Trace,
  readPartitionSortTrace,
} from '../../support/classbench.ts';
import { CORPUS } from '../../support/corpus.ts';

const read = (path: string) => readFileSync(`${CORPUS}/${path}`, 'utf8');

describe('readClassBenchRules', () => {
  it('reads the format without flags and clears host bits', () => {
    const [rule] = readClassBenchRules('@15.0.0.1/8 0.0.0.0/0 0 : 65535 6888 : 6888 0x06/0xFF\n');
    expect(rule).toEqual({
      index: 0,
      src: { value: 15 << 24, length: 8 },
      dst: { value: 0, length: 0 },
      srcPorts: [0, 65535],
      dstPorts: [6888, 6888],
      proto: { value: 6, mask: 0xff },
      flags: null,
    });
  });

  it('reads the tab-separated format with flags', () => {
    const [rule] = readClassBenchRules('@176.19.181.33/32\t90.145.23.162/32\t0 : 65535\t1550 : 1550\t0x06/0xFF\t0x0000/0x0200\t\n');
    expect(rule?.flags).toEqual({ value: 0, mask: 0x200 });
    expect(rule?.dstPorts).toEqual([1550, 1550]);
  });

  it('refuses a line that is not a rule', () => {
    expect(() => readClassBenchRules('@1.2.3.4/33 0.0.0.0/0 0 : 1 0 : 1 0x00/0x00\n')).toThrow(/line 1/);
    expect(() => readClassBenchRules('hello\n')).toThrow(/not a rule/);
  });
});

describe('classBenchToSeg', () => {
  it('writes wildcard protocols with ports as tcp, udp and sctp and skips port rules of portless protocols', () => {
    const rules = readClassBenchRules(
      [
        '@10.0.0.0/8 0.0.0.0/0 0 : 65535 0 : 65535 0x00/0x00',
        '@10.0.0.0/8 0.0.0.0/0 0 : 65535 53 : 53 0x00/0x00',
        '@10.0.0.0/8 0.0.0.0/0 123 : 123 0 : 65535 0x01/0xFF',
        '@10.0.0.0/8 1.2.3.4/32 1024 : 65535 80 : 80 0x06/0xFF',
      ].join('\n'),
    );
    const text = classBenchToSeg(rules, { defaultAction: 'allow' });
    expect(text.split('\n').slice(1)).toEqual([
      'policy ingress default allow {',
      '  1 allow any from 10.0.0.0/8 to 0.0.0.0/0',
      '  2 deny { tcp, udp, sctp } from 10.0.0.0/8 to 0.0.0.0/0 port 53',
      '  # 3: skipped, restricts ports of protocols without ports',
      '  4 deny tcp from 10.0.0.0/8 port 1024-65535 to 1.2.3.4/32 port 80',
      '}',
      '',
    ]);
    const { ir, skipped } = classBenchToIr(rules, { defaultAction: 'allow' });
    expect(skipped).toEqual([2]);
    expect(ir.ingress.rules.map((r) => r.priority)).toEqual([1, 2, 4]);
    const spanned = ir.ingress.rules.map((r) => text.slice(r.span.start, r.span.end));
    expect(spanned[2]).toBe('4 deny tcp from 10.0.0.0/8 port 1024-65535 to 1.2.3.4/32 port 80');
  });
});

describe('traces', () => {
  it('gives the hs1 trace answer for every header the segc meaning shares with ClassBench', () => {
    const rules = readClassBenchRules(read('classbench-hs1/rules/fw1_100'));
    const trace = readHs1Trace(read('classbench-hs1/traces/fw1_100_trace'));
    const { ir, ruleOf } = classBenchToIr(rules);
    expect(trace.length).toBe(920);
    let checked = 0;
    for (const entry of trace) {
      if (!classBenchAgrees(rules, entry.header)) continue;
      const decision = evaluate(ir.ingress, entry.packet);
      expect(decision.rule).toBe(ruleOf[entry.match]);
      checked++;
    }
    expect(checked).toBeGreaterThan(800);
  });

  it('reads a partitionsort trace whose generating rule is never before the first match', () => {
    const rules = readClassBenchRules(read('classbench-partitionsort/1k_1/fw3_seed_1.rules'));
    const trace = readPartitionSortTrace(read('classbench-partitionsort/1k_1/fw3_seed_1.rules_trace'));
    const { ir, ruleOf } = classBenchToIr(rules);
    expect(trace.length).toBeGreaterThan(500);
    for (const entry of trace.slice(0, 200)) {
      if (!classBenchAgrees(rules, entry.header)) continue;
      const decided = evaluate(ir.ingress, entry.packet).rule;
      expect(decided).not.toBeNull();
      expect(ruleOf.indexOf(decided)).toBeLessThanOrEqual(entry.matchAtMost);
    }
  });
});
