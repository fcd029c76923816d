/**
 * Routes the store subscription's events: port-name keys (VIFs waiting for their port) go to the binding
 * manager, everything else to the topology sync, and the store's own word that this chassis's key is gone (a
 * delete, or a snapshot from the store — not the cache — without it) to `ownChassisGone`.
 */
import { CHASSIS_PREFIX, chassisKey, parseKey } from '../model/keys.js';
import type { SubscriptionEvent } from '../store/subscription.js';
import type { TopologySync } from '../view/topology-sync.js';
import type { BindingManager } from './binding.js';

const nameOf = (key: string): string | undefined => {
  const k = parseKey(key);
  return k?.kind === 'name' && k.of === 'port' ? k.name : undefined;
};

export function routeStoreEvent(
  ev: SubscriptionEvent,
  to: { sync: TopologySync; bindings: BindingManager; chassis: string; ownChassisGone: () => void },
): void {
  const own = chassisKey(to.chassis);
  switch (ev.type) {
    case 'snapshot':
    case 'resync': {
      if (ev.prefix === CHASSIS_PREFIX && !(ev.type === 'snapshot' && ev.cached) && !ev.kvs.some((kv) => kv.key === own)) {
        to.ownChassisGone();
      }
      const names = ev.kvs.filter((kv) => nameOf(kv.key));
      const watchedName = nameOf(ev.prefix);
      if (names.length > 0 || watchedName) {
        for (const kv of names) void to.bindings.nameAppeared(nameOf(kv.key)!, kv.value);
        // A name watch's snapshot without the name: the port a VIF waited for does not exist (any more).
        if (watchedName && !names.some((kv) => nameOf(kv.key) === watchedName)) void to.bindings.nameRemoved(watchedName);
        return;
      }
      to.sync.applySnapshot(ev.prefix, ev.kvs);
      return;
    }
    case 'put': {
      const name = nameOf(ev.kv.key);
      if (name) void to.bindings.nameAppeared(name, ev.kv.value);
      else to.sync.applyPut(ev.kv.key, ev.kv.value);
      return;
    }
    case 'delete': {
      const name = nameOf(ev.key);
      if (name) void to.bindings.nameRemoved(name);
      else to.sync.applyDelete(ev.key);
      if (ev.key === own) to.ownChassisGone();
      return;
    }
  }
}
