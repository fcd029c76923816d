import { DEFAULT_SITE } from '../model/types.js';
import type {
  Binding,
  CenterLease,
  Chassis,
  FloatingIp,
  GatewayLease,
  Site,
  SiteGatewayLease,
  Network,
  Port,
  Router,
  SecurityGroup,
  SgMember,
  Subnet,
} from '../model/types.js';

/** A VIF on this hypervisor's br-int (from OVSDB). */
export interface LocalVif {
  ifaceName: string;
  ofport: number;
  /**
   * external_ids:iface-id — the logical port's name, or its id (a UUID, kept lowercase: libvirt's interfaceid,
   * XAPI's VIF uuid). Names never look like UUIDs, so it names at most one port.
   */
  ifaceId: string;
  /** external_ids:attached-mac, when the hypervisor wrote one (lowercase). */
  attachedMac?: string;
}

/**
 * Why a VIF cannot carry its port: the MAC its hypervisor gave the VM (attached-mac) is not the port's, so the
 * VM's frames would fail port security and its DHCP would answer nobody: a misconfiguration, refused.
 */
export function vifMismatch(vif: LocalVif, port: Port): string | undefined {
  if (vif.attachedMac === undefined || vif.attachedMac.toLowerCase() === port.mac.toLowerCase()) return undefined;
  return `attached-mac ${vif.attachedMac} is not port ${port.name}'s MAC ${port.mac}`;
}

export interface PortState {
  port: Port;
  binding?: Binding;
}

export interface NetworkState {
  network: Network;
  subnets: Map<string, Subnet>;
  ports: Map<string, PortState>;
}

/** Where a logical port's packets go from this hypervisor. */
export type PortLocation =
  { kind: 'local'; ofport: number } | { kind: 'remote'; chassis: string; tunnelIp: string; encap: string } | { kind: 'unknown' };

/** The first of `own` (preference order) that `peer` offers, or undefined (like OVN's encap choice). */
export function chooseEncap(own: readonly string[], peer: readonly string[]): string | undefined {
  return own.find((e) => peer.includes(e));
}

export function sameLocation(a: PortLocation, b: PortLocation): boolean {
  if (a.kind === 'local' && b.kind === 'local') return a.ofport === b.ofport;
  if (a.kind === 'remote' && b.kind === 'remote') return a.chassis === b.chassis && a.tunnelIp === b.tunnelIp && a.encap === b.encap;
  return a.kind === b.kind;
}

/**
 * The agent's view of the logical topology: only the networks it watches (lazy sync), the chassis, routers,
 * gateway leases and floating IPs they name, and this hypervisor's VIFs. Apps compute flows from it and never
 * change it.
 */
export class TopologyView {
  readonly networks = new Map<string, NetworkState>();
  /** Live chassis by name (their keys vanish with their lease). */
  readonly chassis = new Map<string, Chassis>();
  /** Routers by id: those the lazy index names under its networks and its gateway candidacies (all, lazy sync off). */
  readonly routers = new Map<string, Router>();
  /** Floating IPs by id: those associated with ports of its networks (all, lazy sync off). */
  readonly floatingIps = new Map<string, FloatingIp>();
  /** The active gateway chassis of each router in the view with a gateway, by router id (GatewayLease; gone with its agent). */
  readonly gateways = new Map<string, GatewayLease>();
  /**
   * Gateway leases this chassis holds in the view but must not act on (agent/gateway-fence.ts): another host
   * announced the gateway address on the physnet while the store could not confirm this chassis's lease, so that
   * host took the gateway over. Keyed by router id, valued by the very lease object fenced: the store's next copy of
   * the key (a watch event, or the resync when the store answers again) replaces that object and lifts the fence.
   */
  readonly gatewayFences = new Map<string, GatewayLease>();
  /** The active center of each star network, by network id (CenterLease; gone with its agent). Issue 16. */
  readonly centers = new Map<string, CenterLease>();
  /** The active gateway of each site, by site name (SiteGatewayLease; gone with its agent). Issue 16. */
  readonly siteGateways = new Map<string, SiteGatewayLease>();
  /** Sites with gateway candidates set by the operator (Site records), by name; every agent watches them. */
  readonly sites = new Map<string, Site>();
  /** Security groups of local ports (lazy sync) or all (non-lazy), by id. */
  readonly securityGroups = new Map<string, SecurityGroup>();
  /** Members (address sets) of the groups named as remote by those groups' rules: group id → port id → member. */
  readonly sgMembers = new Map<string, Map<string, SgMember>>();
  /** Local VIFs by iface-id (port name or id); change them with plugVif / unplugVif to keep the ofport index. */
  readonly vifs = new Map<string, LocalVif>();
  private readonly vifsByOfport = new Map<number, LocalVif>();
  /** Local port names bound to logical ports (maintained by the binding manager). */
  readonly bound = new Map<string, { networkId: string; portId: string }>();
  /** This chassis's tunnel ports by encapsulation (one per encap it offers, once OVS numbered them). */
  readonly tunnelOfports = new Map<string, number>();
  /** Physical network → its patch port's ofport on br-int (bridge_mappings whose bridge and patch port are ready). */
  readonly physnetOfports = new Map<string, number>();
  /** Physical networks whose mapped bridge has uplinks, all down (agent/uplink-health.ts): no gateway here on them. */
  readonly physnetsDown = new Set<string>();
  /** Encapsulations this chassis offers, in preference order. */
  readonly encaps: readonly string[];

  /** This chassis's site (agent config `site`; DEFAULT_SITE when it names none). */
  site: string = DEFAULT_SITE;

  constructor(
    readonly chassisName: string,
    encaps: string | readonly string[],
  ) {
    this.encaps = typeof encaps === 'string' ? [encaps] : [...encaps];
    if (this.encaps.length === 0) throw new Error('a chassis offers at least one encapsulation');
  }

  /** The preferred encapsulation. */
  get encap(): string {
    return this.encaps[0]!;
  }

  /** The preferred encapsulation's tunnel port (single-encap callers and tests). */
  get tunnelOfport(): number | undefined {
    return this.tunnelOfports.get(this.encap);
  }

  set tunnelOfport(ofport: number | undefined) {
    if (ofport === undefined) this.tunnelOfports.delete(this.encap);
    else this.tunnelOfports.set(this.encap, ofport);
  }

  /** Every tunnel ofport, ascending (a packet may arrive on any of them). */
  tunnelInPorts(): number[] {
    return [...this.tunnelOfports.values()].sort((a, b) => a - b);
  }

  /** The patch port of a provider network's physnet here (undefined: an overlay network, or not reachable here). */
  physnetOfport(net: NetworkState): number | undefined {
    const p = net.network.provider;
    return p ? this.physnetOfports.get(p.physnet) : undefined;
  }

  /**
   * The local VIF carrying a port: one whose iface-id is the port's id (preferred) or its name, and whose
   * attached-mac, if any, is the port's MAC. A pure function of the VIFs and the port, so flows computed
   * incrementally and from scratch agree whichever form the hypervisor wrote.
   */
  localVif(port: Port): LocalVif | undefined {
    const vif = this.vifs.get(port.id) ?? this.vifs.get(port.name);
    return vif && !vifMismatch(vif, port) ? vif : undefined;
  }

  locate(net: NetworkState, ps: PortState): PortLocation {
    // A provider network whose physnet this chassis cannot reach: none of its ports is placed (no flows; its
    // local VIFs are refused by the binding manager, which says why).
    if (net.network.provider && this.physnetOfport(net) === undefined) return { kind: 'unknown' };
    const vif = this.localVif(ps.port);
    if (vif && vif.ofport > 0) return { kind: 'local', ofport: vif.ofport };
    const owner = ps.binding?.chassis;
    if (!owner || owner === this.chassisName) return { kind: 'unknown' };
    // Provider networks: another chassis's port is reached through the physical network, never a tunnel.
    if (net.network.provider)
      return { kind: 'remote', chassis: owner, tunnelIp: this.chassis.get(owner)?.tunnelIp ?? '', encap: 'physnet' };
    const ch = this.chassis.get(owner);
    if (!ch) return { kind: 'unknown' };
    // No encapsulation in common: still remote (a star hub may relay between the two, issue 16), with encap '';
    // the l2 app tunnels to the next hop (overlay-paths), and a direct path without a common encapsulation gets
    // no flow (reported by ReachabilityLog and the agent status).
    return { kind: 'remote', chassis: owner, tunnelIp: ch.tunnelIp, encap: chooseEncap(this.encaps, ch.encaps) ?? '' };
  }

  /** Ports of a network with their location, ordered by port key so generated flows are deterministic. */
  placedPorts(net: NetworkState): { ps: PortState; loc: PortLocation }[] {
    return [...net.ports.values()].sort((a, b) => a.port.portKey - b.port.portKey).map((ps) => ({ ps, loc: this.locate(net, ps) }));
  }

  /** The logical port behind a local ofport (for PACKET_INs): two map lookups, no scan. */
  portByOfport(ofport: number): { net: NetworkState; ps: PortState } | undefined {
    const vif = this.vifsByOfport.get(ofport);
    const b = vif && this.bound.get(vif.ifaceId);
    const net = b && this.networks.get(b.networkId);
    const ps = net?.ports.get(b!.portId);
    return net && ps ? { net, ps } : undefined;
  }

  plugVif(vif: LocalVif): void {
    const prev = this.vifs.get(vif.ifaceId);
    if (prev && this.vifsByOfport.get(prev.ofport) === prev) this.vifsByOfport.delete(prev.ofport);
    this.vifs.set(vif.ifaceId, vif);
    this.vifsByOfport.set(vif.ofport, vif);
  }

  unplugVif(ifaceId: string): void {
    const vif = this.vifs.get(ifaceId);
    if (!vif) return;
    this.vifs.delete(ifaceId);
    if (this.vifsByOfport.get(vif.ofport) === vif) this.vifsByOfport.delete(vif.ofport);
  }

  /** The network with this tunnel key, if watched. */
  networkByKey(key: number): NetworkState | undefined {
    for (const n of this.networks.values()) if (n.network.tunnelKey === key) return n;
    return undefined;
  }

  networkByName(name: string): NetworkState | undefined {
    for (const n of this.networks.values()) if (n.network.name === name) return n;
    return undefined;
  }
}
