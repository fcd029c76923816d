import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/index.js';
import type { Store } from '../../src/store/types.js';
import { countingStore, modelChecks } from '../helpers/model-checks.js';
import { ModelError, Topology, ROOT, bindPort, unbindPort, registerChassis, listChassis, parseKey } from '../../src/model/index.js';

let store: Store;
let topo: Topology;

beforeEach(async () => {
  store = await openStore('memory:');
  topo = new Topology(store);
});
afterEach(async () => {
  await store.close();
});

const { rejects, raceOnce } = modelChecks(() => store);

async function base() {
  const net = await topo.createNetwork({ name: 'blue' });
  const sub = await topo.createSubnet({ name: 'blue-a', network: 'blue', cidr: '10.0.0.0/24' });
  return { net, sub };
}

describe('networks', () => {
  it('creates with tunnel key, default MTU, name and id addressing', async () => {
    const n = await topo.createNetwork({ name: 'blue' });
    expect(n.tunnelKey).toBe(1);
    expect(n.mtu).toBe(1450);
    expect(await topo.getNetwork('blue')).toEqual(n);
    expect(await topo.getNetwork(n.id)).toEqual(n);
    const m = await topo.createNetwork({ name: 'red', mtu: 9000 });
    expect(m.tunnelKey).toBe(2);
    expect((await topo.listNetworks()).map((x) => x.name)).toEqual(['blue', 'red']);
  });
  it('lists by name in character-code order, the same whatever the locale (not localeCompare: alpha, Alpha, beta)', async () => {
    for (const name of ['beta', 'alpha', 'Alpha', 'b10', 'b9']) await topo.createNetwork({ name });
    expect((await topo.listNetworks()).map((x) => x.name)).toEqual(['Alpha', 'alpha', 'b10', 'b9', 'beta']);
  });
  it('rejects bad input and duplicates, writing nothing', async () => {
    await topo.createNetwork({ name: 'blue' });
    await rejects(() => topo.createNetwork({ name: 'blue' }), 'CONFLICT', 'name', /already exists/);
    await rejects(() => topo.createNetwork({ name: 'bad/name' }), 'INVALID', 'name');
    await rejects(() => topo.createNetwork({ name: 'x', mtu: 10 }), 'INVALID', 'mtu');
    await rejects(() => topo.createNetwork({ name: 'x', colour: 1 }), 'INVALID', 'colour');
    await rejects(() => topo.createNetwork({}), 'INVALID', 'name');
    await rejects(() => topo.getNetwork('nope'), 'NOT_FOUND');
  });
  it('refuses to delete a network with subnets or ports; frees its tunnel key after', async () => {
    const { net } = await base();
    await topo.createPort({ name: 'p1', network: 'blue' });
    await rejects(() => topo.deleteNetwork('blue'), 'CONFLICT', undefined, /still has 1 port/);
    await topo.deletePort('p1');
    await rejects(() => topo.deleteNetwork('blue'), 'CONFLICT', undefined, /1 subnet/);
    await topo.deleteSubnet('blue-a');
    await topo.deleteNetwork(net.id);
    expect(await topo.listNetworks()).toEqual([]);
    expect((await store.range(ROOT)).kvs.map((k) => k.key)).toEqual([]);
    expect((await topo.createNetwork({ name: 'again' })).tunnelKey).toBe(1);
  });
});

describe('subnets', () => {
  it('defaults gateway to the first host and DHCP on', async () => {
    const { sub } = await base();
    expect(sub).toMatchObject({
      cidr: '10.0.0.0/24',
      gatewayIp: '10.0.0.1',
      enableDhcp: true,
      leaseTime: 86400,
      dnsServers: [],
      hostRoutes: [],
    });
    const s2 = await topo.createSubnet({
      name: 'blue-b',
      network: 'blue',
      cidr: '10.0.1.0/24',
      gatewayIp: '10.0.1.254',
      enableDhcp: false,
      dnsServers: ['8.8.8.8'],
      domain: 'example.org',
      hostRoutes: [{ destination: '192.168.0.0/16', nexthop: '10.0.1.5' }],
      leaseTime: 600,
      dhcpOptions: [{ code: 42, value: '0A000001' }],
    });
    expect(await topo.getSubnet('blue-b')).toEqual(s2);
    expect(s2.dhcpOptions[0]!.value).toBe('0a000001');
    expect((await topo.listSubnets('blue')).length).toBe(2);
  });
  it('validates CIDR, gateway, overlap and references', async () => {
    await base();
    await rejects(() => topo.createSubnet({ name: 's', network: 'blue', cidr: '10.0.0.0/33' }), 'INVALID', 'cidr', /invalid CIDR/);
    await rejects(() => topo.createSubnet({ name: 's', network: 'blue', cidr: '10.0.5.1/24' }), 'INVALID', 'cidr', /host bits/);
    await rejects(() => topo.createSubnet({ name: 's', network: 'blue', cidr: 'banana' }), 'INVALID', 'cidr');
    await rejects(
      () => topo.createSubnet({ name: 's', network: 'blue', cidr: '10.0.0.128/25' }),
      'CONFLICT',
      'cidr',
      /overlaps subnet blue-a/,
    );
    await rejects(
      () => topo.createSubnet({ name: 's', network: 'blue', cidr: '10.0.9.0/24', gatewayIp: '10.0.8.1' }),
      'INVALID',
      'gatewayIp',
      /outside/,
    );
    await rejects(
      () => topo.createSubnet({ name: 's', network: 'blue', cidr: '10.0.9.0/24', gatewayIp: '10.0.9.255' }),
      'INVALID',
      'gatewayIp',
    );
    await rejects(() => topo.createSubnet({ name: 's', network: 'green', cidr: '10.0.9.0/24' }), 'INVALID', 'network', /not found/);
    await rejects(() => topo.createSubnet({ name: 'blue-a', network: 'blue', cidr: '10.0.9.0/24' }), 'CONFLICT', 'name');
    await rejects(
      () => topo.createSubnet({ name: 's', network: 'blue', cidr: '10.0.9.0/24', dnsServers: ['x'] }),
      'INVALID',
      'dnsServers[0]',
    );
    await rejects(
      () =>
        topo.createSubnet({
          name: 's',
          network: 'blue',
          cidr: '10.0.9.0/24',
          hostRoutes: [{ destination: '1.0.0.0/8', nexthop: '10.0.8.1' }],
        }),
      'INVALID',
      'hostRoutes[0].nexthop',
    );
    // Same CIDR in another network is fine.
    await topo.createNetwork({ name: 'red' });
    await topo.createSubnet({ name: 'red-a', network: 'red', cidr: '10.0.0.0/24' });
  });
  it('refuses deleting a subnet with port addresses or a router interface', async () => {
    await base();
    await topo.createPort({ name: 'p1', network: 'blue' });
    await rejects(() => topo.deleteSubnet('blue-a'), 'CONFLICT', undefined, /p1/);
    await topo.deletePort('p1');
    await topo.createRouter({ name: 'r1' });
    await topo.attachSubnet('r1', { subnet: 'blue-a' });
    await rejects(() => topo.deleteSubnet('blue-a'), 'CONFLICT', undefined, /router r1/);
    await topo.detachSubnet('r1', 'blue-a');
    await topo.deleteSubnet('blue-a');
  });
});

describe('ports', () => {
  it('allocates MAC, IP (skipping network/gateway) and port key', async () => {
    await base();
    const p1 = await topo.createPort({ name: 'vm1', network: 'blue' });
    expect(p1.fixedIps[0]!.ip).toBe('10.0.0.2');
    expect(parseInt(p1.mac.slice(0, 2), 16) & 3).toBe(2); // locally administered unicast
    expect(p1.portSecurity).toBe(true);
    const p2 = await topo.createPort({
      name: 'vm2',
      network: 'blue',
      mac: 'AA:BB:CC:00:00:02',
      fixedIps: [{ ip: '10.0.0.50' }],
      portSecurity: false,
    });
    expect(p2.mac).toBe('aa:bb:cc:00:00:02');
    expect(p2.portKey).not.toBe(p1.portKey);
    const p3 = await topo.createPort({ name: 'vm3', network: 'blue', fixedIps: [{ subnet: 'blue-a' }, { ip: '10.0.0.3' }] });
    expect(p3.fixedIps.map((f) => f.ip)).toEqual(['10.0.0.4', '10.0.0.3']);
    const none = await topo.createPort({ name: 'vm4', network: 'blue', fixedIps: [] });
    expect(none.fixedIps).toEqual([]);
    expect((await topo.listPorts('blue')).map((p) => p.name)).toEqual(['vm1', 'vm2', 'vm3', 'vm4']);
  });
  it('validates MAC, IPs and references, writing nothing', async () => {
    await base();
    await topo.createPort({ name: 'vm1', network: 'blue', mac: '02:00:00:00:00:01', fixedIps: [{ ip: '10.0.0.10' }] });
    await rejects(() => topo.createPort({ name: 'x', network: 'blue', mac: '02:00:00:00:00:01' }), 'CONFLICT', 'mac', /vm1/);
    await rejects(() => topo.createPort({ name: 'x', network: 'blue', mac: '01:00:00:00:00:01' }), 'INVALID', 'mac', /multicast/);
    await rejects(() => topo.createPort({ name: 'x', network: 'blue', mac: 'zz' }), 'INVALID', 'mac');
    await rejects(
      () => topo.createPort({ name: 'x', network: 'blue', fixedIps: [{ ip: '10.0.0.10' }] }),
      'CONFLICT',
      'fixedIps[0].ip',
      /already used by port vm1/,
    );
    await rejects(
      () => topo.createPort({ name: 'x', network: 'blue', fixedIps: [{ ip: '10.9.0.10' }] }),
      'INVALID',
      'fixedIps[0].ip',
      /outside/,
    );
    await rejects(
      () => topo.createPort({ name: 'x', network: 'blue', fixedIps: [{ ip: '10.0.0.1' }] }),
      'CONFLICT',
      'fixedIps[0].ip',
      /gateway/,
    );
    await rejects(
      () => topo.createPort({ name: 'x', network: 'blue', fixedIps: [{ ip: '10.0.0.255' }] }),
      'INVALID',
      'fixedIps[0].ip',
      /broadcast/,
    );
    await rejects(
      () => topo.createPort({ name: 'x', network: 'blue', fixedIps: [{ ip: '10.0.0.20' }, { ip: '10.0.0.20' }] }),
      'CONFLICT',
      'fixedIps[1].ip',
    );
    await rejects(() => topo.createPort({ name: 'x', network: 'blue', fixedIps: [{ subnet: 'nope' }] }), 'INVALID', 'fixedIps[0].subnet');
    await rejects(() => topo.createPort({ name: 'x', network: 'nope' }), 'INVALID', 'network');
    await rejects(() => topo.createPort({ name: 'vm1', network: 'blue' }), 'CONFLICT', 'name');
  });
  it('reports a full subnet', async () => {
    await topo.createNetwork({ name: 'tiny' });
    await topo.createSubnet({ name: 'tiny-a', network: 'tiny', cidr: '192.168.0.0/30' });
    await topo.createPort({ name: 't1', network: 'tiny' });
    await rejects(() => topo.createPort({ name: 't2', network: 'tiny' }), 'CONFLICT', 'fixedIps[0].subnet', /no free address in subnet/);
  });
  it('lists every port and subnet of every network in one store read, with bindings, the same as network by network', async () => {
    const ids: string[] = [];
    for (const name of ['green', 'blue', 'red']) {
      const n = await topo.createNetwork({ name });
      ids.push(n.id);
      await topo.createSubnet({ name: `${name}-a`, network: name, cidr: `10.${ids.length}.0.0/24` });
      for (const i of [2, 1]) await topo.createPort({ name: `${name}-${i}`, network: name });
    }
    const bound = await topo.getPort('red-1');
    await bindPort(store, bound.networkId, bound.id, 'hv7', 3);
    const { store: counted, calls } = countingStore(store);
    const listing = new Topology(counted);
    const all = await listing.listPorts();
    expect(calls.get + calls.read + calls.range.length).toBe(1);
    expect(all.map((p) => p.name)).toEqual(['blue-1', 'blue-2', 'green-1', 'green-2', 'red-1', 'red-2']);
    expect(all.find((p) => p.name === 'red-1')!.binding).toMatchObject({ chassis: 'hv7', ofport: 3 });
    expect(all.filter((p) => p.binding).length).toBe(1);
    const byNetwork = (await Promise.all(['green', 'blue', 'red'].map((n) => topo.listPorts(n)))).flat();
    expect([...byNetwork].sort((a, b) => a.name.localeCompare(b.name))).toEqual(all);
    expect(await topo.listPorts('red')).toEqual(all.filter((p) => p.networkId === bound.networkId));
    const before = calls.get + calls.read + calls.range.length;
    expect((await listing.listSubnets()).map((x) => x.name)).toEqual(['blue-a', 'green-a', 'red-a']);
    expect(calls.get + calls.read + calls.range.length - before).toBe(1);
    await rejects(() => topo.listPorts('nope'), 'INVALID', 'network');
  });
  it('bindings: bind, show, unbind only by the holder; delete removes binding', async () => {
    const { net } = await base();
    const p = await topo.createPort({ name: 'vm1', network: 'blue' });
    await bindPort(store, net.id, p.id, 'hv1', 7);
    expect((await topo.getPort('vm1')).binding).toMatchObject({ chassis: 'hv1', ofport: 7 });
    expect((await topo.listPorts())[0]!.binding?.chassis).toBe('hv1');
    expect(await unbindPort(store, net.id, p.id, 'hv2')).toBe(false);
    expect(await unbindPort(store, net.id, p.id, 'hv1')).toBe(true);
    expect((await topo.getPort('vm1')).binding).toBeUndefined();
    await bindPort(store, net.id, p.id, 'hv1');
    await topo.deletePort('vm1');
    expect((await store.range(`${ROOT}net/`)).kvs.map((k) => parseKey(k.key)?.kind)).toEqual(['subnet']);
    await expect(bindPort(store, net.id, p.id, 'hv1')).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });
});

describe('routers', () => {
  it('attaches subnets, adds routes, validates', async () => {
    await base();
    await topo.createNetwork({ name: 'red' });
    await topo.createSubnet({ name: 'red-a', network: 'red', cidr: '10.1.0.0/24' });
    const r = await topo.createRouter({ name: 'r1', mode: 'reactive' });
    expect(r).toMatchObject({ mode: 'reactive', routerKey: 1, interfaces: [], routes: [] });
    await rejects(() => topo.createRouter({ name: 'r2', mode: 'fast' }), 'INVALID', 'mode');
    const a = await topo.attachSubnet('r1', { subnet: 'blue-a' });
    expect(a.interfaces[0]).toMatchObject({ ip: '10.0.0.1', subnetId: (await topo.getSubnet('blue-a')).id });
    await rejects(() => topo.attachSubnet('r1', { subnet: 'blue-a' }), 'CONFLICT', 'subnet', /already attached/);
    await rejects(() => topo.attachSubnet('r1', { subnet: 'red-a', ip: '10.2.0.1' }), 'INVALID', 'ip');
    await rejects(() => topo.attachSubnet('r1', { subnet: 'nope' }), 'INVALID', 'subnet');
    await topo.attachSubnet('r1', { subnet: 'red-a' });
    await rejects(
      () => topo.addRoute('r1', { cidr: '172.16.0.0/12', nexthop: '192.168.1.1' }),
      'INVALID',
      'nexthop',
      /not in any subnet attached/,
    );
    await rejects(() => topo.addRoute('r1', { cidr: '172.16.0.1/12', nexthop: '10.0.0.9' }), 'INVALID', 'cidr');
    const withRoute = await topo.addRoute('r1', { cidr: '172.16.0.0/12', nexthop: '10.0.0.9' });
    expect(withRoute.routes).toEqual([{ cidr: '172.16.0.0/12', nexthop: '10.0.0.9' }]);
    await rejects(() => topo.addRoute('r1', { cidr: '172.16.0.0/12', nexthop: '10.0.0.8' }), 'CONFLICT', 'cidr');
    await rejects(() => topo.detachSubnet('r1', 'blue-a'), 'CONFLICT', 'subnet', /route 172.16.0.0\/12/);
    // A port cannot take the router's interface address; a second router cannot either.
    await rejects(() => topo.createPort({ name: 'x', network: 'blue', fixedIps: [{ ip: '10.0.0.1' }] }), 'CONFLICT');
    await topo.createRouter({ name: 'r2' });
    await rejects(() => topo.attachSubnet('r2', { subnet: 'blue-a' }), 'CONFLICT', 'ip', /router r1/);
    await topo.removeRoute('r1', '172.16.0.0/12');
    await rejects(() => topo.removeRoute('r1', '172.16.0.0/12'), 'NOT_FOUND');
    expect((await topo.setRouterMode('r1', 'proactive')).mode).toBe('proactive');
    await topo.deleteRouter('r1');
    await topo.deleteSubnet('blue-a');
  });
});

describe('chassis', () => {
  it('registers with a lease and disappears when the lease is revoked', async () => {
    const lease = await store.grantLease(30);
    await registerChassis(store, { name: 'hv1', tunnelIp: '172.31.9.1', encaps: ['vxlan'], version: '0.1.0' }, lease);
    const list = await listChassis(store);
    expect(list).toMatchObject([{ name: 'hv1', tunnelIp: '172.31.9.1', alive: true }]);
    expect(await topo.getChassis('hv1')).toMatchObject({ name: 'hv1' });
    await lease.revoke();
    expect(await listChassis(store)).toEqual([]);
  });
});

describe('keys', () => {
  it('parses every key kind', () => {
    expect(parseKey('/wyvern/v1/net/a/ports/b')).toEqual({ kind: 'port', networkId: 'a', portId: 'b' });
    expect(parseKey('/wyvern/v1/net/a/bindings/b')).toEqual({ kind: 'binding', networkId: 'a', portId: 'b' });
    expect(parseKey('/wyvern/v1/alloc/port-key/12')).toEqual({ kind: 'alloc', pool: 'port-key', n: 12 });
    expect(parseKey('/wyvern/v1/names/router/r1')).toEqual({ kind: 'name', of: 'router', name: 'r1' });
    expect(parseKey('/wyvern/v1/chassis/hv1')).toEqual({ kind: 'chassis', name: 'hv1' });
    expect(parseKey('/wyvern/v1/net/a/other/b')).toBeUndefined();
    expect(parseKey('/elsewhere')).toBeUndefined();
  });
});

describe('port creation by network name', () => {
  it('follows a network name to the network that holds it now, not the one it named before', async () => {
    const a = await topo.createNetwork({ name: 'blue' });
    await topo.createSubnet({ name: 'blue-sub', network: 'blue', cidr: '10.0.0.0/24' });
    const p1 = await topo.createPort({ name: 'p1', network: 'blue' });
    expect(p1.networkId).toBe(a.id);
    // Another API server (same store) deletes the network and creates a new one under the same name.
    const other = new Topology(store);
    await other.deletePort('p1');
    await other.deleteSubnet('blue-sub');
    await other.deleteNetwork('blue');
    const b = await other.createNetwork({ name: 'blue' });
    await other.createSubnet({ name: 'blue-sub2', network: 'blue', cidr: '10.9.0.0/24' });
    const p2 = await topo.createPort({ name: 'p2', network: 'blue' });
    expect(p2.networkId).toBe(b.id);
    expect(p2.fixedIps[0]!.ip).toMatch(/^10\.9\.0\./);
    await other.deletePort('p2');
    await other.deleteSubnet('blue-sub2');
    await other.deleteNetwork('blue');
    await rejects(() => topo.createPort({ name: 'p3', network: 'blue' }), 'INVALID', 'network', /not found/);
  });
});

describe('port creation from the remembered network view', () => {
  it('creations alternating between networks read each network once (the port-key pool is shared)', async () => {
    for (const n of ['x', 'y']) {
      await topo.createNetwork({ name: n });
      await topo.createSubnet({ name: `${n}-sub`, network: n, cidr: n === 'x' ? '10.1.0.0/24' : '10.2.0.0/24' });
    }
    const reads: number[] = [];
    const realRead = store.read.bind(store);
    store.read = ((ops) => (reads.push(ops.length), realRead(ops))) as typeof store.read;
    const made = [];
    for (let i = 0; i < 6; i++) made.push(await topo.createPort({ name: `alt${i}`, network: i % 2 ? 'y' : 'x' }));
    expect(reads.length).toBe(2);
    expect(new Set(made.map((p) => p.portKey)).size).toBe(6);
  });

  it('plans later creations without reading, and still sees what other API servers did', async () => {
    await topo.createNetwork({ name: 'net' });
    await topo.createSubnet({ name: 'net-sub', network: 'net', cidr: '10.0.0.0/24' });
    const reads: number[] = [];
    const realRead = store.read.bind(store);
    store.read = ((ops) => (reads.push(ops.length), realRead(ops))) as typeof store.read;
    const a = await topo.createPort({ name: 'a', network: 'net' });
    const b = await topo.createPort({ name: 'b', network: 'net' });
    const c = await topo.createPort({ name: 'c', network: 'net' });
    expect(reads.length).toBe(1); // only the first creation read the network
    expect(new Set([a.fixedIps[0]!.ip, b.fixedIps[0]!.ip, c.fixedIps[0]!.ip]).size).toBe(3);
    expect(new Set([a.portKey, b.portKey, c.portKey]).size).toBe(3);
    // Another API server (same store) creates a port and frees one: the remembered view is now stale.
    const other = new Topology(store);
    const d = await other.createPort({ name: 'd', network: 'net' });
    await other.deletePort('b');
    // A name that is free only now, an address that was freed elsewhere, a MAC used elsewhere: all decided right.
    const e = await topo.createPort({ name: 'e', network: 'net', fixedIps: [{ ip: b.fixedIps[0]!.ip }], mac: b.mac });
    expect(e.fixedIps[0]!.ip).toBe(b.fixedIps[0]!.ip);
    const f = await topo.createPort({ name: 'f', network: 'net' });
    expect(new Set([a, c, d, e, f].map((p) => p.fixedIps[0]!.ip)).size).toBe(5);
    expect(new Set([a, c, d, e, f].map((p) => p.portKey)).size).toBe(5);
    await rejects(
      () => topo.createPort({ name: 'g', network: 'net', fixedIps: [{ ip: d.fixedIps[0]!.ip }] }),
      'CONFLICT',
      'fixedIps[0].ip',
    );
    await rejects(() => topo.createPort({ name: 'd', network: 'net' }), 'CONFLICT', 'name');
    const listed = (await topo.listPorts('net')).map((p) => p.name).sort();
    expect(listed).toEqual(['a', 'c', 'd', 'e', 'f']);
  });
});

describe('port update (PATCH)', () => {
  /**
   * Runs `other` once, just before the first transaction of the request under test commits (a lost race);
   * counts the transactions the request then sends.
   */

  it('replaces the allowed pairs, clears them, toggles port security; by name or id; the binding shown', async () => {
    await base();
    const p = await topo.createPort({ name: 'vm', network: 'blue', allowedAddressPairs: [{ ip: '10.0.0.100' }] });
    const u = await topo.updatePort('vm', {
      allowedAddressPairs: [{ ip: '10.0.0.200/31' }, { ip: '10.0.0.50', mac: '02:AA:00:00:00:01' }],
    });
    expect(u.allowedAddressPairs).toEqual([{ ip: '10.0.0.200/31' }, { ip: '10.0.0.50', mac: '02:aa:00:00:00:01' }]);
    expect(u.portSecurity).toBe(true);
    const { portKey: _k, ...rest } = u;
    expect(rest).toEqual({ ..._omitKey(p), allowedAddressPairs: u.allowedAddressPairs });
    expect(await topo.getPort('vm')).toEqual(u);
    const v = await topo.updatePort(p.id, { portSecurity: false });
    expect(v).toMatchObject({ portSecurity: false, allowedAddressPairs: u.allowedAddressPairs, portKey: p.portKey, mac: p.mac });
    const w = await topo.updatePort('vm', { allowedAddressPairs: [], portSecurity: true });
    expect(w).toMatchObject({ portSecurity: true, allowedAddressPairs: [] });
    expect(await topo.getPort('vm')).toEqual(w);
    // Unchanged: no write at all.
    const rev = await store.currentRevision();
    await topo.updatePort('vm', { portSecurity: true });
    expect(await store.currentRevision()).toBe(rev);
  });

  it('refuses each bad input with every problem listed, writing nothing', async () => {
    await base();
    await topo.createPort({ name: 'vm', network: 'blue' });
    await rejects(() => topo.updatePort('vm', {}), 'INVALID', undefined, /nothing to change/);
    await rejects(() => topo.updatePort('vm', []), 'INVALID', 'body');
    await rejects(() => topo.updatePort('vm', { name: 'x' }), 'INVALID', 'name', /cannot be changed/);
    await rejects(() => topo.updatePort('vm', { fixedIps: [] }), 'INVALID', 'fixedIps');
    await rejects(() => topo.updatePort('vm', { portSecurity: 'no' }), 'INVALID', 'portSecurity');
    await rejects(() => topo.updatePort('vm', { portSecurity: null }), 'INVALID', 'portSecurity');
    await rejects(() => topo.updatePort('vm', { allowedAddressPairs: null }), 'INVALID', 'allowedAddressPairs');
    await rejects(() => topo.updatePort('vm', { allowedAddressPairs: { ip: '10.0.0.9' } }), 'INVALID', 'allowedAddressPairs');
    await rejects(
      () => topo.updatePort('vm', { allowedAddressPairs: [{ ip: '0.0.0.0/0' }] }),
      'INVALID',
      'allowedAddressPairs[0].ip',
      /too wide/,
    );
    await rejects(() => topo.updatePort('vm', { allowedAddressPairs: [{ ip: '10.0.0.0/7' }] }), 'INVALID', 'allowedAddressPairs[0].ip');
    await rejects(() => topo.updatePort('vm', { allowedAddressPairs: [{ ip: '224.0.0.5' }] }), 'INVALID', 'allowedAddressPairs[0].ip');
    await rejects(
      () => topo.updatePort('vm', { allowedAddressPairs: [{ ip: '10.0.0.1', mac: 'zz' }] }),
      'INVALID',
      'allowedAddressPairs[0].mac',
    );
    await rejects(
      () => topo.updatePort('vm', { allowedAddressPairs: [{ ip: '10.0.0.1', vip: true }] }),
      'INVALID',
      'allowedAddressPairs[0].vip',
    );
    // Several faults at once: one INVALID carrying each of them.
    const e = await rejects(
      () =>
        topo.updatePort('vm', {
          portSecurity: 1,
          allowedAddressPairs: [{ ip: '10.0.0.9' }, { ip: 'nope' }, { ip: '0.0.0.0/0' }],
          mac: 'x',
        }),
      'INVALID',
    );
    expect(e.problems?.map((x) => x.field).sort()).toEqual([
      'allowedAddressPairs[1].ip',
      'allowedAddressPairs[2].ip',
      'mac',
      'portSecurity',
    ]);
    // A bad body is refused before the port is looked up; a good one on an unknown port is a 404.
    await rejects(() => topo.updatePort('ghost', { portSecurity: false }), 'NOT_FOUND');
    await rejects(() => topo.updatePort('ghost', {}), 'INVALID');
    expect((await topo.getPort('vm')).portSecurity).toBe(true);
  });

  it('a concurrent update is applied on top of (nothing lost): the request re-reads and retries', async () => {
    await base();
    await topo.createPort({ name: 'vm', network: 'blue' });
    const other = new Topology(store);
    const race = raceOnce(() => other.updatePort('vm', { portSecurity: false }));
    const u = await topo.updatePort('vm', { allowedAddressPairs: [{ ip: '10.0.0.100' }] });
    expect(race.txns()).toBe(2); // the first lost its compare on the port, the retry committed
    expect(u).toMatchObject({ portSecurity: false, allowedAddressPairs: [{ ip: '10.0.0.100' }] });
    expect(await topo.getPort('vm')).toMatchObject({ portSecurity: false, allowedAddressPairs: [{ ip: '10.0.0.100' }] });
  });

  it('parallel updates of different fields all land', async () => {
    await base();
    await topo.createPort({ name: 'vm', network: 'blue' });
    const others = [new Topology(store), new Topology(store)];
    await Promise.all([
      others[0]!.updatePort('vm', { portSecurity: false }),
      others[1]!.updatePort('vm', { allowedAddressPairs: [{ ip: '10.0.0.7' }] }),
    ]);
    expect(await topo.getPort('vm')).toMatchObject({ portSecurity: false, allowedAddressPairs: [{ ip: '10.0.0.7' }] });
  });

  it('a concurrent delete makes the update a clean 404; it never recreates the port', async () => {
    await base();
    await topo.createPort({ name: 'vm', network: 'blue' });
    const other = new Topology(store);
    raceOnce(() => other.deletePort('vm'));
    const err = await topo.updatePort('vm', { portSecurity: false }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ModelError);
    expect((err as ModelError).code).toBe('NOT_FOUND');
    expect(await topo.listPorts()).toEqual([]);
    expect((await store.range(ROOT)).kvs.filter((kv) => parseKey(kv.key)?.kind === 'port')).toEqual([]);
  });

  it('a port deleted and re-created under the same name meanwhile: the update goes to the new one only', async () => {
    await base();
    const old = await topo.createPort({ name: 'vm', network: 'blue' });
    const other = new Topology(store);
    raceOnce(async () => {
      await other.deletePort('vm');
      await other.createPort({ name: 'vm', network: 'blue' });
    });
    const u = await topo.updatePort('vm', { portSecurity: false });
    expect(u.id).not.toBe(old.id);
    expect((await topo.listPorts()).map((p) => [p.id, p.portSecurity])).toEqual([[u.id, false]]);
  });
});

function _omitKey<T extends { portKey: number }>(p: T): Omit<T, 'portKey'> {
  const { portKey: _k, ...rest } = p;
  return rest;
}
