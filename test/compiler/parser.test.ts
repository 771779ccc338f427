import { describe, expect, it } from 'vitest';
import type { FileAst, PolicyDecl } from '../../compiler/ast.ts';
import { parseSourceFile } from '../../compiler/build-ast.ts';
import { createCollector, type Diagnostic } from '../../compiler/diagnostics.ts';
import { tokenize } from '../../compiler/lexer.ts';
import { MAX_BRACE_DEPTH, MAX_EXCEPT_CHAIN, parse, parser } from '../../compiler/parser.ts';
import { createSourceFile, positionOf, spanText } from '../../compiler/source.ts';

interface Parsed {
  readonly ast: FileAst;
  readonly diagnostics: readonly Diagnostic[];
  /** `line:col CODE 'span text' message` per diagnostic, for readable expectations. */
  readonly report: string[];
}

function check(text: string): Parsed {
  const file = createSourceFile('t.seg', text);
  const collector = createCollector();
  const ast = parseSourceFile(file, collector);
  const report = collector.items.map((d) => {
    const p = positionOf(file, d.span.start);
    return `${p.line}:${p.column} ${d.code} '${spanText(file, d.span)}' ${d.message}`;
  });
  return { ast, diagnostics: collector.items, report };
}

function policies(ast: FileAst): PolicyDecl[] {
  return ast.declarations.filter((d): d is PolicyDecl => d.kind === 'Policy');
}

const RULE = 'allow tcp from any to any';

describe('parse: valid input', () => {
  it('accepts the spec example without a diagnostic', () => {
    const { diagnostics } = check(`include "common.seg"
set office   = { 10.20.0.0/16, 2001:db8:20::/48 }
set admins   = office except { 10.20.99.0/24 }
ports ephemeral = 32768-60999
policy ingress default deny {
  100 public-web:  allow tcp  from any    to web_tier port web      "public web"
  500              allow icmp from office to any icmp echo-request
  600              deny log tcp from any port ephemeral to any port { 1-1023 }
}
`);
    expect(diagnostics).toEqual([]);
  });

  it('accepts every action, protocol form and optional clause', () => {
    const { diagnostics } = check(`policy egress {
  1 allow tcp from any to any
  2 deny udp from any port 53 to any port { 53, 5353 }
  3 log sctp from any to any
  4 allow log icmpv6 from any6 to any6 icmp 128
  5 deny log { tcp, udp, 132 } from any4 to any4
  6 n6: allow icmp from any to any icmp 3/4 "unreachable, fragmentation needed"
  7 allow 47 from any to any
}
`);
    expect(diagnostics).toEqual([]);
  });

  it('accepts blank lines, comment lines, a block on one line and a literal over several lines', () => {
    const { ast, diagnostics } = check(`
# leading comment

policy ingress { }
policy egress default allow { 100 ${RULE} }
set web = {
  10.0.0.1,   # first
  10.0.0.2,   # a trailing comma is fine
}
`);
    expect(diagnostics).toEqual([]);
    expect(policies(ast).map((p) => p.rules.length)).toEqual([0, 1]);
  });

  it('labels the two address sides and the two port sides of a rule', () => {
    const text = 'policy ingress {\n100 allow tcp from a port 1 to b port 2\n}\n';
    const file = createSourceFile('t.seg', text);
    const collector = createCollector();
    const cst = parse(file, tokenize(file, collector).tokens, collector);
    const rule = cst.children.declaration![0]!.children.policyDecl![0]!.children.ruleLine![0]!.children.rule![0]!;
    expect(Object.keys(rule.children).sort()).toEqual(['From', 'Port', 'To', 'action', 'dst', 'dstPorts', 'priority', 'protoExpr', 'src', 'srcPorts']);
    expect(collector.items).toEqual([]);
  });

  it('builds CST children as plain objects (the workaround for dictionary-mode nodes is in effect)', () => {
    const file = createSourceFile('t.seg', 'set a = { b }\n');
    const collector = createCollector();
    const cst = parse(file, tokenize(file, collector).tokens, collector);
    const setDecl = cst.children.declaration![0]!.children.setDecl![0]!;
    for (const node of [cst, setDecl, setDecl.children.addrExpr![0]!]) expect(Object.getPrototypeOf(node.children)).toBe(Object.prototype);
  });

  it('reuses one parser instance across files', () => {
    const before = parser;
    check('set a = any\n');
    check('policy ingress {\n}\n');
    expect(parser).toBe(before);
  });
});

describe('parse: each syntax error code, with its span', () => {
  type Case = [what: string, text: string, code: string, span: string, message: string];
  const cases: Case[] = [
    ['a keyword where an address belongs', 'set b = port\n', 'SEG1004', 'port', "expected an address, 'any', a set name or '{', found 'port'"],
    ['a misspelt keyword', `policy ingress {\n100 allow tcp frm any to any\n}\n`, 'SEG1004', 'frm', "expected 'from', found 'frm'"],
    ['a line that starts with no declaration', 'sett a = any\n', 'SEG1004', 'sett', "expected a declaration ('include', 'set', 'ports' or 'policy'), found 'sett'"],
    ['a rule without its priority', `policy ingress {\n${RULE}\n}\n`, 'SEG1004', 'allow', "expected a rule (starting with its priority number), found 'allow'"],
    ['a bad policy direction', 'policy ingres {\n}\n', 'SEG1004', 'ingres', "expected 'ingress' or 'egress', found 'ingres'"],
    ['a bad default', 'policy egress default drop {\n}\n', 'SEG1004', 'drop', "expected 'allow' or 'deny', found 'drop'"],
    ['tokens after a complete rule', `policy ingress {\n100 ${RULE} "d" extra words\n}\n`, 'SEG1004', 'extra', "expected the end of the line, found 'extra'"],
    ['a stray closing brace', '}\n', 'SEG1004', '}', "expected a declaration ('include', 'set', 'ports' or 'policy'), found '}'"],
    ['a missing colon after a rule name', `policy ingress {\n100 web allow tcp from any to any\n}\n`, 'SEG1005', 'allow', "expected ':' before 'allow'"],
    ['a missing comma in a list', 'ports p = { 80 443 }\n', 'SEG1005', '443', "expected ',' or '}' before '443'"],
    ['a missing from', `policy ingress {\n100 allow tcp any to any\n}\n`, 'SEG1005', 'any', "expected 'from' before 'any'"],
    ['a missing direction', 'policy {\n}\n', 'SEG1005', '{', "expected 'ingress' or 'egress' after 'policy'"],
    ['a default without its verdict', 'policy ingress default {\n}\n', 'SEG1005', '{', "expected 'allow' or 'deny' after 'default'"],
    ['a policy block left open at the end of the file', `policy ingress {\n100 ${RULE}\n`, 'SEG1005', '', "expected '}' to close the policy block"],
    ['a policy block left open before the next one', `policy ingress {\n100 ${RULE}\npolicy egress {\n}\n`, 'SEG1005', 'policy', "expected '}' to close the policy block"],
    ['a declaration cut short', 'set a =\n', 'SEG1006', '', "the line ends where an address, 'any', a set name or '{' was expected"],
    ['a rule cut short', `policy ingress {\n100 allow tcp from any\n}\n`, 'SEG1006', '', "the line ends where 'port' or 'to' was expected"],
    ['digits run into a keyword', `policy ingress {\n100 allow tcp from any port 80to any\n}\n`, 'SEG1004', '80to', "expected a port, a port range, a ports name or '{', found '80to'"],
    ['a second port clause on the source side', `policy ingress {\n100 allow tcp from any port 80 port 90\n}\n`, 'SEG1004', 'port', "expected 'to', found 'port'"],
    ['a rule continued on the next line, once', `policy ingress {\n100 allow tcp from any\n    to any port 22\n}\n`, 'SEG1006', '', "the line ends where 'port' or 'to' was expected"],
    ['a list left open at the end of its line', 'set a = { 10.0.0.1\n', 'SEG1006', '', "the line ends where ',' or '}' was expected"],
    ['a list left open after a comma', 'set a = { 10.0.0.1,\n', 'SEG1006', '', "the line ends where an address or '}' was expected"],
    ['an include without its path', 'include\n', 'SEG1006', '', 'the line ends where a file path in double quotes was expected'],
  ];
  it.each(cases)('reports %s', (_what, text, code, span, message) => {
    const { diagnostics } = check(text);
    expect(diagnostics).toHaveLength(1);
    const d = diagnostics[0]!;
    expect([d.code, spanText(createSourceFile('t.seg', text), d.span), d.message]).toEqual([code, span, message]);
    expect(d.category).toBe('syntax');
  });

  it('puts a line end error at the end of the line, and the end of file error at the end of the text', () => {
    const text = 'set a =   \nset b = any\n';
    const d = check(text).diagnostics[0]!;
    expect(d.span.start).toBe(text.indexOf('\n'));
    const open = `policy ingress {\n100 ${RULE}`;
    expect(check(open).diagnostics[0]!.span).toEqual({ file: 't.seg', start: open.length, end: open.length });
  });

  it('points the missing brace back at the block it should close', () => {
    const text = `policy ingress {\n100 ${RULE}\n`;
    const d = check(text).diagnostics[0]!;
    expect(d.related.map((r) => spanText(createSourceFile('t.seg', text), r.span))).toEqual(['{']);
  });

  it('suggests the keyword a misspelt name is closest to', () => {
    expect(check('sett a = any\n').diagnostics[0]!.hint).toBe("did you mean 'set'?");
    expect(check('policy egres {\n}\n').diagnostics[0]!.hint).toBe("did you mean 'egress'?");
    expect(check('policy egress default maybe {\n}\n').diagnostics[0]!.hint).toBeUndefined();
  });

  it('knows the words other firewalls use for ours', () => {
    const hints = (text: string): (string | undefined)[] => check(text).diagnostics.map((d) => d.hint);
    expect(hints('policy inbound {\n}\n')).toEqual(["did you mean 'ingress'?"]);
    expect(hints('policy egress default drop {\n}\n')).toEqual(["did you mean 'deny'?"]);
    expect(hints(`policy egress {\n1 allow all from any to any\n}\n`)).toEqual(["did you mean 'any'?"]);
  });

  it("says where 'audit' goes when it follows allow or log", () => {
    const hints = (text: string): (string | undefined)[] => check(text).diagnostics.map((d) => d.hint);
    const where = "'audit' goes right after 'deny' (deny audit, deny audit log); an allow has nothing to audit";
    expect(hints('policy egress {\n1 allow audit tcp from any to any\n2 deny log audit tcp from any to any\n}\n')).toEqual([where, where]);
    expect(check('policy egress {\n1 deny audit log tcp from any to any\n}\n').diagnostics).toEqual([]);
  });

  it('reports a wrong action word as the action, not as a rule name missing its colon', () => {
    const { report, diagnostics } = check(`policy egress {\n1 accept tcp from any to any\n}\n`);
    expect(report).toEqual(["2:3 SEG1004 'accept' expected an action ('allow', 'deny' or 'log'), found 'accept'"]);
    expect(diagnostics[0]!.hint).toBe("did you mean 'allow'?");
  });

  it('says when a keyword was used as a name', () => {
    expect(check('set log = any\n').diagnostics.map((d) => [d.message, d.hint])).toEqual([["expected a name, found 'log'", "'log' is a keyword, so it cannot be a name"]]);
    expect(check(`policy ingress {\n100 deny: deny tcp from any to any\n}\n`).diagnostics[0]!.hint).toBe("'deny' is a keyword, so it cannot name a rule");
  });

  it('says that a list needs braces when it finds a comma outside them', () => {
    const { report, diagnostics } = check(`policy egress {\n1 allow tcp from 10.0.0.1, 10.0.0.2 to any\n}\n`);
    expect(report).toEqual(["2:26 SEG1004 ',' expected 'port' or 'to', found ','"]);
    expect(diagnostics[0]!.hint).toMatch(/go in braces/);
  });

  it('says where a rule found outside any policy block belongs', () => {
    expect(check(`100 ${RULE}\n`).diagnostics[0]!.hint).toMatch(/inside a policy block/);
  });
});

describe('parse: recovery', () => {
  it('reports three broken rule lines three times and keeps every other rule', () => {
    const { ast, report } = check(`policy ingress default deny {
  100 allow tcp from any to any
  200 allow tcp frm any to any
  300 deny udp from any to any
  400 allow tcp from { 10.0.0.1, } to port
  500 deny any from any to any
  allow tcp from any to any port 22
  600 log udp from any to any
}
`);
    expect(report).toEqual([
      "3:17 SEG1004 'frm' expected 'from', found 'frm'",
      "5:39 SEG1004 'port' expected an address, 'any', a set name or '{', found 'port'",
      "7:3 SEG1004 'allow' expected a rule (starting with its priority number), found 'allow'",
    ]);
    const rules = policies(ast)[0]!.rules;
    expect(rules.map((r) => [r.priority.value, r.recovered ?? false])).toEqual([
      [100, false],
      [200, true],
      [300, false],
      [400, true],
      [500, false],
      [600, false],
    ]);
  });

  it('reports independent errors in declarations, rules and blocks in one run', () => {
    const { ast, report } = check(`set a = { 10.0.0.1
set b = port
ports p = { 80 443 }
policy ingres {
  100 ${RULE}
}
policy egress default allow {
  100 web allow tcp from any to any
  200 ${RULE}
`);
    expect(report.map((r) => r.split(' ').slice(0, 2).join(' '))).toEqual(['1:19 SEG1006', '2:9 SEG1004', '3:16 SEG1005', '4:8 SEG1004', '8:11 SEG1005', '10:1 SEG1005']);
    expect(ast.declarations.map((d) => d.kind)).toEqual(['SetDecl', 'SetDecl', 'PortsDecl', 'Policy']);
  });

  it('reports one diagnostic per line even when a line has several mistakes', () => {
    expect(check(`policy ingress {\n100 alow tcp frm any too any port\n}\n`).diagnostics).toHaveLength(1);
  });

  it('does not report a parse error that only echoes a lexical error on the same line', () => {
    const { diagnostics } = check('set a = @\nports p = 80 - 90\n');
    expect(diagnostics.map((d) => d.code)).toEqual(['SEG1001', 'SEG1001']);
  });

  it('keeps a parse error that comes before a lexical error on its line', () => {
    const { diagnostics } = check(`policy ingress {\n100 allow tcp frm any to any "a\\q"\n}\n`);
    expect(diagnostics.map((d) => d.code).sort()).toEqual(['SEG1003', 'SEG1004']);
  });

  it('closes a block left open at the next policy, and parses that policy normally', () => {
    const { ast, diagnostics } = check(`policy ingress {\n100 ${RULE}\npolicy egress {\n100 ${RULE}\n}\n`);
    expect(diagnostics).toHaveLength(1);
    expect(policies(ast).map((p) => [p.direction, p.rules.length])).toEqual([
      ['ingress', 1],
      ['egress', 1],
    ]);
  });

  it('reports a missing line break before a declaration once, and parses the declaration', () => {
    const { ast, report } = check(`policy ingress {\n100 ${RULE}\n} policy egress {\n100 ${RULE}\n}\nset a = set b = any\n`);
    expect(report).toEqual([
      "3:3 SEG1004 'policy' expected the end of the line, found 'policy'",
      "6:9 SEG1004 'set' expected an address, 'any', a set name or '{', found 'set'",
    ]);
    expect(ast.declarations.map((d) => (d.kind === 'Policy' ? `${d.direction}:${d.rules.length}` : `${d.kind}:${d.recovered ?? false}`))).toEqual([
      'ingress:1',
      'egress:1',
      'SetDecl:true',
      'SetDecl:false',
    ]);
  });

  it('reports a policy brace put on the next line once, and keeps the rules', () => {
    const { ast, report } = check(`policy ingress default deny\n{\n  100 ${RULE}\n}\n`);
    expect(report).toEqual(["1:28 SEG1006 '' the line ends where '{' was expected"]);
    expect(policies(ast)[0]!.rules).toHaveLength(1);
  });

  it('keeps a policy whose header is broken after its direction, with its rules', () => {
    const { ast, diagnostics } = check(`policy ingress defualt deny {\n100 ${RULE}\n200 ${RULE}\n}\n`);
    expect(diagnostics).toHaveLength(1);
    expect(policies(ast)[0]!.rules).toHaveLength(2);
  });

  it('does not let an unclosed literal swallow the lines after it', () => {
    const { ast, diagnostics } = check(`policy ingress {\n100 deny { tcp, udp from any to any\n200 ${RULE}\n}\n`);
    expect(diagnostics).toHaveLength(1);
    expect(policies(ast)[0]!.rules.map((r) => [r.priority.value, r.recovered ?? false])).toEqual([
      [100, true],
      [200, false],
    ]);
  });

  it('reports each broken line of a long file and nothing for the good ones', () => {
    const lines = ['policy ingress {'];
    for (let i = 0; i < 200; i++) lines.push(i % 10 === 3 ? `${i} allow tcp from any to` : `${i} ${RULE}`);
    lines.push('}');
    const { ast, diagnostics } = check(lines.join('\n'));
    expect(diagnostics).toHaveLength(20);
    expect(diagnostics.every((d) => d.code === 'SEG1006')).toBe(true);
    expect(policies(ast)[0]!.rules).toHaveLength(200);
  });
});

describe('parse: limits and line endings', () => {
  it('refuses braces nested past the limit instead of overflowing the stack, and goes on', () => {
    for (const depth of [MAX_BRACE_DEPTH + 1, 100_000]) {
      const text = `set a = ${'{'.repeat(depth)}10.0.0.1${'}'.repeat(depth)}\nset b = { { 10.0.0.2 } }\n`;
      const { ast, report } = check(text);
      expect(report).toEqual([`1:${9 + MAX_BRACE_DEPTH} SEG1004 '{' expected at most ${MAX_BRACE_DEPTH} nested braces, found '{'`]);
      expect(ast.declarations.map((d) => [d.kind, d.recovered ?? false])).toEqual([
        ['SetDecl', true],
        ['SetDecl', false],
      ]);
    }
  });

  it("reports a '}' with no block open on each of 20,000 lines, one diagnostic a line, without overflowing the stack", () => {
    // A policy block closed early: every later line is a stray line, and each holds a '}'
    // (chevrotain's in-repetition recovery recursed once per such line).
    const lines = ['policy ingress default deny {', `100 ${RULE}`, '}', '}'];
    for (let i = 0; i < 20_000; i++) lines.push(i % 2 === 0 ? `${200 + i} allow tcp from any to any port { 1, 2 }` : '} 1 2');
    const { report } = check(lines.join('\n') + '\n');
    expect(report).toHaveLength(20_001);
    expect(report[0]).toBe("4:1 SEG1004 '}' expected a declaration ('include', 'set', 'ports' or 'policy'), found '}'");
    expect(report[1]).toMatch(/^5:1 SEG1004 '200' /);
    expect(report[2]).toBe("6:1 SEG1004 '}' expected a declaration ('include', 'set', 'ports' or 'policy'), found '}'");
  });

  it('accepts braces nested up to the limit', () => {
    const depth = MAX_BRACE_DEPTH;
    expect(check(`set a = ${'{'.repeat(depth)}10.0.0.1${'}'.repeat(depth)}\n`).diagnostics).toEqual([]);
  });

  it('refuses an except chain past the limit', () => {
    const chain = (n: number): string => `set a = ${Array.from({ length: n + 1 }, () => 'b').join(' except ')}\n`;
    expect(check(chain(MAX_EXCEPT_CHAIN)).diagnostics).toEqual([]);
    const { ast, diagnostics } = check(chain(50_000));
    expect(diagnostics.map((d) => d.message)).toEqual([`expected at most ${MAX_EXCEPT_CHAIN} 'except' in one statement, found 'except'`]);
    expect(ast.declarations[0]!.recovered).toBe(true);
  });

  it('reads CRLF and CR line ends and a byte order mark like LF', () => {
    const lf = `set a = {\n 10.0.0.1,\n 10.0.0.2 }\npolicy ingress {\n100 ${RULE} "d"\n}\n`;
    const expected = check(lf);
    for (const text of ['\uFEFF' + lf, lf.replaceAll('\n', '\r\n'), lf.replaceAll('\n', '\r')]) {
      const { ast, diagnostics } = check(text);
      expect(diagnostics).toEqual([]);
      expect(ast.declarations.map((d) => d.kind)).toEqual(expected.ast.declarations.map((d) => d.kind));
      expect(policies(ast)[0]!.rules[0]!.description?.value).toBe('d');
    }
  });
});
