/**
 * Chassis lifecycle in the store (issue 11): an agent restarted within its lease TTL takes its chassis key over
 * without peers ever seeing it go; `chassis delete` is explicit, refused while ports are bound (unless force),
 * and leaves a tombstone that a starting agent clears.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ApiClient } from '../../src/api/client.js';
import { startApiServer } from '../../src/api/server.js';
import { bindPort, deleteChassis, getRetirement, ModelError, registerChassis, Topology, type Port } from '../../src/model/index.js';
import { bindingKey, chassisKey, CHASSIS_PREFIX } from '../../src/model/keys.js';
import { createMemoryStore, type MemoryStore } from '../../src/store/index.js';
import type { WatchEvent } from '../../src/store/types.js';

let now = 1_000_000;
let store: MemoryStore;
const hv1 = { name: 'hv1', tunnelIp: '172.31.9.1', encaps: ['vxlan'], version: 't' };

beforeEach(() => {
  store = createMemoryStore({ clock: { now: () => now }, leaseCheckMs: 0 });
});
afterEach(async () => {
  await store.close();
});

/** Every event under the chassis prefix from now on. */
function recordChassisEvents(): WatchEvent[] {
  const events: WatchEvent[] = [];
  store.watch(CHASSIS_PREFIX, undefined, { onBatch: (b) => events.push(...b.events) });
  return events;
}

describe('re-registration under a new lease (agent restart)', () => {
  it('moves the key to the new lease: never deleted, and the old lease expiring or revoked leaves it alone', async () => {
    // The first agent process: its lease is not revoked on stop (SIGTERM), it just stops being kept alive.
    const first = store.connect();
    const oldLease = await first.grantLease(5);
    await registerChassis(first, hv1, oldLease);
    await first.close();
    const events = recordChassisEvents();

    // The restarted agent, within the TTL.
    now += 2_000;
    const second = store.connect();
    const newLease = await second.grantLease(5);
    await registerChassis(second, { ...hv1, version: 't2' }, newLease);
    expect((await store.get(chassisKey('hv1')))?.lease).toBe(newLease.id);

    // The old lease's deadline passes: the key, now on the new lease, stays.
    now += 4_000;
    await store.expireLeases();
    expect(await store.get(chassisKey('hv1'))).toBeDefined();
    // Revoking an old lease (what a re-registering agent does after the fact) leaves it alone too.
    await oldLease.revoke().catch(() => undefined);
    expect(await store.get(chassisKey('hv1'))).toBeDefined();
    await new Promise((r) => setTimeout(r, 20));
    expect(events.map((e) => e.type)).toEqual(['put']);

    // A restart that never comes: the key goes with the lease's TTL.
    await second.close();
    now += 6_000;
    await store.expireLeases();
    expect(await store.get(chassisKey('hv1'))).toBeUndefined();
  });
});

describe('chassis delete', () => {
  async function withBoundPort(): Promise<{ topo: Topology; networkId: string; portId: string }> {
    const topo = new Topology(store);
    const net = await topo.createNetwork({ name: 'blue' });
    await topo.createSubnet({ name: 'blue-a', network: 'blue', cidr: '10.0.0.0/24' });
    const p = await topo.createPort({ name: 'vm1', network: 'blue' });
    await topo.createPort({ name: 'vm2', network: 'blue' });
    await bindPort(store, net.id, p.id, 'hv1');
    return { topo, networkId: net.id, portId: p.id };
  }

  it('is refused while ports are bound there, naming them, and changes nothing', async () => {
    const lease = await store.grantLease(30);
    await registerChassis(store, hv1, lease);
    const { networkId, portId } = await withBoundPort();
    const rev = await store.currentRevision();
    const err = await deleteChassis(store, 'hv1').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ModelError);
    expect((err as ModelError).code).toBe('CONFLICT');
    expect((err as ModelError).field).toBe('force');
    expect((err as ModelError).message).toMatch(/hv1 still hosts 1 bound port\(s\) \(vm1\).*force/);
    expect(await store.currentRevision()).toBe(rev);
    expect(await store.get(bindingKey(networkId, portId))).toBeDefined();
  });

  it('with force removes the key and its bindings in one revision and leaves a tombstone; registering clears it', async () => {
    const lease = await store.grantLease(30);
    await registerChassis(store, hv1, lease);
    const { networkId, portId } = await withBoundPort();
    const rev = await store.currentRevision();
    const r = await deleteChassis(store, 'hv1', { force: true });
    expect(r).toMatchObject({ name: 'hv1', bindingsRemoved: ['vm1'] });
    expect(await store.currentRevision()).toBe(rev + 1);
    expect(await store.get(chassisKey('hv1'))).toBeUndefined();
    expect(await store.get(bindingKey(networkId, portId))).toBeUndefined();
    expect(await getRetirement(store, 'hv1')).toMatchObject({ name: 'hv1', bindingsRemoved: ['vm1'] });
    // Another chassis's bindings and a chassis not registered.
    await expect(deleteChassis(store, 'hv1')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    // An agent starting on hv1 puts it back in service.
    await registerChassis(store, hv1, await store.grantLease(30));
    expect(await getRetirement(store, 'hv1')).toBeUndefined();
    expect(await store.get(chassisKey('hv1'))).toBeDefined();
  });

  it('with force on a host with more bound ports than one transaction takes: all go, in pieces, and the tombstone names them', async () => {
    const lease = await store.grantLease(30);
    await registerChassis(store, hv1, lease);
    const topo = new Topology(store);
    const net = await topo.createNetwork({ name: 'big' });
    await topo.createSubnet({ name: 'big-a', network: 'big', cidr: '10.1.0.0/22' });
    const ports: Port[] = [];
    for (let i = 0; i < 300; i++) ports.push(await topo.createPort({ name: `vm${String(i).padStart(3, '0')}`, network: 'big' }));
    for (const p of ports) await bindPort(store, net.id, p.id, 'hv1');
    // A binding among those left for after the first transaction (keys sort by port id) changes right after it (its
    // agent had not seen the tombstone yet): what is left is read again.
    const last = [...ports].sort((a, b) => a.id.localeCompare(b.id)).pop()!;
    const realTxn = store.txn.bind(store);
    let txns = 0;
    store.txn = (async (...a: Parameters<typeof realTxn>) => {
      const r = await realTxn(...a);
      if (++txns === 1) await bindPort(store, net.id, last.id, 'hv1', 9);
      return r;
    }) as typeof store.txn;
    const r = await deleteChassis(store, 'hv1', { force: true });
    store.txn = realTxn;
    expect(txns).toBeGreaterThan(4);
    expect(r.bindingsRemoved).toEqual(ports.map((p) => p.name));
    expect(await store.get(chassisKey('hv1'))).toBeUndefined();
    expect((await store.range(`/wyvern/v1/net/${net.id}/bindings/`)).kvs.map((kv) => [kv.key.slice(-36), kv.value])).toEqual([]);
    expect((await getRetirement(store, 'hv1'))!.bindingsRemoved).toHaveLength(300);
  });

  it('without bound ports needs no force', async () => {
    await registerChassis(store, hv1, await store.grantLease(30));
    expect(await new Topology(store).deleteChassis('hv1')).toMatchObject({ name: 'hv1', bindingsRemoved: [] });
  });
});

describe('DELETE /v1/chassis/{name}', () => {
  it('answers 409 naming the ports without force, 400 for a force that is not a boolean, 200 with force=true', async () => {
    await registerChassis(store, hv1, await store.grantLease(30));
    const topo = new Topology(store);
    const net = await topo.createNetwork({ name: 'blue' });
    await topo.createSubnet({ name: 'blue-a', network: 'blue', cidr: '10.0.0.0/24' });
    const p = await topo.createPort({ name: 'vm1', network: 'blue' });
    await bindPort(store, net.id, p.id, 'hv1');
    const api = await startApiServer({ store, listen: 'tcp:127.0.0.1:0' });
    try {
      const c = new ApiClient(api.url);
      let r = await c.raw('DELETE', '/v1/chassis/hv1');
      expect(r.status).toBe(409);
      expect(r.body).toMatchObject({ error: { code: 'CONFLICT', field: 'force', message: expect.stringMatching(/vm1/) } });
      r = await c.raw('DELETE', '/v1/chassis/hv1?force=yes');
      expect(r.status).toBe(400);
      r = await c.raw('DELETE', '/v1/chassis/hv1?forse=true');
      expect(r.status).toBe(400);
      r = await c.raw('DELETE', '/v1/chassis/hv1?force=true');
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({ name: 'hv1', bindingsRemoved: ['vm1'] });
      // A standalone API has no encapsulation of its own: no reachability fields.
      await registerChassis(store, hv1, await store.grantLease(30));
      expect(await c.call('GET', '/v1/chassis')).toEqual([expect.not.objectContaining({ reachable: expect.anything() })]);
    } finally {
      await api.close();
    }
  });
});
