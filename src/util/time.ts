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

/**
 * `text(second)` made once per second and reused within it: the API writes several timestamps per created port
 * (guards, claims) and a Date header per answer, and a burst falls within a few seconds.
 */
function perSecond(text: (second: number) => string): (second: number) => string {
  let last = { second: NaN, text: '' };
  return (second) => {
    if (second !== last.second) last = { second, text: text(second) };
    return last.text;
  };
}

/** isoTime's text up to its milliseconds. */
const isoSecond = perSecond((second) => {
  const d = new Date(second * 1000);
  return (
    `${year(d.getUTCFullYear())}-${two(d.getUTCMonth() + 1)}-${two(d.getUTCDate())}` +
    `T${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())}.`
  );
});

/**
 * `2026-12-06T08:04:40.123Z`, as `new Date(ms).toISOString()` (which throws on an invalid time: so does this). Only
 * the milliseconds are made anew within a second.
 */
export function isoTime(ms: number = Date.now()): string {
  if (!(Math.abs(ms) <= 8.64e15)) throw new RangeError('Invalid time value'); // NaN too, as TimeClip
  const t = Math.trunc(ms) || 0; // TimeClip: towards zero, and no -0
  const second = Math.floor(t / 1000);
  return `${isoSecond(second)}${three(t - second * 1000)}Z`;
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

const httpSecond = perSecond((second) => {
  const d = new Date(second * 1000);
  return (
    `${DAYS[d.getUTCDay()]}, ${two(d.getUTCDate())} ${MONTHS[d.getUTCMonth()]} ${`${d.getUTCFullYear()}`.padStart(4, '0')} ` +
    `${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())} GMT`
  );
});

/**
 * An HTTP date (RFC 9110 IMF-fixdate), `Sun, 06 Dec 2026 08:04:40 GMT`, as `toUTCString` gives for years 0–9999; the
 * API's answers within one second share it (as Node's own Date header).
 */
export function httpDate(ms: number = Date.now()): string {
  return httpSecond(Math.floor(Math.trunc(ms) / 1000)); // a Date's time value is truncated (TimeClip), then floored
}
