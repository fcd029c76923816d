/**
 * Next hops on provider networks (OVN's mac_binding, kept in flows): OVS buffers nothing, so a NATed packet whose
 * next hop MAC is unknown goes to the agent (nat_nexthop_miss), which holds it (a few per next hop, a few seconds,
 * like OVN's pinctrl) and ARPs for the next hop out of the physnet, from the packet's own NAT address
 * (rate-limited per next hop); the reply (nat_mac_binding) becomes a transient flow in nat_nexthop (idle timeout:
 * the binding ages out when unused and is learned again) and the held packets are sent to it. The next
 * hop is the destination when it is on a provider subnet, else that subnet's gateway (the default route).
 * Gratuitous ARPs announce NAT addresses that became active here (gateway takeover, a FIP's port arriving), each
 * followed by an ARP request for the provider subnet's gateway, so the default next hop is learned before traffic,
 * and announced once more ANNOUNCE_INTERVAL_MS later while still active here.
 */
import { packetOut as buildPacketOut, type OfMessage } from '../../openflow/index.js';
import { buildArpRequest } from '../../packet/index.js';
import type { VlanTag } from '../../packet/ethernet.js';
import type { AppTables, DesiredFlow } from '../../pipeline/tables.js';
import {
  gatewayActiveHere,
  gatewayRouters,
  inCidr,
  localFips,
  physnetExit,
  type NetworkState,
  type PhysnetExit,
  type TopologyView,
} from '../../view/index.js';
import type { ViewChange } from '../../view/topology-sync.js';
import { packetOut, type PacketIn, type PacketInResult } from '../platform.js';
import { NAT_PRIORITY, physnetOutput } from './flows.js';

/** Idle timeout of a learned next hop's flow (seconds). */
export const NEXTHOP_IDLE_SECONDS = 300;
/** At most one ARP request per next hop per this many ms. */
export const ARP_RETRY_MS = 1000;
export const NEXTHOP_OWNER_PREFIX = 'nat/nexthop/';
/** Packets held per unresolved next hop (OVS buffers nothing: the agent does, like OVN's pinctrl), and for how long. */
export const HELD_PER_NEXTHOP = 8;
export const HELD_MS = 3000;
const HELD_NEXTHOPS = 256;
/**
 * An address announced is announced once more this long after (RFC 5227 §2.3: ANNOUNCE_NUM 2, ANNOUNCE_INTERVAL 2 s),
 * while still active here: one frame lost must not leave the physical switches with the old location, nor a former
 * gateway holder, cut off from the store and restarted from its cache, unfenced (the chassis holding the gateway
 * defends it when it hears the announcement: apps/nat/conflicts.ts).
 */
export const ANNOUNCE_INTERVAL_MS = 2000;

export interface NatCounters {
  arpRequests: number;
  macBindings: number;
  garps: number;
  /** Packets held while their next hop was resolved, then sent; and those dropped (too many, or too late). */
  heldSent: number;
  heldDropped: number;
}

export function vlansOf(exit: PhysnetExit): VlanTag[] {
  return exit.provider.vlan === undefined ? [] : [{ tpid: 0x8100, pcp: 0, dei: false, vid: exit.provider.vlan }];
}

/** The provider subnet an address is on, if any. */
function subnetOf(net: NetworkState, ip: string) {
  return [...net.subnets.values()].find((s) => inCidr(ip, s.cidr));
}

const exitSignature = (e: PhysnetExit) => `${e.provider.physnet}/${e.provider.vlan ?? 'flat'}/${e.ofport}`;

export class Neighbours {
  private readonly lastAsked = new Map<string, number>();
  /** Transient owner → the physnet exit its flows were built for (stale when that changes). */
  private readonly builtFor = new Map<string, { networkId: string; signature: string }>();
  /** NAT addresses announced from here (ip|mac|exit), so each is announced once per activation. */
  private announced = new Set<string>();
  /** Addresses announced once, by key, and when (this.now()) they are to be announced again. */
  private readonly again = new Map<string, number>();
  /** Packets waiting for a next hop's MAC, by network/next hop (each with the time it arrived). */
  private readonly held = new Map<string, { at: number; frame: Buffer }[]>();

  constructor(
    private readonly view: TopologyView,
    private readonly tables: AppTables,
    private readonly now: () => number,
    readonly counters: NatCounters = { arpRequests: 0, macBindings: 0, garps: 0, heldSent: 0, heldDropped: 0 },
  ) {}

  /** nat_nexthop_miss: ARP for the next hop from the packet's NAT address (its MAC and source are set already). */
  miss(pin: PacketIn): PacketInResult | undefined {
    const ip = pin.frame.ipv4;
    const net = this.view.networkByKey(Number(pin.networkKey));
    const exit = net && physnetExit(this.view, net.network.id);
    if (!ip || !net || !exit) return undefined;
    const subnet = subnetOf(net, ip.src);
    if (!subnet) return undefined;
    const nexthop = inCidr(ip.dst, subnet.cidr) ? ip.dst : subnet.gatewayIp;
    if (!nexthop) return undefined;
    const key = `${net.network.id}/${nexthop}`;
    const t = this.now();
    this.hold(key, t, pin.frame.buf);
    if (t - (this.lastAsked.get(key) ?? -Infinity) < ARP_RETRY_MS) return undefined;
    this.lastAsked.set(key, t);
    if (this.lastAsked.size > 10_000) this.lastAsked.clear();
    this.counters.arpRequests++;
    return { messages: [packetOut(exit.ofport, buildArpRequest(pin.frame.eth.src, ip.src, nexthop, vlansOf(exit)))] };
  }

  /** nat_mac_binding: an ARP reply from the physnet to a NAT address becomes the next hop's flow. */
  binding(pin: PacketIn): PacketInResult | undefined {
    const arp = pin.frame.arp;
    const net = this.view.networkByKey(Number(pin.networkKey));
    const exit = net && physnetExit(this.view, net.network.id);
    if (!arp || !net || !exit) return undefined;
    const subnet = subnetOf(net, arp.senderIp);
    if (!subnet) return undefined;
    const flows = this.bindingFlows(exit, arp.senderIp, arp.senderMac, subnet.gatewayIp === arp.senderIp);
    const owner = `${NEXTHOP_OWNER_PREFIX}${net.network.id}`;
    this.builtFor.set(owner, { networkId: net.network.id, signature: exitSignature(exit) });
    this.counters.macBindings++;
    // The packets that waited for this next hop go out now (after the flows, so what follows them meets the flows).
    const t = this.now();
    const waiting = this.held.get(`${net.network.id}/${arp.senderIp}`) ?? [];
    this.held.delete(`${net.network.id}/${arp.senderIp}`);
    const fresh = waiting.filter((h) => t - h.at <= HELD_MS);
    this.counters.heldDropped += waiting.length - fresh.length;
    this.counters.heldSent += fresh.length;
    const actions = [{ type: 'set_field' as const, field: 'eth_dst', value: arp.senderMac.toLowerCase() }, ...physnetOutput(exit)];
    const messages = fresh.map((h) => buildPacketOut({ actions, data: h.frame }));
    return { messages, transient: { owner, flows } };
  }

  /** Holds a packet for its next hop (bounded: per next hop, in number of next hops, in time). */
  private hold(key: string, t: number, frame: Buffer): void {
    let q = this.held.get(key);
    if (!q) {
      if (this.held.size >= HELD_NEXTHOPS) {
        // Forget next hops whose packets are too old to send; still full: this packet is dropped.
        for (const [k, v] of this.held) if (v.every((h) => t - h.at > HELD_MS)) this.held.delete(k);
        if (this.held.size >= HELD_NEXTHOPS) {
          this.counters.heldDropped++;
          return;
        }
      }
      this.held.set(key, (q = []));
    }
    while (q.length > 0 && t - q[0]!.at > HELD_MS) {
      q.shift();
      this.counters.heldDropped++;
    }
    if (q.length >= HELD_PER_NEXTHOP) {
      this.counters.heldDropped++;
      return;
    }
    // A copy: the PACKET_IN's buffer belongs to the channel's read.
    q.push({ at: t, frame: Buffer.from(frame) });
  }

  private bindingFlows(exit: PhysnetExit, ip: string, mac: string, isGateway: boolean): DesiredFlow[] {
    const t = this.tables.table('nat_nexthop');
    const base = [
      { field: this.tables.reg('network'), value: BigInt(exit.net.network.tunnelKey) },
      { field: 'eth_type', value: 0x0800 },
    ];
    const actions = [{ type: 'set_field' as const, field: 'eth_dst', value: mac.toLowerCase() }, ...physnetOutput(exit)];
    const object = BigInt(exit.net.network.tunnelKey);
    const flows = [
      t.flow({
        priority: NAT_PRIORITY.neighbour,
        match: [...base, { field: 'ipv4_dst', value: ip }],
        actions,
        object,
        idleTimeout: NEXTHOP_IDLE_SECONDS,
      }),
    ];
    if (isGateway) flows.push(t.flow({ priority: NAT_PRIORITY.gateway, match: base, actions, object, idleTimeout: NEXTHOP_IDLE_SECONDS }));
    return flows;
  }

  /** Owners whose flows no longer fit the view (the provider segment or its patch port changed, or it left). */
  stale(change: ViewChange): string[] {
    const out: string[] = [];
    for (const [owner, b] of this.builtFor) {
      if (!change.all && !change.networks.has(b.networkId)) continue;
      const exit = physnetExit(this.view, b.networkId);
      if (exit && exitSignature(exit) === b.signature) continue;
      this.builtFor.delete(owner);
      out.push(owner);
    }
    return out;
  }

  /**
   * Gratuitous ARPs for the NAT addresses that became active here since the last call: the gateway IP of a router
   * whose lease this chassis took, a floating IP whose port arrived here. The physical network's switches and
   * the next hop learn where the address lives now. To be sent once the flows answering for them are installed.
   */
  announce(): OfMessage[] {
    const now = new Map<string, { exit: PhysnetExit; ip: string; mac: string }>();
    for (const router of gatewayRouters(this.view)) {
      const exit = physnetExit(this.view, router.gateway.networkId);
      if (!exit) continue;
      const add = (ip: string, mac: string) => now.set(`${ip}|${mac}|${exitSignature(exit)}`, { exit, ip, mac });
      if (gatewayActiveHere(this.view, router)) add(router.gateway.ip, router.gateway.mac);
      for (const f of localFips(this.view, router)) add(f.ip, f.mac);
    }
    const out: OfMessage[] = [];
    const t = this.now();
    for (const [key, a] of now) {
      const first = !this.announced.has(key);
      if (first) this.again.set(key, t + ANNOUNCE_INTERVAL_MS);
      else if (t >= (this.again.get(key) ?? Infinity))
        this.again.delete(key); // its one repeat, now due
      else continue;
      out.push(packetOut(a.exit.ofport, buildArpRequest(a.mac, a.ip, a.ip, vlansOf(a.exit))));
      this.counters.garps++;
      // The first time, the default next hop asked at once too, so the first packets after a takeover find its MAC.
      const hop = first ? subnetOf(a.exit.net, a.ip)?.gatewayIp : undefined;
      if (hop && hop !== a.ip) {
        out.push(packetOut(a.exit.ofport, buildArpRequest(a.mac, a.ip, hop, vlansOf(a.exit))));
        this.counters.arpRequests++;
      }
    }
    // An address no longer active here is not announced again (it may be active elsewhere by now).
    for (const key of this.again.keys()) if (!now.has(key)) this.again.delete(key);
    this.announced = new Set(now.keys());
    return out;
  }

  /** Milliseconds until an address is due to be announced again (announce()), or undefined when none is. */
  announceDueIn(): number | undefined {
    if (this.again.size === 0) return undefined;
    return Math.max(0, Math.min(...this.again.values()) - this.now());
  }
}
