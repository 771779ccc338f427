// Stage 1b: the lexer. Takes a source file; gives its tokens (with the line structure the
// parser relies on) and its comments, and reports lexical errors (SEG1001-SEG1003).
import type { IToken, TokenType } from 'chevrotain';
import { Lexer } from './chevrotain.ts';
import { Code, type DiagnosticCollector } from './diagnostics.ts';
import { tokenizeScanTable, tokenTablePush, tokenTableToken, type TokenTable } from './lexer-scan.ts';
import type { SourceFile, Span } from './source.ts';
import {
  allTokens,
  Any,
  Any4,
  Any6,
  Comma,
  Except,
  Icmp,
  Icmpv6,
  Ipv4,
  Ipv6,
  LCurly,
  Name,
  Newline,
  NumberLiteral,
  Policy,
  PortRange,
  RCurly,
  Sctp,
  StringLiteral,
  Tcp,
  TestWord,
  Udp,
} from './tokens.ts';

export interface TokenizeResult {
  /** The tokens the parser reads; ends with a Newline (see `tokenizeLines`). */
  readonly tokens: IToken[];
  /** Every `#` comment, in order. */
  readonly comments: IToken[];
}

/**
 * chevrotain's lexer over the same tokens. `tokenize` scans with lexer-scan.ts instead, which
 * gives the very same tokens several times faster; this one is the reference a test compares
 * it with. `validate` runs chevrotain's checks of the token definitions and insists on its
 * first-character optimisation (a test does that too).
 */
export function createSegLexer(validate = false): InstanceType<typeof Lexer> {
  return new Lexer([...allTokens], { positionTracking: 'onlyOffset', ensureOptimizations: validate, skipValidations: !validate });
}

export function tokenize(file: SourceFile, diagnostics: DiagnosticCollector): TokenizeResult {
  const { table, comments } = tokenizeTable(file, diagnostics);
  const tokens: IToken[] = [];
  for (let i = 0; i < table.count; i++) tokens.push(tokenTableToken(table, file.text, i));
  return { tokens, comments };
}

export interface TokenizeTableResult {
  /** `tokenize`'s tokens as a table (lexer-scan.ts): the same entries, in the same order. */
  readonly table: TokenTable;
  readonly comments: IToken[];
}

/** `tokenize` without a token object per token: what the batch front end reads. */
export function tokenizeTable(file: SourceFile, diagnostics: DiagnosticCollector): TokenizeTableResult {
  const result = tokenizeScanTable(file.text);
  for (const error of result.errors) tokenizeReportBadCharacters(file, error.offset, error.length, diagnostics);
  const { table } = result;
  const stringIdx = StringLiteral.tokenTypeIdx!;
  for (let i = 0; i < table.count; i++) {
    if (table.types[i] === stringIdx) tokenizeCheckString(file, table.starts[i]!, table.ends[i]!, diagnostics);
  }
  tokenizeLines(file, table);
  return { table, comments: result.comments };
}

/** Hints for characters people carry over from other languages. */
const BAD_CHARACTER_HINTS: Readonly<Record<string, string>> = {
  ';': 'a rule or declaration ends at the end of its line; remove the semicolon',
  '-': 'a port range is written without spaces, like 1024-65535',
  "'": 'strings are written in double quotes',
  '[': 'lists are written in braces: { a, b }',
  ']': 'lists are written in braces: { a, b }',
  '(': 'lists are written in braces: { a, b }',
  ')': 'lists are written in braces: { a, b }',
  '%': 'IPv6 zone indexes (fe80::1%eth0) are not supported',
  '!': 'to leave addresses out, write ADDR except ADDR, like: any except 10.0.0.0/8',
  '*': "write 'any' for every address or protocol",
};

function tokenizeReportBadCharacters(file: SourceFile, offset: number, length: number, diagnostics: DiagnosticCollector): void {
  // chevrotain reports a run of characters no token matches as one error: one diagnostic.
  const first = String.fromCodePoint(file.text.codePointAt(offset) ?? 0xfffd);
  const span: Span = { file: file.path, start: offset, end: offset + Math.max(1, length) };
  // `10.0.0.1-10.0.0.9`: a range of addresses, not of ports.
  const afterAddress = first === '-' && /[0-9]\.[0-9]+$/.test(file.text.slice(Math.max(0, offset - 16), offset));
  const hint = afterAddress ? 'address ranges are written as CIDRs, like 10.0.0.0/29, or listed in { }' : BAD_CHARACTER_HINTS[first];
  diagnostics.add(Code.UnexpectedCharacter, span, hint === undefined ? { char: describeCharacter(first) } : { char: describeCharacter(first), hint });
}

/** A character as a message can quote it: control characters by their code point. */
function describeCharacter(c: string): string {
  const cp = c.codePointAt(0) ?? 0;
  return cp < 0x20 || cp === 0x7f || (cp >= 0x80 && cp < 0xa0) ? `U+${cp.toString(16).toUpperCase().padStart(4, '0')}` : c;
}

function tokenizeCheckString(file: SourceFile, start: number, end: number, diagnostics: DiagnosticCollector): void {
  const text = file.text.slice(start, end);
  for (let i = 1; i < text.length; i++) {
    if (text[i] !== '\\') continue;
    const next = text[i + 1];
    if (next !== '"' && next !== '\\') {
      const end = next === undefined ? i + 1 : i + 1 + (next.codePointAt(0)! > 0xffff ? 2 : 1);
      const escape = text.slice(i, end);
      diagnostics.add(Code.InvalidEscape, { file: file.path, start: start + i, end: start + end }, { escape });
    }
    i++;
  }
  if (!isTerminatedString(text)) diagnostics.add(Code.UnterminatedString, { file: file.path, start, end: start + text.length });
}

/** The value of a string token: quotes removed, `\"` and `\\` resolved, bad escapes kept. */
export function unquoteString(image: string): string {
  const body = image.slice(1, isTerminatedString(image) ? -1 : undefined);
  return body.replace(/\\(["\\])/g, '$1');
}

/** Whether a string token ends with its closing quote (an escaped quote does not close it). */
export function isTerminatedString(image: string): boolean {
  if (image.length < 2 || !image.endsWith('"')) return false;
  let backslashes = 0;
  for (let i = image.length - 2; i > 0 && image[i] === '\\'; i--) backslashes++;
  return backslashes % 2 === 0;
}

/** The tokens that may stand inside the braces of a set, port or protocol literal. */
const LITERAL_TOKENS: readonly TokenType[] = [
  Ipv4, Ipv6, Name, NumberLiteral, PortRange, Any, Any4, Any6, Except, Tcp, Udp, Sctp, Icmp, Icmpv6, Comma, LCurly, RCurly,
];
/** LITERAL_TOKENS by `tokenTypeIdx` (the pass below runs over every token of every file). */
const isLiteralToken = new Uint8Array(Math.max(...allTokens.map((t) => t.tokenTypeIdx!)) + 1);
for (const t of LITERAL_TOKENS) isLiteralToken[t.tokenTypeIdx!] = 1;

/** Whether a token type may stand inside the braces of a literal (see `tokenizeLines`). */
export function isLiteralTokenType(type: TokenType): boolean {
  return isLiteralToken[type.tokenTypeIdx!] === 1;
}

/**
 * THE place where newlines get their meaning. A rule or declaration ends at the end of its
 * line, so Newline tokens reach the parser, with two exceptions decided here:
 * - a newline inside the `{ }` of a set, port or protocol literal is dropped, so the parser
 *   sees the literal as if written on one line. A policy block's `{` (the first `{` on a line
 *   that starts with `policy`) is not a literal: its rules keep one line each.
 * - a literal counts only once its `}` is found before any token that cannot stand in a
 *   literal (`from`, `set`, a string...). An unclosed `{` therefore keeps its newlines, and
 *   the error stays on its own line instead of swallowing the rest of the file.
 * The file also always ends with a Newline (an empty one at the end of the text when the text
 * has none), so every statement, the last one too, ends with one. Works on the table in place.
 */
function tokenizeLines(file: SourceFile, table: TokenTable): void {
  const newlineIdx = Newline.tokenTypeIdx!;
  const lCurlyIdx = LCurly.tokenTypeIdx!;
  const rCurlyIdx = RCurly.tokenTypeIdx!;
  const policyIdx = Policy.tokenTypeIdx!;
  // A test block's `{` is a block brace too: its expectations keep one line each.
  const testIdx = TestWord.tokenTypeIdx!;
  const { types, count } = table;
  let dropped: Uint8Array | undefined;
  // Open literal braces, innermost last, each with the indexes of the newlines it holds.
  const open: number[][] = [];
  let atLineStart = true;
  let lineStartsWithPolicy = false;
  let blockBraceSeen = false;
  for (let i = 0; i < count; i++) {
    const type = types[i]!;
    if (type === newlineIdx) {
      if (open.length > 0) open[open.length - 1]!.push(i);
      atLineStart = true;
      continue;
    }
    if (atLineStart) {
      lineStartsWithPolicy = type === policyIdx || type === testIdx;
      blockBraceSeen = false;
      atLineStart = false;
    }
    if (type === lCurlyIdx && lineStartsWithPolicy && !blockBraceSeen) {
      blockBraceSeen = true;
      open.length = 0;
    } else if (type === lCurlyIdx) {
      open.push([]);
    } else if (type === rCurlyIdx) {
      const newlines = open.pop();
      if (newlines !== undefined && newlines.length > 0) {
        dropped ??= new Uint8Array(count);
        for (const n of newlines) dropped[n] = 1;
      }
    } else if (isLiteralToken[type] !== 1) {
      open.length = 0;
    }
  }
  if (dropped !== undefined) {
    let out = 0;
    for (let i = 0; i < count; i++) {
      if (dropped[i] === 1) continue;
      types[out] = types[i]!;
      table.starts[out] = table.starts[i]!;
      table.ends[out] = table.ends[i]!;
      out++;
    }
    table.count = out;
  }
  if (table.count === 0 || table.types[table.count - 1] !== newlineIdx) {
    const end = file.text.length;
    tokenTablePush(table, newlineIdx, end, end);
  }
}
