// Diagnostics: the one table of every code segc reports, and the collector stages add to.
// Stages add diagnostics and keep going; reporters (compiler/report/) only format them.
import type { Span } from './source.ts';

export type Severity = 'error' | 'warning' | 'info';

/** The spec's categories (cli.md), plus `internal` for bugs (exit 2). */
export type Category =
  | 'syntax'
  | 'name'
  | 'value'
  | 'include'
  | 'shadowed'
  | 'redundant'
  | 'conflict'
  | 'generalization'
  | 'lockout'
  | 'session'
  | 'internal';

export interface DiagnosticDef {
  readonly code: string;
  readonly severity: Severity;
  readonly category: Category;
  /** Template with named holes: `unknown {kind} '{name}'`. */
  readonly message: string;
  /** Template for the fix; a hole with no value drops the whole hint. */
  readonly hint?: string;
  /** A retired code stays in the table so it is never reused. */
  readonly retired?: boolean;
}

/**
 * Named codes; call sites use these, never bare strings. Blocks follow the spec's categories:
 * SEG1xxx syntax, 2xxx names, 3xxx values, 4xxx includes, 5xxx rule analysis, 9xxx internal.
 */
export const Code = {
  // 1xxx syntax
  UnexpectedCharacter: 'SEG1001',
  UnterminatedString: 'SEG1002',
  InvalidEscape: 'SEG1003',
  UnexpectedToken: 'SEG1004',
  MissingToken: 'SEG1005',
  UnexpectedEndOfLine: 'SEG1006',
  // 2xxx names
  UnknownSet: 'SEG2001',
  UnknownPorts: 'SEG2002',
  DuplicateDeclaration: 'SEG2003',
  DuplicateRuleName: 'SEG2004',
  CyclicDeclaration: 'SEG2005',
  WrongKindOfName: 'SEG2006',
  UnusedSet: 'SEG2101',
  UnusedPorts: 'SEG2102',
  // 22xx names in packet tests (segc's extension)
  UnknownRuleInTest: 'SEG2201',
  // 3xxx values
  InvalidIpv4: 'SEG3001',
  InvalidIpv6: 'SEG3002',
  HostBitsSet: 'SEG3003',
  PrefixLengthOutOfRange: 'SEG3004',
  PortOutOfRange: 'SEG3005',
  PortRangeReversed: 'SEG3006',
  ProtocolOutOfRange: 'SEG3007',
  PriorityOutOfRange: 'SEG3008',
  DuplicatePriority: 'SEG3009',
  PortWithoutPortProtocol: 'SEG3010',
  IcmpWithoutIcmpProtocol: 'SEG3011',
  UnknownIcmpType: 'SEG3012',
  IcmpValueOutOfRange: 'SEG3013',
  EmptySetLiteral: 'SEG3014',
  EmptyAfterExcept: 'SEG3015',
  RuleMatchesNothing: 'SEG3016',
  ConflictingDefaults: 'SEG3017',
  IcmpTypeNotInFamily: 'SEG3018',
  // 31xx values of segc's extensions: expiry dates, test packets
  InvalidDate: 'SEG3101',
  InvalidTestPacket: 'SEG3102',
  RuleExpired: 'SEG3103',
  RuleExpiresSoon: 'SEG3104',
  NoSessionOnDeny: 'SEG3105',
  // 4xxx includes
  IncludeNotFound: 'SEG4001',
  IncludeCycle: 'SEG4002',
  IncludeRefused: 'SEG4003',
  IncludeTooDeep: 'SEG4004',
  IncludeNotPolicy: 'SEG4005',
  // 5xxx rule analysis
  Shadowed: 'SEG5001',
  Redundant: 'SEG5002',
  Conflict: 'SEG5003',
  Generalization: 'SEG5004',
  AnalysisIncomplete: 'SEG5005',
  // 51xx segc's extensions: the lock-out guard (deploy, check --host-context)
  ManagementFlowDenied: 'SEG5101',
  // ... and flows that open no session (`nosession`, analysis/no-session.ts)
  NoSessionReplyNotPassed: 'SEG5102',
  NoSessionUndecided: 'SEG5103',
  // 9xxx internal
  InternalError: 'SEG9001',
  CompileBudget: 'SEG9002',
} as const;

export type CodeName = keyof typeof Code;
export type DiagnosticCode = (typeof Code)[CodeName];

const def = (
  code: DiagnosticCode,
  severity: Severity,
  category: Category,
  message: string,
  hint?: string,
): DiagnosticDef => (hint === undefined ? { code, severity, category, message } : { code, severity, category, message, hint });

/** The table. Documented for users in docs/diagnostics.md; a test keeps the two in step. */
export const DIAGNOSTICS: Readonly<Record<DiagnosticCode, DiagnosticDef>> = {
  SEG1001: def(Code.UnexpectedCharacter, 'error', 'syntax', "unexpected character '{char}'", '{hint}'),
  SEG1002: def(Code.UnterminatedString, 'error', 'syntax', 'unterminated string', 'close the string with " on the same line'),
  SEG1003: def(Code.InvalidEscape, 'error', 'syntax', "invalid escape '{escape}' in string", 'only \\" and \\\\ are escapes'),
  SEG1004: def(Code.UnexpectedToken, 'error', 'syntax', 'expected {expected}, found {found}', '{hint}'),
  SEG1005: def(Code.MissingToken, 'error', 'syntax', 'expected {expected} {where}', '{hint}'),
  SEG1006: def(Code.UnexpectedEndOfLine, 'error', 'syntax', 'the line ends where {expected} was expected', 'a rule must fit on one line, except inside { }'),

  SEG2001: def(Code.UnknownSet, 'error', 'name', "unknown address set '{name}'", "did you mean '{suggestion}'?"),
  SEG2002: def(Code.UnknownPorts, 'error', 'name', "unknown port set '{name}'", "did you mean '{suggestion}'?"),
  SEG2003: def(Code.DuplicateDeclaration, 'error', 'name', "'{name}' is declared more than once", 'rename one of them; names are shared by every file of a compilation'),
  SEG2004: def(Code.DuplicateRuleName, 'error', 'name', "rule name '{name}' is used twice in {direction}", 'give each rule of a direction its own name'),
  SEG2005: def(Code.CyclicDeclaration, 'error', 'name', "'{name}' is defined in terms of itself ({cycle})"),
  SEG2006: def(Code.WrongKindOfName, 'error', 'name', "'{name}' is {actual}, but {expected} is expected here"),
  SEG2201: def(Code.UnknownRuleInTest, 'error', 'name', "no {direction} rule is named '{name}'", "did you mean '{suggestion}'?"),
  SEG2101: def(Code.UnusedSet, 'info', 'name', "address set '{name}' is never used", 'remove it, or use it in a rule'),
  SEG2102: def(Code.UnusedPorts, 'info', 'name', "port set '{name}' is never used", 'remove it, or use it in a rule'),

  SEG3001: def(Code.InvalidIpv4, 'error', 'value', "'{text}' is not a valid IPv4 address", '{hint}'),
  SEG3002: def(Code.InvalidIpv6, 'error', 'value', "'{text}' is not a valid IPv6 address", '{hint}'),
  SEG3003: def(Code.HostBitsSet, 'error', 'value', "'{text}' has host bits set", 'the network is {network}'),
  SEG3004: def(Code.PrefixLengthOutOfRange, 'error', 'value', "prefix length /{length} is out of range for IPv{family}", 'use a length from 0 to {max}'),
  SEG3005: def(Code.PortOutOfRange, 'error', 'value', 'port {port} is out of range', 'ports run from 0 to 65535'),
  SEG3006: def(Code.PortRangeReversed, 'error', 'value', 'port range {low}-{high} is reversed', 'write it as {high}-{low}'),
  SEG3007: def(Code.ProtocolOutOfRange, 'error', 'value', 'protocol number {value} is out of range', 'protocol numbers run from 0 to 255'),
  SEG3008: def(Code.PriorityOutOfRange, 'error', 'value', 'priority {value} is out of range', 'priorities run from 0 to 65535'),
  SEG3009: def(Code.DuplicatePriority, 'error', 'value', 'priority {priority} is used twice in {direction}', 'give each rule of a direction its own priority'),
  SEG3010: def(Code.PortWithoutPortProtocol, 'error', 'value', "'port' needs every protocol of the rule to be tcp, udp or sctp, but it has {protocol}", 'split the rule, or drop the port'),
  SEG3011: def(Code.IcmpWithoutIcmpProtocol, 'error', 'value', "'icmp' type needs every protocol of the rule to be icmp or icmpv6, but it has {protocol}", 'split the rule, or drop the icmp type'),
  SEG3012: def(Code.UnknownIcmpType, 'error', 'value', "unknown ICMP type '{name}'", "did you mean '{suggestion}'?"),
  SEG3013: def(Code.IcmpValueOutOfRange, 'error', 'value', 'ICMP {what} {value} is out of range', 'ICMP types and codes run from 0 to 255'),
  SEG3014: def(Code.EmptySetLiteral, 'error', 'value', 'empty { } {what}', 'a set must list at least one element'),
  SEG3015: def(Code.EmptyAfterExcept, 'error', 'value', "'except' removes every address, leaving an empty set", 'check the addresses on both sides of except'),
  SEG3016: def(Code.RuleMatchesNothing, 'error', 'value', 'this rule can match no packet: {reason}', '{hint}'),
  SEG3017: def(Code.ConflictingDefaults, 'error', 'value', '{direction} default is {action} here but {other} elsewhere', 'state the default in one policy block only'),
  SEG3101: def(Code.InvalidDate, 'error', 'value', "'{text}' is not a date", 'write the date as YYYY-MM-DD, like 2027-03-31'),
  SEG3102: def(Code.InvalidTestPacket, 'error', 'value', 'invalid packet in a test: {error}', 'write it as PROTO SRC[:PORT] -> DST[:PORT], like tcp 10.0.0.1:40000 -> 10.0.1.5:443'),
  SEG3103: def(Code.RuleExpired, 'error', 'value', 'rule {rule} expired on {date}', 'remove the rule, or move its expiry date if it is still needed'),
  SEG3104: def(Code.RuleExpiresSoon, 'warning', 'value', 'rule {rule} expires on {date}, in {days} {unit}', 'remove the rule by then, or move its expiry date'),
  SEG3105: def(Code.NoSessionOnDeny, 'error', 'value', "'nosession' on a '{action}' rule: a denied packet opens no session", "remove 'nosession', or make the rule allow"),
  SEG3018: def(Code.IcmpTypeNotInFamily, 'error', 'value', "ICMP type '{name}' does not exist for {protocol}", '{hint}'),

  SEG4001: def(Code.IncludeNotFound, 'error', 'include', "cannot find included file '{path}'", 'paths are relative to the including file'),
  SEG4002: def(Code.IncludeCycle, 'error', 'include', 'include cycle: {cycle}', 'remove one of the includes'),
  SEG4003: def(Code.IncludeRefused, 'error', 'include', "cannot read '{path}': {reason}", '{hint}'),
  SEG4004: def(Code.IncludeTooDeep, 'error', 'include', "includes nested more than {max} deep at '{path}'", 'a chain this deep is a cycle through symbolic links or a mistake; raise --max-include-depth if it is meant'),
  SEG4005: def(Code.IncludeNotPolicy, 'error', 'include', "'{path}' is not a segc policy: {reason}; its content is not shown", 'include only .seg policy files'),

  SEG5001: def(Code.Shadowed, 'error', 'shadowed', 'rule {rule} can never match: earlier rules take every packet it matches, {blockers} with another action', 'remove it, or move it above {blockers}'),
  SEG5002: def(Code.Redundant, 'warning', 'redundant', 'rule {rule} changes no verdict: {reason}', 'remove it'),
  SEG5003: def(Code.Conflict, 'warning', 'conflict', 'rule {rule} overlaps rule {other} of another action; their order decides packets such as the witness', 'if the order is intended, make the overlap explicit'),
  SEG5004: def(Code.Generalization, 'info', 'generalization', 'rule {rule} generalizes rule {other} of another action', undefined),
  SEG5005: def(Code.AnalysisIncomplete, 'warning', 'internal', 'rule analysis stopped after {budget}: {what} was not analysed', 'raise {option}, or split the policy'),
  SEG5101: def(Code.ManagementFlowDenied, 'error', 'lockout', '{rule} denies {origin}: {flow}', "allow it in a rule above; or deploy anyway with --confirm DURATION (rolled back unless 'segc confirm') or --allow-lockout"),

  SEG5102: def(Code.NoSessionReplyNotPassed, 'warning', 'session', "'nosession' on rule {rule} takes no effect (its flows open sessions): the reply {reply} is decided by {decider}, {why}", "let every reply through by an allow rule of {other}{above}, or remove 'nosession'"),
  SEG5103: def(Code.NoSessionUndecided, 'warning', 'session', "'nosession' on rule {rule} takes no effect (its flows open sessions): proving its replies pass went past {pieces} pieces or {work} steps in {stage}", "narrow the rule, or remove 'nosession'"),

  SEG9001: def(Code.InternalError, 'error', 'internal', 'internal error: {message}', 'this is a bug in segc; please report it with the input'),
  SEG9002: def(Code.CompileBudget, 'error', 'internal', 'compilation stopped after {budget}: {what} was not done', 'raise {option}, or split the policy'),
};

export interface RelatedInfo {
  readonly span: Span;
  readonly message: string;
}

/** A packet that proves a finding, in the spec's JSON shape (cli.md). */
export interface Witness {
  readonly proto: string;
  readonly src: string;
  readonly srcPort?: number;
  readonly dst: string;
  readonly dstPort?: number;
  readonly icmpType?: number;
  readonly icmpCode?: number;
}

export interface Diagnostic {
  readonly code: DiagnosticCode;
  readonly severity: Severity;
  readonly category: Category;
  readonly message: string;
  readonly hint?: string;
  readonly span: Span;
  readonly related: readonly RelatedInfo[];
  readonly witness?: Witness;
}

export type TemplateArgs = Readonly<Record<string, string | number>>;

export interface DiagnosticExtras {
  readonly related?: readonly RelatedInfo[];
  readonly witness?: Witness;
}

/** Fills `{name}` holes; returns undefined when a hole has no value (so an optional hint drops). */
export function fillTemplate(template: string, args: TemplateArgs): string | undefined {
  let missing = false;
  const out = template.replace(/\{(\w+)\}/g, (_, name: string) => {
    const v = args[name];
    if (v === undefined) {
      missing = true;
      return '';
    }
    return String(v);
  });
  return missing ? undefined : out;
}

export function makeDiagnostic(code: DiagnosticCode, span: Span, args: TemplateArgs = {}, extras: DiagnosticExtras = {}): Diagnostic {
  const d = DIAGNOSTICS[code];
  const message = fillTemplate(d.message, args);
  if (message === undefined) throw new Error(`diagnostic ${code}: message template needs more arguments than ${JSON.stringify(args)}`);
  const hint = d.hint === undefined ? undefined : fillTemplate(d.hint, args);
  return {
    code,
    severity: d.severity,
    category: d.category,
    message,
    ...(hint !== undefined && hint !== '' ? { hint } : {}),
    span,
    related: extras.related ?? [],
    ...(extras.witness ? { witness: extras.witness } : {}),
  };
}

/** What stages add to. Plain functions over an array, so any stage can take one. */
export interface DiagnosticCollector {
  readonly items: Diagnostic[];
  add(code: DiagnosticCode, span: Span, args?: TemplateArgs, extras?: DiagnosticExtras): void;
}

export function createCollector(): DiagnosticCollector {
  const items: Diagnostic[] = [];
  return {
    items,
    add(code, span, args = {}, extras = {}) {
      items.push(makeDiagnostic(code, span, args, extras));
    },
  };
}

export function hasErrors(diagnostics: readonly Diagnostic[]): boolean {
  return diagnostics.some((d) => d.severity === 'error');
}

/** Stable order for output: file, offset, code. */
export function sortDiagnostics(diagnostics: readonly Diagnostic[]): Diagnostic[] {
  return [...diagnostics].sort(
    (a, b) =>
      (a.span.file < b.span.file ? -1 : a.span.file > b.span.file ? 1 : 0) ||
      a.span.start - b.span.start ||
      (a.code < b.code ? -1 : a.code > b.code ? 1 : 0),
  );
}

/** Exhaustiveness guard for switches on `kind`. */
export function assertNever(x: never): never {
  throw new Error(`unexpected value: ${JSON.stringify(x)}`);
}
