import { describe, expect, it } from 'vitest';
import { createCollector, type Diagnostic } from '../../compiler/diagnostics.ts';
import { tokenize } from '../../compiler/lexer.ts';
import { createSourceFile, spanText } from '../../compiler/source.ts';
import { allTokens, KEYWORDS, keywordTokens } from '../../compiler/tokens.ts';

function lex(text: string): { types: string[]; images: string[]; diagnostics: Diagnostic[]; comments: string[] } {
  const diagnostics = createCollector();
  const { tokens, comments } = tokenize(createSourceFile('t.seg', text), diagnostics);
  return {
    types: tokens.map((t) => t.tokenType.name),
    images: tokens.map((t) => t.image),
    diagnostics: diagnostics.items,
    comments: comments.map((c) => c.image),
  };
}

/** Token names and images, without the final Newline every file ends with. */
function pairs(text: string): string[] {
  const { types, images } = lex(text);
  return types.map((t, i) => `${t}:${images[i]}`).slice(0, -1);
}

describe('tokenize: keywords and names', () => {
  it('makes a token type for every keyword of the spec, and nothing else is a keyword', () => {
    const keywordTypes = allTokens.filter((t) => t.CATEGORIES?.some((c) => c.name === 'Keyword'));
    expect(keywordTypes.map((t) => t.PATTERN).sort()).toEqual([...KEYWORDS].sort());
  });

  it('lexes every keyword as itself', () => {
    for (const keyword of KEYWORDS) expect(pairs(keyword)).toEqual([`${keywordTokens[keyword].name}:${keyword}`]);
  });

  it('prefers the longer keyword: any4 and any6 over any, icmpv6 over icmp', () => {
    expect(pairs('any any4 any6 icmp icmpv6')).toEqual(['Any:any', 'Any4:any4', 'Any6:any6', 'Icmp:icmp', 'Icmpv6:icmpv6']);
  });

  it('keeps names that start with a keyword as names', () => {
    expect(pairs('deny-all icmp-ok any46 anything portal sets from_office tcp2')).toEqual([
      'Name:deny-all',
      'Name:icmp-ok',
      'Name:any46',
      'Name:anything',
      'Name:portal',
      'Name:sets',
      'Name:from_office',
      'Name:tcp2',
    ]);
  });

  it('is case-sensitive: Allow is a name', () => {
    expect(pairs('Allow ALLOW allow')).toEqual(['Name:Allow', 'Name:ALLOW', 'Allow:allow']);
  });
});

describe('tokenize: addresses, ports and numbers', () => {
  it.each([
    ['10.0.0.0/8', 'Ipv4'],
    ['10.0.0.1', 'Ipv4'],
    ['::', 'Ipv6'],
    ['::1', 'Ipv6'],
    ['fe80::1', 'Ipv6'],
    ['2001:db8::/32', 'Ipv6'],
    ['::ffff:10.0.0.1', 'Ipv6'],
    ['2001:0db8:85a3:0000:0000:8a2e:0370:7334', 'Ipv6'],
    ['fe80::', 'Ipv6'],
    ['32768-60999', 'PortRange'],
    ['443', 'Number'],
  ])('lexes %s as one %s token', (text, type) => {
    expect(pairs(text)).toEqual([`${type}:${text}`]);
  });

  it('keeps malformed addresses whole so that lower can report them', () => {
    expect(pairs('10.0.0 300.1.2.3/99 2001:db8::g1 1:2:3:4:5:6:7:8:9')).toEqual([
      'Ipv4:10.0.0',
      'Ipv4:300.1.2.3/99',
      'Ipv6:2001:db8::g1',
      'Ipv6:1:2:3:4:5:6:7:8:9',
    ]);
  });

  it('keeps digits run into letters as one word, never a number and a keyword', () => {
    expect(pairs('port 80to any 1abc 443')).toEqual(['Port:port', 'GluedWord:80to', 'Any:any', 'GluedWord:1abc', 'Number:443']);
  });

  it('tells a CIDR from a port range on one line', () => {
    expect(pairs('from 10.0.0.0/8 port 32768-60999')).toEqual(['From:from', 'Ipv4:10.0.0.0/8', 'Port:port', 'PortRange:32768-60999']);
  });

  it('lexes a rule named fe80 as a name and a colon, next to the address fe80::1', () => {
    expect(pairs('100 fe80: allow tcp from fe80::1 to any')).toEqual([
      'Number:100',
      'Name:fe80',
      'Colon::',
      'Allow:allow',
      'Tcp:tcp',
      'From:from',
      'Ipv6:fe80::1',
      'To:to',
      'Any:any',
    ]);
  });

  it('lexes a hex-looking rule name glued to its action as a name, a colon and the action', () => {
    expect(pairs('100 dead:allow')).toEqual(['Number:100', 'Name:dead', 'Colon::', 'Allow:allow']);
    expect(pairs('100 cafe:deny')).toEqual(['Number:100', 'Name:cafe', 'Colon::', 'Deny:deny']);
  });

  it('lexes icmp both as a protocol and as the type clause', () => {
    expect(pairs('allow icmp from any to any icmp echo-request')).toEqual([
      'Allow:allow',
      'Icmp:icmp',
      'From:from',
      'Any:any',
      'To:to',
      'Any:any',
      'Icmp:icmp',
      'Name:echo-request',
    ]);
    expect(pairs('icmp 3/4')).toEqual(['Icmp:icmp', 'Number:3', 'Slash:/', 'Number:4']);
  });
});

describe('tokenize: strings and comments', () => {
  it('lexes a string with escaped quotes and backslashes as one token', () => {
    expect(pairs(String.raw`"a \"quoted\" \\ word"`)).toEqual([String.raw`String:"a \"quoted\" \\ word"`]);
  });

  it('collects comments apart from the tokens, in order', () => {
    const { types, comments } = lex('# head\nset a = any # tail\n#last');
    expect(comments).toEqual(['# head', '# tail', '#last']);
    expect(types).not.toContain('Comment');
  });

  it('does not start a comment inside a string', () => {
    expect(pairs('"a # b"')).toEqual(['String:"a # b"']);
  });
});

describe('tokenize: lexical errors', () => {
  type Case = [name: string, text: string, code: string, spanText: string, message: string];
  const cases: Case[] = [
    ['a stray character', 'set a = @', 'SEG1001', '@', "unexpected character '@'"],
    ['a run of stray characters, once', 'set a = @@@ b', 'SEG1001', '@@@', "unexpected character '@'"],
    ['a control character, by code point', 'set a\u0001 = b', 'SEG1001', '\u0001', "unexpected character 'U+0001'"],
    ['an unterminated string, to the end of its line', 'include "common.seg\nset a = b', 'SEG1002', '"common.seg', 'unterminated string'],
    ['a string ending in an escaped quote', 'include "a\\"\n', 'SEG1002', '"a\\"', 'unterminated string'],
    ['a bad escape', 'include "a\\qb"', 'SEG1003', '\\q', "invalid escape '\\q' in string"],
    ['a backslash at the end of a line', 'include "a\\\n', 'SEG1003', '\\', "invalid escape '\\' in string"],
  ];
  it.each(cases)('reports %s with its exact span', (_name, text, code, expectedSpan, message) => {
    const { diagnostics } = lex(text);
    const file = createSourceFile('t.seg', text);
    const d = diagnostics.find((x) => x.code === code);
    expect(d).toBeDefined();
    expect(spanText(file, d!.span)).toBe(expectedSpan);
    expect(d!.message).toBe(message);
    expect(d!.severity).toBe('error');
    expect(d!.category).toBe('syntax');
  });

  it('gives a hint for characters carried over from other languages', () => {
    expect(lex('100 allow tcp from any to any;').diagnostics[0]?.hint).toMatch(/semicolon/);
    expect(lex('ports p = 80 - 90').diagnostics[0]?.hint).toMatch(/1024-65535/);
    expect(lex('set a = 10.0.0.1-10.0.0.9').diagnostics[0]?.hint).toMatch(/CIDRs/);
    expect(lex('set a = !10.0.0.0/8').diagnostics[0]?.hint).toMatch(/except/);
    expect(lex('set a = *').diagnostics[0]?.hint).toMatch(/'any'/);
    expect(lex('set a = @').diagnostics[0]?.hint).toBeUndefined();
  });

  it('reports an unterminated string with a bad escape twice, once per mistake', () => {
    expect(lex('"a\\q').diagnostics.map((d) => d.code)).toEqual(['SEG1003', 'SEG1002']);
  });
});

describe('tokenize: line structure', () => {
  it('keeps a newline after every statement and ends the file with one', () => {
    expect(lex('set a = any\nset b = any').types.filter((t) => t === 'Newline')).toHaveLength(2);
    expect(lex('').types).toEqual(['Newline']);
  });

  it('drops newlines inside the braces of a literal', () => {
    const { types } = lex('set a = {\n  10.0.0.1,\n  10.0.0.2\n}\nset b = any\n');
    expect(types.slice(0, 9)).toEqual(['Set', 'Name', 'Equals', 'LCurly', 'Ipv4', 'Comma', 'Ipv4', 'RCurly', 'Newline']);
  });

  it('keeps the newlines of a policy block, one rule per line', () => {
    const { types } = lex('policy ingress {\n100 allow any from any to any\n200 deny any from any to any\n}\n');
    expect(types.filter((t) => t === 'Newline')).toHaveLength(4);
  });

  it('drops newlines in nested literals and in a literal inside a rule line', () => {
    const { types } = lex('policy ingress {\n100 allow {\n tcp,\n udp } from { a,\n { b } } to any\n}\n');
    expect(types.filter((t) => t === 'Newline')).toHaveLength(3);
  });

  it('keeps the newlines after an unclosed brace, so the error stays on its line', () => {
    const { types } = lex('set a = { 10.0.0.1,\nset b = any\n');
    expect(types.filter((t) => t === 'Newline')).toHaveLength(2);
  });

  it('treats comment-only and blank lines as line ends only', () => {
    const { types } = lex('set a = {   # first\n\n  b, # second\n  c\n}\n');
    expect(types).toEqual(['Set', 'Name', 'Equals', 'LCurly', 'Name', 'Comma', 'Name', 'RCurly', 'Newline']);
  });
});
