// Stage 1a: the token types of the `.seg` language (chevrotain). Takes nothing; gives the
// token vocabulary that `lexer.ts` scans with and `parser.ts` parses with.
import type { TokenType } from 'chevrotain';
import { createToken, Lexer } from './chevrotain.ts';

/** The spec's keywords (language.md, "Lexical rules"), the one list every keyword comes from. */
export const KEYWORDS = [
  'include',
  'set',
  'ports',
  'policy',
  'ingress',
  'egress',
  'default',
  'allow',
  'deny',
  'log',
  'from',
  'to',
  'port',
  'any',
  'any4',
  'any6',
  'except',
  'icmp',
  'tcp',
  'udp',
  'icmpv6',
  'sctp',
] as const;

export type KeywordText = (typeof KEYWORDS)[number];

/** segc's own soft keywords (docs/language.md): names everywhere but where the extension stands. */
export const EXTENSION_KEYWORDS = ['audit'] as const;

// Categories never produced by the lexer; the parser consumes tokens through them.
/** Every keyword. */
export const Keyword = createToken({ name: 'Keyword', pattern: Lexer.NA });
/**
 * Every token that may appear inside a line apart from `}`. The parser's error productions
 * (`strayLine`, `lineEnd`) consume through it to skip the rest of a broken line (`lineEnd`
 * takes a `}` as well, when it closes a `{` of the line).
 */
export const LineToken = createToken({ name: 'LineToken', pattern: Lexer.NA });

export const Name = createToken({
  name: 'Name',
  label: 'a name',
  pattern: /[A-Za-z_][A-Za-z0-9_-]*/,
  categories: [LineToken],
});

function keywordName(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** Keyword token types by their text. */
export const keywordTokens: Readonly<Record<KeywordText, TokenType>> = Object.fromEntries(
  KEYWORDS.map((text) => [
    text,
    createToken({
      name: keywordName(text),
      label: `'${text}'`,
      pattern: text,
      // `deny-all` and `any4x` are names: the name token wins when it matches more.
      longer_alt: Name,
      categories: [Keyword, LineToken],
    }),
  ]),
) as Record<KeywordText, TokenType>;

export const Include = keywordTokens.include;
/** Not `Set`, which would shadow the global. */
export const SetKeyword = keywordTokens.set;
export const Ports = keywordTokens.ports;
export const Policy = keywordTokens.policy;
export const Ingress = keywordTokens.ingress;
export const Egress = keywordTokens.egress;
export const Default = keywordTokens.default;
export const Allow = keywordTokens.allow;
export const Deny = keywordTokens.deny;
export const Log = keywordTokens.log;
export const From = keywordTokens.from;
export const To = keywordTokens.to;
export const Port = keywordTokens.port;
export const Any = keywordTokens.any;
export const Any4 = keywordTokens.any4;
export const Any6 = keywordTokens.any6;
export const Except = keywordTokens.except;
export const Icmp = keywordTokens.icmp;
export const Tcp = keywordTokens.tcp;
export const Udp = keywordTokens.udp;
export const Icmpv6 = keywordTokens.icmpv6;
export const Sctp = keywordTokens.sctp;

/**
 * segc's extension (docs/language.md, "Audit mode"): `audit` after `deny`. A soft keyword, not
 * one of the spec's: its category is Name, so `audit` stays usable as a set, ports or rule name
 * wherever a name may stand, and a core-spec file means the same.
 */
export const Audit = createToken({
  name: 'Audit',
  label: "'audit'",
  pattern: 'audit',
  longer_alt: Name,
  categories: [Name, LineToken],
});

/**
 * segc's contextual words (docs/language.md, "segc's extensions"): `test`, `expect` and `rule`
 * in a test block, `expires` and `nosession` in a rule's tail. They are not reserved: each token type is in
 * the Name category, so wherever the core grammar takes a name (`set test = ...`, a rule named
 * `expires`), it still does, and a core file means what it meant.
 */
function contextualWord(text: string): TokenType {
  return createToken({ name: `Word${keywordName(text)}`, label: `'${text}'`, pattern: text, longer_alt: Name, categories: [Name, LineToken] });
}
export const CONTEXTUAL_WORDS = ['expect', 'expires', 'nosession', 'rule', 'test'] as const;
export const TestWord = contextualWord('test');
export const ExpectWord = contextualWord('expect');
export const RuleWord = contextualWord('rule');
export const ExpiresWord = contextualWord('expires');
/** `nosession` in a rule's tail (docs/language.md, "Flows that open no session"). */
export const NoSessionWord = contextualWord('nosession');

// Addresses are lexed by shape only; `lower` validates the text (SEG3001-SEG3004).
/**
 * IPv6: a run of hex digits, letters, dots and colons with at least two colons, then an
 * optional `/len`. Two colons are what keep a rule name apart from an address: in
 * `100 fe80: allow` the name `fe80` is followed by a single `:` and a space, while every IPv6
 * address (`::`, `::1`, `fe80::1`, `::ffff:10.0.0.1`, `1:2:3:4:5:6:7:8`) has two or more.
 * Letters past `f` stay in the token so that `2001:db8::g1` is one bad address, not five tokens.
 */
export const Ipv6 = createToken({
  name: 'Ipv6',
  label: 'an IPv6 address',
  pattern: /(?:[0-9A-Fa-f][0-9A-Za-z.]*)?:[0-9A-Za-z.]*:[0-9A-Za-z.:]*(?:\/[0-9]+)?/,
  categories: [LineToken],
});
/** IPv4: digits with at least one dot (`10.0.0.0`, and the bad `10.0.0` too), optional `/len`. */
export const Ipv4 = createToken({
  name: 'Ipv4',
  label: 'an IPv4 address',
  pattern: /[0-9]+(?:\.[0-9]+)+(?:\/[0-9]+)?/,
  categories: [LineToken],
});
/**
 * `YYYY-MM-DD`, the date of an `expires` tail; any three dash-joined runs of digits, so that
 * `2027-3-31` is one bad date (checked by `lower`, SEG3101) rather than a range and a `-`.
 */
export const DateLiteral = createToken({
  name: 'Date',
  label: 'a date (YYYY-MM-DD)',
  pattern: /[0-9]+-[0-9]+-[0-9]+/,
  categories: [LineToken],
});
/** `->` between the two ends of a packet in a test expectation. */
export const Arrow = createToken({ name: 'Arrow', label: "'->'", pattern: '->', categories: [LineToken] });
/** `[2001:db8::1]:443`: an IPv6 packet end with its port, as `explain --packet` writes it. */
export const BracketedEndpoint = createToken({
  name: 'BracketedEndpoint',
  label: 'an IPv6 address in brackets',
  pattern: /\[[0-9A-Fa-f:.]*\](?::[0-9]+)?/,
  categories: [LineToken],
});
/** `N-M` without spaces; one token so that `32768-60999` never reads as a number and a name. */
export const PortRange = createToken({
  name: 'PortRange',
  label: 'a port range',
  pattern: /[0-9]+-[0-9]+/,
  categories: [LineToken],
});
/**
 * Digits run into letters (`80to`, `1abc`): no valid token, but one word, so the parser
 * reports "expected a port..., found '80to'" instead of silently reading `80` and `to`.
 */
export const GluedWord = createToken({
  name: 'GluedWord',
  label: 'a word starting with digits',
  pattern: /[0-9]+[A-Za-z_][A-Za-z0-9_-]*/,
  categories: [LineToken],
});
export const NumberLiteral = createToken({
  name: 'Number',
  label: 'a number',
  pattern: /[0-9]+/,
  categories: [LineToken],
});
/**
 * A string runs to its closing quote or to the end of the line. An unterminated string and
 * a bad escape are still one string token; `tokenize` reports them (SEG1002, SEG1003).
 */
export const StringLiteral = createToken({
  name: 'String',
  label: 'a string',
  pattern: /"(?:[^"\\\r\n]|\\[^\r\n]?)*"?/,
  categories: [LineToken],
});

export const Comment = createToken({ name: 'Comment', pattern: /#[^\r\n]*/, group: 'comments' });
export const Whitespace = createToken({ name: 'Whitespace', pattern: /[ \t\f\v\uFEFF]+/, group: Lexer.SKIPPED });
export const Newline = createToken({ name: 'Newline', label: 'the end of the line', pattern: /\r\n|\r|\n/, line_breaks: true });

export const LCurly = createToken({ name: 'LCurly', label: "'{'", pattern: '{', categories: [LineToken] });
/** Not a LineToken: a `}` ends the line of the last rule of a block written on one line. */
export const RCurly = createToken({ name: 'RCurly', label: "'}'", pattern: '}' });
export const Comma = createToken({ name: 'Comma', label: "','", pattern: ',', categories: [LineToken] });
export const Colon = createToken({ name: 'Colon', label: "':'", pattern: ':', categories: [LineToken] });
export const Equals = createToken({ name: 'Equals', label: "'='", pattern: '=', categories: [LineToken] });
export const Slash = createToken({ name: 'Slash', label: "'/'", pattern: '/', categories: [LineToken] });

/** Keywords longest first, so `any4` is tried before `any` and `icmpv6` before `icmp`. */
const keywordsLongestFirst: readonly TokenType[] = [...KEYWORDS]
  .sort((a, b) => b.length - a.length || (a < b ? -1 : 1))
  .map((text) => keywordTokens[text]);

/**
 * Every token type in the order the lexer tries them (the first match wins). Addresses come
 * before numbers (`10.0.0.0/8`, `2001:db8::`) and before names (`fe80::1`); port ranges before
 * numbers; keywords before names.
 */
export const allTokens: readonly TokenType[] = [
  Whitespace,
  Newline,
  Comment,
  StringLiteral,
  BracketedEndpoint,
  Ipv6,
  Ipv4,
  DateLiteral,
  PortRange,
  GluedWord,
  NumberLiteral,
  ...keywordsLongestFirst,
  Audit,
  ExpiresWord,
  NoSessionWord,
  ExpectWord,
  TestWord,
  RuleWord,
  Name,
  Arrow,
  LCurly,
  RCurly,
  Comma,
  Colon,
  Equals,
  Slash,
];

/** The token types the parser knows, categories included (for the parser's constructor). */
export const parserVocabulary: readonly TokenType[] = [Keyword, LineToken, ...allTokens];
