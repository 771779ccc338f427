// Stage 1b, the lexer's scanner: takes a file's text; gives the tokens, the comments and the
// runs of characters no token matches, exactly as chevrotain's lexer over `allTokens`
// (tokens.ts) gives them, but by a hand-written scan of character classes instead of trying
// each token's regular expression in turn (the front end's largest cost on big policies).
//
// What holds: the same tokens (type, image, offset, the same object shape: image, startOffset,
// tokenTypeIdx, tokenType), comments and errors (offset, length) as `createSegLexer()`'s
// tokenize; a test compares both on random text. The rules it follows are chevrotain's: at each
// offset the first token type in `allTokens` order that matches wins, except that a keyword
// (or soft keyword) gives way to a longer Name (`longer_alt`); whitespace is skipped; where no
// type matches, an error runs to the next offset where one does.
import type { IToken, TokenType } from 'chevrotain';
import { createTokenInstance } from './chevrotain.ts';
import {
  allTokens,
  Arrow,
  Audit,
  BracketedEndpoint,
  Colon,
  Comma,
  Comment,
  DateLiteral,
  Equals,
  ExpectWord,
  ExpiresWord,
  GluedWord,
  Ipv4,
  Ipv6,
  keywordTokens,
  LCurly,
  Name,
  Newline,
  NoSessionWord,
  NumberLiteral,
  PortRange,
  RCurly,
  RuleWord,
  Slash,
  StringLiteral,
  TestWord,
} from './tokens.ts';

export interface ScanResult {
  readonly tokens: IToken[];
  readonly comments: IToken[];
  /** Runs of characters no token matches: where each starts and how long it is. */
  readonly errors: { readonly offset: number; readonly length: number }[];
}

// Character classes, by char code (ASCII; nothing else starts or continues a token).
const DIGIT = 1;
const HEX = 2; // 0-9 A-F a-f
const ALNUM_DOT = 4; // 0-9 A-Z a-z .
const NAME_START = 8; // A-Z a-z _
const NAME_PART = 16; // A-Z a-z 0-9 _ -
const CLASSES = new Uint8Array(128);
for (let c = 0; c < 128; c++) {
  const ch = String.fromCharCode(c);
  let k = 0;
  if (/[0-9]/.test(ch)) k |= DIGIT;
  if (/[0-9A-Fa-f]/.test(ch)) k |= HEX;
  if (/[0-9A-Za-z.]/.test(ch)) k |= ALNUM_DOT;
  if (/[A-Za-z_]/.test(ch)) k |= NAME_START;
  if (/[A-Za-z0-9_-]/.test(ch)) k |= NAME_PART;
  CLASSES[c] = k;
}

/** The class bits of the character at `i` (0 past the end or outside ASCII). */
function scanClass(text: string, i: number): number {
  const c = text.charCodeAt(i);
  return c < 128 ? CLASSES[c]! : 0;
}

/** Keywords and segc's soft keywords by their text: a name run equal to one is that token. */
const WORDS = new Map<string, TokenType>([
  ...Object.entries(keywordTokens),
  ['audit', Audit],
  ['expires', ExpiresWord],
  ['nosession', NoSessionWord],
  ['expect', ExpectWord],
  ['test', TestWord],
  ['rule', RuleWord],
]);

/**
 * WORDS by their first character code (ASCII), as parallel lists of texts and types: a name run
 * is compared in place with the few words that start like it, instead of being cut out of the
 * text and looked up (that slice and its hashing, once per word of the file, was two thirds of
 * the scan's own time).
 */
const WORDS_BY_START: ({ readonly texts: string[]; readonly types: TokenType[] } | undefined)[] = [];
for (const [text, type] of WORDS) {
  const words = (WORDS_BY_START[text.charCodeAt(0)] ??= { texts: [], types: [] });
  words.texts.push(text);
  words.types.push(type);
}

/** The keyword that text[start, end) spells, else Name. */
function scanWord(text: string, start: number, end: number): TokenType {
  const words = WORDS_BY_START[text.charCodeAt(start)];
  if (words === undefined) return Name;
  const { texts, types } = words;
  for (let w = 0; w < texts.length; w++) {
    const word = texts[w]!;
    if (word.length === end - start && text.startsWith(word, start)) return types[w]!;
  }
  return Name;
}

const SINGLE: ReadonlyMap<number, TokenType> = new Map([
  ['{', LCurly],
  ['}', RCurly],
  [',', Comma],
  ['=', Equals],
  ['/', Slash],
].map(([c, t]) => [(c as string).charCodeAt(0), t as TokenType]));

/** What matched at an offset: the token type (undefined for skipped whitespace) and length. */
let matchedType: TokenType | undefined;

/** The length of the token matching at `i` (setting `matchedType`), or 0 when none does. */
function scanMatch(text: string, i: number): number {
  const c = text.charCodeAt(i);
  // Whitespace: [ \t\f\v\uFEFF]+
  if (c === 32 || c === 9 || c === 12 || c === 11 || c === 0xfeff) {
    let j = i + 1;
    for (let d = text.charCodeAt(j); d === 32 || d === 9 || d === 12 || d === 11 || d === 0xfeff; d = text.charCodeAt(++j));
    matchedType = undefined;
    return j - i;
  }
  if (c === 10) {
    matchedType = Newline;
    return 1;
  }
  if (c === 13) {
    matchedType = Newline;
    return text.charCodeAt(i + 1) === 10 ? 2 : 1;
  }
  if (c === 35) {
    // Comment: #[^\r\n]*
    let j = i + 1;
    for (let d = text.charCodeAt(j); j < text.length && d !== 10 && d !== 13; d = text.charCodeAt(++j));
    matchedType = Comment;
    return j - i;
  }
  if (c === 34) return scanString(text, i);
  if (c === 91) return scanBracketed(text, i);
  const k = scanClass(text, i);
  if ((k & HEX) !== 0 || c === 58) {
    const n = scanIpv6(text, i);
    if (n > 0) return n;
  }
  if ((k & DIGIT) !== 0) return scanNumeric(text, i);
  if ((k & NAME_START) !== 0) {
    let j = i + 1;
    while ((scanClass(text, j) & NAME_PART) !== 0) j++;
    matchedType = scanWord(text, i, j);
    return j - i;
  }
  if (c === 45) {
    if (text.charCodeAt(i + 1) !== 62) return 0;
    matchedType = Arrow;
    return 2;
  }
  if (c === 58) {
    matchedType = Colon;
    return 1;
  }
  const single = SINGLE.get(c);
  if (single === undefined) return 0;
  matchedType = single;
  return 1;
}

/** "(?:[^"\\\r\n]|\\[^\r\n]?)*"? */
function scanString(text: string, i: number): number {
  let j = i + 1;
  for (;;) {
    if (j >= text.length) break;
    const d = text.charCodeAt(j);
    if (d === 34) {
      j++;
      break;
    }
    if (d === 10 || d === 13) break;
    j++;
    if (d === 92 && j < text.length) {
      const e = text.charCodeAt(j);
      if (e !== 10 && e !== 13) j++;
    }
  }
  matchedType = StringLiteral;
  return j - i;
}

/** \[[0-9A-Fa-f:.]*\](?::[0-9]+)? */
function scanBracketed(text: string, i: number): number {
  let j = i + 1;
  for (let d = text.charCodeAt(j); (scanClass(text, j) & HEX) !== 0 || d === 58 || d === 46; d = text.charCodeAt(++j));
  if (text.charCodeAt(j) !== 93) return 0;
  j++;
  if (text.charCodeAt(j) === 58 && (scanClass(text, j + 1) & DIGIT) !== 0) {
    j += 2;
    while ((scanClass(text, j) & DIGIT) !== 0) j++;
  }
  matchedType = BracketedEndpoint;
  return j - i;
}

/** (?:[0-9A-Fa-f][0-9A-Za-z.]*)?:[0-9A-Za-z.]*:[0-9A-Za-z.:]*(?:\/[0-9]+)?, or 0. */
function scanIpv6(text: string, i: number): number {
  let j = i;
  if (text.charCodeAt(j) !== 58) {
    // A hex digit, then its run; the run cannot hold a ':', so only a ':' right after it will do.
    j++;
    while ((scanClass(text, j) & ALNUM_DOT) !== 0) j++;
    if (text.charCodeAt(j) !== 58) return 0;
  }
  j++;
  while ((scanClass(text, j) & ALNUM_DOT) !== 0) j++;
  if (text.charCodeAt(j) !== 58) return 0;
  j++;
  while ((scanClass(text, j) & ALNUM_DOT) !== 0 || text.charCodeAt(j) === 58) j++;
  j = scanPrefixLength(text, j);
  matchedType = Ipv6;
  return j - i;
}

/** After an address: `/digits` if there, else nothing. */
function scanPrefixLength(text: string, j: number): number {
  if (text.charCodeAt(j) !== 47 || (scanClass(text, j + 1) & DIGIT) === 0) return j;
  j += 2;
  while ((scanClass(text, j) & DIGIT) !== 0) j++;
  return j;
}

/** At a digit: Ipv4, then Date, PortRange, GluedWord, Number, in that order. */
function scanNumeric(text: string, i: number): number {
  let j = i + 1;
  while ((scanClass(text, j) & DIGIT) !== 0) j++;
  const digitsEnd = j;
  // Ipv4: [0-9]+(?:\.[0-9]+)+(?:\/[0-9]+)?
  if (text.charCodeAt(j) === 46 && (scanClass(text, j + 1) & DIGIT) !== 0) {
    while (text.charCodeAt(j) === 46 && (scanClass(text, j + 1) & DIGIT) !== 0) {
      j += 2;
      while ((scanClass(text, j) & DIGIT) !== 0) j++;
    }
    matchedType = Ipv4;
    return scanPrefixLength(text, j) - i;
  }
  if (text.charCodeAt(j) === 45 && (scanClass(text, j + 1) & DIGIT) !== 0) {
    j += 2;
    while ((scanClass(text, j) & DIGIT) !== 0) j++;
    const rangeEnd = j;
    // Date: [0-9]+-[0-9]+-[0-9]+; else PortRange: [0-9]+-[0-9]+
    if (text.charCodeAt(j) === 45 && (scanClass(text, j + 1) & DIGIT) !== 0) {
      j += 2;
      while ((scanClass(text, j) & DIGIT) !== 0) j++;
      matchedType = DateLiteral;
      return j - i;
    }
    matchedType = PortRange;
    return rangeEnd - i;
  }
  // GluedWord: [0-9]+[A-Za-z_][A-Za-z0-9_-]*
  if ((scanClass(text, digitsEnd) & NAME_START) !== 0) {
    j = digitsEnd + 1;
    while ((scanClass(text, j) & NAME_PART) !== 0) j++;
    matchedType = GluedWord;
    return j - i;
  }
  matchedType = NumberLiteral;
  return digitsEnd - i;
}

/**
 * A file's tokens as parallel typed arrays: entry `i` has type `types[i]` (a `tokenTypeIdx`)
 * and covers `text[starts[i], ends[i])`. The batch front end reads rule lines from this without
 * making an object per token (1.26 million objects on a 100k-rule policy, the largest part of
 * its garbage); `tokenTable(..).token(i)` makes the object chevrotain's parser reads.
 */
export interface TokenTable {
  count: number;
  types: Uint8Array;
  starts: Int32Array;
  ends: Int32Array;
}

/** A table with room for about `capacity` tokens; `tokenTablePush` grows it. */
export function createTokenTable(capacity: number): TokenTable {
  const n = Math.max(64, capacity);
  return { count: 0, types: new Uint8Array(n), starts: new Int32Array(n), ends: new Int32Array(n) };
}

export function tokenTablePush(table: TokenTable, type: number, start: number, end: number): void {
  if (table.count === table.types.length) {
    const n = table.count * 2;
    const types = new Uint8Array(n);
    types.set(table.types);
    const starts = new Int32Array(n);
    starts.set(table.starts);
    const ends = new Int32Array(n);
    ends.set(table.ends);
    table.types = types;
    table.starts = starts;
    table.ends = ends;
  }
  table.types[table.count] = type;
  table.starts[table.count] = start;
  table.ends[table.count] = end;
  table.count++;
}

/** The token types by `tokenTypeIdx`. */
const TYPES_BY_IDX: TokenType[] = [];
for (const t of [...allTokens]) TYPES_BY_IDX[t.tokenTypeIdx!] = t;
if (TYPES_BY_IDX.length > 256) throw new Error('token types no longer fit the table\'s bytes');

/** The token object of entry `i`, as the scanner has always made it (see `tokenizeScan`). */
export function tokenTableToken(table: TokenTable, text: string, i: number): IToken {
  const type = TYPES_BY_IDX[table.types[i]!]!;
  const start = table.starts[i]!;
  // The only empty entry: the Newline `tokenizeLines` adds at the end of a text without one.
  if (start === table.ends[i]) return createTokenInstance(type, '', start, start - 1, NaN, NaN, NaN, NaN);
  return { image: text.substring(start, table.ends[i]!), startOffset: start, tokenTypeIdx: type.tokenTypeIdx!, tokenType: type } as IToken;
}

export interface ScanTableResult {
  readonly table: TokenTable;
  readonly comments: IToken[];
  readonly errors: { readonly offset: number; readonly length: number }[];
}

/** The scan, into a table (comments stay objects: `fmt` needs them, and they are few). */
export function tokenizeScanTable(text: string): ScanTableResult {
  // About one token per 4.6 characters in generated policies: few grow the table more than once.
  const table = createTokenTable(text.length >> 2);
  const comments: IToken[] = [];
  const errors: { offset: number; length: number }[] = [];
  let i = 0;
  while (i < text.length) {
    const n = scanMatch(text, i);
    if (n === 0) {
      // No token here: the error runs to the next offset where one matches.
      const start = i;
      do i++;
      while (i < text.length && scanMatch(text, i) === 0);
      errors.push({ offset: start, length: i - start });
      continue;
    }
    const type = matchedType;
    if (type !== undefined) {
      if (type === Comment) comments.push({ image: text.substring(i, i + n), startOffset: i, tokenTypeIdx: type.tokenTypeIdx!, tokenType: type } as IToken);
      else tokenTablePush(table, type.tokenTypeIdx!, i, i + n);
    }
    i += n;
  }
  return { table, comments, errors };
}

/** The scan as token objects (the reference test compares these with chevrotain's). */
export function tokenizeScan(text: string): ScanResult {
  const { table, comments, errors } = tokenizeScanTable(text);
  const tokens: IToken[] = [];
  for (let i = 0; i < table.count; i++) tokens.push(tokenTableToken(table, text, i));
  return { tokens, comments, errors };
}
