/**
 * Keeps an API server's view of a network's address claims current from a watch (issue 17), so that a creation
 * that lost a race re-plans without reading every claim of the network again (a read that grows with the network).
 * The view is only ever a guess: every creation planned from it compares the claims it takes (create-if-absent), so
 * a view behind the store costs a lost race, never a wrong write.
 */
import type { Store, Watch, WatchBatch } from '../store/types.js';
import { ipClaimsPrefix } from './keys.js';

/** What the watch keeps current: the view's address owners and what its own commits wrote. */
export interface WatchedOwners {
  /** Address → holder (a claim's raw value, or words). */
  owners: Map<string, string>;
  /** Address → revision at which this server's own creation claimed it, until the watch has passed that revision. */
  commits: Map<string, number>;
  /** Called when an address was freed (a hint of "lowest free" may now be too high). */
  freed(): void;
}

/**
 * Watches the network's address claims from `fromRevision` (the revision of the snapshot the owners come from:
 * gapless). `lost` is called once if the watch cannot go on (compacted, failed): the view must then be dropped.
 */
export function watchClaims(store: Store, netId: string, fromRevision: number, v: WatchedOwners, lost: () => void): Watch {
  const prefix = ipClaimsPrefix(netId);
  let done = false;
  const fail = (): void => {
    if (done) return;
    done = true;
    lost();
  };
  return store.watch(prefix, fromRevision, {
    onBatch(b: WatchBatch) {
      for (const e of b.events) {
        if (e.type === 'put') {
          const ip = e.kv.key.slice(prefix.length);
          v.owners.set(ip, e.kv.value);
          // The watch has reached this server's own claim: a delete from now on is newer than it.
          if (v.commits.get(ip) === e.kv.modRevision) v.commits.delete(ip);
        } else {
          const ip = e.key.slice(prefix.length);
          // A delete the watch delivers after this server claimed the address again (its commit callback ran
          // first) is older than the claim: the address is not free.
          if ((v.commits.get(ip) ?? 0) > e.modRevision) continue;
          v.owners.delete(ip);
          v.freed();
        }
      }
    },
    onCompacted: fail,
    onError: fail,
  });
}
