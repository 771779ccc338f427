// Rule expiry (segc's extension, docs/language.md "Rule expiry"): the dates of `expires` tails,
// and the check that reports rules past their date (an error) or close to it (a warning).
// Takes the IR and "today" from the caller, so the compiler never reads a clock.
import { Code, makeDiagnostic, type Diagnostic } from './diagnostics.ts';
import type { ProgramIr } from './ir.ts';

const DAY_MS = 86_400_000;

/** Days since 1970-01-01 of a `YYYY-MM-DD` date (a real calendar day), or undefined. */
export function parseIsoDate(text: string): number | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
  if (!m) return undefined;
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const ms = Date.UTC(year, month - 1, day);
  const back = new Date(ms);
  // Date.UTC rolls 2027-02-30 over into March; a real date comes back unchanged.
  if (back.getUTCFullYear() !== year || back.getUTCMonth() !== month - 1 || back.getUTCDate() !== day) return undefined;
  return Math.floor(ms / DAY_MS);
}

/** The UTC calendar day of an instant, as days since 1970-01-01. */
export function dayOf(instant: Date): number {
  return Math.floor(instant.getTime() / DAY_MS);
}

export function formatIsoDate(day: number): string {
  return new Date(day * DAY_MS).toISOString().slice(0, 10);
}

export interface ExpiryOptions {
  /** Today, as days since 1970-01-01 (UTC); see `dayOf`. */
  readonly today: number;
  /** Rules that expire within this many days (today included) get a warning. */
  readonly windowDays: number;
}

/**
 * A rule with `expires D` is in force through day D: from D + 1 on it is expired (SEG3103, an
 * error: a temporary opening fails the build instead of living on), and from D - window on it
 * expires soon (SEG3104, a warning). Expiry never changes what a rule matches.
 */
export function checkExpiry(ir: ProgramIr, options: ExpiryOptions): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const rule of ir.rules) {
    if (rule.expires === undefined) continue;
    const day = parseIsoDate(rule.expires);
    if (day === undefined) continue;
    const label = rule.named ? `'${rule.name}'` : rule.name;
    const left = day - options.today;
    if (left < 0) out.push(makeDiagnostic(Code.RuleExpired, rule.span, { rule: label, date: rule.expires }));
    else if (left <= options.windowDays) out.push(makeDiagnostic(Code.RuleExpiresSoon, rule.span, { rule: label, date: rule.expires, days: left, unit: left === 1 ? 'day' : 'days' }));
  }
  return out;
}

/** Whether any rule of the IR is expired on `today`. */
export function expiredRules(ir: ProgramIr, today: number): string[] {
  return ir.rules.filter((r) => r.expires !== undefined && (parseIsoDate(r.expires) ?? Infinity) < today).map((r) => r.name);
}
