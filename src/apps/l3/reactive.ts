import type { Router, RouterInterface } from '../../model/types.js';
import { flowMod } from '../../openflow/index.js';
import {
  buildIcmpEchoReply,
  buildIcmpError,
  ICMP_ECHO_REQUEST,
  ICMP_TIME,
  ICMP_TIME_EXCEEDED,
  ICMP_DEST_UNREACHABLE,
  ICMP_UNREACH,
} from '../../packet/index.js';
import type { AppTables } from '../../pipeline/tables.js';
import { packetOut, packetReinject, type PacketIn, type PacketInResult, writeNetwork } from '../platform.js';
import { L3_PRIORITY, routeActions } from './proactive.js';
import { reactiveObject } from './janitor.js';
import { inCidr, resolveRoute, type TopologyView } from '../../view/index.js';

export interface L3Counters {
  echoReplies: number;
  timeExceeded: number;
  unreachable: number;
  reactiveFlows: number;
}

/** Idle timeout of the flows a reactive router installs for a destination. */
export const REACTIVE_IDLE_SECONDS = 30;

function findRouter(view: TopologyView, networkId: string, mac: string): { router: Router; iface: RouterInterface } | undefined {
  for (const router of view.routers.values())
    for (const iface of router.interfaces)
      if (iface.networkId === networkId && iface.mac.toLowerCase() === mac) return { router, iface };
  return undefined;
}

/**
 * The L3 PACKET_IN side: ICMP for the router's own addresses (echo reply), TTL expiry (time exceeded),
 * no route (unreachable), and the first packet of a reactive router's flow: a specific flow with an idle
 * timeout is installed and the packet re-injected so it takes that flow.
 */
export function l3PacketInHandler(view: TopologyView, tables: AppTables, counters: L3Counters) {
  return (pin: PacketIn): PacketInResult | undefined => {
    const ip = pin.frame.ipv4;
    if (!ip) return undefined;
    const net = view.networkByKey(Number(pin.networkKey));
    if (!net) return undefined;
    const at = findRouter(view, net.network.id, pin.frame.eth.dst);
    if (!at) return undefined;
    const { router, iface } = at;
    const reply = (frame: Buffer | null): PacketInResult | undefined =>
      frame ? { messages: [packetOut(pin.inPort, frame)] } : undefined;

    // The flow that sent the packet says why (its opcode): for the router itself, TTL expiring, or no flow for
    // the destination.
    const own = pin.opcode === 'l3_router_address' ? router.interfaces.find((i) => i.ip === ip.dst) : undefined;
    if (own) {
      if (pin.frame.icmp?.type === ICMP_ECHO_REQUEST) {
        counters.echoReplies++;
        return reply(buildIcmpEchoReply(pin.frame, iface.mac, own.ip));
      }
      counters.unreachable++;
      return reply(buildIcmpError(ICMP_DEST_UNREACHABLE, ICMP_UNREACH.port, pin.frame, iface.mac, iface.ip));
    }
    if (pin.opcode === 'l3_ttl_expired') {
      counters.timeExceeded++;
      return reply(buildIcmpError(ICMP_TIME_EXCEEDED, ICMP_TIME.ttl, pin.frame, iface.mac, iface.ip));
    }
    if (pin.opcode !== 'l3_route_miss') return undefined;
    const route = resolveRoute(view, router, ip.dst);
    if (!route) {
      counters.unreachable++;
      const attached = router.interfaces.some((i) => {
        const s = view.networks.get(i.networkId)?.subnets.get(i.subnetId);
        return s !== undefined && inCidr(ip.dst, s.cidr);
      });
      const code = attached ? ICMP_UNREACH.host : ICMP_UNREACH.net;
      return reply(buildIcmpError(ICMP_DEST_UNREACHABLE, code, pin.frame, iface.mac, iface.ip));
    }
    // A reactive router (or a proactive one whose flow is not there yet): install the destination's flow,
    // then re-inject the packet at the start of the pipeline, where it now meets that flow.
    const flow = tables.table('l3_router').flow({
      priority: L3_PRIORITY.reactive,
      match: [
        { field: tables.reg('network'), value: pin.networkKey },
        { field: 'eth_dst', value: iface.mac.toLowerCase() },
        { field: 'eth_type', value: 0x0800 },
        { field: 'ipv4_dst', value: ip.dst },
      ],
      actions: routeActions(route.target),
      writeMetadata: writeNetwork(tables, route.target.net.network.tunnelKey),
      goto: 'l2_lookup',
      // Its own cookie object, so the janitor can remove a router's reactive flows when the topology changes.
      object: reactiveObject(router.routerKey),
      // Always with a timeout: for a proactive router this only bridges the moment before its own flow
      // lands (which then takes precedence), and the re-injected packet can never loop back here.
      idleTimeout: REACTIVE_IDLE_SECONDS,
    });
    counters.reactiveFlows++;
    return { messages: [flowMod({ command: 'add', ...flow }), packetReinject(pin.inPort, pin.frame.buf)] };
  };
}
