/**
 * Timestamps as text, from the UTC fields only. `Date.prototype.toISOString` and `toUTCString` give the same text,
 * but their first call makes V8 set up the local time zone through ICU, which maps ~0.6 MB of ICU's zone data into
 * the agent (docs/footprint.md); `getUTC*` never look at the time zone.
 */

const two = (n: number) => (n < 10 ? `0${n}` : `${n}`);
const three = (n: number) => (n < 10 ? `00${n}` : n < 100 ? `0${n}` : `${n}`);

function year(y: number): string {
  if (y >= 0 && y <= 9999) return `${y}`.padStart(4, '0');
  return `${y < 0 ? '-' : '+'}${`${Math.abs(y)}`.padStart(6, '0')}`;
}

/** `2026-12-06T08:04:40.123Z`, as `new Date(ms).toISOString()` (which throws on an invalid time: so does this). */
export function isoTime(ms: number = Date.now()): string {
  const d = new Date(ms);
  if (Number.isNaN(d.getTime())) throw new RangeError('Invalid time value');
  return (
    `${year(d.getUTCFullYear())}-${two(d.getUTCMonth() + 1)}-${two(d.getUTCDate())}` +
    `T${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())}.${three(d.getUTCMilliseconds())}Z`
  );
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** An HTTP date (RFC 9110 IMF-fixdate), `Sun, 06 Dec 2026 08:04:40 GMT`, as `toUTCString` gives for years 0–9999. */
export function httpDate(ms: number = Date.now()): string {
  const d = new Date(ms);
  return (
    `${DAYS[d.getUTCDay()]}, ${two(d.getUTCDate())} ${MONTHS[d.getUTCMonth()]} ${`${d.getUTCFullYear()}`.padStart(4, '0')} ` +
    `${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())} GMT`
  );
}
