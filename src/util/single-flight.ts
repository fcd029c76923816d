/**
 * The call for `key` already in flight in `flights`, or a new one from `start` (`fresh`: a new one even then, which
 * later callers share); a call leaves the map when it settles. Concurrent askers share one read instead of each
 * making its own.
 */
export function singleFlight<T>(flights: Map<string, Promise<T>>, key: string, start: () => Promise<T>, fresh = false): Promise<T> {
  const had = flights.get(key);
  if (had && !fresh) return had;
  const p = start().finally(() => {
    if (flights.get(key) === p) flights.delete(key);
  });
  flights.set(key, p);
  return p;
}
