/**
 * Who answers for which address on a network, beyond the ports' own: the DHCP server's address and MAC on
 * subnets no router serves. ARP answers for those gateways and DHCP replies from that MAC, so both apps read
 * the same answer here instead of one importing the other.
 */
import { createHash } from 'node:crypto';
import type { Subnet } from '../model/types.js';
import { routersOn } from './routes.js';
import type { NetworkState, TopologyView } from './topology-view.js';

/** The MAC DHCP replies come from: the subnet's router interface, else one derived from the subnet id. */
export function dhcpServerMac(view: TopologyView, net: NetworkState, subnet: Subnet, derived?: Map<string, string>): string {
  for (const { iface } of routersOn(view, net.network.id)) if (iface.subnetId === subnet.id) return iface.mac.toLowerCase();
  // The derived MAC depends only on the subnet id: a caller answering packets passes a memo so the sha256 runs
  // once per subnet, not once per DHCP packet.
  const known = derived?.get(subnet.id);
  if (known !== undefined) return known;
  const mac = derivedServerMac(subnet.id);
  derived?.set(subnet.id, mac);
  return mac;
}

function derivedServerMac(subnetId: string): string {
  const h = createHash('sha256').update(`wyvern-dhcp:${subnetId}`).digest();
  // Locally administered, unicast.
  h[0] = (h[0]! & 0xfc) | 0x02;
  return [...h.subarray(0, 6)].map((b) => b.toString(16).padStart(2, '0')).join(':');
}

/** The subnets of a network whose gateway address no router answers for (the DHCP server answers ARP then). */
export function dhcpOnlyGateways(view: TopologyView, net: NetworkState): Subnet[] {
  const routed = new Set(routersOn(view, net.network.id).map(({ iface }) => iface.subnetId));
  return [...net.subnets.values()].filter((s) => s.enableDhcp && s.gatewayIp && !routed.has(s.id));
}

/** An IPv4 address answered for on a network, and by whom. */
export interface NetworkAddress {
  ip: string;
  /** Lower-case MAC that owns the address. */
  mac: string;
  /** A logical port's fixed IP, a router interface's, or the DHCP server's (the gateway no router serves). */
  kind: 'port' | 'router' | 'dhcp';
  /** Key of the object behind it: port key, router key, or the network's tunnel key for the DHCP server. */
  key: number;
}

/**
 * Every address known on a network: ports (by port key), router interfaces (by router key), then the DHCP
 * server's gateway addresses — in a stable order, so flows computed from it are deterministic.
 */
export function addressesOn(view: TopologyView, net: NetworkState): NetworkAddress[] {
  const out: NetworkAddress[] = [];
  for (const { port } of [...net.ports.values()].sort((a, b) => a.port.portKey - b.port.portKey))
    for (const { ip } of port.fixedIps) out.push({ ip, mac: port.mac.toLowerCase(), kind: 'port', key: port.portKey });
  return [...out, ...nonPortAddressesOn(view, net)];
}

/**
 * Whether a router interface or the DHCP server answers for `ip` on this network (the addresses of
 * nonPortAddressesOn, without building their MACs: asked once per port, on the path of every recompute).
 */
export function answeredByNonPort(view: TopologyView, net: NetworkState, ip: string): boolean {
  for (const { iface } of routersOn(view, net.network.id)) if (iface.ip === ip) return true;
  return dhcpOnlyGateways(view, net).some((s) => s.gatewayIp === ip);
}

/** The addresses of addressesOn that are not ports' own: router interfaces, then DHCP servers' gateways. */
export function nonPortAddressesOn(view: TopologyView, net: NetworkState): NetworkAddress[] {
  const out: NetworkAddress[] = [];
  for (const { router, iface } of routersOn(view, net.network.id))
    out.push({ ip: iface.ip, mac: iface.mac.toLowerCase(), kind: 'router', key: router.routerKey });
  for (const subnet of dhcpOnlyGateways(view, net))
    out.push({ ip: subnet.gatewayIp, mac: dhcpServerMac(view, net, subnet), kind: 'dhcp', key: net.network.tunnelKey });
  return out;
}
