import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { AddrExpr, Declaration, FileAst, PolicyDecl, PortsDecl, RuleAst, SetDecl } from '../../compiler/ast.ts';
import { buildAst, parseSourceFile, unquoteString } from '../../compiler/build-ast.ts';
import { createCollector, type Diagnostic } from '../../compiler/diagnostics.ts';
import { tokenize } from '../../compiler/lexer.ts';
import { parse } from '../../compiler/parser.ts';
import { createSourceFile, type SourceFile, type Span } from '../../compiler/source.ts';
import { KEYWORDS } from '../../compiler/tokens.ts';
import { SPEC_EXAMPLE } from '../support/spec-example.ts';


function build(text: string): { file: SourceFile; ast: FileAst; diagnostics: Diagnostic[] } {
  const file = createSourceFile('web.seg', text);
  const collector = createCollector();
  const ast = parseSourceFile(file, collector);
  return { file, ast, diagnostics: collector.items };
}

/** Replaces every span with the text it covers, so expectations read like the source. */
function withSpanTexts(value: unknown, file: SourceFile): unknown {
  if (Array.isArray(value)) return value.map((v) => withSpanTexts(v, file));
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    const isSpan = typeof v === 'object' && v !== null && 'start' in v && 'end' in v && 'file' in v;
    out[key] = isSpan ? file.text.slice((v as Span).start, (v as Span).end) : withSpanTexts(v, file);
  }
  return out;
}

function policy(ast: FileAst, index = 0): PolicyDecl {
  return ast.declarations.filter((d): d is PolicyDecl => d.kind === 'Policy')[index]!;
}

function ruleOf(body: string): RuleAst {
  const { ast, diagnostics } = build(`policy ingress {\n${body}\n}\n`);
  expect(diagnostics).toEqual([]);
  return policy(ast).rules[0]!;
}

function setValue(text: string): AddrExpr {
  const { ast, diagnostics } = build(`set s = ${text}\n`);
  expect(diagnostics).toEqual([]);
  return (ast.declarations[0] as SetDecl).value!;
}

describe('buildAst: the spec example', () => {
  const { file, ast, diagnostics } = build(SPEC_EXAMPLE);

  it('parses without diagnostics into its nine declarations, comments kept', () => {
    expect(diagnostics).toEqual([]);
    expect(ast.declarations.map((d) => d.kind)).toEqual(['Include', 'SetDecl', 'SetDecl', 'SetDecl', 'SetDecl', 'PortsDecl', 'PortsDecl', 'Policy', 'Policy']);
    expect(withSpanTexts(ast.comments, file)).toEqual([{ text: '# web.seg: policy for the web-tier hosts', span: '# web.seg: policy for the web-tier hosts' }]);
    expect(ast.span).toEqual({ file: 'web.seg', start: 0, end: SPEC_EXAMPLE.length });
    expect(ast.path).toBe('web.seg');
  });

  it('builds the declarations with their values and spans', () => {
    const [include, office, webTier, , admins, web, ephemeral] = ast.declarations.map((d) => withSpanTexts(d, file));
    expect(include).toEqual({ kind: 'Include', path: 'common.seg', pathSpan: '"common.seg"', span: 'include "common.seg"' });
    expect(office).toEqual({
      kind: 'SetDecl',
      name: { name: 'office', span: 'office' },
      value: {
        kind: 'AddrList',
        items: [
          { kind: 'AddrLiteral', text: '10.20.0.0/16', span: '10.20.0.0/16' },
          { kind: 'AddrLiteral', text: '2001:db8:20::/48', span: '2001:db8:20::/48' },
        ],
        span: '{ 10.20.0.0/16, 2001:db8:20::/48 }',
      },
      span: 'set office   = { 10.20.0.0/16, 2001:db8:20::/48 }',
    });
    expect(webTier).toMatchObject({ value: { kind: 'AddrLiteral', text: '10.0.1.0/24' } });
    expect(admins).toEqual({
      kind: 'SetDecl',
      name: { name: 'admins', span: 'admins' },
      value: {
        kind: 'AddrExcept',
        base: { kind: 'SetRef', name: 'office', span: 'office' },
        excluded: { kind: 'AddrList', items: [{ kind: 'AddrLiteral', text: '10.20.99.0/24', span: '10.20.99.0/24' }], span: '{ 10.20.99.0/24 }' },
        span: 'office except { 10.20.99.0/24 }',
      },
      span: 'set admins   = office except { 10.20.99.0/24 }',
    });
    expect(web).toMatchObject({
      kind: 'PortsDecl',
      value: { kind: 'PortList', items: [{ kind: 'PortNumber', value: 80, span: '80' }, { kind: 'PortNumber', value: 443, span: '443' }] },
    });
    expect(ephemeral).toEqual({
      kind: 'PortsDecl',
      name: { name: 'ephemeral', span: 'ephemeral' },
      value: { kind: 'PortRange', low: { value: 32768, span: '32768' }, high: { value: 60999, span: '60999' }, span: '32768-60999' },
      span: 'ports ephemeral = 32768-60999',
    });
  });

  it('builds the ingress policy header and its six rules', () => {
    const ingress = withSpanTexts(policy(ast), file) as Record<string, unknown>;
    expect(ingress).toMatchObject({ kind: 'Policy', direction: 'ingress', directionSpan: 'ingress', defaultAction: { verdict: 'deny', span: 'default deny' } });
    expect((ingress['span'] as string).startsWith('policy ingress default deny {')).toBe(true);
    expect((ingress['span'] as string).endsWith('{ 1-1023 }\n}')).toBe(true);
    const rules = policy(ast).rules.map((r) => withSpanTexts(r, file));
    expect(rules[0]).toEqual({
      kind: 'Rule',
      priority: { value: 100, span: '100' },
      name: { name: 'public-web', span: 'public-web' },
      action: { verdict: 'allow', log: false, audit: false, text: 'allow', span: 'allow' },
      protocol: { kind: 'ProtoName', name: 'tcp', span: 'tcp' },
      src: { kind: 'AnyAddr', which: 'any', span: 'any' },
      dst: { kind: 'SetRef', name: 'web_tier', span: 'web_tier' },
      dstPorts: { kind: 'PortsRef', name: 'web', span: 'web' },
      description: { value: 'public web', span: '"public web"' },
      span: '100 public-web:  allow tcp  from any    to web_tier port web      "public web"',
    });
    expect(rules[1]).toMatchObject({ name: { name: 'ssh-office' }, src: { kind: 'SetRef', name: 'admins' }, dstPorts: { kind: 'PortNumber', value: 22 } });
    expect(rules[2]).toMatchObject({ action: { text: 'deny' }, protocol: { kind: 'ProtoName', name: 'any' }, span: '300              deny  any  from any    to db_tier' });
    expect(rules[2]).not.toHaveProperty('name');
    expect(rules[3]).toMatchObject({ action: { verdict: 'allow', log: true, text: 'log' }, protocol: { name: 'udp' } });
    expect(rules[4]).toMatchObject({ protocol: { name: 'icmp' }, icmp: { type: { name: 'echo-request', span: 'echo-request' }, span: 'icmp echo-request' } });
    expect(rules[5]).toMatchObject({
      action: { verdict: 'deny', log: true, text: 'deny log', span: 'deny log' },
      srcPorts: { kind: 'PortsRef', name: 'ephemeral' },
      dstPorts: { kind: 'PortList', items: [{ kind: 'PortRange', low: { value: 1 }, high: { value: 1023, span: '1023' } }], span: '{ 1-1023 }' },
    });
    expect(policy(ast).rules.some((r) => r.recovered)).toBe(false);
  });

  it('builds the egress policy', () => {
    expect(withSpanTexts(policy(ast, 1), file)).toMatchObject({
      direction: 'egress',
      defaultAction: { verdict: 'allow', span: 'default allow' },
      rules: [{ name: { name: 'no-mail' }, dstPorts: { kind: 'PortList', items: [{ value: 25 }, { value: 465 }, { value: 587 }] } }],
    });
  });

  it('gives the same AST through tokenize, parse and buildAst as through parseSourceFile', () => {
    const f = createSourceFile('web.seg', SPEC_EXAMPLE);
    const collector = createCollector();
    const { tokens, comments } = tokenize(f, collector);
    expect(buildAst(f, parse(f, tokens, collector), comments)).toEqual(ast);
  });
});

describe('buildAst: shapes', () => {
  it('folds except to the left and binds it looser than braces', () => {
    const value = setValue('any except { 10.0.0.0/8 except 10.1.0.0/16, b } except c');
    expect(value).toMatchObject({
      kind: 'AddrExcept',
      base: { kind: 'AddrExcept', base: { kind: 'AnyAddr', which: 'any' }, excluded: { kind: 'AddrList', items: [{ kind: 'AddrExcept' }, { kind: 'SetRef', name: 'b' }] } },
      excluded: { kind: 'SetRef', name: 'c' },
    });
  });

  it('keeps address text exactly as written, any4 and any6 apart', () => {
    expect(setValue('{ any4, any6, 10.0.0.1/8, 2001:DB8::1, 999.1.1.1 }')).toMatchObject({
      items: [
        { kind: 'AnyAddr', which: 'any4' },
        { kind: 'AnyAddr', which: 'any6' },
        { kind: 'AddrLiteral', text: '10.0.0.1/8' },
        { kind: 'AddrLiteral', text: '2001:DB8::1' },
        { kind: 'AddrLiteral', text: '999.1.1.1' },
      ],
    });
  });

  it('keeps an empty list, for lower to report', () => {
    expect(setValue('{ }')).toMatchObject({ kind: 'AddrList', items: [] });
  });

  it('keeps out-of-range numbers with their values', () => {
    const rule = ruleOf('70000 allow 300 from any port 99999 to any port 5-99999999');
    expect(rule.priority.value).toBe(70000);
    expect(rule.protocol).toMatchObject({ kind: 'ProtoNumber', value: 300 });
    expect(rule.srcPorts).toMatchObject({ kind: 'PortNumber', value: 99999 });
    expect(rule.dstPorts).toMatchObject({ kind: 'PortRange', low: { value: 5 }, high: { value: 99999999 } });
  });

  it('gives each end of a port range its own span', () => {
    const { file, ast } = build('ports p = 1024-65535\n');
    const range = withSpanTexts((ast.declarations[0] as PortsDecl).value, file);
    expect(range).toEqual({ kind: 'PortRange', low: { value: 1024, span: '1024' }, high: { value: 65535, span: '65535' }, span: '1024-65535' });
  });

  it('builds nested protocol lists and every action', () => {
    expect(ruleOf('1 allow log { tcp, { udp, 47 } } from any to any').protocol).toMatchObject({
      kind: 'ProtoList',
      items: [{ kind: 'ProtoName', name: 'tcp' }, { kind: 'ProtoList', items: [{ name: 'udp' }, { kind: 'ProtoNumber', value: 47 }] }],
    });
    const actions = ['allow', 'deny', 'log', 'allow log', 'deny log'].map((a) => ruleOf(`1 ${a} any from any to any`).action);
    expect(actions.map((a) => [a?.verdict, a?.log, a?.text])).toEqual([
      ['allow', false, 'allow'],
      ['deny', false, 'deny'],
      ['allow', true, 'log'],
      ['allow', true, 'allow log'],
      ['deny', true, 'deny log'],
    ]);
  });

  it("builds segc's audit modifier on deny, and keeps audit a name elsewhere", () => {
    const actions = ['deny audit', 'deny audit log'].map((a) => ruleOf(`1 ${a} any from any to any`).action);
    expect(actions.map((a) => [a?.verdict, a?.log, a?.audit, a?.text])).toEqual([
      ['deny', false, true, 'deny audit'],
      ['deny', true, true, 'deny audit log'],
    ]);
    expect(ruleOf('1 deny log any from any to any').action?.audit).toBe(false);
    const { ast } = build('set audit = 10.0.0.0/8\npolicy ingress {\n  1 audit: deny audit tcp from audit to any\n}\n');
    const [rule] = policy(ast).rules;
    expect(rule).toMatchObject({ name: { name: 'audit' }, action: { audit: true }, src: { kind: 'SetRef', name: 'audit' } });
    expect(policy(ast).rules.some((r) => r.recovered)).toBe(false);
  });

  it('builds an ICMP type with its code, and a numeric type', () => {
    const { file, ast } = build('policy ingress {\n1 allow icmp from any to any icmp 3/4\n2 allow icmpv6 from any to any icmp 128\n}\n');
    const [withCode, numeric] = policy(ast).rules.map((r) => withSpanTexts(r.icmp, file));
    expect(withCode).toEqual({ type: { value: 3, span: '3' }, code: { value: 4, span: '4' }, span: 'icmp 3/4' });
    expect(numeric).toEqual({ type: { value: 128, span: '128' }, span: 'icmp 128' });
  });

  it('resolves the escapes of strings and keeps a bad one as written', () => {
    expect(ruleOf(String.raw`1 allow any from any to any "say \"hi\" \\ bye"`).description?.value).toBe(String.raw`say "hi" \ bye`);
    expect(unquoteString(String.raw`"a\qb"`)).toBe(String.raw`a\qb`);
    expect(unquoteString('"open')).toBe('open');
  });
});

describe('buildAst: recovered input', () => {
  it('marks a rule recovered when its line had an error, and keeps what was parsed', () => {
    const { ast } = build('policy ingress {\n100 web: allow tcp from 10.0.0.1 to port\n}\n');
    const rule = policy(ast).rules[0]!;
    expect(rule).toMatchObject({ recovered: true, priority: { value: 100 }, name: { name: 'web' }, src: { kind: 'AddrLiteral' } });
    expect(rule.dst).toBeUndefined();
  });

  it('marks a rule recovered when recovery made up a token, or tokens were left over', () => {
    const { ast } = build('policy ingress {\n100 web allow tcp from any to any\n200 allow tcp from any to any port 22 80\n}\n');
    expect(policy(ast).rules.map((r) => r.recovered)).toEqual([true, true]);
    expect(policy(ast).rules[0]!.name?.name).toBe('web');
  });

  it('keeps a set whose value is broken, so that its name still resolves', () => {
    const { ast } = build('set a = port\nset b = { 10.0.0.1, oops oops }\n');
    expect(ast.declarations.map((d) => [d.kind, (d as SetDecl).name.name, d.recovered])).toEqual([
      ['SetDecl', 'a', true],
      ['SetDecl', 'b', true],
    ]);
    expect((ast.declarations[0] as SetDecl).value).toBeUndefined();
  });

  it('leaves out declarations that lost what identifies them', () => {
    const { ast, diagnostics } = build('include\nset = any\npolicy {\n1 allow any from any to any\n}\nports p = 1\n');
    expect(diagnostics).toHaveLength(3);
    expect(ast.declarations.map((d) => d.kind)).toEqual(['PortsDecl']);
  });

  it('marks a policy whose default lost its verdict, but not one that lost its closing brace', () => {
    const { ast } = build('policy ingress default {\n1 allow any from any to any\n}\npolicy egress {\n1 allow any from any to any\n');
    expect([policy(ast).recovered, policy(ast).defaultAction, policy(ast).rules.length]).toEqual([true, undefined, 1]);
    expect([policy(ast, 1).recovered, policy(ast, 1).rules.length]).toEqual([undefined, 1]);
  });
});

/** Every span inside the AST lies within the file, and each node's span holds its children's. */
function checkSpans(node: unknown, text: string, outer?: Span): void {
  if (Array.isArray(node)) {
    for (const n of node) checkSpans(n, text, outer);
    return;
  }
  if (node === null || typeof node !== 'object') return;
  const own = (node as { span?: Span }).span;
  if (own) {
    expect(own.start).toBeGreaterThanOrEqual(0);
    expect(own.end).toBeLessThanOrEqual(text.length);
    expect(own.start).toBeLessThanOrEqual(own.end);
    if (outer) expect(own.start >= outer.start && own.end <= outer.end).toBe(true);
  }
  for (const [key, value] of Object.entries(node)) if (key !== 'span') checkSpans(value, text, own ?? outer);
}

const TOKEN_SOUP = [
  ...KEYWORDS,
  '{', '}', ',', ':', '=', '/', '\n', '\n', '\n', '"str"', '"open', '"bad\\x"', '#c\n', '10.0.0.0/8', '10.0.0', '::1', 'fe80::',
  '2001:db8::/32', '32768-60999', '0', '65536', '99999999999999999999999', 'web', 'deny-all', 'echo-request', '@', ';', '-', '\t', '\r\n',
];

describe('the front end never throws', () => {
  const run = (text: string): void => {
    const file = createSourceFile('p.seg', text);
    const collector = createCollector();
    const ast = parseSourceFile(file, collector);
    checkSpans(ast.declarations, text);
    // What later stages rely on: a statement not marked recovered is whole, and a mark always
    // comes with a diagnostic.
    for (const decl of ast.declarations) {
      if ((decl.kind === 'SetDecl' || decl.kind === 'PortsDecl') && !decl.recovered) expect(decl.value).toBeDefined();
      if (decl.kind !== 'Policy') continue;
      for (const rule of decl.rules.filter((r) => !r.recovered)) expect([rule.action, rule.protocol, rule.src, rule.dst].every((x) => x !== undefined)).toBe(true);
    }
    if (collector.items.length === 0) expect(JSON.stringify(ast)).not.toContain('"recovered":true');
    for (const d of collector.items) {
      expect(d.code).toMatch(/^SEG1\d\d\d$/);
      expect(d.span.start).toBeGreaterThanOrEqual(0);
      expect(d.span.end).toBeLessThanOrEqual(text.length);
    }
  };

  it('on random strings', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 300 }), run), { numRuns: 300 });
  });

  it('on random token soups', () => {
    const soup = fc.array(fc.constantFrom(...TOKEN_SOUP), { maxLength: 80 }).map((parts) => parts.join(' '));
    fc.assert(fc.property(soup, run), { numRuns: 400 });
  });

  it('on valid files with random lines broken', () => {
    const lines = SPEC_EXAMPLE.split('\n');
    const mutated = fc
      .array(fc.tuple(fc.nat(lines.length - 1), fc.nat(80), fc.constantFrom(...TOKEN_SOUP, '')), { maxLength: 6 })
      .map((edits) => {
        const out = [...lines];
        for (const [line, column, insert] of edits) {
          const text = out[line]!;
          const at = Math.min(column, text.length);
          out[line] = text.slice(0, at) + insert + text.slice(at + (insert === '' ? 3 : 0));
        }
        return out.join('\n');
      });
    fc.assert(fc.property(mutated, run), { numRuns: 300 });
  });

  it('on the spec example, with a recovered node per broken statement at most', () => {
    const { ast } = build(SPEC_EXAMPLE.replace('from admins', 'frm admins'));
    const nodes: readonly (Declaration | RuleAst)[] = ast.declarations.flatMap((d): readonly (Declaration | RuleAst)[] => (d.kind === 'Policy' ? [d, ...d.rules] : [d]));
    const recovered = nodes.filter((n) => n.recovered);
    expect(recovered).toHaveLength(1);
  });
});

/** The AST without its spans: what the text means, wherever it sits. */
function withoutSpans(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutSpans);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value)
      .filter(([key]) => !/span$/i.test(key) && key !== 'comments')
      .map(([key, v]) => [key, withoutSpans(v)]),
  );
}

const validPolicy = (() => {
  const name = fc.constantFrom('web', 'db_tier', 'deny-all', 'fe80', 'any46', 'icmp-ok', '_x');
  const ipv4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(32)).map(([a, b, len]) => `10.${a}.${b}.0/${len}`);
  const ipv6 = fc.constantFrom('::', '::1', 'fe80::1', '2001:db8::/32', '::ffff:10.0.0.1', '2001:db8:20::/48');
  const { addr } = fc.letrec<{ addr: string; atom: string }>((tie) => ({
    atom: fc.oneof(ipv4, ipv6, fc.constantFrom('any', 'any4', 'any6'), name, fc.array(tie('addr'), { minLength: 1, maxLength: 3 }).map((xs) => `{ ${xs.join(', ')} }`)),
    addr: fc.oneof({ depthSize: 'small' }, tie('atom'), fc.tuple(tie('atom'), tie('atom')).map(([a, b]) => `${a} except ${b}`)),
  }));
  const portAtom = fc.oneof(fc.nat(65535).map(String), fc.tuple(fc.nat(1000), fc.nat(1000)).map(([a, b]) => `${a}-${a + b}`), name);
  const ports = fc.oneof(portAtom, fc.array(portAtom, { minLength: 1, maxLength: 4 }).map((xs) => `{ ${xs.join(', ')} }`));
  const protoAtom = fc.constantFrom('tcp', 'udp', 'sctp', 'icmp', 'icmpv6', 'any', '47');
  const proto = fc.oneof(protoAtom, fc.array(protoAtom, { minLength: 1, maxLength: 3 }).map((xs) => `{ ${xs.join(', ')} }`));
  const rule = fc
    .record({
      name: fc.option(name.map((n) => `${n}: `), { nil: '' }),
      action: fc.constantFrom('allow', 'deny', 'log', 'allow log', 'deny log'),
      proto,
      src: addr,
      srcPorts: fc.option(ports.map((p) => ` port ${p}`), { nil: '' }),
      dst: addr,
      dstPorts: fc.option(ports.map((p) => ` port ${p}`), { nil: '' }),
      icmp: fc.option(fc.constantFrom(' icmp echo-request', ' icmp 3/4', ' icmp 128'), { nil: '' }),
      description: fc.option(fc.constantFrom(' "public web"', ' "say \\"hi\\""', ' ""'), { nil: '' }),
    })
    .map((r) => `${r.name}${r.action} ${r.proto} from ${r.src}${r.srcPorts} to ${r.dst}${r.dstPorts}${r.icmp}${r.description}`);
  const declaration = fc.oneof(
    addr.map((a) => `set s = ${a}`),
    ports.map((p) => `ports p = ${p}`),
    fc.constant('include "common.seg"'),
  );
  return fc.record({
    declarations: fc.array(declaration, { maxLength: 4 }),
    header: fc.constantFrom('ingress', 'egress default allow', 'ingress default deny'),
    rules: fc.array(rule, { minLength: 1, maxLength: 6 }),
  });
})();

describe('buildAst on generated valid policies', () => {
  it('parses them without a diagnostic, one rule per line', () => {
    fc.assert(
      fc.property(validPolicy, ({ declarations, header, rules }) => {
        const text = [...declarations, `policy ${header} {`, ...rules.map((r, i) => `  ${i} ${r}`), '}'].join('\n');
        const { ast, diagnostics } = build(text);
        expect(diagnostics).toEqual([]);
        expect(policy(ast).rules).toHaveLength(rules.length);
        expect(policy(ast).rules.some((r) => r.recovered)).toBe(false);
      }),
      { numRuns: 200 },
    );
  });

  it('means the same when their literals are broken over lines and commented', () => {
    fc.assert(
      fc.property(validPolicy, ({ declarations, header, rules }) => {
        const lines = (breakLiterals: boolean): string[] => {
          // Descriptions hold no ',' or '{', so only literals are touched.
          const spread = (line: string): string => (breakLiterals ? line.replaceAll('{ ', '{ # open\n    ').replaceAll(', ', ',\n\n    ') : line);
          return [...declarations.map(spread), `policy ${header} {`, ...rules.map((r, i) => spread(`  ${i} ${r}`)), '}'];
        };
        const flat = build(lines(false).join('\n'));
        const spread = build(lines(true).join('\n'));
        expect(spread.diagnostics).toEqual([]);
        expect(withoutSpans(spread.ast)).toEqual(withoutSpans(flat.ast));
      }),
      { numRuns: 200 },
    );
  });
});
