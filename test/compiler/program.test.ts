import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { hashProgram } from '../../compiler/hash.ts';
import type { ProgramIr, RuleIr } from '../../compiler/ir.ts';
import { compile } from '../../compiler/program.ts';
import { createMemoryHost, spanText } from '../../compiler/source.ts';
import { SPEC_EXAMPLE } from '../support/spec-example.ts';

const WEB_SEG = SPEC_EXAMPLE;

const COMMON_SEG = '# shared by every tier\nports dns = 53\n';

const ALL = { v4: ['0.0.0.0/0'], v6: ['::/0'] };
const ALL4 = { v4: ['0.0.0.0/0'], v6: [] };

/** A rule's meaning, without the fields the test checks separately (id, direction, span). */
function meaning(r: RuleIr) {
  return {
    priority: r.priority,
    name: r.name,
    named: r.named,
    action: r.action,
    log: r.log,
    protocols: r.protocols,
    src: r.src,
    dst: r.dst,
    srcPorts: r.srcPorts,
    dstPorts: r.dstPorts,
    icmp: r.icmp,
    description: r.description,
  };
}

const rule = (r: Partial<ReturnType<typeof meaning>>) => ({
  named: false,
  action: 'allow',
  log: false,
  protocols: null,
  src: ALL,
  dst: ALL,
  srcPorts: null,
  dstPorts: null,
  icmp: null,
  description: null,
  ...r,
});

function compiled(files: Readonly<Record<string, string>>, roots: readonly string[]): ProgramIr {
  const c = compile(roots, createMemoryHost(files));
  expect(c.diagnostics.map((d) => `${d.span.file}: ${d.code} ${d.message}`)).toEqual([]);
  if (!c.ir) throw new Error('no IR');
  return c.ir;
}

describe('compile', () => {
  it('compiles the spec\'s first example to the IR the spec means', () => {
    const c = compile(['web.seg'], createMemoryHost({ 'web.seg': WEB_SEG, 'common.seg': COMMON_SEG }));
    expect(c.diagnostics).toEqual([]);
    const ir = c.ir as ProgramIr;
    const admins = ['10.20.0.0/18', '10.20.64.0/19', '10.20.96.0/23', '10.20.98.0/24', '10.20.100.0/22', '10.20.104.0/21', '10.20.112.0/20', '10.20.128.0/17'];
    expect(ir.ingress.rules.map(meaning)).toEqual([
      rule({ priority: 100, name: 'public-web', named: true, protocols: [6], src: ALL4, dst: { v4: ['10.0.1.0/24'], v6: [] }, dstPorts: [[80, 80], [443, 443]], description: 'public web' }),
      rule({ priority: 200, name: 'ssh-office', named: true, protocols: [6], src: { v4: admins, v6: ['2001:db8:20::/48'] }, dstPorts: [[22, 22]] }),
      rule({ priority: 300, name: 'ingress/300', action: 'deny', src: ALL4, dst: { v4: ['10.0.2.0/23'], v6: [] } }),
      rule({ priority: 400, name: 'ingress/400', log: true, protocols: [17], dstPorts: [[53, 53]] }),
      rule({ priority: 500, name: 'ingress/500', protocols: [1], src: { v4: ['10.20.0.0/16'], v6: [] }, dst: ALL4, icmp: { type4: 8, type6: null, code: null } }),
      rule({ priority: 600, name: 'ingress/600', action: 'deny', log: true, protocols: [6], srcPorts: [[32768, 60999]], dstPorts: [[1, 1023]] }),
    ]);
    expect(ir.egress.rules.map(meaning)).toEqual([
      rule({ priority: 100, name: 'no-mail', named: true, action: 'deny', protocols: [6], dstPorts: [[25, 25], [465, 465], [587, 587]] }),
    ]);
    expect(ir.rules.map((r) => [r.id, r.direction, r.name])).toEqual([
      [0, 'ingress', 'public-web'],
      [1, 'ingress', 'ssh-office'],
      [2, 'ingress', 'ingress/300'],
      [3, 'ingress', 'ingress/400'],
      [4, 'ingress', 'ingress/500'],
      [5, 'ingress', 'ingress/600'],
      [6, 'egress', 'no-mail'],
    ]);
    expect(ir.ingress.rules[0]).toBe(ir.rules[0]);
    const web = c.sources.get('web.seg');
    if (!web) throw new Error('web.seg not in sources');
    expect(ir.rules.map((r) => spanText(web, r.span))).toEqual([
      '100 public-web:  allow tcp  from any    to web_tier port web      "public web"',
      '200 ssh-office:  allow tcp  from admins to any port 22',
      '300              deny  any  from any    to db_tier',
      '400              log   udp  from any    to any port 53',
      '500              allow icmp from office to any icmp echo-request',
      '600              deny log tcp from any port ephemeral to any port { 1-1023 }',
      '100 no-mail: deny tcp from any to any port { 25, 465, 587 }',
    ]);
    expect([ir.ingress.defaultAction, ir.egress.defaultAction]).toEqual(['deny', 'allow']);
    expect(spanText(web, ir.ingress.defaultSpan ?? { file: 'web.seg', start: 0, end: 0 })).toBe('default deny');
    expect(ir.declarations.map((d) => [d.kind, d.name, d.uses.length])).toEqual([
      ['ports', 'dns', 0],
      ['set', 'office', 2],
      ['set', 'web_tier', 1],
      ['set', 'db_tier', 1],
      ['set', 'admins', 1],
      ['ports', 'web', 1],
      ['ports', 'ephemeral', 1],
    ]);
    expect(ir.files).toEqual(['common.seg', 'web.seg']);
    expect(hashProgram(ir)).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect([...c.sources.keys()]).toEqual(['common.seg', 'web.seg']);
    expect([...c.asts.keys()]).toEqual(['common.seg', 'web.seg']);
  });

  it('hashes whether a block declared a direction: an undeclared one differs from an empty one', () => {
    const hashOf = (text: string) => {
      const ir = compile(['p.seg'], createMemoryHost({ 'p.seg': text })).ir;
      return ir && hashProgram(ir);
    };
    const inbound = 'policy ingress default deny {\n  1 allow tcp from any to any port 22\n}\n';
    const none = hashOf(inbound);
    const open = hashOf(inbound + 'policy egress default allow {\n}\n');
    const closed = hashOf(inbound + 'policy egress {\n}\n');
    expect(new Set([none, open, closed]).size).toBe(3);
    expect(hashOf(inbound)).toBe(none);
  });

  it('gives no IR when a file has a syntax error, but still reports the value errors of the rest', () => {
    const c = compile(['p.seg'], createMemoryHost({ 'p.seg': 'set a = 10.0.0.1/8\npolicy ingress {\n  1 allow tcp from\n}\n' }));
    expect(c.ir).toBeUndefined();
    expect(c.diagnostics.map((d) => d.code)).toContain('SEG3003');
    expect(c.diagnostics.some((d) => d.code.startsWith('SEG1'))).toBe(true);
  });

  it('sorts diagnostics by file, then offset', () => {
    const c = compile(['b.seg', 'a.seg'], createMemoryHost({ 'a.seg': 'set y = 10.0.0.1/8\nset x = 1.2.3.999\n', 'b.seg': 'ports p = 70000\n' }));
    expect(c.diagnostics.map((d) => [d.span.file, d.code])).toEqual([
      ['a.seg', 'SEG3003'],
      ['a.seg', 'SEG3001'],
      ['b.seg', 'SEG3005'],
    ]);
  });
});

// A policy spread over several files, each declaring what another uses.
const SPLIT = {
  'sets.seg': 'set office = { 10.20.0.0/16, 2001:db8:20::/48 }\nset admins = office except { 10.20.99.0/24 }\n',
  'ports.seg': 'ports web = { 80, 443 }\nports ephemeral = 32768-60999\n',
  'in-a.seg': 'policy ingress {\n  200 ssh: allow tcp from admins to any port 22\n  100 web: allow tcp from any to any port web "public web"\n}\n',
  'in-b.seg': 'policy ingress default deny {\n  150 deny log tcp from any port ephemeral to office\n}\n',
  'out.seg': 'policy egress default allow {\n  10 no-mail: deny tcp from any to any port { 25, 465, 587 }\n  5 allow icmp from office to any icmp echo-request\n}\n',
};

describe('determinism', () => {
  it('gives identical IR JSON and hash whatever the order of files on the command line', () => {
    const reference = compiled(SPLIT, Object.keys(SPLIT).sort());
    const json = JSON.stringify(reference);
    fc.assert(
      fc.property(fc.shuffledSubarray(Object.keys(SPLIT), { minLength: 5, maxLength: 5 }), (order) => {
        const ir = compiled(SPLIT, order);
        expect(JSON.stringify(ir)).toBe(json);
        expect(hashProgram(ir)).toBe(hashProgram(reference));
      }),
      { numRuns: 40 },
    );
  });

  it('gives identical diagnostics whatever the order of files, when the policy has mistakes', () => {
    const broken = {
      ...SPLIT,
      'dup.seg': 'include "in-a.seg"\nset office = 10.0.0.0/8\npolicy ingress default allow {\n  100 web: deny udp from offce to any\n}\n',
      'in-a.seg': SPLIT['in-a.seg'] + 'include "dup.seg"\n',
    };
    const reference = JSON.stringify(compile(Object.keys(broken).sort(), createMemoryHost(broken)).diagnostics);
    expect(JSON.parse(reference).map((d: { code: string }) => d.code)).toEqual(['SEG2001', 'SEG3009', 'SEG2004', 'SEG4002', 'SEG3017', 'SEG2003']);
    fc.assert(
      fc.property(fc.shuffledSubarray(Object.keys(broken), { minLength: 6, maxLength: 6 }), (order) => {
        expect(JSON.stringify(compile(order, createMemoryHost(broken)).diagnostics)).toBe(reference);
      }),
      { numRuns: 40 },
    );
  });

  it('keeps the hash when only comments, layout and file boundaries change', () => {
    const split = compiled(SPLIT, Object.keys(SPLIT));
    const merged = Object.values(SPLIT).join('\n# merged into one file\n\n').replace(/ from /g, '   from ');
    const one = compiled({ 'all.seg': merged }, ['all.seg']);
    expect(hashProgram(one)).toBe(hashProgram(split));
    expect(one.rules[0]?.span).not.toEqual(split.rules[0]?.span);
  });

  it('changes the hash when the meaning changes: a description, a name, a priority, an address, the default', () => {
    const base = hashProgram(compiled(SPLIT, Object.keys(SPLIT)));
    const edits: [string, string, string][] = [
      ['in-a.seg', '"public web"', '"public"'],
      ['in-a.seg', '100 web:', '100 www:'],
      ['in-a.seg', '200 ssh:', '201 ssh:'],
      ['sets.seg', '10.20.99.0/24', '10.20.98.0/24'],
      ['in-b.seg', 'default deny', 'default allow'],
      ['in-b.seg', 'deny log', 'deny'],
    ];
    const hashes = edits.map(([file, from, to]) => {
      const files = { ...SPLIT, [file]: SPLIT[file as keyof typeof SPLIT].replace(from, to) };
      return hashProgram(compiled(files, Object.keys(files)));
    });
    expect(new Set([base, ...hashes]).size).toBe(edits.length + 1);
  });
});

// Rule lines whose every slot may hold a mistake (or a name that is missing, of the wrong kind,
// or cyclic), to drive resolve and lower through their error paths together.
const slot = {
  addr: fc.constantFrom('any', 'any6', 'a', 'b', 'p', 'nope', '10.0.0.0/8', '10.0.0.1/8', '2001:db8::/32', '::1/129', '{ }', '{ a, 10.1.0.0/16 }', 'a except b', 'any except any', '10.0.0.256'),
  ports: fc.constantFrom('80', '70000', '2-1', '1-65535', 'p', 'a', '{ }', '{ 80, p }', 'nope'),
  proto: fc.constantFrom('tcp', 'icmp', 'icmpv6', 'any', '300', '47', '{ tcp, icmp }', '{ icmp, icmpv6 }', '{ }'),
  icmp: fc.constantFrom('', ' icmp echo-request', ' icmp packet-too-big', ' icmp 300', ' icmp 3/256', ' icmp echo-reqest'),
};
const ruleLine = fc
  .record({ pri: fc.constantFrom(1, 2, 70000), name: fc.constantFrom('', 'x: '), action: fc.constantFrom('allow', 'deny log'), proto: slot.proto, src: slot.addr, sp: fc.option(slot.ports), dst: slot.addr, dp: fc.option(slot.ports), icmp: slot.icmp })
  .map((r) => `  ${r.pri} ${r.name}${r.action} ${r.proto} from ${r.src}${r.sp ? ` port ${r.sp}` : ''} to ${r.dst}${r.dp ? ` port ${r.dp}` : ''}${r.icmp}`);
const policyFile = fc
  .tuple(
    fc.array(fc.oneof(slot.addr.map((v) => `set ${v.length % 2 ? 'a' : 'b'} = ${v}`), slot.ports.map((v) => `ports p = ${v}`)), { maxLength: 4 }),
    fc.constantFrom('ingress', 'egress'),
    fc.constantFrom('', 'default allow ', 'default deny '),
    fc.array(ruleLine, { maxLength: 4 }),
  )
  .map(([decls, direction, dflt, lines]) => `${decls.join('\n')}\npolicy ${direction} ${dflt}{\n${lines.join('\n')}\n}\n`);

describe('compile on policies full of mistakes', () => {
  it('never throws, gives an IR exactly when there is no error, and reports a code at a span once', () => {
    fc.assert(
      fc.property(policyFile, policyFile, (a, b) => {
        const c = compile(['a.seg', 'b.seg'], createMemoryHost({ 'a.seg': a, 'b.seg': b }));
        expect(c.ir === undefined).toBe(c.diagnostics.some((d) => d.severity === 'error'));
        const keys = c.diagnostics.map((d) => `${d.span.file}:${d.span.start}:${d.span.end}:${d.code}`);
        expect(new Set(keys).size).toBe(keys.length);
      }),
      { numRuns: 500 },
    );
  });
});

describe('the rule analysis inside compile', () => {
  const shadowing = 'policy ingress {\n  100 a: allow tcp from any to any port 22\n  110 b: deny tcp from any to any port 22\n}\n';

  it('runs when asked and adds its findings to the diagnostics', () => {
    const c = compile(['p.seg'], createMemoryHost({ 'p.seg': shadowing }), { analysis: {} });
    expect(c.diagnostics.map((d) => d.code)).toEqual(['SEG5001']);
    expect(c.analysis?.complete).toBe(true);
  });

  it('does not run unless asked', () => {
    const c = compile(['p.seg'], createMemoryHost({ 'p.seg': shadowing }));
    expect(c.diagnostics).toEqual([]);
    expect(c.analysis).toBeUndefined();
  });

  it('never runs on a policy with errors', () => {
    const c = compile(['p.seg'], createMemoryHost({ 'p.seg': shadowing + 'set x = 10.0.0.1/8\n' }), { analysis: {} });
    expect(c.diagnostics.map((d) => d.code)).toEqual(['SEG3003']);
    expect(c.analysis).toBeUndefined();
  });

  it('gives the same IR, diagnostics and sources without the syntax trees (keepSyntax: false), and no trees', () => {
    const files = { 'web.seg': WEB_SEG, 'common.seg': COMMON_SEG, 'p.seg': shadowing.replace('ingress', 'egress') + 'set unused = 10.0.0.0/8\n' };
    for (const roots of [['web.seg', 'p.seg'], ['p.seg']]) {
      const kept = compile(roots, createMemoryHost(files), { analysis: {}, expiry: { today: 20_000, windowDays: 30 } });
      const dropped = compile(roots, createMemoryHost(files), { analysis: {}, expiry: { today: 20_000, windowDays: 30 }, keepSyntax: false });
      expect(dropped.diagnostics).toEqual(kept.diagnostics);
      expect(dropped.diagnostics.length).toBeGreaterThan(0);
      expect(dropped.ir).toEqual(kept.ir);
      expect([...dropped.sources.keys()]).toEqual([...kept.sources.keys()]);
      expect(dropped.asts.size).toBe(0);
      expect(kept.asts.size).toBe(kept.sources.size);
      expect(dropped.resolved.files).toEqual(kept.resolved.files);
    }
  });
});

describe('compile with hundreds of thousands of findings', () => {
  // Findings are appended one by one: `push(...findings)` passes each as an argument, and past
  // some 120k of them that throws "Maximum call stack size exceeded".
  it('reports 250k lock-out findings (one per management flow) without overflowing the stack', () => {
    const flows = Array.from({ length: 250_000 }, (_, i) => ({
      direction: 'ingress' as const,
      packet: { proto: 6, src: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, dst: '192.0.2.1', srcPort: 40000, dstPort: 22 },
      origin: 'a session',
    }));
    const c = compile(['p.seg'], createMemoryHost({ 'p.seg': 'policy ingress default deny {\n}\n' }), { hostContext: { flows, keeps: [] } });
    expect(c.diagnostics).toHaveLength(250_000);
    expect(new Set(c.diagnostics.map((d) => d.code))).toEqual(new Set(['SEG5101']));
  }, 120_000);

  it('reports an expired rule for each of 2 x 65 536 rules without overflowing the stack', () => {
    const block = (direction: string) => `policy ${direction} default deny {\n${Array.from({ length: 65_536 }, (_, p) => `  ${p} allow tcp from any to any port ${1 + (p % 60000)} expires 2020-01-01\n`).join('')}}\n`;
    const c = compile(['p.seg'], createMemoryHost({ 'p.seg': block('ingress') + block('egress') }), { expiry: { today: 20_000, windowDays: 14 } });
    expect(c.ir?.rules).toHaveLength(131_072);
    expect(c.diagnostics).toHaveLength(131_072);
    expect(c.diagnostics.every((d) => d.code === 'SEG3103')).toBe(true);
  }, 300_000);
});
