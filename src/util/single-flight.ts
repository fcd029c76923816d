/** Per map of flights, the call each key's `fresh` askers wait for: the one to start once the key's current call settles. */
const nextFlights = new WeakMap<Map<string, Promise<unknown>>, Map<string, Promise<unknown>>>();

/**
 * The call for `key` already in flight in `flights`, or a new one from `start`; a call leaves the map when it settles.
 * Concurrent askers share one read instead of each making its own.
 *
 * `fresh`: a call begun after this ask (what the caller must see may be newer than what the call in flight reads).
 * With one in flight, the caller waits for it to settle and shares the call that starts then with every other fresh
 * asker meanwhile: a thousand refusals of one full subnet, each decided on a read made after its failure, make a few
 * reads, not a thousand (issue 17). With none in flight, a new call now, which later askers share.
 */
export function singleFlight<T>(flights: Map<string, Promise<T>>, key: string, start: () => Promise<T>, fresh = false): Promise<T> {
  const had = flights.get(key);
  if (had && fresh) return afterCurrent(flights, key, had, start);
  if (had) return had;
  const p = start().finally(() => {
    if (flights.get(key) === p) flights.delete(key);
  });
  flights.set(key, p);
  return p;
}

/** The call that starts once `current` (the key's call in flight) settles, shared by every fresh asker until then. */
function afterCurrent<T>(flights: Map<string, Promise<T>>, key: string, current: Promise<T>, start: () => Promise<T>): Promise<T> {
  let waiting = nextFlights.get(flights) as Map<string, Promise<T>> | undefined;
  if (!waiting) nextFlights.set(flights, (waiting = new Map()));
  const queued = waiting.get(key);
  if (queued) return queued;
  const settled = (): Promise<T> => {
    if (waiting.get(key) === next) waiting.delete(key);
    // Whatever is in flight now began after `current` settled, so after every ask this call serves.
    return singleFlight(flights, key, start);
  };
  const next: Promise<T> = current.then(settled, settled);
  waiting.set(key, next);
  return next;
}

/** singleFlight's calls kept per store (any object) and key: one process's writers sharing their reads of a store. */
export class StoreFlights<T> {
  private readonly byStore = new WeakMap<object, Map<string, Promise<T>>>();

  run(store: object, key: string, start: () => Promise<T>, fresh = false): Promise<T> {
    let flights = this.byStore.get(store);
    if (!flights) this.byStore.set(store, (flights = new Map()));
    return singleFlight(flights, key, start, fresh);
  }
}

/**
 * Reads shared by the callers in flight, per store and key, each handed only to callers that need what it saw: a
 * caller that compares a guard it read at revision R at commit must not plan from a shared read begun before R (a
 * write between the two would be missing from it while the guard compare passes). Such a caller waits for a fresh read
 * instead, which later callers share in turn.
 */
export class SharedReads<T extends { revision: number }> {
  private readonly flights = new StoreFlights<T>();

  async since(store: object, key: string, revision: number, read: () => Promise<T>): Promise<T> {
    for (let fresh = false, tries = 0; tries < 5; fresh = true, tries++) {
      const r = await this.flights.run(store, key, read, fresh);
      if (r.revision >= revision) return r;
    }
    throw new Error(`${key}: read behind revision ${revision} five times: the store answers from a lagging member`);
  }
}
