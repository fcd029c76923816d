/**
 * Routes the store subscription's events: port-name keys (VIFs waiting for their port) go to the binding
 * manager, everything else to the topology sync, and the store's own word that this chassis's key is gone (a
 * delete, or a snapshot from the store — not the cache — without it) to `ownChassisGone`.
 */
import { CHASSIS_PREFIX, chassisKey, parseKey } from '../model/keys.js';
import type { SubscriptionEvent } from '../store/subscription.js';
import type { KeyValue } from '../store/types.js';
import type { TopologySync } from '../view/topology-sync.js';
import type { BindingManager } from './binding.js';

const nameOf = (key: string): string | undefined => {
  const k = parseKey(key);
  return k?.kind === 'name' && k.of === 'port' ? k.name : undefined;
};

export function routeStoreEvent(
  ev: SubscriptionEvent,
  to: {
    sync: TopologySync;
    bindings: BindingManager;
    chassis: string;
    /** The store read at `revision` has no key for this chassis. */
    ownChassisGone: (revision: number) => void;
    /** Our key as the store has it (a put, or a snapshot from the store holding it): the registration checks its lease. */
    ownChassis?: (kv: KeyValue) => void;
  },
): void {
  const own = chassisKey(to.chassis);
  switch (ev.type) {
    case 'snapshot':
    case 'resync': {
      // The whole chassis list (lazy sync off) or this chassis's own key (lazy sync: its one watch of it).
      const ownRead = ev.prefix === CHASSIS_PREFIX || ev.prefix === own;
      if (ownRead && !(ev.type === 'snapshot' && ev.cached)) {
        const mine = ev.kvs.find((kv) => kv.key === own);
        if (mine) to.ownChassis?.(mine);
        else to.ownChassisGone(ev.revision);
      }
      const names = ev.kvs.filter((kv) => nameOf(kv.key));
      const watchedName = nameOf(ev.prefix);
      if (names.length > 0 || watchedName) {
        for (const kv of names) void to.bindings.nameAppeared(nameOf(kv.key)!, kv.value);
        // A name watch's snapshot without the name: the port a VIF waited for does not exist (any more).
        if (watchedName && !names.some((kv) => nameOf(kv.key) === watchedName)) void to.bindings.nameRemoved(watchedName);
        return;
      }
      to.sync.applySnapshot(ev.prefix, ev.kvs, { cached: ev.type === 'snapshot' && ev.cached === true });
      return;
    }
    case 'put': {
      const name = nameOf(ev.kv.key);
      if (name) void to.bindings.nameAppeared(name, ev.kv.value);
      else to.sync.applyPut(ev.kv.key, ev.kv.value);
      if (ev.kv.key === own) to.ownChassis?.(ev.kv);
      return;
    }
    case 'delete': {
      const name = nameOf(ev.key);
      if (name) void to.bindings.nameRemoved(name);
      else to.sync.applyDelete(ev.key);
      if (ev.key === own) to.ownChassisGone(ev.revision);
      return;
    }
  }
}
