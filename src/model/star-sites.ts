/**
 * Issue 16's northbound: a network's topology (mesh|star) switched live, its center as elected, and sites with
 * their gateway candidates. A topology switch is one compare-and-swap on the network record (agents react to it:
 * no restart); site candidates are one Site record per site. Leases (centers, site gateways) are written by agents'
 * elections only: here they are read.
 */
import type { Store } from '../store/types.js';
import { runCas, throughOutage, writeDeadline, writeOptions } from './cas.js';
import type { IfMatch } from './precondition.js';
import { listChassis } from './chassis.js';
import {
  checkSiteName,
  decodeBinding,
  decodeCenterLease,
  decodeChassisList,
  decodeSite,
  decodeSiteGatewayLease,
  encodeNetwork,
  encodeSite,
} from './codec.js';
import { invalid, notFound } from './errors.js';
import { bindingsPrefix, centerKey, networkKey, parseKey, siteGatewayKey, siteKey, SITES_PREFIX, SITE_GATEWAYS_PREFIX } from './keys.js';
import { deletedAs, loadNetwork } from './read.js';
import { DEFAULT_SITE, type ChassisStatus, type Network, type NetworkTopology, type Site } from './types.js';
import { asObject, onlyFields, parseTopologyInput } from './validate.js';

/** `PATCH /v1/networks/{network}` body: topology and/or centers; written only while the network is at `ifMatch`, if given. */
export async function updateNetworkTopology(store: Store, ref: string, body: unknown, ifMatch?: IfMatch): Promise<Network> {
  const o = asObject(body);
  onlyFields(o, ['topology', 'centers']);
  if (o.topology === undefined && o.centers === undefined) throw invalid('topology', 'nothing to update: give topology and/or centers');
  const outageUntil = writeDeadline();
  return runCas(
    store,
    async () => {
      const { obj: net, kv } = await loadNetwork(store, ref);
      const shape = parseTopologyInput(o, net.provider !== undefined, net);
      const { topology: _t, centers: _c, ...rest } = net;
      const next: Network = {
        ...rest,
        ...(shape.topology === 'star' ? { topology: 'star' as const } : {}),
        ...(shape.centers ? { centers: shape.centers } : {}),
      };
      const value = encodeNetwork(next);
      const object = { kv, what: `network ${net.name}` };
      // In that shape already, it is made whatever If-Match says (cas.ts CasOptions.ifMatch).
      if (value === kv.value) return { compares: [], ops: [], result: next, object };
      // Planned again on a network that holds this shape already, it writes nothing.
      const ops = [{ op: 'put' as const, key: networkKey(net.id), value }];
      return { compares: [{ key: kv.key, modRevision: kv.modRevision }], ops, result: next, object, replannable: true };
    },
    { outageUntil, ...(ifMatch ? { ifMatch } : {}) },
  );
}

export interface SiteGatewayView {
  chassis: string;
  since: string;
}

export interface NetworkTopologyStatus {
  network: string;
  id: string;
  topology: NetworkTopology;
  /** Center preference (absent: any hosting chassis, by name). */
  centers: string[];
  /** The elected center (star only); null when none is elected (no live hosting chassis yet). */
  center: SiteGatewayView | null;
  /** Chassis hosting a bound port, with their site (null: not registered now). */
  hosts: { chassis: string; site: string | null; alive: boolean }[];
  /** The sites where the network has ports, each with its gateway: inter-site traffic goes through them. */
  sites: SiteStatus[];
}

export interface SiteStatus {
  name: string;
  /** Live chassis registered in this site. */
  chassis: string[];
  gatewayCandidates: string[];
  gateway: SiteGatewayView | null;
  /** Why traffic cannot leave the site, when it cannot (no candidates, no live gateway). */
  problem?: string;
}

function siteStatus(name: string, live: ChassisStatus[], site: Site | undefined, gw: SiteGatewayView | undefined): SiteStatus {
  const s: SiteStatus = {
    name,
    chassis: live.filter((c) => (c.site ?? DEFAULT_SITE) === name).map((c) => c.name),
    gatewayCandidates: site?.gatewayCandidates ?? [],
    gateway: gw ?? null,
  };
  if (!site) s.problem = `no gateway candidates: traffic to other sites is impossible (wyvern site gateway set ${name} --chassis …)`;
  else if (!gw) s.problem = 'no live gateway candidate registered in this site: traffic to other sites is impossible';
  return s;
}

/** Every site: those chassis are registered in, and those with a Site record. */
export async function listSites(store: Store): Promise<SiteStatus[]> {
  const [live, sites, gws] = await Promise.all([listChassis(store), store.range(SITES_PREFIX), store.range(SITE_GATEWAYS_PREFIX)]);
  const records = new Map<string, Site>();
  for (const kv of sites.kvs) {
    const k = parseKey(kv.key);
    if (k?.kind === 'site') records.set(k.site, decodeSite(kv.value));
  }
  const leases = new Map<string, SiteGatewayView>();
  for (const kv of gws.kvs) {
    const k = parseKey(kv.key);
    if (k?.kind !== 'site-gateway') continue;
    const l = decodeSiteGatewayLease(kv.value);
    leases.set(k.site, { chassis: l.chassis, since: l.since });
  }
  const names = new Set([...live.map((c) => c.site ?? DEFAULT_SITE), ...records.keys()]);
  return [...names].sort().map((n) => siteStatus(n, live, records.get(n), leases.get(n)));
}

export async function getSite(store: Store, name: string): Promise<SiteStatus> {
  checkSiteName(name);
  const s = (await listSites(store)).find((x) => x.name === name);
  if (!s) throw notFound(undefined, `site ${name} not found (no chassis registered in it and no gateway candidates set)`);
  return s;
}

/**
 * `PUT /v1/sites/{site}/gateway` {chassis: [...]}: the site's gateway candidates in preference order. A chassis
 * registered now in another site is refused (it could never be elected here); one not registered is accepted (a
 * host that is down, or not yet installed).
 */
export async function setSiteGateway(store: Store, name: string, body: unknown): Promise<SiteStatus> {
  checkSiteName(name);
  const o = asObject(body);
  onlyFields(o, ['chassis']);
  if (o.chassis === undefined) throw invalid('chassis', 'chassis is required: the gateway candidates, in preference order');
  const candidates = decodeChassisList(o.chassis, 'chassis');
  const outageUntil = writeDeadline();
  await runCas(
    store,
    async () => {
      const live = await listChassis(store);
      candidates.forEach((c, i) => {
        const ch = live.find((x) => x.name === c);
        const at = ch && (ch.site ?? DEFAULT_SITE);
        if (at !== undefined && at !== name)
          throw invalid(`chassis[${i}]`, `chassis ${c} is registered in site ${at}, not ${name}: it cannot be a gateway of ${name}`);
      });
      // The whole record, put blind (last writer wins); planned again on a store that holds it already, nothing.
      const value = encodeSite({ name, gatewayCandidates: candidates });
      if ((await store.get(siteKey(name)))?.value === value) return { compares: [], ops: [], result: undefined };
      return { compares: [], ops: [{ op: 'put', key: siteKey(name), value }], result: undefined, replannable: true };
    },
    { outageUntil },
  );
  return throughOutage(() => getSite(store, name), outageUntil);
}

/** `DELETE /v1/sites/{site}/gateway`: no candidates any more (the holder releases; the site is cut off from others). */
export async function clearSiteGateway(store: Store, name: string): Promise<{ name: string; cleared: boolean }> {
  checkSiteName(name);
  // Idempotent: clearing a site without candidates says so (cleared: false) rather than failing.
  return runCas<{ name: string; cleared: boolean }>(
    store,
    async () => {
      const kv = await store.get(siteKey(name));
      if (!kv) return { compares: [], ops: [], result: { name, cleared: false } };
      return {
        compares: [{ key: kv.key, modRevision: kv.modRevision }],
        ops: [{ op: 'delete', key: kv.key }],
        result: { name, cleared: true },
        landed: deletedAs(store, kv.key, { name, cleared: true }),
      };
    },
    writeOptions(),
  );
}

/** `GET /v1/networks/{network}/topology`: topology, center preference, the elected center, hosts and their sites. */
export async function networkTopologyStatus(store: Store, ref: string): Promise<NetworkTopologyStatus> {
  const { obj: net } = await loadNetwork(store, ref);
  const [live, bindings, center] = await Promise.all([
    listChassis(store),
    store.range(bindingsPrefix(net.id)),
    store.get(centerKey(net.id)),
  ]);
  const hostNames = new Set<string>();
  for (const kv of bindings.kvs) {
    try {
      hostNames.add(decodeBinding(kv.value).chassis);
    } catch {
      // A binding that does not decode names no host.
    }
  }
  const hosts = [...hostNames].sort().map((h) => {
    const c = live.find((x) => x.name === h);
    return { chassis: h, site: c ? (c.site ?? DEFAULT_SITE) : null, alive: c !== undefined };
  });
  const siteNames = new Set(hosts.flatMap((h) => (h.site === null ? [] : [h.site])));
  const sites = await Promise.all(
    [...siteNames].sort().map(async (n) => {
      const [rec, gw] = await Promise.all([store.get(siteKey(n)), store.get(siteGatewayKey(n))]);
      const l = gw && decodeSiteGatewayLease(gw.value);
      return siteStatus(n, live, rec ? decodeSite(rec.value) : undefined, l ? { chassis: l.chassis, since: l.since } : undefined);
    }),
  );
  const c = center && net.topology === 'star' ? decodeCenterLease(center.value) : undefined;
  return {
    network: net.name,
    id: net.id,
    topology: net.topology ?? 'mesh',
    centers: net.centers ?? [],
    center: c ? { chassis: c.chassis, since: c.since } : null,
    hosts,
    sites,
  };
}
