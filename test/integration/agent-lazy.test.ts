/**
 * Lazy sync: an agent holds and watches only the networks it has ports in (issue 5), and drops a network
 * when its last local port leaves. With lazy sync off it watches everything.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster } from '../helpers/cluster.js';

const NETWORKS = 200;

describe('lazy sync with 200 networks in the store', () => {
  let c: Cluster;

  beforeAll(async () => {
    c = await Cluster.up({ hosts: 1 });
    const api = c.api();
    // 200 networks, each with a subnet and a port, as a busy cluster would have.
    for (let i = 0; i < NETWORKS; i += 20) {
      await Promise.all(
        Array.from({ length: 20 }, async (_, k) => {
          const n = i + k;
          await api.call('POST', '/v1/networks', { name: `n${n}` });
          await api.call('POST', '/v1/subnets', { name: `s${n}`, network: `n${n}`, cidr: '10.9.0.0/24' });
          await api.call('POST', '/v1/ports', { name: `p${n}`, network: `n${n}` });
        }),
      );
    }
  }, 240_000);

  afterAll(async () => {
    await c?.down();
  });

  it('holds and watches exactly the 2 networks with local ports', async () => {
    for (const n of [7, 123]) {
      const p = (await c.api().call('GET', `/v1/ports/p${n}`)) as {
        name: string;
        mac: string;
        fixedIps: { ip: string }[];
        networkId: string;
        id: string;
      };
      await c.vm('hv1', `p${n}`, { name: p.name, mac: p.mac, ip: p.fixedIps[0]!.ip, id: p.id, networkId: p.networkId });
    }
    const s = await c.agentStatus('hv1');
    expect(s.watchedNetworks.map((n: { name: string }) => n.name).sort()).toEqual(['n123', 'n7']);
    // Each for its local port (the status says why), and none wanted without being in the view.
    expect(Object.fromEntries(s.watchedNetworks.map((n: { name: string; reasons: string[] }) => [n.name, n.reasons]))).toEqual({
      n7: ['p7'],
      n123: ['p123'],
    });
    expect(s.networksNotInView).toEqual([]);
    const netPrefixes = (s.watchedPrefixes as string[]).filter((p) => p.startsWith('/wyvern/v1/net/'));
    expect(netPrefixes).toHaveLength(2);
    // Neither every network object nor every network's contents are watched.
    expect(s.watchedPrefixes).not.toContain('/wyvern/v1/networks/');
    expect(s.watchedPrefixes).not.toContain('/wyvern/v1/net/');
  });

  it('drops a network when its last local port leaves, and its flows with it', async () => {
    const before = await c.agentStatus('hv1');
    await c.sb.delVm('p7');
    const deadline = Date.now() + 5000;
    let s = before;
    while (Date.now() < deadline) {
      s = await c.agentStatus('hv1');
      if (s.watchedNetworks.length === 1) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(s.watchedNetworks.map((n: { name: string }) => n.name)).toEqual(['n123']);
    expect(s.flows.desired).toBeLessThan(before.flows.desired);
    const r = (await c.api('hv1').call('POST', '/v1/agent/recompute')) as Record<string, unknown>;
    expect(r.switch).toEqual({ equal: true, missing: [], extra: [], different: [] });
  });

  it('with lazy sync off, the agent watches every network', async () => {
    await c.stopAgent('hv1');
    await c.startAgent('hv1', { lazySync: false });
    const s = await c.agentStatus('hv1');
    expect(s.lazySync).toBe(false);
    expect(s.watchedNetworks.length).toBe(NETWORKS);
    expect(s.watchedPrefixes).toContain('/wyvern/v1/net/');
  });
});
