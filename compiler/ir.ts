// The IR: what `lower` makes of the resolved AST, and what analysis and `emit` take. A flat,
// normalised rule list per direction. Plain data that serialises to JSON as it is.
//
// What holds after `lower` (for a compilation with no error):
// - every name is replaced by its value; `except` is resolved; address sets are exact;
// - rules of a direction are sorted by ascending priority; priorities are unique per direction;
// - `RuleIr.id` is the rule's index in `ProgramIr.rules` (ingress rules first, then egress);
// - a rule matches at least one packet (rules that cannot are errors, SEG3016);
// - the IR is deterministic: the same policy gives the same IR and hash (`hashProgram` in
//   hash.ts), whatever the order of files on the command line; the hash ignores spans, file
//   names and comments.
//
// Matching (the reference is `evaluate.ts`): a rule matches a packet when every field matches.
// - family: the packet's addresses are of one family; the rule's `src` and `dst` must both
//   hold that family's address (lowering empties a family the rule cannot match, so `src.v4`
//   is empty exactly when the rule does not apply to IPv4).
// - protocol: `protocols === null` matches every protocol; otherwise the packet's protocol must
//   be listed, where 1 (icmp) matches only IPv4 packets and 58 (icmpv6) only IPv6 packets.
// - ports: `null` means no constraint; otherwise the packet must have that port (tcp, udp and
//   sctp packets that are not later fragments) and it must lie in one of the intervals.
// - icmp: `null` means no constraint; otherwise the packet must carry an ICMP type (icmp or
//   icmpv6, not a later fragment) equal to `type4` (IPv4) or `type6` (IPv6), and the code must
//   equal `code` when that is not null.
import type { Span } from './source.ts';
import type { Direction, Verdict } from './ast.ts';

export type { Direction, Verdict } from './ast.ts';

export const DIRECTIONS: readonly Direction[] = ['ingress', 'egress'];

/** Canonical CIDR text: `10.0.0.0/8`, `2001:db8::/32` (RFC 5952, lower case, always a length). */
export type PrefixText = string;

/**
 * An exact address set, per family: prefixes sorted by address, disjoint, and merged so that
 * no two could be one shorter prefix (see `cidr.ts`, `normalizePrefixes`). `[]` means no address
 * of that family; `['0.0.0.0/0']` means every IPv4 address.
 */
export interface AddrSetIr {
  readonly v4: readonly PrefixText[];
  readonly v6: readonly PrefixText[];
}

/** Inclusive port intervals `[low, high]`, sorted, disjoint and not adjacent (merged). */
export type PortSetIr = readonly (readonly [number, number])[];

/** An ICMP type (per family, since names differ: echo-request is 8 and 128) and optional code. */
export interface IcmpMatchIr {
  /** The IPv4 type, or null when the rule has no icmp protocol. */
  readonly type4: number | null;
  /** The ICMPv6 type, or null when the rule has no icmpv6 protocol. */
  readonly type6: number | null;
  readonly code: number | null;
}

export interface RuleIr {
  /** Index in `ProgramIr.rules`. */
  readonly id: number;
  readonly direction: Direction;
  readonly priority: number;
  /** The given name, or `ingress/300` for an unnamed rule. */
  readonly name: string;
  /** True when the author named the rule. */
  readonly named: boolean;
  readonly action: Verdict;
  /** `log`, `allow log` and `deny log` record matches. */
  readonly log: boolean;
  /** `deny audit`: the data path passes what the rule denies, counted as would-deny. */
  readonly audit: boolean;
  /** Sorted, unique protocol numbers; null is `any`. */
  readonly protocols: readonly number[] | null;
  readonly src: AddrSetIr;
  readonly dst: AddrSetIr;
  readonly srcPorts: PortSetIr | null;
  readonly dstPorts: PortSetIr | null;
  readonly icmp: IcmpMatchIr | null;
  readonly description: string | null;
  /**
   * segc's extension: `nosession` was written (only on allowing rules). The flows the rule
   * decides open no session when the other direction lets every reply through; whether it does
   * is decided by analysis/no-session.ts, and `emit` writes that decision, not this flag.
   */
  readonly noSession?: true;
  /**
   * segc's extension: the `expires` date (`YYYY-MM-DD`, a valid date), absent when the rule
   * has none. It does not change what the rule matches; see expiry.ts.
   */
  readonly expires?: string;
  /** The rule's whole line in its file. */
  readonly span: Span;
}

export interface DirectionIr {
  readonly direction: Direction;
  /**
   * False when no `policy` block names this direction: it is then unfiltered (default allow,
   * no rules) and stateful like any other, so what it lets through opens sessions whose
   * replies pass the other direction (docs/language.md).
   */
  readonly declared: boolean;
  readonly defaultAction: Verdict;
  /**
   * Where the default was stated; null when no block stated one (then it is deny when a block
   * declared the direction, allow when none did).
   */
  readonly defaultSpan: Span | null;
  /** Ascending priority. */
  readonly rules: readonly RuleIr[];
}

/** A named `set` or `ports` declaration, kept for reports (unused declarations). */
export interface DeclarationIr {
  readonly kind: 'set' | 'ports';
  readonly name: string;
  readonly span: Span;
  /** Spans of the names' uses (in rules or other declarations). */
  readonly uses: readonly Span[];
}

export interface ProgramIr {
  /** Every rule, ingress first then egress, each by ascending priority; `rules[i].id === i`. */
  readonly rules: readonly RuleIr[];
  readonly ingress: DirectionIr;
  readonly egress: DirectionIr;
  readonly declarations: readonly DeclarationIr[];
  /** Every file of the compilation (command line and includes), sorted. */
  readonly files: readonly string[];
}

/** Well-known protocol numbers the language names. */
export const PROTOCOL_NUMBERS = { icmp: 1, tcp: 6, udp: 17, icmpv6: 58, sctp: 132 } as const;

/** Protocols whose packets carry ports. */
export const PORT_PROTOCOLS: readonly number[] = [6, 17, 132];
