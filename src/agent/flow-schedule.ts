/**
 * From view changes to flows on the switch: a change of the topology view marks networks (or ports) dirty, a
 * FlushScheduler coalesces the marks into one recompute and one sync, and each computed version notes the ports
 * waiting for their installed mark and the announcements due once it is applied. Kept apart from the Agent class:
 * this is the agent's steady-state loop, which needs only the parts it is given here, not the start-up and stop
 * sequences around it.
 */
import type { LoadedApps } from '../apps/registry.js';
import type { FlowManager } from '../flows/manager.js';
import type { ChassisReach } from '../view/chassis-reach.js';
import type { RouterReach } from '../view/router-reach.js';
import { groupsLoaded } from '../view/security-groups.js';
import type { SecurityGroupReach } from '../view/sg-reach.js';
import type { ViewChange } from '../view/topology-sync.js';
import type { TopologyView } from '../view/topology-view.js';
import type { Announcer } from './announcer.js';
import type { BindingManager } from './binding.js';
import type { FlowComputer } from './compute.js';
import type { ReachabilityLog } from './encap.js';
import { FlushScheduler } from './flush-scheduler.js';
import type { InstalledMarks } from './installed-marks.js';

export interface FlowScheduleDeps {
  view: TopologyView;
  apps: LoadedApps;
  computer: FlowComputer;
  flows: FlowManager;
  marks: InstalledMarks;
  announcer: Announcer;
  bindings: BindingManager;
  reach: RouterReach;
  sgReach: SecurityGroupReach;
  chassisReach: ChassisReach;
  reachLog: ReachabilityLog;
  /** Set once the first computation is done: nothing is scheduled before. */
  started(): boolean;
  stopping(): boolean;
  /** Runs this chassis's part in the elections. */
  reconcileGateways(): void;
  /** Whether a change of this network may matter to the center election. */
  electionWatches(networkId: string): boolean;
}

export class FlowSchedule {
  private readonly flusher: FlushScheduler;

  constructor(private readonly d: FlowScheduleDeps) {
    this.flusher = new FlushScheduler(() => this.flushNow(), d.started);
  }

  viewChanged(c: ViewChange): void {
    const d = this.d;
    // An app's transient flows (reactive routes) computed from what changed are dropped by owner; the next
    // packet meets the new topology.
    for (const { runtime } of d.apps.apps) for (const owner of runtime.viewChanged?.(c) ?? []) d.flows.drop(owner);
    // A chassis change (c.chassis) is the only time a peer's reachability can change.
    if (c.all || c.chassis !== undefined) d.reachLog.update(d.view.chassis);
    // Routers, chassis, floating IPs and gateway leases change as 'all' or a chassis change; center, site and site
    // gateway leases say so; a star network's ports (its center candidates) change as that network: the elections
    // may have work.
    // Chassis named anew are recorded before the elections run: those wait until their records are read.
    void d.chassisReach.update();
    if (c.all || c.chassis !== undefined || c.elections || [...c.networks].some((id) => d.electionWatches(id))) d.reconcileGateways();
    if (c.all) this.markAllDirty();
    else for (const id of c.networks) this.markDirty(id, { groupsOnly: c.securityGroupsOnly, ports: c.ports });
    void d.reach.update();
    void d.sgReach.update();
  }

  /**
   * Marks a network for recompute. `urgent`: a local VIF waits for its flows. `groupsOnly`: only its security
   * groups changed — its ACL flows depend on them, no routed neighbour's flows do. `ports`: only these ports changed.
   */
  markDirty(netId: string, opts: { urgent?: boolean; groupsOnly?: boolean; ports?: Iterable<string> } = {}): void {
    const { computer } = this.d;
    if (opts.ports) computer.markPortsDirty(netId, opts.ports);
    else computer.markDirty(netId, opts.groupsOnly);
    // Routed neighbours hold flows towards this network's ports.
    if (!opts.groupsOnly) for (const n of this.d.reach.neighboursOf(netId)) computer.markDirty(n);
    this.flusher.schedule(opts.urgent);
  }

  markAllDirty(): void {
    this.d.computer.markAllDirty();
    this.flusher.schedule();
  }

  /** Forgets a pending flush (the agent stops). */
  cancel(): void {
    this.flusher.cancel();
  }

  /** One recompute of what is dirty and one sync to the switch (run by the FlushScheduler). */
  private flushNow(): void {
    const d = this.d;
    if (d.stopping() || !d.computer.hasDirty()) return;
    const version = d.computer.flush();
    this.notePendingMarks(version);
    void d.flows.sync();
    d.announcer.after(version);
  }

  /**
   * Ports whose flows are part of `version` get their installed mark once that version is on the switch.
   * A port whose binding write is still in flight counts: the mark is about this hypervisor's flows.
   */
  notePendingMarks(version: number): void {
    const { view } = this.d;
    this.d.marks.computed(
      version,
      this.d.bindings.localPorts(),
      (port) => view.vifs.get(port)?.ifaceName,
      (p) => {
        const net = view.networks.get(p.networkId);
        const ps = net?.ports.get(p.portId);
        // A protected port is installed once its groups are read too (before, its firewall allows nothing).
        return net !== undefined && net.network.tunnelKey !== 0 && ps !== undefined && groupsLoaded(view, ps.port);
      },
    );
  }
}

/**
 * Resolves once the flows asked for so far are on the switch (a port's binding is announced after that), or
 * after a second if the switch does not confirm (its connection is down): the binding must not wait forever.
 * Before the agent's first computation (`started`), it waits for that computation (`untilStarted`) and its flows
 * too: a starting host's bindings are written once its own first flows are in, so their writes, and the work they
 * give the hypervisors that watch its networks, come after the new host's first flows, not in their way.
 * `flows` is read only once `started`.
 */
export async function localFlowsApplied(started: () => boolean, flows: () => FlowManager, untilStarted: Promise<void>): Promise<void> {
  // Queued behind the urgent flush that the port's 'changed' scheduled, so the version includes its flows.
  await new Promise<void>((done) => queueMicrotask(done));
  let timer: NodeJS.Timeout | undefined;
  const second = new Promise<void>((done) => (timer = setTimeout(done, 1_000)));
  try {
    if (!started()) await Promise.race([untilStarted, second]);
    if (!started()) return;
    const f = flows();
    await Promise.race([f.whenApplied(f.desiredVersion), second]);
  } finally {
    clearTimeout(timer);
  }
}
