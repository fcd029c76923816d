import type { TopologySync } from './topology-sync.js';
import type { TopologyView } from './topology-view.js';

/**
 * Lazy sync of chassis records (issue 17): a hypervisor reads the record (tunnel IP, encapsulations, site,
 * physnets) of a chassis only when its own view names it, so a join, restart or death of an unrelated hypervisor
 * costs it nothing — not an event, not a key. The view names a chassis when:
 *
 * - it hosts a bound port of a watched network (the tunnel endpoint, encapsulation and site of that port), or is
 *   one of a watched network's preferred star centers (center candidates: the hosts, then the preferred ones);
 * - it holds a lease this view reads: a router's active gateway, a star center, a site gateway (overlay paths go
 *   through the last two; NAT flows tunnel to the first);
 * - it is a fellow candidate of a race this chassis runs in: the gateway chassis of a router listing this one, the
 *   gateway candidates of this chassis's own site when it is one of them.
 *
 * Called after every view change (like RouterReach): it diffs the names against the last ones and tells the sync,
 * which records a new name at once (elections wait until its key is read) and drops a record when its name goes.
 */
export function chassisOfInterest(view: TopologyView): Set<string> {
  const me = view.chassisName;
  const out = new Set<string>([me]);
  for (const net of view.networks.values()) {
    for (const ps of net.ports.values()) if (ps.binding?.chassis) out.add(ps.binding.chassis);
    for (const c of net.network.centers ?? []) out.add(c);
  }
  for (const l of view.gateways.values()) out.add(l.chassis);
  for (const l of view.centers.values()) out.add(l.chassis);
  for (const l of view.siteGateways.values()) out.add(l.chassis);
  for (const r of view.routers.values()) if (r.gateway?.chassis.includes(me)) for (const c of r.gateway.chassis) out.add(c);
  const site = view.sites.get(view.site);
  if (site?.gatewayCandidates.includes(me)) for (const c of site.gatewayCandidates) out.add(c);
  return out;
}

export class ChassisReach {
  private held = new Set<string>();

  constructor(
    private readonly view: TopologyView,
    private readonly sync: TopologySync,
  ) {}

  /**
   * Re-derives the chassis of interest. New names are recorded by the sync before this returns (so a caller may
   * run the elections right after, which then wait for their records); the returned promise settles when the new
   * records are read and the dropped ones gone.
   */
  update(): Promise<void> {
    const next = chassisOfInterest(this.view);
    const added = [...next].filter((c) => !this.held.has(c));
    const removed = [...this.held].filter((c) => !next.has(c));
    this.held = next;
    if (added.length === 0 && removed.length === 0) return Promise.resolve();
    return Promise.all([...added.map((c) => this.sync.wantChassis(c)), ...removed.map((c) => this.sync.unwantChassis(c))]).then(
      () => undefined,
    );
  }
}
