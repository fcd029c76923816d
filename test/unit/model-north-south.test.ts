/**
 * North–south control plane (issue 14) on a memory store: provider networks and their segments, router gateways,
 * floating IPs and their router paths, the deletes that must disassociate or refuse, and export/import. Every
 * refusal is checked to write nothing.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/index.js';
import type { Store } from '../../src/store/types.js';
import { countingStore, holdFirstRead, modelChecks } from '../helpers/model-checks.js';
import { ensureLazyIndex, routerIndexOps } from '../../src/model/lazy-index.js';
import { FIPS_PREFIX, netPrefix as netPrefixOf, routerKey as routerKeyOf } from '../../src/model/keys.js';
import {
  encodeGatewayLease,
  fipKey,
  gatewayKey,
  guardKey,
  registerChassis,
  segmentKey,
  Topology,
  type FloatingIp,
  type Network,
} from '../../src/model/index.js';

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

/** Registers chassis as agents do (live keys on a lease), with their physnets. */
async function chassis(list: [string, string[]][]): Promise<void> {
  const lease = await store.grantLease(60);
  for (const [name, physnets] of list)
    await registerChassis(store, { name, tunnelIp: '172.31.9.1', encaps: ['vxlan'], version: '0.1.0', physnets }, lease);
}

/** ext (physnet1, flat) with ext-s; blue with blue-a, router r1 on blue-a, port vm1 on blue; three chassis. */
/** Holder id → how many claims (address, MAC) name it, among the claims of holders of `kind` ('fip', 'gateway'). */
async function claimsPerHolder(kind: string): Promise<Map<string, number>> {
  const n = new Map<string, number>();
  for (const kv of (await store.range('/wyvern/v1/claims/')).kvs) {
    const c = JSON.parse(kv.value) as { kind: string; id: string };
    if (c.kind === kind) n.set(c.id, (n.get(c.id) ?? 0) + 1);
  }
  return n;
}

async function world(): Promise<{ ext: Network }> {
  await chassis([
    ['hv2', ['physnet1', 'physnet2']],
    ['hv1', ['physnet1']],
    ['hv3', []],
  ]);
  const ext = await topo.createNetwork({ name: 'ext', provider: { physnet: 'physnet1' } });
  await topo.createSubnet({ name: 'ext-s', network: 'ext', cidr: '203.0.113.0/24', gatewayIp: '203.0.113.1', enableDhcp: false });
  await topo.createNetwork({ name: 'blue' });
  await topo.createSubnet({ name: 'blue-a', network: 'blue', cidr: '10.0.0.0/24' });
  await topo.createRouter({ name: 'r1' });
  await topo.attachSubnet('r1', { subnet: 'blue-a' });
  await topo.createPort({ name: 'vm1', network: 'blue' });
  return { ext };
}

describe('provider networks', () => {
  it('creates flat and VLAN networks, each claiming its segment; delete releases it', async () => {
    const flat = await topo.createNetwork({ name: 'ext', provider: { physnet: 'physnet1' } });
    expect(flat.provider).toEqual({ physnet: 'physnet1' });
    const v = await topo.createNetwork({ name: 'v100', provider: { physnet: 'physnet1', vlan: 100 } });
    expect((await topo.getNetwork('v100')).provider).toEqual({ physnet: 'physnet1', vlan: 100 });
    await topo.createNetwork({ name: 'other', provider: { physnet: 'physnet2', vlan: 100 } });
    expect(JSON.parse((await store.get(segmentKey('physnet1', 100)))!.value)).toEqual({ networkId: v.id });
    expect(JSON.parse((await store.get(segmentKey('physnet1', undefined)))!.value)).toEqual({ networkId: flat.id });
    await topo.deleteNetwork('v100');
    expect(await store.get(segmentKey('physnet1', 100))).toBeUndefined();
    expect((await topo.createNetwork({ name: 'v100b', provider: { physnet: 'physnet1', vlan: 100 } })).provider?.vlan).toBe(100);
  });
  it('refuses a used segment naming its network, bad physnets and VLANs out of range, writing nothing', async () => {
    await topo.createNetwork({ name: 'ext', provider: { physnet: 'physnet1' } });
    await topo.createNetwork({ name: 'v100', provider: { physnet: 'physnet1', vlan: 100 } });
    await rejects(
      () => topo.createNetwork({ name: 'x', provider: { physnet: 'physnet1', vlan: 100 } }),
      'CONFLICT',
      'provider',
      /physnet1 VLAN 100 is already used by network v100/,
    );
    await rejects(
      () => topo.createNetwork({ name: 'x', provider: { physnet: 'physnet1' } }),
      'CONFLICT',
      'provider',
      /physnet1 \(flat\) is already used by network ext/,
    );
    await rejects(
      () => topo.createNetwork({ name: 'x', provider: { physnet: 'physnet1', vlan: 0 } }),
      'INVALID',
      'provider.vlan',
      /1\.\.4094/,
    );
    await rejects(
      () => topo.createNetwork({ name: 'x', provider: { physnet: 'physnet1', vlan: 4095 } }),
      'INVALID',
      'provider.vlan',
      /1\.\.4094/,
    );
    await rejects(() => topo.createNetwork({ name: 'x', provider: { physnet: 'bad/net' } }), 'INVALID', 'provider.physnet');
    await rejects(() => topo.createNetwork({ name: 'x', provider: {} }), 'INVALID', 'provider.physnet');
    await rejects(() => topo.createNetwork({ name: 'x', provider: { physnet: 'p', tag: 3 } }), 'INVALID', 'provider.tag');
    await rejects(() => topo.createNetwork({ name: 'x', provider: 'physnet1' }), 'INVALID', 'provider');
  });
  it('subnets on a provider network work as usual; the gateway must be inside the subnet', async () => {
    await topo.createNetwork({ name: 'ext', provider: { physnet: 'physnet1', vlan: 7 } });
    const s = await topo.createSubnet({ name: 'ext-s', network: 'ext', cidr: '203.0.113.0/24', gatewayIp: '203.0.113.1' });
    expect(s.gatewayIp).toBe('203.0.113.1');
    await rejects(
      () => topo.createSubnet({ name: 'ext-t', network: 'ext', cidr: '198.51.100.0/24', gatewayIp: '203.0.113.1' }),
      'INVALID',
      'gatewayIp',
      /outside subnet/,
    );
  });
});

describe('router gateways', () => {
  it('sets a gateway: address and MAC allocated, chassis defaulted to every live one with the physnet, by name', async () => {
    const { ext } = await world();
    const r = await topo.setGateway('r1', { network: 'ext' });
    expect(r.gateway).toMatchObject({ networkId: ext.id, ip: '203.0.113.2', chassis: ['hv1', 'hv2'] });
    expect(r.gateway!.mac).toMatch(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
    expect((await topo.getRouter('r1')).gateway).toEqual(r.gateway);
    // A port on the provider network cannot take the gateway's address.
    await rejects(
      () => topo.createPort({ name: 'p', network: 'ext', fixedIps: [{ ip: '203.0.113.2' }] }),
      'CONFLICT',
      'fixedIps[0].ip',
      /gateway of router r1/,
    );
    // Set again: replaced in place (same network keeps the MAC), explicit IP and chassis order.
    const r2 = await topo.setGateway('r1', { network: 'ext', ip: '203.0.113.10', chassis: ['hv2', 'hv1'] });
    expect(r2.gateway).toMatchObject({ ip: '203.0.113.10', chassis: ['hv2', 'hv1'], mac: r.gateway!.mac });
    expect((await topo.createPort({ name: 'p', network: 'ext', fixedIps: [{ ip: '203.0.113.2' }] })).fixedIps[0]!.ip).toBe('203.0.113.2');
  });
  it('refuses bad gateways with a clear error, writing nothing', async () => {
    await world();
    await topo.createRouter({ name: 'r2' });
    await rejects(() => topo.setGateway('r1', { network: 'blue' }), 'INVALID', 'network', /not a provider network/);
    await rejects(() => topo.setGateway('r1', { network: 'nope' }), 'INVALID', 'network', /not found/);
    await rejects(() => topo.setGateway('r1', { network: 'ext', chassis: ['hv9'] }), 'INVALID', 'chassis[0]', /chassis hv9 does not exist/);
    await rejects(
      () => topo.setGateway('r1', { network: 'ext', chassis: ['hv1', 'hv3'] }),
      'INVALID',
      'chassis[1]',
      /hv3 has no bridge mapping for physical network physnet1/,
    );
    await rejects(() => topo.setGateway('r1', { network: 'ext', chassis: ['hv1', 'hv1'] }), 'INVALID', 'chassis[1]', /twice/);
    await rejects(
      () => topo.setGateway('r1', { network: 'ext', ip: '198.51.100.5' }),
      'INVALID',
      'ip',
      /outside every subnet of network ext/,
    );
    await rejects(() => topo.setGateway('r1', { network: 'ext', ip: '203.0.113.1' }), 'CONFLICT', 'ip', /gateway of subnet ext-s/);
    await topo.createPort({ name: 'ext-p', network: 'ext', fixedIps: [{ ip: '203.0.113.20' }] });
    await rejects(() => topo.setGateway('r1', { network: 'ext', ip: '203.0.113.20' }), 'CONFLICT', 'ip', /used by port ext-p/);
    await topo.setGateway('r2', { network: 'ext', ip: '203.0.113.30' });
    await rejects(() => topo.setGateway('r1', { network: 'ext', ip: '203.0.113.30' }), 'CONFLICT', 'ip', /gateway of router r2/);
    await rejects(() => topo.setGateway('r1', { network: 'ext', bogus: 1 }), 'INVALID', 'bogus');
    await rejects(() => topo.setGateway('nope', { network: 'ext' }), 'NOT_FOUND');
    // No live chassis reaches physnet2.
    await topo.createNetwork({ name: 'ext9', provider: { physnet: 'physnet9' } });
    await topo.createSubnet({ name: 'ext9-s', network: 'ext9', cidr: '192.0.2.0/24' });
    await rejects(
      () => topo.setGateway('r1', { network: 'ext9' }),
      'CONFLICT',
      'chassis',
      /no live chassis reaches physical network physnet9/,
    );
  });
  it('a router has an interface or its gateway on a provider network, never both', async () => {
    await world();
    await topo.createRouter({ name: 'r2' });
    await topo.attachSubnet('r2', { subnet: 'ext-s', ip: '203.0.113.254' });
    await rejects(() => topo.setGateway('r2', { network: 'ext' }), 'CONFLICT', 'network', /interface and its gateway on one network/);
    await topo.setGateway('r1', { network: 'ext' });
    await rejects(
      () => topo.attachSubnet('r1', { subnet: 'ext-s', ip: '203.0.113.200' }),
      'CONFLICT',
      'subnet',
      /gateway network of router r1/,
    );
  });
  it('shows the active chassis from the lease key and the standbys; clear removes the gateway and its lease key', async () => {
    await world();
    await topo.setGateway('r1', { network: 'ext', chassis: ['hv1', 'hv2'] });
    let s = await topo.getGateway('r1');
    expect(s).toMatchObject({
      router: 'r1',
      network: 'ext',
      active: null,
      standbys: [
        { name: 'hv1', alive: true },
        { name: 'hv2', alive: true },
      ],
    });
    const r = await topo.getRouter('r1');
    await store.put(gatewayKey(r.id), encodeGatewayLease({ routerId: r.id, chassis: 'hv2', since: '2026-01-01T00:00:00.000Z' }));
    s = await topo.getGateway('r1');
    expect(s).toMatchObject({ active: 'hv2', activeSince: '2026-01-01T00:00:00.000Z', standbys: [{ name: 'hv1', alive: true }] });
    const cleared = await topo.clearGateway('r1');
    expect(cleared.gateway).toBeUndefined();
    expect(await store.get(gatewayKey(r.id))).toBeUndefined();
    await rejects(() => topo.getGateway('r1'), 'NOT_FOUND', undefined, /has no gateway/);
    await rejects(() => topo.clearGateway('r1'), 'NOT_FOUND', undefined, /has no gateway/);
  });
});

describe('floating IPs', () => {
  it('creates, associates through the router path, updates and deletes', async () => {
    const { ext } = await world();
    await topo.setGateway('r1', { network: 'ext' });
    const vm1 = await topo.getPort('vm1');
    const r1 = await topo.getRouter('r1');
    const f = await topo.createFloatingIp({ network: 'ext', port: 'vm1' });
    expect(f).toMatchObject({
      networkId: ext.id,
      ip: '203.0.113.3',
      portId: vm1.id,
      portNetworkId: vm1.networkId,
      fixedIp: vm1.fixedIps[0]!.ip,
      routerId: r1.id,
    });
    const g = await topo.createFloatingIp({ network: 'ext', ip: '203.0.113.50' });
    expect(g.portId).toBeUndefined();
    expect((await topo.listFloatingIps()).map((x) => x.ip)).toEqual(['203.0.113.3', '203.0.113.50']);
    expect(await topo.getFloatingIp('203.0.113.50')).toEqual(g);
    expect(await topo.getFloatingIp(g.id)).toEqual(g);
    // One FIP per (port, fixed IP).
    await rejects(() => topo.updateFloatingIp(g.id, { port: 'vm1' }), 'CONFLICT', 'port', /already has floating IP 203\.0\.113\.3/);
    const f2 = await topo.updateFloatingIp(f.id, { port: null });
    expect(f2.portId).toBeUndefined();
    const g2 = await topo.updateFloatingIp('203.0.113.50', { port: vm1.id, fixedIp: vm1.fixedIps[0]!.ip });
    expect(g2.portId).toBe(vm1.id);
    // The FIP's address is taken on the provider network.
    await rejects(() => topo.createFloatingIp({ network: 'ext', ip: '203.0.113.50' }), 'CONFLICT', 'ip', /floating IP/);
    await rejects(() => topo.setGateway('r1', { network: 'ext', ip: '203.0.113.3' }), 'CONFLICT', 'ip', /floating IP/);
    await topo.deleteFloatingIp(f.id);
    expect(await store.get(fipKey(f.id))).toBeUndefined();
    await rejects(() => topo.getFloatingIp(f.id), 'NOT_FOUND');
  });
  it('refuses FIPs without a provider network or a router path, writing nothing', async () => {
    await world();
    await rejects(() => topo.createFloatingIp({ network: 'blue' }), 'INVALID', 'network', /not a provider network/);
    await rejects(
      () => topo.createFloatingIp({ network: 'ext', port: 'vm1' }),
      'CONFLICT',
      'port',
      /port vm1 has no router path to network ext: no router has its gateway on ext/,
    );
    await topo.createRouter({ name: 'r2' });
    await topo.setGateway('r2', { network: 'ext' });
    await rejects(
      () => topo.createFloatingIp({ network: 'ext', port: 'vm1' }),
      'CONFLICT',
      'port',
      /port vm1 has no router path to network ext: no router with its gateway on ext \(r2\) has an interface on subnet blue-a/,
    );
    await topo.setGateway('r1', { network: 'ext' });
    await topo.createPort({ name: 'ext-p', network: 'ext' });
    await rejects(() => topo.createFloatingIp({ network: 'ext', port: 'ext-p' }), 'INVALID', 'port', /on provider network ext/);
    await rejects(
      () => topo.createFloatingIp({ network: 'ext', port: 'vm1', fixedIp: '10.0.0.99' }),
      'INVALID',
      'fixedIp',
      /not a fixed IP of port vm1/,
    );
    await rejects(() => topo.createFloatingIp({ network: 'ext', port: 'nope' }), 'INVALID', 'port', /not found/);
    await rejects(() => topo.createFloatingIp({ network: 'ext', ip: '203.0.113.1' }), 'CONFLICT', 'ip', /gateway of subnet/);
    await rejects(() => topo.createFloatingIp({ network: 'ext', ip: '10.0.0.9' }), 'INVALID', 'ip', /outside every subnet/);
    await rejects(() => topo.createFloatingIp({ network: 'ext', fixedIp: '10.0.0.2' }), 'INVALID', 'fixedIp', /needs port/);
    await rejects(() => topo.updateFloatingIp('203.0.113.77', { port: null }), 'NOT_FOUND');
  });
  it('port delete disassociates its FIP in the same transaction; detach, gateway clear, router and network delete are refused while used', async () => {
    await world();
    await topo.setGateway('r1', { network: 'ext' });
    const f = await topo.createFloatingIp({ network: 'ext', port: 'vm1' });
    await rejects(
      () => topo.detachSubnet('r1', 'blue-a'),
      'CONFLICT',
      'subnet',
      new RegExp(`floating IP\\(s\\) ${f.ip.replaceAll('.', '\\.')}`),
    );
    await rejects(() => topo.clearGateway('r1'), 'CONFLICT', undefined, /used by floating IP\(s\) 203\.0\.113\.3/);
    await rejects(() => topo.deleteRouter('r1'), 'CONFLICT', undefined, /floating IP\(s\) 203\.0\.113\.3/);
    await rejects(() => topo.deleteNetwork('ext'), 'CONFLICT', undefined, /gateway network of router r1/);
    await rejects(() => topo.deleteSubnet('ext-s'), 'CONFLICT', undefined, /holds the gateway of router r1/);
    const rev = await store.currentRevision();
    await topo.deletePort('vm1');
    const after = await topo.getFloatingIp(f.id);
    expect(after).toEqual({ id: f.id, networkId: f.networkId, ip: f.ip, mac: f.mac });
    expect((await store.get(fipKey(f.id)))!.modRevision).toBe(rev + 1); // one transaction with the port's delete
    // Now the router path is free: detach, clear and delete work; the FIP still holds the network.
    await topo.detachSubnet('r1', 'blue-a');
    await topo.clearGateway('r1');
    await rejects(() => topo.deleteNetwork('ext'), 'CONFLICT', undefined, /floating IP\(s\) 203\.0\.113\.3/);
    await topo.deleteFloatingIp(f.id);
    await topo.deleteSubnet('ext-s');
    await topo.deleteNetwork('ext');
  });
  it('a port delete and a FIP association read the FIPs through the lazy index, not the port network’s ports, bindings or claims (every FIP before the index is complete)', async () => {
    await world();
    await topo.setGateway('r1', { network: 'ext' });
    for (let i = 0; i < 5; i++) await topo.createPort({ name: `other${i}`, network: 'blue' });
    const f = await topo.createFloatingIp({ network: 'ext', port: 'vm1' });
    const other = await topo.createFloatingIp({ network: 'ext', port: 'other0' });
    const blue = await topo.getNetwork('blue');
    const reads: string[] = [];
    const realRead = store.read.bind(store);
    store.read = (ops) => {
      for (const op of ops) reads.push('prefix' in op ? `prefix ${op.prefix}` : `key ${op.key}`);
      return realRead(ops);
    };
    const netPrefix = netPrefixOf(blue.id);
    const wholeNetwork = (r: string): boolean =>
      r === `prefix ${netPrefix}` ||
      r.startsWith(`prefix ${netPrefix}ports`) ||
      r.startsWith(`prefix ${netPrefix}bindings`) ||
      r.includes('/claims/');
    // This store's index was never declared complete (no agent ran ensureLazyIndex): every FIP is read.
    await topo.deletePort('vm1');
    expect(reads.filter(wholeNetwork)).toEqual([]);
    expect(reads).toContain(`prefix ${FIPS_PREFIX}`);
    expect((await topo.getFloatingIp(f.id)).portId).toBeUndefined();
    expect((await topo.getFloatingIp(other.id)).portId).toBeDefined();
    // With the index complete (learnt on the next read): the FIPs associated in the network, by key, and no scan of
    // every FIP.
    expect(await ensureLazyIndex(store, 'test')).toBe('written');
    await topo.deletePort('other1');
    reads.length = 0;
    await topo.deletePort('other0');
    expect(reads.filter(wholeNetwork)).toEqual([]);
    expect(reads).not.toContain(`prefix ${FIPS_PREFIX}`);
    expect(reads).toContain(`prefix ${netPrefix}fips/`);
    expect(reads).toContain(`key ${fipKey(other.id)}`);
    expect((await topo.getFloatingIp(other.id)).portId).toBeUndefined();
    reads.length = 0;
    await topo.deletePort('other2'); // no FIP associated in the network now: the guard and the index, no FIP read
    expect(reads.filter(wholeNetwork)).toEqual([]);
    expect(reads.filter((r) => r.startsWith(`key ${FIPS_PREFIX}`) || r === `prefix ${FIPS_PREFIX}`)).toEqual([]);
    expect((await topo.listPorts('blue')).map((p) => p.name).sort()).toEqual(['other3', 'other4']);
    // An association reads the same of the port's network (and the provider network's state, where the FIP goes).
    reads.length = 0;
    const g = await topo.createFloatingIp({ network: 'ext', port: 'other3' });
    expect(g.portId).toBe((await topo.getPort('other3')).id);
    expect(reads.filter(wholeNetwork)).toEqual([]);
    reads.length = 0;
    await expect(topo.createFloatingIp({ network: 'ext', port: 'other3' })).rejects.toThrow(/already has floating IP/);
    expect(reads.filter(wholeNetwork)).toEqual([]);
  });
  it('port deletes at once share the read of the FIPs in their network; one begun before a delete read its port’s guard is not used for it', async () => {
    await world();
    await topo.setGateway('r1', { network: 'ext' });
    for (let i = 0; i < 3; i++) await topo.createPort({ name: `d${i}`, network: 'blue' });
    // Another API process: its own handle on the same store (its reads are not shared with this one's).
    const other = new Topology((store as unknown as { connect(): Store }).connect());
    const blue = await topo.getNetwork('blue');
    const fipsIndex = `${netPrefixOf(blue.id)}fips/`;
    // The first read of the network's FIPs is answered late, with what it saw before the association below.
    const hold = holdFirstRead(store, (ops) => ops.some((op) => 'prefix' in op && op.prefix === fipsIndex));
    const first = topo.deletePort('d0');
    await hold.held;
    const f = await other.createFloatingIp({ network: 'ext', port: 'vm1' });
    const second = topo.deletePort('vm1'); // its guard read sees the association; the held read does not
    await new Promise((r) => setTimeout(r, 10));
    hold.release();
    await Promise.all([first, second]);
    expect((await topo.getFloatingIp(f.id)).portId).toBeUndefined(); // disassociated with the port, not left dangling
    expect(hold.reads.n).toBe(2);
    // Deletes at once: a few reads of the network's FIPs, not one each.
    const many = await Promise.all(Array.from({ length: 40 }, (_, i) => topo.createPort({ name: `m${i}`, network: 'blue' })));
    hold.reads.n = 0;
    await Promise.all(many.map((p) => topo.deletePort(p.name)));
    expect(hold.reads.n).toBeLessThan(10);
  });
  it('router delete clears its gateway (and lease key) when no FIP uses it', async () => {
    await world();
    await topo.setGateway('r1', { network: 'ext' });
    const r = await topo.getRouter('r1');
    await store.put(gatewayKey(r.id), encodeGatewayLease({ routerId: r.id, chassis: 'hv1', since: '2026-01-01T00:00:00.000Z' }));
    await topo.deleteRouter('r1');
    expect(await store.get(gatewayKey(r.id))).toBeUndefined();
    expect((await topo.createFloatingIp({ network: 'ext' })).ip).toBe('203.0.113.2');
  });
});

describe('races (each decided by a compare, not by the read before it)', () => {
  it('a FIP associated while its router interface is being detached: the detach re-plans and is refused', async () => {
    await world();
    await topo.setGateway('r1', { network: 'ext' });
    raceOnce(() => topo.createFloatingIp({ network: 'ext', port: 'vm1' }));
    await expect(topo.detachSubnet('r1', 'blue-a')).rejects.toThrow(/reach their port through router r1's interface on subnet blue-a/);
    expect((await topo.getRouter('r1')).interfaces).toHaveLength(1);
  });
  it('a FIP created while the gateway is being cleared: the clear re-plans and is refused', async () => {
    await world();
    await topo.setGateway('r1', { network: 'ext' });
    raceOnce(() => topo.createFloatingIp({ network: 'ext', port: 'vm1' }));
    await expect(topo.clearGateway('r1')).rejects.toThrow(/used by floating IP/);
    expect((await topo.getRouter('r1')).gateway).toBeDefined();
  });
  it('a FIP created while the router is being deleted: the delete re-plans and is refused', async () => {
    await world();
    await topo.setGateway('r1', { network: 'ext' });
    raceOnce(() => topo.createFloatingIp({ network: 'ext', port: 'vm1' }));
    await expect(topo.deleteRouter('r1')).rejects.toThrow(/router path of floating IP/);
  });
  it('a FIP created for a port being deleted: the port delete re-plans and disassociates it', async () => {
    await world();
    await topo.setGateway('r1', { network: 'ext' });
    raceOnce(() => topo.createFloatingIp({ network: 'ext', port: 'vm1' }));
    await topo.deletePort('vm1');
    const [f] = await topo.listFloatingIps();
    expect(f!.portId).toBeUndefined();
  });
  it('two FIPs for one port fixed IP, and two gateways on one address: the second re-plans and is refused', async () => {
    await world();
    await topo.setGateway('r1', { network: 'ext' });
    raceOnce(() => topo.createFloatingIp({ network: 'ext', port: 'vm1' }));
    await expect(topo.createFloatingIp({ network: 'ext', port: 'vm1' })).rejects.toThrow(/already has floating IP/);
    await topo.createRouter({ name: 'r2' });
    raceOnce(() => topo.createFloatingIp({ network: 'ext', ip: '203.0.113.40' }));
    await expect(topo.setGateway('r2', { network: 'ext', ip: '203.0.113.40' })).rejects.toThrow(/already used by floating IP/);
  });
  it('a port and a FIP racing for one address, either first: the claim decides, the other re-plans and is refused', async () => {
    await world();
    raceOnce(() => topo.createFloatingIp({ network: 'ext', ip: '203.0.113.50' }));
    await expect(topo.createPort({ name: 'p1', network: 'ext', fixedIps: [{ ip: '203.0.113.50' }] })).rejects.toMatchObject({
      code: 'CONFLICT',
      field: 'fixedIps[0].ip',
      message: expect.stringMatching(/already used by floating IP 203\.0\.113\.50/),
    });
    raceOnce(() => topo.createPort({ name: 'p2', network: 'ext', fixedIps: [{ ip: '203.0.113.51' }] }));
    await expect(topo.createFloatingIp({ network: 'ext', ip: '203.0.113.51' })).rejects.toMatchObject({
      code: 'CONFLICT',
      field: 'ip',
      message: expect.stringMatching(/already used by port p2/),
    });
    // Without an address asked for, the loser takes another.
    raceOnce(() => topo.createPort({ name: 'p3', network: 'ext', fixedIps: [{ ip: '203.0.113.2' }] }));
    expect((await topo.createFloatingIp({ network: 'ext' })).ip).not.toBe('203.0.113.2');
  });
  it('a subnet delete racing a FIP created in it: the delete re-plans and is refused', async () => {
    await world();
    await topo.createSubnet({ name: 'ext-t', network: 'ext', cidr: '198.51.100.0/24', enableDhcp: false });
    raceOnce(() => topo.createFloatingIp({ network: 'ext', ip: '198.51.100.9' }));
    await expect(topo.deleteSubnet('ext-t')).rejects.toThrow(/floating IP\(s\) 198\.51\.100\.9/);
  });
  it('FIPs created at once over three API servers all succeed, each address and MAC claimed once, without a convoy', async () => {
    await world();
    const { store: counting, calls } = countingStore(store);
    const servers = [0, 1, 2].map(() => new Topology(counting, { maxAttempts: 1000 }));
    const fips = await Promise.all(Array.from({ length: 90 }, (_, i) => servers[i % 3]!.createFloatingIp({ network: 'ext' })));
    expect(new Set(fips.map((f) => f.ip)).size).toBe(90);
    expect(new Set(fips.map((f) => f.mac)).size).toBe(90);
    // A convoy on the network's guard took ~N²/2 transactions (4,000 here); lost address races cost a few each.
    expect(calls.txn).toBeLessThan(90 * 6);
    // Their first attempts share the network's read (each of the 90 read it, and again on every retry).
    expect(calls.read).toBeLessThan(90);
    const byFip = await claimsPerHolder('fip');
    expect(fips.every((f) => byFip.get(f.id) === 2)).toBe(true);
    // A port on the provider network takes none of their addresses; deleting a FIP frees its address and MAC.
    const p = await topo.createPort({ name: 'px', network: 'ext' });
    expect(fips.map((f) => f.ip)).not.toContain(p.fixedIps[0]!.ip);
    await topo.deleteFloatingIp(fips[0]!.id);
    expect((await store.range('/wyvern/v1/claims/')).kvs.filter((kv) => kv.value.includes(fips[0]!.id))).toEqual([]);
    const again = await topo.createPort({ name: 'py', network: 'ext', fixedIps: [{ ip: fips[0]!.ip }], mac: fips[0]!.mac });
    expect(again.fixedIps[0]!.ip).toBe(fips[0]!.ip);
  });
  it('gateways set at once over three API servers all succeed, each address and MAC claimed once, without a convoy', async () => {
    await world();
    for (let i = 0; i < 60; i++) await topo.createRouter({ name: `t${i}` });
    const { store: counting, calls } = countingStore(store);
    const servers = [0, 1, 2].map(() => new Topology(counting, { maxAttempts: 1000 }));
    const set = await Promise.all(Array.from({ length: 60 }, (_, i) => servers[i % 3]!.setGateway(`t${i}`, { network: 'ext' })));
    const gws = set.map((r) => r.gateway!);
    expect(new Set(gws.map((g) => g.ip)).size).toBe(60);
    expect(new Set(gws.map((g) => g.mac)).size).toBe(60);
    // Every gateway change bumped the network's structure guard before, a convoy of ~N²/2 transactions (1,800 here).
    expect(calls.txn).toBeLessThan(60 * 4);
    // Their first attempts share the network's read.
    expect(calls.read).toBeLessThan(60);
    const byRouter = await claimsPerHolder('gateway');
    expect(set.every((r) => byRouter.get(r.id) === 2)).toBe(true);
    // A port and a FIP on the provider network take none of their addresses.
    const p = await topo.createPort({ name: 'px', network: 'ext' });
    const f = await topo.createFloatingIp({ network: 'ext' });
    expect(gws.map((g) => g.ip)).not.toContain(p.fixedIps[0]!.ip);
    expect(gws.map((g) => g.ip)).not.toContain(f.ip);
    // A cleared gateway, and a deleted router's, free their address and MAC at once.
    await topo.clearGateway('t0');
    await topo.deleteRouter('t1');
    for (const r of set.slice(0, 2))
      expect((await store.range('/wyvern/v1/claims/')).kvs.filter((kv) => kv.value.includes(r.id))).toEqual([]);
    const again = await topo.createPort({ name: 'py', network: 'ext', fixedIps: [{ ip: gws[0]!.ip }], mac: gws[0]!.mac });
    expect(again.fixedIps[0]!.ip).toBe(gws[0]!.ip);
    expect((await topo.createFloatingIp({ network: 'ext', ip: gws[1]!.ip })).ip).toBe(gws[1]!.ip);
  });
  it('a port and a gateway racing for one address, either first: the claim decides, the other re-plans and is refused', async () => {
    await world();
    raceOnce(() => topo.createPort({ name: 'p1', network: 'ext', fixedIps: [{ ip: '203.0.113.60' }] }));
    await expect(topo.setGateway('r1', { network: 'ext', ip: '203.0.113.60' })).rejects.toMatchObject({
      code: 'CONFLICT',
      field: 'ip',
      message: expect.stringMatching(/already used by port p1/),
    });
    await topo.createRouter({ name: 'r2' });
    raceOnce(() => topo.setGateway('r2', { network: 'ext', ip: '203.0.113.61' }));
    await expect(topo.createPort({ name: 'p2', network: 'ext', fixedIps: [{ ip: '203.0.113.61' }] })).rejects.toMatchObject({
      code: 'CONFLICT',
      field: 'fixedIps[0].ip',
      message: expect.stringMatching(/already used by the gateway of router r2/),
    });
    // Without an address asked for, the loser takes another.
    raceOnce(() => topo.createPort({ name: 'p3', network: 'ext', fixedIps: [{ ip: '203.0.113.2' }] }));
    expect((await topo.setGateway('r1', { network: 'ext' })).gateway!.ip).not.toBe('203.0.113.2');
  });
  it('a gateway given another address keeps its MAC claim and moves its address claim; moved to another network, both move', async () => {
    await world();
    await chassis([['hv4', ['physnet2']]]);
    await topo.createNetwork({ name: 'ext2', provider: { physnet: 'physnet2' } });
    await topo.createSubnet({ name: 'ext2-s', network: 'ext2', cidr: '198.51.100.0/24', enableDhcp: false });
    const claimsOf = async (id: string) =>
      (await store.range('/wyvern/v1/claims/')).kvs
        .filter((kv) => kv.value.includes(id))
        .map((kv) => kv.key.split('/').slice(-2).join('/'));
    const r = await topo.setGateway('r1', { network: 'ext', ip: '203.0.113.70' });
    const mac = r.gateway!.mac;
    expect((await claimsOf(r.id)).sort()).toEqual([`ip/203.0.113.70`, `mac/${mac}`]);
    await topo.setGateway('r1', { network: 'ext', ip: '203.0.113.71', chassis: ['hv1'] });
    expect((await claimsOf(r.id)).sort()).toEqual([`ip/203.0.113.71`, `mac/${mac}`]);
    // The chassis list alone changed: the claims stay as they are.
    await topo.setGateway('r1', { network: 'ext', chassis: ['hv2'] });
    expect((await claimsOf(r.id)).sort()).toEqual([`ip/203.0.113.71`, `mac/${mac}`]);
    const moved = await topo.setGateway('r1', { network: 'ext2' });
    expect((await claimsOf(r.id)).sort()).toEqual([`ip/${moved.gateway!.ip}`, `mac/${moved.gateway!.mac}`]);
    expect((await topo.createPort({ name: 'p', network: 'ext', fixedIps: [{ ip: '203.0.113.71' }] })).fixedIps[0]!.ip).toBe('203.0.113.71');
  });
  it('a gateway set before gateways claimed (no claim) still keeps its address from ports; set again it claims it; cleared it frees it', async () => {
    const { ext } = await world();
    const r = await topo.getRouter('r1');
    const legacy = {
      ...r,
      gateway: {
        networkId: ext.id,
        subnetId: (await topo.getSubnet('ext-s')).id,
        ip: '203.0.113.2',
        mac: '02:aa:00:00:00:02',
        chassis: ['hv1'],
      },
    };
    // As setGateway wrote it before gateways claimed: the router and its lazy index, no claim.
    await store.txn([], [{ op: 'put', key: routerKeyOf(r.id), value: JSON.stringify(legacy) }, ...routerIndexOps(r, legacy)]);
    await rejects(
      () => topo.createPort({ name: 'p', network: 'ext', fixedIps: [{ ip: '203.0.113.2' }] }),
      'CONFLICT',
      'fixedIps[0].ip',
      /203\.0\.113\.2 is already used by the gateway of router r1/,
    );
    expect((await topo.createFloatingIp({ network: 'ext' })).ip).toBe('203.0.113.3');
    await topo.setGateway('r1', { network: 'ext', chassis: ['hv2'] });
    expect(
      (await store.range('/wyvern/v1/claims/')).kvs.filter((kv) => kv.value.includes(r.id)).map((kv) => kv.key.split('/').pop()),
    ).toEqual(['203.0.113.2', '02:aa:00:00:00:02']);
    await topo.clearGateway('r1');
    expect((await topo.createPort({ name: 'p', network: 'ext', fixedIps: [{ ip: '203.0.113.2' }] })).fixedIps[0]!.ip).toBe('203.0.113.2');
  });
  it('associations at once over three API servers (created with a port, then moved by PATCH, then removed) all succeed, without a convoy', async () => {
    await world();
    await topo.setGateway('r1', { network: 'ext' });
    const ports = await Promise.all(Array.from({ length: 60 }, (_, i) => topo.createPort({ name: `a${i}`, network: 'blue' })));
    const ext = await topo.getNetwork('ext');
    const blue = await topo.getNetwork('blue');
    const guardRevs = async (): Promise<(number | undefined)[]> =>
      Promise.all([guardKey(ext.id), guardKey(blue.id)].map(async (k) => (await store.get(k))?.modRevision));
    const before = await guardRevs();
    const { store: counting, calls } = countingStore(store);
    const servers = [0, 1, 2].map(() => new Topology(counting, { maxAttempts: 1000 }));
    const fips = await Promise.all(ports.map((p, i) => servers[i % 3]!.createFloatingIp({ network: 'ext', port: p.name })));
    expect(fips.map((f) => f.portId)).toEqual(ports.map((p) => p.id));
    // Every association bumped both networks' structure guards, and each lost to the others: ~N²/2 transactions.
    expect(calls.txn).toBeLessThan(60 * 3);
    expect(await guardRevs()).toEqual(before);
    calls.txn = 0;
    // Each FIP moves to another port (a PATCH), all at once.
    const others = await Promise.all(Array.from({ length: 60 }, (_, i) => topo.createPort({ name: `b${i}`, network: 'blue' })));
    calls.txn = 0;
    const moved = await Promise.all(fips.map((f, i) => servers[(i + 1) % 3]!.updateFloatingIp(f.id, { port: others[i]!.name })));
    expect(moved.map((f) => f.portId)).toEqual(others.map((p) => p.id));
    expect(calls.txn).toBeLessThan(60 * 3);
    calls.txn = 0;
    await Promise.all(fips.map((f, i) => servers[(i + 2) % 3]!.updateFloatingIp(f.id, { port: null })));
    expect(calls.txn).toBeLessThan(60 * 3);
    expect((await topo.listFloatingIps()).every((f) => f.portId === undefined)).toBe(true);
    expect(await guardRevs()).toEqual(before);
  });
  it('one port asked for by FIPs at once over three servers: exactly one is associated, the others get a clear 409', async () => {
    await world();
    await topo.setGateway('r1', { network: 'ext' });
    const servers = [0, 1, 2].map(() => new Topology(store, { maxAttempts: 1000 }));
    const free = await Promise.all(Array.from({ length: 10 }, () => topo.createFloatingIp({ network: 'ext' })));
    const rs = await Promise.allSettled([
      ...Array.from({ length: 10 }, (_, i) => servers[i % 3]!.createFloatingIp({ network: 'ext', port: 'vm1' })),
      ...free.map((f, i) => servers[(i + 1) % 3]!.updateFloatingIp(f.id, { port: 'vm1' })),
    ]);
    expect(rs.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of rs)
      if (r.status === 'rejected') expect((r.reason as Error).message).toMatch(/^port vm1 \(10\.0\.0\.\d+\) already has floating IP /);
    expect((await topo.listFloatingIps()).filter((f) => f.portId !== undefined)).toHaveLength(1);
  });
  it('a gateway cleared, an interface detached or the port deleted while a FIP is being associated by PATCH: the association re-plans and is refused', async () => {
    await world();
    await topo.setGateway('r1', { network: 'ext' });
    const f = await topo.createFloatingIp({ network: 'ext' });
    raceOnce(() => topo.clearGateway('r1'));
    await expect(topo.updateFloatingIp(f.id, { port: 'vm1' })).rejects.toThrow(/no router has its gateway on ext/);
    await topo.setGateway('r1', { network: 'ext' });
    raceOnce(() => topo.detachSubnet('r1', 'blue-a'));
    await expect(topo.updateFloatingIp(f.id, { port: 'vm1' })).rejects.toThrow(/has no router path/);
    expect((await topo.getFloatingIp(f.id)).portId).toBeUndefined();
    // The port deleted while it is being associated: the association compares the port, re-plans, finds none.
    await topo.attachSubnet('r1', { subnet: 'blue-a' });
    raceOnce(() => topo.deletePort('vm1'));
    await expect(topo.updateFloatingIp(f.id, { port: 'vm1' })).rejects.toThrow(/port vm1 not found/);
    expect((await topo.getFloatingIp(f.id)).portId).toBeUndefined();
  });
  it('a FIP associated by PATCH while the gateway is being cleared, or the router deleted: those re-plan and are refused', async () => {
    await world();
    await topo.setGateway('r1', { network: 'ext' });
    const f = await topo.createFloatingIp({ network: 'ext' });
    raceOnce(() => topo.updateFloatingIp(f.id, { port: 'vm1' }));
    await expect(topo.clearGateway('r1')).rejects.toThrow(/used by floating IP/);
    raceOnce(() => topo.updateFloatingIp(f.id, { port: null }).then(() => topo.updateFloatingIp(f.id, { port: 'vm1' })));
    await expect(topo.deleteRouter('r1')).rejects.toThrow(/router path of floating IP/);
    expect((await topo.getFloatingIp(f.id)).portId).toBeDefined();
  });
  it('a creation that joined a read begun before it is refused only on a read of its own (a subnet made just before)', async () => {
    await world();
    // The store's reads hold until released: creation A's read of the network is in flight…
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const slow = new Proxy(store, {
      get: (t, k) => {
        const v = Reflect.get(t, k) as unknown;
        // Read now, answered once released: the answer is from before what happens meanwhile.
        if (k === 'read')
          return async (...a: unknown[]) => {
            const answer = await (v as (...x: unknown[]) => Promise<unknown>).apply(t, a);
            await held;
            return answer;
          };
        return typeof v === 'function' ? (v as (...x: unknown[]) => unknown).bind(t) : v;
      },
    });
    const server = new Topology(slow);
    const a = server.createFloatingIp({ network: 'ext' });
    await new Promise((r) => setTimeout(r, 20));
    // …when a subnet is created (through another server), and then B asks for an address in it.
    await topo.createSubnet({ name: 'ext-u', network: 'ext', cidr: '198.51.100.0/24', enableDhcp: false });
    const b = server.createFloatingIp({ network: 'ext', ip: '198.51.100.7' });
    release();
    expect((await b).ip).toBe('198.51.100.7');
    expect((await a).ip).toMatch(/^(203\.0\.113|198\.51\.100)\./);
  });
  it('a FIP written before FIPs claimed their address (no claim) still keeps it from ports and FIPs', async () => {
    const { ext } = await world();
    const old: FloatingIp = { id: '7d0c4c1e-6a0f-4b7e-9a7e-6f1f3d2b9a01', networkId: ext.id, ip: '203.0.113.2', mac: '02:aa:00:00:00:01' };
    await store.put(fipKey(old.id), JSON.stringify(old));
    expect((await topo.createFloatingIp({ network: 'ext' })).ip).toBe('203.0.113.3');
    await rejects(
      () => topo.createPort({ name: 'p', network: 'ext', fixedIps: [{ ip: '203.0.113.2' }] }),
      'CONFLICT',
      'fixedIps[0].ip',
      /203\.0\.113\.2 is already used by floating IP/,
    );
    await topo.deleteFloatingIp(old.id);
    expect((await topo.createPort({ name: 'p', network: 'ext', fixedIps: [{ ip: '203.0.113.2' }] })).fixedIps[0]!.ip).toBe('203.0.113.2');
  });
  it('a FIP named by its address is found through its claim, not by reading every FIP; one written before claims too', async () => {
    const { ext } = await world();
    await topo.createNetwork({ name: 'ext2', provider: { physnet: 'physnet2' } });
    await topo.createSubnet({ name: 'ext2-s', network: 'ext2', cidr: '198.51.100.0/24', enableDhcp: false });
    // One after another: each takes the lowest free address (at once they pick at random, and one could take an
    // address this test uses below).
    const fips: FloatingIp[] = [];
    for (let i = 0; i < 5; i++) fips.push(await topo.createFloatingIp({ network: 'ext' }));
    const { store: counting, calls } = countingStore(store);
    const reader = new Topology(counting);
    expect((await reader.getFloatingIp(fips[3]!.ip)).id).toBe(fips[3]!.id);
    expect(calls.range).not.toContain(FIPS_PREFIX);
    await expect(reader.getFloatingIp('203.0.113.200')).rejects.toThrow(/floating IP 203\.0\.113\.200 not found/);
    // Written before FIPs claimed their address: no claim names it, so every FIP is read.
    const old: FloatingIp = { id: '7d0c4c1e-6a0f-4b7e-9a7e-6f1f3d2b9a02', networkId: ext.id, ip: '203.0.113.77', mac: '02:aa:00:00:00:02' };
    await store.put(fipKey(old.id), JSON.stringify(old));
    calls.range.length = 0;
    expect((await reader.getFloatingIp('203.0.113.77')).id).toBe(old.id);
    expect(calls.range).toContain(FIPS_PREFIX);
    // One address on two provider networks: ask for the id.
    const twin = await topo.createFloatingIp({ network: 'ext2', ip: '198.51.100.9' });
    expect((await reader.getFloatingIp('198.51.100.9')).id).toBe(twin.id);
    await topo.createSubnet({ name: 'ext-b', network: 'ext', cidr: '198.51.100.0/24', enableDhcp: false });
    await topo.createFloatingIp({ network: 'ext', ip: '198.51.100.9' });
    await expect(reader.getFloatingIp('198.51.100.9')).rejects.toThrow(/198\.51\.100\.9 is a floating IP on 2 networks: give its id/);
    await reader.deleteFloatingIp(fips[3]!.ip);
    await expect(reader.getFloatingIp(fips[3]!.ip)).rejects.toThrow(/not found/);
  });
  it('moving a gateway to another network is refused while FIPs use it', async () => {
    await world();
    await topo.createNetwork({ name: 'ext2', provider: { physnet: 'physnet2' } });
    await topo.createSubnet({ name: 'ext2-s', network: 'ext2', cidr: '192.0.2.0/24' });
    await topo.setGateway('r1', { network: 'ext' });
    await topo.createFloatingIp({ network: 'ext', port: 'vm1' });
    await rejects(() => topo.setGateway('r1', { network: 'ext2' }), 'CONFLICT', 'network', /router path of floating IP/);
    await topo.updateFloatingIp('203.0.113.3', { port: null });
    const r = await topo.setGateway('r1', { network: 'ext2' });
    expect(r.gateway).toMatchObject({ ip: '192.0.2.2', chassis: ['hv2'] });
    // The old address is free again.
    expect((await topo.createPort({ name: 'p', network: 'ext', fixedIps: [{ ip: '203.0.113.2' }] })).fixedIps[0]!.ip).toBe('203.0.113.2');
  });
});

describe('export / import', () => {
  it('round-trips provider networks, gateways and FIPs; a re-import writes nothing', async () => {
    await world();
    await topo.createNetwork({ name: 'v7', provider: { physnet: 'physnet2', vlan: 7 } });
    await topo.setGateway('r1', { network: 'ext' });
    await topo.createFloatingIp({ network: 'ext', port: 'vm1' });
    await topo.createFloatingIp({ network: 'ext' });
    const doc = await topo.exportTopology();
    expect(doc.floatingIps).toHaveLength(2);
    expect(doc.networks.find((n) => n.name === 'ext')!.provider).toEqual({ physnet: 'physnet1' });
    const other = await openStore('memory:');
    try {
      const t2 = new Topology(other);
      const r = await t2.importTopology(JSON.parse(JSON.stringify(doc)));
      expect(r.written).toBeGreaterThan(0);
      expect(await t2.exportTopology()).toEqual(doc);
      expect((await t2.importTopology(doc)).written).toBe(0);
      // The import claimed the segments: a duplicate is refused there too.
      await expect(t2.createNetwork({ name: 'dup', provider: { physnet: 'physnet2', vlan: 7 } })).rejects.toThrow(/used by network v7/);
      expect((await t2.getGateway('r1')).network).toBe('ext');
      // And the FIPs' address claims, as the original store has them: a port cannot take their addresses there.
      const claims = async (st: Store) => (await st.range('/wyvern/v1/claims/')).kvs.map((kv) => [kv.key, kv.value]);
      expect(await claims(other)).toEqual(await claims(store));
      const ip = doc.floatingIps![1]!.ip;
      await expect(t2.createPort({ name: 'p', network: 'ext', fixedIps: [{ ip }] })).rejects.toThrow(/already used by floating IP/);
    } finally {
      await other.close();
    }
    expect((await topo.importTopology(doc)).written).toBe(0);
    // Provider fields never change in place: an import that would is refused as a whole.
    const moved = {
      ...doc,
      networks: doc.networks.map((n) => (n.name === 'ext' ? { ...n, provider: { physnet: 'physnet1', vlan: 5 } } : n)),
    };
    await rejects(() => topo.importTopology(moved), 'CONFLICT', undefined, /network ext differs from the stored one/);
  });
  it('refuses documents with inconsistent north-south objects, listing the problems', async () => {
    await world();
    await topo.setGateway('r1', { network: 'ext' });
    await topo.createFloatingIp({ network: 'ext', port: 'vm1' });
    const doc = await topo.exportTopology();
    const ext = doc.networks.find((n) => n.name === 'ext')!;
    const bad = {
      ...doc,
      networks: [...doc.networks, { ...ext, id: '00000000-0000-4000-8000-000000000001', name: 'ext2', tunnelKey: 99 }],
      floatingIps: [...doc.floatingIps!, { ...doc.floatingIps![0]!, id: '00000000-0000-4000-8000-000000000002' } as FloatingIp],
    };
    const other = await openStore('memory:');
    try {
      await expect(new Topology(other).importTopology(bad)).rejects.toThrow(
        /physnet1 \(flat\) is also used by network "ext"[\s\S]*duplicate IP 203\.0\.113\.3[\s\S]*two floating IPs/,
      );
      expect((await other.range('/')).kvs).toEqual([]);
    } finally {
      await other.close();
    }
  });
});
