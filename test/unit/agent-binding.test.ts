import { describe, expect, it } from 'vitest';
import { BindingManager } from '../../src/agent/binding.js';
import { TopologySync } from '../../src/view/topology-sync.js';
import { TopologyView } from '../../src/view/topology-view.js';
import { bindingKey } from '../../src/model/keys.js';
import { Topology } from '../../src/model/repo.js';
import { createMemoryStore, PrefixSubscription, type SubscriptionEvent } from '../../src/store/index.js';
import { silentLogger } from '../../src/util/log.js';

/** Binding against the memory store: VIF plug → binding written, port findable by ofport; unplug → gone. */
async function setup() {
  const store = createMemoryStore();
  const topo = new Topology(store);
  const net = (await topo.createNetwork({ name: 'n' })) as { id: string };
  await topo.createSubnet({ name: 's', network: 'n', cidr: '10.0.0.0/24' });
  const view = new TopologyView('hv1', 'vxlan');
  const sub = new PrefixSubscription(store);
  const sync = new TopologySync(view, sub, silentLogger, true);
  const bindings = new BindingManager(store, view, sync, sub, silentLogger);
  sync.on('portRemoved', (ev) => void bindings.portRemoved(ev));
  sub.on('event', (ev: SubscriptionEvent) => {
    if (ev.type === 'snapshot' || ev.type === 'resync') {
      if (ev.prefix.includes('/names/')) for (const kv of ev.kvs) void bindings.nameAppeared(kv.key.split('/').pop()!, kv.value);
      else sync.applySnapshot(ev.prefix, ev.kvs);
    } else if (ev.type === 'put') {
      if (ev.kv.key.includes('/names/')) void bindings.nameAppeared(ev.kv.key.split('/').pop()!, ev.kv.value);
      else sync.applyPut(ev.kv.key, ev.kv.value);
    } else if (!ev.key.includes('/names/')) sync.applyDelete(ev.key);
  });
  return { store, topo, net, view, bindings, sub };
}

const until = async (f: () => boolean | Promise<boolean>) => {
  for (let i = 0; i < 200 && !(await f()); i++) await new Promise((r) => setTimeout(r, 5));
};

describe('BindingManager', () => {
  it('binds a plugged VIF, finds its port by ofport, and unbinds on unplug', async () => {
    const { store, topo, net, view, bindings } = await setup();
    const port = (await topo.createPort({ name: 'vm1', network: 'n' })) as { id: string };
    await bindings.plugged({ name: 'tap1', ofport: 7, ifaceId: 'vm1' });
    await until(async () => (await store.get(bindingKey(net.id, port.id))) !== undefined && view.portByOfport(7) !== undefined);
    expect(JSON.parse((await store.get(bindingKey(net.id, port.id)))!.value).chassis).toBe('hv1');
    expect(view.portByOfport(7)?.ps.port.name).toBe('vm1');
    await bindings.unplugged({ name: 'tap1', ofport: 7, ifaceId: 'vm1' });
    expect(view.portByOfport(7)).toBeUndefined();
    expect(await store.get(bindingKey(net.id, port.id))).toBeUndefined();
  });

  it('binds a VIF plugged before its port exists once the port is created', async () => {
    const { store, topo, net, view, bindings } = await setup();
    await bindings.plugged({ name: 'tap2', ofport: 8, ifaceId: 'late' });
    expect(view.portByOfport(8)).toBeUndefined();
    const port = (await topo.createPort({ name: 'late', network: 'n' })) as { id: string };
    await until(async () => (await store.get(bindingKey(net.id, port.id))) !== undefined && view.portByOfport(8) !== undefined);
    expect(view.portByOfport(8)?.ps.port.id).toBe(port.id);
  });

  it('a bound port deleted while its VIF stays plugged is released, and a new port of that name binds again', async () => {
    const { store, topo, net, view, bindings, sub } = await setup();
    const first = (await topo.createPort({ name: 'again', network: 'n' })) as { id: string };
    await bindings.plugged({ name: 'tap4', ofport: 10, ifaceId: 'again' });
    await until(
      async () => (await store.get(bindingKey(net.id, first.id))) !== undefined && !sub.prefixes().some((p) => p.includes('/names/')),
    );
    expect(sub.prefixes().filter((p) => p.includes('/names/'))).toEqual([]); // bound: no name watch of its own
    await topo.deletePort('again');
    await until(() => view.portByOfport(10) === undefined && sub.prefixes().some((p) => p.endsWith('/names/port/again')));
    expect(view.portByOfport(10)).toBeUndefined();
    expect(sub.prefixes().some((p) => p.endsWith('/names/port/again'))).toBe(true); // waiting for the name again
    // Re-created in another network: found through the name watch, bound, and the name watch goes again.
    await topo.createNetwork({ name: 'n2' });
    await topo.createSubnet({ name: 's2', network: 'n2', cidr: '10.9.0.0/24' });
    const second = (await topo.createPort({ name: 'again', network: 'n2' })) as { id: string; networkId: string };
    await until(
      async () =>
        view.portByOfport(10)?.ps.port.id === second.id && (await store.get(bindingKey(second.networkId, second.id))) !== undefined,
    );
    expect(view.portByOfport(10)?.ps.port.id).toBe(second.id);
    await until(() => !sub.prefixes().some((p) => p.includes('/names/')));
    expect(sub.prefixes().filter((p) => p.includes('/names/'))).toEqual([]);
  });

  it('does not remove a binding another chassis took over (VM moved)', async () => {
    const { store, topo, net, bindings } = await setup();
    const port = (await topo.createPort({ name: 'mover', network: 'n' })) as { id: string };
    await bindings.plugged({ name: 'tap3', ofport: 9, ifaceId: 'mover' });
    await until(async () => (await store.get(bindingKey(net.id, port.id))) !== undefined);
    await store.put(bindingKey(net.id, port.id), JSON.stringify({ chassis: 'hv2', updatedAt: '' }));
    await bindings.unplugged({ name: 'tap3', ofport: 9, ifaceId: 'mover' });
    expect(JSON.parse((await store.get(bindingKey(net.id, port.id)))!.value).chassis).toBe('hv2');
  });
});
