// Stage 1c, the parser's fast path: rule lines. Takes one file's tokens (from `tokenize`);
// gives the AST of every rule line that is valid as written, inside a policy block whose
// header is valid, and the tokens left for the grammar (parser.ts) to parse: everything else.
//
// Why: a generated policy is nearly all rule lines, and building chevrotain's CST for each,
// then an AST from the CST, is most of the front end's time and memory. A valid rule line
// needs neither: this module reads its tokens straight into the `RuleAst` that `buildAst`
// would make of it. What holds, so that diagnostics and ASTs stay exactly those of the grammar:
// - a line is taken only when the grammar would parse it as one `rule` without any error, and
//   only where the grammar is certainly inside a policy block (a header valid as written, and
//   no line since that could end or confuse the block); anything unsure stays with the grammar;
// - the rule line is the grammar's unit of recovery, so removing whole valid lines changes
//   nothing the grammar does or reports on the lines it still reads (parse() numbers lines
//   over all the tokens, for its one-diagnostic-per-line rule);
// - the ASTs are built field for field as build-ast.ts builds them from a clean CST.
import type { IToken, TokenType } from 'chevrotain';
import type { ActionAst, AddrExpr, IcmpAst, Name, NumberLit, PortExpr, ProtoExpr, ProtoKeyword, RuleAst } from './ast.ts';
import { unquoteString } from './lexer.ts';
import { tokenTableToken, type TokenTable } from './lexer-scan.ts';
import type { SourceFile, Span } from './source.ts';
import {
  allTokens,
  Allow,
  Any,
  Any4,
  Any6,
  Audit,
  Colon,
  Comma,
  DateLiteral,
  Default,
  Deny,
  Egress,
  Except,
  ExpiresWord,
  From,
  Icmp,
  Icmpv6,
  Include,
  Ingress,
  Ipv4,
  Ipv6,
  LCurly,
  Log,
  Name as NameToken,
  Newline,
  NoSessionWord,
  NumberLiteral,
  Policy,
  Port,
  PortRange,
  Ports,
  RCurly,
  Sctp,
  SetKeyword,
  Slash,
  StringLiteral,
  Tcp,
  TestWord,
  To,
  Udp,
} from './tokens.ts';

export interface RuleLines {
  /** The tokens the grammar still parses: all of them but the rule lines taken here. */
  readonly rest: IToken[];
  /** The rules taken, by the start offset of their policy block's `{`, in source order. */
  readonly rulesByBlock: ReadonlyMap<number, RuleAst[]>;
  /** How many rule lines were taken. */
  readonly taken: number;
}

/** What an incremental re-parse (incremental.ts) hands the walk. */
export interface RuleLinesReuse {
  /** The rule of an unchanged line from the previous parse (its tokens are the same objects). */
  readonly reuse: (first: IToken, newline: IToken) => RuleAst | undefined;
  /** Filled with every rule taken, by its line's first token, for the next re-parse. */
  readonly record: Map<IToken, RuleAst>;
}

/** Deeper lists or longer `except` chains are left to the grammar (and its limits, parser.ts). */
const MAX_FAST_DEPTH = 16;
const MAX_FAST_EXCEPTS = 16;

const idx = (t: TokenType): number => t.tokenTypeIdx!;
const NEWLINE = idx(Newline);
const NUMBER = idx(NumberLiteral);
const LCURLY = idx(LCurly);
const RCURLY = idx(RCurly);
const COMMA = idx(Comma);
const COLON = idx(Colon);
const POLICY = idx(Policy);
const INGRESS = idx(Ingress);
const EGRESS = idx(Egress);
const DEFAULT = idx(Default);
const ALLOW = idx(Allow);
const DENY = idx(Deny);
const LOG = idx(Log);
const AUDIT = idx(Audit);
const FROM = idx(From);
const TO = idx(To);
const PORT = idx(Port);
const EXCEPT = idx(Except);
const ICMP = idx(Icmp);
const SLASH = idx(Slash);
const STRING = idx(StringLiteral);
const EXPIRES = idx(ExpiresWord);
const NOSESSION = idx(NoSessionWord);
const DATE = idx(DateLiteral);
const IPV4 = idx(Ipv4);
const IPV6 = idx(Ipv6);
const ANY = idx(Any);
const ANY4 = idx(Any4);
const ANY6 = idx(Any6);
const PORT_RANGE = idx(PortRange);

function tokenFlags(types: readonly TokenType[]): Uint8Array {
  const flags = new Uint8Array(Math.max(...allTokens.map(idx)) + 1);
  for (const t of types) flags[idx(t)] = 1;
  return flags;
}
/** Token types the grammar's `Name` matches: the name token and every type in its category. */
const IS_NAME = tokenFlags(allTokens.filter((t) => t === NameToken || t.CATEGORIES?.includes(NameToken) === true));
/** Tokens that end a policy block when a statement starts with them (parser.ts, isDeclarationStart). */
const IS_DECLARATION_START = tokenFlags([Include, SetKeyword, Ports, Policy, TestWord]);
const PROTO_KEYWORDS = tokenFlags([Tcp, Udp, Sctp, Icmp, Icmpv6, Any]);

/** Thrown inside a line the fast path does not take; caught once per line. */
const NOT_FAST = new Error('not a fast rule line');

/**
 * Splits `tokens` (ending with a Newline, as `tokenize` gives them) into the rule lines read
 * here and the rest. Statements are Newline-ended runs of tokens (`tokenizeLines` already
 * joined literals written over several lines).
 */
export function parseRuleLines(file: SourceFile, tokens: IToken[], incremental?: RuleLinesReuse): RuleLines {
  // The walk reads only the types; a line's offsets are copied in when the reader reads it, so
  // a re-parse that reuses most lines (the language server's edit) copies few of them.
  const n = tokens.length;
  const table: TokenTable = { count: n, types: new Uint8Array(n), starts: new Int32Array(n), ends: new Int32Array(n) };
  for (let i = 0; i < n; i++) table.types[i] = tokens[i]!.tokenTypeIdx;
  const prepare = (start: number, end: number): void => {
    for (let i = start; i < end; i++) {
      const t = tokens[i]!;
      table.starts[i] = t.startOffset;
      table.ends[i] = t.startOffset + t.image.length;
    }
  };
  const rest: IToken[] = [];
  const walk = parseRuleLinesWalk(
    file,
    table,
    (start, end) => {
      for (let i = start; i <= end; i++) rest.push(tokens[i]!);
    },
    {
      prepare,
      tokens,
      ...(incremental && {
        reuse: (start: number, end: number) => incremental.reuse(tokens[start]!, tokens[end]!),
        record: (start: number, rule: RuleAst) => incremental.record.set(tokens[start]!, rule),
      }),
    },
  );
  return { rest: walk.taken === 0 ? tokens : rest, rulesByBlock: walk.rulesByBlock, taken: walk.taken };
}

/** `parseRuleLines` over a token table (lexer.ts `tokenizeTable`): the batch front end's. */
export interface RuleLinesOfTable extends RuleLines {
  /** Where each statement ends (its Newline's offset), over all the table: `parse`'s line numbers. */
  readonly lineEnds: Int32Array;
}

/**
 * `parseRuleLines` over a table: the token objects the grammar needs are made for the lines
 * it reads, and none for the rule lines taken here (most of a big policy).
 */
export function parseRuleLinesOfTable(file: SourceFile, table: TokenTable): RuleLinesOfTable {
  const rest: IToken[] = [];
  const lineEnds: number[] = [];
  const walk = parseRuleLinesWalk(file, table, (start, end) => {
    for (let i = start; i <= end; i++) rest.push(tokenTableToken(table, file.text, i));
  }, { lineEnds });
  return { rest, rulesByBlock: walk.rulesByBlock, taken: walk.taken, lineEnds: Int32Array.from(lineEnds) };
}

/** What the two callers of `parseRuleLinesWalk` add to it (token indexes into the table). */
interface RuleLinesWalkHooks {
  /** An incremental re-parse's rule of an unchanged line (`RuleLinesReuse`). */
  readonly reuse?: (start: number, end: number) => RuleAst | undefined;
  /** Told of every rule taken, by its line's first token. */
  readonly record?: (start: number, rule: RuleAst) => void;
  /** Fills the table's offsets of tokens [start, end) before they are read. */
  readonly prepare?: (start: number, end: number) => void;
  /** Filled with each statement's Newline offset. */
  readonly lineEnds?: number[];
  /** The table's tokens as objects, when there are (their images are read instead of the text). */
  readonly tokens?: readonly IToken[];
}

function parseRuleLinesWalk(
  file: SourceFile,
  table: TokenTable,
  keep: (start: number, end: number) => void,
  hooks: RuleLinesWalkHooks,
): { rulesByBlock: Map<number, RuleAst[]>; taken: number } {
  const { types, count } = table;
  const { reuse, record, prepare, lineEnds } = hooks;
  const reader = new RuleLineReader(file, table, hooks.tokens);
  const rulesByBlock = new Map<number, RuleAst[]>();
  let taken = 0;
  // The block the grammar is certainly in (its `{` offset), or -1 at the top level; `lost`
  // once a line might have moved the grammar somewhere this walk cannot follow.
  let block = -1;
  let blockRules: RuleAst[] | undefined;
  let lost = false;
  let start = 0;
  while (start < count) {
    let end = start;
    while (types[end] !== NEWLINE) end++;
    lineEnds?.push(table.starts[end]!);
    // table[start..end] is one statement, table[end] its Newline.
    const first = types[start]!;
    if (!lost && block >= 0 && first === NUMBER) {
      let rule = reuse?.(start, end);
      if (rule === undefined) {
        prepare?.(start, end);
        rule = reader.readRule(start, end);
      }
      if (rule !== undefined) {
        record?.(start, rule);
        blockRules!.push(rule);
        taken++;
        start = end + 1;
        continue;
      }
      if (parseRuleLinesMayMoveGrammar(types, start, end)) lost = true;
    } else if (!lost && block >= 0) {
      if (IS_DECLARATION_START[first] === 1) block = -1;
      else if (first === RCURLY && end === start + 1) block = -1;
      else if (first !== NEWLINE && parseRuleLinesMayMoveGrammar(types, start, end)) lost = true;
    }
    if (!lost && block < 0 && first === POLICY) {
      const open = parseRuleLinesValidHeader(types, start, end);
      if (open >= 0) {
        prepare?.(open, open + 1);
        block = table.starts[open]!;
        blockRules = [];
        rulesByBlock.set(block, blockRules);
      }
    }
    keep(start, end);
    start = end + 1;
  }
  return { rulesByBlock, taken };
}

/**
 * Whether a line of a block that the fast path does not take could make the grammar leave the
 * block or run past the line: a `}` with no `{` of the line open before it (the grammar's
 * `lineEnd` takes one that closes a brace the line opened), or a declaration keyword (`lineEnd`
 * stops skipping at one). Other broken lines recover within themselves.
 */
function parseRuleLinesMayMoveGrammar(types: Uint8Array, start: number, end: number): boolean {
  let depth = 0;
  for (let i = start; i < end; i++) {
    const t = types[i]!;
    if (t === LCURLY) depth++;
    else if (t === RCURLY && --depth < 0) return true;
    else if (IS_DECLARATION_START[t] === 1) return true;
  }
  return false;
}

/** `policy ingress|egress [default allow|deny] {` and the line's end: its `{`'s index, else -1. */
function parseRuleLinesValidHeader(types: Uint8Array, start: number, end: number): number {
  // Past the line's Newline only when the line is shorter than a header (then not one).
  const at = (i: number): number => (i <= end ? types[i]! : NEWLINE);
  let i = start + 1;
  const direction = at(i);
  if (direction !== INGRESS && direction !== EGRESS) return -1;
  i++;
  if (at(i) === DEFAULT) {
    const verdict = at(i + 1);
    if (verdict !== ALLOW && verdict !== DENY) return -1;
    i += 2;
  }
  return at(i) === LCURLY && i + 1 === end ? i : -1;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/**
 * A recursive-descent reader of the grammar's `rule` (parser.ts) for lines without errors:
 * LL(1) like the grammar, LL(2) in lists as the grammar's `MAX_LOOKAHEAD: 2` there. Every
 * method builds what the matching build-ast.ts method builds, fields in the same order.
 */
class RuleLineReader {
  private pos = 0;
  private end = 0;
  private depth = 0;
  private excepts = 0;
  private readonly file: string;
  private readonly text: string;
  private readonly types: Uint8Array;
  private readonly starts: Int32Array;
  private readonly ends: Int32Array;
  private readonly tokens: readonly IToken[] | undefined;

  constructor(file: SourceFile, table: TokenTable, tokens: readonly IToken[] | undefined) {
    this.tokens = tokens;
    this.file = file.path;
    this.text = file.text;
    this.types = table.types;
    this.starts = table.starts;
    this.ends = table.ends;
  }

  /** The rule of table[start..end) (table[end] being its Newline), or undefined. */
  readRule(start: number, end: number): RuleAst | undefined {
    this.pos = start;
    this.end = end;
    this.depth = 0;
    this.excepts = 0;
    try {
      const rule = this.rule();
      return this.pos === end ? rule : undefined;
    } catch (e) {
      if (e === NOT_FAST) return undefined;
      throw e;
    }
  }

  private la(): number {
    return this.pos < this.end ? this.types[this.pos]! : NEWLINE;
  }

  private la2(): number {
    return this.pos + 1 < this.end ? this.types[this.pos + 1]! : NEWLINE;
  }

  /** Takes the next token, of type `type`; returns its index. */
  private consume(type: number): number {
    if (this.la() !== type) throw NOT_FAST;
    return this.pos++;
  }

  private image(token: number): string {
    // Token objects already hold their text (the incremental path): no copy of it then.
    return this.tokens !== undefined ? this.tokens[token]!.image : this.text.slice(this.starts[token]!, this.ends[token]!);
  }

  private span(token: number): Span {
    return { file: this.file, start: this.starts[token]!, end: this.ends[token]! };
  }

  private numberLit(token: number): NumberLit {
    return { value: this.number(token), span: this.span(token) };
  }

  /** A Number token's value (digits only), as `Number` of its text gives it. */
  private number(token: number): number {
    return this.digits(this.starts[token]!, this.ends[token]!);
  }

  /**
   * The value of the digits from `start` to `end`, read in place: no string cut out of the text
   * per number. Past 15 digits a double is no longer exact, so `Number` rounds those as it would.
   */
  private digits(start: number, end: number): number {
    if (end - start > 15) return Number(this.text.slice(start, end));
    let value = 0;
    for (let i = start; i < end; i++) value = value * 10 + (this.text.charCodeAt(i) - 48);
    return value;
  }

  private rule(): RuleAst {
    const priority = this.numberLit(this.consume(NUMBER));
    const rule: Mutable<RuleAst> = { kind: 'Rule', priority, span: priority.span };
    if (IS_NAME[this.la()] === 1) {
      const token = this.pos++;
      this.consume(COLON);
      rule.name = { name: this.image(token), span: this.span(token) };
    }
    rule.action = this.action();
    rule.protocol = this.protoExpr();
    this.consume(FROM);
    rule.src = this.addrExpr();
    if (this.la() === PORT) {
      this.pos++;
      rule.srcPorts = this.portExpr();
    }
    this.consume(TO);
    const dst = this.addrExpr();
    rule.dst = dst;
    let last = dst.span;
    if (this.la() === PORT) {
      this.pos++;
      rule.dstPorts = this.portExpr();
      last = rule.dstPorts.span;
    }
    if (this.la() === ICMP) {
      rule.icmp = this.icmpMatch();
      last = rule.icmp.span;
    }
    if (this.la() === STRING) {
      const token = this.pos++;
      rule.description = { value: unquoteString(this.image(token)), span: this.span(token) };
      last = rule.description.span;
    }
    if (this.la() === NOSESSION) {
      rule.noSession = { span: this.span(this.pos++) };
      last = rule.noSession.span;
    }
    if (this.la() === EXPIRES) {
      this.pos++;
      const date = this.consume(DATE);
      rule.expires = { text: this.image(date), span: this.span(date) };
      last = rule.expires.span;
    }
    // build-ast covers the priority and every part; the last part ends furthest.
    rule.span = { file: this.file, start: priority.span.start, end: last.end };
    return rule;
  }

  private action(): ActionAst {
    const first = this.pos;
    const type = this.la();
    this.pos++;
    let last = first;
    if (type === ALLOW) {
      const log = this.la() === LOG;
      if (log) last = this.pos++;
      return { verdict: 'allow', log, audit: false, text: log ? 'allow log' : 'allow', span: this.cover(first, last) };
    }
    if (type === DENY) {
      const audit = this.la() === AUDIT;
      if (audit) last = this.pos++;
      const log = this.la() === LOG;
      if (log) last = this.pos++;
      const text = audit ? (log ? 'deny audit log' : 'deny audit') : log ? 'deny log' : 'deny';
      return { verdict: 'deny', log, audit, text, span: this.cover(first, last) };
    }
    if (type === LOG) return { verdict: 'allow', log: true, audit: false, text: 'log', span: this.span(first) };
    throw NOT_FAST;
  }

  private cover(first: number, last: number): Span {
    return { file: this.file, start: this.starts[first]!, end: this.ends[last]! };
  }

  private protoExpr(): ProtoExpr {
    const type = this.la();
    if (type === LCURLY) {
      const items: ProtoExpr[] = [];
      const span = this.list(items, () => this.protoExpr(), (t) => PROTO_KEYWORDS[t] === 1 || t === NUMBER || t === LCURLY);
      return { kind: 'ProtoList', items, span };
    }
    const token = this.pos;
    if (type === NUMBER) {
      this.pos++;
      return { kind: 'ProtoNumber', value: this.number(token), span: this.span(token) };
    }
    if (PROTO_KEYWORDS[type] !== 1) throw NOT_FAST;
    this.pos++;
    return { kind: 'ProtoName', name: this.image(token) as ProtoKeyword, span: this.span(token) };
  }

  /**
   * `{ [item (, item)* [,]] }`, items pushed onto `items`; its span from `{` to `}`. A `,` is
   * taken as a separator only when an item follows it (the grammar's two-token lookahead).
   */
  private list<T>(items: T[], item: () => T, startsItem: (type: number) => boolean): Span {
    if (++this.depth > MAX_FAST_DEPTH) throw NOT_FAST;
    const open = this.consume(LCURLY);
    if (startsItem(this.la())) {
      items.push(item());
      while (this.la() === COMMA && startsItem(this.la2())) {
        this.pos++;
        items.push(item());
      }
      if (this.la() === COMMA) this.pos++;
    }
    const close = this.consume(RCURLY);
    this.depth--;
    return this.cover(open, close);
  }

  private addrExpr(): AddrExpr {
    let expr = this.addrTerm();
    while (this.la() === EXCEPT) {
      if (++this.excepts > MAX_FAST_EXCEPTS) throw NOT_FAST;
      this.pos++;
      const excluded = this.addrTerm();
      expr = {
        kind: 'AddrExcept',
        base: expr,
        excluded,
        span: { file: expr.span.file, start: Math.min(expr.span.start, excluded.span.start), end: Math.max(expr.span.end, excluded.span.end) },
      };
    }
    return expr;
  }

  private addrTerm(): AddrExpr {
    const type = this.la();
    const token = this.pos;
    if (type === IPV4 || type === IPV6) {
      this.pos++;
      return { kind: 'AddrLiteral', text: this.image(token), span: this.span(token) };
    }
    if (type === ANY || type === ANY4 || type === ANY6) {
      this.pos++;
      return { kind: 'AnyAddr', which: this.image(token) as 'any' | 'any4' | 'any6', span: this.span(token) };
    }
    if (IS_NAME[type] === 1) {
      this.pos++;
      return { kind: 'SetRef', name: this.image(token), span: this.span(token) };
    }
    if (type !== LCURLY) throw NOT_FAST;
    const items: AddrExpr[] = [];
    const span = this.list(items, () => this.addrExpr(), startsAddr);
    return { kind: 'AddrList', items, span };
  }

  private portExpr(): PortExpr {
    const type = this.la();
    const token = this.pos;
    if (type === NUMBER) {
      this.pos++;
      return { kind: 'PortNumber', value: this.number(token), span: this.span(token) };
    }
    if (type === PORT_RANGE) {
      this.pos++;
      const start = this.starts[token]!;
      const end = this.ends[token]!;
      const dash = this.text.indexOf('-', start);
      return {
        kind: 'PortRange',
        low: { value: this.digits(start, dash), span: { file: this.file, start, end: dash } },
        high: { value: this.digits(dash + 1, end), span: { file: this.file, start: dash + 1, end } },
        span: this.span(token),
      };
    }
    if (IS_NAME[type] === 1) {
      this.pos++;
      return { kind: 'PortsRef', name: this.image(token), span: this.span(token) };
    }
    if (type !== LCURLY) throw NOT_FAST;
    const items: PortExpr[] = [];
    const span = this.list(items, () => this.portExpr(), startsPort);
    return { kind: 'PortList', items, span };
  }

  private icmpMatch(): IcmpAst {
    const icmp = this.consume(ICMP);
    const token = this.pos;
    let type: NumberLit | Name;
    if (this.la() === NUMBER) type = this.numberLit(token);
    else if (IS_NAME[this.la()] === 1) type = { name: this.image(token), span: this.span(token) };
    else throw NOT_FAST;
    this.pos++;
    if (this.la() !== SLASH) return { type, span: { file: this.file, start: this.starts[icmp]!, end: type.span.end } };
    this.pos++;
    const code = this.numberLit(this.consume(NUMBER));
    return { type, code, span: { file: this.file, start: this.starts[icmp]!, end: code.span.end } };
  }
}

function startsAddr(type: number): boolean {
  return type === IPV4 || type === IPV6 || type === ANY || type === ANY4 || type === ANY6 || IS_NAME[type] === 1 || type === LCURLY;
}

function startsPort(type: number): boolean {
  return type === NUMBER || type === PORT_RANGE || IS_NAME[type] === 1 || type === LCURLY;
}
