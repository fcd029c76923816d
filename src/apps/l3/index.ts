import type { App } from '../platform.js';
import { l3NetworkFlows } from './proactive.js';
import { l3PacketInHandler, ReactiveOwners, type L3Counters } from './reactive.js';

export { L3_PRIORITY, l3NetworkFlows, routeActions } from './proactive.js';

/**
 * Distributed router: proactive flows per network (proactive.ts); the agent side answers ICMP for the router and
 * routes the first packet of a reactive router's destinations (reactive.ts). One handler serves the three opcodes:
 * it is told which one, and answers accordingly.
 */
export const l3App: App = {
  name: 'l3',
  tables: ['l3_router'],
  networkFlows: l3NetworkFlows,
  create(ctx) {
    const counters: L3Counters = { echoReplies: 0, timeExceeded: 0, unreachable: 0, reactiveFlows: 0 };
    // Reactive flows are a transient owner per router: dropped when their router or its networks change.
    const owners = new ReactiveOwners();
    const handle = l3PacketInHandler(ctx.view, ctx.tables, counters, owners);
    return {
      packetIn: { l3_ttl_expired: handle, l3_router_address: handle, l3_route_miss: handle },
      counters,
      viewChanged: (c) => owners.stale(ctx.view, c),
    };
  },
};
