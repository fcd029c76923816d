/**
 * The binding fast path (bench:agent's finding): a VIF plugged for a port already in the view gets its
 * local flows computed ('changed') without reading the store first, while the binding is written. It is a
 * local port at once (so it gets its installed mark as soon as its flows are on the switch, like ovn-installed)
 * and counts as bound once the write is done ('bound', no second recompute).
 */
import { describe, expect, it, vi } from 'vitest';
import { BindingManager } from '../../src/agent/binding.js';
import type { TopologySync } from '../../src/view/topology-sync.js';
import { TopologyView } from '../../src/view/topology-view.js';
import { bindingKey, portKey } from '../../src/model/keys.js';
import type { Port } from '../../src/model/types.js';
import { createMemoryStore } from '../../src/store/index.js';
import { silentLogger } from '../../src/util/log.js';

const NET = '11111111-1111-4111-8111-111111111111';
const PORT_ID = '22222222-2222-4222-8222-222222222222';

function setup() {
  const store = createMemoryStore();
  const view = new TopologyView('hv1', 'geneve');
  const port: Port = {
    id: PORT_ID,
    name: 'p1',
    networkId: NET,
    mac: '0a:00:00:00:00:01',
    fixedIps: [],
    portSecurity: true,
    allowedAddressPairs: [],
    securityGroups: [],
    portKey: 7,
  };
  view.networks.set(NET, {
    network: { id: NET, name: 'n', tunnelKey: 5 } as never,
    subnets: new Map(),
    ports: new Map([[port.id, { port }]]),
  });
  const wants: string[] = [];
  // Like TopologySync for a network already in the view: nothing to wait for.
  const sync = { want: (id: string) => void wants.push(id), unwant: async () => undefined } as unknown as TopologySync;
  const subs: string[] = [];
  const subscription = { add: (p: string) => void subs.push(p), remove: () => undefined, loaded: () => true };
  const nameReads: string[] = [];
  const realGet = store.get.bind(store);
  store.get = ((k: string) => {
    if (k.startsWith('/wyvern/v1/names/')) nameReads.push(k);
    return realGet(k);
  }) as typeof store.get;
  const bm = new BindingManager(store, view, sync, subscription, silentLogger);
  return { store, view, bm, port, wants, subs, nameReads };
}

describe('BindingManager fast path', () => {
  it('computes flows before the binding write, counts the port as local at once and bound after the write, and reads nothing from the store', async () => {
    const { store, bm, port, wants, subs, nameReads } = setup();
    await store.put(portKey(NET, port.id), JSON.stringify(port));
    const seen: { bound: number; stored: boolean; local?: number }[] = [];
    bm.on('changed', () => {
      seen.push({ bound: bm.boundPorts().length, stored: false, local: bm.localPorts().length });
      const i = seen.length - 1;
      void store.get(bindingKey(NET, PORT_ID)).then((kv) => (seen[i]!.stored = kv !== undefined));
    });
    bm.on('bound', (name: string) => {
      seen.push({ bound: bm.boundPorts().length, stored: false });
      const i = seen.length - 1;
      expect(name).toBe('p1');
      void store.get(bindingKey(NET, PORT_ID)).then((kv) => (seen[i]!.stored = kv !== undefined));
    });
    await bm.plugged({ name: 't1', ofport: 5, ifaceId: 'p1' });
    await new Promise((r) => setTimeout(r, 10));
    expect(seen.length).toBe(2);
    expect(seen[0]!.bound).toBe(0); // 'changed': flows computed, binding write in flight
    expect(seen[0]!.local).toBe(1); // … yet already a local port: its mark waits only for its flows
    expect(seen[1]!.bound).toBe(1); // 'bound': written, now bound (marks it; no recompute)
    expect(seen[1]!.stored).toBe(true);
    expect(bm.boundPorts()).toEqual([{ name: 'p1', portId: PORT_ID, networkId: NET, ofport: 5 }]);
    expect(wants).toEqual([NET]);
    expect(subs.length).toBe(0); // no watch of its own: its deletion is seen through its (watched) network
    expect(nameReads).toEqual([]); // the port's name key was not read: the view had it
  });

  it('asks for the flows in the same turn as the VIF event, before the name watch calls the store', () => {
    const { bm, subs } = setup();
    const order: string[] = [];
    bm.on('changed', () => order.push(`changed (name watches: ${subs.length})`));
    void bm.plugged({ name: 't1', ofport: 5, ifaceId: 'p1' });
    expect(order).toEqual(['changed (name watches: 0)']); // synchronously, nothing awaited yet
  });

  it('announces the binding only once beforeAnnounce (the agent: flows on the switch) has resolved', async () => {
    const { store, view, port } = setup();
    await store.put(portKey(NET, port.id), JSON.stringify(port));
    const wants: string[] = [];
    const sync = { want: (id: string) => void wants.push(id), unwant: async () => undefined } as unknown as TopologySync;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const bm = new BindingManager(store, view, sync, { add: () => undefined, remove: () => undefined, loaded: () => true }, silentLogger, {
      beforeAnnounce: () => gate,
    });
    const changed: number[] = [];
    bm.on('changed', () => changed.push(1));
    const done = bm.plugged({ name: 't1', ofport: 5, ifaceId: 'p1' });
    await new Promise((r) => setTimeout(r, 20));
    expect(changed.length).toBe(1); // flows asked for at once
    expect(bm.localPorts().length).toBe(1);
    expect(await store.get(bindingKey(NET, port.id))).toBeUndefined(); // not announced yet
    release();
    await done;
    expect((await store.get(bindingKey(NET, port.id)))?.value).toContain('hv1');
    expect(bm.boundPorts().length).toBe(1);
  });

  it('a second resolution of a port returns only once its network is in the view (agent start-up relies on it)', async () => {
    const { store, view, port } = setup();
    await store.put(portKey(NET, port.id), JSON.stringify(port));
    let release!: () => void;
    const loaded = new Promise<void>((r) => (release = r));
    const sync = { want: () => loaded, unwant: async () => undefined } as unknown as TopologySync;
    const bm = new BindingManager(store, view, sync, { add: () => undefined, remove: () => undefined, loaded: () => true }, silentLogger);
    view.plugVif({ ifaceName: 't1', ofport: 5, ifaceId: 'p1' });
    const claim = JSON.stringify({ id: PORT_ID, networkId: NET });
    const first = bm.nameAppeared('p1', claim); // e.g. from the name watch's snapshot
    let secondDone = false;
    const second = bm.nameAppeared('p1', claim).then(() => (secondDone = true)); // e.g. a second VIF event
    await new Promise((r) => setTimeout(r, 20));
    expect(secondDone).toBe(false);
    release();
    await second;
    expect(secondDone).toBe(true);
    await first;
    expect(bm.boundPorts().map((b) => b.portId)).toEqual([PORT_ID]);
  });

  it("a port not in the view resolves through its name watch's snapshot: the one read of the name", async () => {
    const { store, view, port, nameReads } = setup();
    view.networks.clear();
    await store.put(portKey(NET, port.id), JSON.stringify(port));
    await store.put('/wyvern/v1/names/port/p1', JSON.stringify({ id: PORT_ID, networkId: NET }));
    // As PrefixSubscription and store-events.ts do: the watch reads its key and hands the snapshot to the bindings.
    const watched = new Set<string>();
    const subscription = {
      add: async (key: string) => {
        const kv = await store.get(key);
        watched.add(key);
        if (kv) void bm.nameAppeared(key.slice(key.lastIndexOf('/') + 1), kv.value);
      },
      remove: (key: string) => void watched.delete(key),
      loaded: (which: (p: string) => boolean) => [...watched].every((k) => !which(k) || watched.has(k)),
    };
    const sync = { want: () => undefined, unwant: async () => undefined } as unknown as TopologySync;
    const bm: BindingManager = new BindingManager(store, view, sync, subscription, silentLogger);
    await bm.plugged({ name: 't1', ofport: 5, ifaceId: 'p1' });
    expect(bm.localPorts().map((b) => b.portId)).toEqual([PORT_ID]); // resolved when plugged() returns…
    await vi.waitFor(() => expect(bm.boundPorts().map((b) => b.portId)).toEqual([PORT_ID])); // …and bound once written
    expect(nameReads).toEqual(['/wyvern/v1/names/port/p1']); // the watch's read, none beside it
  });

  it("tells the agent's start that the port's flows are asked for before the binding's write to the store returns", async () => {
    const { store, bm, port } = setup();
    await store.put(portKey(NET, port.id), JSON.stringify(port));
    let release!: () => void;
    const writes = new Promise<void>((r) => (release = r));
    const realTxn = store.txn.bind(store);
    store.txn = (async (...args: Parameters<typeof store.txn>) => {
      await writes; // the store is slow to answer the binding's write
      return realTxn(...args);
    }) as typeof store.txn;
    const order: string[] = [];
    bm.on('changed', () => order.push('changed'));
    const asked = new Promise<void>((r) => bm.plugged({ name: 't1', ofport: 5, ifaceId: 'p1' }, r).then(() => order.push('plugged done')));
    // A second VIF for the same port (a VM's two interfaces named alike) is told as well.
    const askedToo = new Promise<void>((r) => void bm.plugged({ name: 't2', ofport: 6, ifaceId: 'p1' }, r));
    await asked;
    await askedToo;
    expect(order[0]).toBe('changed');
    expect(order).not.toContain('plugged done');
    expect(bm.boundPorts()).toEqual([]); // the write is still waiting for the store
    release();
    await vi.waitFor(() => expect(order).toContain('plugged done'));
    expect(bm.boundPorts().map((b) => b.name)).toEqual(['p1']);
  });

  it('tells it too when the port gets no flows: a VIF for a port that does not exist', async () => {
    const { view, bm } = setup();
    view.networks.clear();
    await new Promise<void>((r) => void bm.plugged({ name: 't9', ofport: 9, ifaceId: 'nosuch' }, r));
    await new Promise<void>((r) => void bm.plugged({ name: 't10', ofport: -1, ifaceId: 'nosuch2' }, r)); // no ofport yet
    expect(bm.localPorts()).toEqual([]);
  });
});
