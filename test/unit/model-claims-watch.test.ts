import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/index.js';
import type { Store } from '../../src/store/types.js';
import { Topology } from '../../src/model/index.js';

let store: Store;
let a: Topology;
let b: Topology;
let reads: number;
beforeEach(async () => {
  store = await openStore('memory:');
  // Two API servers on one store; every multi-read counted (a full network read is one).
  const read = store.read.bind(store);
  reads = 0;
  store.read = (ops) => {
    reads++;
    return read(ops);
  };
  a = new Topology(store);
  b = new Topology(store);
});
afterEach(async () => {
  a.close();
  b.close();
  await store.close();
});

const settle = () => new Promise((r) => setTimeout(r, 20));

describe('watched claims (port-create.ts, claims-watch.ts)', () => {
  it("a server's view learns another server's claims and frees from the watch: no read, no lost race", async () => {
    await a.createNetwork({ name: 'n' });
    await a.createSubnet({ name: 's', network: 'n', cidr: '10.0.0.0/24' });
    expect((await a.createPort({ name: 'a0', network: 'n' })).fixedIps[0]!.ip).toBe('10.0.0.2');
    const bs = [];
    for (let i = 0; i < 3; i++) bs.push(await b.createPort({ name: `b${i}`, network: 'n' }));
    expect(bs.map((p) => p.fixedIps[0]!.ip)).toEqual(['10.0.0.3', '10.0.0.4', '10.0.0.5']);
    await settle();
    // a plans from its watched view: the lowest free address after b's, first time, without reading.
    const before = reads;
    const txn = store.txn.bind(store);
    let lost = 0;
    store.txn = async (c, o, f) => {
      const r = await txn(c, o, f);
      if (!r.succeeded) lost++;
      return r;
    };
    expect((await a.createPort({ name: 'a1', network: 'n' })).fixedIps[0]!.ip).toBe('10.0.0.6');
    expect(reads - before).toBe(0);
    expect(lost).toBe(0);
    // b deletes the port holding .3: a's watch frees it, and a's next creation takes it, still without a read.
    await b.deletePort('b0');
    await settle();
    const before2 = reads;
    expect((await a.createPort({ name: 'a2', network: 'n' })).fixedIps[0]!.ip).toBe('10.0.0.3');
    expect(reads - before2).toBe(0);
    expect(lost).toBe(0);
  });

  it('a view behind the store costs a lost race, never a wrong address', async () => {
    await a.createNetwork({ name: 'n' });
    await a.createSubnet({ name: 's', network: 'n', cidr: '10.0.0.0/24' });
    await a.createPort({ name: 'a0', network: 'n' });
    // b claims .3 and a creates right after, whether or not a's watch has delivered b's claim yet: never .3 twice.
    const pb = await b.createPort({ name: 'b0', network: 'n', fixedIps: [{ ip: '10.0.0.3' }] });
    const pa = await a.createPort({ name: 'a1', network: 'n' });
    expect(pb.fixedIps[0]!.ip).toBe('10.0.0.3');
    expect(pa.fixedIps[0]!.ip).not.toBe('10.0.0.3');
    const ips = (await a.listPorts()).map((p) => p.fixedIps[0]!.ip);
    expect(new Set(ips).size).toBe(ips.length);
  });
});
