/**
 * The lazy index of routers and floating IPs (issue 17, model/lazy-index.ts) on a memory store: after every write
 * through the model the index is exactly what the stored routers and FIPs call for, written in the same
 * transaction; a change that moves no index key writes none; objects written before the index existed are indexed
 * once per store, by one agent.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/index.js';
import type { Store } from '../../src/store/types.js';
import {
  decodeFloatingIp,
  decodeRouter,
  encodeRouter,
  FIPS_PREFIX,
  registerChassis,
  ROUTERS_PREFIX,
  routerKey,
  Topology,
} from '../../src/model/index.js';
import { memoryTopology, modelChecks } from '../helpers/model-checks.js';
import { auditLazyIndex, ensureLazyIndex, fipIndexKeys, routerIndexKeys } from '../../src/model/lazy-index.js';
import { auditTurn, indexUntilDone } from '../../src/agent/lazy-index.js';
import { silentLogger } from '../../src/util/log.js';
import { loadNetState, type NetState } from '../../src/model/read.js';
import {
  GATEWAY_OF_PREFIX,
  guardKey,
  LAZY_INDEX_AUDITOR_KEY,
  LAZY_INDEX_KEY,
  nameKey,
  parseKey,
  ROOT,
  routerRefKey,
} from '../../src/model/keys.js';

const mem = memoryTopology();
const { raceOnce } = modelChecks(() => mem.store);
let store: Store;
let topo: Topology;
beforeEach(() => void ({ store, topo } = mem));

/** The index keys in the store. */
async function stored(): Promise<string[]> {
  const { kvs } = await store.range(ROOT);
  return kvs
    .map((kv) => kv.key)
    .filter((k) => ['router-ref', 'fip-ref', 'gateway-of', 'fip-on'].includes(parseKey(k)?.kind ?? ''))
    .sort();
}

/** The index keys the stored routers and FIPs call for. */
async function derived(): Promise<string[]> {
  const out = new Set<string>();
  for (const kv of (await store.range(ROUTERS_PREFIX)).kvs) for (const k of routerIndexKeys(decodeRouter(kv.value))) out.add(k);
  for (const kv of (await store.range(FIPS_PREFIX)).kvs) for (const k of fipIndexKeys(decodeFloatingIp(kv.value))) out.add(k);
  return [...out].sort();
}

async function consistent(): Promise<string[]> {
  const s = await stored();
  expect(s).toEqual(await derived());
  return s;
}

async function world(): Promise<void> {
  const lease = await store.grantLease(60);
  for (const name of ['hv1', 'hv2', 'hv3'])
    await registerChassis(store, { name, tunnelIp: '172.31.9.1', encaps: ['vxlan'], version: '0.1.0', physnets: ['physnet1'] }, lease);
  await topo.createNetwork({ name: 'ext', provider: { physnet: 'physnet1' } });
  await topo.createSubnet({ name: 'ext-s', network: 'ext', cidr: '203.0.113.0/24', gatewayIp: '203.0.113.1', enableDhcp: false });
  for (const [n, cidr] of [
    ['blue', '10.0.0.0/24'],
    ['red', '10.0.1.0/24'],
  ] as const) {
    await topo.createNetwork({ name: n });
    await topo.createSubnet({ name: `${n}-a`, network: n, cidr });
  }
  await topo.createPort({ name: 'vm1', network: 'blue' });
}

describe('the lazy index follows every router and FIP write', () => {
  it('interfaces, gateway and its candidates, routes, FIPs, port and router deletes', async () => {
    await world();
    const blue = await topo.getNetwork('blue');
    const red = await topo.getNetwork('red');
    const ext = await topo.getNetwork('ext');
    const r = await topo.createRouter({ name: 'r1' });
    expect(await consistent()).toEqual([]);
    await topo.attachSubnet('r1', { subnet: 'blue-a' });
    expect(await consistent()).toEqual([routerRefKey(blue.id, r.id)]);
    await topo.attachSubnet('r1', { subnet: 'red-a' });
    await topo.setGateway('r1', { network: 'ext', chassis: ['hv1', 'hv2'] });
    const withGateway = await consistent();
    expect(withGateway).toEqual(
      [
        routerRefKey(blue.id, r.id),
        routerRefKey(red.id, r.id),
        routerRefKey(ext.id, r.id),
        `${GATEWAY_OF_PREFIX}hv1/${r.id}`,
        `${GATEWAY_OF_PREFIX}hv2/${r.id}`,
      ].sort(),
    );
    // A change that moves no index key writes none: nobody watching the networks hears of it.
    const before = await store.get(routerRefKey(blue.id, r.id));
    await topo.addRoute('r1', { cidr: '192.168.0.0/16', nexthop: '10.0.1.5' });
    await topo.setGateway('r1', { network: 'ext', chassis: ['hv2', 'hv3'] });
    expect((await store.get(routerRefKey(blue.id, r.id)))!.modRevision).toBe(before!.modRevision);
    expect(await consistent()).toContain(`${GATEWAY_OF_PREFIX}hv3/${r.id}`);
    expect(await stored()).not.toContain(`${GATEWAY_OF_PREFIX}hv1/${r.id}`);

    const f = await topo.createFloatingIp({ network: 'ext', port: 'vm1' });
    expect(await consistent()).toContain(`/wyvern/v1/net/${blue.id}/fips/${f.id}`);
    await topo.updateFloatingIp(f.id, { port: null });
    expect(await consistent()).not.toContain(`/wyvern/v1/net/${blue.id}/fips/${f.id}`);
    await topo.updateFloatingIp(f.id, { port: 'vm1' });
    expect(await consistent()).toContain(`/wyvern/v1/net/${blue.id}/fips/${f.id}`);
    // The port's delete disassociates its FIP in the same transaction, index included.
    await topo.deletePort('vm1');
    expect(await consistent()).not.toContain(`/wyvern/v1/net/${blue.id}/fips/${f.id}`);
    await topo.deleteFloatingIp(f.id);
    await topo.removeRoute('r1', '192.168.0.0/16');
    await topo.detachSubnet('r1', 'red-a');
    expect(await consistent()).not.toContain(routerRefKey(red.id, r.id));
    await topo.clearGateway('r1');
    expect(await consistent()).toEqual([routerRefKey(blue.id, r.id)]);
    await topo.setGateway('r1', { network: 'ext', chassis: ['hv1'] });
    await topo.deleteRouter('r1');
    expect(await consistent()).toEqual([]);
  });

  it('an import writes the index of what it brings; a re-import writes nothing', async () => {
    await world();
    await topo.createRouter({ name: 'r1' });
    await topo.attachSubnet('r1', { subnet: 'blue-a' });
    await topo.setGateway('r1', { network: 'ext', chassis: ['hv1'] });
    await topo.createFloatingIp({ network: 'ext', port: 'vm1' });
    const doc = await topo.exportTopology();
    const want = await consistent();
    expect(want.length).toBe(5);

    const other = await openStore('memory:');
    try {
      const res = await new Topology(other).importTopology(doc);
      const { kvs } = await other.range(ROOT);
      const keys = kvs.map((kv) => kv.key);
      for (const k of want) expect(keys).toContain(k);
      expect((await new Topology(other).importTopology(doc)).written).toBe(0);
      expect(res.written).toBeGreaterThan(0);
    } finally {
      await other.close();
    }
  });
});

describe('a router on more networks than one transaction can write', () => {
  it('is deleted in steps (interfaces shed 60 networks at a time), leaving no key of it and every network told', async () => {
    await world();
    const nets: string[] = [];
    for (let i = 0; i < 150; i++) {
      nets.push((await topo.createNetwork({ name: `n${i}` })).id);
      await topo.createSubnet({ name: `n${i}-s`, network: `n${i}`, cidr: `10.9.${i}.0/24` });
    }
    const r = await topo.createRouter({ name: 'big' });
    for (let i = 0; i < 150; i++) await topo.attachSubnet('big', { subnet: `n${i}-s`, ...(i === 7 ? { ip: '10.9.7.20' } : {}) });
    await topo.attachSubnet('big', { subnet: 'blue-a' });
    await topo.addRoute('big', { cidr: '192.168.0.0/16', nexthop: '10.9.149.5' });
    await topo.setGateway('big', { network: 'ext', chassis: ['hv1', 'hv2', 'hv3'] });
    expect((await consistent()).length).toBe(151 + 1 + 3);
    const guards = async () => Promise.all(nets.map(async (n) => (await store.get(guardKey(n)))?.modRevision ?? 0));
    const before = await guards();
    // Floating IPs on its gateway refuse the delete before anything is written.
    const f = await topo.createFloatingIp({ network: 'ext', port: 'vm1' });
    const revision = await store.currentRevision();
    await expect(topo.deleteRouter('big')).rejects.toThrow(/router path of floating IP/);
    expect(await store.currentRevision()).toBe(revision);
    await topo.deleteFloatingIp(f.id);
    // So does one associated through it just before the first step commits: nothing is shed.
    raceOnce(() => topo.createFloatingIp({ network: 'ext', port: 'vm1' }));
    await expect(topo.deleteRouter('big')).rejects.toThrow(/router path of floating IP/);
    expect((await topo.getRouter('big')).interfaces.length).toBe(151);
    await topo.deleteFloatingIp((await topo.listFloatingIps())[0]!.id);

    const deleted = await topo.deleteRouter('big');
    expect(deleted.interfaces.length).toBe(151);
    expect(deleted.routes.length).toBe(1);
    expect(await consistent()).toEqual([]);
    const { kvs } = await store.range(ROOT);
    expect(kvs.filter((kv) => kv.key.includes(r.id) || kv.value.includes(r.id)).map((kv) => kv.key)).toEqual([]);
    expect(await store.get(nameKey('router', 'big'))).toBeUndefined();
    const after = await guards();
    expect(after.every((rev, i) => rev > before[i]!)).toBe(true);
    // The addresses the interfaces held are free again.
    expect((await topo.createPort({ name: 'p', network: 'n7', fixedIps: [{ ip: '10.9.7.20' }] })).fixedIps[0]!.ip).toBe('10.9.7.20');
  });
});

describe('ensureLazyIndex: routers and FIPs written before the index existed', () => {
  /** A store as a writer without the index left it. */
  async function unindexed(): Promise<void> {
    await world();
    await topo.createRouter({ name: 'r1' });
    await topo.attachSubnet('r1', { subnet: 'blue-a' });
    await topo.setGateway('r1', { network: 'ext', chassis: ['hv1'] });
    await topo.createFloatingIp({ network: 'ext', port: 'vm1' });
    for (const k of await stored()) await store.delete(k);
  }

  it('indexUntilDone tells this process the index is complete: its next network read reads no router or FIP of the store', async () => {
    await unindexed();
    const prefixes: string[] = [];
    const read = store.read.bind(store);
    store.read = (ops) => {
      for (const op of ops) if ('prefix' in op) prefixes.push(op.prefix);
      return read(ops);
    };
    await indexUntilDone(store, 'hv1', silentLogger, () => false);
    prefixes.length = 0;
    await loadNetState(store, (await topo.getNetwork('blue')).id);
    expect(prefixes.filter((p) => p === `${ROOT}routers/` || p === `${ROOT}fips/`)).toEqual([]);
  });
  it('indexes them once; later calls find it done', async () => {
    await unindexed();
    expect(await stored()).toEqual([]);
    expect(await ensureLazyIndex(store, 'hv1')).toBe('written');
    expect((await consistent()).length).toBe(5);
    const rev = await store.currentRevision();
    expect(await ensureLazyIndex(store, 'hv2')).toBe('present');
    expect(await store.currentRevision()).toBe(rev);
    expect(JSON.parse((await store.get(LAZY_INDEX_KEY))!.value)).toMatchObject({ state: 'done', by: 'hv1' });
  });

  it('another agent’s fresh claim is left alone; a stale one (its writer died) is taken over', async () => {
    await unindexed();
    const t = Date.now();
    await store.put(LAZY_INDEX_KEY, JSON.stringify({ state: 'writing', by: 'hv9', at: new Date(t).toISOString() }));
    expect(await ensureLazyIndex(store, 'hv1', () => t + 1_000)).toBe('claimed-elsewhere');
    expect(await stored()).toEqual([]);
    expect(await ensureLazyIndex(store, 'hv1', () => t + 31_000)).toBe('written');
    expect((await consistent()).length).toBe(5);
  });

  it('two agents at once: one writes, the other sees the claim', async () => {
    await unindexed();
    const results = await Promise.all([ensureLazyIndex(store, 'hv1'), ensureLazyIndex(store, 'hv2')]);
    expect(results.sort()).toEqual(['claimed-elsewhere', 'written']);
    expect((await consistent()).length).toBe(5);
  });

  it('an object changed between the read and its index transaction is read again and indexed as it is now', async () => {
    await unindexed();
    await topo.deleteFloatingIp(decodeFloatingIp((await store.range(FIPS_PREFIX)).kvs[0]!.value).id); // it holds blue-a
    const kv = (await store.get(routerKey((await topo.getRouter('r1')).id)))!;
    const r = decodeRouter(kv.value);
    // The change lands after the index's read of every router, before its transaction: through the model (which
    // writes only the index keys it moves), then through a writer that predates the index.
    for (const change of [
      () => topo.detachSubnet('r1', 'blue-a'),
      () => store.put(kv.key, encodeRouter({ ...r, interfaces: [] })).then(() => undefined),
    ]) {
      for (const k of await stored()) await store.delete(k);
      await store.delete(LAZY_INDEX_KEY);
      await topo.attachSubnet('r1', { subnet: 'blue-a' }).catch(() => undefined);
      for (const k of await stored()) await store.delete(k);
      let changed = false;
      const racing = Object.create(store) as Store;
      racing.range = async (prefix: string) => {
        const res = await store.range(prefix);
        if (prefix === ROUTERS_PREFIX && !changed) {
          changed = true;
          await change();
        }
        return res;
      };
      expect(await ensureLazyIndex(racing, 'hv1')).toBe('written');
      expect(changed).toBe(true);
      const now = await consistent();
      expect(now).toContain(`${GATEWAY_OF_PREFIX}hv1/${r.id}`);
      const blue = (await topo.getNetwork('blue')).id;
      expect(now).not.toContain(routerRefKey(blue, r.id));
    }
  });
});

describe('the audit: objects written without the index after it was complete (a writer of an older version)', () => {
  it('finds each router and FIP missing an index key and indexes it whole; a complete index writes nothing', async () => {
    await world();
    const r = await topo.createRouter({ name: 'r1' });
    await topo.attachSubnet('r1', { subnet: 'blue-a' });
    await topo.setGateway('r1', { network: 'ext', chassis: ['hv1', 'hv2'] });
    const f = await topo.createFloatingIp({ network: 'ext', port: 'vm1' });
    await topo.createRouter({ name: 'r2' }); // indexed by the model: the audit leaves it alone
    await topo.attachSubnet('r2', { subnet: 'red-a' });
    expect(await ensureLazyIndex(store, 'hv1')).toBe('written');
    const complete = await consistent();
    let rev = await store.currentRevision();
    expect(await auditLazyIndex(store)).toEqual([]);
    expect(await store.currentRevision()).toBe(rev);
    // An old writer: r1 put on red without its index key; the FIP's association and a candidacy lost theirs.
    const red = await topo.getNetwork('red');
    const kv = (await store.get(routerKey(r.id)))!;
    const moved = { ...decodeRouter(kv.value) };
    moved.interfaces = [
      ...moved.interfaces,
      { subnetId: (await topo.getSubnet('red-a')).id, networkId: red.id, ip: '10.0.1.9', mac: '02:00:00:00:09:09' },
    ];
    await store.put(kv.key, encodeRouter(moved));
    await store.delete(`${GATEWAY_OF_PREFIX}hv2/${r.id}`);
    await store.delete(`/wyvern/v1/net/${(await topo.getNetwork('blue')).id}/fips/${f.id}`);
    expect((await auditLazyIndex(store)).sort()).toEqual([r.id, f.id].sort());
    expect(await consistent()).toEqual([...complete, routerRefKey(red.id, r.id)].sort());
    rev = await store.currentRevision();
    expect(await auditLazyIndex(store)).toEqual([]);
    expect(await store.currentRevision()).toBe(rev);
  });

  it('one agent at a time audits, on its chassis lease; when that lease goes, the next agent whose turn comes does', async () => {
    await world();
    const [l1, l2] = [await store.grantLease(60), await store.grantLease(60)];
    expect(await auditTurn(store, 'hv1', undefined)).toBeUndefined();
    expect(await auditTurn(store, 'hv1', l1.id)).toEqual([]);
    expect(await auditTurn(store, 'hv2', l2.id)).toBeUndefined();
    expect(await auditTurn(store, 'hv1', l1.id)).toEqual([]);
    expect((await store.get(LAZY_INDEX_AUDITOR_KEY))!.lease).toBe(l1.id);
    await l1.revoke();
    expect(await auditTurn(store, 'hv2', l2.id)).toEqual([]);
    expect(JSON.parse((await store.get(LAZY_INDEX_AUDITOR_KEY))!.value)).toMatchObject({ chassis: 'hv2' });
  });
});

describe("the API's network reads through the index", () => {
  /** Every read op a store is asked for, by prefix or key. */
  function spied(): { s: Store; ops: string[] } {
    const ops: string[] = [];
    const s = Object.create(store) as Store;
    s.read = (list) => {
      for (const op of list) ops.push('prefix' in op ? `prefix:${op.prefix}` : `key:${op.key}`);
      return store.read(list);
    };
    return { s, ops };
  }
  const placed = (st: NetState) => ({
    routerIfaces: st.routerIfaces.map((r) => `${r.router.id}:${r.ip}`).sort(),
    gateways: st.gateways.map((g) => `${g.router.id}:${g.ip}`).sort(),
    fips: st.fips.map((f) => `${f.obj.id}:${f.kv.modRevision}`).sort(),
  });

  it('once the index is complete, a network snapshot reads only the routers and FIPs placed there, the same ones', async () => {
    await world();
    await topo.createRouter({ name: 'r1' });
    await topo.attachSubnet('r1', { subnet: 'blue-a' });
    await topo.setGateway('r1', { network: 'ext', chassis: ['hv1'] });
    await topo.createRouter({ name: 'r2' });
    await topo.attachSubnet('r2', { subnet: 'red-a' });
    await topo.createFloatingIp({ network: 'ext', port: 'vm1' });
    await topo.createFloatingIp({ network: 'ext' });
    const nets = await Promise.all(['blue', 'red', 'ext'].map((n) => topo.getNetwork(n)));
    const before = await Promise.all(nets.map((n) => loadNetState(store, n.id)));

    // Not complete yet: every router and FIP is read with the rest (a store written before the index).
    const a = spied();
    await loadNetState(a.s, nets[0]!.id);
    expect(a.ops).toContain(`prefix:${ROUTERS_PREFIX}`);

    expect(await ensureLazyIndex(store, 'hv1')).toBe('written');
    const b = spied();
    await loadNetState(b.s, nets[0]!.id); // sees the index complete
    b.ops.length = 0;
    for (const [i, n] of nets.entries()) expect(placed(await loadNetState(b.s, n.id))).toEqual(placed(before[i]!));
    expect(b.ops).not.toContain(`prefix:${ROUTERS_PREFIX}`);
    expect(b.ops).not.toContain(`prefix:${FIPS_PREFIX}`);
    // red holds r2 only: r1 is not read for it.
    const c = spied();
    await loadNetState(c.s, nets[0]!.id);
    c.ops.length = 0;
    await loadNetState(c.s, nets[1]!.id);
    const r1 = (await topo.getRouter('r1')).id;
    expect(c.ops).not.toContain(`key:${routerKey(r1)}`);
  });

  it('through the index, a port cannot take an address a router interface, gateway or FIP holds', async () => {
    await world();
    await ensureLazyIndex(store, 'hv1');
    await topo.createRouter({ name: 'r1' });
    await topo.attachSubnet('r1', { subnet: 'blue-a', ip: '10.0.0.77' });
    await topo.setGateway('r1', { network: 'ext', ip: '203.0.113.20', chassis: ['hv1'] });
    const f = await topo.createFloatingIp({ network: 'ext', ip: '203.0.113.21' });
    for (let i = 0; i < 2; i++) await loadNetState(store, (await topo.getNetwork('blue')).id); // the index path
    for (const [net, ip] of [
      ['blue', '10.0.0.77'],
      ['ext', '203.0.113.20'],
      ['ext', f.ip],
    ] as const)
      await expect(topo.createPort({ name: `p-${ip}`, network: net, fixedIps: [{ ip }] })).rejects.toMatchObject({ code: 'CONFLICT' });
  });
});
