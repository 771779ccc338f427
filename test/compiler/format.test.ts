// The formatter: golden layouts, comments, blank lines, list breaking, refusal on syntax errors,
// and the two properties that matter: idempotence and meaning preservation (same IR hash), on
// every example and on generated policies.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseSourceFile } from '../../compiler/build-ast.ts';
import { createCollector } from '../../compiler/diagnostics.ts';
import { format, formatSource, LINE_WIDTH } from '../../compiler/format.ts';
import { hashProgram } from '../../compiler/hash.ts';
import { compile } from '../../compiler/program.ts';
import { createMemoryHost, createSourceFile } from '../../compiler/source.ts';

const EXAMPLES_DIR = join(import.meta.dirname, '../../examples');
const EXAMPLES: Readonly<Record<string, string>> = Object.fromEntries(
  readdirSync(EXAMPLES_DIR)
    .filter((f) => f.endsWith('.seg'))
    .sort()
    .map((f) => [f, readFileSync(join(EXAMPLES_DIR, f), 'utf8')]),
);

/** Formats `text`, failing the test on syntax errors. */
function fmt(text: string, path = 'p.seg'): string {
  const result = formatSource(createSourceFile(path, text));
  if (result.text === undefined) throw new Error(`syntax errors: ${result.diagnostics.map((d) => `${d.code} ${d.message}`).join('; ')}`);
  return result.text;
}

function commentsOf(text: string): string[] {
  const ast = parseSourceFile(createSourceFile('p.seg', text), createCollector());
  return ast.comments.map((c) => c.text.trimEnd());
}

/** The IR hash, or the diagnostics when the policy does not compile (then those must match). */
function meaningOf(files: Readonly<Record<string, string>>, root: string): string {
  const compilation = compile([root], createMemoryHost(files));
  return (compilation.ir && hashProgram(compilation.ir)) ?? compilation.diagnostics.map((d) => `${d.code} ${d.message}`).join('\n');
}

const lines = (...l: string[]) => l.join('\n') + '\n';

describe('the canonical layout', () => {
  it('aligns priority, name and action over the whole block, the other columns within each group of rules', () => {
    const input = lines(
      'policy ingress default deny {',
      '100 public-web: allow tcp from any to web_tier port web "public web"',
      '  200   ssh-office:  allow   tcp from admins to any port 22',
      '5 deny any from any to db_tier',
      '1000 log udp from any to any port 53',
      '',
      '# second group',
      '2000 deny log { tcp, udp } from any port 1-1023 to any port { 80, 443 } "low ports"',
      '2001 deny icmp from 10.0.0.0/8 to any icmp destination-unreachable/4 "frag"',
      '}',
    );
    expect(fmt(input)).toBe(
      lines(
        'policy ingress default deny {',
        '   100 public-web: allow    tcp from any    to web_tier port web "public web"',
        '   200 ssh-office: allow    tcp from admins to any port 22',
        '     5             deny     any from any    to db_tier',
        '  1000             log      udp from any    to any port 53',
        '',
        '  # second group',
        '  2000             deny log { tcp, udp } from any port 1-1023 to any port { 80, 443 }               "low ports"',
        '  2001             deny     icmp         from 10.0.0.0/8      to any icmp destination-unreachable/4 "frag"',
        '}',
      ),
    );
  });

  it('gives no space to a column that no rule of the block uses', () => {
    const input = lines('policy egress {', '10 deny  tcp from any to any port 25', '20 allow log icmp from any to any icmp echo-request "ping"', '}');
    expect(fmt(input)).toBe(
      lines('policy egress {', '  10 deny      tcp  from any to any port 25', '  20 allow log icmp from any to any icmp echo-request "ping"', '}'),
    );
  });

  it('lets a cell wider than the column limit overflow without widening its column', () => {
    const wide = '{ 10.1.0.0/16, 10.2.0.0/16, 10.3.0.0/16, 10.4.0.0/16 }';
    const input = lines('policy ingress {', `1 allow tcp from ${wide} to any port 22`, '2 allow tcp from any to any port 80', '}');
    expect(fmt(input)).toBe(
      lines('policy ingress {', `  1 allow tcp from ${wide} to any port 22`, '  2 allow tcp from any to any port 80', '}'),
    );
  });

  it('aligns the = of consecutive set and ports declarations, separately and per run', () => {
    const input = lines(
      'set office = { 10.20.0.0/16, 2001:db8:20::/48 }',
      'set web_tier = 10.0.1.0/24',
      'set admins   =   office except { 10.20.99.0/24 }',
      '',
      'set lonely = any4',
      'ports web = { 80, 443 }',
      'ports ephemeral = 32768-60999',
    );
    expect(fmt(input)).toBe(
      lines(
        'set office   = { 10.20.0.0/16, 2001:db8:20::/48 }',
        'set web_tier = 10.0.1.0/24',
        'set admins   = office except { 10.20.99.0/24 }',
        '',
        'set lonely = any4',
        'ports web       = { 80, 443 }',
        'ports ephemeral = 32768-60999',
      ),
    );
  });

  it('keeps include paths, addresses, numbers and strings as written', () => {
    const input = lines(
      'include   "sub/common.seg"',
      'set v6 = { 2001:DB8::1, 10.0.0.1 }',
      'policy ingress {',
      '0100 allow tcp from v6 to any port 0022 "say \\"hi\\" \\\\ bye"',
      '}',
    );
    expect(fmt(input)).toBe(
      lines('include "sub/common.seg"', 'set v6 = { 2001:DB8::1, 10.0.0.1 }', 'policy ingress {', '  0100 allow tcp from v6 to any port 0022 "say \\"hi\\" \\\\ bye"', '}'),
    );
  });

  it('never adds a default the user did not write, and prints an empty block on two lines', () => {
    expect(fmt('policy egress {}\n')).toBe(lines('policy egress {', '}'));
    expect(fmt('policy egress default allow {\n\n}')).toBe(lines('policy egress default allow {', '}'));
  });

  it('collapses blank lines to one, drops them at the edges of blocks and ends with one newline', () => {
    const input = '\n\n\nset a = any\n\n\n\nset b = any6\npolicy ingress {\n\n\n1 allow any from a to b\n\n\n\n2 allow any from b to a\n\n}\n\n\n';
    expect(fmt(input)).toBe(
      lines('set a = any', '', 'set b = any6', 'policy ingress {', '  1 allow any from a to b', '', '  2 allow any from b to a', '}'),
    );
    expect(fmt('set a = any\r\n\r\n\r\nset b = any\r\nset c = any\r\n')).toBe(lines('set a = any', '', 'set b = any', 'set c = any'));
    expect(fmt('set a = any\r\rset b = any\rset c = any')).toBe(lines('set a = any', '', 'set b = any', 'set c = any'));
    expect(fmt('')).toBe('');
    expect(fmt('\n\n')).toBe('');
  });
});

describe('lists', () => {
  it('keeps a short list on one line', () => {
    expect(fmt('set a = {10.0.0.0/8,10.1.0.0/16}\n')).toBe('set a = { 10.0.0.0/8, 10.1.0.0/16 }\n');
  });

  it('puts one element per line, without a trailing comma, when the user broke the list', () => {
    const input = lines('set a = { 10.0.0.0/8, 10.1.0.0/16,', '  10.2.0.0/16 }');
    expect(fmt(input)).toBe(lines('set a = {', '  10.0.0.0/8,', '  10.1.0.0/16,', '  10.2.0.0/16', '}'));
  });

  it('breaks a declaration that would pass the line width, and only the outer list', () => {
    const items = Array.from({ length: 12 }, (_, i) => `10.${i}.0.0/16`);
    const input = `set wide = { ${items.join(', ')}, { 192.168.0.0/24, 192.168.1.0/24 } }\n`;
    expect(input.length).toBeGreaterThan(LINE_WIDTH);
    expect(fmt(input)).toBe(lines('set wide = {', ...items.map((i) => `  ${i},`), '  { 192.168.0.0/24, 192.168.1.0/24 }', '}'));
  });

  it('keeps a declaration of exactly the line width on one line and breaks one a column longer', () => {
    const declaration = (width: number) => {
      const head = 'set a = { 10.0.0.0/8, ';
      const tail = ' }';
      const name = 'x'.repeat(width - head.length - tail.length);
      return `${head}${name}${tail}`;
    };
    expect(fmt(`${declaration(LINE_WIDTH)}\n`)).toBe(`${declaration(LINE_WIDTH)}\n`);
    expect(fmt(`${declaration(LINE_WIDTH + 1)}\n`).split('\n')).toHaveLength(5);
  });

  it('breaks both sides of except when a declaration is too long', () => {
    const base = Array.from({ length: 8 }, (_, i) => `10.${i}.0.0/16`);
    const cut = Array.from({ length: 4 }, (_, i) => `10.${i}.1.0/24`);
    const input = `set cut = { ${base.join(', ')} } except { ${cut.join(', ')} }\n`;
    expect(fmt(input)).toBe(
      lines('set cut = {', ...base.map((b, i) => `  ${b}${i < 7 ? ',' : ''}`), '} except {', ...cut.map((c, i) => `  ${c}${i < 3 ? ',' : ''}`), '}'),
    );
  });

  it('indents a broken list inside a rule under the rule, and the rest of the row follows it', () => {
    const input = lines('policy ingress {', '1 web: allow tcp from { 10.0.0.0/8,', '192.168.0.0/16 } to any port 80', '20 allow udp from any to any port 53', '}');
    expect(fmt(input)).toBe(
      lines(
        'policy ingress {',
        '   1 web: allow tcp from {',
        '    10.0.0.0/8,',
        '    192.168.0.0/16',
        '  } to any port 80',
        '  20      allow udp from any to any port 53',
        '}',
      ),
    );
  });

  it('prints nested broken lists with deeper indentation', () => {
    const input = lines('ports p = { 1, {', '2, 3 }, 4 }');
    expect(fmt(input)).toBe(lines('ports p = {', '  1,', '  {', '    2,', '    3', '  },', '  4', '}'));
  });
});

describe('comments', () => {
  it('keeps own-line and trailing comments where they were', () => {
    const input = lines(
      '# header',
      '',
      '',
      '# about a',
      'set a = any   # trailing a   ',
      '   # floating',
      'policy ingress { # about the block',
      '    # before the first rule',
      '1 allow tcp from a to any port 22 # ssh',
      '',
      '  # before the last rule',
      '2 deny any from any to any',
      '# before the brace',
      '} # after the block',
      '# the end',
    );
    expect(fmt(input)).toBe(
      lines(
        '# header',
        '',
        '# about a',
        'set a = any # trailing a',
        '# floating',
        'policy ingress { # about the block',
        '  # before the first rule',
        '  1 allow tcp from a to any port 22 # ssh',
        '',
        '  # before the last rule',
        '  2 deny  any from any to any',
        '  # before the brace',
        '} # after the block',
        '# the end',
      ),
    );
  });

  it('keeps comments inside lists, which makes the list one element per line', () => {
    const input = lines(
      'set office = { # offices',
      '  10.20.0.0/16, # Paris',
      '',
      '  # Berlin, both families',
      '  10.21.0.0/16, 2001:db8:21::/48',
      '  # closing',
      '}',
      'policy ingress {',
      '1 allow tcp from { 10.0.0.0/8 # corp',
      '} to any port { 22, 443 }',
      '}',
    );
    expect(fmt(input)).toBe(
      lines(
        'set office = { # offices',
        '  10.20.0.0/16, # Paris',
        '',
        '  # Berlin, both families',
        '  10.21.0.0/16,',
        '  2001:db8:21::/48',
        '  # closing',
        '}',
        'policy ingress {',
        '  1 allow tcp from {',
        '    10.0.0.0/8 # corp',
        '  } to any port { 22, 443 }',
        '}',
      ),
    );
  });

  it('formats a file of comments only', () => {
    expect(fmt('  # one\n\n\n#two')).toBe('# one\n\n#two\n');
  });
});

describe('refusal', () => {
  it('refuses a file with syntax errors and returns them', () => {
    const result = formatSource(createSourceFile('bad.seg', 'set a = {\npolicy ingress {\n1 allow tcp from any to\n}\n'));
    expect(result.text).toBeUndefined();
    expect(result.diagnostics.length).toBeGreaterThan(0);
    expect(result.diagnostics.every((d) => d.category === 'syntax')).toBe(true);
  });

  it('formats a file whose errors are not syntax errors (unknown names, bad values)', () => {
    expect(fmt('policy ingress {\n1 allow tcp from nowhere to 10.0.0.1/8 port 70000\n}\n')).toBe(
      'policy ingress {\n  1 allow tcp from nowhere to 10.0.0.1/8 port 70000\n}\n',
    );
  });

  it('throws when given a recovered AST instead of formatting it', () => {
    const source = createSourceFile('bad.seg', 'policy ingress {\n1 allow tcp from any to\n2 allow udp from any to any\n}\n');
    const ast = parseSourceFile(source, createCollector());
    expect(() => format(ast, source)).toThrow(/syntax errors/);
  });
});

describe('the proof', () => {
  it('throws rather than return text that parses to another tree', () => {
    const text = 'policy ingress {\n1 allow tcp from any to any port 22\n}\n';
    const ast = parseSourceFile(createSourceFile('p.seg', text), createCollector());
    // A source whose text disagrees with the AST makes the printer write port 23 where the tree says 22.
    expect(() => format(ast, createSourceFile('p.seg', text.replace('22', '23')))).toThrow(/changed the syntax tree/);
  });

  it('throws rather than return text that does not parse', () => {
    const text = 'policy ingress {\n1 allow tcp from any to any port 22\n}\n';
    const ast = parseSourceFile(createSourceFile('p.seg', text), createCollector());
    expect(() => format(ast, createSourceFile('p.seg', text.replace('22', '2;')))).toThrow(/does not parse/);
  });
});

describe('the examples', () => {
  it.each(Object.keys(EXAMPLES))('%s is already in canonical form', (name) => {
    expect(fmt(EXAMPLES[name] as string, name)).toBe(EXAMPLES[name]);
  });

  it.each(Object.keys(EXAMPLES))('%s keeps its meaning and comments when reformatted from a scrambled layout', (name) => {
    const original = EXAMPLES[name] as string;
    const scrambled = scramble(original);
    expect(scrambled).not.toBe(original);
    const formatted = fmt(scrambled, name);
    expect(fmt(formatted, name)).toBe(formatted);
    expect(formatted).toBe(original);
    expect(meaningOf({ ...EXAMPLES, [name]: scrambled }, name)).toBe(meaningOf(EXAMPLES, name));
    expect(commentsOf(formatted)).toEqual(commentsOf(scrambled));
  });
});

describe('docs/fmt.md', () => {
  it('shows its layout example in canonical form', () => {
    const doc = readFileSync(join(import.meta.dirname, '../../docs/fmt.md'), 'utf8');
    const example = /```\n(# web\.seg[^`]*)```/.exec(doc)?.[1];
    expect(example).toBeDefined();
    expect(fmt(example ?? '')).toBe(example);
  });
});

/**
 * The text with the layout undone: runs of spaces outside strings and comments become one, and
 * indentation goes. Lists stay broken where they were, so the canonical form comes back.
 */
function scramble(text: string): string {
  return text
    .split('\n')
    .map((line) => {
      const hash = line.search(/#|"/);
      const code = hash < 0 ? line : line.slice(0, hash);
      const rest = hash < 0 ? '' : line.slice(hash);
      return code.trim().replace(/ +/g, '\t ') + (rest === '' ? '' : ` ${rest}`);
    })
    .join('\n')
    .replace(/\n\n/g, '\n\n\n');
}

// ---- Generated policies ------------------------------------------------------------------------

const V4 = ['10.0.0.0/8', '10.1.2.0/24', '192.168.1.1', '172.16.0.0/12', '0.0.0.0/0', '198.51.100.7/32'];
const V6 = ['2001:db8::/32', 'fe80::/10', '2001:db8:1:2::/64', '::1', 'ff02::1:2', '2001:DB8::7/128'];
const COMMENT_TEXT = fc.string({ unit: fc.constantFrom('a', 'b', ' ', '#', '{', '}', '"', ',', 'é', '\\'), maxLength: 12 }).map((s) => `#${s}`);
const SPACE = fc.constantFrom(' ', '  ', '\t', ' \t ');

/** A piece of generated text: either a token or a place where the generator may add layout. */
type Piece = { readonly token: string } | { readonly gap: 'line' | 'list' };

/** A dual-family address expression, so that every rule built from them can match a packet. */
function addrExpr(sets: readonly string[], depth: number): fc.Arbitrary<Piece[]> {
  const literalPair = fc.tuple(fc.constantFrom(...V4), fc.constantFrom(...V6)).map(([a, b]): Piece[] => list([[{ token: a }], [{ token: b }]]));
  const options: fc.Arbitrary<Piece[]>[] = [literalPair, fc.constantFrom('any', 'any', 'any4', 'any6').map((token) => [{ token }])];
  if (sets.length > 0) options.push(fc.constantFrom(...sets).map((s) => [{ token: s }]));
  if (depth > 0) {
    options.push(
      fc.array(addrExpr(sets, depth - 1), { minLength: 1, maxLength: 3 }).map((items) => list(items)),
      fc.tuple(literalPair, fc.constantFrom('10.99.0.0/16', '2001:db8:99::/48')).map(([base, cut]) => [...base, { token: 'except' }, { token: cut }]),
    );
  }
  return fc.oneof(...options);
}

function list(items: readonly Piece[][]): Piece[] {
  const out: Piece[] = [{ token: '{' }];
  items.forEach((item, i) => {
    out.push({ gap: 'list' }, ...item);
    if (i < items.length - 1) out.push({ token: ',' });
  });
  out.push({ gap: 'list' }, { token: '}' });
  return out;
}

const portExpr: fc.Arbitrary<Piece[]> = fc.oneof(
  fc.integer({ min: 0, max: 65535 }).map((n) => [{ token: String(n) }]),
  fc.tuple(fc.integer({ min: 0, max: 65535 }), fc.integer({ min: 0, max: 65535 })).map(([a, b]) => [{ token: `${Math.min(a, b)}-${Math.max(a, b)}` }]),
  fc.array(fc.integer({ min: 1, max: 9999 }), { minLength: 1, maxLength: 4 }).map((ns) => list(ns.map((n) => [{ token: String(n) }]))),
);

const ruleKind = fc.constantFrom('ports', 'icmp', 'plain');

function rule(priority: number, name: string | undefined, sets: readonly string[]): fc.Arbitrary<Piece[]> {
  return fc
    .record({
      kind: ruleKind,
      action: fc.constantFrom('allow', 'deny', 'log', 'allow log', 'deny log'),
      src: addrExpr(sets, 2),
      dst: addrExpr(sets, 1),
      srcPorts: fc.option(portExpr, { nil: undefined }),
      dstPorts: fc.option(portExpr, { nil: undefined }),
      portProto: fc.constantFrom(['tcp'], ['udp'], ['sctp'], ['tcp', 'udp']),
      icmpProto: fc.constantFrom(['icmp'], ['icmpv6'], ['icmp', 'icmpv6']),
      icmp: fc.option(fc.tuple(fc.constantFrom('echo-request', 'destination-unreachable', '3'), fc.option(fc.integer({ min: 0, max: 15 }), { nil: undefined })), { nil: undefined }),
      plainProto: fc.constantFrom('any', '6', '47'),
      description: fc.option(fc.constantFrom('"web"', '"say \\"hi\\""', '"a\\\\b # not a comment"'), { nil: undefined }),
    })
    .map((r) => {
      const out: Piece[] = [{ token: String(priority) }];
      if (name !== undefined) out.push({ token: `${name}:` });
      out.push(...r.action.split(' ').map((token) => ({ token })));
      const protos = r.kind === 'ports' ? r.portProto : r.kind === 'icmp' ? r.icmpProto : [r.plainProto];
      out.push(...(protos.length === 1 ? [{ token: protos[0] as string }] : list(protos.map((p) => [{ token: p }]))));
      out.push({ token: 'from' }, ...r.src);
      if (r.kind === 'ports' && r.srcPorts) out.push({ token: 'port' }, ...r.srcPorts);
      out.push({ token: 'to' }, ...r.dst);
      if (r.kind === 'ports' && r.dstPorts) out.push({ token: 'port' }, ...r.dstPorts);
      if (r.kind === 'icmp' && r.icmp) {
        const [type, code] = r.icmp;
        out.push({ token: 'icmp' }, { token: code === undefined ? type : `${type}/${code}` });
      }
      if (r.description !== undefined) out.push({ token: r.description });
      return out;
    });
}

/** A whole policy: set and port declarations, then policy blocks, each line a list of pieces. */
const policyLines: fc.Arbitrary<Piece[][]> = fc
  .record({ setCount: fc.integer({ min: 0, max: 4 }), portCount: fc.integer({ min: 0, max: 2 }), blocks: fc.array(fc.tuple(fc.constantFrom('ingress', 'egress'), fc.constantFrom('', 'default allow', 'default deny'), fc.integer({ min: 0, max: 4 })), { maxLength: 3 }) })
  .chain(({ setCount, portCount, blocks }) => {
    const setNames = Array.from({ length: setCount }, (_, i) => `s${i}`);
    const setLines = setNames.map((name, i) => addrExpr(setNames.slice(0, i), 2).map((value): Piece[] => [{ token: 'set' }, { token: name }, { token: '=' }, ...value]));
    const portLines = Array.from({ length: portCount }, (_, i) => portExpr.map((value): Piece[] => [{ token: 'ports' }, { token: `p${i}` }, { token: '=' }, ...value]));
    // Priorities and names are unique per direction, across blocks.
    const used = { ingress: 0, egress: 0 };
    const blockLines = blocks.map(([direction, dflt], b) => {
      const count = blocks[b]?.[2] ?? 0;
      const rules = Array.from({ length: count }, () => {
        const n = ++used[direction];
        return fc.boolean().chain((named) => rule(n * 10, named ? `${direction[0]}${n}` : undefined, setNames));
      });
      // Only the first block of a direction states a default, so defaults never conflict.
      const first = blocks.findIndex(([d]) => d === direction) === b;
      const header: Piece[] = [{ token: 'policy' }, { token: direction }, ...(first && dflt !== '' ? dflt.split(' ').map((token) => ({ token })) : []), { token: '{' }];
      return fc.tuple(...rules).map((r): Piece[][] => [header, ...r, [{ token: '}' }]]);
    });
    return fc.tuple(fc.tuple(...setLines), fc.tuple(...portLines), fc.tuple(...blockLines)).map(([s, p, b]) => [...s, ...p, ...b.flat()]);
  });

/** The lines as text, with random spacing, blank lines, comments and broken lists. */
function layout(pieceLines: readonly Piece[][]): fc.Arbitrary<string> {
  const gapCount = pieceLines.flat().length + pieceLines.length;
  return fc
    .record({
      spaces: fc.array(SPACE, { minLength: gapCount, maxLength: gapCount }),
      breaks: fc.array(fc.nat({ max: 5 }), { minLength: gapCount, maxLength: gapCount }),
      comments: fc.array(fc.option(COMMENT_TEXT, { freq: 3, nil: undefined }), { minLength: gapCount, maxLength: gapCount }),
    })
    .map(({ spaces, breaks, comments }) => {
      let g = 0;
      let text = '';
      for (const pieces of pieceLines) {
        const before = g++;
        if ((breaks[before] ?? 0) === 0) text += '\n';
        if (comments[before] !== undefined && (breaks[before] ?? 0) < 2) text += `${spaces[before]}${comments[before]}\n`;
        let line = '';
        for (const piece of pieces) {
          const i = g++;
          if ('token' in piece) {
            line += (line === '' ? '' : spaces[i]) + piece.token;
            continue;
          }
          // A newline is allowed only inside a list; a comment then may end the line.
          if (piece.gap === 'list' && (breaks[i] ?? 0) === 0) {
            line += (comments[i] === undefined ? '' : ` ${comments[i]}`) + '\n';
          }
        }
        const trailing = comments[g - 1] !== undefined && (breaks[g - 1] ?? 0) === 1 ? ` ${comments[g - 1]}` : '';
        text += `${spaces[before]}${line}${trailing}\n`;
      }
      return text;
    });
}

/** Some files come with CRLF (or old Mac CR) line ends, or without a final newline. */
const generatedPolicy = policyLines
  .chain(layout)
  .chain((text) => fc.constantFrom(text, text.replace(/\n/g, '\r\n'), text.replace(/\n/g, '\r'), text.replace(/\n+$/, '')));

describe('generated policies', () => {
  it('format to a fixed point, keep their comments and keep their meaning', () => {
    fc.assert(
      fc.property(generatedPolicy, (text) => {
        const once = fmt(text);
        expect(fmt(once)).toBe(once);
        expect(commentsOf(once)).toEqual(commentsOf(text));
        expect(meaningOf({ 'p.seg': once }, 'p.seg')).toBe(meaningOf({ 'p.seg': text }, 'p.seg'));
      }),
      { numRuns: Number(process.env['FORMAT_RUNS'] ?? 150) },
    );
  });

  it('mostly compile and hold rules, so that meaning preservation compares IR hashes, not only diagnostics', () => {
    const samples = fc.sample(generatedPolicy, { numRuns: 60, seed: 7 });
    const compiled = samples.filter((text) => compile(['p.seg'], createMemoryHost({ 'p.seg': text })).ir !== undefined);
    expect(compiled.length).toBeGreaterThan(samples.length / 2);
    const withRules = compiled.filter((text) => (compile(['p.seg'], createMemoryHost({ 'p.seg': text })).ir?.rules.length ?? 0) > 0);
    expect(withRules.length).toBeGreaterThan(samples.length / 4);
  });
});
