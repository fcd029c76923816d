import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/index.js';
import type { Store } from '../../src/store/types.js';
import { Topology } from '../../src/model/index.js';

let store: Store;
let topo: Topology;
beforeEach(async () => {
  store = await openStore('memory:');
  topo = new Topology(store);
});
afterEach(async () => {
  await store.close();
});

describe('concurrency (CAS)', () => {
  it('20 parallel port creations in one subnet get distinct IPs, MACs and port keys', async () => {
    await topo.createNetwork({ name: 'n' });
    await topo.createSubnet({ name: 's', network: 'n', cidr: '10.0.0.0/24' });
    const ports = await Promise.all(Array.from({ length: 20 }, (_, i) => topo.createPort({ name: `p${i}`, network: 'n' })));
    expect(new Set(ports.map((p) => p.fixedIps[0]!.ip)).size).toBe(20);
    expect(new Set(ports.map((p) => p.mac)).size).toBe(20);
    expect(new Set(ports.map((p) => p.portKey)).size).toBe(20);
    expect((await topo.listPorts()).length).toBe(20);
  });
  it('20 parallel network creates get distinct tunnel keys', async () => {
    const nets = await Promise.all(Array.from({ length: 20 }, (_, i) => topo.createNetwork({ name: `n${i}` })));
    expect(new Set(nets.map((n) => n.tunnelKey)).size).toBe(20);
    expect((await topo.listNetworks()).length).toBe(20);
  });
  it('two creates of the same name: exactly one wins, the other is a CONFLICT', async () => {
    const r = await Promise.allSettled([topo.createNetwork({ name: 'same' }), topo.createNetwork({ name: 'same' })]);
    expect(r.filter((x) => x.status === 'fulfilled').length).toBe(1);
    const rej = r.find((x) => x.status === 'rejected') as PromiseRejectedResult;
    expect(rej.reason).toMatchObject({ code: 'CONFLICT', field: 'name' });
    expect((await topo.listNetworks()).length).toBe(1);
  });
  it('a port created while its network is deleted: never an orphan', async () => {
    for (let i = 0; i < 10; i++) {
      await topo.createNetwork({ name: `x${i}` });
      await Promise.allSettled([topo.deleteNetwork(`x${i}`), topo.createPort({ name: `px${i}`, network: `x${i}`, fixedIps: [] })]);
      const nets = (await topo.listNetworks()).map((n) => n.id);
      const all = await store.range('/wyvern/v1/net/');
      for (const kv of all.kvs) expect(nets.some((id) => kv.key.includes(id))).toBe(true);
    }
  });
});
