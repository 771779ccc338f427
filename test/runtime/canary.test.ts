// The canary's pure parts: the share and step options, and the health gate between two steps.
import { InvalidArgumentError } from 'commander';
import { describe, expect, it } from 'vitest';
import { formatShare } from '../../runtime/canary-record.ts';
import { denyRate, judgeGate } from '../../runtime/canary.ts';
import type { CanaryCounts, CanaryRoleCounts } from '../../runtime/datapath/canary-stats.ts';
import { parseDenyIncrease, parseShare, parseSteps } from '../../runtime/cli/deploy-input.ts';
import { formatMonitorLine } from '../../runtime/cli/monitor.ts';

const zero: CanaryRoleCounts = { allow: 0n, deny: 0n, flows: 0n, flowDeny: 0n, wouldDeny: 0n, sessionHits: 0n, revoked: 0n };
const counts = (baseline: Partial<CanaryRoleCounts>, canary: Partial<CanaryRoleCounts>): CanaryCounts => ({ baseline: { ...zero, ...baseline }, canary: { ...zero, ...canary } });
const stages = { steps: [5, 25, 100], stepMs: 2000, maxDenyIncrease: 2, minFlows: 10, index: 0 };

describe('canary options', () => {
  it('reads shares as basis points, with or without a percent sign, to two decimals', () => {
    expect(parseShare('10%')).toBe(1000);
    expect(parseShare('12.5%')).toBe(1250);
    expect(parseShare('100')).toBe(10000);
    expect(parseShare('0%')).toBe(0);
    for (const bad of ['101%', '-5%', 'ten', '1.234%', '']) expect(() => parseShare(bad), bad).toThrow(InvalidArgumentError);
    expect(formatShare(1250)).toBe('12.5%');
  });

  it('takes increasing steps that end at 100', () => {
    expect(parseSteps('5,10,25,50,100')).toEqual([5, 10, 25, 50, 100]);
    for (const bad of ['5,10,50', '10,5,100', '0,100', '5,,100']) expect(() => parseSteps(bad), bad).toThrow(InvalidArgumentError);
    expect(parseDenyIncrease('0.5')).toBe(0.5);
    expect(() => parseDenyIncrease('200')).toThrow(InvalidArgumentError);
  });
});

describe('the health gate', () => {
  it('fails a step whose deny rate exceeds the baseline by more than the allowed points', () => {
    const start = counts({}, {});
    const now = counts({ flows: 1000n, flowDeny: 10n }, { flows: 100n, flowDeny: 5n });
    // 5 % against 1 %: +4 points > 2.
    const v = judgeGate(stages, start, now);
    expect(v.kind).toBe('fail');
    expect(v.why).toMatch(/deny rate 5\.0% over 100 packets vs the baseline's 1\.0% \(\+4\.0 points; at most \+2\)/);
  });

  it('passes a step within the allowance, counting audit would-denies as denies', () => {
    expect(judgeGate(stages, counts({}, {}), counts({ flows: 1000n, flowDeny: 10n }, { flows: 100n, flowDeny: 1n, wouldDeny: 1n })).kind).toBe('pass');
    expect(judgeGate(stages, counts({}, {}), counts({ flows: 1000n, flowDeny: 10n }, { flows: 100n, flowDeny: 1n, wouldDeny: 3n })).kind).toBe('fail');
  });

  it('judges the step only: what the canary counted before it does not count', () => {
    const start = counts({}, { flows: 100n, flowDeny: 100n });
    expect(judgeGate(stages, start, counts({ flows: 10n }, { flows: 200n, flowDeny: 100n })).kind).toBe('pass');
  });

  it('holds a step with too few classified packets, and judges the baseline as 0 % without flows', () => {
    expect(judgeGate(stages, counts({}, {}), counts({}, { flows: 9n, flowDeny: 9n })).kind).toBe('hold');
    expect(judgeGate(stages, counts({}, {}), counts({}, { flows: 50n, flowDeny: 0n })).kind).toBe('pass');
    expect(denyRate(zero)).toBeUndefined();
  });
});

describe('monitor during a canary', () => {
  it("names the canary's generation on its events, and only on its", () => {
    const line = { time: 'T', kind: 'packet', generation: 7, direction: 'ingress', iface: 'eth0', verdict: 'deny', reason: 'rule', rule: null, packet: 'udp 192.0.2.1:40000 -> 192.0.2.2:53', tcpFlags: '', length: 60 } as const;
    expect(formatMonitorLine(line, 7)).toMatch(/60 bytes {2}canary generation 7\n$/);
    expect(formatMonitorLine({ ...line, generation: 6 }, 7)).toMatch(/60 bytes\n$/);
    expect(formatMonitorLine(line)).toMatch(/60 bytes\n$/);
  });
});
