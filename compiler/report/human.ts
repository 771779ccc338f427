// Reporter: diagnostics as text for people, in the style of rustc and Elm. Takes sorted
// diagnostics and the sources they point into; returns the text (coloured only when asked).
//
//   error[SEG3003]: '10.0.0.1/8' has host bits set
//    --> web.seg:4:14
//     |
//   4 | set office = 10.0.0.1/8
//     |              ^^^^^^^^^^
//     = hint: the network is 10.0.0.0/8
//
// Related spans follow as `note:` blocks with their own snippet, underlined with `-`.
import { PROTOCOL_NUMBERS } from '../ir.ts';
import { formatPacket, type Packet } from '../packet.ts';
import { lineText, type SourceFile, type Span } from '../source.ts';
import type { Diagnostic, Severity, Witness } from '../diagnostics.ts';
import { countSeverities, locate, type ReportSources, type SeverityCounts } from './location.ts';

export interface HumanOptions {
  readonly color: boolean;
  /** How many files were checked; the summary names it when there is nothing to report. */
  readonly fileCount?: number;
}

/** Every diagnostic, a blank line between them, then the summary line. */
export function formatHuman(diagnostics: readonly Diagnostic[], sources: ReportSources, options: HumanOptions): string {
  const blocks = diagnostics.map((d) => formatHumanDiagnostic(d, sources, options));
  const summary = formatHumanSummary(countSeverities(diagnostics), options);
  return blocks.map((b) => b + '\n').join('') + summary + '\n';
}

/** `2 errors, 1 warning`; with nothing to report, `no problems` (and the number of files). */
export function formatHumanSummary(counts: SeverityCounts, options: HumanOptions): string {
  const paint = painter(options.color);
  const parts: string[] = [];
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
  if (counts.errors > 0) parts.push(paint(STYLE.error, plural(counts.errors, 'error')));
  if (counts.warnings > 0) parts.push(paint(STYLE.warning, plural(counts.warnings, 'warning')));
  if (counts.infos > 0) parts.push(paint(STYLE.info, plural(counts.infos, 'info')));
  if (parts.length > 0) return parts.join(', ');
  const files = options.fileCount === undefined ? '' : ` (${plural(options.fileCount, 'file')} checked)`;
  return paint(STYLE.ok, 'no problems') + files;
}

/** One diagnostic's block, ending with a newline. */
export function formatHumanDiagnostic(d: Diagnostic, sources: ReportSources, options: HumanOptions): string {
  const paint = painter(options.color);
  const spans = [d.span, ...d.related.map((r) => r.span)];
  // A loop, not Math.max(...): a finding may name thousands of related rules.
  let width = 0;
  for (const s of spans) width = Math.max(width, String(shownLines(s, sources).last).length);
  const pad = ' '.repeat(width);
  const out: string[] = [];

  out.push(paint(STYLE[d.severity], `${d.severity}[${d.code}]`) + paint(STYLE.message, `: ${printable(d.message)}`));
  for (const line of formatHumanSnippet(d.span, sources, width, '^', STYLE[d.severity], paint)) out.push(line);
  if (d.hint !== undefined) out.push(`${pad} ${paint(STYLE.gutter, '=')} ${paint(STYLE.message, 'hint')}: ${printable(d.hint)}`);
  if (d.witness !== undefined) out.push(`${pad} ${paint(STYLE.gutter, '=')} ${paint(STYLE.message, 'witness')}: ${formatWitness(d.witness)}`);
  for (const r of d.related) {
    out.push(paint(STYLE.note, 'note') + paint(STYLE.message, `: ${printable(r.message)}`));
    for (const line of formatHumanSnippet(r.span, sources, width, '-', STYLE.note, paint)) out.push(line);
  }
  return out.join('\n') + '\n';
}

/** A witness in the spec's PACKET syntax: `tcp 10.0.0.1:1 -> 10.0.1.5:22`. */
export function formatWitness(w: Witness): string {
  const known = Object.hasOwn(PROTOCOL_NUMBERS, w.proto);
  if (known || /^\d+$/.test(w.proto)) {
    const proto = known ? PROTOCOL_NUMBERS[w.proto as keyof typeof PROTOCOL_NUMBERS] : Number(w.proto);
    return formatPacket({ ...packetOf(w), proto });
  }
  // A protocol that is neither a keyword nor a number stays as written.
  const rest = formatPacket(packetOf(w));
  return w.proto + rest.slice(rest.indexOf(' '));
}

function packetOf(w: Witness): Packet {
  const p: { -readonly [K in keyof Packet]: Packet[K] } = { proto: 0, src: w.src, dst: w.dst };
  if (w.srcPort !== undefined) p.srcPort = w.srcPort;
  if (w.dstPort !== undefined) p.dstPort = w.dstPort;
  if (w.icmpType !== undefined) p.icmpType = w.icmpType;
  if (w.icmpCode !== undefined) p.icmpCode = w.icmpCode;
  return p;
}

// ---- Snippets -------------------------------------------------------------------------------

/** Longer spans show their first lines, an elision mark, and their last line. */
const MAX_SPAN_LINES = 4;
/** Longer source lines are cut to a window around the underline. */
const MAX_LINE_WIDTH = 160;

interface ShownLines {
  readonly file: SourceFile | undefined;
  readonly first: number;
  readonly last: number;
  readonly startColumn: number;
  /** Exclusive, on line `last`. */
  readonly endColumn: number;
}

/**
 * The lines a span covers, as shown: a span that ends just after a line break ends on the line
 * before (a whole-line span underlines that line, not the start of the next).
 */
function shownLines(span: Span, sources: ReportSources): ShownLines {
  const file = sources.get(span.file);
  const loc = locate(span, sources);
  if (file && loc.endLine > loc.line && loc.endColumn === 1) {
    const last = loc.endLine - 1;
    return { file, first: loc.line, last, startColumn: loc.column, endColumn: lineText(file, last).length + 1 };
  }
  return { file, first: loc.line, last: loc.endLine, startColumn: loc.column, endColumn: loc.endColumn };
}

function formatHumanSnippet(span: Span, sources: ReportSources, width: number, mark: string, style: string, paint: Painter): string[] {
  const shown = shownLines(span, sources);
  const pad = ' '.repeat(width);
  const out = [`${pad}${paint(STYLE.gutter, '-->')} ${span.file}:${shown.first}:${shown.startColumn}`];
  const file = shown.file;
  if (!file) return out;
  const bar = paint(STYLE.gutter, '|');
  out.push(`${pad} ${bar}`);
  const lines: (number | 'elided')[] = [];
  const count = shown.last - shown.first + 1;
  if (count <= MAX_SPAN_LINES) for (let l = shown.first; l <= shown.last; l++) lines.push(l);
  else lines.push(shown.first, shown.first + 1, 'elided', shown.last);
  for (const line of lines) {
    if (line === 'elided') {
      out.push(paint(STYLE.gutter, '...'));
      continue;
    }
    const text = lineText(file, line);
    const from = line === shown.first ? shown.startColumn : firstNonBlankColumn(text);
    const to = line === shown.last ? shown.endColumn : text.length + 1;
    const cut = windowOf(text, from, to);
    out.push(`${paint(STYLE.gutter, String(line).padStart(width))} ${bar} ${printable(cut.text)}`.trimEnd());
    // An empty middle line of a multi-line span gets no underline row.
    if (to <= from && count > 1 && line !== shown.first) continue;
    const lead = cut.text.slice(0, cut.from - 1).replace(/[^\t]/g, ' ');
    out.push(`${pad} ${bar} ${lead}${paint(style, mark.repeat(Math.max(1, cut.to - cut.from)))}`);
  }
  return out;
}

function firstNonBlankColumn(text: string): number {
  const m = /\S/.exec(text);
  return m ? m.index + 1 : text.length + 1;
}

/** The part of a long line around columns [from, to), with `…` where text was cut. */
function windowOf(text: string, from: number, to: number): { text: string; from: number; to: number } {
  if (text.length <= MAX_LINE_WIDTH) return { text, from, to };
  const start = Math.max(0, Math.min(from - 1 - MAX_LINE_WIDTH / 4, text.length - MAX_LINE_WIDTH));
  const end = Math.min(text.length, start + MAX_LINE_WIDTH);
  const head = start > 0 ? '…' : '';
  const tail = end < text.length ? '…' : '';
  const shift = head.length - start;
  const clampedTo = Math.min(to, end + 1);
  return { text: head + text.slice(start, end) + tail, from: from + shift, to: clampedTo + shift };
}

/**
 * Control characters in the input (a stray escape byte, say) would act on the terminal; each
 * becomes its one-character Unicode picture (U+2400 block), so columns stay aligned.
 */
function printable(text: string): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    out += c === 0x7f ? '\u2421' : c < 0x20 && c !== 0x09 ? String.fromCharCode(0x2400 + c) : text[i];
  }
  return out;
}

// ---- Colour -----------------------------------------------------------------------------------

const STYLE = {
  error: '\u001b[1;31m',
  warning: '\u001b[1;33m',
  info: '\u001b[1;36m',
  note: '\u001b[1;34m',
  gutter: '\u001b[1;34m',
  message: '\u001b[1m',
  ok: '\u001b[1;32m',
} as const satisfies Record<Severity, string> & Record<string, string>;

type Painter = (style: string, text: string) => string;

function painter(color: boolean): Painter {
  return color ? (style, text) => `${style}${text}\u001b[0m` : (_style, text) => text;
}
