import type { App } from '../apps/platform.js';
import { DesiredFlows } from '../flows/desired.js';
import type { FlowManager } from '../flows/manager.js';
import { flowKey } from '../flows/manager.js';
import type { FlowGuardError } from '../pipeline/guard.js';
import type { AppTables, DesiredFlow, PipelineTables } from '../pipeline/tables.js';
import type { NetworkState, TopologyView } from '../view/topology-view.js';

/** Owner name of one app's flows for one network, and of one port's flows in it (apps with portFlows). */
const owner = (app: string, netId: string) => `${app}/net:${netId}`;
const portOwner = (app: string, netId: string, portId: string) => `${app}/net:${netId}/port:${portId}`;

/**
 * What to recompute in one network: everything; only the apps that read security groups; or only some ports
 * (their per-port flows, plus the network flows of apps that read every port — and of apps that read local ports
 * when one of them is or was local), with or without the group readers.
 */
type Dirty = { kind: 'all' } | { kind: 'groups' } | { kind: 'ports'; ports: Set<string>; local: boolean; groups: boolean };

/**
 * Turns the topology view into desired flows. Incremental: only networks marked dirty are recomputed — every
 * app's flows for that network, or, when only some ports changed, just those ports' flows and the network flows
 * of apps that depend on every port. Full: everything from scratch, used at start and by the debug recompute
 * that proves incremental == full.
 */
export class FlowComputer {
  private readonly dirty = new Map<string, Dirty>();
  /** Ports with per-port owners, by app and network (so a port gone from the view, or its network, drops them). */
  private readonly portOwners = new Map<string, Set<string>>();
  /**
   * Each network's local ports when last computed: a change to one of them (even its removal) also recomputes the
   * network flows of apps that read local ports (markPortsDirty).
   */
  private readonly localPorts = new Map<string, Set<string>>();
  /** Flows an app built that the pipeline's guard refuses (the flow manager sets each aside alone). */
  guardRefusals = 0;

  constructor(
    private readonly tables: PipelineTables,
    private readonly apps: readonly App[],
    private readonly view: TopologyView,
    private readonly flows: FlowManager,
    private readonly onRefused: (err: FlowGuardError) => void = () => undefined,
  ) {}

  /** An app's tables whose guard refusals are deferred to the flow manager, which sets each refused flow aside. */
  private tablesFor(app: string): AppTables {
    return this.tables.forApp(app, (err) => {
      this.guardRefusals++;
      this.onRefused(err);
    });
  }

  /**
   * Marks a network for recompute. `groupsOnly`: only its security groups or their members changed, so only apps
   * that read them (App.readsSecurityGroups) recompute — a rule added to a group leaves the other apps' flows of a
   * 500-port network alone.
   */
  markDirty(netId: string, groupsOnly = false): void {
    const cur = this.dirty.get(netId);
    if (!groupsOnly) this.dirty.set(netId, { kind: 'all' });
    else if (!cur) this.dirty.set(netId, { kind: 'groups' });
    else if (cur.kind === 'ports') cur.groups = true;
  }

  /**
   * Marks some ports of a network (their document, binding or VIF changed): their own flows recompute, and the
   * network flows of apps that read every port; those of apps that read local ports only if one of these ports
   * is or was local here.
   */
  markPortsDirty(netId: string, portIds: Iterable<string>): void {
    const cur = this.dirty.get(netId);
    if (cur?.kind === 'all') return;
    const net = this.view.networks.get(netId);
    const wasLocal = this.localPorts.get(netId);
    const next =
      cur?.kind === 'ports' ? cur : { kind: 'ports' as const, ports: new Set<string>(), local: false, groups: cur?.kind === 'groups' };
    for (const id of portIds) {
      next.ports.add(id);
      const ps = net?.ports.get(id);
      if (wasLocal?.has(id) || (ps && this.view.localVif(ps.port))) next.local = true;
    }
    this.dirty.set(netId, next);
  }

  markAllDirty(): void {
    for (const id of this.view.networks.keys()) this.dirty.set(id, { kind: 'all' });
    // Networks that left the view still own flows until recomputed away.
    for (const o of this.flows.ownerNames()) {
      const m = /\/net:([^/]+)/.exec(o);
      if (m) this.dirty.set(m[1]!, { kind: 'all' });
    }
  }

  hasDirty(): boolean {
    return this.dirty.size > 0;
  }

  /** Recomputes dirty networks into the flow manager; returns the desired version that includes them. */
  flush(): number {
    let version = this.flows.set('pipeline', this.tables.missFlows());
    for (const [netId, scope] of this.dirty) {
      const net = this.view.networks.get(netId);
      const live = net !== undefined && net.network.tunnelKey !== 0;
      if (scope.kind === 'all' || !live || (scope.kind === 'ports' && scope.local)) this.noteLocalPorts(netId, live ? net : undefined);
      for (const app of this.apps) {
        if (!app.networkFlows && !app.networkMeters && !app.portFlows) continue;
        if (!live) {
          version = this.dropApp(app, netId);
          continue;
        }
        const tables = this.tablesFor(app.name);
        if (scope.kind === 'ports') {
          // Only these ports changed: their own flows, the network flows of apps that read every port, and those
          // of apps that read local ports when one of these is or was local.
          if (app.portFlows) for (const id of scope.ports) version = this.setPort(app, tables, net, id);
          if (app.localPortsOnly && !scope.local && !(scope.groups && app.readsSecurityGroups)) continue;
        } else if (scope.kind === 'groups') {
          if (!app.readsSecurityGroups) continue;
        } else if (app.portFlows) {
          for (const id of net.ports.keys()) version = this.setPort(app, tables, net, id);
          for (const id of this.portOwners.get(owner(app.name, netId)) ?? [])
            if (!net.ports.has(id)) version = this.setPort(app, tables, net, id);
        }
        const o = owner(app.name, netId);
        // Meters before flows in the same version: the flow manager writes them first, and flows may use them.
        if (app.networkMeters) version = this.flows.setMeters(o, app.networkMeters(tables, this.view, net));
        if (app.networkFlows) version = this.flows.set(o, app.networkFlows(tables, this.view, net));
      }
    }
    this.dirty.clear();
    return version;
  }

  /** Sets (or, the port gone, drops) one port's flows of one app. */
  private setPort(app: App, tables: AppTables, net: NetworkState, portId: string): number {
    const netId = net.network.id;
    const o = portOwner(app.name, netId, portId);
    let owners = this.portOwners.get(owner(app.name, netId));
    const ps = net.ports.get(portId);
    if (!ps) {
      owners?.delete(portId);
      return this.flows.drop(o);
    }
    if (!owners) this.portOwners.set(owner(app.name, netId), (owners = new Set()));
    owners.add(portId);
    return this.flows.set(o, app.portFlows!(tables, this.view, net, ps, this.view.locate(net, ps)));
  }

  /** Drops every flow of one app in a network that is gone (its network owner and its port owners). */
  private dropApp(app: App, netId: string): number {
    let version = this.flows.drop(owner(app.name, netId));
    for (const id of this.portOwners.get(owner(app.name, netId)) ?? []) version = this.flows.drop(portOwner(app.name, netId, id));
    this.portOwners.delete(owner(app.name, netId));
    return version;
  }

  private noteLocalPorts(netId: string, net: NetworkState | undefined): void {
    const local = new Set<string>();
    if (net) for (const [id, ps] of net.ports) if (this.view.localVif(ps.port)) local.add(id);
    if (local.size > 0) this.localPorts.set(netId, local);
    else this.localPorts.delete(netId);
  }

  /**
   * Every flow the current view implies, computed from scratch (does not touch the flow manager). Owners are
   * combined as the flow manager combines them: equal-key conjunction flows of several owners (one security-group
   * clause used by several networks) are merged into one, so the result compares with the incremental state.
   */
  fullRecompute(): DesiredFlow[] {
    const combined = new DesiredFlows();
    combined.set('pipeline', this.tables.missFlows());
    for (const net of this.view.networks.values()) {
      if (net.network.tunnelKey === 0) continue;
      for (const app of this.apps) {
        const tables = this.tables.forApp(app.name, () => undefined);
        if (app.networkFlows) combined.set(owner(app.name, net.network.id), app.networkFlows(tables, this.view, net));
        if (app.portFlows)
          for (const [id, ps] of net.ports)
            combined.set(portOwner(app.name, net.network.id, id), app.portFlows(tables, this.view, net, ps, this.view.locate(net, ps)));
      }
    }
    return [...combined.entries()].map(([, f]) => f);
  }

  /** Compares a full recompute with the incremental desired state: keys missing, extra, or different. */
  compare(fullFlows: DesiredFlow[] = this.fullRecompute()): { equal: boolean; missing: string[]; extra: string[]; different: string[] } {
    const full = new Map(fullFlows.map((f) => [flowKey(f), f]));
    const incr = new Map(this.flows.desiredFlows().map((f) => [flowKey(f), f]));
    const missing = [...full.keys()].filter((k) => !incr.has(k));
    const extra = [...incr.keys()].filter((k) => !full.has(k));
    const different = [...full.keys()].filter((k) => {
      const a = full.get(k);
      const b = incr.get(k);
      return b !== undefined && JSON.stringify(a, replacer) !== JSON.stringify(b, replacer);
    });
    return { equal: missing.length + extra.length + different.length === 0, missing, extra, different };
  }
}

function replacer(_k: string, v: unknown): unknown {
  return typeof v === 'bigint' ? v.toString(16) : v;
}
