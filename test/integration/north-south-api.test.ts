/**
 * North–south control plane (issue 14) end to end on real etcd: the API server over the store and the built `wyvern`
 * CLI as a process. Provider networks (two concurrent creations of one VLAN: exactly one wins), router gateways with
 * their chassis checks and status, floating IPs with their router path, port delete disassociating, refusals that
 * write nothing, and export/import of it all.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient, ApiClientError } from '../../src/api/client.js';
import { startApiServer, type ApiServer } from '../../src/api/server.js';
import {
  encodeGatewayLease,
  gatewayKey,
  registerChassis,
  ROOT,
  segmentKey,
  Topology,
  type FloatingIp,
  type Network,
  type Router,
} from '../../src/model/index.js';
import { openStore } from '../../src/store/index.js';
import type { Store } from '../../src/store/types.js';
import { wyvern } from '../helpers/cli.js';
import { startEtcd, type EtcdCluster } from '../helpers/etcd.js';

let etcd: EtcdCluster;
let store: Store;
let server: ApiServer;
let dir: string;
let api: string[];
let c: ApiClient;

beforeAll(async () => {
  etcd = await startEtcd();
  store = await openStore(etcd.url);
  dir = await mkdtemp(join(tmpdir(), 'wyvern-ns-'));
  server = await startApiServer({ store, listen: `unix:${join(dir, 'api.sock')}` });
  api = ['--api', server.url];
  c = new ApiClient(server.url);
  // Three chassis as agents register them (live keys on a lease): hv1 and hv2 reach physnet1, hv3 none.
  const lease = await store.grantLease(60);
  for (const [name, physnets] of [
    ['hv2', ['physnet1', 'physnet2']],
    ['hv1', ['physnet1']],
    ['hv3', []],
  ] as [string, string[]][])
    await registerChassis(store, { name, tunnelIp: '172.31.9.1', encaps: ['vxlan'], version: '0.1.0', physnets }, lease);
});
afterAll(async () => {
  await server?.close();
  await store?.close();
  await etcd?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const cli = (...args: string[]) => wyvern([...args, ...api]);

async function dump(): Promise<string> {
  const { kvs } = await store.range(ROOT);
  return JSON.stringify(kvs.filter((k) => !k.key.startsWith(`${ROOT}chassis/`)).map((k) => [k.key, k.value, k.modRevision]));
}

/** A CLI command that must fail with `re` on stderr and leave the store as it was. */
async function refused(re: RegExp, ...args: string[]): Promise<void> {
  const before = await dump();
  const r = await cli(...args);
  expect(r.code, r.stdout).toBe(1);
  expect(r.stderr).toMatch(re);
  expect(await dump()).toBe(before);
}

describe('north-south over etcd through the API and the built CLI', () => {
  it('two concurrent creations of one VLAN segment: exactly one wins, the other is told who holds it', async () => {
    const bodies = [0, 1].map((i) => ({ name: `race${i}`, provider: { physnet: 'physnet9', vlan: 300 } }));
    // Two API servers' worth of writers: separate Topology instances over separate etcd clients.
    const other = await openStore(etcd.url);
    try {
      const writers = [new Topology(store), new Topology(other)];
      const rs = await Promise.allSettled(bodies.map((b, i) => writers[i]!.createNetwork(b)));
      const won = rs.filter((r) => r.status === 'fulfilled') as PromiseFulfilledResult<Network>[];
      const lost = rs.filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
      expect(won).toHaveLength(1);
      expect(lost).toHaveLength(1);
      expect(String(lost[0]!.reason)).toMatch(new RegExp(`physnet9 VLAN 300 is already used by network ${won[0]!.value.name}`));
      expect(JSON.parse((await store.get(segmentKey('physnet9', 300)))!.value)).toEqual({ networkId: won[0]!.value.id });
      // Staged so that the compare decides (not the read before it): B commits between A's read and A's commit.
      const realTxn = other.txn.bind(other);
      const outcomes: boolean[] = [];
      let staged = false;
      other.txn = (async (compares, ops) => {
        if (!staged) {
          staged = true;
          // Another writer claims the segment (an import: its own tunnel key, so only the segment collides).
          const net = { id: randomUUID(), name: 'staged-b', tunnelKey: 999, mtu: 1450, provider: { physnet: 'physnet9', vlan: 302 } };
          await writers[0]!.importTopology({ format: 'wyvern-topology', version: 1, networks: [net], subnets: [], ports: [], routers: [] });
        }
        const res = await realTxn(compares, ops);
        outcomes.push(res.succeeded);
        return res;
      }) as typeof other.txn;
      await expect(writers[1]!.createNetwork({ name: 'staged-a', provider: { physnet: 'physnet9', vlan: 302 } })).rejects.toThrow(
        /physnet9 VLAN 302 is already used by network staged-b/,
      );
      expect(outcomes).toEqual([false]);
      other.txn = realTxn;
      expect(await c.call<Network[]>('GET', '/v1/networks/staged-a').catch((e: ApiClientError) => e.status)).toBe(404);
      // And over HTTP, racing again on a fresh segment.
      const hs = await Promise.allSettled(
        [0, 1].map((i) => c.call<Network>('POST', '/v1/networks', { name: `hrace${i}`, provider: { physnet: 'physnet9', vlan: 301 } })),
      );
      expect(hs.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      const err = (hs.find((r) => r.status === 'rejected') as PromiseRejectedResult).reason as ApiClientError;
      expect(err.status).toBe(409);
      expect(err.message).toMatch(/physnet9 VLAN 301 is already used by network hrace/);
      for (const n of await c.call<Network[]>('GET', '/v1/networks')) await c.call('DELETE', `/v1/networks/${n.id}`);
      expect(await store.get(segmentKey('physnet9', 300))).toBeUndefined();
    } finally {
      await other.close();
    }
  });

  it('provider networks through the CLI: created, listed with physnet and VLAN, refused when bad or taken', async () => {
    let r = await cli('network', 'create', 'ext', '--provider', 'physnet1');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/provider\s+physnet=physnet1/);
    r = await cli('network', 'create', 'ext100', '--provider', 'physnet1', '--vlan', '100', '--json');
    expect(r.code, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as Network).provider).toEqual({ physnet: 'physnet1', vlan: 100 });
    r = await cli('network', 'list');
    expect(r.stdout).toMatch(/^NAME\s+ID\s+TUNNEL-KEY\s+MTU\s+PROVIDER\s+VLAN/);
    expect(r.stdout).toMatch(/\next\s+\S+\s+\d+\s+1450\s+physnet1\s+flat\s+mesh\n/);
    expect(r.stdout).toMatch(/\next100\s+\S+\s+\d+\s+1450\s+physnet1\s+100/);
    await refused(
      /physnet1 VLAN 100 is already used by network ext100.*HTTP 409/,
      'network',
      'create',
      'x',
      '--provider',
      'physnet1',
      '--vlan',
      '100',
    );
    await refused(/physnet1 \(flat\) is already used by network ext/, 'network', 'create', 'x', '--provider', 'physnet1');
    await refused(/1\.\.4094.*field: provider\.vlan/, 'network', 'create', 'x', '--provider', 'physnet1', '--vlan', '4095');
    await refused(/field: provider\.physnet/, 'network', 'create', 'x', '--provider', 'bad/name');
    const u = await cli('network', 'create', 'x', '--vlan', '5');
    expect(u.code).toBe(2);
    expect(u.stderr).toMatch(/--vlan needs --provider/);
    r = await cli('subnet', 'create', 'ext-s', '--network', 'ext', '--cidr', '203.0.113.0/24', '--gateway', '203.0.113.1', '--no-dhcp');
    expect(r.code, r.stderr).toBe(0);
    await refused(
      /outside subnet/,
      'subnet',
      'create',
      'ext-t',
      '--network',
      'ext',
      '--cidr',
      '198.51.100.0/24',
      '--gateway',
      '203.0.113.1',
    );
    for (const a of [
      ['network', 'create', 'blue'],
      ['subnet', 'create', 'blue-a', '--network', 'blue', '--cidr', '10.0.0.0/24'],
      ['router', 'create', 'r1'],
      ['router', 'attach', 'r1', 'blue-a'],
      ['port', 'create', 'vm1', '--network', 'blue'],
    ]) {
      r = await cli(...a);
      expect(r.code, r.stderr).toBe(0);
    }
  });

  it('router gateway set / show / clear, with every chassis check', async () => {
    await refused(/not a provider network/, 'router', 'gateway', 'set', 'r1', '--network', 'blue');
    await refused(
      /chassis hv9 does not exist.*field: chassis\[1\]/,
      'router',
      'gateway',
      'set',
      'r1',
      '--network',
      'ext',
      '--chassis',
      'hv1,hv9',
    );
    await refused(
      /chassis hv3 has no bridge mapping for physical network physnet1/,
      'router',
      'gateway',
      'set',
      'r1',
      '--network',
      'ext',
      '--chassis',
      'hv3',
    );
    await refused(/listed twice/, 'router', 'gateway', 'set', 'r1', '--network', 'ext', '--chassis', 'hv1,hv1');
    await refused(/gateway of subnet ext-s/, 'router', 'gateway', 'set', 'r1', '--network', 'ext', '--ip', '203.0.113.1');
    await refused(/has no gateway.*HTTP 404/, 'router', 'gateway', 'show', 'r1');
    let r = await cli('router', 'gateway', 'set', 'r1', '--network', 'ext', '--ip', '203.0.113.10', '--chassis', 'hv2,hv1');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/set gateway of router r1/);
    expect(r.stdout).toMatch(/ip\s+203\.0\.113\.10/);
    expect(r.stdout).toMatch(/active\s+none \(no live candidate\)/);
    expect(r.stdout).toMatch(/standbys\s+hv2 \(alive\), hv1 \(alive\)/);
    // The elected agent writes the lease key; show reports it as active and the rest as standbys.
    const r1 = await c.call<Router>('GET', '/v1/routers/r1');
    await store.put(gatewayKey(r1.id), encodeGatewayLease({ routerId: r1.id, chassis: 'hv2', since: '2026-12-05T00:00:00.000Z' }));
    r = await cli('router', 'gateway', 'show', 'r1');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/active\s+hv2 \(since 2026-12-05T00:00:00.000Z\)/);
    expect(r.stdout).toMatch(/standbys\s+hv1 \(alive\)\n/);
    r = await cli('router', 'list');
    expect(r.stdout).toMatch(/r1\s+proactive\s+10\.0\.0\.1\s+-\s+203\.0\.113\.10/);
    // Default chassis: every live one reaching physnet1, by name; replacing keeps the lease key.
    r = await cli('router', 'gateway', 'set', 'r1', '--network', 'ext', '--json');
    expect(r.code, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as Router).gateway).toMatchObject({ ip: '203.0.113.10', chassis: ['hv1', 'hv2'] });
    await refused(/gateway network of router r1/, 'router', 'attach', 'r1', 'ext-s', '--ip', '203.0.113.99');
  });

  it('floating IPs: router path required, listed with names, disassociated when the port goes', async () => {
    await refused(/not a provider network/, 'fip', 'create', '--network', 'blue');
    let r = await cli('port', 'create', 'vm2', '--network', 'blue');
    expect(r.code, r.stderr).toBe(0);
    r = await cli('network', 'create', 'green');
    r = await cli('subnet', 'create', 'green-a', '--network', 'green', '--cidr', '10.1.0.0/24');
    r = await cli('port', 'create', 'vm3', '--network', 'green');
    expect(r.code, r.stderr).toBe(0);
    await refused(
      /port vm3 has no router path to network ext: no router with its gateway on ext \(r1\) has an interface on subnet green-a/,
      'fip',
      'create',
      '--network',
      'ext',
      '--port',
      'vm3',
    );
    r = await cli('fip', 'create', '--network', 'ext', '--ip', '203.0.113.50', '--port', 'vm1');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/created floating IP 203\.0\.113\.50/);
    expect(r.stdout).toMatch(/port\s+vm1/);
    expect(r.stdout).toMatch(/router\s+r1/);
    await refused(/already has floating IP 203\.0\.113\.50/, 'fip', 'create', '--network', 'ext', '--port', 'vm1');
    await refused(/already used by floating IP/, 'fip', 'create', '--network', 'ext', '--ip', '203.0.113.50');
    await refused(/used by floating IP\(s\) 203\.0\.113\.50/, 'router', 'gateway', 'clear', 'r1');
    await refused(/reach their port through router r1's interface on subnet blue-a/, 'router', 'detach', 'r1', 'blue-a');
    await refused(/floating IP\(s\) 203\.0\.113\.50/, 'router', 'delete', 'r1');
    r = await cli('fip', 'create', '--network', 'ext', '--json');
    expect(r.code, r.stderr).toBe(0);
    const spare = JSON.parse(r.stdout) as FloatingIp;
    expect(spare.portId).toBeUndefined();
    r = await cli('fip', 'update', spare.ip, '--port', 'vm2');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/port\s+vm2/);
    r = await cli('fip', 'list');
    expect(r.stdout).toMatch(/^IP\s+NETWORK\s+PORT\s+FIXED-IP\s+ROUTER\s+ID/);
    expect(r.stdout).toMatch(/203\.0\.113\.50\s+ext\s+vm1\s+10\.0\.0\.\d+\s+r1/);
    expect(r.stdout).toMatch(new RegExp(`${spare.ip.replaceAll('.', '\\.')}\\s+ext\\s+vm2\\s+10\\.0\\.0\\.\\d+\\s+r1`));
    r = await cli('fip', 'update', spare.id, '--no-port');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/port\s+-/);
    const u = await cli('fip', 'update', spare.id);
    expect(u.code).toBe(2);
    // Deleting vm1 disassociates its FIP in the same transaction.
    r = await cli('port', 'delete', 'vm1');
    expect(r.code, r.stderr).toBe(0);
    const f = await c.call<FloatingIp>('GET', '/v1/floating-ips/203.0.113.50');
    expect(f.portId).toBeUndefined();
    expect(f.routerId).toBeUndefined();
    r = await cli('fip', 'show', '203.0.113.50');
    expect(r.stdout).toMatch(/port\s+-/);
  });

  it('answers the new routes with the usual status codes, writing nothing when refusing', async () => {
    const status = async (method: string, path: string, body?: unknown): Promise<number> => {
      const before = await dump();
      const code = await c.call(method, path, body).then(
        () => 200,
        (e: ApiClientError) => e.status,
      );
      expect(await dump()).toBe(before);
      return code;
    };
    expect(await status('PUT', '/v1/routers/r1/gateway', { network: 'ext', colour: 'red' })).toBe(400);
    expect(await status('PUT', '/v1/routers/r1/gateway', { network: 'ext', chassis: [] })).toBe(400);
    expect(await status('PUT', '/v1/routers/nope/gateway', { network: 'ext' })).toBe(404);
    expect(await status('GET', '/v1/routers/nope/gateway')).toBe(404);
    expect(await status('DELETE', '/v1/routers/nope/gateway')).toBe(404);
    expect(await status('POST', '/v1/floating-ips', { network: 'blue' })).toBe(400);
    expect(await status('POST', '/v1/floating-ips', { network: 'ext', port: 'vm3' })).toBe(409);
    expect(await status('POST', '/v1/floating-ips', { network: 'ext', ip: '203.0.113.10' })).toBe(409);
    expect(await status('GET', '/v1/floating-ips/203.0.113.99')).toBe(404);
    expect(await status('PATCH', '/v1/floating-ips/203.0.113.50', {})).toBe(400);
    expect(await status('PATCH', '/v1/floating-ips/203.0.113.50', { port: 'vm2', mac: 'x' })).toBe(400);
    expect(await status('DELETE', '/v1/floating-ips/00000000-0000-4000-8000-000000000000')).toBe(404);
    // A network's segment is fixed for its life: PATCH (topology, issue 16) refuses to change it.
    expect(await status('PATCH', '/v1/networks/ext', { provider: { physnet: 'physnet2' } })).toBe(400);
  });

  it('exports and re-imports it all (idempotent), then tears down in order', async () => {
    const doc = await c.call<{ floatingIps: FloatingIp[]; networks: Network[] }>('GET', '/v1/topology');
    expect(doc.floatingIps).toHaveLength(2);
    expect(doc.networks.find((n) => n.name === 'ext100')!.provider).toEqual({ physnet: 'physnet1', vlan: 100 });
    expect(await c.call('PUT', '/v1/topology', doc)).toMatchObject({ written: 0 });
    await refused(/gateway network of router r1/, 'network', 'delete', 'ext');
    for (const f of doc.floatingIps) expect((await cli('fip', 'delete', f.id)).code).toBe(0);
    let r = await cli('router', 'gateway', 'clear', 'r1');
    expect(r.code, r.stderr).toBe(0);
    const r1 = await c.call<Router>('GET', '/v1/routers/r1');
    expect(r1.gateway).toBeUndefined();
    expect(await store.get(gatewayKey(r1.id))).toBeUndefined();
    for (const a of [
      ['subnet', 'delete', 'ext-s'],
      ['network', 'delete', 'ext'],
    ]) {
      r = await cli(...a);
      expect(r.code, r.stderr).toBe(0);
    }
    expect(await store.get(segmentKey('physnet1', undefined))).toBeUndefined();
    r = await cli('network', 'create', 'ext-again', '--provider', 'physnet1');
    expect(r.code, r.stderr).toBe(0);
  });
});
