/**
 * The three kinds of race the one Election runs (issues 14 and 16), each a pure reading of the view:
 *
 * - `gateway`: a router's gateway chassis, among the router's listed chassis that reach its gateway physnet.
 * - `center`: a star network's center, among the live chassis hosting a bound port of it — the network's `centers`
 *   preference first, then the rest by name (every chassis watching the network reads the same bindings, so all
 *   agree on the ranking; see rankCenters). Only star networks have one; a chassis whose last port of the network leaves is no longer
 *   a candidate and releases it.
 * - `site-gateway`: a site's gateway, among the Site record's candidates that are live and registered in that site.
 */
import { decodeCenterLease, decodeGatewayLease, decodeSiteGatewayLease } from '../model/codec.js';
import { centerKey, CENTERS_PREFIX, gatewayKey, GATEWAYS_PREFIX, parseKey, siteGatewayKey, SITE_GATEWAYS_PREFIX } from '../model/keys.js';
import { DEFAULT_SITE, type CenterLease, type Chassis, type GatewayLease, type SiteGatewayLease } from '../model/types.js';
import type { NetworkState, TopologyView } from '../view/topology-view.js';
import type { Holder, RaceKind } from './election.js';

/** Router gateways (issue 14): race id = router id. */
export function gatewayRaces(view: TopologyView): RaceKind {
  return {
    name: 'gateway',
    prefix: GATEWAYS_PREFIX,
    raceOf: (key) => {
      const k = parseKey(key);
      return k?.kind === 'gateway' ? k.routerId : undefined;
    },
    keyOf: gatewayKey,
    holderOf: (value, race): Holder => {
      const d = decodeGatewayLease(value);
      if (d.routerId !== race) throw new Error(`names router ${d.routerId}`);
      return d;
    },
    document: (routerId, chassis, since) => JSON.stringify({ routerId, chassis, since } satisfies GatewayLease),
    races: (me) => {
      const out = new Map<string, readonly string[]>();
      for (const r of view.routers.values()) {
        const g = r.gateway;
        if (!g || !g.chassis.includes(me)) continue;
        // Only a chassis that reaches the gateway's physnet can serve it (this one: its patch port is there; a peer:
        // it publishes the physnet); before this chassis's patch port is up it waits (a holder never releases for that).
        const physnet = view.networks.get(g.networkId)?.network.provider?.physnet;
        // Every uplink of the physnet's bridge down (uplink-health.ts): not a candidate at all, so a holder releases
        // the gateway to the next candidate at once, as a chassis whose datapath died does.
        if (physnet !== undefined && view.physnetsDown.has(physnet)) continue;
        // A peer whose uplinks there are down says so in its chassis record: not ranked (it stands down itself).
        const peerServes = (rec: Chassis | undefined, p: string): boolean =>
          (rec?.physnets?.includes(p) ?? false) && !(rec?.uplinksDown?.includes(p) ?? false);
        const eligible = (c: string): boolean =>
          physnet === undefined || (c === me ? view.physnetOfports.has(physnet) : peerServes(view.chassis.get(c), physnet));
        out.set(r.id, eligible(me) ? g.chassis.filter((c) => c === me || (view.chassis.has(c) && eligible(c))) : []);
      }
      return out;
    },
    holdsInView: (me) => [...view.gateways.values()].some((g) => g.chassis === me),
    holderInView: (race) => view.gateways.get(race)?.chassis,
  };
}

/** The chassis hosting a bound port of a network, as its bindings say (sorted). */
export function hostingChassis(net: NetworkState): string[] {
  const s = new Set<string>();
  for (const ps of net.ports.values()) if (ps.binding?.chassis) s.add(ps.binding.chassis);
  return [...s].sort();
}

/**
 * A star network's center ranking: the network's preferred chassis that are live first, then the other live hosting
 * chassis by name. Only a hosting chassis takes part (races()), but a live preferred one ranks even before its first
 * port is bound: the others then wait their rank × backoff, a grace in which the preferred chassis can bind and win.
 */
export function rankCenters(view: TopologyView, net: NetworkState): string[] {
  const me = view.chassisName;
  const isLive = (c: string): boolean => c === me || view.chassis.has(c);
  const hosting = hostingChassis(net).filter(isLive);
  const pref = (net.network.centers ?? []).filter(isLive);
  return [...pref, ...hosting.filter((c) => !pref.includes(c))];
}

/**
 * Star centers (issue 16): race id = network id. `enabled`: whether this chassis's own networks are in the view
 * (lazy sync loads them as its VIFs are bound): until then a restarting holder neither releases nor takes a center.
 */
export function centerRaces(view: TopologyView, enabled?: () => boolean): RaceKind {
  return {
    ...(enabled ? { enabled } : {}),
    name: 'center',
    prefix: CENTERS_PREFIX,
    raceOf: (key) => {
      const k = parseKey(key);
      return k?.kind === 'center' ? k.networkId : undefined;
    },
    keyOf: centerKey,
    holderOf: (value, race): Holder => {
      const d = decodeCenterLease(value);
      if (d.networkId !== race) throw new Error(`names network ${d.networkId}`);
      return d;
    },
    document: (networkId, chassis, since) => JSON.stringify({ networkId, chassis, since } satisfies CenterLease),
    races: (me) => {
      const out = new Map<string, readonly string[]>();
      for (const [id, net] of view.networks) {
        if (net.network.topology !== 'star' || net.network.provider) continue;
        if (!hostingChassis(net).includes(me)) continue;
        out.set(id, rankCenters(view, net));
      }
      return out;
    },
    holdsInView: (me) => [...view.centers.values()].some((c) => c.chassis === me),
    holderInView: (race) => view.centers.get(race)?.chassis,
  };
}

/** A site's gateway candidates in rank order: the Site record's, live and registered in that site. */
export function rankSiteGateways(view: TopologyView, site: string): string[] {
  const me = view.chassisName;
  const s = view.sites.get(site);
  if (!s) return [];
  const inSite = (c: string): boolean => (c === me ? view.site === site : (view.chassis.get(c)?.site ?? DEFAULT_SITE) === site);
  return s.gatewayCandidates.filter((c) => (c === me || view.chassis.has(c)) && inSite(c));
}

/**
 * Site gateways (issue 16): race id = site name. A chassis takes part only in its own site's race. `enabled`: as
 * for centers (a gateway relays: it takes part once its switch is programmed).
 */
export function siteGatewayRaces(view: TopologyView, enabled?: () => boolean): RaceKind {
  return {
    ...(enabled ? { enabled } : {}),
    name: 'site-gateway',
    prefix: SITE_GATEWAYS_PREFIX,
    raceOf: (key) => {
      const k = parseKey(key);
      return k?.kind === 'site-gateway' ? k.site : undefined;
    },
    keyOf: siteGatewayKey,
    holderOf: (value, race): Holder => {
      const d = decodeSiteGatewayLease(value);
      if (d.site !== race) throw new Error(`names site ${d.site}`);
      return d;
    },
    document: (site, chassis, since) => JSON.stringify({ site, chassis, since } satisfies SiteGatewayLease),
    races: (me) => {
      const out = new Map<string, readonly string[]>();
      const s = view.sites.get(view.site);
      if (s?.gatewayCandidates.includes(me)) out.set(s.name, rankSiteGateways(view, s.name));
      return out;
    },
    holdsInView: (me) => [...view.siteGateways.values()].some((g) => g.chassis === me),
    holderInView: (race) => view.siteGateways.get(race)?.chassis,
  };
}
