/**
 * How a change of the view is told to its readers ('change' events of TopologySync, see ViewChange): which networks
 * a store change affects, and whether only their ports, their security groups or the elections are concerned. Kept
 * apart from TopologySync and the per-key handlers (store-apply.ts): deciding what a change reaches — a chassis only
 * the networks bound to it, a site gateway every overlay network — is one concern, read the same by every caller.
 */
import type { ViewChange } from './topology-sync.js';
import type { TopologyView } from './topology-view.js';

export class ViewChanges {
  constructor(
    private readonly view: TopologyView,
    private readonly emit: (c: ViewChange) => void,
  ) {}

  changed(networkId: string, elections = false): void {
    this.emit({ networks: new Set([networkId]), all: false, ...(elections ? { elections } : {}) } satisfies ViewChange);
  }

  /** A site's gateway changed: every overlay network's flows may name it (issue 16). */
  changedOverlay(): void {
    const networks = new Set<string>();
    for (const [id, net] of this.view.networks) if (!net.network.provider) networks.add(id);
    this.emit({ networks, all: false, elections: true } satisfies ViewChange);
  }

  /** One port of a network changed (its document or where it is bound): see ViewChange.ports. */
  changedPort(networkId: string, portId: string): void {
    this.emit({ networks: new Set([networkId]), all: false, ports: new Set([portId]) } satisfies ViewChange);
  }

  /** A security group or a group's members changed: only the flows of apps that read groups, in `networks`. */
  changedGroups(networks: Set<string>): void {
    if (networks.size > 0) this.emit({ networks, all: false, securityGroupsOnly: true } satisfies ViewChange);
  }

  /**
   * A chassis came, changed or went. Lazy sync's promise is that a hypervisor's work follows its own networks: a
   * chassis with no port in them, no lease they depend on, changes none of its flows — joins, restarts and deaths of
   * the other 999 hypervisors do not recompute everything here (the scale harness saw each one cost a full recompute
   * on every chassis).
   */
  changedChassis(name: string): void {
    const v = this.view;
    const leased = (leases: Iterable<{ chassis: string }>) => [...leases].some((l) => l.chassis === name);
    if (leased(v.gateways.values()) || leased(v.centers.values()) || leased(v.siteGateways.values())) {
      this.emit({ networks: new Set<string>(), all: true, chassis: name } satisfies ViewChange);
      return;
    }
    const networks = new Set<string>();
    for (const net of v.networks.values())
      for (const ps of net.ports.values())
        if (ps.binding?.chassis === name) {
          networks.add(net.network.id);
          break;
        }
    this.emit({ networks, all: false, chassis: name } satisfies ViewChange);
  }

  /**
   * A chassis's record was rewritten without a change to what flows read of it (its tunnel IP, encapsulations and
   * site): a restart of its agent (registeredAt, version) or an uplink's state (uplinksDown). Nothing is recomputed;
   * the elections and the peer reachability report still hear of it (a gateway candidate's uplinks are theirs).
   */
  changedChassisRecord(name: string): void {
    this.emit({ networks: new Set<string>(), all: false, chassis: name } satisfies ViewChange);
  }

  changedAll(): void {
    this.emit({ networks: new Set<string>(), all: true } satisfies ViewChange);
  }
}
