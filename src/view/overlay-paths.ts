/**
 * Overlay paths (issue 16): which chassis this host tunnels to for a port on another chassis, who relays, and to
 * whom a flood goes depending on where it came from — for mesh and star networks, within a site and across sites.
 * Pure functions of the view: the l2 app asks them, and tests run them exhaustively.
 *
 * Within a site a network is a mesh (every chassis tunnels to every other) or a star: every chassis tunnels only
 * to the site's hub, which relays between them. The hub of a star in a site is the network's elected center when
 * the center is in that site; in a site without the center, it is the site's elected gateway (each site's star
 * hangs off its gateway: there is one center key per network, and another site's center is unreachable from here
 * anyway).
 *
 * Between sites, traffic goes only through each site's elected gateway, and the gateways form a MESH (not XO's
 * star of stars with a "pool-center"): a packet crosses at most one gateway per site; a failed site gateway cuts
 * only its own site until the next is elected; a star of stars would add a pool-center whose failure cuts every
 * site from every other, and a second relay hop on every inter-site path. The gateways must reach each other in
 * the underlay (the inter-site underlay joins only gateway candidates); other hosts never need a path to another
 * site's hosts.
 *
 * No hub or gateway elected yet: the path is missing (no flow; `overlayProblems` says why), never a silent
 * fallback to a direct tunnel the underlay may block.
 *
 * Loops: a host relays only what its own view makes it a relay for (the hub of its site's star, or its site's
 * gateway); a flood is relayed to the segments it did not come from, recognised by its tunnel source (unknown
 * sources are delivered locally only), so each host receives each flood once and no flood circles. Unicast has no
 * TTL: during the milliseconds in which two relays disagree about where a port is, a packet may bounce between
 * them until the later one updates its view.
 */
import { DEFAULT_SITE } from '../model/types.js';
import { chooseEncap, type NetworkState, type TopologyView } from './topology-view.js';

/** A chassis this host tunnels to: its tunnel IP and the encapsulation used towards it. */
export interface Peer {
  chassis: string;
  tunnelIp: string;
  encap: string;
}

export type Hop = ({ kind: 'hop' } & Peer) | { kind: 'none'; reason: string };

/** A chassis's site: this chassis's from config, a peer's from its chassis record. */
export function siteOf(view: TopologyView, chassis: string): string {
  if (chassis === view.chassisName) return view.site;
  return view.chassis.get(chassis)?.site ?? DEFAULT_SITE;
}

export function isStar(net: NetworkState): boolean {
  return net.network.topology === 'star' && !net.network.provider;
}

/** A site's active gateway chassis, if elected. */
export function siteGateway(view: TopologyView, site: string): string | undefined {
  return view.siteGateways.get(site)?.chassis;
}

/**
 * The hub of a star network in a site: the network's center when it is in that site, else the site's gateway;
 * undefined for a mesh, or while neither is elected.
 */
export function hubOf(view: TopologyView, net: NetworkState, site: string): string | undefined {
  if (!isStar(net)) return undefined;
  const center = view.centers.get(net.network.id)?.chassis;
  if (center !== undefined && siteOf(view, center) === site) return center;
  return siteGateway(view, site);
}

/** The peer record of a chassis: its tunnel IP and the encapsulation chosen towards it (undefined: none). */
export function peerOf(view: TopologyView, chassis: string): Peer | { reason: string } {
  const ch = view.chassis.get(chassis);
  if (!ch) return { reason: `chassis ${chassis} is not live` };
  const encap = chooseEncap(view.encaps, ch.encaps);
  if (!encap)
    return { reason: `no encapsulation in common with ${chassis} (${ch.encaps.join(',') || 'none'} vs ${view.encaps.join(',')})` };
  return { chassis, tunnelIp: ch.tunnelIp, encap };
}

/** The chassis to tunnel to for `target` inside this host's own site (target in this site). */
function withinSite(view: TopologyView, net: NetworkState, target: string): string | { reason: string } {
  if (!isStar(net)) return target;
  const hub = hubOf(view, net, view.site);
  if (hub === undefined) return { reason: `star network ${net.network.name}: no center elected for site ${view.site}` };
  return hub === view.chassisName || target === hub ? target : hub;
}

/** The chassis (name only) this host sends to for a port on `target` (another chassis), or why there is none. */
export function nextHopChassis(view: TopologyView, net: NetworkState, target: string): string | { reason: string } {
  const mine = view.site;
  const theirs = siteOf(view, target);
  if (theirs === mine) return withinSite(view, net, target);
  const gw = siteGateway(view, mine);
  if (gw === undefined) return { reason: `no gateway elected for site ${mine} (to reach site ${theirs})` };
  if (gw !== view.chassisName) return withinSite(view, net, gw);
  const far = siteGateway(view, theirs);
  if (far === undefined) return { reason: `no gateway elected for site ${theirs}` };
  return far;
}

/** Where this host tunnels a packet for a port on `target`: the next hop with its IP and encapsulation. */
export function nextHop(view: TopologyView, net: NetworkState, target: string): Hop {
  const name = nextHopChassis(view, net, target);
  if (typeof name !== 'string') return { kind: 'none', reason: name.reason };
  const peer = peerOf(view, name);
  return 'reason' in peer ? { kind: 'none', reason: peer.reason } : { kind: 'hop', ...peer };
}

/** This host relays for the network: it is its site's star hub, or its site's gateway (packets tunnel to tunnel). */
export function isRelay(view: TopologyView, net: NetworkState): boolean {
  if (net.network.provider) return false;
  const me = view.chassisName;
  return hubOf(view, net, view.site) === me || siteGateway(view, view.site) === me;
}

/**
 * The flood plan of one network on this host: where a flood it originates goes, and, per tunnel source it relays
 * for, where a flood from that source goes besides the local ports (sources not listed: local ports only).
 */
export interface FloodPlan {
  /** Peers a flood from a local port goes to. */
  own: Peer[];
  /** Tunnel source IP → peers to relay a flood from it to (never empty, never containing the source). */
  relay: Map<string, Peer[]>;
}

/**
 * Chassis of the network's segments as seen from here. `sitePeers`: other chassis of this site hosting a port of
 * the network, plus this site's gateway when another site hosts one (it carries floods out); `gateways`: the other
 * sites' gateways where the network has ports (only when this host is its site's gateway).
 */
function segments(view: TopologyView, net: NetworkState): { sitePeers: Set<string>; gateways: Set<string> } {
  const me = view.chassisName;
  const sitePeers = new Set<string>();
  const otherSites = new Set<string>();
  for (const ps of net.ports.values()) {
    const owner = ps.binding?.chassis;
    if (!owner || owner === me || !view.chassis.has(owner)) continue;
    const s = siteOf(view, owner);
    if (s === view.site) sitePeers.add(owner);
    else otherSites.add(s);
  }
  const gateways = new Set<string>();
  const myGw = siteGateway(view, view.site);
  if (otherSites.size > 0 && myGw !== undefined && myGw !== me) sitePeers.add(myGw);
  // A star hub of this site that hosts no port of the network still relays it (a gateway as the hub).
  const hub = hubOf(view, net, view.site);
  if (hub !== undefined && hub !== me && view.chassis.has(hub)) sitePeers.add(hub);
  if (myGw === me)
    for (const s of otherSites) {
      const g = siteGateway(view, s);
      if (g !== undefined && g !== me) gateways.add(g);
    }
  return { sitePeers, gateways };
}

export function floodPlan(view: TopologyView, net: NetworkState): FloodPlan {
  const me = view.chassisName;
  const { sitePeers, gateways } = segments(view, net);
  const star = isStar(net);
  const hub = hubOf(view, net, view.site);
  const amHub = star && hub === me;
  const peers = (names: Iterable<string>): Peer[] =>
    [...names].sort().flatMap((n) => {
      const p = peerOf(view, n);
      return 'reason' in p ? [] : [p];
    });
  // The site segment as this host floods into it: a mesh or a hub → every site peer; a spoke → its hub only.
  const intoSite: string[] = !star || amHub ? [...sitePeers] : hub !== undefined && hub !== me ? [hub] : [];
  const gws = [...gateways];
  const relay = new Map<string, Peer[]>();
  const add = (from: string, to: string[]) => {
    const src = peerOf(view, from);
    if ('reason' in src) return;
    const out = peers(to.filter((t) => t !== from));
    if (out.length > 0) relay.set(src.tunnelIp, out);
  };
  for (const p of sitePeers) {
    // From a site peer: a hub passes it to the other spokes; a gateway carries it to the other sites.
    if (amHub) add(p, [...sitePeers, ...gws]);
    else if (gws.length > 0 && (!star || p === hub)) add(p, gws);
  }
  // From another site's gateway: into this site (this host is its site's gateway).
  for (const g of gws) add(g, intoSite);
  return { own: peers([...intoSite, ...gws]), relay };
}

/** Why this host has no path for some of the network's traffic (no center, no site gateway, no common encap). */
export function overlayProblems(view: TopologyView, net: NetworkState): string[] {
  if (net.network.provider) return [];
  const out = new Set<string>();
  for (const ps of net.ports.values()) {
    const owner = ps.binding?.chassis;
    if (!owner || owner === view.chassisName || !view.chassis.has(owner)) continue;
    const h = nextHop(view, net, owner);
    if (h.kind === 'none') out.add(h.reason);
  }
  return [...out].sort();
}
