// Short titles of the diagnostic codes, for reports that describe a code rather than one finding
// (SARIF rule descriptions) and for the headings of docs/diagnostics.md (a test keeps them equal).
import { Code, type CodeName, type DiagnosticCode } from '../diagnostics.ts';

// Partial on purpose: a stage that adds a code must not break the type check of this file; the
// diagnostics test fails instead until the new code has a title here and a section in the docs.
export const DIAGNOSTIC_TITLES: Partial<Readonly<Record<DiagnosticCode, string>>> = {
  SEG1001: 'Unexpected character',
  SEG1002: 'Unterminated string',
  SEG1003: 'Invalid escape in a string',
  SEG1004: 'Unexpected token',
  SEG1005: 'Missing token',
  SEG1006: 'Unexpected end of line',
  SEG2001: 'Unknown address set',
  SEG2002: 'Unknown port set',
  SEG2003: 'Duplicate declaration',
  SEG2004: 'Duplicate rule name',
  SEG2005: 'Declaration defined in terms of itself',
  SEG2006: 'Wrong kind of name',
  SEG2101: 'Unused address set',
  SEG2102: 'Unused port set',
  SEG2201: 'Unknown rule in a test',
  SEG3001: 'Invalid IPv4 address',
  SEG3002: 'Invalid IPv6 address',
  SEG3003: 'Host bits set in a CIDR',
  SEG3004: 'Prefix length out of range',
  SEG3005: 'Port out of range',
  SEG3006: 'Reversed port range',
  SEG3007: 'Protocol number out of range',
  SEG3008: 'Priority out of range',
  SEG3009: 'Duplicate priority',
  SEG3010: 'Port on a protocol without ports',
  SEG3011: 'ICMP type on a protocol other than ICMP',
  SEG3012: 'Unknown ICMP type',
  SEG3013: 'ICMP type or code out of range',
  SEG3014: 'Empty set literal',
  SEG3015: 'Set emptied by except',
  SEG3016: 'Rule that matches no packet',
  SEG3017: 'Conflicting defaults',
  SEG3018: 'ICMP type of the other family',
  SEG3101: 'Invalid date',
  SEG3102: 'Invalid packet in a test',
  SEG3103: 'Expired rule',
  SEG3104: 'Rule expires soon',
  SEG3105: "'nosession' on a deny rule",
  SEG4001: 'Included file not found',
  SEG4002: 'Include cycle',
  SEG4003: 'File cannot be read',
  SEG4004: 'Includes nested too deep',
  SEG4005: 'Included file is not a policy',
  SEG5001: 'Shadowed rule',
  SEG5002: 'Redundant rule',
  SEG5003: 'Conflicting rules',
  SEG5004: 'Generalizing rule',
  SEG5005: 'Rule analysis incomplete',
  SEG5101: 'Management flow denied',
  SEG5102: "'nosession' without effect: a reply is not passed",
  SEG5103: "'nosession' without effect: not decided",
  SEG9001: 'Internal error',
  SEG9002: 'Compilation over its time budget',
};

const NAMES = new Map<string, CodeName>(Object.entries(Code).map(([name, code]) => [code, name as CodeName]));

/** The constant's name in `Code` (`HostBitsSet`), which SARIF uses as the rule's name. */
export function codeName(code: DiagnosticCode): string {
  return NAMES.get(code) ?? code;
}

/** The code's title; a code without one gets its constant's name spelled out. */
export function diagnosticTitle(code: DiagnosticCode): string {
  const title = DIAGNOSTIC_TITLES[code];
  if (title !== undefined) return title;
  const words = codeName(code).replace(/([a-z0-9])([A-Z])/g, '$1 $2').toLowerCase();
  return words.charAt(0).toUpperCase() + words.slice(1);
}
