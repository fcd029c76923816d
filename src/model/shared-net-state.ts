/**
 * A network's state read once for the writers in flight in this process that plan from it (floating IP creations and
 * router gateways on a provider network, which may hold thousands of FIPs and routers): a burst of N writers reads it
 * a few times, not N. A first attempt may plan from a read begun before it asked (its compares catch whatever that
 * read missed: the structure guard, the claims); a retry, or a refusal, plans from one begun after it asked
 * (`fresh`), still shared with the others asking meanwhile (singleFlight).
 */
import type { Store } from '../store/types.js';
import { InFlight } from '../util/in-flight.js';
import { StoreFlights } from '../util/single-flight.js';
import { ModelError } from './errors.js';
import { loadNetState, type NetState } from './read.js';

const reads = new StoreFlights<NetState>();

export function sharedNetState(store: Store, networkId: string, fresh = false): Promise<NetState> {
  return reads.run(store, networkId, () => loadNetState(store, networkId), fresh);
}

/**
 * The writers taking an address on a network in this process (floating IP creations and gateway sets), per store and
 * network id: while several are, each picks its address at random among the free ones (port-claims.ts randomPick),
 * so they do not all take the lowest one and lose to each other on its claim.
 */
export const addressWriters = new InFlight();

/**
 * `plan` (a runCas attempt) from the network's shared state: a first attempt from the read in flight, a retry from one
 * begun after it lost (one in flight may be older than what made it lose), and a refusal (a ModelError) decided on one
 * begun after it failed (the shared one may have begun before this request: a subnet created just now would be
 * missing from it). Refusals at once share theirs: 300 FIP creations on a full provider network read it a few times.
 */
export async function planOnSharedState<T>(
  store: Store,
  networkId: string,
  attempt: number,
  plan: (st: NetState) => Promise<T>,
): Promise<T> {
  if (attempt > 0) return plan(await sharedNetState(store, networkId, true));
  try {
    return await plan(await sharedNetState(store, networkId));
  } catch (err) {
    if (!(err instanceof ModelError)) throw err;
    return plan(await sharedNetState(store, networkId, true));
  }
}
