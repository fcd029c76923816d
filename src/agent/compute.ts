import type { App } from '../apps/platform.js';
import { DesiredFlows } from '../flows/desired.js';
import type { FlowManager } from '../flows/manager.js';
import { flowKey } from '../flows/manager.js';
import type { FlowGuardError } from '../pipeline/guard.js';
import type { AppTables, DesiredFlow, PipelineTables } from '../pipeline/tables.js';
import type { TopologyView } from '../view/topology-view.js';

/** Owner name of one app's flows for one network. */
const owner = (app: string, netId: string) => `${app}/net:${netId}`;

/**
 * Turns the topology view into desired flows. Incremental: only networks marked dirty are recomputed
 * (every app's flows for that network are replaced as one owner each). Full: everything from scratch,
 * used at start and by the debug recompute that proves incremental == full.
 */
export class FlowComputer {
  /** Dirty networks → recompute every app ('all'), or only the apps that read security groups ('groups'). */
  private readonly dirty = new Map<string, 'all' | 'groups'>();
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
    if (groupsOnly && this.dirty.has(netId)) return;
    this.dirty.set(netId, groupsOnly ? 'groups' : 'all');
  }

  markAllDirty(): void {
    for (const id of this.view.networks.keys()) this.dirty.set(id, 'all');
    // Networks that left the view still own flows until recomputed away.
    for (const o of this.flows.ownerNames()) {
      const m = /\/net:(.+)$/.exec(o);
      if (m) this.dirty.set(m[1]!, 'all');
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
      for (const app of this.apps) {
        if (!app.networkFlows && !app.networkMeters) continue;
        if (scope === 'groups' && !app.readsSecurityGroups) continue;
        const o = owner(app.name, netId);
        if (!net || net.network.tunnelKey === 0) {
          version = this.flows.drop(o);
          continue;
        }
        const tables = this.tablesFor(app.name);
        // Meters before flows in the same version: the flow manager writes them first, and flows may use them.
        if (app.networkMeters) version = this.flows.setMeters(o, app.networkMeters(tables, this.view, net));
        if (app.networkFlows) version = this.flows.set(o, app.networkFlows(tables, this.view, net));
      }
    }
    this.dirty.clear();
    return version;
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
      for (const app of this.apps)
        if (app.networkFlows)
          combined.set(
            owner(app.name, net.network.id),
            app.networkFlows(
              this.tables.forApp(app.name, () => undefined),
              this.view,
              net,
            ),
          );
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
