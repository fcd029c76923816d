import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/index.js';
import type { Store } from '../../src/store/types.js';
import { ROOT, Topology, exportTopology, importTopology, type TopologyDocument } from '../../src/model/index.js';

let store: Store;
let topo: Topology;
beforeEach(async () => { store = await openStore('memory:'); topo = new Topology(store); });
afterEach(async () => { await store.close(); });

async function populate(): Promise<void> {
  await topo.createNetwork({ name: 'blue' });
  await topo.createNetwork({ name: 'red', mtu: 1400 });
  await topo.createSubnet({ name: 'blue-a', network: 'blue', cidr: '10.0.0.0/24', dnsServers: ['10.0.0.53'], domain: 'blue.test' });
  await topo.createSubnet({ name: 'red-a', network: 'red', cidr: '10.1.0.0/24', enableDhcp: false });
  for (let i = 0; i < 5; i++) await topo.createPort({ name: `vm${i}`, network: i % 2 ? 'red' : 'blue' });
  await topo.createRouter({ name: 'r1' });
  await topo.attachSubnet('r1', { subnet: 'blue-a' });
  await topo.attachSubnet('r1', { subnet: 'red-a' });
  await topo.addRoute('r1', { cidr: '192.168.0.0/16', nexthop: '10.1.0.99' });
}

describe('export / import', () => {
  it('export → wipe → import → export is identical, and the model works after', async () => {
    await populate();
    const before = await exportTopology(store);
    expect(before.networks.length).toBe(2);
    expect(before.ports.length).toBe(5);
    const keysBefore = (await store.range(ROOT)).kvs.map((k) => [k.key, k.value]);
    await store.txn([], [{ op: 'deletePrefix', prefix: ROOT }]);
    expect((await store.range(ROOT)).kvs).toEqual([]);
    const r = await importTopology(store, JSON.parse(JSON.stringify(before)));
    expect(r.written).toBeGreaterThan(0);
    const after = await exportTopology(store);
    expect(JSON.stringify(after)).toBe(JSON.stringify(before));
    // Every key (names, allocations) is restored except guard values, which only need to exist.
    const keysAfter = (await store.range(ROOT)).kvs.map((k) => [k.key, k.key.includes('/guard/') ? 'x' : k.value]);
    expect(keysAfter).toEqual(keysBefore.map(([k, v]) => [k, k!.includes('/guard/') ? 'x' : v]));
    // Allocation state came back: new objects do not reuse keys or addresses.
    const p = await topo.createPort({ name: 'new', network: 'blue' });
    expect(before.ports.map((x) => x.portKey)).not.toContain(p.portKey);
    expect(before.ports.flatMap((x) => x.fixedIps.map((f) => f.ip))).not.toContain(p.fixedIps[0]!.ip);
  });
  it('import twice is a no-op (no write, same revision)', async () => {
    await populate();
    const doc = await exportTopology(store);
    const rev = await store.currentRevision();
    const r = await importTopology(store, doc);
    expect(r.written).toBe(0);
    expect(await store.currentRevision()).toBe(rev);
  });
  it('conflicts are reported and nothing is written', async () => {
    await populate();
    const doc = await exportTopology(store);
    const changed: TopologyDocument = { ...doc, networks: doc.networks.map((n) => (n.name === 'blue' ? { ...n, mtu: 1300 } : n)) };
    const rev = await store.currentRevision();
    await expect(importTopology(store, changed)).rejects.toMatchObject({ code: 'CONFLICT', message: expect.stringMatching(/network blue differs/) });
    expect(await store.currentRevision()).toBe(rev);
  });
  it('rejects invalid documents naming the field', async () => {
    await expect(importTopology(store, { format: 'x' })).rejects.toMatchObject({ code: 'INVALID', field: 'format' });
    await populate();
    const doc = await exportTopology(store);
    const bad = { ...doc, ports: doc.ports.map((p, i) => (i === 1 ? { ...p, mac: 'nope' } : p)) };
    await expect(importTopology(store, bad)).rejects.toMatchObject({ code: 'INVALID', field: 'ports[1].mac' });
    const dupIp = { ...doc, ports: [...doc.ports, { ...doc.ports[0]!, id: '00000000-0000-4000-8000-000000000001', name: 'dup', mac: '02:00:00:00:00:99', portKey: 999 }] };
    await expect(importTopology(store, dupIp)).rejects.toMatchObject({ code: 'CONFLICT', message: expect.stringMatching(/duplicate IP/) });
  });
});
