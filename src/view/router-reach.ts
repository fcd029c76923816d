import { gatewayCandidacyNetworks, gatewayDependents, routedNeighbours } from './routes.js';
import type { TopologySync } from './topology-sync.js';
import type { TopologyView } from './topology-view.js';

/**
 * Lazy sync through routers: a hypervisor with ports on a network also needs the networks that network's
 * routers reach (to route to their ports), and a gateway chassis candidate the networks of its routers (gateway
 * provider network and interface networks). Those are watched with the reason `router`, and dropped when no
 * local network reaches them and no candidacy needs them any more.
 */
export class RouterReach {
  private reached = new Set<string>();

  constructor(
    private readonly view: TopologyView,
    private readonly sync: TopologySync,
  ) {}

  /**
   * Networks whose flows depend on `netId`'s: those that share a router with it, and for a gateway's provider
   * network the routers' interface networks (NAT flows of both read each other's ports and bindings).
   */
  neighboursOf(netId: string): Set<string> {
    const out = routedNeighbours(this.view, netId);
    for (const n of gatewayDependents(this.view, netId)) out.add(n);
    return out;
  }

  async update(): Promise<void> {
    const local = new Set<string>();
    for (const net of this.view.networks.values())
      for (const ps of net.ports.values()) if (this.view.localVif(ps.port)) local.add(net.network.id);
    const next = new Set<string>();
    for (const id of local) for (const n of routedNeighbours(this.view, id)) next.add(n);
    // A gateway chassis candidate watches what a takeover needs before it happens: local networks too, so the
    // candidacy's reason is already there when the last local port of one leaves (else the network was unwatched,
    // its flows deleted, then watched and computed again a moment later: a gap in the gateway's SNAT).
    for (const n of gatewayCandidacyNetworks(this.view, this.view.chassisName)) next.add(n);
    const added = [...next].filter((n) => !this.reached.has(n));
    const removed = [...this.reached].filter((n) => !next.has(n));
    this.reached = next;
    for (const n of added) await this.sync.want(n, 'router');
    for (const n of removed) await this.sync.unwant(n, 'router');
  }
}
