import { describe, expect, it } from 'vitest';
import { RouterReach } from '../../src/view/router-reach.js';
import { TopologySync, type ViewChange } from '../../src/view/topology-sync.js';
import { TopologyView } from '../../src/view/topology-view.js';
import {
  bindingKey,
  chassisKey,
  fipKey,
  fipRefKey,
  FIPS_PREFIX,
  gatewayKey,
  gatewayOfKey,
  gatewayOfPrefix,
  GATEWAYS_PREFIX,
  netPrefix,
  networkKey,
  portKey,
  routerKey,
  routerRefKey,
  ROUTERS_PREFIX,
  sgKey,
} from '../../src/model/keys.js';
import { encodeSecurityGroup } from '../../src/model/codec.js';
import type { SecurityGroup } from '../../src/model/types.js';
import { silentLogger } from '../../src/util/log.js';
import type { KeyValue } from '../../src/store/types.js';

// Store documents are decoded like the store's writers encode them: ids are UUIDs.
const N1 = '0a000000-0000-4000-8000-000000000001';
const N2 = '0a000000-0000-4000-8000-000000000002';
const S1 = '0e000000-0000-4000-8000-000000000001';
const P1 = '0b000000-0000-4000-8000-000000000001';
const P2 = '0b000000-0000-4000-8000-000000000002';
const NAMES: Record<string, string> = { [P1]: 'p1', [P2]: 'p2' };
const kv = (key: string, value: unknown): KeyValue => ({ key, value: JSON.stringify(value), createRevision: 1, modRevision: 1 });
const port = (id: string) => ({
  id,
  name: NAMES[id],
  networkId: N1,
  mac: '02:00:00:00:00:01',
  fixedIps: [],
  portSecurity: true,
  allowedAddressPairs: [],
  portKey: 1,
});

function make(lazy: boolean) {
  const view = new TopologyView('hv1', 'vxlan');
  const added: string[] = [];
  const removed: string[] = [];
  const sync = new TopologySync(
    view,
    { add: (p) => void added.push(p), remove: (p) => void removed.push(p), prefixes: () => added.filter((p) => !removed.includes(p)) },
    silentLogger,
    lazy,
  );
  return { view, sync, added, removed };
}

describe('TopologySync', () => {
  it('adopts a binding listed before its port (etcd range order: bindings/ < ports/)', async () => {
    const { view, sync } = make(true);
    await sync.want(N1, 'vm');
    sync.applySnapshot(networkKey(N1), [kv(networkKey(N1), { id: N1, name: 'n1', tunnelKey: 5, mtu: 1500 })]);
    sync.applySnapshot(`/wyvern/v1/net/${N1}/`, [
      kv(bindingKey(N1, P1), { chassis: 'hv2', updatedAt: 't' }),
      kv(portKey(N1, P1), port(P1)),
    ]);
    expect(view.networks.get(N1)!.ports.get(P1)!.binding?.chassis).toBe('hv2');
  });

  it('a resync replaces what it had: keys missing from the new snapshot are deleted', async () => {
    const { view, sync } = make(true);
    await sync.want(N1, 'vm');
    sync.applySnapshot(networkKey(N1), [kv(networkKey(N1), { id: N1, name: 'n1', tunnelKey: 5, mtu: 1500 })]);
    sync.applySnapshot(`/wyvern/v1/net/${N1}/`, [kv(portKey(N1, P1), port(P1)), kv(portKey(N1, P2), port(P2))]);
    sync.applySnapshot(`/wyvern/v1/net/${N1}/`, [kv(portKey(N1, P2), port(P2))]);
    expect([...view.networks.get(N1)!.ports.keys()]).toEqual([P2]);
    sync.applySnapshot('/wyvern/v1/chassis/', [
      kv(chassisKey('hv2'), { name: 'hv2', tunnelIp: '1.1.1.2', encaps: ['vxlan'], version: '1' }),
    ]);
    sync.applySnapshot('/wyvern/v1/chassis/', []);
    expect(view.chassis.size).toBe(0);
  });

  it('reports which networks changed (and which port, for a port), and the chassis for chassis changes', () => {
    const { sync } = make(false);
    const seen: unknown[] = [];
    sync.on('change', (c) => seen.push(c));
    sync.applyPut(portKey(N1, P1), JSON.stringify(port(P1)));
    sync.applyPut(chassisKey('hv3'), JSON.stringify({ name: 'hv3', tunnelIp: '1.1.1.3', encaps: ['vxlan'], version: '1' }));
    sync.applyPut(networkKey(N1), JSON.stringify({ id: N1, name: 'n1', tunnelKey: 5, mtu: 1500 }));
    sync.applyDelete(portKey(N1, P1));
    expect(seen).toEqual([
      { networks: new Set([N1]), all: false, ports: new Set([P1]) },
      { networks: new Set(), all: false, chassis: 'hv3' },
      { networks: new Set([N1]), all: false },
      { networks: new Set([N1]), all: false, ports: new Set([P1]) },
    ]);
  });

  it('a chassis coming, changing or going recomputes only the networks with a port bound there, or all when a lease names it', () => {
    const { sync } = make(false);
    sync.applyPut(networkKey(N1), JSON.stringify({ id: N1, name: 'n1', tunnelKey: 5, mtu: 1500 }));
    sync.applyPut(portKey(N1, P1), JSON.stringify(port(P1)));
    sync.applyPut(bindingKey(N1, P1), JSON.stringify({ chassis: 'hv2', updatedAt: 'a' }));
    const seen: unknown[] = [];
    sync.on('change', (c) => seen.push(c));
    const hv = (name: string, ip: string) => JSON.stringify({ name, tunnelIp: ip, encaps: ['vxlan'], version: '1' });
    sync.applyPut(chassisKey('hv2'), hv('hv2', '1.1.1.2'));
    sync.applyPut(chassisKey('hv3'), hv('hv3', '1.1.1.3'));
    sync.applyPut(chassisKey('hv2'), hv('hv2', '1.1.1.22'));
    sync.applyDelete(chassisKey('hv2'));
    sync.applyDelete(chassisKey('hv3'));
    expect(seen).toEqual([
      { networks: new Set([N1]), all: false, chassis: 'hv2' },
      { networks: new Set(), all: false, chassis: 'hv3' },
      { networks: new Set([N1]), all: false, chassis: 'hv2' },
      { networks: new Set([N1]), all: false, chassis: 'hv2' },
      { networks: new Set(), all: false, chassis: 'hv3' },
    ]);
    // The active gateway chassis of a router: its NAT flows are everywhere (every network routed through it).
    const router = '0c000000-0000-4000-8000-000000000009';
    sync.applyPut(gatewayKey(router), JSON.stringify({ routerId: router, chassis: 'hv4', since: 't' }));
    seen.length = 0;
    sync.applyPut(chassisKey('hv4'), hv('hv4', '1.1.1.4'));
    expect(seen).toEqual([{ networks: new Set(), all: true, chassis: 'hv4' }]);
  });

  it('a chassis record rewritten with what flows read unchanged (a restart, an uplink) recomputes nothing, even for a gateway holder', () => {
    const { sync } = make(false);
    sync.applyPut(networkKey(N1), JSON.stringify({ id: N1, name: 'n1', tunnelKey: 5, mtu: 1500 }));
    sync.applyPut(portKey(N1, P1), JSON.stringify(port(P1)));
    sync.applyPut(bindingKey(N1, P1), JSON.stringify({ chassis: 'hv2', updatedAt: 'a' }));
    const router = '0c000000-0000-4000-8000-000000000009';
    sync.applyPut(gatewayKey(router), JSON.stringify({ routerId: router, chassis: 'hv4', since: 't' }));
    const rec = (name: string, more: Record<string, unknown> = {}) =>
      JSON.stringify({ name, tunnelIp: '1.1.1.4', encaps: ['geneve', 'vxlan'], version: '1', ...more });
    sync.applyPut(chassisKey('hv2'), rec('hv2'));
    sync.applyPut(chassisKey('hv4'), rec('hv4'));
    const seen: unknown[] = [];
    sync.on('change', (c) => seen.push(c));
    // Re-registered after a restart, then an uplink down and back: the elections hear of each, no flow is recomputed.
    sync.applyPut(chassisKey('hv4'), rec('hv4', { registeredAt: '2026-12-06T08:00:00.000Z', version: '2' }));
    sync.applyPut(chassisKey('hv4'), rec('hv4', { physnets: ['physnet1'], uplinksDown: ['physnet1'] }));
    sync.applyPut(chassisKey('hv2'), rec('hv2', { physnets: ['physnet1'] }));
    expect(seen).toEqual([
      { networks: new Set(), all: false, chassis: 'hv4' },
      { networks: new Set(), all: false, chassis: 'hv4' },
      { networks: new Set(), all: false, chassis: 'hv2' },
    ]);
    // What flows read changes: recomputed as before (all for the gateway holder, its networks for the other).
    seen.length = 0;
    sync.applyPut(chassisKey('hv4'), rec('hv4', { encaps: ['vxlan'] }));
    sync.applyPut(chassisKey('hv4'), rec('hv4', { encaps: ['vxlan'], site: 'paris' }));
    sync.applyPut(chassisKey('hv2'), rec('hv2', { tunnelIp: '1.1.1.22' }));
    expect(seen).toEqual([
      { networks: new Set(), all: true, chassis: 'hv4' },
      { networks: new Set(), all: true, chassis: 'hv4' },
      { networks: new Set([N1]), all: false, chassis: 'hv2' },
    ]);
  });

  it('a binding that does not move its port (own binding of a local VIF, same chassis again) changes nothing', () => {
    const { view, sync } = make(false);
    sync.applyPut(chassisKey('hv2'), JSON.stringify({ name: 'hv2', tunnelIp: '1.1.1.2', encaps: ['vxlan'], version: '1' }));
    sync.applyPut(portKey(N1, P1), JSON.stringify(port(P1)));
    sync.applyPut(portKey(N1, P2), JSON.stringify({ ...port(P2), portKey: 2 }));
    view.plugVif({ ifaceName: 't1', ofport: 5, ifaceId: 'p1' });
    const seen: unknown[] = [];
    sync.on('change', (c) => seen.push(c));
    sync.applyPut(bindingKey(N1, P1), JSON.stringify({ chassis: 'hv1', updatedAt: 'a' })); // local VIF: stays local
    sync.applyPut(bindingKey(N1, P2), JSON.stringify({ chassis: 'hv2', updatedAt: 'a' })); // unknown -> hv2
    sync.applyPut(bindingKey(N1, P2), JSON.stringify({ chassis: 'hv2', updatedAt: 'b' })); // rewritten, same place
    expect(seen).toEqual([{ networks: new Set([N1]), all: false, ports: new Set([P2]) }]);
    sync.applyDelete(bindingKey(N1, P1)); // still local
    sync.applyDelete(bindingKey(N1, P2)); // hv2 -> unknown
    expect(seen.length).toBe(2);
    expect(view.networks.get(N1)!.ports.get(P1)!.binding).toBeUndefined();
  });

  it('a binding naming a chassis not in the view yet reports its port (lazy chassis watching reads that chassis then)', () => {
    const { sync } = make(false);
    sync.applyPut(portKey(N1, P2), JSON.stringify({ ...port(P2), portKey: 2 }));
    const seen: unknown[] = [];
    sync.on('change', (c) => seen.push(c));
    sync.applyPut(bindingKey(N1, P2), JSON.stringify({ chassis: 'hv7', updatedAt: 'a' })); // unknown -> unknown, new owner
    sync.applyPut(bindingKey(N1, P2), JSON.stringify({ chassis: 'hv7', updatedAt: 'b' })); // same owner: nothing
    sync.applyDelete(bindingKey(N1, P2)); // the owner goes: its record may be dropped
    expect(seen).toEqual([
      { networks: new Set([N1]), all: false, ports: new Set([P2]) },
      { networks: new Set([N1]), all: false, ports: new Set([P2]) },
    ]);
  });

  it('lazy: forgets a network when its last reason goes', async () => {
    const { view, sync } = make(true);
    await sync.want(N1, 'a');
    await sync.want(N1, 'b');
    sync.applyPut(networkKey(N1), JSON.stringify({ id: N1, name: 'n1', tunnelKey: 5, mtu: 1500 }));
    await sync.unwant(N1, 'a');
    expect(view.networks.has(N1)).toBe(true);
    await sync.unwant(N1, 'b');
    expect(view.networks.has(N1)).toBe(false);
  });

  it('a document that does not decode is logged once and ignored; a valid one later is taken', () => {
    const warnings: unknown[] = [];
    const logger = { ...silentLogger, warn: (o: unknown, m: string) => void warnings.push([o, m]) } as unknown as typeof silentLogger;
    const view = new TopologyView('hv1', 'vxlan');
    const sync = new TopologySync(view, { add: () => undefined, remove: () => undefined, prefixes: () => [] }, logger, false);
    const good = port(P1);
    sync.applyPut(portKey(N1, P1), JSON.stringify(good));
    for (const bad of ['not json', JSON.stringify({ ...good, portKey: -1 }), JSON.stringify({ ...good, mac: 'zz' })]) {
      expect(() => sync.applyPut(portKey(N1, P1), bad)).not.toThrow();
    }
    sync.applyPut(chassisKey('hv9'), JSON.stringify({ name: 'hv9', tunnelIp: '999.1.1.1', encaps: ['vxlan'], version: '1' }));
    expect(warnings.length).toBe(2); // one per key, not one per put
    expect(view.networks.get(N1)!.ports.get(P1)!.port).toEqual({ ...good, securityGroups: [] });
    expect(view.chassis.has('hv9')).toBe(false);
    sync.applyPut(portKey(N1, P1), JSON.stringify({ ...good, portKey: 7 }));
    expect(view.networks.get(N1)!.ports.get(P1)!.port.portKey).toBe(7);
    sync.applyPut(portKey(N1, P1), 'garbage again');
    expect(warnings.length).toBe(3); // valid in between: a new bad value is worth a new warning
  });
});

describe('TopologySync: floating IPs and gateway leases (issue 14)', () => {
  const R = '0c000000-0000-4000-8000-000000000001';
  const F = '0d000000-0000-4000-8000-000000000001';
  const fip = { id: F, networkId: N1, ip: '203.0.113.50', mac: '02:ff:00:00:00:50' };

  it('without lazy sync watches every router, FIP and lease; with it only its own gateway candidacies (issue 17)', async () => {
    const full = make(false);
    await full.sync.start();
    expect(full.added).toEqual(expect.arrayContaining([ROUTERS_PREFIX, FIPS_PREFIX, GATEWAYS_PREFIX]));
    const lazy = make(true);
    await lazy.sync.start();
    expect(lazy.added).toContain(gatewayOfPrefix('hv1'));
    for (const p of [ROUTERS_PREFIX, FIPS_PREFIX, GATEWAYS_PREFIX]) expect(lazy.added).not.toContain(p);
  });

  it('puts, deletes and snapshots reach the view; a lease moved by its own chassis changes nothing', () => {
    const { view, sync } = make(false);
    const changes: ViewChange[] = [];
    sync.on('change', (c: ViewChange) => changes.push(c));
    sync.applyPut(fipKey(F), JSON.stringify(fip));
    expect(view.floatingIps.get(F)?.ip).toBe('203.0.113.50');
    sync.applyPut(gatewayKey(R), JSON.stringify({ routerId: R, chassis: 'hv2', since: 't' }));
    expect(view.gateways.get(R)?.chassis).toBe('hv2');
    expect(changes.every((c) => c.all)).toBe(true);
    const n = changes.length;
    sync.applyPut(gatewayKey(R), JSON.stringify({ routerId: R, chassis: 'hv2', since: 't2' }));
    expect(changes.length).toBe(n);
    // A document naming another router than its key is foreign: ignored.
    sync.applyPut(gatewayKey(R), JSON.stringify({ routerId: F, chassis: 'hv3', since: 't' }));
    expect(view.gateways.get(R)?.chassis).toBe('hv2');
    sync.applySnapshot(GATEWAYS_PREFIX, []);
    expect(view.gateways.size).toBe(0);
    sync.applyDelete(fipKey(F));
    expect(view.floatingIps.size).toBe(0);
  });
});

describe('TopologySync: routers, gateway leases and FIPs through the lazy index (issue 17)', () => {
  const R = '0c000000-0000-4000-8000-000000000001';
  const R2 = '0c000000-0000-4000-8000-000000000002';
  const F = '0d000000-0000-4000-8000-000000000001';
  const router = (id: string, networkId: string) => ({
    id,
    name: `r-${id.slice(-1)}`,
    routerKey: Number(id.slice(-1)),
    mac: '02:aa:00:00:00:01',
    mode: 'proactive',
    interfaces: [{ subnetId: S1, networkId, ip: '10.0.0.1', mac: '02:aa:00:00:00:02' }],
    routes: [],
  });

  it('watches each router a watched network indexes (key and gateway lease), and nothing else', async () => {
    const { view, sync, added, removed } = make(true);
    await sync.want(N1, 'vm');
    // A router put before anything indexes it: not this chassis's business.
    sync.applyPut(routerKey(R2), JSON.stringify(router(R2, N1)));
    expect(view.routers.size).toBe(0);
    sync.applySnapshot(netPrefix(N1), [{ key: routerRefKey(N1, R), value: R, createRevision: 1, modRevision: 1 }]);
    expect(added).toEqual(expect.arrayContaining([routerKey(R), gatewayKey(R)]));
    expect(sync.indexedObjects()).toEqual([gatewayKey(R), routerKey(R)].sort());
    sync.applyPut(routerKey(R), JSON.stringify(router(R, N1)));
    sync.applyPut(gatewayKey(R), JSON.stringify({ routerId: R, chassis: 'hv2', since: 't' }));
    expect(view.routers.get(R)?.name).toBe('r-1');
    expect(view.gateways.get(R)?.chassis).toBe('hv2');
    // The index key deleted (the router detached): unwatched, and out of the view at once.
    const changes: ViewChange[] = [];
    sync.on('change', (c: ViewChange) => changes.push(c));
    sync.applyDelete(routerRefKey(N1, R));
    expect(removed).toEqual(expect.arrayContaining([routerKey(R), gatewayKey(R)]));
    expect(view.routers.size).toBe(0);
    expect(view.gateways.size).toBe(0);
    expect(changes.some((c) => c.all)).toBe(true);
    // A late event of the unwatched key does not bring it back.
    sync.applyPut(routerKey(R), JSON.stringify(router(R, N1)));
    expect(view.routers.size).toBe(0);
  });

  it('a router indexed under two watched networks stays until neither indexes it; leaving a network drops its index', async () => {
    const { view, sync, added, removed } = make(true);
    await sync.want(N1, 'vm');
    await sync.want(N2, 'vm');
    sync.applyPut(routerRefKey(N1, R), R);
    sync.applyPut(routerRefKey(N2, R), R);
    sync.applyPut(routerKey(R), JSON.stringify(router(R, N1)));
    sync.applyDelete(routerRefKey(N1, R));
    expect(view.routers.has(R)).toBe(true);
    expect(removed).not.toContain(routerKey(R));
    await sync.unwant(N2, 'vm');
    expect(view.routers.has(R)).toBe(false);
    expect(removed).toContain(routerKey(R));
    // An index event of the network left, arriving after its unwatch, starts nothing.
    const before = added.length;
    sync.applyPut(routerRefKey(N2, R2), R2);
    expect(added.length).toBe(before);
    expect(sync.indexedObjects()).toEqual([]);
  });

  it('a network snapshot without an index key it had drops that router (a resync after missed events)', async () => {
    const { view, sync } = make(true);
    await sync.want(N1, 'vm');
    sync.applyPut(routerRefKey(N1, R), R);
    sync.applyPut(routerKey(R), JSON.stringify(router(R, N1)));
    sync.applySnapshot(netPrefix(N1), []);
    expect(view.routers.has(R)).toBe(false);
    expect(sync.indexedObjects()).toEqual([]);
  });

  it('its own gateway candidacies bring routers it has no port behind; another chassis’s do not (hv1 ≠ hv10)', () => {
    const { view, sync, added } = make(true);
    sync.applyPut(gatewayOfKey('hv10', R2), R2);
    expect(added).not.toContain(routerKey(R2));
    sync.applyPut(gatewayOfKey('hv1', R), R);
    expect(added).toContain(routerKey(R));
    sync.applyPut(routerKey(R), JSON.stringify(router(R, N2)));
    expect(view.routers.has(R)).toBe(true);
  });

  it('FIPs indexed under a watched network are watched by their key', async () => {
    const { view, sync, added } = make(true);
    await sync.want(N1, 'vm');
    sync.applyPut(fipKey(F), JSON.stringify({ id: F, networkId: N2, ip: '203.0.113.50', mac: '02:ff:00:00:00:50' }));
    expect(view.floatingIps.size).toBe(0);
    sync.applyPut(fipRefKey(N1, F), F);
    expect(added).toContain(fipKey(F));
    sync.applyPut(fipKey(F), JSON.stringify({ id: F, networkId: N2, ip: '203.0.113.50', mac: '02:ff:00:00:00:50' }));
    expect(view.floatingIps.get(F)?.ip).toBe('203.0.113.50');
    sync.applyDelete(fipRefKey(N1, F));
    expect(view.floatingIps.size).toBe(0);
  });
});

/**
 * A network wanted, unwanted and wanted again while its watches are still being added or removed (RouterReach runs
 * an update per view change, and two updates' want/unwant interleave). Found in north-south.test.ts: a gateway
 * chassis restarted with its uplink down ended with its router's network wanted but neither watched nor in its view,
 * for good; SNAT through it blackholed.
 */
describe('TopologySync: a network wanted again while its watches are added or removed', () => {
  const NET = { id: N1, name: 'n1', tunnelKey: 5, mtu: 1500 };
  const G1 = '0f000000-0000-4000-8000-000000000001';
  const GROUP: SecurityGroup = { id: G1, name: 'g1', description: '', groupKey: 1, rules: [] };
  /** A subscription whose adds and removes take a turn of the store each (read, watch cancel), like etcd's. */
  function slowStore(ms = { read: 5, cancel: 5 }) {
    const view = new TopologyView('hv1', 'vxlan');
    const watched = new Set<string>();
    const contents: Record<string, KeyValue[]> = {
      [networkKey(N1)]: [kv(networkKey(N1), NET)],
      [netPrefix(N1)]: [kv(portKey(N1, P1), port(P1))],
      [sgKey(G1)]: [{ key: sgKey(G1), value: encodeSecurityGroup(GROUP), createRevision: 1, modRevision: 1 }],
    };
    const turn = (what: 'read' | 'cancel') => new Promise<void>((r) => setTimeout(r, ms[what]));
    const subscription = {
      async add(prefix: string) {
        if (watched.has(prefix)) return;
        watched.add(prefix);
        await turn('read');
        if (watched.has(prefix)) sync.applySnapshot(prefix, contents[prefix] ?? []);
      },
      async remove(prefix: string) {
        if (!watched.delete(prefix)) return;
        await turn('cancel'); // the watch's cancel
      },
      prefixes: () => [...watched],
    };
    const sync: TopologySync = new TopologySync(view, subscription, silentLogger, true);
    const settled = () => new Promise((r) => setTimeout(r, 50));
    const inStep = () => ({
      watched: [networkKey(N1), netPrefix(N1)].every((p) => watched.has(p)),
      inView: view.networks.get(N1)?.ports.has(P1) === true,
    });
    return { view, sync, watched, settled, inStep };
  }

  it('unwanted, then wanted again while the removal runs: watched and in the view', async () => {
    const { sync, settled, inStep } = slowStore();
    await sync.want(N1, 'router');
    expect(inStep()).toEqual({ watched: true, inView: true });
    void sync.unwant(N1, 'router');
    void sync.want(N1, 'router');
    await settled();
    expect(inStep()).toEqual({ watched: true, inView: true });
    expect(sync.networksNotInView()).toEqual([]);
    expect(sync.networkReasons(N1)).toEqual(['router']);
  });

  it('the status names a wanted network not in the view, loading while its read is on its way', async () => {
    const { sync } = slowStore();
    const loaded = sync.want(N1, 'p1');
    // A second reason while the read is on its way shares it.
    expect(sync.want(N1, 'router')).toBe(loaded);
    expect(sync.networksNotInView()).toEqual([{ id: N1, reasons: ['p1', 'router'], loading: true }]);
    await loaded;
    expect(sync.networksNotInView()).toEqual([]);
    expect(sync.networkReasons(N1)).toEqual(['p1', 'router']);
  });

  it('wanted, unwanted before its watches are in, and wanted again: watched and in the view', async () => {
    const { sync, settled, inStep } = slowStore();
    void sync.want(N1, 'router');
    void sync.unwant(N1, 'router');
    void sync.want(N1, 'router');
    await settled();
    expect(inStep()).toEqual({ watched: true, inView: true });
  });

  it('wanted and unwanted before its watches are in: nothing watched, nothing in the view', async () => {
    const { sync, watched, view, settled } = slowStore();
    void sync.want(N1, 'router');
    await new Promise((r) => setTimeout(r, 1)); // the network key's read under way
    void sync.unwant(N1, 'router');
    await settled();
    expect([...watched]).toEqual([]);
    expect(view.networks.has(N1)).toBe(false);
  });

  it('a security group wanted again while its watch is cancelled stays in the view', async () => {
    // The new read answers before the old watch's cancel: the removal must not delete what that read brought.
    const { sync, view, watched, settled } = slowStore({ read: 2, cancel: 20 });
    await sync.wantSg(sgKey(G1), 'p1');
    expect(view.securityGroups.has(G1)).toBe(true);
    void sync.unwantSg(sgKey(G1), 'p1');
    void sync.wantSg(sgKey(G1), 'p1');
    await settled();
    expect(watched.has(sgKey(G1))).toBe(true);
    expect(view.securityGroups.has(G1)).toBe(true);
  });

  it('a want that resolves has the network in the view, whatever ran before it', async () => {
    const { sync, inStep } = slowStore();
    await sync.want(N1, 'router');
    void sync.unwant(N1, 'router');
    await sync.want(N1, 'router');
    expect(inStep()).toEqual({ watched: true, inView: true });
  });
});

describe('RouterReach: a gateway candidate keeps its router networks through its local ports coming and going', () => {
  const R = '0c000000-0000-4000-8000-000000000001';
  const EXT = '0a000000-0000-4000-8000-0000000000e1';
  const S_EXT = '0e000000-0000-4000-8000-0000000000e1';

  it('the last local port of an interface network leaving does not unwatch it on a gateway candidate', async () => {
    const { view, sync, removed } = make(true);
    const reach = new RouterReach(view, sync);
    // hv1 hosts p1 on N1, and is a gateway candidate of R (interface on N1, gateway on EXT).
    await sync.want(N1, 'p1');
    sync.applyPut(networkKey(N1), JSON.stringify({ id: N1, name: 'n1', tunnelKey: 5, mtu: 1500 }));
    sync.applySnapshot(netPrefix(N1), [
      kv(portKey(N1, P1), port(P1)),
      { key: routerRefKey(N1, R), value: R, createRevision: 1, modRevision: 1 },
    ]);
    sync.applyPut(
      routerKey(R),
      JSON.stringify({
        id: R,
        name: 'r1',
        routerKey: 1,
        mac: '02:aa:00:00:00:01',
        mode: 'proactive',
        interfaces: [{ subnetId: S1, networkId: N1, ip: '10.0.0.1', mac: '02:aa:00:00:00:02' }],
        routes: [],
        gateway: { networkId: EXT, subnetId: S_EXT, ip: '203.0.113.5', mac: '02:aa:00:00:00:03', chassis: ['hv2', 'hv1'] },
      }),
    );
    view.plugVif({ ifaceName: 't1', ofport: 1, ifaceId: 'p1' });
    await reach.update();
    expect(sync.networkReasons(N1)).toEqual(['p1', 'router']);
    expect(sync.networkReasons(EXT)).toEqual(['router']);
    // p1 leaves (its VM migrated): N1 stays watched and in the view for the candidacy; nothing is removed.
    view.unplugVif('p1');
    await sync.unwant(N1, 'p1');
    await reach.update();
    expect(sync.networkReasons(N1)).toEqual(['router']);
    expect(view.networks.has(N1)).toBe(true);
    expect(removed).not.toContain(netPrefix(N1));
  });
});
