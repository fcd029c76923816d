import type { Action, Match } from '../../openflow/index.js';
import type { AppTables, DesiredFlow } from '../../pipeline/tables.js';
import { maskText, portsBehind, routersOn, type NetworkState, type RouteTarget, type TopologyView } from '../../view/index.js';
import { toCidr } from '../../net/addr.js';
import { writeNetwork } from '../platform.js';

const ETH_IP = 0x0800;

/** Priorities in the l3_router table, highest first. */
export const L3_PRIORITY = {
  /** A packet for the router itself is answered whatever its TTL (it is not forwarded). */
  routerAddress: 3000,
  ttlExpired: 2500,
  host: 2000,
  /**
   * Flows installed from a PACKET_IN: below `host`, so for a proactive router a bridging flow (the packet
   * came before the router's own flow landed) never replaces the permanent flow the flow manager installed.
   */
  reactive: 1999,
  /** + prefix length: longest prefix wins. */
  staticRoute: 1000,
  /** A router with a gateway: a destination in one of its subnets that no flow routes (to the agent). */
  attachedMiss: 110,
  toAgent: 100,
  nonIp: 50,
} as const;

/** The rewrite a router applies to a packet it forwards to `t` (used by flows and by reactive replies). */
export function routeActions(t: RouteTarget): Action[] {
  return [
    { type: 'dec_nw_ttl' },
    { type: 'set_field', field: 'eth_src', value: t.egress.mac.toLowerCase() },
    { type: 'set_field', field: 'eth_dst', value: t.port.mac.toLowerCase() },
  ];
}

/**
 * Distributed router: every agent with local ports on a router's subnets routes their packets itself.
 * Proactive routers get one flow per reachable host (and per static route); reactive routers send the
 * first packet of each destination to the agent, which installs a flow with an idle timeout. Packets for
 * the router's own addresses, with an expiring TTL, or with no route go to the agent for ICMP.
 */
export function l3NetworkFlows(tables: AppTables, view: TopologyView, net: NetworkState): DesiredFlow[] {
  const t = tables.table('l3_router');
  const flows: DesiredFlow[] = [];
  const metadata = { field: tables.reg('network'), value: BigInt(net.network.tunnelKey) };
  // Each flow to the agent says why, so the handler is told rather than working it out again.
  const ttlExpired: Action[] = [tables.toController('l3_ttl_expired')];
  const routerAddress: Action[] = [tables.toController('l3_router_address')];
  const routeMiss: Action[] = [tables.toController('l3_route_miss')];

  for (const { router, iface } of routersOn(view, net.network.id)) {
    const object = router.routerKey;
    const atRouter: Match = [metadata, { field: 'eth_dst', value: iface.mac.toLowerCase() }];
    const ip: Match = [...atRouter, { field: 'eth_type', value: ETH_IP }];

    for (const ttl of [0, 1])
      flows.push(
        t.flow({ priority: L3_PRIORITY.ttlExpired, match: [...ip, { field: 'ip_ttl', value: ttl }], actions: ttlExpired, object }),
      );
    for (const own of router.interfaces)
      flows.push(
        t.flow({
          priority: L3_PRIORITY.routerAddress,
          match: [...ip, { field: 'ipv4_dst', value: own.ip }],
          actions: routerAddress,
          object,
        }),
      );
    if (router.gateway) {
      // A router with a gateway (issue 14): what no flow routes inside its subnets goes to the agent as ever;
      // everything else leaves through the gateway — the NAT app's nat_egress, with the router in its register.
      for (const i of router.interfaces) {
        const s = view.networks.get(i.networkId)?.subnets.get(i.subnetId);
        if (!s) continue;
        const { prefix: len } = toCidr(s.cidr);
        const dst = { field: 'ipv4_dst', value: s.cidr.split('/')[0]!, ...(len < 32 ? { mask: maskText(len) } : {}) };
        flows.push(t.flow({ priority: L3_PRIORITY.attachedMiss, match: [...ip, dst], actions: routeMiss, object }));
      }
      flows.push(
        t.flow({
          priority: L3_PRIORITY.toAgent,
          match: ip,
          actions: [{ type: 'reg_load', dst: tables.reg('router'), ofs: 0, nBits: 32, value: BigInt(router.routerKey) }],
          goto: 'nat_egress',
          object,
        }),
      );
    } else flows.push(t.flow({ priority: L3_PRIORITY.toAgent, match: ip, actions: routeMiss, object }));
    flows.push(t.flow({ priority: L3_PRIORITY.nonIp, match: atRouter, object }));

    if (router.mode !== 'proactive') continue;
    // A /0 route matches every IPv4 packet: no ipv4_dst field (OVS would drop an all-zero mask anyway).
    const forward = (priority: number, dst: { value: string; mask?: string } | undefined, target: RouteTarget) =>
      t.flow({
        priority,
        match: dst ? [...ip, { field: 'ipv4_dst', value: dst.value, ...(dst.mask ? { mask: dst.mask } : {}) }] : ip,
        actions: routeActions(target),
        writeMetadata: writeNetwork(tables, target.net.network.tunnelKey),
        goto: 'l2_lookup',
        object,
      });
    for (const egress of router.interfaces) {
      if (egress.subnetId === iface.subnetId) continue;
      for (const target of portsBehind(view, egress)) {
        for (const f of target.port.fixedIps)
          if (f.subnetId === target.subnet.id) flows.push(forward(L3_PRIORITY.host, { value: f.ip }, target));
      }
    }
    for (const r of router.routes) {
      const { prefix: len } = toCidr(r.cidr);
      const hop = router.interfaces
        .flatMap((egress) => portsBehind(view, egress))
        .find((x) => x.port.fixedIps.some((f) => f.ip === r.nexthop));
      if (!hop) continue;
      const dst = r.cidr.split('/')[0]!;
      const match = len === 0 ? undefined : len === 32 ? { value: dst } : { value: dst, mask: maskText(len) };
      flows.push(forward(L3_PRIORITY.staticRoute + len, match, hop));
    }
  }
  return flows;
}
