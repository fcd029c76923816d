/**
 * The NAT app's desired flows (issue 14), after OVN's distributed router with a distributed gateway port:
 *
 * - floating IPs (dnat_and_snat with external_mac) are NATed on the chassis that hosts their port, which alone
 *   answers ARP for them on the physnet: their traffic never crosses a tunnel;
 * - everything else a router with a gateway sends outside its subnets is SNATed to the gateway IP on the one
 *   active gateway chassis (GatewayLease): other chassis tunnel it there (the VM network's key, gateway MAC);
 *   the replies, un-SNATed there, are routed back like any routed packet (to the VM's chassis by tunnel).
 *
 * Every NAT connection is tracked in its router's zone (pipelines/ ct_zones.router_nat), apart from the
 * security-group zones by declaration. Flows are computed per network: an interface network of a router with a
 * gateway owns its egress (nat_egress) and un-NAT routes (nat_unnat); the gateway's provider network owns what
 * enters from the physnet or the tunnel for the gateway and local floating IPs (nat_ingress, nat_out).
 */
import type { Action, Match } from '../../openflow/index.js';
import { FlowGuardError } from '../../pipeline/guard.js';
import { CtZoneError, type AppTables, type DesiredFlow } from '../../pipeline/tables.js';
import {
  activeGatewayChassis,
  gatewayActiveHere,
  gatewayRouters,
  localFips,
  physnetExit,
  portsBehind,
  type GatewayRouter,
  type NetworkState,
  type PhysnetExit,
  type TopologyView,
} from '../../view/index.js';
import { writeNetwork } from '../platform.js';
import { isRelay, nextHop } from '../../view/overlay-paths.js';

const ETH_IP = 0x0800;
const IPPROTO_ICMP = 1;
const ICMP_ECHO_REQUEST = 8;
const ICMP_ECHO_REPLY = 0;
const ETH_ARP = 0x0806;
const ARP_REQUEST = 1;
const ARP_REPLY = 2;
/** NX_NAT_F_SRC / NX_NAT_F_DST. */
const NAT_SRC = 1;
const NAT_DST = 2;
const OFPVID_PRESENT = 0x1000;

export const NAT_PRIORITY = {
  /** nat_ingress */
  address: 100,
  echo: 105,
  arpReply: 110,
  gatewayConflict: 115,
  /** nat_egress */
  snat: 100,
  floatingIp: 200,
  /** nat_nexthop */
  gateway: 100,
  subnet: 150,
  neighbour: 200,
  /** nat_unnat */
  host: 100,
} as const;

/** The router's NAT conntrack zone, or undefined (refused loudly: its key is beyond the declared range). */
export function routerZone(tables: AppTables, router: GatewayRouter): number | undefined {
  try {
    return tables.ctZone('router_nat', router.routerKey);
  } catch (err) {
    if (!(err instanceof CtZoneError)) throw err;
    tables.report(new FlowGuardError('nat_egress', 'ct_zone', `router ${router.name}: ${err.message}; no NAT for it`));
    return undefined;
  }
}

/** ct(commit?, zone, nat(...), table=recirc): NAT in the router's zone, continuing in `recirc`. */
function ctNat(tables: AppTables, zone: number, recirc: string, nat?: { flags: number; ip: string }, commit = true): Action {
  return {
    type: 'ct',
    flags: commit ? 1 : 0,
    zone,
    recircTable: tables.id(recirc),
    alg: 0,
    actions: [nat ? { type: 'nat', flags: nat.flags, ipv4Min: nat.ip } : { type: 'nat', flags: 0 }],
  };
}

/** The actions that put a provider packet on the physnet: VLAN tag if the segment has one, out the patch port. */
export function physnetOutput(exit: PhysnetExit, port: number | 'in_port' = exit.ofport): Action[] {
  const tag: Action[] =
    exit.provider.vlan === undefined
      ? []
      : [
          { type: 'push_vlan', ethertype: 0x8100 },
          { type: 'set_field', field: 'vlan_vid', value: exit.provider.vlan | OFPVID_PRESENT },
        ];
  return [...tag, { type: 'output', port }];
}

/** ARP request → reply for `ip` at `mac`, back out of the physnet port it came in on. */
function arpReplyActions(exit: PhysnetExit, mac: string, ip: string): Action[] {
  return [
    { type: 'reg_move', src: 'eth_src', dst: 'eth_dst', nBits: 48, srcOfs: 0, dstOfs: 0 },
    { type: 'set_field', field: 'eth_src', value: mac },
    { type: 'set_field', field: 'arp_op', value: ARP_REPLY },
    { type: 'reg_move', src: 'arp_sha', dst: 'arp_tha', nBits: 48, srcOfs: 0, dstOfs: 0 },
    { type: 'set_field', field: 'arp_sha', value: mac },
    { type: 'reg_move', src: 'arp_spa', dst: 'arp_tpa', nBits: 32, srcOfs: 0, dstOfs: 0 },
    { type: 'set_field', field: 'arp_spa', value: ip },
    ...physnetOutput(exit, 'in_port'),
  ];
}

/**
 * ICMP echo request → reply from `ip` at `mac`, made in place and sent back out of the physnet port (as OVN's
 * router does, no controller round trip): an operator's first check of a router's external address. OVS fixes the
 * IPv4 and ICMP checksums for the rewritten fields.
 */
function echoReplyActions(exit: PhysnetExit, mac: string, ip: string): Action[] {
  return [
    { type: 'reg_move', src: 'eth_src', dst: 'eth_dst', nBits: 48, srcOfs: 0, dstOfs: 0 },
    { type: 'set_field', field: 'eth_src', value: mac },
    { type: 'reg_move', src: 'ipv4_src', dst: 'ipv4_dst', nBits: 32, srcOfs: 0, dstOfs: 0 },
    { type: 'set_field', field: 'ipv4_src', value: ip },
    { type: 'set_nw_ttl', ttl: 255 },
    { type: 'set_field', field: 'icmpv4_type', value: ICMP_ECHO_REPLY },
    ...physnetOutput(exit, 'in_port'),
  ];
}

/** What a chassis tunnels towards a router's active gateway for SNAT: the VM network's key, the gateway MAC. */
function snatFromTunnel(tables: AppTables, metadata: Match[number], router: GatewayRouter): Match {
  const tunnel = tables.flag('from_tunnel');
  return [
    metadata,
    { field: tunnel.field, value: tunnel.mask, mask: tunnel.mask },
    { field: 'eth_dst', value: router.gateway.mac },
    { field: 'eth_type', value: ETH_IP },
  ];
}

function loadRouter(tables: AppTables, router: GatewayRouter): Action {
  return { type: 'reg_load', dst: tables.reg('router'), ofs: 0, nBits: 32, value: BigInt(router.routerKey) };
}

/**
 * One NAT address (the active gateway IP, or a local floating IP) on its provider network: ARP answered for it
 * only when asked from the physnet, ARP replies to it (next hops answering the agent) to the agent, and what
 * leaves after SNAT to it gets its MAC and goes on to the next-hop table.
 */
function addressFlows(tables: AppTables, exit: PhysnetExit, router: GatewayRouter, ip: string, mac: string): DesiredFlow[] {
  const ingress = tables.table('nat_ingress');
  const out = tables.table('nat_out');
  const physnet = tables.flag('from_physnet');
  const provider: Match = [
    { field: tables.reg('network'), value: BigInt(exit.net.network.tunnelKey) },
    { field: physnet.field, value: physnet.mask, mask: physnet.mask },
  ];
  const arp = (op: number): Match => [
    ...provider,
    { field: 'eth_type', value: ETH_ARP },
    { field: 'arp_op', value: op },
    { field: 'arp_tpa', value: ip },
  ];
  const object = router.routerKey;
  return [
    ingress.flow({ priority: NAT_PRIORITY.address, match: arp(ARP_REQUEST), actions: arpReplyActions(exit, mac, ip), object }),
    ingress.flow({ priority: NAT_PRIORITY.arpReply, match: arp(ARP_REPLY), actions: [tables.toController('nat_mac_binding')], object }),
    out.flow({
      priority: NAT_PRIORITY.address,
      match: [
        { field: tables.reg('router'), value: router.routerKey },
        { field: 'eth_type', value: ETH_IP },
        { field: 'ipv4_src', value: ip },
      ],
      actions: [{ type: 'set_field', field: 'eth_src', value: mac }],
      writeMetadata: writeNetwork(tables, exit.net.network.tunnelKey),
      goto: 'nat_nexthop',
      object,
    }),
  ];
}

/** Flows of a provider network that is the gateway network of routers: the gateway (if active here) and local FIPs. */
function providerFlows(tables: AppTables, view: TopologyView, net: NetworkState): DesiredFlow[] {
  const exit = physnetExit(view, net.network.id);
  if (!exit) return [];
  const ingress = tables.table('nat_ingress');
  const flows: DesiredFlow[] = [];
  const key = BigInt(net.network.tunnelKey);
  const physnet = tables.flag('from_physnet');
  const fromPhysnet: Match = [
    { field: tables.reg('network'), value: key },
    { field: physnet.field, value: physnet.mask, mask: physnet.mask },
  ];
  let subnetsOwned = false;
  for (const router of gatewayRouters(view)) {
    if (router.gateway.networkId !== net.network.id) continue;
    const zone = routerZone(tables, router);
    if (zone === undefined) continue;
    const object = router.routerKey;
    const fips = localFips(view, router);
    const active = gatewayActiveHere(view, router);
    if (active) {
      const g = router.gateway;
      flows.push(...addressFlows(tables, exit, router, g.ip, g.mac));
      // Another host sending as the gateway IP (the gratuitous ARP of a chassis that took the gateway over while the
      // store could not reach this one) goes to the agent — above the ARP answers, which would answer its request.
      flows.push(
        ingress.flow({
          priority: NAT_PRIORITY.gatewayConflict,
          match: [...fromPhysnet, { field: 'eth_type', value: ETH_ARP }, { field: 'arp_spa', value: g.ip }],
          actions: [tables.toController('nat_gateway_conflict')],
          object,
        }),
      );
      // Pings of the gateway IP itself are answered here. SNAT lets no connection in from outside, so an echo request
      // to it is never one of a VM's connections (their echo replies come back as type 0 and are un-SNATed below).
      flows.push(
        ingress.flow({
          priority: NAT_PRIORITY.echo,
          match: [
            ...fromPhysnet,
            { field: 'eth_type', value: ETH_IP },
            { field: 'ipv4_dst', value: g.ip },
            { field: 'ip_proto', value: IPPROTO_ICMP },
            { field: 'icmpv4_type', value: ICMP_ECHO_REQUEST },
          ],
          actions: echoReplyActions(exit, g.mac, g.ip),
          object,
        }),
      );
      // Replies to SNATed connections: un-SNAT (existing entries only), then routed to the VM.
      flows.push(
        ingress.flow({
          priority: NAT_PRIORITY.address,
          match: [...fromPhysnet, { field: 'eth_type', value: ETH_IP }, { field: 'ipv4_dst', value: g.ip }],
          actions: [loadRouter(tables, router), ctNat(tables, zone, 'nat_unnat', undefined, false)],
          object,
        }),
      );
    }
    for (const f of fips) {
      flows.push(...addressFlows(tables, exit, router, f.ip, f.mac));
      flows.push(
        ingress.flow({
          priority: NAT_PRIORITY.address,
          match: [...fromPhysnet, { field: 'eth_type', value: ETH_IP }, { field: 'ipv4_dst', value: f.ip }],
          actions: [loadRouter(tables, router), ctNat(tables, zone, 'nat_unnat', { flags: NAT_DST, ip: f.fixedIp })],
          object,
        }),
      );
    }
    subnetsOwned ||= active || fips.length > 0;
  }
  // On-link destinations of the provider subnets: the agent ARPs for each (learned ones have their own flows).
  if (subnetsOwned) {
    const nexthop = tables.table('nat_nexthop');
    for (const s of [...net.subnets.values()].sort((a, b) => (a.id < b.id ? -1 : 1))) {
      const [addr, len] = s.cidr.split('/');
      flows.push(
        nexthop.flow({
          priority: NAT_PRIORITY.subnet,
          match: [
            { field: tables.reg('network'), value: key },
            { field: 'eth_type', value: ETH_IP },
            { field: 'ipv4_dst', value: addr!, mask: maskOf(Number(len)) },
          ],
          actions: [tables.toController('nat_nexthop_miss')],
          object: key,
        }),
      );
    }
  }
  return flows;
}

function maskOf(len: number): string {
  const m = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
  return [24, 16, 8, 0].map((s) => (m >>> s) & 0xff).join('.');
}

/**
 * Flows of an interface network of routers with a gateway: what they send outside their subnets (nat_egress:
 * a local FIP's SNAT, the gateway's SNAT when active here, else the tunnel to the active chassis), what the other
 * chassis tunnel here for SNAT when active (nat_ingress), and the routes from an un-NATed packet to each of the
 * network's ports (nat_unnat).
 */
function interfaceFlows(tables: AppTables, view: TopologyView, net: NetworkState): DesiredFlow[] {
  const egress = tables.table('nat_egress');
  const unnat = tables.table('nat_unnat');
  const flows: DesiredFlow[] = [];
  const metadata = { field: tables.reg('network'), value: BigInt(net.network.tunnelKey) };
  for (const router of gatewayRouters(view)) {
    const ifaces = router.interfaces.filter((i) => i.networkId === net.network.id);
    if (ifaces.length === 0) continue;
    const zone = routerZone(tables, router);
    if (zone === undefined) continue;
    const object = router.routerKey;
    const fromRouter: Match = [metadata, { field: tables.reg('router'), value: router.routerKey }, { field: 'eth_type', value: ETH_IP }];
    for (const f of localFips(view, router)) {
      if (f.portNetworkId !== net.network.id) continue;
      flows.push(
        egress.flow({
          priority: NAT_PRIORITY.floatingIp,
          match: [...fromRouter, { field: 'ipv4_src', value: f.fixedIp }],
          actions: [{ type: 'dec_nw_ttl' }, ctNat(tables, zone, 'nat_out', { flags: NAT_SRC, ip: f.ip })],
          object,
        }),
      );
    }
    const snat = snatActions(tables, view, net, router, zone);
    if (snat) flows.push(egress.flow({ priority: NAT_PRIORITY.snat, match: fromRouter, actions: snat, object }));
    if (gatewayActiveHere(view, router)) {
      // What other chassis tunnel here for SNAT: this network's key (a network every candidate watches, whose
      // tunnel ingress exists), the gateway MAC as destination.
      flows.push(
        tables.table('nat_ingress').flow({
          priority: NAT_PRIORITY.address,
          match: snatFromTunnel(tables, metadata, router),
          actions: [loadRouter(tables, router), ctNat(tables, zone, 'nat_out', { flags: NAT_SRC, ip: router.gateway.ip })],
          object,
        }),
      );
    } else {
      const relay = snatRelay(tables, view, net, router, metadata);
      if (relay) flows.push(relay);
    }

    for (const iface of ifaces)
      for (const t of portsBehind(view, iface))
        for (const fixed of t.port.fixedIps) {
          if (fixed.subnetId !== t.subnet.id) continue;
          flows.push(
            unnat.flow({
              priority: NAT_PRIORITY.host,
              match: [
                { field: tables.reg('router'), value: router.routerKey },
                { field: 'eth_type', value: ETH_IP },
                { field: 'ipv4_dst', value: fixed.ip },
              ],
              actions: [
                { type: 'dec_nw_ttl' },
                { type: 'set_field', field: 'eth_src', value: iface.mac.toLowerCase() },
                { type: 'set_field', field: 'eth_dst', value: t.port.mac.toLowerCase() },
                clearFlag(tables, 'from_physnet'),
              ],
              writeMetadata: writeNetwork(tables, net.network.tunnelKey),
              goto: 'l2_lookup',
              object: t.port.portKey,
            }),
          );
        }
  }
  return flows;
}

function clearFlag(tables: AppTables, name: string): Action {
  const { field, bit } = tables.flagBit(name);
  return { type: 'reg_load', dst: field, ofs: bit, nBits: 1, value: 0n };
}

/**
 * On a relay of the network (a star hub, a site gateway; issue 16), what spokes tunnel here for the router's SNAT
 * (gateway MAC as destination) goes on towards the active gateway chassis, tunnel to tunnel (in_port cleared, as
 * l2's relay does) — without this it would be flooded as unknown unicast to every spoke.
 */
function snatRelay(
  tables: AppTables,
  view: TopologyView,
  net: NetworkState,
  router: GatewayRouter,
  metadata: Match[number],
): DesiredFlow | undefined {
  if (!isRelay(view, net)) return undefined;
  const active = activeGatewayChassis(view, router.id);
  if (active === undefined || active === view.chassisName) return undefined;
  const hop = nextHop(view, net, active);
  const tunnel = hop.kind === 'hop' ? view.tunnelOfports.get(hop.encap) : undefined;
  if (hop.kind !== 'hop' || tunnel === undefined) return undefined;
  return tables.table('nat_ingress').flow({
    priority: NAT_PRIORITY.address,
    match: snatFromTunnel(tables, metadata, router),
    actions: [
      { type: 'set_field', field: 'tun_id', value: BigInt(net.network.tunnelKey) },
      { type: 'reg_load', dst: 'in_port_nxm', ofs: 0, nBits: 16, value: 0n },
      { type: 'set_field', field: 'tun_ipv4_dst', value: hop.tunnelIp },
      { type: 'output', port: tunnel },
    ],
    object: router.routerKey,
  });
}

/**
 * The router's SNAT from this chassis: here when it holds the gateway lease (and reaches the physnet), else the
 * tunnel towards the chassis that does (gateway MAC, the VM network's key) — its next hop over the network's
 * overlay (issue 16: the star's hub, or the site gateway); none while no chassis is active.
 */
function snatActions(tables: AppTables, view: TopologyView, net: NetworkState, router: GatewayRouter, zone: number): Action[] | undefined {
  const g = router.gateway;
  if (gatewayActiveHere(view, router)) return [{ type: 'dec_nw_ttl' }, ctNat(tables, zone, 'nat_out', { flags: NAT_SRC, ip: g.ip })];
  const active = activeGatewayChassis(view, router.id);
  if (active === undefined || active === view.chassisName) return undefined;
  const hop = nextHop(view, net, active);
  const tunnel = hop.kind === 'hop' ? view.tunnelOfports.get(hop.encap) : undefined;
  if (hop.kind !== 'hop' || tunnel === undefined) return undefined;
  return [
    { type: 'dec_nw_ttl' },
    { type: 'set_field', field: 'eth_dst', value: g.mac },
    { type: 'set_field', field: 'tun_id', value: BigInt(net.network.tunnelKey) },
    { type: 'set_field', field: 'tun_ipv4_dst', value: hop.tunnelIp },
    { type: 'output', port: tunnel },
  ];
}

export function natNetworkFlows(tables: AppTables, view: TopologyView, net: NetworkState): DesiredFlow[] {
  if (view.routers.size === 0) return [];
  const flows = interfaceFlows(tables, view, net);
  if (net.network.provider) flows.push(...providerFlows(tables, view, net));
  return flows;
}
