/**
 * North-south queries over the topology view (issue 14): routers with a gateway, where their SNAT runs (the
 * active gateway chassis of the store's GatewayLease), which floating IPs are hosted here, and the physnet patch
 * port a provider network leaves through on this chassis. Shared by the NAT app, the L3 app and lazy sync.
 */
import type { FloatingIp, ProviderSegment, Router, RouterGateway } from '../model/types.js';
import type { NetworkState, TopologyView } from './topology-view.js';

/** A router with its gateway (narrowed). */
export type GatewayRouter = Router & { gateway: RouterGateway };

export function hasGateway(r: Router): r is GatewayRouter {
  return r.gateway !== undefined;
}

/** Routers with a gateway, by router key (deterministic flows). */
export function gatewayRouters(view: TopologyView): GatewayRouter[] {
  return [...view.routers.values()].filter(hasGateway).sort((a, b) => a.routerKey - b.routerKey);
}

/**
 * The chassis whose agent holds the router's gateway lease now, if any. A lease of this chassis fenced off (another
 * host announced the gateway while the store could not confirm ours) names no one: this chassis neither answers for
 * the gateway nor SNATs for it until the store's copy of the key arrives.
 */
export function activeGatewayChassis(view: TopologyView, routerId: string): string | undefined {
  const lease = view.gateways.get(routerId);
  return lease === undefined || view.gatewayFences.get(routerId) === lease ? undefined : lease.chassis;
}

/** Where a provider network meets the physical world from this chassis: its segment and the br-int patch port. */
export interface PhysnetExit {
  net: NetworkState;
  provider: ProviderSegment;
  ofport: number;
}

/** The provider network `networkId` as this chassis reaches it (in the view, a provider network, mapped here). */
export function physnetExit(view: TopologyView, networkId: string): PhysnetExit | undefined {
  const net = view.networks.get(networkId);
  const provider = net?.network.provider;
  if (!net || !provider || net.network.tunnelKey === 0) return undefined;
  const ofport = view.physnetOfports.get(provider.physnet);
  return ofport === undefined ? undefined : { net, provider, ofport };
}

/** Whether the logical port `portId` of `networkId` is plugged into this chassis's br-int. */
export function isLocalPort(view: TopologyView, networkId: string, portId: string): boolean {
  const ps = view.networks.get(networkId)?.ports.get(portId);
  const vif = ps && view.vifs.get(ps.port.name);
  return vif !== undefined && vif.ofport > 0;
}

/** An associated floating IP (narrowed). */
export type AssociatedFip = FloatingIp & { portId: string; portNetworkId: string; fixedIp: string; routerId: string };

export function isAssociated(f: FloatingIp): f is AssociatedFip {
  return f.portId !== undefined && f.portNetworkId !== undefined && f.fixedIp !== undefined && f.routerId !== undefined;
}

/**
 * Floating IPs NATed on this chassis: associated through `router`, their port plugged here, and their provider
 * network reachable here (mapped physnet). A FIP whose chassis lacks the physnet is not NATed anywhere (its VM
 * falls back to the router's SNAT), as a FIP's traffic never crosses a tunnel.
 */
export function localFips(view: TopologyView, router: GatewayRouter): AssociatedFip[] {
  return [...view.floatingIps.values()]
    .filter(isAssociated)
    .filter(
      (f) =>
        f.routerId === router.id &&
        f.networkId === router.gateway.networkId &&
        isLocalPort(view, f.portNetworkId, f.portId) &&
        physnetExit(view, f.networkId) !== undefined,
    )
    .sort((a, b) => (a.ip < b.ip ? -1 : a.ip > b.ip ? 1 : 0));
}

/** The router's SNAT runs here: this chassis holds its gateway lease and reaches the gateway's provider network. */
export function gatewayActiveHere(view: TopologyView, router: GatewayRouter): boolean {
  return activeGatewayChassis(view, router.id) === view.chassisName && physnetExit(view, router.gateway.networkId) !== undefined;
}
