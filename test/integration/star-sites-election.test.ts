/**
 * Issue 16, control plane on real OVS and etcd with real agents: the one Election picks a star network's center
 * and each site's gateway. Four hosts, hv1 and hv2 in site paris, hv3 and hv4 in site lyon (agent --site), a star
 * network s1 with a VM on every host and center preference hv2:
 *
 * - the preferred hosting chassis is elected center; the CLI shows it (network show) and the sites (site list);
 * - a planned restart (SIGTERM) of the center's agent keeps the center (key never deleted, moved to the new lease);
 * - a crash (SIGKILL) hands it to the next ranked host within the lease TTL + backoff (printed); the recovered
 *   chassis does not take it back;
 * - the center's last port leaving releases it (the next host takes it); a switch to mesh deletes the key (no
 *   agent restart); back to star elects one again;
 * - site gateways: none before candidates are set (status says inter-site traffic is impossible), then the first
 *   candidate of each site; its crash fails over to the next candidate within TTL + backoff; a candidate watches
 *   every overlay network (lazy sync), a non-candidate does not;
 * - bad input is refused with a clear error and writes nothing;
 * - incremental flows == a full recompute == the switch on every host after each change.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { centerKey, CENTERS_PREFIX, NETWORKS_PREFIX, siteGatewayKey, SITE_GATEWAYS_PREFIX } from '../../src/model/keys.js';
import { openStore } from '../../src/store/index.js';
import type { Store, WatchEvent } from '../../src/store/types.js';
import { Cluster, type PortInfo } from '../helpers/cluster.js';
import { expectRecomputeEqual as recomputeEqual } from '../helpers/recompute.js';
import { wyvern } from '../helpers/cli.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const TTL = 3;
const HOSTS = ['hv1', 'hv2', 'hv3', 'hv4'];
const SITE: Record<string, string> = { hv1: 'paris', hv2: 'paris', hv3: 'lyon', hv4: 'lyon' };

describe('star centers and site gateways: one election, real agents', { timeout: 90_000 }, () => {
  let c: Cluster;
  let store: Store;
  const ports: Record<string, PortInfo> = {};
  const events: WatchEvent[] = [];
  let live = new Set(HOSTS);

  const apiArgs = () => ['--api', c.api().api];
  const start = (h: string) => c.startAgent(h, { args: ['--lease-ttl-seconds', String(TTL), '--site', SITE[h]!] });

  async function holder(key: string): Promise<string | undefined> {
    const kv = await store.get(key);
    return kv && (JSON.parse(kv.value) as { chassis: string }).chassis;
  }

  async function until(cond: () => Promise<boolean>, ms: number, what: string): Promise<number> {
    const t0 = Date.now();
    while (!(await cond())) {
      if (Date.now() - t0 > ms) throw new Error(`${what}: not within ${ms} ms`);
      await sleep(50);
    }
    return Date.now() - t0;
  }

  const expectRecomputeEqual = () => recomputeEqual(c, live);

  const centerDeletes = () => events.filter((e) => e.type === 'delete' && e.key.startsWith(CENTERS_PREFIX)).length;

  beforeAll(async () => {
    c = await Cluster.up({ hosts: 4, agents: false });
    await Promise.all(HOSTS.map(start));
    const api = c.api();
    await api.call('POST', '/v1/networks', { name: 's1', topology: 'star', centers: ['hv2'] });
    await api.call('POST', '/v1/subnets', { name: 's1-sub', network: 's1', cidr: '10.16.0.0/24', enableDhcp: false });
    for (const [i, h] of HOSTS.entries()) ports[h] = await c.port(`v${i + 1}`, 's1', `10.16.0.${11 + i}`);
    store = await openStore(c.storeUrl);
    store.watch(CENTERS_PREFIX, undefined, { onBatch: (b) => events.push(...b.events) });
    store.watch(SITE_GATEWAYS_PREFIX, undefined, { onBatch: (b) => events.push(...b.events) });
    // hv2 (preferred) first: the others then find a center (or wait their backoff for it).
    await c.vm('hv2', 'v2', ports.hv2!);
    await Promise.all(['hv1', 'hv3', 'hv4'].map((h) => c.vm(h, `v${h.slice(2)}`, ports[h]!)));
  }, 120_000);

  afterAll(async () => {
    await store?.close();
    await c?.down();
  });

  it('the preferred hosting chassis is elected center; network show and agent status say so', async () => {
    await until(async () => (await holder(centerKey(ports.hv1!.networkId))) === 'hv2', 10_000, 'hv2 center');
    const r = await wyvern(['network', 'show', 's1', ...apiArgs()]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/topology\s+star/);
    expect(r.stdout).toMatch(/centers\s+hv2/);
    expect(r.stdout).toMatch(/center\s+hv2 \(since /);
    expect(r.stdout).toMatch(/hosts\s+hv1 \(site paris\), hv2 \(site paris\), hv3 \(site lyon\), hv4 \(site lyon\)/);
    const st = await c.agentStatus('hv2');
    expect(st.centers).toEqual({ active: [ports.hv1!.networkId] });
    expect(st.site).toMatchObject({
      name: 'paris',
      gateway: null,
      interSite: expect.stringMatching(/impossible: site paris has no gateway/),
    });
    // Flows compose with the election: paris's spoke reaches the center's VM through it. Lyon has neither the
    // center nor a gateway yet: its hosts have no hub, which their status says (never a silent direct tunnel).
    expect(await c.pingUntil('v1', ports.hv2!.ip, 10_000)).toBeGreaterThanOrEqual(0);
    const problems = (await c.agentStatus('hv3')).overlayProblems as Record<string, string[]>;
    expect(problems.s1?.join(' ')).toMatch(/gateway/);
    await expectRecomputeEqual();
  });

  it('a planned restart (SIGTERM) of the center agent keeps the center: the key is moved, never deleted', async () => {
    const netId = ports.hv1!.networkId;
    const before = (await store.get(centerKey(netId)))!;
    const deletes = centerDeletes();
    await c.stopAgent('hv2', 'SIGTERM');
    await start('hv2');
    await until(async () => (await store.get(centerKey(netId)))?.lease !== before.lease, 10_000, 'center moved to the new lease');
    // Past the old lease's TTL: still hv2, same key history.
    await sleep(TTL * 1000 + 500);
    const after = (await store.get(centerKey(netId)))!;
    expect(JSON.parse(after.value).chassis).toBe('hv2');
    expect(after.createRevision).toBe(before.createRevision);
    expect(centerDeletes()).toBe(deletes);
  });

  it('a crash (SIGKILL) hands the center to the next ranked host within the TTL + backoff; no preemption on return', async () => {
    const netId = ports.hv1!.networkId;
    await c.stopAgent('hv2', 'SIGKILL');
    live.delete('hv2');
    const t0 = Date.now();
    // Preference hv2 first, then the rest by name: hv1.
    const took = await until(async () => (await holder(centerKey(netId))) === 'hv1', TTL * 1000 + 5_000, 'hv1 center');
    console.log(
      `star center failover (agent SIGKILL): new center after ${Date.now() - t0} ms (lease TTL ${TTL * 1000} ms, backoff 500 ms/rank)`,
    );
    expect(took).toBeLessThan(TTL * 1000 + 3_000);
    await start('hv2');
    live = new Set(HOSTS);
    await c.waitInstalled('v2');
    await sleep(1_500);
    expect(await holder(centerKey(netId))).toBe('hv1');
    expect((await c.agentStatus('hv2')).centers).toEqual({ active: [] });
    await expectRecomputeEqual();
  });

  it("the center's last port leaving releases it: the preferred host takes it", async () => {
    const netId = ports.hv1!.networkId;
    await c.sb.delVm('v1');
    await until(async () => (await holder(centerKey(netId))) === 'hv2', 10_000, 'hv2 center after hv1 has no port');
    expect((await c.agentStatus('hv1')).centers).toEqual({ active: [] });
    await c.vm('hv1', 'v1', ports.hv1!);
  });

  it('a live switch to mesh deletes the center key (no restart); back to star elects one again', async () => {
    const netId = ports.hv1!.networkId;
    let r = await wyvern(['network', 'update', 's1', '--topology', 'mesh', ...apiArgs()]);
    expect(r.code, r.stderr).toBe(0);
    await until(async () => (await store.get(centerKey(netId))) === undefined, 10_000, 'center key gone');
    r = await wyvern(['network', 'show', 's1', ...apiArgs()]);
    expect(r.stdout).toMatch(/topology\s+mesh/);
    expect(r.stdout).not.toMatch(/center\s/);
    // Mesh within paris (another site needs site gateways, set further down).
    expect(await c.pingUntil('v1', ports.hv2!.ip, 10_000)).toBeGreaterThanOrEqual(0);
    await expectRecomputeEqual();
    r = await wyvern(['network', 'update', 's1', '--topology', 'star', '--center', 'hv4,hv3', ...apiArgs()]);
    expect(r.code, r.stderr).toBe(0);
    await until(async () => (await holder(centerKey(netId))) === 'hv4', 10_000, 'hv4 center');
    await expectRecomputeEqual();
  });

  it('site gateways: none without candidates; the first live candidate of each site; failover on a crash', async () => {
    let r = await wyvern(['site', 'list', ...apiArgs()]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/lyon\s+hv3,hv4\s+-\s+none \(no gateway candidates/);
    // A non-candidate stays lazy: it watches no network it hosts no port of.
    expect((await c.agentStatus('hv3')).watchedPrefixes).not.toContain(NETWORKS_PREFIX);
    r = await wyvern(['site', 'gateway', 'set', 'paris', '--chassis', 'hv1,hv2', ...apiArgs()]);
    expect(r.code, r.stderr).toBe(0);
    r = await wyvern(['site', 'gateway', 'set', 'lyon', '--chassis', 'hv3,hv4', ...apiArgs()]);
    expect(r.code, r.stderr).toBe(0);
    await until(async () => (await holder(siteGatewayKey('paris'))) === 'hv1', 10_000, 'paris gateway hv1');
    await until(async () => (await holder(siteGatewayKey('lyon'))) === 'hv3', 10_000, 'lyon gateway hv3');
    r = await wyvern(['site', 'show', 'lyon', ...apiArgs()]);
    expect(r.stdout).toMatch(/gateway\s+hv3 \(since /);
    const st = await c.agentStatus('hv4');
    expect(st.site).toMatchObject({
      name: 'lyon',
      gateway: 'hv3',
      active: false,
      otherSites: ['paris'],
      interSite: 'through hv3',
      relaying: true,
    });
    // A candidate relays between sites: it watches every overlay network.
    expect(st.watchedPrefixes).toContain(NETWORKS_PREFIX);
    r = await wyvern(['network', 'show', 's1', ...apiArgs()]);
    expect(r.stdout).toMatch(/siteGateways\s+lyon: hv3 \(since [^)]+\), paris: hv1 \(since /);

    await c.stopAgent('hv3', 'SIGKILL');
    live.delete('hv3');
    const t0 = Date.now();
    const took = await until(async () => (await holder(siteGatewayKey('lyon'))) === 'hv4', TTL * 1000 + 5_000, 'lyon gateway hv4');
    console.log(`site gateway failover (agent SIGKILL): new gateway after ${Date.now() - t0} ms (lease TTL ${TTL * 1000} ms)`);
    expect(took).toBeLessThan(TTL * 1000 + 3_000);
    await start('hv3');
    live = new Set(HOSTS);
    await sleep(1_500);
    expect(await holder(siteGatewayKey('lyon'))).toBe('hv4');
    // Cleared: the holder releases; the site is cut off, and says so.
    r = await wyvern(['site', 'gateway', 'clear', 'lyon', ...apiArgs()]);
    expect(r.stdout).toMatch(/cleared gateway candidates of site lyon/);
    await until(async () => (await store.get(siteGatewayKey('lyon'))) === undefined, 10_000, 'lyon gateway released');
    await until(async () => (await c.agentStatus('hv4')).site.relaying === false, 10_000, 'hv4 lazy again');
    await expectRecomputeEqual();
  });

  it('OVS restart on the center, then a store outage longer than the TTL: the center and site gateway stay', async () => {
    const netId = ports.hv1!.networkId;
    expect(await holder(centerKey(netId))).toBe('hv4');
    expect(await holder(siteGatewayKey('paris'))).toBe('hv1');
    const deletes = () => events.filter((e) => e.type === 'delete').length;
    const before = deletes();
    await c.sb.hostStop('hv4');
    await sleep(500);
    await c.sb.hostStart('hv4');
    await c.waitInstalled('v4', 15_000);
    await sleep(1_000);
    expect(await holder(centerKey(netId))).toBe('hv4');
    await c.etcd.members[0]!.kill();
    await sleep((TTL + 3) * 1000);
    await c.etcd.members[0]!.restart();
    await until(async () => (await holder(centerKey(netId)).catch(() => undefined)) === 'hv4', 15_000, 'hv4 center after the outage');
    await sleep(TTL * 1000);
    expect(await holder(centerKey(netId))).toBe('hv4');
    expect(await holder(siteGatewayKey('paris'))).toBe('hv1');
    expect(deletes()).toBe(before);
    await expectRecomputeEqual();
  }, 60_000);

  it('bad input is refused with a clear error and writes nothing', async () => {
    const rev = await store.currentRevision();
    const cases: [string[], RegExp][] = [
      [['network', 'create', 'x1', '--topology', 'ring'], /topology must be mesh or star.*\[field: topology\].*400/],
      [['network', 'create', 'x2', '--provider', 'physnet1', '--topology', 'star'], /provider network has no tunnels.*\[field: topology\]/],
      [['network', 'create', 'x3', '--topology', 'star', '--center', 'hv1,hv1'], /names chassis hv1 twice.*\[field: centers\]/],
      [['network', 'create', 'x4', '--center', 'hv1'], /only with topology star.*\[field: centers\]/],
      [['network', 'update', 's1', '--topology', 'ring'], /topology must be mesh or star/],
      [['network', 'update', 'nope', '--topology', 'star'], /network nope not found.*404/],
      [['site', 'gateway', 'set', 'pa/ris', '--chassis', 'hv1'], /invalid site.*400/],
      [['site', 'gateway', 'set', 'paris', '--chassis', 'hv3'], /hv3 is registered in site lyon, not paris.*\[field: chassis\[0\]\]/],
      [['site', 'show', 'nowhere'], /site nowhere not found.*404/],
    ];
    for (const [args, msg] of cases) {
      const r = await wyvern([...args, ...apiArgs()]);
      expect(r.code, `${args.join(' ')}: ${r.stdout}`).toBe(1);
      expect(r.stderr, args.join(' ')).toMatch(msg);
    }
    for (const args of [
      ['network', 'update', 's1'],
      ['site', 'gateway', 'set', 'paris', '--chassis', ','],
      ['site', 'gateway', 'set', 'paris'],
    ]) {
      const r = await wyvern([...args, ...apiArgs()]);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2);
    }
    // Elections may write leases meanwhile; no network or site record changed.
    const { kvs } = await store.range('/wyvern/v1/');
    const changed = kvs.filter(
      (kv) =>
        kv.modRevision > rev &&
        !kv.key.startsWith(CENTERS_PREFIX) &&
        !kv.key.startsWith(SITE_GATEWAYS_PREFIX) &&
        !kv.key.includes('/chassis/') &&
        !kv.key.includes('/bindings/'),
    );
    expect(changed.map((kv) => kv.key)).toEqual([]);
  });
});
