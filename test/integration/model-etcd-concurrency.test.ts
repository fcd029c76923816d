/**
 * The model's compare-and-swap planning on real etcd, with several API servers (Topology instances, each with its
 * own remembered network views) racing on one network: creations, deletions and re-creations interleaved. Whatever
 * the interleaving, the store ends consistent: distinct addresses, MACs and port keys, every port's name claim
 * and port-key allocation present, nothing allocated twice, nothing left over.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Topology, type Port } from '../../src/model/index.js';
import { openStore } from '../../src/store/index.js';
import type { Store } from '../../src/store/types.js';
import { startEtcd, type EtcdCluster } from '../helpers/etcd.js';

let etcd: EtcdCluster;
let stores: Store[];

beforeAll(async () => {
  etcd = await startEtcd();
  stores = await Promise.all([0, 1, 2].map(() => openStore(etcd.url)));
});

afterAll(async () => {
  await Promise.all((stores ?? []).map((s) => s.close()));
  await etcd?.stop();
});

describe('port creation on etcd, three API servers racing', () => {
  it('creations, deletions and re-creations in one network leave a consistent store', async () => {
    const [a, b, c] = stores.map((s) => new Topology(s));
    await a!.createNetwork({ name: 'race' });
    await a!.createSubnet({ name: 'race-sub', network: 'race', cidr: '10.8.0.0/24' });
    const apis = [a!, b!, c!];
    // Round 1: 30 creations spread over the three servers at once (each remembers its view, all go stale).
    const first = await Promise.all(Array.from({ length: 30 }, (_, i) => apis[i % 3]!.createPort({ name: `r${i}`, network: 'race' })));
    // Round 2: every third port deleted by one server while the others create more.
    const deleted = first.filter((_, i) => i % 3 === 0);
    const second = await Promise.all([
      ...deleted.map((p) => b!.deletePort(p.name)),
      ...Array.from({ length: 15 }, (_, i) => apis[(i + 1) % 3]!.createPort({ name: `s${i}`, network: 'race' })),
    ]);
    // Round 3: the deleted names created again (the freed addresses may have gone to round 2's ports) by the
    // server that remembers those names and addresses as taken.
    const again = await Promise.all(deleted.map((p) => a!.createPort({ name: p.name, network: 'race' })));
    const live = (await c!.listPorts('race')) as Port[];
    expect(live.length).toBe(30 + 15);
    expect(new Set(live.map((p) => p.fixedIps[0]!.ip)).size).toBe(live.length);
    expect(new Set(live.map((p) => p.mac)).size).toBe(live.length);
    expect(new Set(live.map((p) => p.portKey)).size).toBe(live.length);
    for (const p of again) expect(live.find((l) => l.name === p.name)?.id).toBe(p.id);
    // Names, ids and port-key allocations match the live ports exactly: nothing leaked by lost races.
    const s = stores[0]!;
    const names = (await s.range('/wyvern/v1/names/port/')).kvs.map((kv) => kv.key.split('/').pop()).sort();
    // Each port claims its name and its id (keys.ts).
    expect(names).toEqual(live.flatMap((p) => [p.name, p.id]).sort());
    const keys = (await s.range('/wyvern/v1/alloc/port-key/')).kvs.map((kv) => Number(kv.key.split('/').pop())).sort((x, y) => x - y);
    expect(keys).toEqual(live.map((p) => p.portKey).sort((x, y) => x - y));
    expect(second.length).toBe(deleted.length + 15);
  });
});
