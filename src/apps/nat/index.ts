import type { App } from '../platform.js';
import { gatewayConflictHandler } from './conflicts.js';
import { natNetworkFlows } from './flows.js';
import { Neighbours } from './neighbours.js';

export { NAT_PRIORITY, natNetworkFlows, physnetOutput, routerZone } from './flows.js';
export { ANNOUNCE_INTERVAL_MS, ARP_RETRY_MS, NEXTHOP_IDLE_SECONDS, NEXTHOP_OWNER_PREFIX, Neighbours } from './neighbours.js';

/**
 * North-south NAT (issue 14): distributed floating IPs and the router gateway's SNAT on its active chassis
 * (flows.ts); next-hop MACs on provider networks and gratuitous ARPs (neighbours.ts); another host announcing a
 * gateway active here, reported to the agent, and the address defended when the store confirms it here (conflicts.ts).
 */
export const natApp: App = {
  name: 'nat',
  tables: ['nat_ingress', 'nat_unnat', 'nat_egress', 'nat_out', 'nat_nexthop'],
  networkFlows: natNetworkFlows,
  create(ctx) {
    const n = new Neighbours(ctx.view, ctx.tables, ctx.now);
    const counters = Object.assign(n.counters, { gatewayConflicts: 0, gatewayDefences: 0 });
    return {
      packetIn: {
        nat_nexthop_miss: (pin) => n.miss(pin),
        nat_mac_binding: (pin) => n.binding(pin),
        nat_gateway_conflict: gatewayConflictHandler(ctx.view, ctx.roles, counters, ctx.now),
      },
      counters,
      viewChanged: (c) => n.stale(c),
      announce: () => n.announce(),
      announceDueIn: () => n.announceDueIn(),
    };
  },
};
