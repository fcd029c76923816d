/**
 * Lazy sync of routers and their gateway leases (issue 17) on real OVS and etcd, 2 hypervisors. An agent watches
 * exactly the routers of its networks, each by its own key (found through the index under each network, not by
 * watching every router); follows a router attached and detached at run time; and routes after a crash restart
 * from its cache while etcd is down.
 *
 *   r1: netA 10.11.0.0/24 ── netB 10.12.0.0/24     a1 @hv1 10.11.0.10, b2 @hv2 10.12.0.10
 *   r2: netC 10.13.0.0/24 ── netD 10.14.0.0/24     c2 @hv2, d2 @hv2 (hv1 has no port behind r2)
 *   r3 (at run time): netA (10.11.0.254) ── netE 10.15.0.0/24 (its gateway)     e2 @hv2 10.15.0.10
 *   r4 (at run time): netF 10.16.0.0/24, and netA (10.11.0.253) written without the index    f2 @hv2 10.16.0.10
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gatewayKey, netPrefix, routerKey, routerRefKey, ROUTERS_PREFIX, GATEWAYS_PREFIX, FIPS_PREFIX } from '../../src/model/keys.js';
import { decodeRouter, encodeRouter } from '../../src/model/codec.js';
import { openStore } from '../../src/store/index.js';
import { Cluster, type PortInfo } from '../helpers/cluster.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, cond: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const t0 = Date.now();
  while (!(await cond().catch(() => false))) {
    if (Date.now() - t0 > ms) throw new Error(`timed out (${ms} ms) waiting for ${what}`);
    await sleep(50);
  }
}

describe('lazy sync of routers through the index under each network', () => {
  let c: Cluster;
  const ids: Record<string, string> = {};
  const ports: Record<string, PortInfo> = {};
  const watched = async (h: string): Promise<string[]> => (await c.agentStatus(h)).watchedPrefixes as string[];
  const switchEqual = async (h: string) => ((await c.api(h).call('POST', '/v1/agent/recompute')) as { switch: unknown }).switch;

  beforeAll(async () => {
    c = await Cluster.up({ hosts: 2, agents: false });
    // The lazy index is audited every second here (600 s by default).
    await Promise.all(['hv1', 'hv2'].map((h) => c.startAgent(h, { env: { WYVERN_INDEX_AUDIT_SECONDS: '1' } })));
    const api = c.api();
    for (const [name, cidr] of [
      ['netA', '10.11.0.0/24'],
      ['netB', '10.12.0.0/24'],
      ['netC', '10.13.0.0/24'],
      ['netD', '10.14.0.0/24'],
      ['netE', '10.15.0.0/24'],
    ] as const)
      ids[name] = (await c.network(name, cidr)).id;
    for (const [r, nets] of [
      ['r1', ['netA', 'netB']],
      ['r2', ['netC', 'netD']],
    ] as const) {
      ids[r] = ((await api.call('POST', '/v1/routers', { name: r })) as { id: string }).id;
      for (const n of nets) await api.call('POST', `/v1/routers/${r}/interfaces`, { subnet: `${n}-sub` });
    }
    for (const [vm, net, ip, host] of [
      ['a1', 'netA', '10.11.0.10', 'hv1'],
      ['b2', 'netB', '10.12.0.10', 'hv2'],
      ['c2', 'netC', '10.13.0.10', 'hv2'],
      ['d2', 'netD', '10.14.0.10', 'hv2'],
      ['e2', 'netE', '10.15.0.10', 'hv2'],
    ] as const) {
      ports[vm] = await c.port(vm, net, ip);
      await c.vm(host, vm, ports[vm]!, 24, { gateway: ip.replace(/\.10$/, '.1') });
    }
  }, 120_000);

  afterAll(async () => {
    await c?.down();
  });

  it('hv1 watches r1 (its key and gateway lease) and routes through it; r2 and the full lists are not watched', async () => {
    const w = await watched('hv1');
    expect(w).toEqual(expect.arrayContaining([routerKey(ids.r1!), gatewayKey(ids.r1!)]));
    expect(w).not.toContain(routerKey(ids.r2!));
    for (const p of [ROUTERS_PREFIX, GATEWAYS_PREFIX, FIPS_PREFIX]) expect(w).not.toContain(p);
    // hv2 has ports behind both.
    expect(await watched('hv2')).toEqual(expect.arrayContaining([routerKey(ids.r1!), routerKey(ids.r2!)]));
    expect(await c.pingUntil('a1', ports.b2!.ip)).toBeGreaterThanOrEqual(0);
  });

  it('a router attached to hv1’s network at run time is watched, with the network it reaches; detached, both go', async () => {
    const api = c.api();
    ids.r3 = ((await api.call('POST', '/v1/routers', { name: 'r3' })) as { id: string }).id;
    await api.call('POST', '/v1/routers/r3/interfaces', { subnet: 'netE-sub' });
    await sleep(300);
    expect(await watched('hv1')).not.toContain(routerKey(ids.r3));
    await api.call('POST', '/v1/routers/r3/interfaces', { subnet: 'netA-sub', ip: '10.11.0.254' });
    await until('hv1 to watch r3 and netE', async () => {
      const w = await watched('hv1');
      return w.includes(routerKey(ids.r3!)) && w.includes(netPrefix(ids.netE!));
    });
    await c.sb.exec('a1', ['ip', 'route', 'replace', '10.15.0.0/24', 'via', '10.11.0.254']);
    expect(await c.pingUntil('a1', ports.e2!.ip)).toBeGreaterThanOrEqual(0);
    expect(await switchEqual('hv1')).toEqual({ equal: true, missing: [], extra: [], different: [] });

    await api.call('DELETE', '/v1/routers/r3/interfaces/netA-sub');
    await until('hv1 to drop r3 and netE', async () => {
      const w = await watched('hv1');
      return !w.includes(routerKey(ids.r3!)) && !w.includes(netPrefix(ids.netE!));
    });
    expect(await c.ping('a1', ports.e2!.ip)).toBe(false);
    expect(await c.pingUntil('a1', ports.b2!.ip)).toBeGreaterThanOrEqual(0);
  });

  it('a router interface written without the index (an API of an older version) is found by the audit, then routes', async () => {
    const api = c.api();
    ids.netF = (await c.network('netF', '10.16.0.0/24')).id;
    ports.f2 = await c.port('f2', 'netF', '10.16.0.10');
    await c.vm('hv2', 'f2', ports.f2, 24, { gateway: '10.16.0.1' });
    ids.r4 = ((await api.call('POST', '/v1/routers', { name: 'r4' })) as { id: string }).id;
    await api.call('POST', '/v1/routers/r4/interfaces', { subnet: 'netF-sub' });
    // As a writer before the index would: the router's document only, no key under netA.
    const store = await openStore(c.storeUrl);
    try {
      const kv = (await store.get(routerKey(ids.r4!)))!;
      const r = decodeRouter(kv.value);
      const subnet = ((await api.call('GET', '/v1/subnets/netA-sub')) as { id: string }).id;
      r.interfaces.push({ subnetId: subnet, networkId: ids.netA!, ip: '10.11.0.253', mac: '02:00:00:00:0a:fd' });
      await store.put(kv.key, encodeRouter(r));
      expect(await store.get(routerRefKey(ids.netA!, ids.r4!))).toBeUndefined();
      // The agents audit every second here (600 s by default): one of them indexes it, and hv1 follows.
      await until('hv1 to watch r4 and netF', async () => {
        const w = await watched('hv1');
        return w.includes(routerKey(ids.r4!)) && w.includes(netPrefix(ids.netF!));
      });
      expect(await store.get(routerRefKey(ids.netA!, ids.r4!))).toBeDefined();
    } finally {
      await store.close();
    }
    await c.sb.exec('a1', ['ip', 'route', 'replace', '10.16.0.0/24', 'via', '10.11.0.253']);
    expect(await c.pingUntil('a1', ports.f2!.ip)).toBeGreaterThanOrEqual(0);
    expect(await switchEqual('hv1')).toEqual({ equal: true, missing: [], extra: [], different: [] });
  });

  it('a crash restart while etcd is down routes from the cache: r1 comes back from it, traffic never stops', async () => {
    const traffic = c.sb.exec('a1', ['ping', '-n', '-q', '-i', '0.01', '-c', '800', '-W', '1', ports.b2!.ip], 60_000);
    await sleep(300);
    await c.stopAgent('hv1', 'SIGKILL');
    await c.etcd.members[0]!.kill();
    try {
      await c.startAgent('hv1');
      const s = await c.agentStatus('hv1');
      expect(s.topology.source).toBe('cache');
      expect(s.watchedPrefixes).toContain(routerKey(ids.r1!));
      expect(await switchEqual('hv1')).toEqual({ equal: true, missing: [], extra: [], different: [] });
    } finally {
      await c.etcd.members[0]!.restart();
    }
    const out = (await traffic).stdout;
    const m = /(\d+) packets transmitted, (\d+) received/.exec(out);
    expect(m && Number(m[1]) - Number(m[2])).toBe(0);
    await until('hv1 to read the store again', async () => (await c.agentStatus('hv1')).topology.source !== 'cache', 20_000);
    expect(await c.pingUntil('a1', ports.b2!.ip)).toBeGreaterThanOrEqual(0);
  }, 90_000);
});
