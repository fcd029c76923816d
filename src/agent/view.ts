import type { Binding, Chassis, Network, Port, Router, Subnet } from '../model/types.js';

/** A VIF on this hypervisor's br-int (from OVSDB). */
export interface LocalVif {
  ifaceName: string;
  ofport: number;
  /** external_ids:iface-id — the logical port's name. */
  ifaceId: string;
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
  | { kind: 'local'; ofport: number }
  | { kind: 'remote'; chassis: string; tunnelIp: string }
  | { kind: 'unknown' };

/**
 * The agent's view of the logical topology: only the networks it watches (lazy sync), all live chassis,
 * routers, and this hypervisor's VIFs. Apps compute flows from it and never change it.
 */
export class TopologyView {
  readonly networks = new Map<string, NetworkState>();
  /** Live chassis by name (their keys vanish with their lease). */
  readonly chassis = new Map<string, Chassis>();
  readonly routers = new Map<string, Router>();
  /** Local VIFs by iface-id (port name). */
  readonly vifs = new Map<string, LocalVif>();
  tunnelOfport: number | undefined;

  constructor(
    readonly chassisName: string,
    readonly encap: string,
  ) {}

  locate(net: NetworkState, ps: PortState): PortLocation {
    const vif = this.vifs.get(ps.port.name);
    if (vif && vif.ofport > 0) return { kind: 'local', ofport: vif.ofport };
    const owner = ps.binding?.chassis;
    if (!owner || owner === this.chassisName) return { kind: 'unknown' };
    const ch = this.chassis.get(owner);
    if (!ch || !ch.encaps.includes(this.encap)) return { kind: 'unknown' };
    return { kind: 'remote', chassis: owner, tunnelIp: ch.tunnelIp };
  }

  /** Ports of a network with their location, ordered by port key so generated flows are deterministic. */
  placedPorts(net: NetworkState): { ps: PortState; loc: PortLocation }[] {
    return [...net.ports.values()]
      .sort((a, b) => a.port.portKey - b.port.portKey)
      .map((ps) => ({ ps, loc: this.locate(net, ps) }));
  }

  /** The logical port behind a local ofport (for PACKET_INs). */
  portByOfport(ofport: number): { net: NetworkState; ps: PortState } | undefined {
    for (const vif of this.vifs.values()) {
      if (vif.ofport !== ofport) continue;
      for (const net of this.networks.values())
        for (const ps of net.ports.values()) if (ps.port.name === vif.ifaceId) return { net, ps };
    }
    return undefined;
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
