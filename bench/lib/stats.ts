/** Small statistics and clock helpers shared by the benches (no state). */

/** Wall clock in microseconds, comparable with bash's ${EPOCHREALTIME/./} (sub-millisecond resolution). */
export function nowUs(): number {
  return Math.round((performance.timeOrigin + performance.now()) * 1000);
}

/** Nearest-rank percentile, as the OVN anchor computes p50 (v[int((n+1)/2)], 1-based). */
export function pct(xs: readonly number[], p: number): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * s.length));
  return s[Math.min(s.length, rank) - 1]!;
}

export const p50 = (xs: readonly number[]) => {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length + 1) / 2) - 1]!;
};
export const max = (xs: readonly number[]) => (xs.length === 0 ? Number.NaN : Math.max(...xs));

/** Microseconds → milliseconds with one decimal, as a number. */
export const ms = (us: number) => Math.round(us / 100) / 10;

export const sleep = (msec: number) => new Promise<void>((r) => setTimeout(r, msec));
