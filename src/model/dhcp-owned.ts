/**
 * DHCP options a subnet's `dhcpOptions` may not set, because the DHCP app (src/apps/dhcp/options.ts)
 * writes them itself: from the protocol state, from another field of the subnet or network, or by
 * echoing the client or relay. Accepting them would either be dropped silently (the app's protected
 * codes) or silently override what the model says (the mask, router, DNS, MTU, routes…), so they
 * are refused at write time with the field to use instead.
 */
import { OPT } from '../packet/dhcp-options.js';

export const SERVER_OWNED_OPTIONS: ReadonlyMap<number, string> = new Map<number, string>([
  [OPT.pad, 'option 0 (pad) is framing, not an option'],
  [OPT.subnetMask, "option 1 (subnet mask) comes from the subnet's cidr"],
  [OPT.router, "option 3 (router) comes from the subnet's gatewayIp"],
  [OPT.dns, "option 6 (DNS servers) comes from the subnet's dnsServers"],
  [OPT.hostname, "option 12 (host name) is the port's name"],
  [OPT.domain, "option 15 (domain name) comes from the subnet's domain"],
  [OPT.mtu, "option 26 (interface MTU) comes from the network's mtu minus the tunnel overhead"],
  [OPT.broadcast, "option 28 (broadcast address) comes from the subnet's cidr"],
  [OPT.requestedIp, 'option 50 (requested IP) is sent by clients, not servers'],
  [OPT.leaseTime, "option 51 (lease time) comes from the subnet's leaseTime"],
  [OPT.overload, 'option 52 (overload) is set by the server when it packs options'],
  [OPT.messageType, 'option 53 (message type) is set by the server for each reply'],
  [OPT.serverId, 'option 54 (server identifier) is set by the server'],
  [OPT.parameterRequestList, 'option 55 (parameter request list) is sent by clients, not servers'],
  [OPT.message, 'option 56 (message) is set by the server in a NAK'],
  [OPT.maxMessageSize, 'option 57 (maximum message size) is sent by clients, not servers'],
  [OPT.renewalTime, "option 58 (renewal time T1) is derived from the subnet's leaseTime"],
  [OPT.rebindingTime, "option 59 (rebinding time T2) is derived from the subnet's leaseTime"],
  [OPT.clientId, "option 61 (client identifier) is the client's, echoed by the server"],
  [OPT.relayAgentInfo, "option 82 (relay agent information) is the relay's, echoed by the server"],
  [OPT.classlessRoutes, "option 121 (classless static routes) comes from the subnet's hostRoutes"],
  [OPT.msClasslessRoutes, "option 249 (Microsoft classless routes) comes from the subnet's hostRoutes"],
  [OPT.end, 'option 255 (end) is framing, not an option'],
]);
