// The human reporter over hand-made diagnostics: layout, underlines, notes, witnesses, colour.
import { describe, expect, it } from 'vitest';
import { Code, makeDiagnostic, type Diagnostic } from '../../../compiler/diagnostics.ts';
import { formatHuman, formatHumanSummary, formatWitness } from '../../../compiler/report/human.ts';
import { createSourceFile, type SourceFile } from '../../../compiler/source.ts';

function sourcesOf(...files: SourceFile[]): Map<string, SourceFile> {
  return new Map(files.map((f) => [f.path, f]));
}

/** The span of the first occurrence of `needle` in the file. */
function spanOf(file: SourceFile, needle: string, from = 0) {
  const start = file.text.indexOf(needle, from);
  if (start < 0) throw new Error(`'${needle}' is not in ${file.path}`);
  return { file: file.path, start, end: start + needle.length };
}

const web = createSourceFile('web.seg', 'set office = 10.20.0.0/16\nset office = 10.20.1.0/16\n\tset tabbed = 10.0.0.1/8\n');

describe('formatHuman', () => {
  it('prints the code, the location, the line with a caret underline, and the hint', () => {
    const d = makeDiagnostic(Code.HostBitsSet, spanOf(web, '10.20.1.0/16'), { text: '10.20.1.0/16', network: '10.20.0.0/16' });
    expect(formatHuman([d], sourcesOf(web), { color: false })).toBe(
      [
        "error[SEG3003]: '10.20.1.0/16' has host bits set",
        ' --> web.seg:2:14',
        '  |',
        '2 | set office = 10.20.1.0/16',
        '  |              ^^^^^^^^^^^^',
        '  = hint: the network is 10.20.0.0/16',
        '',
        '1 error',
        '',
      ].join('\n'),
    );
  });

  it('prints related spans as notes with their own snippet underlined with dashes', () => {
    const second = spanOf(web, 'office', 30);
    const d = makeDiagnostic(Code.DuplicateDeclaration, second, { name: 'office' }, { related: [{ span: spanOf(web, 'office'), message: "'office' is first declared here" }] });
    const text = formatHuman([d], sourcesOf(web), { color: false });
    expect(text).toContain(["note: 'office' is first declared here", ' --> web.seg:1:5', '  |', '1 | set office = 10.20.0.0/16', '  |     ------'].join('\n'));
  });

  it('keeps tabs in front of the underline so that it lines up under the text', () => {
    const d = makeDiagnostic(Code.HostBitsSet, spanOf(web, '10.0.0.1/8'), { text: '10.0.0.1/8', network: '10.0.0.0/8' });
    const lines = formatHuman([d], sourcesOf(web), { color: false }).split('\n');
    expect(lines[3]).toBe('3 | \tset tabbed = 10.0.0.1/8');
    expect(lines[4]).toBe('  | \t             ^^^^^^^^^^');
  });

  it('underlines each line of a short multi-line span from its first character', () => {
    const file = createSourceFile('p.seg', 'policy ingress default deny {\n  100 allow tcp from any to any\n}\n');
    const d = makeDiagnostic(Code.ConflictingDefaults, { file: 'p.seg', start: 15, end: file.text.length - 1 }, { direction: 'ingress', action: 'deny', other: 'allow' });
    const lines = formatHuman([d], sourcesOf(file), { color: false }).split('\n');
    expect(lines.slice(3, 9)).toEqual([
      '1 | policy ingress default deny {',
      '  |                ^^^^^^^^^^^^^^',
      '2 |   100 allow tcp from any to any',
      '  |   ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^',
      '3 | }',
      '  | ^',
    ]);
  });

  it('elides the middle of a long multi-line span', () => {
    const file = createSourceFile('long.seg', ['policy egress {', ...Array.from({ length: 8 }, (_, i) => `  ${i + 1}00 allow tcp from any to any`), '}'].join('\n'));
    const d = makeDiagnostic(Code.RuleMatchesNothing, { file: 'long.seg', start: 0, end: file.text.length }, { reason: 'r', hint: 'h' });
    const text = formatHuman([d], sourcesOf(file), { color: false });
    expect(text).toContain('\n...\n10 | }\n   | ^\n');
    expect(text).not.toContain('  500 allow');
  });

  it('shows a span that ends just after a line break as ending on the line before', () => {
    const file = createSourceFile('a.seg', 'set a = { }\nset b = 1.2.3.4\n');
    const d = makeDiagnostic(Code.EmptySetLiteral, { file: 'a.seg', start: 0, end: 12 }, { what: 'address set' });
    const text = formatHuman([d], sourcesOf(file), { color: false });
    expect(text).toContain('1 | set a = { }\n  | ^^^^^^^^^^^\n');
    expect(text).not.toContain('2 |');
  });

  it('marks an empty span (a missing token) with one caret', () => {
    const file = createSourceFile('m.seg', 'set web 10.0.1.0/24\n');
    const d = makeDiagnostic(Code.MissingToken, { file: 'm.seg', start: 8, end: 8 }, { expected: "'='", where: "after the set's name" });
    expect(formatHuman([d], sourcesOf(file), { color: false })).toContain('1 | set web 10.0.1.0/24\n  |         ^\n');
  });

  it('pads the gutter to the widest line number of the diagnostic and its notes', () => {
    const text = Array.from({ length: 12 }, (_, i) => `set s${i} = 10.0.${i}.0/24`).join('\n');
    const file = createSourceFile('w.seg', text);
    const d = makeDiagnostic(Code.DuplicateDeclaration, spanOf(file, 's11'), { name: 's11' }, { related: [{ span: spanOf(file, 's0'), message: 'first' }] });
    const out = formatHuman([d], sourcesOf(file), { color: false });
    expect(out).toContain('  --> w.seg:12:5\n   |\n12 | set s11');
    expect(out).toContain('  --> w.seg:1:5\n   |\n 1 | set s0 = ');
  });

  it('prints a witness in the PACKET syntax of explain', () => {
    const file = createSourceFile('c.seg', 'policy ingress {\n  100 allow tcp from any to any port 22\n  200 deny tcp from 10.0.0.0/8 to any\n}\n');
    const d = makeDiagnostic(Code.Conflict, spanOf(file, '200 deny tcp from 10.0.0.0/8 to any'), { rule: 'ingress/200', other: 'ingress/100' }, {
      witness: { proto: 'tcp', src: '10.0.0.1', srcPort: 1024, dst: '2.2.2.2', dstPort: 22 },
    });
    expect(formatHuman([d], sourcesOf(file), { color: false })).toContain('  = witness: tcp 10.0.0.1:1024 -> 2.2.2.2:22\n');
  });

  it('replaces control characters of the input by visible pictures', () => {
    const file = createSourceFile('x.seg', 'set a = \u001b[31m\n');
    const d = makeDiagnostic(Code.UnexpectedCharacter, { file: 'x.seg', start: 8, end: 9 }, { char: '\u001b', hint: '' });
    const text = formatHuman([d], sourcesOf(file), { color: false });
    expect(text).not.toContain('\u001b');
    expect(text).toContain("unexpected character '\u241b'");
    expect(text).toContain('1 | set a = \u241b[31m\n  |         ^\n');
  });

  it('cuts a very long line to a window around the underline', () => {
    const file = createSourceFile('long.seg', 'set a = {' + ' 10.0.0.0/8,'.repeat(100) + ' 10.0.0.1/8 }');
    const d = makeDiagnostic(Code.HostBitsSet, spanOf(file, '10.0.0.1/8'), { text: '10.0.0.1/8', network: '10.0.0.0/8' });
    const lines = formatHuman([d], sourcesOf(file), { color: false }).split('\n');
    const source = lines[3] ?? '';
    const underline = lines[4] ?? '';
    expect(source.length).toBeLessThan(200);
    expect(source).toContain('…');
    expect(source.slice(underline.indexOf('^'), underline.lastIndexOf('^') + 1)).toBe('10.0.0.1/8');
  });

  it('prints only location lines for a file it was not given', () => {
    const d = makeDiagnostic(Code.IncludeNotFound, { file: 'gone.seg', start: 0, end: 0 }, { path: 'gone.seg' });
    const text = formatHuman([d], new Map(), { color: false });
    expect(text).toContain(" --> gone.seg:1:1\n  = hint: paths are relative to the including file\n");
  });

  it('colours with ANSI escapes only when asked', () => {
    const d = makeDiagnostic(Code.Redundant, spanOf(web, 'set office'), { rule: 'x', reason: 'y' });
    expect(formatHuman([d], sourcesOf(web), { color: false })).not.toContain('\u001b[');
    const coloured = formatHuman([d], sourcesOf(web), { color: true });
    expect(coloured).toContain('\u001b[1;33mwarning[SEG5002]\u001b[0m');
  });

  it('separates diagnostics by a blank line and ends with the summary', () => {
    const ds: Diagnostic[] = [
      makeDiagnostic(Code.HostBitsSet, spanOf(web, '10.20.1.0/16'), { text: 't', network: 'n' }),
      makeDiagnostic(Code.UnusedSet, spanOf(web, 'office'), { name: 'office' }),
    ];
    const text = formatHuman(ds, sourcesOf(web), { color: false });
    expect(text.split('\n\n')).toHaveLength(3);
    expect(text.endsWith('\n1 error, 1 info\n')).toBe(true);
  });
});

describe('formatHumanSummary', () => {
  it('counts each severity with the right plural and leaves out zero counts', () => {
    expect(formatHumanSummary({ errors: 2, warnings: 1, infos: 0 }, { color: false })).toBe('2 errors, 1 warning');
    expect(formatHumanSummary({ errors: 0, warnings: 3, infos: 2 }, { color: false })).toBe('3 warnings, 2 infos');
  });

  it('says there are no problems, and in how many files, when nothing was found', () => {
    expect(formatHumanSummary({ errors: 0, warnings: 0, infos: 0 }, { color: false, fileCount: 3 })).toBe('no problems (3 files checked)');
    expect(formatHumanSummary({ errors: 0, warnings: 0, infos: 0 }, { color: false, fileCount: 1 })).toBe('no problems (1 file checked)');
  });
});

describe('formatWitness', () => {
  it('brackets IPv6 addresses that carry a port', () => {
    expect(formatWitness({ proto: 'udp', src: '2001:db8::1', srcPort: 5353, dst: '2001:db8::2', dstPort: 53 })).toBe('udp [2001:db8::1]:5353 -> [2001:db8::2]:53');
  });

  it('prints ICMP type and code, and protocols given by number', () => {
    expect(formatWitness({ proto: 'icmp', src: '10.0.0.1', dst: '10.0.0.2', icmpType: 8, icmpCode: 0 })).toBe('icmp 10.0.0.1 -> 10.0.0.2 type 8 code 0');
    expect(formatWitness({ proto: '47', src: '10.0.0.1', dst: '10.0.0.2' })).toBe('47 10.0.0.1 -> 10.0.0.2');
  });
});
