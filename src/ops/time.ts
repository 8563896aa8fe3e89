// Time arguments for `--since`/`--until` and `?since=`/`?until=`: RFC 3339 (`2025-06-01T12:00:00Z`,
// `2025-06-01T14:00:00+02:00`, fractional seconds allowed), a bare date (`2025-06-01`, UTC
// midnight), `now`, or a relative time before now: `-30s`, `-30m`, `-1h`, `-7d`, `-2w` (the
// leading minus may be left out: `1h` also means one hour ago).
import { invalid } from '../core/errors.js';

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };
const RELATIVE = /^-?(\d{1,9})(s|m|h|d|w)$/;
const RFC3339 =
  /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|[+-](\d{2}):(\d{2})))?$/;

const FORMS =
  'an RFC 3339 time (2025-06-01T12:00:00Z), a date (2025-06-01), now, or a relative time (-30m, -1h, -7d)';

/** Parses a relative duration (`-1h`, `30m`) into milliseconds; undefined when it is not one. */
export function parseRelative(text: string): number | undefined {
  const m = RELATIVE.exec(text.trim());
  if (m === null) return undefined;
  return Number(m[1]) * (UNIT_MS[m[2] ?? ''] ?? 0);
}

/**
 * Parses a time argument into ms since the epoch.
 * @param field named in the error, e.g. `--since` or `since`.
 */
export function parseTime(text: string, field: string, now = Date.now()): number {
  const t = text.trim();
  if (t === 'now') return now;
  const rel = parseRelative(t);
  if (rel !== undefined) return now - rel;
  const m = RFC3339.exec(t);
  if (m !== null) {
    const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
    const hour = Number(m[4] ?? 0);
    const minute = Number(m[5] ?? 0);
    const second = Number(m[6] ?? 0);
    const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
    const offsetHours = Number(m[9] ?? 0);
    const offsetMinutes = Number(m[10] ?? 0);
    const valid =
      month >= 1 &&
      month <= 12 &&
      day >= 1 &&
      day <= daysInMonth &&
      hour <= 23 &&
      minute <= 59 &&
      second <= 60 &&
      offsetHours <= 23 &&
      offsetMinutes <= 59;
    if (valid) {
      const ms = Date.parse(m[4] === undefined ? `${m[1]}-${m[2]}-${m[3]}T00:00:00Z` : t.replace(' ', 'T'));
      if (!Number.isNaN(ms)) return ms;
    }
  }
  throw invalid(field, `cannot read ${JSON.stringify(text)} as a time; expected ${FORMS}`);
}

/** Like `parseTime` for an optional value. */
export function parseOptionalTime(
  text: string | undefined,
  field: string,
  now = Date.now(),
): number | undefined {
  return text === undefined || text === '' ? undefined : parseTime(text, field, now);
}
