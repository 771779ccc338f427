import { describe, expect, it } from 'vitest';
import { evaluate, ruleMatches } from '../../compiler/evaluate.ts';
import type { DirectionIr, RuleIr, Verdict } from '../../compiler/ir.ts';
import { parsePacket, type Packet } from '../../compiler/packet.ts';

const SPAN = { file: 'test.seg', start: 0, end: 0 };
const ANY = { v4: ['0.0.0.0/0'], v6: ['::/0'] };

/** A rule that matches everything unless `parts` narrow it. */
function rule(priority: number, action: Verdict, parts: Partial<RuleIr> = {}): RuleIr {
  return {
    id: 0,
    direction: 'ingress',
    priority,
    name: `ingress/${priority}`,
    named: false,
    action,
    log: false,
    audit: false,
    protocols: null,
    src: ANY,
    dst: ANY,
    srcPorts: null,
    dstPorts: null,
    icmp: null,
    description: null,
    span: SPAN,
    ...parts,
  };
}

function direction(defaultAction: Verdict, rules: RuleIr[]): DirectionIr {
  return { direction: 'ingress', declared: true, defaultAction, defaultSpan: null, rules: [...rules].sort((a, b) => a.priority - b.priority) };
}

function packet(text: string): Packet {
  const r = parsePacket(text);
  if (!r.ok) throw new Error(r.error);
  return r.packet;
}

describe('evaluate', () => {
  it('lets the first matching rule by priority decide', () => {
    const web = rule(100, 'allow', { name: 'web', protocols: [6], dst: { v4: ['10.0.1.0/24'], v6: [] }, dstPorts: [[80, 80], [443, 443]] });
    const block = rule(200, 'deny', { protocols: [6], log: true });
    const d = direction('allow', [block, web]);
    expect(evaluate(d, packet('tcp 1.2.3.4:5000 -> 10.0.1.9:443'))).toEqual({ verdict: 'allow', log: false, audit: false, rule: web });
    expect(evaluate(d, packet('tcp 1.2.3.4:5000 -> 10.0.1.9:22'))).toEqual({ verdict: 'deny', log: true, audit: false, rule: block });
    expect(evaluate(d, packet('tcp 1.2.3.4:5000 -> 10.0.2.9:443'))).toEqual({ verdict: 'deny', log: true, audit: false, rule: block });
  });

  it('falls back to the default when no rule matches', () => {
    const d = direction('deny', [rule(1, 'allow', { protocols: [17] })]);
    expect(evaluate(d, packet('tcp 1.2.3.4:1 -> 5.6.7.8:2'))).toEqual({ verdict: 'deny', log: false, audit: false, rule: null });
    expect(evaluate(direction('allow', []), packet('udp ::1:1 -> ::2:2')).verdict).toBe('allow');
  });

  it('never matches a port rule on a packet without ports (a later fragment)', () => {
    const r = rule(1, 'deny', { protocols: [6], dstPorts: [[0, 65535]] });
    expect(ruleMatches(r, packet('tcp 1.2.3.4:1 -> 5.6.7.8:2'))).toBe(true);
    expect(ruleMatches(r, packet('tcp 1.2.3.4 -> 5.6.7.8'))).toBe(false);
    expect(ruleMatches(rule(1, 'deny', { protocols: [6] }), packet('tcp 1.2.3.4 -> 5.6.7.8'))).toBe(true);
    expect(ruleMatches(rule(1, 'deny', { srcPorts: [[1, 1]] }), packet('tcp 1.2.3.4:1 -> 5.6.7.8:2'))).toBe(true);
    expect(ruleMatches(rule(1, 'deny', { srcPorts: [[2, 9]] }), packet('tcp 1.2.3.4:1 -> 5.6.7.8:2'))).toBe(false);
  });

  it('matches icmp only on IPv4 packets and icmpv6 only on IPv6 packets', () => {
    const both = rule(1, 'allow', { protocols: [1, 58] });
    expect(ruleMatches(both, packet('icmp 10.0.0.1 -> 10.0.0.2'))).toBe(true);
    expect(ruleMatches(both, packet('icmpv6 ::1 -> ::2'))).toBe(true);
    // Protocol 1 inside IPv6 and 58 inside IPv4 are not ICMP of that family.
    expect(ruleMatches(rule(1, 'allow', { protocols: [1] }), packet('1 ::1 -> ::2'))).toBe(false);
    expect(ruleMatches(rule(1, 'allow', { protocols: [58] }), packet('58 10.0.0.1 -> 10.0.0.2'))).toBe(false);
  });

  it('compares the ICMP type of the packet\'s family and the code when given', () => {
    const echo = rule(1, 'allow', { protocols: [1, 58], icmp: { type4: 8, type6: 128, code: null } });
    expect(ruleMatches(echo, packet('icmp 10.0.0.1 -> 10.0.0.2 type echo-request'))).toBe(true);
    expect(ruleMatches(echo, packet('icmpv6 ::1 -> ::2 type echo-request'))).toBe(true);
    expect(ruleMatches(echo, packet('icmp 10.0.0.1 -> 10.0.0.2 type 128'))).toBe(false);
    expect(ruleMatches(echo, packet('icmp 10.0.0.1 -> 10.0.0.2'))).toBe(false);
    const v4Only = rule(1, 'allow', { protocols: [1], icmp: { type4: 3, type6: null, code: 4 } });
    expect(ruleMatches(v4Only, packet('icmp 10.0.0.1 -> 10.0.0.2 type 3 code 4'))).toBe(true);
    expect(ruleMatches(v4Only, packet('icmp 10.0.0.1 -> 10.0.0.2 type 3 code 1'))).toBe(false);
    expect(ruleMatches({ ...v4Only, protocols: [1, 58] }, packet('icmpv6 ::1 -> ::2 type 3 code 4'))).toBe(false);
  });

  it('needs both addresses in the rule\'s sets of the packet\'s family', () => {
    const r = rule(1, 'allow', { src: { v4: ['10.0.0.0/8'], v6: [] }, dst: { v4: ['0.0.0.0/0'], v6: ['::/0'] } });
    expect(ruleMatches(r, packet('udp 10.9.9.9:1 -> 192.0.2.1:2'))).toBe(true);
    expect(ruleMatches(r, packet('udp 11.0.0.0:1 -> 192.0.2.1:2'))).toBe(false);
    expect(ruleMatches(r, packet('udp [::a00:1]:1 -> [::1]:2'))).toBe(false);
  });
});
