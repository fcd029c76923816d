/**
 * Gateway chassis election (issue 14) on real etcd: three candidates, each with its own client and lease. The first
 * takes the key; a crash (client gone, lease not revoked) frees it at lease expiry and the next candidate takes it
 * within TTL + 1 s; the recovered chassis does not preempt; a planned restart keeps the key (moved onto the new
 * lease, never deleted); removing the holder from the candidates hands it over.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { GatewayElection } from '../../src/agent/gateway-election.js';
import { gatewayKey, GATEWAYS_PREFIX } from '../../src/model/keys.js';
import type { Router } from '../../src/model/types.js';
import { openStore } from '../../src/store/index.js';
import type { Lease, Store, WatchEvent } from '../../src/store/types.js';
import { TopologyView } from '../../src/view/topology-view.js';
import { startEtcd, type EtcdCluster } from '../helpers/etcd.js';

const R1 = '31111111-1111-4111-8111-111111111111';
const TTL = 3;
const logger = pino({ level: process.env.GW_LOG ?? 'silent' });
const candidates = ['hv1', 'hv2', 'hv3'];

const router = (chassis: string[]): Router => ({
  id: R1,
  name: 'r1',
  routerKey: 7,
  mac: '02:aa:00:00:00:01',
  mode: 'proactive',
  interfaces: [],
  routes: [],
  gateway: { networkId: R1, subnetId: R1, ip: '203.0.113.10', mac: '02:ee:00:00:00:10', chassis },
});

interface Agent {
  name: string;
  store: Store;
  lease: Lease;
  view: TopologyView;
  election: GatewayElection;
}

let etcd: EtcdCluster;
let observer: Store;
const agents = new Map<string, Agent>();
const events: WatchEvent[] = [];

async function start(name: string): Promise<Agent> {
  const store = await openStore(etcd.url);
  const lease = await store.grantLease(TTL);
  const view = new TopologyView(name, 'vxlan');
  view.routers.set(R1, router(candidates));
  for (const c of candidates) view.chassis.set(c, { name: c, tunnelIp: '172.31.9.1', encaps: ['vxlan'], version: 't' });
  const election = new GatewayElection({ store, view, leaseId: () => lease.id, logger, backoffMs: 300 });
  const a = { name, store, lease, view, election };
  agents.set(name, a);
  return a;
}

/** What every agent does on a gateway (or chassis) change: reconcile. */
function reconcileAll(): Promise<void[]> {
  return Promise.all([...agents.values()].map((a) => a.election.reconcile()));
}

async function holder(): Promise<string | undefined> {
  const kv = await observer.get(gatewayKey(R1));
  return kv && (JSON.parse(kv.value) as { chassis: string }).chassis;
}

async function until(cond: () => Promise<boolean>, ms: number): Promise<number> {
  const t0 = Date.now();
  while (!(await cond())) {
    if (Date.now() - t0 > ms) throw new Error(`not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return Date.now() - t0;
}

/** A crash: no keep-alive any more, the lease left to expire (closing the client does not revoke it). */
async function crash(name: string): Promise<void> {
  const a = agents.get(name)!;
  agents.delete(name);
  await a.election.stop();
  await a.store.close();
  for (const b of agents.values()) b.view.chassis.delete(name);
}

beforeAll(async () => {
  etcd = await startEtcd();
  observer = await openStore(etcd.url);
  // Every agent watches the gateways prefix (as TopologySync does) and reconciles on each change.
  observer.watch(GATEWAYS_PREFIX, undefined, {
    onBatch: (b) => {
      events.push(...b.events);
      void reconcileAll();
    },
  });
});

afterAll(async () => {
  for (const a of agents.values()) {
    await a.election.stop();
    await a.store.close();
  }
  await observer?.close();
  await etcd?.stop();
});

describe('gateway election on etcd', () => {
  it('the first live candidate takes the key; a crash hands it to the next one within the lease TTL + 1 s', async () => {
    for (const c of candidates) await start(c);
    await reconcileAll();
    expect(await holder()).toBe('hv1');
    const kv = await observer.get(gatewayKey(R1));
    expect(kv?.lease).toBe(agents.get('hv1')!.lease.id);

    const t0 = Date.now();
    await crash('hv1');
    await until(async () => (await holder()) === 'hv2', (TTL + 3) * 1000);
    const took = Date.now() - t0;
    // etcd expires a lease between TTL and TTL + its check interval; the takeover follows at once.
    expect(took).toBeLessThan((TTL + 1) * 1000 + 500);
    expect(await holder()).toBe('hv2');
  }, 30_000);

  it('the recovered chassis does not preempt', async () => {
    const hv1 = await start('hv1');
    for (const a of agents.values()) a.view.chassis.set('hv1', { name: 'hv1', tunnelIp: '172.31.9.1', encaps: ['vxlan'], version: 't' });
    await hv1.election.reconcile();
    await reconcileAll();
    expect(await holder()).toBe('hv2');
  }, 30_000);

  it('a planned restart of the active agent keeps the key: moved onto the new lease, never deleted', async () => {
    const before = await observer.get(gatewayKey(R1));
    const old = agents.get('hv2')!;
    agents.delete('hv2');
    await old.election.stop();
    await old.store.close(); // SIGTERM: the lease is not revoked
    events.length = 0;
    const hv2 = await start('hv2');
    await hv2.election.reconcile();
    const moved = await observer.get(gatewayKey(R1));
    expect(moved?.lease).toBe(hv2.lease.id);
    expect(moved?.createRevision).toBe(before?.createRevision);
    // Past the old lease's expiry: still hv2, and no delete was ever seen.
    await new Promise((r) => setTimeout(r, (TTL + 1.5) * 1000));
    expect(await holder()).toBe('hv2');
    expect(events.filter((e) => e.type === 'delete')).toEqual([]);
  }, 30_000);

  it('the holder removed from the candidates releases the key to the next candidate', async () => {
    for (const a of agents.values()) a.view.routers.set(R1, router(['hv3', 'hv1']));
    await reconcileAll();
    await until(async () => (await holder()) === 'hv3', 3000);
  }, 30_000);
});
