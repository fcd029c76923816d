/**
 * Another host announcing the gateway address of a router whose gateway is active here. Normally only the
 * holder of the store's GatewayLease sends as the gateway IP, so such an ARP means a second chassis acts as the
 * gateway too. The app reports it and the agent decides (agent/gateway-fence.ts):
 *
 * - this chassis cannot get the store to confirm its lease: the other chassis took the gateway over when that lease
 *   lapsed (this host cut off from the store alone), and this one stops acting for it;
 * - the store confirms this chassis: the other host is wrong — a former holder still cut off from the store, restarted
 *   from its cache and announcing the gateway again, or a misconfigured host. This chassis defends the address
 *   (after RFC 5227 §2.4 (c)) with a gratuitous ARP, at most once per DEFEND_INTERVAL_MS per gateway: the physical
 *   switches learn the gateway MAC on its uplink again, and a former holder hearing it stops acting for the gateway.
 */
import { buildArpRequest } from '../../packet/index.js';
import { gatewayActiveHere, gatewayRouters, physnetExit, type TopologyView } from '../../view/index.js';
import { packetOut, type PacketIn, type PacketInResult, type RoleSignals } from '../platform.js';
import { vlansOf } from './neighbours.js';

/**
 * At most one defending announcement per gateway in this time. RFC 5227's DEFEND_INTERVAL is 10 s, to keep two hosts
 * that both claim an address from flooding the link; here only the chassis the store confirms defends (the other
 * yields), so a second is enough to stop a storm — and a former holder restarted twice in ten seconds hears it each
 * time.
 */
export const DEFEND_INTERVAL_MS = 1_000;

export interface ConflictCounters {
  /** ARPs from a physnet with the sender address of a gateway active here. */
  gatewayConflicts: number;
  /** Gratuitous ARPs sent to defend a gateway the store confirms here. */
  gatewayDefences: number;
}

export function gatewayConflictHandler(
  view: TopologyView,
  roles: RoleSignals,
  counters: ConflictCounters,
  now: () => number,
): (pin: PacketIn) => PacketInResult | undefined {
  const lastDefended = new Map<string, number>();
  return (pin) => {
    const arp = pin.frame.arp;
    const net = view.networkByKey(Number(pin.networkKey));
    if (!arp || !net) return undefined;
    const router = gatewayRouters(view).find(
      (r) => r.gateway.networkId === net.network.id && r.gateway.ip === arp.senderIp && gatewayActiveHere(view, r),
    );
    // A packet that raced the flow's removal (the gateway moved meanwhile) says nothing any more.
    if (!router) return undefined;
    counters.gatewayConflicts++;
    const outcome = roles.gatewayConflict({
      routerId: router.id,
      ip: arp.senderIp,
      ethSrc: pin.frame.eth.src,
      senderMac: arp.senderMac,
      networkId: net.network.id,
    });
    const exit = physnetExit(view, net.network.id);
    const t = now();
    if (outcome !== 'kept' || !exit || t - (lastDefended.get(router.id) ?? -Infinity) < DEFEND_INTERVAL_MS) return undefined;
    lastDefended.set(router.id, t);
    counters.gatewayDefences++;
    const g = router.gateway;
    return { messages: [packetOut(exit.ofport, buildArpRequest(g.mac, g.ip, g.ip, vlansOf(exit)))] };
  };
}
