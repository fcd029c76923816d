import type { Router, RouterInterface } from '../../model/types.js';
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
import { inCidr, resolveRoute, routersOn, type TopologyView } from '../../view/index.js';
import type { ViewChange } from '../../view/topology-sync.js';

export interface L3Counters {
  echoReplies: number;
  timeExceeded: number;
  unreachable: number;
  reactiveFlows: number;
}

/** Idle timeout of the flows a reactive router installs for a destination. */
export const REACTIVE_IDLE_SECONDS = 30;

/** Flow-manager owner of one router's reactive flows (transient: they idle out, and are swept at start). */
export const REACTIVE_OWNER_PREFIX = 'l3/reactive/';

export function reactiveOwner(routerId: string): string {
  return `${REACTIVE_OWNER_PREFIX}${routerId}`;
}

/** A bit in a reactive flow's cookie object, so `ovs-ofctl dump-flows` tells them from the router's own flows. */
export const REACTIVE_OBJECT_FLAG = 1n << 47n;

export function reactiveObject(routerKey: number): bigint {
  return BigInt(routerKey) | REACTIVE_OBJECT_FLAG;
}

/**
 * Which router each reactive owner's flows were computed from. A reactive flow depends on its router (config,
 * routes, mode) and on the networks the router is attached to (addresses behind it): when either changes the
 * owner is dropped whole, and the next packet meets the current topology.
 */
export class ReactiveOwners {
  private readonly from = new Map<string, Router>();

  /** The owner of flows computed now from `router`. */
  ownerFor(router: Router): string {
    this.from.set(router.id, router);
    return reactiveOwner(router.id);
  }

  /**
   * Owners to drop after a view change: a router replaced or gone (the view holds a new object for a changed
   * router), and every router attached to a changed network.
   */
  stale(view: TopologyView, change: ViewChange): string[] {
    const ids = new Set<string>();
    for (const [id, r] of this.from) if (view.routers.get(id) !== r) ids.add(id);
    for (const n of change.networks) for (const { router } of routersOn(view, n)) if (this.from.has(router.id)) ids.add(router.id);
    for (const id of ids) this.from.delete(id);
    return [...ids].map(reactiveOwner);
  }
}

function findRouter(view: TopologyView, networkId: string, mac: string): { router: Router; iface: RouterInterface } | undefined {
  for (const router of view.routers.values())
    for (const iface of router.interfaces) if (iface.networkId === networkId && iface.mac.toLowerCase() === mac) return { router, iface };
  return undefined;
}

/**
 * The L3 PACKET_IN side: ICMP for the router's own addresses (echo reply), TTL expiry (time exceeded),
 * no route (unreachable), and the first packet of a reactive router's flow: a specific flow with an idle
 * timeout is declared under the router's reactive owner and the packet re-injected once it is installed.
 */
export function l3PacketInHandler(view: TopologyView, tables: AppTables, counters: L3Counters, owners = new ReactiveOwners()) {
  return (pin: PacketIn): PacketInResult | undefined => {
    const ip = pin.frame.ipv4;
    if (!ip) return undefined;
    const net = view.networkByKey(Number(pin.networkKey));
    if (!net) return undefined;
    const at = findRouter(view, net.network.id, pin.frame.eth.dst);
    if (!at) return undefined;
    const { router, iface } = at;
    const reply = (frame: Buffer | null): PacketInResult | undefined => (frame ? { messages: [packetOut(pin.inPort, frame)] } : undefined);

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
      object: reactiveObject(router.routerKey),
      // Always with a timeout: for a proactive router this only bridges the moment before its own flow
      // lands (which then takes precedence), and the re-injected packet can never loop back here.
      idleTimeout: REACTIVE_IDLE_SECONDS,
    });
    counters.reactiveFlows++;
    // The flow goes through the flow manager under the router's reactive owner; the packet follows once it is in.
    return { messages: [packetReinject(pin.inPort, pin.frame.buf)], transient: { owner: owners.ownerFor(router), flows: [flow] } };
  };
}
