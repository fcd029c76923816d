import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TopologyCache } from '../../src/agent/topology-cache.js';
import { BindingManager } from '../../src/agent/binding.js';
import { routeStoreEvent } from '../../src/agent/store-events.js';
import { TopologySync } from '../../src/view/topology-sync.js';
import { TopologyView } from '../../src/view/topology-view.js';
import { bindingKey, portIdKey } from '../../src/model/keys.js';
import { Topology } from '../../src/model/repo.js';
import { createMemoryStore, PrefixSubscription, type SubscriptionEvent } from '../../src/store/index.js';
import { silentLogger } from '../../src/util/log.js';

/** Issue 15: VIFs bound by their port's id (libvirt's interfaceid, XAPI's VIF uuid) and attached-mac checks. */
async function setup() {
  const store = createMemoryStore();
  const topo = new Topology(store);
  const net = await topo.createNetwork({ name: 'n' });
  await topo.createSubnet({ name: 's', network: 'n', cidr: '10.0.0.0/24' });
  const view = new TopologyView('hv1', 'vxlan');
  const sub = new PrefixSubscription(store);
  const sync = new TopologySync(view, sub, silentLogger, true);
  const bindings = new BindingManager(store, view, sync, sub, silentLogger);
  sync.on('portRemoved', (ev) => void bindings.portRemoved(ev));
  sub.on('event', (ev: SubscriptionEvent) => routeStoreEvent(ev, { sync, bindings, chassis: 'hv1', ownChassisGone: () => undefined }));
  const bound = async (portId: string) => (await store.get(bindingKey(net.id, portId))) !== undefined;
  return { store, topo, net, view, bindings, bound };
}

const until = async (f: () => boolean | Promise<boolean>) => {
  for (let i = 0; i < 300 && !(await f()); i++) await new Promise((r) => setTimeout(r, 5));
};

const ID = '6f1c1e1a-2b3c-4d5e-8f90-a1b2c3d4e5f6';

describe('binding VIFs by port id (libvirt interfaceid, XAPI VIF uuid)', () => {
  it('binds a VIF whose iface-id is the port id, plugged after the port exists', async () => {
    const { topo, view, bindings, bound } = await setup();
    const p = await topo.createPort({ id: ID, name: 'web', network: 'n', mac: '52:54:00:12:34:56' });
    expect(p.id).toBe(ID);
    await bindings.plugged({ name: 'vnet0', ofport: 5, ifaceId: ID, attachedMac: '52:54:00:12:34:56' });
    await until(async () => (await bound(ID)) && view.portByOfport(5) !== undefined);
    expect(view.portByOfport(5)?.ps.port.name).toBe('web');
    const net = view.networks.get(p.networkId)!;
    expect(view.locate(net, net.ports.get(ID)!)).toEqual({ kind: 'local', ofport: 5 });
    expect(bindings.refusals.list()).toEqual([]);
  });

  it('binds a VIF plugged with the port id before the port exists (waits on the id claim), in capitals too', async () => {
    const { topo, view, bindings, bound } = await setup();
    await bindings.plugged({ name: 'vif3.0', ofport: 6, ifaceId: ID.toUpperCase() });
    expect(view.portByOfport(6)).toBeUndefined();
    await topo.createPort({ id: ID, name: 'late', network: 'n' });
    await until(async () => (await bound(ID)) && view.portByOfport(6) !== undefined);
    expect(view.portByOfport(6)?.ps.port.id).toBe(ID);
  });

  it('still binds by name; an iface-id is a name or an id, never both (names cannot look like UUIDs)', async () => {
    const { topo, view, bindings, bound } = await setup();
    const a = await topo.createPort({ name: 'by-name', network: 'n' });
    await bindings.plugged({ name: 'tap1', ofport: 7, ifaceId: 'by-name' });
    await until(async () => (await bound(a.id)) && view.portByOfport(7) !== undefined);
    expect(view.portByOfport(7)?.ps.port.id).toBe(a.id);
    // A port named like another port's id cannot exist: the iface-id resolves to exactly one port.
    await expect(topo.createPort({ name: a.id, network: 'n' })).rejects.toMatchObject({ code: 'INVALID' });
  });

  it('a port found in the view (its network watched already) binds by id on the fast path', async () => {
    const { topo, view, bindings, bound } = await setup();
    const other = await topo.createPort({ name: 'other', network: 'n' });
    await bindings.plugged({ name: 'tap1', ofport: 7, ifaceId: 'other' });
    await until(() => bound(other.id));
    await topo.createPort({ id: ID, name: 'second', network: 'n' });
    await until(() => [...view.networks.values()].some((n) => n.ports.has(ID)));
    await bindings.plugged({ name: 'vnet1', ofport: 8, ifaceId: ID });
    await until(async () => (await bound(ID)) && view.portByOfport(8) !== undefined);
    expect(view.portByOfport(8)?.ps.port.name).toBe('second');
  });

  it('refuses a VIF whose attached-mac is not the port MAC, and binds it once the VIF is fixed (case-insensitive)', async () => {
    const { topo, view, bindings, bound } = await setup();
    const p = await topo.createPort({ id: ID, name: 'web', network: 'n', mac: '52:54:00:aa:bb:cc' });
    await bindings.plugged({ name: 'vnet0', ofport: 5, ifaceId: ID, attachedMac: '52:54:00:00:00:01' });
    await until(() => bindings.refusals.list().length === 1);
    expect(bindings.refusals.list()).toEqual([
      expect.objectContaining({ iface: 'vnet0', ifaceId: ID, port: 'web', reason: expect.stringContaining('52:54:00:00:00:01') }),
    ]);
    expect(await bound(ID)).toBe(false);
    expect(view.portByOfport(5)).toBeUndefined();
    expect(view.localVif(p)).toBeUndefined();
    // The hypervisor's attached-mac is corrected (VifWatcher reports it as a change: plugged again).
    await bindings.plugged({ name: 'vnet0', ofport: 5, ifaceId: ID, attachedMac: '52:54:00:AA:BB:CC' });
    await until(async () => (await bound(ID)) && view.portByOfport(5) !== undefined);
    expect(bindings.refusals.list()).toEqual([]);
    // And broken again while bound: released, refused.
    await bindings.plugged({ name: 'vnet0', ofport: 5, ifaceId: ID, attachedMac: '52:54:00:00:00:02' });
    await until(async () => !(await bound(ID)));
    expect(await bound(ID)).toBe(false);
    expect(bindings.refusals.list().map((r) => r.iface)).toEqual(['vnet0']);
    await bindings.unplugged({ name: 'vnet0', ofport: 5, ifaceId: ID });
    expect(bindings.refusals.list()).toEqual([]);
  });

  it('binds a refused VIF once its port is re-created (same id) with the right MAC', async () => {
    const { topo, view, bindings, bound } = await setup();
    await topo.createPort({ id: ID, name: 'web', network: 'n', mac: '52:54:00:aa:bb:cc' });
    await bindings.plugged({ name: 'vnet0', ofport: 5, ifaceId: ID, attachedMac: '52:54:00:00:00:01' });
    await until(() => bindings.refusals.list().length === 1);
    await topo.deletePort(ID);
    await until(() => bindings.refusals.list().length === 0);
    expect(bindings.refusals.list()).toEqual([]);
    await topo.createPort({ id: ID, name: 'web', network: 'n', mac: '52:54:00:00:00:01' });
    await until(async () => (await bound(ID)) && view.portByOfport(5) !== undefined);
    expect(view.portByOfport(5)?.ps.port.mac).toBe('52:54:00:00:00:01');
  });
});

describe('creating a port with a given id', () => {
  it('refuses a malformed id, and an id any object already has', async () => {
    const { store, topo, net } = await setup();
    await expect(topo.createPort({ id: 'not-a-uuid', name: 'x', network: 'n' })).rejects.toMatchObject({ code: 'INVALID', field: 'id' });
    await expect(topo.createPort({ id: 42, name: 'x', network: 'n' })).rejects.toMatchObject({ code: 'INVALID', field: 'id' });
    const p = await topo.createPort({ id: ID.toUpperCase(), name: 'x', network: 'n' });
    expect(p.id).toBe(ID);
    expect(JSON.parse((await store.get(portIdKey(ID)))!.value)).toEqual({ id: ID, networkId: net.id });
    await expect(topo.createPort({ id: ID, name: 'y', network: 'n' })).rejects.toMatchObject({ code: 'CONFLICT', field: 'id' });
    await expect(topo.createPort({ id: net.id, name: 'y', network: 'n' })).rejects.toMatchObject({ code: 'CONFLICT', field: 'id' });
    const s = (await topo.listSubnets())[0]!;
    await expect(topo.createPort({ id: s.id, name: 'y', network: 'n' })).rejects.toMatchObject({ code: 'CONFLICT', field: 'id' });
    // Found by id; its id claim goes with it; names() lists names only.
    expect((await topo.getPort(ID)).name).toBe('x');
    expect(await topo.names('port')).toEqual(['x']);
    await topo.deletePort(ID);
    expect(await store.get(portIdKey(ID))).toBeUndefined();
    expect((await topo.createPort({ id: ID, name: 'y', network: 'n' })).id).toBe(ID);
  });
});

describe('the topology cache answers a port id claim from cached ports (restart during a store outage)', () => {
  it('finds the port by id as by name', () => {
    const cache = new TopologyCache(join(mkdtempSync(join(tmpdir(), 'wv-hv-')), 'c.json'), 'hv1', silentLogger, () => [], 1);
    const net = '11111111-1111-4111-8111-111111111111';
    const port = {
      id: ID,
      name: 'web',
      networkId: net,
      mac: '52:54:00:12:34:56',
      fixedIps: [],
      portSecurity: true,
      allowedAddressPairs: [],
      portKey: 7,
    };
    const kv = { key: `/wyvern/v1/net/${net}/ports/${ID}`, value: JSON.stringify(port), createRevision: 1, modRevision: 1 };
    cache.apply({ type: 'snapshot', prefix: `/wyvern/v1/net/${net}/`, kvs: [kv], revision: 1 });
    expect(cache.get(portIdKey(ID))?.map((x) => JSON.parse(x.value))).toEqual([{ id: ID, networkId: net }]);
    expect(cache.get(portIdKey('00000000-0000-4000-8000-000000000000'))).toBeUndefined();
  });
});
