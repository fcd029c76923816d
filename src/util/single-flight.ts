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

/**
 * Reads shared by the callers in flight, per store and key, each handed only to callers that need what it saw: a
 * caller that compares a guard it read at revision R at commit must not plan from a shared read begun before R (a
 * write between the two would be missing from it while the guard compare passes). Such a caller waits for a fresh read
 * instead, which later callers share in turn.
 */
export class SharedReads<T extends { revision: number }> {
  private readonly byStore = new WeakMap<object, Map<string, Promise<T>>>();

  async since(store: object, key: string, revision: number, read: () => Promise<T>): Promise<T> {
    let flights = this.byStore.get(store);
    if (!flights) this.byStore.set(store, (flights = new Map()));
    for (let fresh = false, tries = 0; tries < 5; fresh = true, tries++) {
      const r = await singleFlight(flights, key, read, fresh);
      if (r.revision >= revision) return r;
    }
    throw new Error(`${key}: read behind revision ${revision} five times: the store answers from a lagging member`);
  }
}
