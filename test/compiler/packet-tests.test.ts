// Packet tests in the language: test blocks parse (the core grammar still takes the contextual
// words as names), lower to expectations with names resolved per direction, and run against
// the reference interpreter with coverage of the rules they reach.
import { describe, expect, it } from 'vitest';
import { Code } from '../../compiler/diagnostics.ts';
import { runTests } from '../../compiler/packet-tests.ts';
import { compile } from '../../compiler/program.ts';
import { createMemoryHost } from '../../compiler/source.ts';

const POLICY = `set office = 10.20.0.0/16
policy ingress default deny {
  100 ssh-office: allow tcp from office to any port 22
  200             deny  udp from any to any port 53
}
policy egress default allow {
  100 no-mail: deny tcp from any to any port 25
}
`;

function build(tests: string, extra: Record<string, string> = {}) {
  return compile(['web.seg', ...Object.keys(extra)], createMemoryHost({ 'web.seg': POLICY + tests, ...extra }));
}

describe('test blocks', () => {
  it('run against the reference meaning, with the deciding rule of every expectation', () => {
    const c = build(`
test "office reaches ssh" {
  expect allow tcp 10.20.1.5:40000 -> 10.0.1.7:22 ingress
  expect deny  tcp 192.0.2.1 -> 10.0.1.7:22
  expect rule ssh-office tcp 10.20.1.5 -> 10.0.1.7:22
  expect rule ingress/200 udp [2001:db8::1]:5353 -> [2001:db8::2]:53
  expect rule no-mail tcp 10.0.0.1:40000 -> 192.0.2.9:25
  expect default icmp 10.0.0.1 -> 10.0.0.2 type echo-request
  expect allow tcp 10.0.0.1:40000 -> 10.0.0.2:22
}
`);
    expect(c.diagnostics).toEqual([]);
    const run = runTests(c.ir!, c.tests);
    expect(run.results.map((r) => r.passed)).toEqual([true, true, true, true, true, true, false]);
    // `rule no-mail` names an egress rule only, so the expectation is an egress one.
    expect(run.results[4]?.expectation.direction).toBe('egress');
    // A destination port alone gives source port 40000.
    expect(run.results[1]?.expectation.packet.srcPort).toBe(40000);
    expect(run.results[6]?.actual.rule).toBeNull();
    expect(run.coverage.reached.map((r) => r.name)).toEqual(['ssh-office', 'ingress/200', 'no-mail']);
    expect(run.coverage.unreached).toEqual([]);
    expect(run.coverage.defaults).toEqual({ ingress: true, egress: false });
  });

  it('resolve names across the files of a compilation (a *.test.seg next to the policy)', () => {
    const c = build('', { 'web.test.seg': 'test "t" {\n  expect rule ssh-office tcp 10.20.1.5 -> 10.0.1.7:22\n}\n' });
    expect(c.diagnostics).toEqual([]);
    expect(runTests(c.ir!, c.tests).failed).toBe(0);
  });

  it('report unknown rule names with a suggestion, and bad packets, as errors of the compilation', () => {
    const c = build('test "t" {\n  expect rule ssh-ofice tcp 10.20.1.5 -> 10.0.1.7:22\n  expect allow tcp 10.0.0.1 -> 2001:db8::1\n  expect rule no-mail tcp 10.0.0.1:1 -> 10.0.0.2:25 ingress\n}\n');
    expect(c.diagnostics.map((d) => [d.code, d.hint])).toEqual([
      [Code.UnknownRuleInTest, "did you mean 'ssh-office'?"],
      [Code.InvalidTestPacket, expect.any(String)],
      [Code.UnknownRuleInTest, undefined],
    ]);
    expect(c.ir).toBeUndefined();
  });

  it('recover from a broken expectation line and keep the rest of the block', () => {
    const c = build('test "t" {\n  expect maybe tcp 10.0.0.1 -> 10.0.0.2:22\n  expect deny tcp 10.0.0.1 -> 10.0.0.2:23\n}\nset x = 10.0.0.0/8\n');
    expect(c.diagnostics.map((d) => d.code)).toEqual([Code.UnexpectedToken, Code.UnusedSet].slice(0, 1));
    expect(c.tests[0]?.expectations).toHaveLength(1);
  });

  it('leave the contextual words names in core files', () => {
    const c = compile(['a.seg'], createMemoryHost({ 'a.seg': 'set test = 10.0.0.0/8\nports expires = 22\npolicy ingress {\n  100 rule: allow tcp from test to any port expires\n  200 expect: deny any from any to any\n}\n' }));
    expect(c.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    expect(c.ir?.rules.map((r) => r.name)).toEqual(['rule', 'expect']);
  });
});
