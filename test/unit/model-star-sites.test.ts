/**
 * Issue 16's model: network topology (mesh|star) and center preference, chassis site, CenterLease / Site /
 * SiteGatewayLease codecs and keys, the agent's `site` setting, and how the topology sync fills view.centers,
 * view.siteGateways and view.sites (with the changes that make flows recompute and elections run).
 */
import { describe, expect, it } from 'vitest';
import { ConfigError, loadAgentConfig } from '../../src/agent/config.js';
import {
  decodeCenterLease,
  decodeChassis,
  decodeNetwork,
  decodeSite,
  decodeSiteGatewayLease,
  encodeChassis,
  encodeNetwork,
} from '../../src/model/codec.js';
import { ModelError } from '../../src/model/errors.js';
import {
  centerKey,
  CENTERS_PREFIX,
  chassisKey,
  networkKey,
  NETWORKS_PREFIX,
  parseKey,
  siteGatewayKey,
  siteKey,
  SITES_PREFIX,
  SITE_GATEWAYS_PREFIX,
} from '../../src/model/keys.js';
import { parseNetworkInput, parseTopologyInput } from '../../src/model/validate.js';
import type { KeyValue } from '../../src/store/types.js';
import { silentLogger } from '../../src/util/log.js';
import { RELAY_REASON, TopologySync, type ViewChange } from '../../src/view/topology-sync.js';
import { TopologyView } from '../../src/view/topology-view.js';

const N1 = '0a000000-0000-4000-8000-000000000001';
const N2 = '0a000000-0000-4000-8000-000000000002';
const net = { id: N1, name: 'n1', tunnelKey: 5, mtu: 1450 };

function refused(fn: () => unknown, field: string, msg?: RegExp): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err, `expected a refusal on ${field}`).toBeInstanceOf(ModelError);
  expect((err as ModelError).field).toBe(field);
  if (msg) expect((err as ModelError).message).toMatch(msg);
}

describe('network topology codec', () => {
  it('mesh is stored absent (documents before issue 16 stay byte-equal); star and its centers round-trip', () => {
    expect(encodeNetwork({ ...net, topology: 'mesh' })).toBe(encodeNetwork(net));
    expect(decodeNetwork(encodeNetwork(net)).topology).toBeUndefined();
    const star = decodeNetwork(encodeNetwork({ ...net, topology: 'star', centers: ['hv2', 'hv3'] }));
    expect(star).toEqual({ ...net, topology: 'star', centers: ['hv2', 'hv3'] });
  });

  it('refuses an unknown topology, star on a provider network, centers without star, bad or repeated centers', () => {
    refused(() => decodeNetwork({ ...net, topology: 'ring' }), 'network.topology', /mesh or star/);
    refused(() => decodeNetwork({ ...net, topology: 'star', provider: { physnet: 'p1' } }), 'network.topology', /provider/);
    refused(() => decodeNetwork({ ...net, centers: ['hv1'] }), 'network.centers', /only with topology star/);
    refused(() => decodeNetwork({ ...net, topology: 'star', centers: ['hv1', 'hv1'] }), 'network.centers', /twice/);
    refused(() => decodeNetwork({ ...net, topology: 'star', centers: ['a/b'] }), 'network.centers[0]');
    refused(() => decodeNetwork({ ...net, topology: 'star', centers: [] }), 'network.centers');
  });
});

describe('network topology input', () => {
  it('create: --topology star with --center; mesh by default; bad input refused naming the field', () => {
    expect(parseNetworkInput({ name: 'n' })).toEqual({ name: 'n', mtu: 1450 });
    expect(parseNetworkInput({ name: 'n', topology: 'mesh' })).toEqual({ name: 'n', mtu: 1450 });
    expect(parseNetworkInput({ name: 'n', topology: 'star', centers: ['hv2', 'hv3'] })).toEqual({
      name: 'n',
      mtu: 1450,
      topology: 'star',
      centers: ['hv2', 'hv3'],
    });
    refused(() => parseNetworkInput({ name: 'n', topology: 'ring' }), 'topology', /mesh or star/);
    refused(() => parseNetworkInput({ name: 'n', topology: 'star', provider: { physnet: 'p' } }), 'topology', /provider/);
    refused(() => parseNetworkInput({ name: 'n', centers: ['hv1'] }), 'centers', /only with topology star/);
    refused(() => parseNetworkInput({ name: 'n', topology: 'star', centers: ['hv1', 'hv1'] }), 'centers', /twice/);
    refused(() => parseNetworkInput({ name: 'n', topology: 'star', centers: 'hv1' }), 'centers');
  });

  it('update: the stored topology stays when only centers change; a switch to mesh drops them; [] clears them', () => {
    const cur = { topology: 'star' as const, centers: ['hv1'] };
    expect(parseTopologyInput({ centers: ['hv2'] }, false, cur)).toEqual({ topology: 'star', centers: ['hv2'] });
    expect(parseTopologyInput({ topology: 'mesh' }, false, cur)).toEqual({ topology: 'mesh' });
    expect(parseTopologyInput({ centers: [] }, false, cur)).toEqual({ topology: 'star' });
    expect(parseTopologyInput({}, false, cur)).toEqual(cur);
    refused(() => parseTopologyInput({ topology: 'mesh', centers: ['hv1'] }, false, cur), 'centers');
  });
});

describe('sites and leases', () => {
  it('a chassis in the default site is stored without one; another site round-trips; a bad site is refused', () => {
    const c = { name: 'hv1', tunnelIp: '10.0.0.1', encaps: ['vxlan'], version: '1' };
    expect(encodeChassis({ ...c, site: 'default' })).toBe(encodeChassis(c));
    expect(decodeChassis(encodeChassis({ ...c, site: 'paris' })).site).toBe('paris');
    refused(() => decodeChassis({ ...c, site: 'a b' }), 'chassis.site');
  });

  it('Site, CenterLease and SiteGatewayLease decode, refusing bad names and candidate lists', () => {
    expect(decodeSite({ name: 'paris', gatewayCandidates: ['hv1', 'hv2'] })).toEqual({ name: 'paris', gatewayCandidates: ['hv1', 'hv2'] });
    refused(() => decodeSite({ name: 'paris', gatewayCandidates: [] }), 'site.gatewayCandidates');
    refused(() => decodeSite({ name: 'paris', gatewayCandidates: ['hv1', 'hv1'] }), 'site.gatewayCandidates', /twice/);
    refused(() => decodeSite({ name: '../x', gatewayCandidates: ['hv1'] }), 'site.name');
    expect(decodeCenterLease({ networkId: N1, chassis: 'hv2', since: 't' }).chassis).toBe('hv2');
    refused(() => decodeCenterLease({ networkId: 'x', chassis: 'hv2', since: 't' }), 'centerLease.networkId');
    expect(decodeSiteGatewayLease({ site: 'paris', chassis: 'hv1', since: 't' }).site).toBe('paris');
  });

  it('keys parse to their kinds', () => {
    expect(parseKey(centerKey(N1))).toEqual({ kind: 'center', networkId: N1 });
    expect(parseKey(siteKey('paris'))).toEqual({ kind: 'site', site: 'paris' });
    expect(parseKey(siteGatewayKey('paris'))).toEqual({ kind: 'site-gateway', site: 'paris' });
    expect(parseKey(`${CENTERS_PREFIX}a/b`)).toBeUndefined();
  });
});

describe('agent site setting', () => {
  const base = ['--tunnel-ip', '10.0.0.1', '--config', '/dev/null'];
  const load = (argv: string[], env: NodeJS.ProcessEnv = {}) => loadAgentConfig([...base, ...argv], env, 'hv1');
  it('defaults to "default"; --site and WYVERN_SITE set it (the flag wins); a bad name is refused', () => {
    expect(load([]).site).toBe('default');
    expect(load([], { WYVERN_SITE: 'lyon' }).site).toBe('lyon');
    expect(load(['--site', 'paris'], { WYVERN_SITE: 'lyon' }).site).toBe('paris');
    expect(() => load(['--site', 'pa/ris'])).toThrow(ConfigError);
    expect(() => load(['--site', ''])).toThrow(/site/);
  });
});

const kv = (key: string, value: unknown): KeyValue => ({ key, value: JSON.stringify(value), createRevision: 1, modRevision: 1 });

function make(lazy: boolean, me = 'hv1') {
  const view = new TopologyView(me, 'vxlan');
  const added: string[] = [];
  const sync = new TopologySync(
    view,
    {
      add: (p) => void (added.includes(p) || added.push(p)),
      remove: (p) => void (added.includes(p) && added.splice(added.indexOf(p), 1)),
      prefixes: () => added,
    },
    silentLogger,
    lazy,
  );
  const seen: ViewChange[] = [];
  sync.on('change', (c: ViewChange) => seen.push(c));
  return { view, sync, added, seen };
}

describe('topology sync of centers, sites and site gateways', () => {
  it('every agent watches the three prefixes', async () => {
    const { sync, added } = make(true);
    await sync.start();
    expect(added).toEqual(expect.arrayContaining([CENTERS_PREFIX, SITES_PREFIX, SITE_GATEWAYS_PREFIX]));
  });

  it('a center change recomputes that network (and runs the elections); a lease move by the same chassis changes nothing', () => {
    const { view, sync, seen } = make(false);
    sync.applyPut(centerKey(N1), JSON.stringify({ networkId: N1, chassis: 'hv2', since: 't' }));
    expect(view.centers.get(N1)?.chassis).toBe('hv2');
    sync.applyPut(centerKey(N1), JSON.stringify({ networkId: N1, chassis: 'hv2', since: 't' }));
    sync.applyDelete(centerKey(N1));
    expect(view.centers.has(N1)).toBe(false);
    // A document naming another network is foreign data.
    sync.applyPut(centerKey(N1), JSON.stringify({ networkId: N2, chassis: 'hv2', since: 't' }));
    expect(view.centers.has(N1)).toBe(false);
    expect(seen).toEqual([
      { networks: new Set([N1]), all: false, elections: true },
      { networks: new Set([N1]), all: false, elections: true },
    ]);
  });

  it('a site gateway change recomputes every overlay network; a snapshot without a key removes it', () => {
    const { view, sync, seen } = make(false);
    sync.applyPut(networkKey(N1), JSON.stringify(net));
    sync.applyPut(networkKey(N2), JSON.stringify({ ...net, id: N2, name: 'n2', tunnelKey: 6, provider: { physnet: 'p1' } }));
    seen.length = 0;
    sync.applySnapshot(SITE_GATEWAYS_PREFIX, [kv(siteGatewayKey('paris'), { site: 'paris', chassis: 'hv1', since: 't' })]);
    expect(view.siteGateways.get('paris')?.chassis).toBe('hv1');
    expect(seen).toEqual([{ networks: new Set([N1]), all: false, elections: true }]);
    sync.applySnapshot(SITE_GATEWAYS_PREFIX, []);
    expect(view.siteGateways.size).toBe(0);
  });

  it('chassis records carry their site into the view', () => {
    const { view, sync } = make(false);
    sync.applyPut(chassisKey('hv2'), JSON.stringify({ name: 'hv2', tunnelIp: '1.1.1.2', encaps: ['vxlan'], version: '1', site: 'paris' }));
    expect(view.chassis.get('hv2')?.site).toBe('paris');
  });

  it('lazy sync: a site gateway candidate watches every overlay network (it relays them), and stops when no longer one', async () => {
    const { view, sync, added } = make(true);
    await sync.start();
    sync.applyPut(siteKey('paris'), JSON.stringify({ name: 'paris', gatewayCandidates: ['hv2'] }));
    expect(sync.relaying).toBe(false);
    expect(added).not.toContain(NETWORKS_PREFIX);
    sync.applyPut(siteKey('paris'), JSON.stringify({ name: 'paris', gatewayCandidates: ['hv2', 'hv1'] }));
    expect(sync.relaying).toBe(true);
    await new Promise((r) => setTimeout(r, 0));
    expect(added).toContain(NETWORKS_PREFIX);
    // The network records arrive through the whole prefix: overlay ones are wanted, provider ones not.
    sync.applySnapshot(NETWORKS_PREFIX, [
      kv(networkKey(N1), net),
      kv(networkKey(N2), { ...net, id: N2, name: 'n2', tunnelKey: 6, provider: { physnet: 'p1' } }),
    ]);
    await new Promise((r) => setTimeout(r, 0));
    expect(view.networks.has(N1)).toBe(true);
    expect(view.networks.has(N2)).toBe(false);
    expect(added).toContain(`/wyvern/v1/net/${N1}/`);
    expect(added).not.toContain(`/wyvern/v1/net/${N2}/`);
    // No longer a candidate: the relay watches go, the network leaves the view.
    sync.applyDelete(siteKey('paris'));
    await new Promise((r) => setTimeout(r, 10));
    expect(sync.relaying).toBe(false);
    expect(added).not.toContain(NETWORKS_PREFIX);
    expect(added).not.toContain(`/wyvern/v1/net/${N1}/`);
    expect(view.networks.has(N1)).toBe(false);
    expect(RELAY_REASON).toBe('site-gateway-candidate');
  });
});

describe('northbound: topology switch, status, sites (memory store)', () => {
  it('create star → export/import keeps it; update switches live, refusals write nothing; status and sites', async () => {
    const { openStore } = await import('../../src/store/index.js');
    const { Topology, exportTopology, importTopology, ROOT } = await import('../../src/model/index.js');
    const ss = await import('../../src/model/star-sites.js');
    const { registerChassis } = await import('../../src/model/chassis.js');
    const store = await openStore('memory:');
    try {
      const topo = new Topology(store);
      const n = await topo.createNetwork({ name: 's1', topology: 'star', centers: ['hv2'] });
      expect(n).toMatchObject({ topology: 'star', centers: ['hv2'] });
      const doc = await exportTopology(store);
      await store.txn([], [{ op: 'deletePrefix', prefix: ROOT }]);
      await importTopology(store, JSON.parse(JSON.stringify(doc)));
      expect(await topo.getNetwork('s1')).toMatchObject({ topology: 'star', centers: ['hv2'] });

      const rev = await store.currentRevision();
      for (const [body, field] of [
        [{ topology: 'ring' }, 'topology'],
        [{}, 'topology'],
        [{ centers: ['a', 'a'] }, 'centers'],
        [{ topology: 'mesh', centers: ['hv1'] }, 'centers'],
        [{ other: 1 }, 'other'],
      ] as const)
        await expect(ss.updateNetworkTopology(store, 's1', body)).rejects.toMatchObject({ code: 'INVALID', field });
      await expect(ss.updateNetworkTopology(store, 'nope', { topology: 'mesh' })).rejects.toMatchObject({ code: 'NOT_FOUND' });
      expect(await store.currentRevision()).toBe(rev);
      expect(await ss.updateNetworkTopology(store, 's1', { topology: 'mesh' })).not.toHaveProperty('centers');
      expect((await topo.getNetwork('s1')).topology).toBeUndefined();
      const mid = await store.currentRevision();
      await ss.updateNetworkTopology(store, 's1', { topology: 'mesh' }); // no change: no write
      expect(await store.currentRevision()).toBe(mid);
      await ss.updateNetworkTopology(store, 's1', { topology: 'star', centers: ['hv3'] });

      // Sites: chassis in paris and lyon; candidates refused across sites; status names the problem.
      const lease = await store.grantLease(10);
      await registerChassis(store, { name: 'hv1', tunnelIp: '10.0.0.1', encaps: ['vxlan'], version: 't', site: 'paris' }, lease);
      await registerChassis(store, { name: 'hv3', tunnelIp: '10.0.0.3', encaps: ['vxlan'], version: 't', site: 'lyon' }, lease);
      expect((await ss.listSites(store)).map((s) => [s.name, s.chassis, s.problem !== undefined])).toEqual([
        ['lyon', ['hv3'], true],
        ['paris', ['hv1'], true],
      ]);
      const r2 = await store.currentRevision();
      await expect(ss.setSiteGateway(store, 'paris', { chassis: ['hv1', 'hv3'] })).rejects.toMatchObject({ field: 'chassis[1]' });
      await expect(ss.setSiteGateway(store, 'paris', { chassis: [] })).rejects.toMatchObject({ field: 'chassis' });
      await expect(ss.setSiteGateway(store, 'pa ris', { chassis: ['hv1'] })).rejects.toMatchObject({ code: 'INVALID' });
      expect(await store.currentRevision()).toBe(r2);
      const paris = await ss.setSiteGateway(store, 'paris', { chassis: ['hv1', 'hv9'] });
      expect(paris).toMatchObject({ gatewayCandidates: ['hv1', 'hv9'], gateway: null, problem: expect.stringMatching(/no live gateway/) });
      expect(await ss.clearSiteGateway(store, 'paris')).toEqual({ name: 'paris', cleared: true });
      expect(await ss.clearSiteGateway(store, 'paris')).toEqual({ name: 'paris', cleared: false });
      await expect(ss.getSite(store, 'mars')).rejects.toMatchObject({ code: 'NOT_FOUND' });

      // Site records are configuration: exported, and imported back (a wiped store gets them again); a bad or
      // duplicate site in a document is refused whole.
      await ss.setSiteGateway(store, 'lyon', { chassis: ['hv3', 'hv4'] });
      const withSites = await exportTopology(store);
      expect(withSites.sites).toEqual([{ name: 'lyon', gatewayCandidates: ['hv3', 'hv4'] }]);
      await store.txn([], [{ op: 'deletePrefix', prefix: ROOT }]);
      await importTopology(store, JSON.parse(JSON.stringify(withSites)));
      expect((await ss.getSite(store, 'lyon')).gatewayCandidates).toEqual(['hv3', 'hv4']);
      const r3 = await store.currentRevision();
      for (const sites of [
        [{ name: 'ly on', gatewayCandidates: ['hv3'] }],
        [{ name: 'lyon', gatewayCandidates: ['hv3', 'hv3'] }],
        [
          { name: 'rome', gatewayCandidates: ['hv5'] },
          { name: 'rome', gatewayCandidates: ['hv6'] },
        ],
      ])
        await expect(importTopology(store, { ...withSites, sites })).rejects.toMatchObject({ field: expect.stringMatching(/^sites\[/) });
      await expect(importTopology(store, { ...withSites, sites: [{ name: 'lyon', gatewayCandidates: ['hv4'] }] })).rejects.toMatchObject({
        message: expect.stringMatching(/gateway candidates of site lyon differs/),
      });
      expect(await store.currentRevision()).toBe(r3);
      await ss.clearSiteGateway(store, 'lyon');

      const st = await ss.networkTopologyStatus(store, 's1');
      expect(st).toMatchObject({ topology: 'star', centers: ['hv3'], center: null, hosts: [], sites: [] });
    } finally {
      await store.close();
    }
  });
});
