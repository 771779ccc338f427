import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { parseAddress, prefixTextsToRanges, rangesContain, rangesToPrefixTexts } from '../../compiler/cidr.ts';
import type { Diagnostic } from '../../compiler/diagnostics.ts';
import type { AddrSetIr, ProgramIr, RuleIr } from '../../compiler/ir.ts';
import { evaluate } from '../../compiler/evaluate.ts';
import { compile } from '../../compiler/program.ts';
import { createMemoryHost, type Span } from '../../compiler/source.ts';

function compileText(files: Readonly<Record<string, string>>, roots: readonly string[] = Object.keys(files)) {
  return compile(roots, createMemoryHost(files));
}

/** The IR of a policy that must compile cleanly. */
function irOf(text: string): ProgramIr {
  const c = compileText({ 'p.seg': text });
  expect(c.diagnostics.map((d) => `${d.code} ${d.message}`)).toEqual([]);
  if (!c.ir) throw new Error('no IR');
  return c.ir;
}

/** The one rule of ingress in a policy that must compile cleanly. */
function ruleOf(line: string, prelude = ''): RuleIr {
  const rules = irOf(`${prelude}\npolicy ingress {\n  100 ${line}\n}\n`).ingress.rules;
  expect(rules).toHaveLength(1);
  return rules[0] as RuleIr;
}

/** The span of the nth occurrence of `needle` in `text`. */
function spanOf(file: string, text: string, needle: string, nth = 0): Span {
  let at = text.indexOf(needle);
  for (let k = 0; k < nth && at >= 0; k++) at = text.indexOf(needle, at + 1);
  if (at < 0) throw new Error(`'${needle}' #${nth} not in the text`);
  return { file, start: at, end: at + needle.length };
}

const ALL = { v4: ['0.0.0.0/0'], v6: ['::/0'] };

describe('lower: addresses', () => {
  it('canonicalises literals, unions and any-forms into exact prefix sets per family', () => {
    const r = ruleOf('allow any from { 10.0.1.0/24, 10.0.0.0/24, 2001:DB8:0::/48, 10.0.2.7 } to any');
    expect(r.src).toEqual({ v4: ['10.0.0.0/23', '10.0.2.7/32'], v6: ['2001:db8::/48'] });
    expect(ruleOf('allow any from { 10.0.0.0/24, 2001:db8::/48 } to any4').src).toEqual({ v4: ['10.0.0.0/24'], v6: [] });
    expect(ruleOf('allow any from 10.0.0.0/08 to 192.168.1.1').src).toEqual({ v4: ['10.0.0.0/8'], v6: [] });
    expect(ruleOf('allow any from 10.0.0.0/08 to 192.168.1.1').dst).toEqual({ v4: ['192.168.1.1/32'], v6: [] });
    expect(ruleOf('allow any from 2001:DB8:0:0::1 to ::FFFF:10.0.0.1/128').dst).toEqual({ v4: [], v6: ['::ffff:a00:1/128'] });
    // The destination is IPv4 only, so the rule does not apply to IPv6: its IPv6 source empties.
    expect(ruleOf('allow any from any to any6').src).toEqual({ v4: [], v6: ['::/0'] });
    expect(ruleOf('allow any from any to any').dst).toEqual(ALL);
  });

  it('subtracts exactly with except, which binds looser than the braces', () => {
    const r = ruleOf('allow any from { 10.0.0.0/8, 192.168.0.0/16 } except { 10.128.0.0/9, 192.168.0.0/17 } to any');
    expect(r.src).toEqual({ v4: ['10.0.0.0/9', '192.168.128.0/17'], v6: [] });
    expect(ruleOf('allow any from any except any4 to any').src).toEqual({ v4: [], v6: ['::/0'] });
    expect(ruleOf('allow any from 10.0.0.0/30 except 10.0.0.1 to any').src.v4).toEqual(['10.0.0.0/32', '10.0.0.2/31']);
  });

  it('resolves set names through other sets, across files', () => {
    const c = compileText({
      'a.seg': 'include "b.seg"\nset admins = office except { 10.20.99.0/24 }\npolicy ingress {\n  1 allow tcp from admins to any\n}\n',
      'b.seg': 'set office = { 10.20.0.0/16, 2001:db8:20::/48 }\n',
    }, ['a.seg']);
    expect(c.diagnostics).toEqual([]);
    expect(c.ir?.ingress.rules[0]?.src).toEqual({
      v4: ['10.20.0.0/18', '10.20.64.0/19', '10.20.96.0/23', '10.20.98.0/24', '10.20.100.0/22', '10.20.104.0/21', '10.20.112.0/20', '10.20.128.0/17'],
      v6: ['2001:db8:20::/48'],
    });
  });
});

describe('lower: ports, protocols and ICMP', () => {
  it('merges port lists and ranges into sorted disjoint intervals', () => {
    const r = ruleOf('allow tcp from any port { 1024-2047, 80, 81, 2048-3000, 443 } to any port web', 'ports web = { 443, 80 }');
    expect(r.srcPorts).toEqual([[80, 81], [443, 443], [1024, 3000]]);
    expect(r.dstPorts).toEqual([[80, 80], [443, 443]]);
    expect(r.protocols).toEqual([6]);
  });

  it('sorts protocol lists, accepts numbers and reads any as no constraint', () => {
    expect(ruleOf('allow { udp, 47, tcp, sctp, tcp } from any to any').protocols).toEqual([6, 17, 47, 132]);
    expect(ruleOf('allow { tcp, any } from any to any').protocols).toBeNull();
    expect(ruleOf('allow { tcp, udp } from any port 53 to any').srcPorts).toEqual([[53, 53]]);
  });

  it('gives ICMP types per family and applies icmp to IPv4 and icmpv6 to IPv6', () => {
    const v4 = ruleOf('allow icmp from any to any icmp echo-request');
    expect(v4.icmp).toEqual({ type4: 8, type6: null, code: null });
    expect(v4.src).toEqual({ v4: ['0.0.0.0/0'], v6: [] });
    const v6 = ruleOf('allow icmpv6 from any to any icmp echo-request');
    expect(v6.icmp).toEqual({ type4: null, type6: 128, code: null });
    expect(v6.dst).toEqual({ v4: [], v6: ['::/0'] });
    const both = ruleOf('allow { icmp, icmpv6 } from any to any icmp time-exceeded/1');
    expect(both.icmp).toEqual({ type4: 11, type6: 3, code: 1 });
    expect(both.src).toEqual(ALL);
    expect(ruleOf('allow icmp from any to any icmp 3/4').icmp).toEqual({ type4: 3, type6: null, code: 4 });
  });

  it('drops the protocols and ICMP types of a family the addresses rule out', () => {
    const v6 = ruleOf('allow { icmp, icmpv6 } from any6 to any icmp echo-request');
    expect([v6.protocols, v6.icmp]).toEqual([[58], { type4: null, type6: 128, code: null }]);
    expect(ruleOf('allow { icmp, tcp } from 2001:db8::/32 to any').protocols).toEqual([6]);
    expect(ruleOf('allow { icmpv6, udp, 47 } from 10.0.0.0/8 to any').protocols).toEqual([17, 47]);
    expect(ruleOf('allow { icmp, icmpv6 } from any to any').protocols).toEqual([1, 58]);
  });

  it('reads actions, names, descriptions and unnamed rule names', () => {
    const ir = irOf('policy egress default allow {\n  7 deny log tcp from any to any "why"\n  5 web: log udp from any to any\n}\n');
    expect(ir.egress.rules.map((r) => [r.id, r.name, r.named, r.action, r.log, r.description])).toEqual([
      [0, 'web', true, 'allow', true, null],
      [1, 'egress/7', false, 'deny', true, 'why'],
    ]);
    expect(ir.egress.defaultAction).toBe('allow');
    // No ingress block: unfiltered (docs/language.md); an egress block without a default: deny.
    expect(ir.ingress).toEqual({ direction: 'ingress', declared: false, defaultAction: 'allow', defaultSpan: null, rules: [] });
    expect(ir.egress.declared).toBe(true);
    expect(irOf('policy egress {\n}\n').egress).toEqual({ direction: 'egress', declared: true, defaultAction: 'deny', defaultSpan: null, rules: [] });
  });
});

interface DiagnosticCase {
  readonly name: string;
  readonly files: Readonly<Record<string, string>>;
  readonly roots?: readonly string[];
  readonly code: string;
  /** Where the diagnostic points: file, the text and which occurrence of it. */
  readonly at: readonly [file: string, needle: string, nth?: number];
  readonly message: string;
  readonly hint?: string;
  /** Where its related spans point. */
  readonly related?: readonly (readonly [file: string, needle: string, nth?: number])[];
}

const rules = (...lines: string[]) => `policy ingress {\n${lines.map((l) => `  ${l}\n`).join('')}}\n`;

const CASES: readonly DiagnosticCase[] = [
  {
    name: 'an unknown address set, with a suggestion',
    files: { 'p.seg': `set office = 10.0.0.0/8\n${rules('1 allow tcp from offcie to any')}` },
    code: 'SEG2001', at: ['p.seg', 'offcie'], message: "unknown address set 'offcie'", hint: "did you mean 'office'?",
  },
  {
    name: 'an unknown port set whose name has two letters swapped, with a suggestion',
    files: { 'p.seg': `ports web = 80\n${rules('1 allow tcp from any to any port wbe')}` },
    code: 'SEG2002', at: ['p.seg', 'wbe'], message: "unknown port set 'wbe'", hint: "did you mean 'web'?",
  },
  {
    name: 'an unknown port set, without a close name',
    files: { 'p.seg': `ports web = 80\n${rules('1 allow tcp from any to any port database')}` },
    code: 'SEG2002', at: ['p.seg', 'database'], message: "unknown port set 'database'",
  },
  {
    name: 'a name declared twice across files',
    files: { 'a.seg': 'set web = 10.0.0.0/8\n', 'b.seg': 'ports web = 80\n' },
    code: 'SEG2003', at: ['b.seg', 'web'], message: "'web' is declared more than once", related: [['a.seg', 'web']],
  },
  {
    name: 'a rule name used twice in one direction',
    files: { 'p.seg': rules('1 ssh: allow tcp from any to any', '2 ssh: deny tcp from any to any') },
    code: 'SEG2004', at: ['p.seg', 'ssh', 1], message: "rule name 'ssh' is used twice in ingress", related: [['p.seg', 'ssh']],
  },
  {
    name: 'sets defined in terms of each other',
    files: { 'p.seg': 'set a = { 10.0.0.0/8, b }\nset b = a except 10.1.0.0/16\nset c = b\n' + rules('1 allow tcp from c to any') },
    code: 'SEG2005', at: ['p.seg', 'a'], message: "'a' is defined in terms of itself (a -> b -> a)", related: [['p.seg', 'b'], ['p.seg', 'a', 1]],
  },
  {
    name: 'a port set used as an address set',
    files: { 'p.seg': `ports web = 80\n${rules('1 allow tcp from web to any')}` },
    code: 'SEG2006', at: ['p.seg', 'web', 1], message: "'web' is a port set, but an address set is expected here", related: [['p.seg', 'web']],
  },
  {
    name: 'an IPv4 address with a number over 255',
    files: { 'p.seg': 'set a = 10.0.0.256\n' },
    code: 'SEG3001', at: ['p.seg', '10.0.0.256'], message: "'10.0.0.256' is not a valid IPv4 address", hint: 'each of the four numbers runs from 0 to 255',
  },
  {
    name: 'an IPv6 address with two ::',
    files: { 'p.seg': 'set a = 2001::db8::1\n' },
    code: 'SEG3002', at: ['p.seg', '2001::db8::1'], message: "'2001::db8::1' is not a valid IPv6 address",
  },
  {
    name: 'a CIDR with host bits set, hinting the network',
    files: { 'p.seg': 'set a = 10.0.0.1/8\n' },
    code: 'SEG3003', at: ['p.seg', '10.0.0.1/8'], message: "'10.0.0.1/8' has host bits set", hint: 'the network is 10.0.0.0/8',
  },
  {
    name: 'a prefix length beyond the family',
    files: { 'p.seg': 'set a = 2001:db8::/129\n' },
    code: 'SEG3004', at: ['p.seg', '/129'], message: 'prefix length /129 is out of range for IPv6', hint: 'use a length from 0 to 128',
  },
  {
    name: 'a port over 65535',
    files: { 'p.seg': 'ports p = { 80, 70000 }\n' },
    code: 'SEG3005', at: ['p.seg', '70000'], message: 'port 70000 is out of range',
  },
  {
    name: 'a reversed port range',
    files: { 'p.seg': 'ports p = 2000-1000\n' },
    code: 'SEG3006', at: ['p.seg', '2000-1000'], message: 'port range 2000-1000 is reversed', hint: 'write it as 1000-2000',
  },
  {
    name: 'a protocol number over 255',
    files: { 'p.seg': rules('1 allow 256 from any to any') },
    code: 'SEG3007', at: ['p.seg', '256'], message: 'protocol number 256 is out of range',
  },
  {
    name: 'a priority over 65535',
    files: { 'p.seg': rules('65536 allow tcp from any to any') },
    code: 'SEG3008', at: ['p.seg', '65536'], message: 'priority 65536 is out of range',
  },
  {
    name: 'one priority twice in a direction, across blocks and files',
    files: { 'a.seg': rules('10 allow tcp from any to any'), 'b.seg': rules('10 deny udp from any to any') },
    code: 'SEG3009', at: ['b.seg', '10'], message: 'priority 10 is used twice in ingress', related: [['a.seg', '10 allow tcp from any to any']],
  },
  {
    name: 'a port on a rule with a port-less protocol',
    files: { 'p.seg': rules('1 allow { tcp, icmp } from any to any port 80') },
    code: 'SEG3010', at: ['p.seg', '80'], message: "'port' needs every protocol of the rule to be tcp, udp or sctp, but it has icmp", related: [['p.seg', '{ tcp, icmp }']],
  },
  {
    name: 'an ICMP type on a rule with any protocol',
    files: { 'p.seg': rules('1 allow any from any to any icmp echo-request') },
    code: 'SEG3011', at: ['p.seg', 'icmp echo-request'], message: "'icmp' type needs every protocol of the rule to be icmp or icmpv6, but it has any", related: [['p.seg', 'any']],
  },
  {
    name: 'an unknown ICMP type name, with a suggestion',
    files: { 'p.seg': rules('1 allow icmp from any to any icmp echo-reqest') },
    code: 'SEG3012', at: ['p.seg', 'echo-reqest'], message: "unknown ICMP type 'echo-reqest'", hint: "did you mean 'echo-request'?",
  },
  {
    name: 'an ICMP code over 255',
    files: { 'p.seg': rules('1 allow icmp from any to any icmp 3/256') },
    code: 'SEG3013', at: ['p.seg', '256'], message: 'ICMP code 256 is out of range',
  },
  {
    name: 'an ICMP type over 255',
    files: { 'p.seg': rules('1 allow icmpv6 from any to any icmp 300') },
    code: 'SEG3013', at: ['p.seg', '300'], message: 'ICMP type 300 is out of range',
  },
  {
    name: 'an empty port list',
    files: { 'p.seg': rules('1 allow tcp from any to any port { }') },
    code: 'SEG3014', at: ['p.seg', '{ }'], message: 'empty { } port set',
  },
  {
    name: 'an empty protocol list',
    files: { 'p.seg': rules('1 allow { } from any to any') },
    code: 'SEG3014', at: ['p.seg', '{ }'], message: 'empty { } protocol list',
  },
  {
    name: 'an empty address set literal',
    files: { 'p.seg': 'set a = { }\n' },
    code: 'SEG3014', at: ['p.seg', '{ }'], message: 'empty { } address set',
  },
  {
    name: 'an except that removes everything',
    files: { 'p.seg': 'set a = { 10.0.0.0/9, 10.128.0.0/9 } except 10.0.0.0/8\n' },
    code: 'SEG3015', at: ['p.seg', '{ 10.0.0.0/9, 10.128.0.0/9 } except 10.0.0.0/8'], message: "'except' removes every address, leaving an empty set",
  },
  {
    name: 'a rule from IPv4 only to IPv6 only',
    files: { 'p.seg': rules('1 allow tcp from 10.0.0.0/8 to 2001:db8::/32') },
    code: 'SEG3016', at: ['p.seg', '1 allow tcp from 10.0.0.0/8 to 2001:db8::/32'],
    message: 'this rule can match no packet: the source has only IPv4 addresses and the destination only IPv6 addresses',
    hint: 'use addresses of one family on both sides, or split the rule per family',
  },
  {
    name: 'an icmp rule between IPv6 addresses',
    files: { 'p.seg': rules('1 allow icmp from any6 to any') },
    code: 'SEG3016', at: ['p.seg', '1 allow icmp from any6 to any'],
    message: 'this rule can match no packet: icmp exists only in IPv4, but the addresses are IPv6 only', hint: 'use icmpv6 for IPv6 addresses',
  },
  {
    name: 'an icmpv6 rule between IPv4 addresses',
    files: { 'p.seg': rules('1 allow icmpv6 from 10.0.0.0/8 to any') },
    code: 'SEG3016', at: ['p.seg', '1 allow icmpv6 from 10.0.0.0/8 to any'],
    message: 'this rule can match no packet: icmpv6 exists only in IPv6, but the addresses are IPv4 only', hint: 'use icmp for IPv4 addresses',
  },
  {
    name: 'a set that becomes IPv6 only through except, against an IPv4 destination',
    files: { 'p.seg': 'set v6 = any except any4\n' + rules('1 allow udp from v6 to 10.0.0.1') },
    code: 'SEG3016', at: ['p.seg', '1 allow udp from v6 to 10.0.0.1'],
    message: 'this rule can match no packet: the source has only IPv6 addresses and the destination only IPv4 addresses',
  },
  {
    name: 'two blocks of one direction stating different defaults',
    files: { 'a.seg': 'policy egress default allow {\n}\n', 'b.seg': 'policy egress default deny {\n}\n' },
    code: 'SEG3017', at: ['b.seg', 'default deny'], message: 'egress default is deny here but allow elsewhere', related: [['a.seg', 'default allow']],
  },
  {
    name: 'an ICMP type name the rule\'s family lacks',
    files: { 'p.seg': rules('1 allow icmp from any to any icmp packet-too-big') },
    code: 'SEG3018', at: ['p.seg', 'packet-too-big'], message: "ICMP type 'packet-too-big' does not exist for icmp",
    hint: "'packet-too-big' is an icmpv6 type; use protocol icmpv6, or a type number",
  },
  {
    name: 'an ICMP type name one of the rule\'s two families lacks',
    files: { 'p.seg': rules('1 allow { icmp, icmpv6 } from any to any icmp source-quench') },
    code: 'SEG3018', at: ['p.seg', 'source-quench'], message: "ICMP type 'source-quench' does not exist for icmpv6",
    hint: "'source-quench' exists only for icmp; split the rule into an icmp and an icmpv6 rule",
  },
  {
    name: 'a missing include',
    files: { 'dir/p.seg': 'include "../common.seg"\n' },
    code: 'SEG4001', at: ['dir/p.seg', '"../common.seg"'], message: "cannot find included file 'common.seg'",
  },
  {
    name: 'an include cycle of three files',
    files: { 'a.seg': 'include "b.seg"\n', 'b.seg': 'include "c.seg"\n', 'c.seg': 'include "a.seg"\n' },
    roots: ['b.seg'],
    code: 'SEG4002', at: ['a.seg', '"b.seg"'], message: 'include cycle: b.seg -> c.seg -> a.seg -> b.seg',
  },
];

describe('lower and resolve: each diagnostic, with its exact span', () => {
  it.each(CASES)('reports $code for $name', (c) => {
    const compilation = compileText(c.files, c.roots);
    const span = (file: string, needle: string, nth = 0) => spanOf(file, c.files[file] as string, needle, nth);
    expect(compilation.diagnostics.map((d: Diagnostic) => ({ code: d.code, span: d.span, message: d.message }))).toEqual([
      { code: c.code, span: span(...c.at), message: c.message },
    ]);
    const d = compilation.diagnostics[0] as Diagnostic;
    if (c.hint !== undefined) expect(d.hint).toBe(c.hint);
    if (c.related !== undefined) expect(d.related.map((r) => r.span)).toEqual(c.related.map((r) => span(...r)));
    expect(compilation.ir).toBeUndefined();
  });
});

describe('lower: large inputs', () => {
  it('compiles a chain of 10 000 sets, each using the one declared after it, without deep recursion', () => {
    const n = 10_000;
    const lines = Array.from({ length: n }, (_, i) => (i === n - 1 ? `set s${i} = 10.0.0.0/16` : `set s${i} = { s${i + 1}, 10.${1 + (i % 200)}.0.0/16 }`));
    const ir = irOf(lines.join('\n') + '\n' + rules('1 allow tcp from s0 to any'));
    expect(ir.ingress.rules[0]?.src.v4).toEqual(['10.0.0.0/9', '10.128.0.0/10', '10.192.0.0/13', '10.200.0.0/16']);
  });
});

describe('lower: one mistake, one diagnostic', () => {
  it('skips rules and sets that depend on a failed declaration', () => {
    const c = compileText({
      'p.seg': 'set bad = 10.0.0.1/8\nset worse = { bad, 10.1.0.0/16 }\nports p = 99999\n' + rules('1 allow tcp from worse to bad port p', '2 allow tcp from any to any port p'),
    });
    expect(c.diagnostics.map((d) => d.code)).toEqual(['SEG3003', 'SEG3005']);
  });

  it('reports independent mistakes of one rule each once', () => {
    const c = compileText({ 'p.seg': rules('70000 allow 300 from 10.0.0.0/33 to 10.0.0.300 port 99999') });
    expect(c.diagnostics.map((d) => d.code)).toEqual(['SEG3008', 'SEG3007', 'SEG3004', 'SEG3001', 'SEG3005']);
  });

  it('adds nothing to the syntax error of a rule or declaration the parser recovered', () => {
    const c = compileText({ 'p.seg': 'set a = { 10.0.0.1/8,\n' + rules('1 allow tcp from a to', '2 allow tcp from 10.0.0.1/8 to a port') });
    expect(c.diagnostics.length).toBeGreaterThan(0);
    expect(c.diagnostics.filter((d) => !d.code.startsWith('SEG1'))).toEqual([]);
    expect(c.ir).toBeUndefined();
  });

  it('still checks the values of a declaration that failed on a name', () => {
    const c = compileText({ 'p.seg': 'set a = ofice except { 10.20.99.1/24 }\nset b = { b, 10.0.0.1/8 }\nports p = { nope, 70000 }\n' });
    expect(c.diagnostics.map((d) => d.code)).toEqual(['SEG2001', 'SEG3003', 'SEG2005', 'SEG3003', 'SEG2002', 'SEG3005']);
  });

  it('reports a missing include, not the names it may have declared', () => {
    const c = compileText({ 'p.seg': 'include "gone.seg"\nset a = { office, 10.0.0.1/8 }\n' + rules('1 allow tcp from a to any port web') });
    expect(c.diagnostics.map((d) => d.code)).toEqual(['SEG4001', 'SEG3003']);
  });

  it('still checks the value of a repeated declaration', () => {
    const c = compileText({ 'p.seg': 'set a = 10.0.0.0/8\nset a = { 10.0.0.1/8 }\nports a = 2-1\n' });
    expect(c.diagnostics.map((d) => d.code)).toEqual(['SEG2003', 'SEG3003', 'SEG2003', 'SEG3006']);
  });

  it('reports overlapping cycles once, and disjoint ones each', () => {
    const c = compileText({ 'p.seg': 'set a = a except b\nset b = { a, b } except any\nset c = d\nset d = c\n' });
    expect(c.diagnostics.map((d) => `${d.code} ${d.message}`)).toEqual([
      "SEG2005 'a' is defined in terms of itself (a -> a)",
      "SEG2005 'c' is defined in terms of itself (c -> d -> c)",
    ]);
  });

  it('reports a cycle once and not again for the sets that use it', () => {
    const c = compileText({ 'p.seg': 'set a = a\nset b = a\nset c = { b, 10.0.0.0/8 }\n' + rules('1 allow tcp from c to b') });
    expect(c.diagnostics.map((d) => `${d.code} ${d.message}`)).toEqual(["SEG2005 'a' is defined in terms of itself (a -> a)"]);
  });
});

// ---- Property: lowering's address sets equal a brute-force membership check -----------------------

// Literals lie in 10.0.0.0/28 and 2001:db8::/124, so every expression is constant on the rest of
// each family: these points, plus one outside per family, decide every set exactly.
const V4 = Array.from({ length: 16 }, (_, i) => `10.0.0.${i}`);
const V6 = Array.from({ length: 16 }, (_, i) => `2001:db8::${i.toString(16)}`);
const POINTS = [...V4, '11.0.0.0', ...V6, '2001:db9::'];

type Expr =
  | { kind: 'lit'; family: 4 | 6; base: number; length: number }
  | { kind: 'any'; which: 'any' | 'any4' | 'any6' }
  | { kind: 'ref'; index: number }
  | { kind: 'list'; items: Expr[] }
  | { kind: 'except'; base: Expr; excluded: Expr };

function exprArb(refs: number): fc.Arbitrary<Expr> {
  const lit = fc.tuple(fc.constantFrom(4 as const, 6 as const), fc.integer({ min: 0, max: 4 }), fc.nat(15)).map(([family, bits, v]): Expr => ({
    kind: 'lit',
    family,
    base: v & ~((1 << bits) - 1),
    length: (family === 4 ? 32 : 128) - bits,
  }));
  const leaves: fc.Arbitrary<Expr>[] = [lit, lit, fc.constantFrom<Expr>({ kind: 'any', which: 'any' }, { kind: 'any', which: 'any4' }, { kind: 'any', which: 'any6' })];
  if (refs > 0) leaves.push(fc.nat(refs - 1).map((index): Expr => ({ kind: 'ref', index })));
  const { expr } = fc.letrec<{ expr: Expr; list: Expr }>((tie) => ({
    expr: fc.oneof({ maxDepth: 3, withCrossShrink: true }, ...leaves, tie('list'), fc.record({ kind: fc.constant('except' as const), base: tie('list'), excluded: tie('list') })),
    list: fc.oneof({ maxDepth: 3 }, ...leaves, fc.record({ kind: fc.constant('list' as const), items: fc.array(tie('expr'), { minLength: 1, maxLength: 3 }) })),
  }));
  return expr;
}

function exprText(e: Expr): string {
  switch (e.kind) {
    case 'lit':
      return e.family === 4 ? `10.0.0.${e.base}/${e.length}` : `2001:db8::${e.base.toString(16)}/${e.length}`;
    case 'any':
      return e.which;
    case 'ref':
      return `s${e.index}`;
    case 'list':
      return `{ ${e.items.map(exprText).join(', ')} }`;
    case 'except':
      return `${exprText(e.base)} except ${exprText(e.excluded)}`;
  }
}

/** Membership of each of POINTS, and whether some `except` in it comes out empty. */
function bruteForce(e: Expr, sets: readonly { members: boolean[]; emptyExcept: boolean }[]): { members: boolean[]; emptyExcept: boolean } {
  switch (e.kind) {
    case 'lit': {
      const size = 2 ** ((e.family === 4 ? 32 : 128) - e.length);
      const list = e.family === 4 ? V4 : V6;
      return { members: POINTS.map((p) => list.indexOf(p) >= e.base && list.indexOf(p) < e.base + size), emptyExcept: false };
    }
    case 'any':
      return { members: POINTS.map((p) => (p.includes(':') ? e.which !== 'any4' : e.which !== 'any6')), emptyExcept: false };
    case 'ref':
      return sets[e.index] as { members: boolean[]; emptyExcept: boolean };
    case 'list': {
      const parts = e.items.map((i) => bruteForce(i, sets));
      return { members: POINTS.map((_, k) => parts.some((p) => p.members[k])), emptyExcept: parts.some((p) => p.emptyExcept) };
    }
    case 'except': {
      const b = bruteForce(e.base, sets);
      const x = bruteForce(e.excluded, sets);
      const members = POINTS.map((_, k) => (b.members[k] as boolean) && !x.members[k]);
      return { members, emptyExcept: b.emptyExcept || x.emptyExcept || !members.some(Boolean) };
    }
  }
}

function irContains(set: AddrSetIr, point: string): boolean {
  const a = parseAddress(point);
  if (!a) throw new Error(point);
  return rangesContain(prefixTextsToRanges(a.family === 4 ? set.v4 : set.v6), a.value);
}

describe('lower: address sets, property', () => {
  it('equal a brute-force membership check on random small policies', () => {
    const policy = fc.tuple(exprArb(0), exprArb(1), exprArb(2)).chain(([s0, s1, s2]) => fc.tuple(fc.constant([s0, s1, s2]), exprArb(3)));
    fc.assert(
      fc.property(policy, ([sets, src]) => {
        const text = sets.map((s, i) => `set s${i} = ${exprText(s)}\n`).join('') + rules(`1 allow any from ${exprText(src)} to any`);
        const truths: { members: boolean[]; emptyExcept: boolean }[] = [];
        for (const s of sets) truths.push(bruteForce(s, truths));
        const truth = bruteForce(src, truths);
        const c = compileText({ 'p.seg': text });
        if (truths.some((t) => t.emptyExcept) || truth.emptyExcept) {
          expect(c.diagnostics.length).toBeGreaterThan(0);
          expect(new Set(c.diagnostics.map((d) => d.code))).toEqual(new Set(['SEG3015']));
          return;
        }
        expect(c.diagnostics).toEqual([]);
        const rule = c.ir?.ingress.rules[0] as RuleIr;
        expect(POINTS.filter((p) => irContains(rule.src, p))).toEqual(POINTS.filter((_, k) => truth.members[k]));
        // Canonical: the printed prefixes are the minimal cover of their own ranges.
        expect(rangesToPrefixTexts(4, prefixTextsToRanges(rule.src.v4))).toEqual(rule.src.v4);
        expect(rangesToPrefixTexts(6, prefixTextsToRanges(rule.src.v6))).toEqual(rule.src.v6);
      }),
      { numRuns: 300 },
    );
  });
});

// ---- Property: compiled rules decide packets as the policy's plain meaning does ---------------------

const PROTOS = { tcp: 6, udp: 17, icmp: 1, icmpv6: 58, '47': 47 } as const;
type ProtoWord = keyof typeof PROTOS;
const ICMP_NAMES = ['echo-request', 'echo-reply', 'destination-unreachable', 'time-exceeded', 'parameter-problem'] as const;
const ICMP_NUMBERS: Readonly<Record<(typeof ICMP_NAMES)[number], readonly [number, number]>> = {
  'echo-request': [8, 128],
  'echo-reply': [0, 129],
  'destination-unreachable': [3, 1],
  'time-exceeded': [11, 3],
  'parameter-problem': [12, 4],
};
const PORTS = [0, 53, 80, 443, 1024, 65535];

interface ModelRule {
  readonly priority: number;
  readonly action: 'allow' | 'deny' | 'log';
  readonly protocols: readonly ProtoWord[] | null;
  readonly src: Expr;
  readonly dst: Expr;
  readonly srcPorts?: readonly (readonly [number, number])[];
  readonly dstPorts?: readonly (readonly [number, number])[];
  readonly icmp?: { readonly type: (typeof ICMP_NAMES)[number] | number; readonly code?: number };
}

interface ModelPacket {
  readonly proto: number;
  readonly src: string;
  readonly dst: string;
  readonly srcPort?: number;
  readonly dstPort?: number;
  readonly icmpType?: number;
  readonly icmpCode?: number;
}

const portsArb = fc.array(fc.tuple(fc.constantFrom(...PORTS), fc.constantFrom(...PORTS)).map(([a, b]): readonly [number, number] => [Math.min(a, b), Math.max(a, b)]), { minLength: 1, maxLength: 3 });

/** Addresses of one family mostly (so most rules can match), sometimes anything at all. */
function sideArb(family: 4 | 6): fc.Arbitrary<Expr> {
  const lit = fc.tuple(fc.integer({ min: 0, max: 4 }), fc.oneof(fc.nat(3), fc.nat(15))).map(([bits, v]): Expr => ({ kind: 'lit', family, base: v & ~((1 << bits) - 1), length: (family === 4 ? 32 : 128) - bits }));
  const list = fc.array(lit, { minLength: 1, maxLength: 3 }).map((items): Expr => ({ kind: 'list', items }));
  const minus = fc.tuple(lit, lit).map(([base, excluded]): Expr => ({ kind: 'except', base: { kind: 'any', which: 'any' }, excluded: { kind: 'list', items: [base, excluded] } }));
  return fc.oneof(
    { weight: 3, arbitrary: lit },
    { weight: 2, arbitrary: list },
    { weight: 2, arbitrary: fc.constantFrom<Expr>({ kind: 'any', which: 'any' }, { kind: 'any', which: family === 4 ? 'any4' : 'any6' }) },
    { weight: 1, arbitrary: minus },
    { weight: 1, arbitrary: exprArb(0) },
  );
}

const sidesArb = fc.constantFrom(4 as const, 6 as const).chain((family) => fc.record({ src: sideArb(family), dst: sideArb(family) }));

const modelRuleArb: fc.Arbitrary<Omit<ModelRule, 'priority'>> = fc.oneof(
  // Any protocols, no ports or ICMP type.
  fc.record({ action: fc.constantFrom('allow' as const, 'deny' as const, 'log' as const), protocols: fc.option(fc.uniqueArray(fc.constantFrom<ProtoWord>('tcp', 'udp', 'icmp', 'icmpv6', '47'), { minLength: 1, maxLength: 3 }), { nil: null }), sides: sidesArb }),
  // Port protocols with ports.
  fc.record(
    { action: fc.constantFrom('allow' as const, 'deny' as const), protocols: fc.uniqueArray(fc.constantFrom<ProtoWord>('tcp', 'udp'), { minLength: 1, maxLength: 2 }), sides: sidesArb, srcPorts: portsArb, dstPorts: portsArb },
    { requiredKeys: ['action', 'protocols', 'sides'] },
  ),
  // ICMP protocols with a type (name or number) and maybe a code.
  fc.record({
    action: fc.constantFrom('allow' as const, 'deny' as const),
    protocols: fc.uniqueArray(fc.constantFrom<ProtoWord>('icmp', 'icmpv6'), { minLength: 1, maxLength: 2 }),
    sides: sidesArb,
    icmp: fc.record({ type: fc.oneof(fc.constantFrom(...ICMP_NAMES), fc.constantFrom(0, 3, 8, 128)), code: fc.nat(1) }, { requiredKeys: ['type'] }),
  }),
).map(({ sides, ...rest }) => ({ ...rest, ...sides }));

function modelRuleText(r: ModelRule): string {
  const proto = r.protocols === null ? 'any' : r.protocols.length === 1 ? r.protocols[0] : `{ ${r.protocols.join(', ')} }`;
  const portText = (ps: readonly (readonly [number, number])[]) => `{ ${ps.map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`)).join(', ')} }`;
  let s = `${r.priority} ${r.action} ${proto} from ${exprText(r.src)}`;
  if (r.srcPorts) s += ` port ${portText(r.srcPorts)}`;
  s += ` to ${exprText(r.dst)}`;
  if (r.dstPorts) s += ` port ${portText(r.dstPorts)}`;
  if (r.icmp) s += ` icmp ${r.icmp.type}${r.icmp.code === undefined ? '' : `/${r.icmp.code}`}`;
  return s;
}

function modelMatches(r: ModelRule, p: ModelPacket): boolean {
  const family = p.src.includes(':') ? 6 : 4;
  if (r.protocols !== null) {
    if (!r.protocols.some((w) => PROTOS[w] === p.proto)) return false;
    if ((p.proto === 1 && family !== 4) || (p.proto === 58 && family !== 6)) return false;
  }
  const k = (a: string) => POINTS.indexOf(a);
  if (!bruteForce(r.src, []).members[k(p.src)] || !bruteForce(r.dst, []).members[k(p.dst)]) return false;
  const inPorts = (ps: ModelRule['srcPorts'], port: number | undefined) => ps === undefined || (port !== undefined && ps.some(([a, b]) => port >= a && port <= b));
  if (!inPorts(r.srcPorts, p.srcPort) || !inPorts(r.dstPorts, p.dstPort)) return false;
  if (r.icmp) {
    if (p.icmpType === undefined) return false;
    const t = r.icmp.type;
    const type = typeof t === 'number' ? t : ICMP_NUMBERS[t][family === 4 ? 0 : 1];
    if (type !== p.icmpType) return false;
    if (r.icmp.code !== undefined && r.icmp.code !== p.icmpCode) return false;
  }
  return true;
}

const packetArb: fc.Arbitrary<ModelPacket> = fc.constantFrom(4, 6).chain((family) => {
  const addrs = POINTS.filter((p) => p.includes(':') === (family === 6));
  // Most packets use the first few addresses, where most literals lie, so that rules match often.
  const addr = fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...addrs.slice(0, 4)) }, { weight: 1, arbitrary: fc.constantFrom(...addrs) });
  const proto = fc.constantFrom(1, 6, 17, 58, 47);
  return fc.tuple(proto, addr, addr, fc.boolean(), fc.constantFrom(...PORTS), fc.constantFrom(...PORTS), fc.constantFrom(0, 1, 3, 4, 8, 11, 128, 129), fc.nat(1)).map(
    ([proto, src, dst, fragment, sp, dp, type, code]): ModelPacket => {
      if (fragment) return { proto, src, dst };
      if (proto === 6 || proto === 17) return { proto, src, dst, srcPort: sp, dstPort: dp };
      if ((proto === 1 && family === 4) || (proto === 58 && family === 6)) return { proto, src, dst, icmpType: type, icmpCode: code };
      return { proto, src, dst };
    },
  );
});

describe('lower: whole rules, property', () => {
  it('decide random packets as the plain meaning of random policies does', () => {
    const policyArb = fc.tuple(fc.array(modelRuleArb, { minLength: 1, maxLength: 5 }), fc.constantFrom('allow' as const, 'deny' as const), fc.array(packetArb, { minLength: 40, maxLength: 40 }));
    fc.assert(
      fc.property(policyArb, ([drafts, defaultVerdict, packets]) => {
        const model: ModelRule[] = drafts.map((d, i) => ({ ...d, priority: (i + 1) * 10 }));
        const text = `policy ingress default ${defaultVerdict} {\n${model.map((r) => `  ${modelRuleText(r)}\n`).join('')}}\n`;
        const c = compileText({ 'p.seg': text });
        const emptyExcept = model.some((r) => bruteForce(r.src, []).emptyExcept || bruteForce(r.dst, []).emptyExcept);
        if (emptyExcept) {
          expect(c.diagnostics.map((d) => d.code)).toContain('SEG3015');
          return;
        }
        // Rules that no packet of either family can match are errors; the model must agree.
        const reported = new Set(c.diagnostics.filter((d) => d.code === 'SEG3016').map((d) => d.span.start));
        for (const r of model) {
          const start = text.indexOf(`\n  ${r.priority} `) + 3;
          const canMatch = [4, 6].some((family) => {
            const has = (e: Expr) => POINTS.some((p, k) => p.includes(':') === (family === 6) && bruteForce(e, []).members[k]);
            const protoOk = r.protocols === null || r.protocols.some((w) => PROTOS[w] !== (family === 4 ? 58 : 1));
            return has(r.src) && has(r.dst) && protoOk;
          });
          expect(reported.has(start)).toBe(!canMatch);
        }
        if (reported.size > 0) return;
        expect(c.diagnostics).toEqual([]);
        const ir = c.ir as ProgramIr;
        for (const p of packets) {
          const decision = evaluate(ir.ingress, p);
          const first = model.find((r) => modelMatches(r, p));
          expect([decision.verdict, decision.rule?.priority ?? null, decision.log]).toEqual(
            first ? [first.action === 'deny' ? 'deny' : 'allow', first.priority, first.action === 'log'] : [defaultVerdict, null, false],
          );
        }
      }),
      { numRuns: 300 },
    );
  });
});
