// The AST: what `buildAst` makes of one file's CST. Plain data: `readonly` fields, a `kind`
// discriminant, a `span` on every node, no classes, no cycles.
//
// What holds after `buildAst`: the tree mirrors the text (names are not yet looked up, numbers
// and addresses are not yet range-checked, they keep the text the user wrote). Parts that the
// parser could not recover are missing: optional fields are absent and `recovered` is true on
// the rule or declaration, and later stages skip such nodes (their error is already reported).
import type { Span } from './source.ts';

export interface Name {
  readonly name: string;
  readonly span: Span;
}

export interface NumberLit {
  /** The decimal value; may exceed any valid range (checked by `lower`). */
  readonly value: number;
  readonly span: Span;
}

export interface Comment {
  /** The comment text including the leading `#`. */
  readonly text: string;
  readonly span: Span;
}

export interface FileAst {
  readonly kind: 'File';
  readonly path: string;
  readonly span: Span;
  readonly declarations: readonly Declaration[];
  /** Every comment of the file, in order (for `fmt`). */
  readonly comments: readonly Comment[];
}

export type Declaration = IncludeDecl | SetDecl | PortsDecl | PolicyDecl | TestDecl;

export interface IncludeDecl {
  readonly kind: 'Include';
  /** The string's value (escapes resolved), as written relative to this file. */
  readonly path: string;
  readonly pathSpan: Span;
  readonly span: Span;
  readonly recovered?: true;
}

export interface SetDecl {
  readonly kind: 'SetDecl';
  readonly name: Name;
  readonly value?: AddrExpr;
  readonly span: Span;
  readonly recovered?: true;
}

export interface PortsDecl {
  readonly kind: 'PortsDecl';
  readonly name: Name;
  readonly value?: PortExpr;
  readonly span: Span;
  readonly recovered?: true;
}

export type Direction = 'ingress' | 'egress';
export type Verdict = 'allow' | 'deny';

export interface PolicyDecl {
  readonly kind: 'Policy';
  readonly direction: Direction;
  readonly directionSpan: Span;
  /** `default allow|deny` when written; the span covers both words. */
  readonly defaultAction?: { readonly verdict: Verdict; readonly span: Span };
  readonly rules: readonly RuleAst[];
  readonly span: Span;
  readonly recovered?: true;
}

// ---- Addresses ------------------------------------------------------------------------------

export type AddrExpr = AddrLiteral | AnyAddr | SetRef | AddrList | AddrExcept;

/** An IPv4 or IPv6 address or CIDR exactly as written (`10.0.0.0/8`, `2001:db8::1`). */
export interface AddrLiteral {
  readonly kind: 'AddrLiteral';
  readonly text: string;
  readonly span: Span;
}

export interface AnyAddr {
  readonly kind: 'AnyAddr';
  readonly which: 'any' | 'any4' | 'any6';
  readonly span: Span;
}

export interface SetRef {
  readonly kind: 'SetRef';
  readonly name: string;
  readonly span: Span;
}

/** `{ a, b, ... }`: union. May be empty in the AST (an error reported by `lower`). */
export interface AddrList {
  readonly kind: 'AddrList';
  readonly items: readonly AddrExpr[];
  readonly span: Span;
}

/** `base except excluded`. */
export interface AddrExcept {
  readonly kind: 'AddrExcept';
  readonly base: AddrExpr;
  readonly excluded: AddrExpr;
  readonly span: Span;
}

// ---- Ports ----------------------------------------------------------------------------------

export type PortExpr = PortNumber | PortRange | PortsRef | PortList;

export interface PortNumber {
  readonly kind: 'PortNumber';
  readonly value: number;
  readonly span: Span;
}

/** `N-M`; the lexer yields it as one token, so `low`/`high` carry their own spans. */
export interface PortRange {
  readonly kind: 'PortRange';
  readonly low: NumberLit;
  readonly high: NumberLit;
  readonly span: Span;
}

export interface PortsRef {
  readonly kind: 'PortsRef';
  readonly name: string;
  readonly span: Span;
}

export interface PortList {
  readonly kind: 'PortList';
  readonly items: readonly PortExpr[];
  readonly span: Span;
}

// ---- Protocols ------------------------------------------------------------------------------

export type ProtoKeyword = 'tcp' | 'udp' | 'sctp' | 'icmp' | 'icmpv6' | 'any';

export type ProtoExpr = ProtoName | ProtoNumber | ProtoList;

export interface ProtoName {
  readonly kind: 'ProtoName';
  readonly name: ProtoKeyword;
  readonly span: Span;
}

export interface ProtoNumber {
  readonly kind: 'ProtoNumber';
  readonly value: number;
  readonly span: Span;
}

export interface ProtoList {
  readonly kind: 'ProtoList';
  readonly items: readonly ProtoExpr[];
  readonly span: Span;
}

// ---- Rules ----------------------------------------------------------------------------------

export interface ActionAst {
  /** `log` alone means allow and record. */
  readonly verdict: Verdict;
  readonly log: boolean;
  /** `deny audit`: the deny passes, counted as would-deny (segc's extension, docs/language.md). */
  readonly audit: boolean;
  /** The words as written (for fmt). */
  readonly text: 'allow' | 'deny' | 'log' | 'allow log' | 'deny log' | 'deny audit' | 'deny audit log';
  readonly span: Span;
}

export interface IcmpAst {
  /** A number or a well-known name (`echo-request`), resolved per family by `lower`. */
  readonly type: NumberLit | Name;
  readonly code?: NumberLit;
  readonly span: Span;
}

export interface RuleAst {
  readonly kind: 'Rule';
  readonly priority: NumberLit;
  readonly name?: Name;
  readonly action?: ActionAst;
  readonly protocol?: ProtoExpr;
  readonly src?: AddrExpr;
  readonly srcPorts?: PortExpr;
  readonly dst?: AddrExpr;
  readonly dstPorts?: PortExpr;
  readonly icmp?: IcmpAst;
  readonly description?: { readonly value: string; readonly span: Span };
  /**
   * segc's extension: `nosession`, the flows the rule allows open no session when the other
   * direction lets all their replies through (checked by `lower`, decided by the analysis).
   */
  readonly noSession?: { readonly span: Span };
  /** segc's extension: `expires YYYY-MM-DD`, the date as written (checked by `lower`). */
  readonly expires?: { readonly text: string; readonly span: Span };
  /** The whole rule, from the priority to the end of its last token. */
  readonly span: Span;
  /** Set when the parser recovered inside this rule: some parts may be missing. */
  readonly recovered?: true;
}

// ---- Packet tests (segc's extension) ---------------------------------------------------------

/** `test "title" { expect ... }`: expectations about the policy's verdicts. */
export interface TestDecl {
  readonly kind: 'Test';
  readonly title: string;
  readonly titleSpan: Span;
  readonly expectations: readonly ExpectationAst[];
  readonly span: Span;
  readonly recovered?: true;
}

/** What an expectation says decides the packet: a verdict, the default, or one rule. */
export type ExpectedOutcome =
  | { readonly kind: 'verdict'; readonly verdict: Verdict; readonly span: Span }
  | { readonly kind: 'default'; readonly span: Span }
  /** `rule ssh-office`, or `rule ingress/300` for an unnamed rule (`name` is then that text). */
  | { readonly kind: 'rule'; readonly rule: Name; readonly span: Span };

/** `expect OUTCOME PACKET [DIRECTION]`; the packet keeps its text (read by `lowerTests`). */
export interface ExpectationAst {
  readonly kind: 'Expect';
  readonly expected: ExpectedOutcome;
  readonly packet: { readonly text: string; readonly span: Span };
  /** The direction as written; absent means ingress (as for `explain`). */
  readonly direction?: { readonly direction: Direction; readonly span: Span };
  readonly span: Span;
  readonly recovered?: true;
}
