/**
 * Router queries over the topology view: which routers sit on a network, which networks they reach (lazy sync
 * follows these), which ports are behind an interface and where a router sends a destination. Shared by the
 * L3, ARP and DHCP apps and the agent's lazy sync, so it lives below all of them.
 */
import type { NetworkState, TopologyView } from './topology-view.js';
import type { Port, Router, RouterInterface, Subnet } from '../model/types.js';
import { cidrContains, intToIp, ipToInt, maskOf, toCidr } from '../net/addr.js';

export function inCidr(ip: string, cidr: string): boolean {
  return cidrContains(toCidr(cidr), ipToInt(ip));
}

/** Dotted netmask of a prefix length (ovs-ofctl style masks in flows). */
export function maskText(prefix: number): string {
  return intToIp(maskOf(prefix));
}

/** Routers with an interface on this network, with that interface. */
export function routersOn(view: TopologyView, networkId: string): { router: Router; iface: RouterInterface }[] {
  const out: { router: Router; iface: RouterInterface }[] = [];
  for (const router of [...view.routers.values()].sort((a, b) => a.routerKey - b.routerKey)) {
    for (const iface of router.interfaces) if (iface.networkId === networkId) out.push({ router, iface });
  }
  return out;
}

/**
 * Networks reachable through the routers attached to `networkId` (excluding itself), the provider network of a
 * router's gateway included (a local floating IP is NATed onto it here).
 */
export function routedNeighbours(view: TopologyView, networkId: string): Set<string> {
  const out = new Set<string>();
  for (const { router } of routersOn(view, networkId)) {
    for (const i of router.interfaces) if (i.networkId !== networkId) out.add(i.networkId);
    if (router.gateway && router.gateway.networkId !== networkId) out.add(router.gateway.networkId);
  }
  return out;
}

/** The interface networks of the routers whose gateway is on `networkId` (their ports' un-NAT routes live there). */
export function gatewayDependents(view: TopologyView, networkId: string): Set<string> {
  const out = new Set<string>();
  for (const router of view.routers.values())
    if (router.gateway?.networkId === networkId) for (const i of router.interfaces) if (i.networkId !== networkId) out.add(i.networkId);
  return out;
}

/**
 * Networks a gateway chassis candidate needs (lazy sync): for every router whose gateway lists `chassis`, the
 * gateway's provider network and the router's interface networks, so a takeover finds them in the view.
 */
export function gatewayCandidacyNetworks(view: TopologyView, chassis: string): Set<string> {
  const out = new Set<string>();
  for (const router of view.routers.values()) {
    if (!router.gateway?.chassis.includes(chassis)) continue;
    out.add(router.gateway.networkId);
    for (const i of router.interfaces) out.add(i.networkId);
  }
  return out;
}

export interface RouteTarget {
  /** The router interface the packet leaves through. */
  egress: RouterInterface;
  net: NetworkState;
  subnet: Subnet;
  /** The destination (or next-hop) port. */
  port: Port;
}

/** Ports with an address in the subnet of a router interface, if that network is in the view. */
export function portsBehind(view: TopologyView, iface: RouterInterface): RouteTarget[] {
  const net = view.networks.get(iface.networkId);
  const subnet = net?.subnets.get(iface.subnetId);
  if (!net || !subnet || net.network.tunnelKey === 0) return [];
  const out: RouteTarget[] = [];
  for (const { port } of [...net.ports.values()].sort((a, b) => a.port.portKey - b.port.portKey)) {
    if (port.fixedIps.some((f) => f.subnetId === subnet.id)) out.push({ egress: iface, net, subnet, port });
  }
  return out;
}

/**
 * The port with address `ip` behind a router interface (its subnet's ports; `anyAddress`: the port may carry
 * `ip` on another of its addresses, as a static route's next hop may). A plain scan, no sorting or copying:
 * this runs for every reactive PACKET_IN, and sorting thousands of ports each time cost more than routing.
 */
function portWithIp(view: TopologyView, iface: RouterInterface, ip: string, anyAddress: boolean): RouteTarget | undefined {
  const net = view.networks.get(iface.networkId);
  const subnet = net?.subnets.get(iface.subnetId);
  if (!net || !subnet || net.network.tunnelKey === 0) return undefined;
  for (const { port } of net.ports.values()) {
    let inSubnet = false;
    let has = false;
    for (const f of port.fixedIps) {
      if (f.subnetId === subnet.id) {
        inSubnet = true;
        if (f.ip === ip) has = true;
      } else if (anyAddress && f.ip === ip) has = true;
    }
    if (inSubnet && has) return { egress: iface, net, subnet, port };
  }
  return undefined;
}

/** Finds where a router sends a packet for `dst`: a directly attached port, or a static route's next hop. */
export function resolveRoute(view: TopologyView, router: Router, dst: string): { target: RouteTarget; ip: string } | undefined {
  for (const iface of router.interfaces) {
    const t = portWithIp(view, iface, dst, false);
    if (t) return { target: t, ip: dst };
  }
  // Longest prefix first; a route whose next hop is not (yet) known falls through to shorter ones.
  const routes =
    router.routes.length > 1 ? [...router.routes].sort((a, b) => toCidr(b.cidr).prefix - toCidr(a.cidr).prefix) : router.routes;
  for (const r of routes) {
    if (!inCidr(dst, r.cidr)) continue;
    for (const iface of router.interfaces) {
      const hop = portWithIp(view, iface, r.nexthop, true);
      if (hop) return { target: hop, ip: r.nexthop };
    }
  }
  return undefined;
}
