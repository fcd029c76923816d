/**
 * Issue 16, sites on real OVS and etcd: paris (hv1, hv2, hv3; gateway candidates hv1, hv2) and lyon (hv4, hv5;
 * candidates hv4, hv5), the underlay joining the sites only between candidates (every other cross-site pair is
 * filtered in the underlay namespace). A mesh network `w` and a star network `z` (center in paris: lyon's star
 * hangs off lyon's gateway) span both sites, with VMs on hosts that are not gateways.
 *
 * - VMs across sites ping each other; an underlay capture shows no packet between a non-gateway host and the other
 *   site (hv3 never even tries lyon's hosts), and the gateways carry it;
 * - paris's active gateway dies (agent SIGKILL, OVS stopped) under `ping -i 0.05` across the sites: hv2 takes over
 *   and the outage is printed beside the lease TTL; incremental == full recompute == switch on the survivors.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { siteGatewayKey } from '../../src/model/keys.js';
import { openStore } from '../../src/store/index.js';
import type { Store } from '../../src/store/types.js';
import { capture } from '../helpers/capture.js';
import { Cluster, type PortInfo } from '../helpers/cluster.js';
import { expectRecomputeEqual as recomputeEqual } from '../helpers/recompute.js';
import { outage, pingRun, sleep, until } from '../helpers/ping-run.js';

const TTL = 3;
const ARGS = ['--lease-ttl-seconds', String(TTL)];
const SITES = { hv1: 'paris', hv2: 'paris', hv3: 'paris', hv4: 'lyon', hv5: 'lyon' };
const CANDIDATES = { paris: ['hv1', 'hv2'], lyon: ['hv4', 'hv5'] };

describe('sites joined through elected gateways', { timeout: 60_000 }, () => {
  let c: Cluster;
  let store: Store;
  const ports: Record<string, PortInfo> = {};

  const gateway = async (site: string): Promise<string | null> => {
    const kv = await store.get(siteGatewayKey(site));
    return kv ? (JSON.parse(kv.value) as { chassis: string }).chassis : null;
  };
  const ip = (h: string) => c.sb.host(h).tunnelIp;

  const expectRecomputeEqual = (hosts: string[]) => recomputeEqual(c, hosts);

  beforeAll(async () => {
    c = await Cluster.up({ hosts: 5, agents: false, sites: SITES, siteGatewayCandidates: CANDIDATES });
    await Promise.all(Object.keys(SITES).map((h) => c.startAgent(h, { args: ARGS })));
    store = await openStore(c.storeUrl);
    const api = c.api();
    for (const [site, chassis] of Object.entries(CANDIDATES)) await api.call('PUT', `/v1/sites/${site}/gateway`, { chassis });
    await c.network('w', '10.9.0.0/24', { mtu: 1400 });
    await api.call('POST', '/v1/networks', { name: 'z', mtu: 1400, topology: 'star', centers: ['hv3'] });
    await api.call('POST', '/v1/subnets', { name: 'z-sub', network: 'z', cidr: '10.10.0.0/24', enableDhcp: false });
    for (const [vm, host, net] of [
      ['w3', 'hv3', 'w'],
      ['w5', 'hv5', 'w'],
      ['z2', 'hv2', 'z'],
      ['z3', 'hv3', 'z'],
      ['z5', 'hv5', 'z'],
    ] as const) {
      ports[vm] = await c.port(vm, net);
      await c.vm(host, vm, ports[vm]!);
    }
    await until(async () => (await gateway('paris')) === 'hv1' && (await gateway('lyon')) === 'hv4', 15_000, 'site gateways elected');
  }, 120_000);

  afterAll(async () => {
    await store?.close();
    await c?.down();
  });

  it('VMs across sites ping; only gateways carry inter-site traffic, non-gateways never try another site', async () => {
    expect(await c.pingUntil('w3', ports.w5!.ip, 10_000)).toBeGreaterThanOrEqual(0);
    expect(await c.pingUntil('z2', ports.z5!.ip, 10_000)).toBeGreaterThanOrEqual(0);
    const lines = await capture(`${c.sb.prefix}-ul`, 'br-ul', ['-q', 'ip'], async () => {
      for (const [from, to] of [
        ['w3', 'w5'],
        ['w5', 'w3'],
        ['z2', 'z5'],
        ['z5', 'z3'],
        ['z3', 'z2'],
      ] as const) {
        const r = await c.sb.exec(from, ['ping', '-c', '3', '-i', '0.1', '-W', '1', '-n', ports[to]!.ip]);
        expect(r.stdout, `${from} -> ${to}`).toMatch(/ 0% packet loss/);
      }
    });
    const between = (a: string, b: string) =>
      lines.filter((l) => (l.includes(`${ip(a)}.`) && l.includes(`> ${ip(b)}.`)) || (l.includes(`${ip(b)}.`) && l.includes(`> ${ip(a)}.`)));
    for (const a of ['hv2', 'hv3']) for (const b of ['hv4', 'hv5']) expect(between(a, b), `${a} <-> ${b}`).toEqual([]);
    expect(between('hv1', 'hv4').length).toBeGreaterThan(0);
    // In lyon the star z hangs off the gateway: hv5 <-> hv4 carries z, never hv5 straight to paris.
    expect(between('hv5', 'hv4').length).toBeGreaterThan(0);
    await expectRecomputeEqual(['hv1', 'hv3', 'hv4', 'hv5']);
  });

  it("paris's active gateway dies: hv2 takes over, traffic across the sites resumes", async () => {
    const run = pingRun(c, 'w3', ports.w5!.ip);
    await until(() => run.replies.length > 5, 5_000, 'pings answer');
    const t0 = Date.now();
    await c.stopAgent('hv1', 'SIGKILL');
    await c.sb.hostStop('hv1');
    await until(async () => (await gateway('paris')) === 'hv2', (TTL + 5) * 1000, 'hv2 the paris gateway');
    const moved = Date.now() - t0;
    const n = run.replies.length;
    await until(() => run.replies.length > n + 10, 10_000, 'pings answer again');
    await sleep(500);
    await run.stop();
    const gap = outage(run.replies, t0, Date.now());
    console.log(`site gateway failover: gateway moved after ${moved} ms, ping outage ${gap.toFixed(0)} ms (lease TTL ${TTL} s)`);
    expect(gap).toBeLessThan((TTL + 1) * 1000 + 1_500);
    expect(await c.pingUntil('z3', ports.z5!.ip, 5_000)).toBeGreaterThanOrEqual(0);
    await expectRecomputeEqual(['hv2', 'hv3', 'hv4', 'hv5']);
  });
});
