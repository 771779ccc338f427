// Option helpers the commands share: whole-number arguments and the colour options.
import { InvalidArgumentError, Option } from 'commander';
import type { CliIo } from './io.ts';

export function wholeNumber(text: string): number {
  if (!/^\d+$/.test(text) || Number(text) < 1) throw new InvalidArgumentError('expected a whole number, at least 1');
  return Number(text);
}

/** `--color`; `what` says what gets coloured, and when ("the output even when it is not a terminal"). Pair it with {@link noColorOption}. */
export function colorOption(what = 'the output even when it is not a terminal'): Option {
  return new Option('--color', `colour ${what}`);
}

/** `--no-color` (NO_COLOR is honoured too, by {@link useColor}). */
export function noColorOption(): Option {
  return new Option('--no-color', 'never colour the output (NO_COLOR is honoured too)');
}

/**
 * Whether to colour a stream: `--color` / `--no-color` decide when given; then NO_COLOR (any
 * non-empty value, no-color.org) turns it off and FORCE_COLOR (not `0`) on; otherwise only a
 * terminal that is not dumb gets colour.
 */
export function useColor(io: CliIo, stream: 'stdout' | 'stderr', option: boolean | undefined): boolean {
  if (option !== undefined) return option;
  if ((io.env['NO_COLOR'] ?? '') !== '') return false;
  const force = io.env['FORCE_COLOR'];
  if (force !== undefined && force !== '0' && force !== 'false') return true;
  if (io.env['TERM'] === 'dumb') return false;
  return stream === 'stdout' ? io.stdoutIsTTY : io.stderrIsTTY;
}
