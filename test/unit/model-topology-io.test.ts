import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/index.js';
import type { Store } from '../../src/store/types.js';
import { ModelError, ROOT, Topology, exportTopology, importTopology, type TopologyDocument } from '../../src/model/index.js';

let store: Store;
let topo: Topology;
beforeEach(async () => {
  store = await openStore('memory:');
  topo = new Topology(store);
});
afterEach(async () => {
  await store.close();
});

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
    // Every key (names, allocations, address and MAC claims) is restored except guard values, which only need to
    // exist, and the ports' and subnets' guards, markers that a reader of an absent one sees at revision 0 (keys.ts).
    const marker = (k: string): boolean => /\/guard\/[^/]+\/(ports|subnet\/)/.test(k);
    const keysAfter = (await store.range(ROOT)).kvs.map((k) => [k.key, k.key.includes('/guard/') ? 'x' : k.value]);
    expect(keysAfter).toEqual(keysBefore.filter(([k]) => !marker(k!)).map(([k, v]) => [k, k!.includes('/guard/') ? 'x' : v]));
    expect(keysBefore.some(([k]) => k!.includes('/claims/'))).toBe(true);
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
    await expect(importTopology(store, changed)).rejects.toMatchObject({
      code: 'CONFLICT',
      message: expect.stringMatching(/network blue differs/),
    });
    expect(await store.currentRevision()).toBe(rev);
  });
  it('rejects invalid documents naming the field', async () => {
    await expect(importTopology(store, { format: 'x' })).rejects.toMatchObject({ code: 'INVALID', field: 'format' });
    await populate();
    const doc = await exportTopology(store);
    const bad = { ...doc, ports: doc.ports.map((p, i) => (i === 1 ? { ...p, mac: 'nope' } : p)) };
    await expect(importTopology(store, bad)).rejects.toMatchObject({ code: 'INVALID', field: 'ports[1].mac' });
    const dupIp = {
      ...doc,
      ports: [
        ...doc.ports,
        { ...doc.ports[0]!, id: '00000000-0000-4000-8000-000000000001', name: 'dup', mac: '02:00:00:00:00:99', portKey: 999 },
      ],
    };
    await expect(importTopology(store, dupIp)).rejects.toMatchObject({ code: 'CONFLICT', message: expect.stringMatching(/duplicate IP/) });
  });

  it('runs the API create rules on every object: the reported bad file is refused whole, listing each object and field', async () => {
    await populate();
    const good = await exportTopology(store);
    await store.txn([], [{ op: 'deletePrefix', prefix: ROOT }]);
    const rev = await store.currentRevision();
    const doc = JSON.parse(JSON.stringify(good)) as TopologyDocument;
    const ni = doc.networks.findIndex((n) => n.name === 'blue');
    const si = doc.subnets.findIndex((x) => x.name === 'blue-a');
    const red = doc.networks.find((n) => n.name === 'red')!;
    doc.networks[ni]!.name = '../../evil/net\u{1F409}';
    Object.assign(doc.subnets[si]!, {
      gatewayIp: '10.0.0.0',
      leaseTime: 1,
      dhcpOptions: [
        { code: 53, value: '05' },
        { code: 54, value: '0a000001' },
      ],
    });
    doc.ports[0]!.name = 'vm\n0';
    doc.ports[1]!.allowedAddressPairs = [{ ip: 'not-an-ip' }, { ip: '0.0.0.0/0' }, { ip: '10.0.0.7' }];
    const extra = (n: number, cidr: string) => ({
      id: `00000000-0000-4000-8000-00000000000${n}`,
      name: `x${n}`,
      networkId: red.id,
      cidr,
      gatewayIp: cidr.replace(/0\/\d+$/, '1'),
      enableDhcp: true,
      dnsServers: [],
      hostRoutes: [],
      leaseTime: 600,
      dhcpOptions: [],
    });
    doc.subnets.push(
      extra(1, '224.1.0.0/24'),
      extra(2, '127.0.0.0/24'),
      extra(3, '0.0.0.0/8'),
      extra(4, '240.0.0.0/24'),
      extra(5, '10.7.0.0/24'),
    );
    let err: unknown;
    try {
      await importTopology(store, doc);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ModelError);
    const e = err as ModelError;
    expect(e.code).toBe('INVALID');
    const n = good.subnets.length;
    expect(e.problems!.map((p) => p.field).sort()).toEqual(
      [
        `networks[${ni}].name`,
        `subnets[${si}].gatewayIp`,
        `subnets[${si}].leaseTime`,
        `subnets[${si}].dhcpOptions[0].code`,
        `subnets[${si}].dhcpOptions[1].code`,
        `subnets[${n}].cidr`,
        `subnets[${n + 1}].cidr`,
        `subnets[${n + 2}].cidr`,
        `subnets[${n + 3}].cidr`,
        'ports[0].name',
        'ports[1].allowedAddressPairs[0].ip',
        'ports[1].allowedAddressPairs[1].ip',
      ].sort(),
    );
    // Each entry names the object as well as the field.
    const byField = new Map(e.problems!.map((p) => [p.field, p.message]));
    expect(byField.get(`subnets[${si}].gatewayIp`)).toMatch(/^subnet "blue-a": gateway 10\.0\.0\.0 is the network address/);
    expect(byField.get(`subnets[${si}].dhcpOptions[0].code`)).toMatch(/^subnet "blue-a": option 53 \(message type\)/);
    expect(byField.get(`subnets[${n}].cidr`)).toMatch(/^subnet "x1": .*multicast/);
    expect(byField.get('ports[0].name')).toMatch(/^port "vm\\n0": invalid name/);
    expect(byField.get('ports[1].allowedAddressPairs[1].ip')).toMatch(/too wide/);
    expect(e.message).toMatch(/^topology document \(nothing written\) has 12 problems: /);
    // Nothing was written.
    expect((await store.range(ROOT)).kvs).toEqual([]);
    expect(await store.currentRevision()).toBe(rev);
    // The untouched document (the accepted neighbour) still imports.
    expect((await importTopology(store, good)).written).toBeGreaterThan(0);
  });

  it('cross-object rules are collected too: a port on its subnet gateway, a route via the router itself', async () => {
    await populate();
    const good = await exportTopology(store);
    const doc = JSON.parse(JSON.stringify(good)) as TopologyDocument;
    const blueA = doc.subnets.find((x) => x.name === 'blue-a')!;
    const pi = doc.ports.findIndex((p) => p.fixedIps[0]!.subnetId === blueA.id);
    doc.ports[pi]!.fixedIps[0]!.ip = blueA.gatewayIp;
    const r = doc.routers[0]!;
    r.routes.push({ cidr: '172.16.0.0/12', nexthop: r.interfaces[0]!.ip });
    await store.txn([], [{ op: 'deletePrefix', prefix: ROOT }]);
    await expect(importTopology(store, doc)).rejects.toMatchObject({
      problems: [
        { code: 'CONFLICT', field: `ports[${pi}].fixedIps[0].ip`, message: expect.stringMatching(/is the gateway of subnet blue-a/) },
        { code: 'INVALID', field: 'routers[0].routes[1].nexthop', message: expect.stringMatching(/router's own address/) },
      ],
    });
    expect((await store.range(ROOT)).kvs).toEqual([]);
  });
});
