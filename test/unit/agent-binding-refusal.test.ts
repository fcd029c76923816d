/** A chassis refuses to bind a port it cannot serve (a provider network without a usable bridge mapping), says why, and binds it once it can. */
import { describe, expect, it } from 'vitest';
import { BindingManager } from '../../src/agent/binding.js';
import { decodeNetwork, encodeNetwork } from '../../src/model/codec.js';
import { bindingKey, networkKey } from '../../src/model/keys.js';
import { Topology } from '../../src/model/repo.js';
import { createMemoryStore, PrefixSubscription, type SubscriptionEvent } from '../../src/store/index.js';
import { silentLogger } from '../../src/util/log.js';
import { TopologySync } from '../../src/view/topology-sync.js';
import { TopologyView } from '../../src/view/topology-view.js';

const until = async (f: () => boolean | Promise<boolean>) => {
  for (let i = 0; i < 200 && !(await f()); i++) await new Promise((r) => setTimeout(r, 5));
};

describe('BindingManager refusal', () => {
  it('refuses a provider-network port while the physnet is unusable, lists it, and binds it when that changes', async () => {
    const store = createMemoryStore();
    const topo = new Topology(store);
    const net = (await topo.createNetwork({ name: 'ext' })) as { id: string };
    // The network becomes a provider network (the API for it is another change): rewritten in the store.
    const kv = (await store.get(networkKey(net.id)))!;
    await store.put(networkKey(net.id), encodeNetwork({ ...decodeNetwork(kv.value), provider: { physnet: 'physnet1' } }));
    await topo.createSubnet({ name: 's', network: 'ext', cidr: '203.0.113.0/24' });
    const port = (await topo.createPort({ name: 'vm1', network: 'ext' })) as { id: string };

    const view = new TopologyView('hv1', 'vxlan');
    const sub = new PrefixSubscription(store);
    const sync = new TopologySync(view, sub, silentLogger, true);
    const refuse = (id: string) => {
      const p = view.networks.get(id)?.network.provider;
      return p && !view.physnetOfports.has(p.physnet) ? `no bridge mapping for physnet ${p.physnet} on this chassis` : undefined;
    };
    const bindings = new BindingManager(store, view, sync, sub, silentLogger, { refuse });
    sub.on('event', (ev: SubscriptionEvent) => {
      if (ev.type === 'snapshot' || ev.type === 'resync') {
        if (ev.prefix.includes('/names/')) for (const x of ev.kvs) void bindings.nameAppeared(x.key.split('/').pop()!, x.value);
        else sync.applySnapshot(ev.prefix, ev.kvs);
      } else if (ev.type === 'put') {
        if (ev.kv.key.includes('/names/')) void bindings.nameAppeared(ev.kv.key.split('/').pop()!, ev.kv.value);
        else sync.applyPut(ev.kv.key, ev.kv.value);
      } else if (!ev.key.includes('/names/')) sync.applyDelete(ev.key);
    });

    await bindings.plugged({ name: 'tap1', ofport: 7, ifaceId: 'vm1' });
    await until(() => bindings.refusedPorts().length > 0);
    expect(bindings.refusedPorts()).toEqual([
      { port: 'vm1', portId: port.id, networkId: net.id, reason: 'no bridge mapping for physnet physnet1 on this chassis' },
    ]);
    expect(bindings.localPorts()).toEqual([]);
    expect(await store.get(bindingKey(net.id, port.id))).toBeUndefined();
    // The view does not place it either (no flows).
    const ns = view.networks.get(net.id)!;
    expect(view.locate(ns, ns.ports.get(port.id)!)).toEqual({ kind: 'unknown' });

    view.physnetOfports.set('physnet1', 20);
    await bindings.recheckRefused();
    await until(async () => (await store.get(bindingKey(net.id, port.id))) !== undefined);
    expect(bindings.refusedPorts()).toEqual([]);
    expect(bindings.boundPorts().map((p) => p.name)).toEqual(['vm1']);
    expect(view.locate(ns, ns.ports.get(port.id)!)).toEqual({ kind: 'local', ofport: 7 });

    // The physnet becomes unusable (its bridge deleted): the bound port is unbound and listed again.
    view.physnetOfports.delete('physnet1');
    await bindings.recheckRefused();
    expect(bindings.refusedPorts().map((p) => p.port)).toEqual(['vm1']);
    expect(bindings.localPorts()).toEqual([]);
    expect(await store.get(bindingKey(net.id, port.id))).toBeUndefined();

    // Unplugged: nothing left behind.
    await bindings.unplugged({ name: 'tap1', ofport: 7, ifaceId: 'vm1' });
    expect(bindings.refusedPorts()).toEqual([]);
    expect(await store.get(bindingKey(net.id, port.id))).toBeUndefined();
  });
});
