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

/** The lowest free address of 10.0.0.0/24 (gateway .1) as the store holds it. */
async function lowestFree(): Promise<string> {
  const used = new Set((await a.listPorts()).flatMap((p) => p.fixedIps.map((f) => f.ip)));
  for (let h = 2; h < 255; h++) if (!used.has(`10.0.0.${h}`)) return `10.0.0.${h}`;
  throw new Error('full');
}

describe('watched claims (port-create.ts, claims-watch.ts)', () => {
  it("a server's view learns another server's claims and frees from the watch: no read, no lost race", async () => {
    await a.createNetwork({ name: 'n' });
    await a.createSubnet({ name: 's', network: 'n', cidr: '10.0.0.0/24' });
    // Two creations overlapping in a: a watches the network from then on.
    await Promise.all([a.createPort({ name: 'a0', network: 'n' }), a.createPort({ name: 'a0b', network: 'n' })]);
    const bs = [];
    for (let i = 0; i < 3; i++) bs.push(await b.createPort({ name: `b${i}`, network: 'n' }));
    await settle();
    const lowest = await lowestFree();
    // a plans from its watched view: the lowest free address after b's, first time, without reading.
    const before = reads;
    const txn = store.txn.bind(store);
    let lost = 0;
    store.txn = async (c, o, f) => {
      const r = await txn(c, o, f);
      if (!r.succeeded) lost++;
      return r;
    };
    expect((await a.createPort({ name: 'a1', network: 'n' })).fixedIps[0]!.ip).toBe(lowest);
    expect(reads - before).toBe(0);
    expect(lost).toBe(0);
    // b deletes b0 (the lowest free address when b took it): a's watch frees it, and a's next creation takes it,
    // still without a read.
    await b.deletePort('b0');
    await settle();
    const before2 = reads;
    expect((await a.createPort({ name: 'a2', network: 'n' })).fixedIps[0]!.ip).toBe(bs[0]!.fixedIps[0]!.ip);
    expect(reads - before2).toBe(0);
    expect(lost).toBe(0);
  });

  it('a server creating one port at a time watches nothing until it loses a race; then it follows the others', async () => {
    await a.createNetwork({ name: 'n' });
    await a.createSubnet({ name: 's', network: 'n', cidr: '10.0.0.0/24' });
    await a.createPort({ name: 'a0', network: 'n' });
    const watches: string[] = [];
    const watch = store.watch.bind(store);
    store.watch = (prefix, from, h) => (watches.push(prefix), watch(prefix, from, h));
    await a.createPort({ name: 'a1', network: 'n' });
    expect(watches).toEqual([]);
    await b.createPort({ name: 'b0', network: 'n' });
    // a's view does not know b0's address: a loses once, reads, and watches from then on.
    expect((await a.createPort({ name: 'a2', network: 'n' })).fixedIps[0]!.ip).not.toBe('10.0.0.4');
    expect(watches.filter((w) => w.includes('/ip/'))).toHaveLength(1);
    await b.createPort({ name: 'b1', network: 'n' });
    await settle();
    const before = reads;
    await a.createPort({ name: 'a3', network: 'n' });
    expect(reads - before).toBe(0);
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
