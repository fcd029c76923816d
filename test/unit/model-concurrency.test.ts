import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/index.js';
import type { Store } from '../../src/store/types.js';
import { Topology } from '../../src/model/index.js';
import { countingStore } from '../helpers/model-checks.js';

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
  it('creations starting together in a network the server does not know yet share one read of its name', async () => {
    await topo.createNetwork({ name: 'n' });
    await topo.createSubnet({ name: 's', network: 'n', cidr: '10.0.0.0/24' });
    const get = store.get.bind(store);
    let nameReads = 0;
    store.get = (key: string) => {
      if (key.endsWith('/names/network/n')) nameReads++;
      return get(key);
    };
    const fresh = new Topology(store);
    const ports = await Promise.all(Array.from({ length: 30 }, (_, i) => fresh.createPort({ name: `q${i}`, network: 'n' })));
    expect(new Set(ports.map((p) => p.fixedIps[0]!.ip)).size).toBe(30);
    expect(nameReads).toBe(1);
    // A network that does not exist: every creation waiting on the shared read gets the same clear refusal.
    const r = await Promise.allSettled(Array.from({ length: 3 }, (_, i) => fresh.createPort({ name: `z${i}`, network: 'nope' })));
    for (const x of r) expect((x as PromiseRejectedResult).reason).toMatchObject({ code: 'INVALID', field: 'network' });
    fresh.close();
  });
  it('20 parallel network creates get distinct tunnel keys', async () => {
    const nets = await Promise.all(Array.from({ length: 20 }, (_, i) => topo.createNetwork({ name: `n${i}` })));
    expect(new Set(nets.map((n) => n.tunnelKey)).size).toBe(20);
    expect((await topo.listNetworks()).length).toBe(20);
  });
  it('networks, routers, security groups and rules created at once over three servers: keys unique, no convoy; one at a time they count 1, 2, 3', async () => {
    const { store: counting, calls } = countingStore(store);
    const servers = [0, 1, 2].map(() => new Topology(counting, { maxAttempts: 1000 }));
    const N = 150;
    const nets = await Promise.all(Array.from({ length: N }, (_, i) => servers[i % 3]!.createNetwork({ name: `n${i}` })));
    const routers = await Promise.all(Array.from({ length: N }, (_, i) => servers[i % 3]!.createRouter({ name: `r${i}` })));
    const groups = await Promise.all(Array.from({ length: N }, (_, i) => servers[i % 3]!.createSecurityGroup({ name: `g${i}` })));
    const rules = await Promise.all(
      groups.map((g, i) => servers[i % 3]!.addSgRule(g.name, { direction: 'ingress', protocol: 'tcp', portMin: 22, portMax: 22 })),
    );
    expect(new Set(nets.map((n) => n.tunnelKey)).size).toBe(N);
    expect(new Set(routers.map((r) => r.routerKey)).size).toBe(N);
    expect(new Set(groups.map((g) => g.groupKey)).size).toBe(N);
    expect(new Set([...groups.map((g) => g.rules[0]!.ruleKey), ...rules.map((r) => r.ruleKey)]).size).toBe(2 * N);
    for (const k of rules.map((r) => r.ruleKey)) expect(k).toBeLessThan(2 ** 31); // conjunction ids of rules stay in the lower half
    // Racing for the lowest number (each reading the whole pool on every attempt) took ~N²/16 transactions.
    expect(calls.txn).toBeLessThan(4 * N * 2);
    // Only a creation alone in its server reads the pool.
    expect(calls.range.filter((p) => p.includes('/alloc/')).length).toBeLessThan(5 * 12);
    // One at a time, numbers count up from the lowest free: what a user creating them by hand sees.
    const a = await topo.createNetwork({ name: 'alone-1' });
    const b = await topo.createNetwork({ name: 'alone-2' });
    const low = [...Array(N + 2).keys()].map((i) => i + 1).filter((k) => !nets.some((n) => n.tunnelKey === k));
    expect([a.tunnelKey, b.tunnelKey]).toEqual(low.slice(0, 2));
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

// The embedded store runs one transaction at a time and checks compares at commit, like etcd (engine.ts): the same
// races as on etcd (test/integration/model-etcd-scale.test.ts) hold there, with three API servers on one store.
describe.each(['memory', 'level'])('creations at scale in one network on %s (issue 17)', (kind) => {
  let s: Store;
  let dir: string | undefined;
  beforeEach(async () => {
    dir = kind === 'level' ? await mkdtemp(join(tmpdir(), 'wyvern-conc-')) : undefined;
    s = await openStore(dir ? `level:${dir}` : 'memory:');
  });
  afterEach(async () => {
    await s.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('500 concurrent creations over three API servers all succeed, addresses, MACs, keys and claims unique', async () => {
    const apis = [0, 1, 2].map(() => new Topology(s));
    await apis[0]!.createNetwork({ name: 'n' });
    await apis[0]!.createSubnet({ name: 's', network: 'n', cidr: '10.0.0.0/23' });
    const ports = await Promise.all(Array.from({ length: 500 }, (_, i) => apis[i % 3]!.createPort({ name: `p${i}`, network: 'n' })));
    const ips = ports.map((p) => p.fixedIps[0]!.ip);
    expect(new Set(ips).size).toBe(500);
    expect(new Set(ports.map((p) => p.mac)).size).toBe(500);
    expect(new Set(ports.map((p) => p.portKey)).size).toBe(500);
    const netId = ports[0]!.networkId;
    const claims = (await s.range(`/wyvern/v1/claims/${netId}/ip/`)).kvs.map((kv) => kv.key.split('/').pop()).sort();
    expect(claims).toEqual([...ips].sort());
    // Deleting releases the claims: the addresses are free again, for any server.
    await Promise.all(ports.slice(0, 100).map((p, i) => apis[i % 3]!.deletePort(p.name)));
    expect((await s.range(`/wyvern/v1/claims/${netId}/ip/`)).kvs.length).toBe(400);
    expect((await s.range(`/wyvern/v1/claims/${netId}/mac/`)).kvs.length).toBe(400);
  });

  it('a nearly full subnet: exactly the free addresses are given, the rest get "no free address in subnet"', async () => {
    const apis = [0, 1, 2].map(() => new Topology(s));
    await apis[0]!.createNetwork({ name: 'n' });
    await apis[0]!.createSubnet({ name: 'tiny', network: 'n', cidr: '10.0.0.0/27' }); // 29 addresses
    for (let i = 0; i < 20; i++) await apis[1]!.createPort({ name: `t${i}`, network: 'n' });
    const r = await Promise.allSettled(Array.from({ length: 30 }, (_, i) => apis[i % 3]!.createPort({ name: `u${i}`, network: 'n' })));
    expect(r.filter((x) => x.status === 'fulfilled').length).toBe(9);
    for (const x of r.filter((y): y is PromiseRejectedResult => y.status === 'rejected'))
      expect(x.reason).toMatchObject({ code: 'CONFLICT', message: 'no free address in subnet tiny (10.0.0.0/27)' });
  });

  it('a port deleted on another server frees its address for a server whose view still lists it', async () => {
    const [a, b] = [new Topology(s), new Topology(s)];
    await a.createNetwork({ name: 'n' });
    await a.createSubnet({ name: 'tiny', network: 'n', cidr: '10.0.0.0/29' }); // 5 addresses
    for (let i = 0; i < 5; i++) await a.createPort({ name: `t${i}`, network: 'n' });
    await b.deletePort('t2');
    // a's view holds t2's address as taken: the refusal is decided on a fresh read, which finds it free.
    const p = await a.createPort({ name: 'again', network: 'n' });
    expect(p.fixedIps[0]!.ip).toBe('10.0.0.4');
  });
});

// Deterministic interleavings (issue 17): a port created between a structural writer's read and its commit. Port
// creations no longer bump the structure guard, so each of these writers must notice through the guard it compares.
describe("a port created between a structural write's read and its commit", () => {
  let s: Store;
  beforeEach(async () => {
    s = await openStore('memory:');
  });
  afterEach(async () => {
    await s.close();
  });

  /** Runs `sneak` once, just before the first transaction that `isTarget` recognises reaches the store. */
  function before(isTarget: (ops: Parameters<Store['txn']>[1]) => boolean, sneak: () => Promise<unknown>): void {
    const txn = s.txn.bind(s);
    let done = false;
    s.txn = async (cmps, ops, fail) => {
      if (!done && isTarget(ops)) {
        done = true;
        await sneak();
      }
      return txn(cmps, ops, fail);
    };
  }

  it('a subnet delete: refused, naming the port (its subnet guard moved)', async () => {
    const [a, b] = [new Topology(s), new Topology(s)];
    await a.createNetwork({ name: 'n' });
    const sub = await a.createSubnet({ name: 'sub', network: 'n', cidr: '10.0.0.0/24' });
    before(
      (ops) => ops.some((o) => o.op === 'delete' && o.key.endsWith(`/subnets/${sub.id}`)),
      () => b.createPort({ name: 'sneaky', network: 'n' }),
    );
    await expect(a.deleteSubnet('sub')).rejects.toMatchObject({
      code: 'CONFLICT',
      message: expect.stringMatching(/still has ports.*sneaky/),
    });
    expect((await a.listSubnets('n')).map((x) => x.name)).toEqual(['sub']);
  });

  it('a network delete: refused (its ports guard moved)', async () => {
    const [a, b] = [new Topology(s), new Topology(s)];
    const net = await a.createNetwork({ name: 'n' });
    before(
      (ops) => ops.some((o) => o.op === 'delete' && o.key.endsWith(`/networks/${net.id}`)),
      () => b.createPort({ name: 'sneaky', network: 'n', fixedIps: [] }),
    );
    await expect(a.deleteNetwork('n')).rejects.toMatchObject({ code: 'CONFLICT', message: expect.stringMatching(/1 port/) });
    expect((await a.listPorts('n')).map((p) => p.name)).toEqual(['sneaky']);
  });

  it('a router interface on the address the port took: refused (the ports guard moved)', async () => {
    const [a, b] = [new Topology(s), new Topology(s)];
    await a.createNetwork({ name: 'n' });
    await a.createSubnet({ name: 'sub', network: 'n', cidr: '10.0.0.0/24' });
    const r = await a.createRouter({ name: 'r' });
    before(
      (ops) => ops.some((o) => o.op === 'put' && o.key.endsWith(`/routers/${r.id}`)),
      () => b.createPort({ name: 'sneaky', network: 'n', fixedIps: [{ ip: '10.0.0.9' }] }),
    );
    await expect(a.attachSubnet('r', { subnet: 'sub', ip: '10.0.0.9' })).rejects.toMatchObject({
      code: 'CONFLICT',
      message: 'IP 10.0.0.9 is already used by port sneaky',
    });
  });

  it('a port delete racing a creation of another port: both succeed (they do not conflict)', async () => {
    const [a, b] = [new Topology(s), new Topology(s)];
    await a.createNetwork({ name: 'n' });
    await a.createSubnet({ name: 'sub', network: 'n', cidr: '10.0.0.0/24' });
    const old = await a.createPort({ name: 'old', network: 'n' });
    let txns = 0;
    const txn = s.txn.bind(s);
    s.txn = async (...args) => (txns++, txn(...args));
    before(
      (ops) => ops.some((o) => o.op === 'delete' && o.key.endsWith(`/ports/${old.id}`)),
      () => b.createPort({ name: 'new', network: 'n' }),
    );
    await a.deletePort('old');
    expect(txns).toBe(2); // the delete and the creation, each once: no retry
    expect((await a.listPorts('n')).map((p) => p.name)).toEqual(['new']);
  });
});
