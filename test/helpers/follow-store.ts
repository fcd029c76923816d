import { PrefixSubscription, type SubscriptionEvent } from '../../src/store/subscription.js';
import type { Store } from '../../src/store/types.js';
import { silentLogger } from '../../src/util/log.js';
import { TopologySync } from '../../src/view/topology-sync.js';
import type { TopologyView } from '../../src/view/topology-view.js';

/**
 * A view following `store` through a subscription and a lazy topology sync, wired as the agent's store events are
 * (src/agent/store-events.ts, without the bindings' name watches and the cache).
 */
export function followStore(view: TopologyView, store: Store): { sub: PrefixSubscription; sync: TopologySync } {
  const sub = new PrefixSubscription(store);
  const sync = new TopologySync(view, sub, silentLogger, true);
  sub.on('event', (ev: SubscriptionEvent) => {
    if (ev.type === 'snapshot' || ev.type === 'resync') sync.applySnapshot(ev.prefix, ev.kvs);
    else if (ev.type === 'put') sync.applyPut(ev.kv.key, ev.kv.value);
    else sync.applyDelete(ev.key);
  });
  return { sub, sync };
}
