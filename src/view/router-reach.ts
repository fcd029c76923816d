import { routedNeighbours } from './routes.js';
import type { TopologySync } from './topology-sync.js';
import type { TopologyView } from './topology-view.js';

/**
 * Lazy sync through routers: a hypervisor with ports on a network also needs the networks that network's
 * routers reach (to route to their ports). Those are watched with the reason `router`, and dropped when no
 * local network reaches them any more.
 */
export class RouterReach {
  private reached = new Set<string>();

  constructor(
    private readonly view: TopologyView,
    private readonly sync: TopologySync,
  ) {}

  /** Networks that share a router with `netId`. */
  neighboursOf(netId: string): Set<string> {
    return routedNeighbours(this.view, netId);
  }

  async update(): Promise<void> {
    const local = new Set<string>();
    for (const net of this.view.networks.values())
      for (const ps of net.ports.values()) if (this.view.localVif(ps.port)) local.add(net.network.id);
    const next = new Set<string>();
    for (const id of local) for (const n of routedNeighbours(this.view, id)) next.add(n);
    const added = [...next].filter((n) => !this.reached.has(n));
    const removed = [...this.reached].filter((n) => !next.has(n));
    this.reached = next;
    for (const n of added) await this.sync.want(n, 'router');
    for (const n of removed) await this.sync.unwant(n, 'router');
  }
}
