// "Today" for the commands that check rule expiry (check, deploy, test): SEGC_NOW when set (an
// ISO date or date-time, so tests and CI runs do not depend on the real date), else the
// system clock; days are UTC. Also the `--expiry-window` option's parser.
import { InvalidArgumentError } from 'commander';
import type { ExpiryOptions } from '../../compiler/expiry.ts';
import { CliError } from './command.ts';
import type { CliIo } from './io.ts';

/** The default of `--expiry-window`: a rule expiring within this many days is warned about. */
export const DEFAULT_EXPIRY_WINDOW_DAYS = 14;

/** Today as days since 1970-01-01 (UTC). */
export async function todayOf(io: CliIo): Promise<number> {
  // Loaded with the compiler, which the command loads next anyway.
  const { dayOf } = await import('../../compiler/program.ts');
  const text = io.env['SEGC_NOW'];
  if (text === undefined || text === '') return dayOf(new Date());
  const instant = new Date(/^\d{4}-\d{2}-\d{2}$/.test(text) ? `${text}T00:00:00Z` : text);
  if (Number.isNaN(instant.getTime())) throw new CliError('usage', `SEGC_NOW='${text}' is not a date`, 'set it to an ISO date such as 2027-03-31, or unset it');
  return dayOf(instant);
}

export async function expiryOptionsOf(io: CliIo, windowDays: number | undefined): Promise<ExpiryOptions> {
  return { today: await todayOf(io), windowDays: windowDays ?? DEFAULT_EXPIRY_WINDOW_DAYS };
}

/** `14d`, `2w` or `14` (days). */
export function parseExpiryWindow(text: string): number {
  const m = /^(\d+)([dw]?)$/.exec(text);
  if (!m) throw new InvalidArgumentError('expected a number of days, like 14d (or weeks: 2w)');
  return Number(m[1]) * (m[2] === 'w' ? 7 : 1);
}

export const EXPIRY_WINDOW_HELP = `warn about rules that expire within this window (default ${DEFAULT_EXPIRY_WINDOW_DAYS}d; e.g. 30d, 2w)`;
