// Stage 1c: the parser. Takes the lexer's tokens; gives the concrete syntax tree (CST, typed
// by the generated cst.d.ts) and reports syntax errors (SEG1004-SEG1006). Rule names match
// grammar/segc.ebnf.
import type { CstNode, IParserErrorMessageProvider, IRecognitionException, IToken, TokenType } from 'chevrotain';
import { CstParser, EOF, MismatchedTokenException } from './chevrotain.ts';
import type { FileCstNode } from './cst.d.ts';
import { Code, DIAGNOSTICS, type DiagnosticCollector, type RelatedInfo } from './diagnostics.ts';
import type { SourceFile, Span } from './source.ts';
import { closestSpelling } from './spelling.ts';
import {
  Allow,
  Audit,
  Any,
  Any4,
  Any6,
  Colon,
  Comma,
  DateLiteral,
  Default,
  Deny,
  Egress,
  Equals,
  Except,
  ExpectWord,
  ExpiresWord,
  NoSessionWord,
  From,
  Icmp,
  Icmpv6,
  Include,
  Ingress,
  Keyword,
  Ipv4,
  Ipv6,
  LCurly,
  LineToken,
  Log,
  Name,
  Newline,
  NumberLiteral,
  parserVocabulary,
  Policy,
  Port,
  PortRange,
  Ports,
  RCurly,
  RuleWord,
  Sctp,
  SetKeyword,
  Slash,
  StringLiteral,
  Tcp,
  TestWord,
  To,
  Udp,
} from './tokens.ts';

/** Where a line that starts with no statement was found (the message differs). */
type StrayContext = 'declaration' | 'rule' | 'expectation';

/** A syntax error the grammar detects itself rather than through chevrotain's exceptions. */
interface LineError {
  readonly token: IToken;
  /** Among errors at one token, the lowest rank is reported (0: header, 1: chevrotain's, 2: line). */
  readonly rank: number;
  /** What was expected, as a phrase (`a rule priority`). */
  readonly expected: string;
  readonly missing: boolean;
  readonly where?: string;
  readonly hint?: string;
  /** Another place involved (the `{` a missing `}` should close). */
  readonly related?: { readonly token: IToken; readonly message: string };
  /** A line that starts no statement (it may continue the line above). */
  readonly stray?: boolean;
}

/** An error on its way to becoming a diagnostic. */
type PendingError = LineError & {
  /** The token before `token`, where chevrotain knows it. */
  readonly previous?: IToken;
};

const ADDRESS_EXPECTED = "an address, 'any', a set name or '{'";
const PORTS_EXPECTED = "a port, a port range, a ports name or '{'";
const PROTOCOL_EXPECTED = "a protocol (tcp, udp, sctp, icmp, icmpv6, any or a number) or '{'";
const ACTION_EXPECTED = "an action ('allow', 'deny' or 'log')";
const ICMP_TYPE_EXPECTED = 'an ICMP type (a number or a name such as echo-request)';
const DECLARATION_EXPECTED = "a declaration ('include', 'set', 'ports' or 'policy')";
const RULE_EXPECTED = 'a rule (starting with its priority number)';
const EXPECTATION_EXPECTED = "an expectation (starting with 'expect')";
const EXPECTED_OUTCOME = "'allow', 'deny', 'default' or 'rule NAME'";
const PACKET_EXPECTED = 'a packet (PROTO SRC[:PORT] -> DST[:PORT])';

/** The list rules, with what each holds. */
const LIST_ITEMS: Readonly<Record<string, string>> = { addrList: 'an address', portList: 'a port', protoList: 'a protocol' };

/** What the messages below need to know of the rule being parsed (set by the parser's actions). */
const messageContext = { srcPortsParsed: false };

/**
 * Exception messages name only what was expected (`an address, a set name or '{'`); `parse`
 * adds what was found and picks the code from it.
 */
const errorMessageProvider: IParserErrorMessageProvider = {
  buildMismatchTokenMessage({ expected, actual, previous, ruleName }) {
    if (expected === EOF) return DECLARATION_EXPECTED;
    if (expected === To && ruleName === 'rule') return messageContext.srcPortsParsed ? "'to'" : "'port' or 'to'";
    // `1 accept tcp ...`: a name, then no ':'. Unless an action follows, the name was meant as
    // the action (`parse` moves the error back onto it).
    if (expected === Colon && ruleName === 'rule' && !isActionToken(actual.tokenType)) return ACTION_EXPECTED;
    if (expected === LCurly && ruleName === 'policyDecl') {
      // Every word of a policy header is optional to the grammar; say which one is missing.
      const prev = previous.tokenType;
      if (prev === Policy) return "'ingress' or 'egress'";
      if (prev === Ingress || prev === Egress) return "'default' or '{'";
      if (prev === Default) return "'allow' or 'deny'";
    }
    const item = LIST_ITEMS[ruleName];
    if (expected === RCurly && item !== undefined) return previous.tokenType === Comma ? `${item} or '}'` : "',' or '}'";
    return describeTokenType(expected);
  },
  buildNotAllInputParsedMessage() {
    return 'the end of the file';
  },
  buildNoViableAltMessage({ expectedPathsPerAlt, customUserDescription }) {
    return customUserDescription ?? describeAlternatives(expectedPathsPerAlt.flat().map((path) => path[0]));
  },
  buildEarlyExitMessage({ expectedIterationPaths, customUserDescription }) {
    return customUserDescription ?? describeAlternatives(expectedIterationPaths.map((path) => path[0]));
  },
};

function describeTokenType(type: TokenType): string {
  return type === EOF ? 'the end of the file' : (type.LABEL ?? type.name);
}

function describeAlternatives(types: readonly (TokenType | undefined)[]): string {
  const phrases = [...new Set(types.filter((t) => t !== undefined).map(describeTokenType))];
  if (phrases.length <= 1) return phrases[0] ?? 'something else';
  return `${phrases.slice(0, -1).join(', ')} or ${phrases.at(-1)}`;
}

/**
 * The grammar. Statements (declarations and rules) are lines: each ends with `lineEnd`, which
 * takes the Newline and skips whatever a broken statement left on its line. Recovery therefore
 * never crosses a line: when a statement fails, chevrotain resyncs right at the failing token
 * (every in-line token is in the statement's follow set through `lineEnd`), the statement's
 * partial CST is kept (marked `recoveredNode`), and `lineEnd` swallows the rest of the line,
 * a `}` that closes a brace of the line included: only a `}` with none of the line's braces
 * open before it closes the enclosing block.
 * A line that starts with no statement at all is a `strayLine`. The policy header's words are
 * optional to the grammar so that a bad header never loses the block's rules; missing words
 * are reported by the actions below.
 */
export class SegParser extends CstParser {
  /** Errors the grammar's actions find (stray lines, extra tokens, a missing `}`). */
  lineErrors: LineError[] = [];
  /** Tokens before which recovery inserted a missing token (reported as SEG1005). */
  insertedBefore = new Set<IToken>();
  /** chevrotain's stack of the CST nodes being built (not in its typings). */
  declare private CST_STACK: CstNode[];
  /** The index in `input` of the last token consumed (chevrotain's, not in its typings). */
  declare private currIdx: number;

  /**
   * `validate` runs chevrotain's checks of the grammar (ambiguities, left recursion...) in
   * performSelfAnalysis; a test does that, while a run skips it to start faster.
   */
  constructor(options: { readonly validate?: boolean } = {}) {
    super([...parserVocabulary], { recoveryEnabled: true, maxLookahead: 1, errorMessageProvider, skipValidations: options.validate !== true });
    this.performSelfAnalysis();
  }

  file = this.RULE('file', () => {
    this.MANY(() => {
      this.OR([
        { ALT: () => this.CONSUME(Newline) },
        { ALT: () => this.SUBRULE(this.declaration) },
        {
          // A `}` with no block open (one closed early, or one too many). Taken here rather than
          // left to chevrotain's in-repetition recovery, which recurses once per such line:
          // thousands of them overflowed the stack. Reported as that recovery reported it.
          ALT: () => {
            const close = this.CONSUME(RCurly);
            this.ACTION(() => this.lineErrors.push({ token: close, rank: 1, expected: DECLARATION_EXPECTED, missing: false }));
          },
        },
      ]);
    });
  });

  declaration = this.RULE('declaration', () => {
    const start = this.ACTION(() => this.currIdx + 1);
    // The first token alone picks the statement, so `policy ingres {` is a broken policy
    // rather than a stray line. Any other line is a `strayLine` (tried last).
    this.OR({
      MAX_LOOKAHEAD: 1,
      DEF: [
        { ALT: () => this.SUBRULE(this.includeDecl) },
        { ALT: () => this.SUBRULE(this.setDecl) },
        { ALT: () => this.SUBRULE(this.portsDecl) },
        { ALT: () => this.SUBRULE(this.policyDecl) },
        { ALT: () => this.SUBRULE(this.testDecl), IGNORE_AMBIGUITIES: true },
        { ALT: () => this.SUBRULE(this.strayLine, { ARGS: ['declaration'] }), IGNORE_AMBIGUITIES: true },
      ],
    });
    this.SUBRULE(this.lineEnd, { ARGS: [start] });
  });

  includeDecl = this.RULE('includeDecl', () => {
    this.CONSUME(Include);
    this.CONSUME(StringLiteral, { LABEL: 'path', ERR_MSG: 'a file path in double quotes' });
  });

  setDecl = this.RULE('setDecl', () => {
    this.CONSUME(SetKeyword);
    this.CONSUME(Name);
    this.CONSUME(Equals);
    this.SUBRULE(this.addrExpr);
  });

  portsDecl = this.RULE('portsDecl', () => {
    this.CONSUME(Ports);
    this.CONSUME(Name);
    this.CONSUME(Equals);
    this.SUBRULE(this.portExpr);
  });

  policyDecl = this.RULE('policyDecl', () => {
    const policy = this.CONSUME(Policy);
    const direction = this.OPTION(() => this.OR([{ ALT: () => this.CONSUME(Ingress) }, { ALT: () => this.CONSUME(Egress) }]));
    const defaultWord = this.OPTION2(() => {
      const word = this.CONSUME(Default);
      const verdict = this.OPTION3(() => this.OR2([{ ALT: () => this.CONSUME(Allow) }, { ALT: () => this.CONSUME(Deny) }]));
      return { word, verdict };
    });
    const next = this.ACTION(() => this.LA(1));
    const open = this.CONSUME(LCurly);
    this.ACTION(() => {
      if (direction === undefined) this.reportMissing(next, policy, "'ingress' or 'egress'");
      else if (defaultWord !== undefined && defaultWord.verdict === undefined) this.reportMissing(next, defaultWord.word, "'allow' or 'deny'");
    });
    this.MANY({
      // A declaration keyword at a line start means the block was never closed.
      GATE: () => !isDeclarationStart(this.LA(1).tokenType),
      DEF: () => this.OR3([{ ALT: () => this.CONSUME(Newline) }, { ALT: () => this.SUBRULE(this.ruleLine) }]),
    });
    const close = this.OPTION4(() => this.CONSUME(RCurly));
    this.ACTION(() => {
      if (close === undefined) {
        const related = { token: open, message: 'the policy block opens here' };
        this.lineErrors.push({ token: this.LA(1), rank: 2, expected: "'}'", missing: true, where: 'to close the policy block', related });
      }
    });
  });

  ruleLine = this.RULE('ruleLine', () => {
    const start = this.ACTION(() => this.currIdx + 1);
    this.OR({
      MAX_LOOKAHEAD: 1,
      DEF: [
        { ALT: () => this.SUBRULE(this.rule) },
        { ALT: () => this.SUBRULE(this.strayLine, { ARGS: ['rule'] }), IGNORE_AMBIGUITIES: true },
      ],
    });
    this.SUBRULE(this.lineEnd, { ARGS: [start] });
  });

  rule = this.RULE('rule', () => {
    this.CONSUME(NumberLiteral, { LABEL: 'priority' });
    this.OPTION(() => {
      this.CONSUME(Name, { LABEL: 'name' });
      this.CONSUME(Colon);
    });
    this.SUBRULE(this.action);
    this.SUBRULE(this.protoExpr);
    this.CONSUME(From);
    this.SUBRULE(this.addrExpr, { LABEL: 'src' });
    const srcPorts = this.OPTION2(() => {
      this.CONSUME(Port);
      return this.SUBRULE(this.portExpr, { LABEL: 'srcPorts' });
    });
    this.ACTION(() => (messageContext.srcPortsParsed = srcPorts !== undefined));
    this.CONSUME(To);
    this.SUBRULE2(this.addrExpr, { LABEL: 'dst' });
    this.OPTION3(() => {
      this.CONSUME2(Port);
      this.SUBRULE2(this.portExpr, { LABEL: 'dstPorts' });
    });
    this.OPTION4(() => this.SUBRULE(this.icmpMatch));
    this.OPTION5(() => this.CONSUME(StringLiteral, { LABEL: 'description' }));
    // segc's extension: the flows the rule allows open no session (docs/language.md).
    this.OPTION6(() => this.CONSUME(NoSessionWord, { LABEL: 'noSession' }));
    this.OPTION7(() => this.SUBRULE(this.expiry));
  });

  /** segc's extension: `expires YYYY-MM-DD` at the end of a rule. */
  expiry = this.RULE('expiry', () => {
    this.CONSUME(ExpiresWord);
    this.CONSUME(DateLiteral, { ERR_MSG: 'a date (YYYY-MM-DD)' });
  });

  /**
   * segc's extension: `test "title" { expect ... }`, one expectation per line. Recovery works
   * as in a policy block: a broken line is one diagnostic, and the block goes on.
   */
  testDecl = this.RULE('testDecl', () => {
    this.CONSUME(TestWord);
    this.CONSUME(StringLiteral, { LABEL: 'title', ERR_MSG: 'the test\'s title in double quotes' });
    const open = this.CONSUME(LCurly);
    this.MANY({
      GATE: () => !isDeclarationStart(this.LA(1).tokenType),
      DEF: () => this.OR([{ ALT: () => this.CONSUME(Newline) }, { ALT: () => this.SUBRULE(this.expectLine) }]),
    });
    const close = this.OPTION(() => this.CONSUME(RCurly));
    this.ACTION(() => {
      if (close === undefined) {
        const related = { token: open, message: 'the test block opens here' };
        this.lineErrors.push({ token: this.LA(1), rank: 2, expected: "'}'", missing: true, where: 'to close the test block', related });
      }
    });
  });

  expectLine = this.RULE('expectLine', () => {
    const start = this.ACTION(() => this.currIdx + 1);
    this.OR({
      MAX_LOOKAHEAD: 1,
      DEF: [
        { ALT: () => this.SUBRULE(this.expectation) },
        { ALT: () => this.SUBRULE(this.strayLine, { ARGS: ['expectation'] }), IGNORE_AMBIGUITIES: true },
      ],
    });
    this.SUBRULE(this.lineEnd, { ARGS: [start] });
  });

  /** `expect allow|deny|default|rule NAME PACKET [ingress|egress]`. */
  expectation = this.RULE('expectation', () => {
    this.CONSUME(ExpectWord);
    this.OR({
      DEF: [
        { ALT: () => this.CONSUME(Allow) },
        { ALT: () => this.CONSUME(Deny) },
        { ALT: () => this.CONSUME(Default) },
        {
          ALT: () => {
            this.CONSUME(RuleWord);
            this.SUBRULE(this.ruleRef);
          },
        },
      ],
      ERR_MSG: EXPECTED_OUTCOME,
    });
    this.SUBRULE(this.packetSpec);
    this.OPTION(() => this.OR2([{ ALT: () => this.CONSUME(Ingress) }, { ALT: () => this.CONSUME(Egress) }]));
  });

  /** A rule by its name, or an unnamed one as `ingress/300`. */
  ruleRef = this.RULE('ruleRef', () => {
    this.OR({
      DEF: [
        { ALT: () => this.CONSUME(Name) },
        {
          ALT: () => {
            this.OR2([{ ALT: () => this.CONSUME(Ingress) }, { ALT: () => this.CONSUME(Egress) }]);
            this.CONSUME(Slash);
            this.CONSUME(NumberLiteral);
          },
        },
      ],
      ERR_MSG: "a rule name, or DIRECTION/PRIORITY like ingress/300",
    });
  });

  /**
   * The packet, in the notation of `explain --packet` (compiler/packet.ts): taken here as the
   * tokens up to the direction or the line end, and read by `lowerTests` from their text.
   */
  packetSpec = this.RULE('packetSpec', () => {
    this.AT_LEAST_ONE({
      GATE: () => !isDirectionToken(this.LA(1).tokenType),
      DEF: () => this.CONSUME(LineToken),
      ERR_MSG: PACKET_EXPECTED,
    });
  });

  action = this.RULE('action', () => {
    this.OR({
      DEF: [
        {
          ALT: () => {
            this.CONSUME(Allow);
            this.OPTION(() => this.CONSUME(Log));
          },
        },
        {
          ALT: () => {
            this.CONSUME(Deny);
            this.OPTION3(() => this.CONSUME(Audit));
            this.OPTION2(() => this.CONSUME2(Log));
          },
        },
        { ALT: () => this.CONSUME3(Log) },
      ],
      ERR_MSG: ACTION_EXPECTED,
    });
  });

  protoExpr = this.RULE('protoExpr', () => {
    this.OR({
      DEF: [
        { ALT: () => this.CONSUME(Tcp) },
        { ALT: () => this.CONSUME(Udp) },
        { ALT: () => this.CONSUME(Sctp) },
        { ALT: () => this.CONSUME(Icmp) },
        { ALT: () => this.CONSUME(Icmpv6) },
        { ALT: () => this.CONSUME(Any) },
        { ALT: () => this.CONSUME(NumberLiteral) },
        { ALT: () => this.SUBRULE(this.protoList) },
      ],
      ERR_MSG: PROTOCOL_EXPECTED,
    });
  });

  protoList = this.RULE('protoList', () => {
    this.CONSUME(LCurly);
    this.OPTION(() => {
      this.SUBRULE(this.protoExpr);
      // Two tokens tell `, item` from a trailing `, }`.
      this.MANY({
        MAX_LOOKAHEAD: 2,
        DEF: () => {
          this.CONSUME(Comma);
          this.SUBRULE2(this.protoExpr);
        },
      });
      this.OPTION2(() => this.CONSUME2(Comma));
    });
    this.CONSUME(RCurly);
  });

  /** `a except b except c` is `(a except b) except c`; `except` binds looser than `{ }`. */
  addrExpr = this.RULE('addrExpr', () => {
    this.SUBRULE(this.addrTerm, { LABEL: 'base' });
    this.MANY(() => {
      this.CONSUME(Except);
      this.SUBRULE2(this.addrTerm, { LABEL: 'excluded' });
    });
  });

  addrTerm = this.RULE('addrTerm', () => {
    this.OR({
      DEF: [
        { ALT: () => this.CONSUME(Ipv4) },
        { ALT: () => this.CONSUME(Ipv6) },
        { ALT: () => this.CONSUME(Any) },
        { ALT: () => this.CONSUME(Any4) },
        { ALT: () => this.CONSUME(Any6) },
        { ALT: () => this.CONSUME(Name) },
        { ALT: () => this.SUBRULE(this.addrList) },
      ],
      ERR_MSG: ADDRESS_EXPECTED,
    });
  });

  addrList = this.RULE('addrList', () => {
    this.CONSUME(LCurly);
    this.OPTION(() => {
      this.SUBRULE(this.addrExpr);
      // Two tokens tell `, item` from a trailing `, }`.
      this.MANY({
        MAX_LOOKAHEAD: 2,
        DEF: () => {
          this.CONSUME(Comma);
          this.SUBRULE2(this.addrExpr);
        },
      });
      this.OPTION2(() => this.CONSUME2(Comma));
    });
    this.CONSUME(RCurly);
  });

  portExpr = this.RULE('portExpr', () => {
    this.OR({
      DEF: [
        { ALT: () => this.CONSUME(NumberLiteral) },
        { ALT: () => this.CONSUME(PortRange) },
        { ALT: () => this.CONSUME(Name) },
        { ALT: () => this.SUBRULE(this.portList) },
      ],
      ERR_MSG: PORTS_EXPECTED,
    });
  });

  portList = this.RULE('portList', () => {
    this.CONSUME(LCurly);
    this.OPTION(() => {
      this.SUBRULE(this.portExpr);
      // Two tokens tell `, item` from a trailing `, }`.
      this.MANY({
        MAX_LOOKAHEAD: 2,
        DEF: () => {
          this.CONSUME(Comma);
          this.SUBRULE2(this.portExpr);
        },
      });
      this.OPTION2(() => this.CONSUME2(Comma));
    });
    this.CONSUME(RCurly);
  });

  /** `icmp TYPE[/CODE]`. */
  icmpMatch = this.RULE('icmpMatch', () => {
    this.CONSUME(Icmp);
    this.OR({
      DEF: [{ ALT: () => this.CONSUME(NumberLiteral, { LABEL: 'type' }) }, { ALT: () => this.CONSUME(Name, { LABEL: 'typeName' }) }],
      ERR_MSG: ICMP_TYPE_EXPECTED,
    });
    this.OPTION(() => {
      this.CONSUME(Slash);
      this.CONSUME2(NumberLiteral, { LABEL: 'code' });
    });
  });

  /** Error production: a line that starts with no statement. Reported, then skipped. */
  strayLine = this.RULE('strayLine', (context?: StrayContext) => {
    const first = this.CONSUME(LineToken);
    this.MANY(() => this.CONSUME2(LineToken));
    this.ACTION(() => {
      const isRule = context === 'rule';
      const isExpectation = context === 'expectation';
      const hint = isRule ? strayRuleHint(first) : isExpectation ? "an expectation is: expect allow tcp 10.0.0.1:40000 -> 10.0.1.5:443" : strayDeclarationHint(first);
      this.lineErrors.push({
        token: first,
        rank: 2,
        stray: true,
        expected: isRule ? RULE_EXPECTED : isExpectation ? EXPECTATION_EXPECTED : DECLARATION_EXPECTED,
        missing: false,
        hint,
      });
    });
  });

  /**
   * The end of a statement: its Newline, after any tokens the statement did not take. A
   * declaration keyword stops the skipping: `} policy egress {` is a missing line break, and
   * the policy after it still parses. (A policy block left unclosed ends at the next
   * declaration, which is already at a line start.) A `}` is skipped too when it closes a `{`
   * the statement opened on this line (`port { 80 443 }`, a comma missing): it is the broken
   * literal's, not the block's. `start` is the statement's first token's index in `input`.
   */
  lineEnd = this.RULE('lineEnd', (start?: number) => {
    const extra: IToken[] = [];
    this.MANY({
      GATE: () => this.LA(0).tokenType !== Newline && !isDeclarationStart(this.LA(1).tokenType) && (this.LA(1).tokenType !== RCurly || this.lineEndOpensBrace(start)),
      DEF: () => extra.push(this.OR([{ ALT: () => this.CONSUME(LineToken) }, { ALT: () => this.CONSUME(RCurly) }])),
    });
    this.OPTION(() => this.CONSUME(Newline));
    this.ACTION(() => {
      const stoppedMidLine = this.LA(0).tokenType !== Newline && isDeclarationStart(this.LA(1).tokenType);
      const first = extra[0] ?? (stoppedMidLine ? this.LA(1) : undefined);
      if (first !== undefined) this.lineErrors.push({ token: first, rank: 2, expected: 'the end of the line', missing: false });
    });
  });

  /**
   * Whether the statement that began at input index `start` left a `{` open before LA(1):
   * counted over its tokens on LA(1)'s line (a `{` of an earlier line is a block's, or a
   * literal `tokenizeLines` joined, which the statement closed). A `}` that closes a brace the
   * line opened belongs to the broken statement (`port { 80 443 }` missing its comma), not to
   * the block: left to the block, it closed the block, and every later rule became an error.
   */
  private lineEndOpensBrace(start: number | undefined): boolean {
    if (start === undefined) return false;
    const input = this.input;
    let depth = 0;
    for (let i = this.currIdx; i >= start; i--) {
      const type = input[i]!.tokenType;
      if (type === Newline) break;
      if (type === LCurly) depth++;
      else if (type === RCurly) depth--;
    }
    return depth > 0;
  }

  private reportMissing(at: IToken, after: IToken, expected: string): void {
    this.lineErrors.push({ token: at, rank: 0, expected, missing: true, where: `after '${after.image}'` });
  }

  /**
   * Works around chevrotain making each CST node's `children` with `Object.create(null)`:
   * V8 keeps such objects in dictionary mode, several times the size of a plain object, and
   * the CST is most of the front end's memory and GC time. No token or rule name of this
   * grammar is an Object.prototype property, so a plain object is safe.
   */
  protected cstInvocationStateUpdate(fullRuleName: string): void {
    this.CST_STACK.push({ name: fullRuleName, children: {} });
  }

  /** Records where recovery inserts a token (chevrotain calls this only when it does). */
  protected override getTokenToInsert(tokType: TokenType): IToken {
    this.insertedBefore.add(this.LA(1));
    return super.getTokenToInsert(tokType);
  }

  /** Never delete a line break to repair a statement: that would join two lines. */
  protected override canTokenTypeBeDeletedInRecovery(_tokType: TokenType): boolean {
    return this.LA(1).tokenType !== Newline;
  }
}

function isActionToken(type: TokenType): boolean {
  return type === Allow || type === Deny || type === Log;
}

function isDeclarationStart(type: TokenType): boolean {
  return type === Include || type === SetKeyword || type === Ports || type === Policy || type === TestWord;
}

function isDirectionToken(type: TokenType): boolean {
  return type === Ingress || type === Egress;
}

function strayRuleHint(first: IToken): string | undefined {
  const t = first.tokenType;
  if (t === Allow || t === Deny || t === Log) return `rules start with their priority, like: 100 ${first.image} ...`;
  if (t === Name) return 'a rule is PRIORITY [NAME:] ACTION PROTO from ADDR to ADDR, like: 100 web: allow tcp from any to any port 443';
  return undefined;
}

function strayDeclarationHint(first: IToken): string | undefined {
  return first.tokenType === NumberLiteral ? 'rules belong inside a policy block: policy ingress { ... }' : undefined;
}

/** The keywords an expected phrase stands for, where it does not quote them. */
const PHRASE_KEYWORDS: Readonly<Record<string, readonly string[]>> = {
  [PROTOCOL_EXPECTED]: ['tcp', 'udp', 'sctp', 'icmp', 'icmpv6', 'any'],
};

/** Words other firewalls use for ours (iptables, nftables, cloud security groups). */
const SYNONYMS: Readonly<Record<string, string>> = {
  accept: 'allow',
  permit: 'allow',
  pass: 'allow',
  drop: 'deny',
  reject: 'deny',
  block: 'deny',
  all: 'any',
  in: 'ingress',
  inbound: 'ingress',
  input: 'ingress',
  out: 'egress',
  outbound: 'egress',
  output: 'egress',
  dport: 'port',
  sport: 'port',
  ports: 'port',
};

/** For a name where keywords were expected: the one meant, if it looks like a typo or a synonym. */
function suggestKeyword(found: IToken, expected: string): string | undefined {
  if (found.tokenType !== Name) return undefined;
  const words = PHRASE_KEYWORDS[expected] ?? [...expected.matchAll(/'([a-z0-9]+)'/g)].map((m) => m[1]!);
  const written = found.image.toLowerCase();
  const synonym = SYNONYMS[written];
  if (synonym !== undefined && words.includes(synonym)) return `did you mean '${synonym}'?`;
  const best = closestSpelling(written, words);
  return best !== undefined ? `did you mean '${best}'?` : undefined;
}

/** Hints from what was found: a list without braces, a keyword used as a name. */
function hintForFound(p: PendingError): string | undefined {
  const found = p.token;
  if (found.tokenType === Comma) return 'several addresses, ports or protocols go in braces: { a, b }';
  // `allow audit`, `deny log audit`: the extension's word has one place (docs/language.md).
  if (found.tokenType === Audit && p.expected === PROTOCOL_EXPECTED) return "'audit' goes right after 'deny' (deny audit, deny audit log); an allow has nothing to audit";
  const isKeyword = (t: IToken | undefined): t is IToken => t?.tokenType.CATEGORIES?.includes(Keyword) === true;
  if (isKeyword(found) && p.expected === describeTokenType(Name)) return `'${found.image}' is a keyword, so it cannot be a name`;
  // `100 deny: deny tcp ...`: the would-be rule name was taken as the action.
  if (found.tokenType === Colon && isKeyword(p.previous)) return `'${p.previous.image}' is a keyword, so it cannot name a rule`;
  return undefined;
}

/** Trees parsed without any syntax error: no node in them is recovered or made up. */
const cleanTrees = new WeakSet<FileCstNode>();

/** Whether `parse` made this tree without recovering from any error (`buildAst` skips checks). */
export function isCleanTree(cst: FileCstNode): boolean {
  return cleanTrees.has(cst);
}

/** The one parser: building it analyses the grammar, so it is made once and reused. */
export const parser = new SegParser();

/** The span of a token; an empty one at the end of the file for EOF. */
export function tokenSpan(file: SourceFile, token: IToken): Span {
  if (token.tokenType === EOF || Number.isNaN(token.startOffset) || token.startOffset < 0) {
    return { file: file.path, start: file.text.length, end: file.text.length };
  }
  // A missing statement end is shown as an empty span where the line ends.
  if (token.tokenType === Newline) return { file: file.path, start: token.startOffset, end: token.startOffset };
  return { file: file.path, start: token.startOffset, end: token.startOffset + token.image.length };
}

/** What the user wrote at a token, as a message quotes it. */
function describeFound(token: IToken): string {
  if (token.tokenType === EOF || token.image === '') return 'the end of the file';
  if (token.tokenType === Newline) return 'the end of the line';
  const image = token.image.length > 40 ? `${token.image.slice(0, 37)}...` : token.image;
  return `'${image}'`;
}

/**
 * Parses one file's tokens (from `tokenize`) into its CST; syntax errors go to `diagnostics`.
 * One diagnostic per position, and at most one per line: a later error on a line that already
 * has one (the lexer's included) is a consequence of the first, so it is dropped.
 * `input`, when given, is what the grammar reads: `tokens` without whole statements that were
 * read elsewhere (parse-rule-lines.ts); lines are still numbered over all of `tokens`, or by
 * `lineEnds` (the offsets of all of its Newlines, ascending) when the caller has no token objects.
 */
export function parse(file: SourceFile, tokens: readonly IToken[], diagnostics: DiagnosticCollector, input: IToken[] = tokens as IToken[], lineEnds?: ArrayLike<number>): FileCstNode {
  const limited = parseLimitNesting(file, input, diagnostics);
  parser.lineErrors = [];
  parser.insertedBefore = new Set();
  parser.input = limited;
  const cst = parser.file() as FileCstNode;
  if (parser.errors.length === 0 && parser.lineErrors.length === 0 && limited === input) cleanTrees.add(cst);
  const pending: PendingError[] = [
    ...parser.errors.map((e: IRecognitionException) => ({
      // A rule name that should have been the action: the error belongs to the name.
      token: e.message === ACTION_EXPECTED && e instanceof MismatchedTokenException ? e.previousToken : e.token,
      rank: 1,
      expected: e.message,
      missing: e.name === 'MismatchedTokenException' && parser.insertedBefore.has(e.token),
      previous: (e as { previousToken?: IToken }).previousToken,
    })),
    ...parser.lineErrors,
  ];
  // Nothing to report (a valid file): skip numbering the statements of the whole file.
  if (pending.length > 0) parseReport(file, lineEnds ?? parseLineEnds(tokens), pending, diagnostics);
  parser.input = [];
  return cst;
}

/** Deeper than this, `{ }` nesting is refused (the parser recurses once per level). */
export const MAX_BRACE_DEPTH = 64;
/** Longer than this, an `except` chain is refused (the AST nests once per `except`). */
export const MAX_EXCEPT_CHAIN = 256;

/**
 * Keeps the parser's recursion, and the AST's depth, bounded whatever the input: a `{` nested
 * deeper than MAX_BRACE_DEPTH, or an `except` past MAX_EXCEPT_CHAIN in one statement, is
 * reported, and the rest of its statement dropped. Returns `tokens` itself when all is well.
 */
function parseLimitNesting(file: SourceFile, tokens: IToken[], diagnostics: DiagnosticCollector): IToken[] {
  let depth = 0;
  let excepts = 0;
  let cut = -1;
  let out: IToken[] | undefined;
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]!;
    const type = token.tokenType;
    if (type === Newline) {
      // Literals are whole on their line (tokenizeLines), so counting per line is enough.
      depth = 0;
      excepts = 0;
      cut = -1;
    } else if (cut >= 0) {
      continue;
    } else if (type === LCurly) {
      depth++;
    } else if (type === RCurly) {
      depth = Math.max(0, depth - 1);
    } else if (type === Except) {
      excepts++;
    }
    const tooDeep = type === LCurly && depth > MAX_BRACE_DEPTH;
    const tooLong = type === Except && excepts > MAX_EXCEPT_CHAIN;
    if (tooDeep || tooLong) {
      const expected = tooDeep ? `at most ${MAX_BRACE_DEPTH} nested braces` : `at most ${MAX_EXCEPT_CHAIN} 'except' in one statement`;
      diagnostics.add(Code.UnexpectedToken, tokenSpan(file, token), { expected, found: describeFound(token) });
      // The token stays, so the parser fails on it and marks the statement recovered.
      out ??= tokens.slice(0, i);
      out.push(token);
      cut = i;
      continue;
    }
    out?.push(token);
  }
  return out ?? tokens;
}

/** Statement ends: after tokenizeLines, every Newline token ends a statement. */
function parseLineEnds(tokens: readonly IToken[]): number[] {
  const lineEnds: number[] = [];
  for (const t of tokens) if (t.tokenType === Newline) lineEnds.push(t.startOffset);
  return lineEnds;
}

function parseReport(file: SourceFile, lineEnds: ArrayLike<number>, pending: readonly PendingError[], diagnostics: DiagnosticCollector): void {
  const lineOf = (offset: number): number => {
    let lo = 0;
    let hi = lineEnds.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (lineEnds[mid]! < offset) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  // Where each line's first lexical error starts: parse errors after it are its echoes.
  const lexicalStart = new Map<number, number>();
  for (const d of diagnostics.items) {
    if (d.span.file !== file.path || DIAGNOSTICS[d.code].category !== 'syntax') continue;
    const line = lineOf(d.span.start);
    lexicalStart.set(line, Math.min(lexicalStart.get(line) ?? Infinity, d.span.start));
  }
  const ordered = pending
    .map((p) => ({ p, span: tokenSpan(file, p.token) }))
    .sort((a, b) => a.span.start - b.span.start || a.p.rank - b.p.rank);
  const reportedLines = new Set<number>();
  const cutShortLines = new Set<number>();
  for (const { p, span } of ordered) {
    const line = lineOf(span.start);
    if (reportedLines.has(line) || (lexicalStart.get(line) ?? Infinity) <= span.start) continue;
    reportedLines.add(line);
    // A statement cut short at its line end, then a line that starts no statement: that line
    // is the rest of the statement, and the one mistake already has its diagnostic.
    if (p.stray === true && cutShortLines.has(line - 1)) continue;
    const related: RelatedInfo[] = p.related ? [{ span: tokenSpan(file, p.related.token), message: p.related.message }] : [];
    const hintText = p.hint ?? suggestKeyword(p.token, p.expected) ?? hintForFound(p);
    const hint: Record<string, string> = hintText === undefined ? {} : { hint: hintText };
    const type = p.token.tokenType;
    if (p.missing && p.where !== undefined && type !== Name) {
      diagnostics.add(Code.MissingToken, span, { expected: p.expected, where: p.where, ...hint }, { related });
    } else if (type === Newline || type === EOF) {
      cutShortLines.add(line);
      diagnostics.add(Code.UnexpectedEndOfLine, span, { expected: p.expected, ...hint }, { related });
    } else if (p.missing && type !== Name) {
      // A name where a word is missing is more likely a misspelling of that word (SEG1004).
      diagnostics.add(Code.MissingToken, span, { expected: p.expected, where: `before ${describeFound(p.token)}`, ...hint }, { related });
    } else {
      diagnostics.add(Code.UnexpectedToken, span, { expected: p.expected, found: describeFound(p.token), ...hint }, { related });
    }
  }
}

