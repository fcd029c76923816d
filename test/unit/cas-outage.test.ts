/**
 * runCas through a store that fails to answer (UNAVAILABLE): a commit it did not answer may have been made, so a
 * request that can tell (its plan's `landed`) looks for it before planning again, and is answered as made once; one
 * that cannot is failed at once; reads are tried again until the request's outage deadline. Then port creation on
 * a store whose answers are lost (the same through `wyvern api` on a 3-member etcd losing its leader:
 * api-burst-faults).
 */
import { describe, expect, it } from 'vitest';
import { runCas, type Plan } from '../../src/model/cas.js';
import { conflict } from '../../src/model/errors.js';
import { revisionOf, type IfMatch } from '../../src/model/precondition.js';
import { bindPort, getRetirement, registerChassis } from '../../src/model/chassis.js';
import { Topology } from '../../src/model/repo.js';
import type { TopologyDocument } from '../../src/model/types.js';
import type { ImportResult } from '../../src/model/topology-io.js';
import { clearSiteGateway, getSite, setSiteGateway, updateNetworkTopology } from '../../src/model/star-sites.js';
import { createMemoryStore } from '../../src/store/memory.js';
import { StoreError, type Compare, type Store, type TxnOp, type TxnResult } from '../../src/store/types.js';

const down = () => new StoreError('etcd unreachable: deadline exceeded', 'UNAVAILABLE');

/** A plan writing `key` once (create-if-absent), whose `landed` reads it back. */
function planOf(store: Store, key: string, value: string, log: string[]): (attempt: number) => Promise<Plan<string>> {
  return async (attempt) => {
    log.push(`plan ${attempt}`);
    const cur = await store.get(key);
    if (cur && cur.value !== value) throw conflict('name', `${key} is taken`);
    if (cur) throw conflict('name', `${key} exists`);
    return {
      compares: [{ key, modRevision: 0 }],
      ops: [{ op: 'put', key, value }],
      result: `${value} (planned at attempt ${attempt})`,
      landed: async () => ((await store.get(key))?.value === value ? `${value} (found)` : undefined),
    };
  };
}

/** store.txn that fails the listed calls (1-based): 'lost' applies the transaction, then fails; 'refused' fails only. */
function flakyTxn(store: Store, faults: Record<number, 'lost' | 'refused'>): Store['txn'] {
  let n = 0;
  return async (compares: Compare[], ops: TxnOp[]): Promise<TxnResult> => {
    const f = faults[++n];
    if (f === 'refused') throw down();
    const r = await store.txn(compares, ops);
    if (f === 'lost') throw down();
    return r;
  };
}

describe('runCas when the store fails to answer', () => {
  it('a commit made but not answered is found, not made again', async () => {
    const store = createMemoryStore();
    const log: string[] = [];
    const r = await runCas(store, planOf(store, '/k', 'mine', log), {
      txn: flakyTxn(store, { 1: 'lost' }),
      outageUntil: Date.now() + 5_000,
    });
    expect(r).toBe('mine (found)');
    expect(log).toEqual(['plan 0']);
  });

  it('a commit not made is planned again and made', async () => {
    const store = createMemoryStore();
    const log: string[] = [];
    const r = await runCas(store, planOf(store, '/k', 'mine', log), {
      txn: flakyTxn(store, { 1: 'refused', 2: 'refused' }),
      outageUntil: Date.now() + 5_000,
    });
    expect(r).toBe('mine (planned at attempt 0)');
    expect(log).toEqual(['plan 0', 'plan 0', 'plan 0']);
    expect((await store.get('/k'))?.value).toBe('mine');
  });

  it('a commit that lands after the request looked for it: the new plan, refused on what it made, finds it', async () => {
    const store = createMemoryStore();
    const log: string[] = [];
    let n = 0;
    // The first commit is not answered and lands only after the request has looked for it (after runCas's first
    // wait, 100 ms: a transaction still in the old leader's log, committed by the new one), before its next plan reads.
    let late: Promise<unknown> | undefined;
    const txn: Store['txn'] = async (c, o) => {
      if (++n === 1) {
        late = new Promise((r) => setTimeout(r, 150)).then(() => store.txn(c, o));
        throw down();
      }
      return store.txn(c, o);
    };
    const plan = planOf(store, '/k', 'mine', log);
    const r = await runCas(
      store,
      async (attempt) => {
        await late;
        return plan(attempt);
      },
      { txn, outageUntil: Date.now() + 5_000 },
    );
    expect(r).toBe('mine (found)');
    expect(log).toEqual(['plan 0', 'plan 0']);
  });

  it('someone else taking the name is still a conflict', async () => {
    const store = createMemoryStore();
    const log: string[] = [];
    const txn: Store['txn'] = async () => {
      await store.put('/k', 'theirs');
      throw down();
    };
    await expect(runCas(store, planOf(store, '/k', 'mine', log), { txn, outageUntil: Date.now() + 5_000 })).rejects.toThrow('/k is taken');
  });

  it('without a deadline, or without `landed`, the failure is the answer at once', async () => {
    const store = createMemoryStore();
    await expect(runCas(store, planOf(store, '/a', 'v', []), { txn: flakyTxn(store, { 1: 'refused' }) })).rejects.toThrow(StoreError);
    let plans = 0;
    const blind = async (): Promise<Plan<string>> => {
      plans++;
      return { compares: [], ops: [{ op: 'put', key: '/b', value: 'v' }], result: 'b' };
    };
    await expect(runCas(store, blind, { txn: flakyTxn(store, { 1: 'lost' }), outageUntil: Date.now() + 5_000 })).rejects.toThrow(
      StoreError,
    );
    expect(plans).toBe(1);
  });

  it('a replannable commit (a PATCH) the store did not answer is planned again: made once, or seen made and not written again', async () => {
    const store = createMemoryStore();
    const plans: string[] = [];
    const patch = async (): Promise<Plan<string>> => {
      const cur = await store.get('/k');
      plans.push(cur?.value ?? 'absent');
      if (cur?.value === 'patched') return { compares: [], ops: [], result: 'already' };
      return { compares: [], ops: [{ op: 'put', key: '/k', value: 'patched' }], result: 'written', replannable: true };
    };
    expect(await runCas(store, patch, { txn: flakyTxn(store, { 1: 'lost' }), outageUntil: Date.now() + 5_000 })).toBe('already');
    expect(plans).toEqual(['absent', 'patched']);
    await store.delete('/k');
    expect(await runCas(store, patch, { txn: flakyTxn(store, { 1: 'refused' }), outageUntil: Date.now() + 5_000 })).toBe('written');
    // Without a deadline it is still the caller's to decide.
    await store.delete('/k');
    await expect(runCas(store, patch, { txn: flakyTxn(store, { 1: 'lost' }) })).rejects.toThrow(StoreError);
  });

  it('reads failing are tried again until the deadline, then the failure is the answer', async () => {
    const store = createMemoryStore();
    let reads = 0;
    const t0 = Date.now();
    const failing = async (): Promise<Plan<string>> => {
      reads++;
      throw down();
    };
    await expect(runCas(store, failing, { outageUntil: t0 + 600 })).rejects.toThrow('etcd unreachable');
    expect(Date.now() - t0).toBeLessThan(1_500);
    expect(reads).toBeGreaterThanOrEqual(3);
    let ok = 0;
    const recovering = async (): Promise<Plan<string>> => {
      if (++ok < 3) throw down();
      return { compares: [], ops: [], result: 'read' };
    };
    expect(await runCas(store, recovering, { outageUntil: Date.now() + 5_000 })).toBe('read');
  });
});

/** A memory store holding network n with subnet s (10.0.0.0/24), and a Topology on it. */
async function withNetwork(): Promise<{ store: Store; topo: Topology }> {
  const store = createMemoryStore();
  const topo = new Topology(store);
  await topo.createNetwork({ name: 'n' });
  await topo.createSubnet({ name: 's', network: 'n', cidr: '10.0.0.0/24' });
  return { store, topo };
}

/** Fails `store`'s transactions from now on as flakyTxn says (in place: every Topology on it sees it). */
function loseAnswers(store: Store, faults: Record<number, 'lost' | 'refused'>): void {
  const real = { txn: store.txn.bind(store) } as Store;
  store.txn = flakyTxn(real, faults);
}

describe('port creation and deletion when the store loses answers', () => {
  it('an answer lost: the port is made once and answered as made; a commit refused: made on the next plan', async () => {
    const { store, topo } = await withNetwork();
    loseAnswers(store, { 1: 'lost', 2: 'refused' });
    const p = await topo.createPort({ name: 'p1', network: 'n' });
    const q = await topo.createPort({ name: 'p2', network: 'n' });
    const ports = await topo.listPorts('n');
    expect(ports.map((x) => x.name).sort()).toEqual(['p1', 'p2']);
    expect(ports.find((x) => x.name === 'p1')).toMatchObject({ id: p.id, mac: p.mac, fixedIps: p.fixedIps });
    expect(ports.find((x) => x.name === 'p2')).toMatchObject({ id: q.id, mac: q.mac, fixedIps: q.fixedIps });
    topo.close();
  });

  it('a deletion whose answer is lost is answered as made (not 404); one refused is made on the next plan', async () => {
    const { store, topo } = await withNetwork();
    const a = await topo.createPort({ name: 'a', network: 'n' });
    const b = await topo.createPort({ name: 'b', network: 'n' });
    loseAnswers(store, { 1: 'lost', 2: 'refused' });
    expect((await topo.deletePort('a')).id).toBe(a.id);
    expect((await topo.deletePort('b')).id).toBe(b.id);
    expect(await topo.listPorts('n')).toEqual([]);
    topo.close();
  });

  it('networks, subnets, routers, security groups, rules and floating IPs: each creation and deletion whose answer is lost is answered as made, once', async () => {
    const store = createMemoryStore();
    const topo = new Topology(store);
    // Every transaction's answer lost: each request is answered from what it finds it made.
    const all = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [i + 1, 'lost' as const]));
    loseAnswers(store, all);
    const n = await topo.createNetwork({ name: 'n' });
    const sub = await topo.createSubnet({ name: 's', network: 'n', cidr: '10.0.0.0/24' });
    const r = await topo.createRouter({ name: 'r' });
    const g = await topo.createSecurityGroup({ name: 'g' });
    expect((await topo.listNetworks()).map((x) => x.id)).toEqual([n.id]);
    expect((await topo.listSubnets()).map((x) => x.id)).toEqual([sub.id]);
    expect((await topo.listRouters()).map((x) => x.id)).toEqual([r.id]);
    expect((await topo.listSecurityGroups()).map((x) => x.id)).toEqual([g.id]);
    expect(await topo.getNetwork('n')).toEqual(n);
    const rule = await topo.addSgRule('g', { direction: 'ingress', protocol: 'tcp', portMin: 22, portMax: 22 });
    expect((await topo.getSecurityGroup('g')).rules.filter((x) => x.id === rule.id)).toEqual([rule]);
    await topo.createNetwork({ name: 'ext', provider: { physnet: 'physnet1' } });
    await topo.createSubnet({ name: 'ext-s', network: 'ext', cidr: '203.0.113.0/24', enableDhcp: false });
    const fip = await topo.createFloatingIp({ network: 'ext' });
    expect(await topo.listFloatingIps()).toEqual([fip]);
    expect((await topo.deleteSubnet('s')).id).toBe(sub.id);
    expect((await topo.deleteNetwork('n')).id).toBe(n.id);
    expect((await topo.listNetworks()).map((x) => x.name)).toEqual(['ext']);
    expect((await topo.listSubnets()).map((x) => x.name)).toEqual(['ext-s']);
    topo.close();
  });
});

/** A store with a live chassis on physnet1 and a provider network `ext` (203.0.113.0/24) a gateway can use. */
async function withNorthSouth(): Promise<{ store: Store; topo: Topology }> {
  const store = createMemoryStore();
  const topo = new Topology(store);
  const lease = await store.grantLease(60);
  await registerChassis(store, { name: 'hv1', tunnelIp: '172.31.9.1', encaps: ['vxlan'], version: '0.1.0', physnets: ['physnet1'] }, lease);
  await topo.createNetwork({ name: 'ext', provider: { physnet: 'physnet1' } });
  await topo.createSubnet({ name: 'ext-s', network: 'ext', cidr: '203.0.113.0/24', enableDhcp: false });
  return { store, topo };
}

/** The store holds `doc` as imported, and importing it again writes nothing. */
async function expectHoldsOnce(topo: Topology, doc: TopologyDocument): Promise<void> {
  expect(await topo.exportTopology()).toEqual(doc);
  expect((await topo.importTopology(doc)).written).toBe(0);
}

/**
 * The export of a network of `ports` ports imported into a new store that `fault` has rigged first: the import's
 * result, once the store is seen to hold the document, once (expectHoldsOnce).
 */
async function importThrough(ports: number, fault: (store: Store) => void): Promise<ImportResult> {
  const doc = await exportedWithPorts(ports);
  const store = createMemoryStore();
  const topo = new Topology(store);
  fault(store);
  const r = await topo.importTopology(doc);
  await expectHoldsOnce(topo, doc);
  topo.close();
  return r;
}

/** The export of a network `n` holding `ports` ports: a document whose import takes several chunks (100 keys each). */
async function exportedWithPorts(ports: number): Promise<TopologyDocument> {
  const { topo } = await withNetwork();
  await Promise.all(Array.from({ length: ports }, (_, i) => topo.createPort({ name: `p${i}`, network: 'n' })));
  const doc = await topo.exportTopology();
  topo.close();
  return doc;
}

describe('every other northbound write when the store loses answers', () => {
  it('updates, interfaces, routes, gateways, associations, site candidates and deletes: each answered as made, none refused on its own change', async () => {
    const { store, topo } = await withNorthSouth();
    await topo.createNetwork({ name: 'n' });
    const sub = await topo.createSubnet({ name: 's', network: 'n', cidr: '10.0.0.0/24' });
    const r = await topo.createRouter({ name: 'r' });
    const g = await topo.createSecurityGroup({ name: 'g' });
    const rule = await topo.addSgRule('g', { direction: 'ingress', protocol: 'tcp', portMin: 22, portMax: 22 });
    const vm = await topo.createPort({ name: 'vm', network: 'n' });
    const fip = await topo.createFloatingIp({ network: 'ext' });
    // From here every transaction is made and its answer lost: planned again, most of these would refuse (already
    // attached, no such route, no gateway, not found) on the request's own change.
    loseAnswers(store, Object.fromEntries(Array.from({ length: 60 }, (_, i) => [i + 1, 'lost' as const])));

    expect((await topo.attachSubnet('r', { subnet: 's' })).interfaces).toEqual([
      expect.objectContaining({ subnetId: sub.id, ip: '10.0.0.1' }),
    ]);
    expect((await topo.addRoute('r', { cidr: '192.168.0.0/24', nexthop: '10.0.0.5' })).routes).toEqual([
      { cidr: '192.168.0.0/24', nexthop: '10.0.0.5' },
    ]);
    const gw = (await topo.setGateway('r', { network: 'ext' })).gateway!;
    expect((await topo.setRouterMode('r', 'reactive')).mode).toBe('reactive');
    expect((await topo.updatePort('vm', { securityGroups: ['g'] })).securityGroups).toEqual([g.id]);
    expect((await topo.updateFloatingIp(fip.id, { port: 'vm' })).portId).toBe(vm.id);
    expect(await updateNetworkTopology(store, 'n', { topology: 'star' })).toMatchObject({ topology: 'star' });
    expect((await setSiteGateway(store, 'west', { chassis: ['hv9'] })).gatewayCandidates).toEqual(['hv9']);
    const held = await topo.getRouter('r');
    expect(held).toMatchObject({ mode: 'reactive', gateway: gw, routes: [{ cidr: '192.168.0.0/24', nexthop: '10.0.0.5' }] });
    expect(held.interfaces.map((i) => i.subnetId)).toEqual([sub.id]);
    expect((await topo.getFloatingIp(fip.id)).portId).toBe(vm.id);

    expect((await topo.updateFloatingIp(fip.id, { port: null })).portId).toBeUndefined();
    expect((await topo.removeRoute('r', '192.168.0.0/24')).routes).toEqual([]);
    expect((await topo.clearGateway('r')).gateway).toBeUndefined();
    expect((await topo.detachSubnet('r', 's')).interfaces).toEqual([]);
    expect((await topo.deleteSgRule('g', rule.id)).id).toBe(rule.id);
    expect((await topo.deleteFloatingIp(fip.id)).id).toBe(fip.id);
    expect((await topo.updatePort('vm', { securityGroups: [] })).securityGroups).toEqual([]);
    expect((await topo.deleteSecurityGroup('g')).id).toBe(g.id);
    expect((await topo.deleteRouter('r')).id).toBe(r.id);
    expect(await clearSiteGateway(store, 'west')).toEqual({ name: 'west', cleared: true });

    expect(await topo.listRouters()).toEqual([]);
    expect(await topo.listFloatingIps()).toEqual([]);
    expect(await topo.listSecurityGroups()).toEqual([]);
    expect((await getSite(store, 'west').catch(() => undefined))?.gatewayCandidates ?? []).toEqual([]);
    // Nothing the deletes held is left: names, pool claims, address claims (the port's own stay).
    const left = (await store.range('/wyvern/v1/')).kvs.map((kv) => kv.key);
    expect(left.filter((k) => k.includes(r.id) || k.includes(g.id) || k.includes(fip.id))).toEqual([]);
    topo.close();
  });

  it('the same writes with If-Match, the revision read just before each: each answered as made, none refused (412) on its own change', async () => {
    const { store, topo } = await withNorthSouth();
    await topo.createNetwork({ name: 'n' });
    await topo.createSubnet({ name: 's', network: 'n', cidr: '10.0.0.0/24' });
    await topo.createRouter({ name: 'r' });
    await topo.createSecurityGroup({ name: 'g' });
    const vm = await topo.createPort({ name: 'vm', network: 'n' });
    const fip = await topo.createFloatingIp({ network: 'ext' });
    /** The If-Match of what a read of it shows now (the ETag a client holds). */
    const now = (obj: unknown): IfMatch => ({ revisions: [revisionOf(obj)!], text: `"${revisionOf(obj)}"` });
    // Every transaction from here is made and its answer lost: planned again, each finds its object at the revision
    // its own commit wrote, not the one its condition names.
    loseAnswers(store, Object.fromEntries(Array.from({ length: 60 }, (_, i) => [i + 1, 'lost' as const])));
    const router = () => topo.getRouter('r');
    expect((await topo.attachSubnet('r', { subnet: 's' }, now(await router()))).interfaces).toHaveLength(1);
    expect((await topo.addRoute('r', { cidr: '192.168.0.0/24', nexthop: '10.0.0.5' }, now(await router()))).routes).toHaveLength(1);
    expect((await topo.setGateway('r', { network: 'ext' }, now(await router()))).gateway).toBeDefined();
    expect((await topo.setRouterMode('r', 'reactive', now(await router()))).mode).toBe('reactive');
    const g = await topo.getSecurityGroup('g');
    expect((await topo.updatePort('vm', { securityGroups: ['g'] }, now(await topo.getPort('vm')))).securityGroups).toEqual([g.id]);
    expect((await topo.updateFloatingIp(fip.id, { port: 'vm' }, now(await topo.getFloatingIp(fip.id)))).portId).toBe(vm.id);
    expect(await updateNetworkTopology(store, 'n', { topology: 'star' }, now(await topo.getNetwork('n')))).toMatchObject({
      topology: 'star',
    });
    const rule = await topo.addSgRule(
      'g',
      { direction: 'ingress', protocol: 'tcp', portMin: 22, portMax: 22 },
      now(await topo.getSecurityGroup('g')),
    );
    expect(rule.portMin).toBe(22);
    expect((await topo.updateFloatingIp(fip.id, { port: null }, now(await topo.getFloatingIp(fip.id)))).portId).toBeUndefined();
    expect((await topo.removeRoute('r', '192.168.0.0/24', now(await router()))).routes).toEqual([]);
    expect((await topo.clearGateway('r', now(await router()))).gateway).toBeUndefined();
    expect((await topo.detachSubnet('r', 's', now(await router()))).interfaces).toEqual([]);
    expect((await topo.deleteSgRule('g', rule.id, now(await topo.getSecurityGroup('g')))).id).toBe(rule.id);
    expect((await topo.deleteFloatingIp(fip.id, now(await topo.getFloatingIp(fip.id)))).id).toBe(fip.id);
    expect((await topo.updatePort('vm', { securityGroups: [] }, now(await topo.getPort('vm')))).securityGroups).toEqual([]);
    expect((await topo.deleteSecurityGroup('g', {}, now(await topo.getSecurityGroup('g')))).id).toBe(g.id);
    expect((await topo.deleteRouter('r', now(await router()))).name).toBe('r');
    expect((await topo.deletePort('vm', now(await topo.getPort('vm')))).id).toBe(vm.id);
    expect(await topo.listRouters()).toEqual([]);
    expect(await topo.listFloatingIps()).toEqual([]);
    expect(await topo.listSecurityGroups()).toEqual([]);
    expect(await topo.listPorts('n')).toEqual([]);
    topo.close();
  });

  it('a topology import whose chunks are lost or refused is imported again from a new read: the whole document, once', async () => {
    // The first chunk made and its answer lost, the second (of the next pass) refused: two passes more.
    const r = await importThrough(30, (store) => loseAnswers(store, { 1: 'lost', 2: 'refused' }));
    expect(r.unchanged).toBeGreaterThan(0); // the lost chunk, found written
  });

  it("a topology import whose lost chunk lands only after the next pass read the store: found made, not 409 're-run'", async () => {
    // The first chunk goes unanswered and is not made yet (still in a leader's log); it lands right before the next
    // pass's first chunk, which that pass planned from a read without it.
    const r = await importThrough(60, (store) => {
      const real = store.txn.bind(store);
      let late: Parameters<Store['txn']> | undefined;
      let n = 0;
      store.txn = async (c, o) => {
        n++;
        if (n === 1) {
          late = [c, o];
          throw down();
        }
        if (n === 2) await real(...late!);
        return real(c, o);
      };
    });
    expect(r.unchanged).toBeGreaterThanOrEqual(100); // the late chunk's keys, found holding what the import writes
  });

  it('two imports of one document at once both succeed; one racing a different writer names the key and says so', async () => {
    const doc = await exportedWithPorts(150);
    const store = createMemoryStore();
    const x = new Topology(store);
    const [r1, r2] = await Promise.all([x.importTopology(doc), new Topology(store).importTopology(doc)]);
    expect(r1.written + r2.written).toBeGreaterThan(0);
    expect(await x.exportTopology()).toEqual(doc);
    // A port name claimed by another port between the import's read and its write: the import stops naming it.
    const other = createMemoryStore();
    const z = new Topology(other);
    const real = other.txn.bind(other);
    let first = true;
    other.txn = async (c, o) => {
      if (first) {
        first = false;
        await real([], [{ op: 'put', key: c[0]!.key, value: '{"id":"someone-else"}' }]);
      }
      return real(c, o);
    };
    await expect(z.importTopology(doc)).rejects.toThrow(/import raced with another writer: .* written meanwhile with other contents/);
    x.close();
    z.close();
  });

  it('a chassis delete (forced, its bindings with it) whose answer is lost is answered as made, not 404', async () => {
    const { store, topo } = await withNetwork();
    const p = await topo.createPort({ name: 'vm', network: 'n' });
    const lease = await store.grantLease(60);
    await registerChassis(store, { name: 'hv1', tunnelIp: '172.31.9.1', encaps: ['vxlan'], version: '0.1.0' }, lease);
    await bindPort(store, p.networkId, p.id, 'hv1');
    loseAnswers(store, { 1: 'lost' });
    expect(await topo.deleteChassis('hv1', { force: true })).toMatchObject({ name: 'hv1', bindingsRemoved: ['vm'] });
    expect(await getRetirement(store, 'hv1')).toMatchObject({ bindingsRemoved: ['vm'] });
    expect((await topo.getPort('vm')).binding).toBeUndefined();
    topo.close();
  });
});
