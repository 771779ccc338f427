// Durations as operators write them (`90s`, `2m`, `1h`), for the confirmation window of
// `deploy --confirm` and the agent's config; no imports, so the CLI parses options cheaply.

/** Shortest and longest confirmation windows `--confirm` accepts. */
export const MIN_CONFIRM_MS = 1_000;
export const MAX_CONFIRM_MS = 24 * 3_600_000;

/** `90s`, `2m`, `1h`, `500ms` (a bare number is seconds) into milliseconds; undefined when malformed. */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!m) return undefined;
  const unit = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
  const ms = Math.round(Number(m[1]) * unit);
  return Number.isFinite(ms) ? ms : undefined;
}

/** `2m 5s`-style text of a duration, for messages. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min${s % 60 === 0 ? '' : ` ${s % 60} s`}`;
  return `${Math.floor(s / 3600)} h${Math.floor((s % 3600) / 60) === 0 ? '' : ` ${Math.floor((s % 3600) / 60)} min`}`;
}
