/**
 * One simulated hypervisor for the scale harness: the agent's own core, not a model of it — its chassis
 * registration and lease (ChassisRegistration), its store health probe (StoreHealth), its own lazy topology sync
 * with its own prefix watches (PrefixSubscription, TopologySync, RouterReach, SecurityGroupReach), the binding
 * manager, every app of src/apps, the FlowComputer and the FlowManager — wired as src/agent/agent.ts wires them.
 * Only Open vSwitch is simulated: the flow manager writes to an in-process SwitchDouble, and a VIF appearing is
 * what the agent's VIF watcher reports to the binding manager on an OVSDB interface event.
 *
 * Many chassis share one process and one Store (one etcd connection), never a watch, a view or a flow table.
 */
import { APPS } from '../apps/index.js';
import { loadApps, type LoadedApps } from '../apps/registry.js';
import { ChassisRegistration } from '../agent/chassis-registration.js';
import { BindingManager } from '../agent/binding.js';
import { FlowComputer } from '../agent/compute.js';
import { localFlowsApplied } from '../agent/flow-schedule.js';
import { FlushScheduler } from '../agent/flush-scheduler.js';
import { StoreHealth } from '../agent/store-health.js';
import { routeStoreEvent } from '../agent/store-events.js';
import { FlowManager } from '../flows/manager.js';
import { NAMES_PREFIX } from '../model/keys.js';
import type { Chassis, Encap } from '../model/types.js';
import type { PipelineTables } from '../pipeline/tables.js';
import { PrefixSubscription, type SubscriptionEvent } from '../store/subscription.js';
import type { KeyValue, Store } from '../store/types.js';
import { silentLogger, type Logger } from '../util/log.js';
import { RouterReach } from '../view/router-reach.js';
import { ChassisReach } from '../view/chassis-reach.js';
import { SecurityGroupReach } from '../view/sg-reach.js';
import { TopologySync, type PortRemoved, type ViewChange } from '../view/topology-sync.js';
import { TopologyView } from '../view/topology-view.js';
import { performance } from 'node:perf_hooks';
import { SwitchDouble } from './switch-double.js';
import { isoTime } from '../util/time.js';

export interface SimChassisOptions {
  name: string;
  tunnelIp: string;
  store: Store;
  /** The pipeline is configuration shared by every chassis of the process (read-only); apps are per chassis. */
  tables: PipelineTables;
  leaseTtlSeconds?: number;
  encap?: Encap;
  logger?: Logger;
  /** StoreHealth probe interval (ms, default the agent's 2000). */
  healthIntervalMs?: number;
}

/** What a chassis holds, to show it follows its local networks rather than the cluster. */
export interface ChassisFootprint {
  /** Store prefixes watched. */
  prefixes: number;
  /** Networks in the view (local, or reached through a router). */
  networks: number;
  /** Keys of those networks in the view: network, subnets, ports, bindings. */
  networkKeys: number;
  /**
   * Keys held outside its networks' prefixes: chassis, routers, floating IPs, gateway leases (with lazy sync, those
   * its networks name; `globalKeys` since every chassis once held all of them).
   */
  globalKeys: number;
  /** Of which chassis keys (one per live hypervisor). */
  chassisKeys: number;
  /** Flows on its switch. */
  flows: number;
  /** Store events (puts, deletes) its watches delivered so far. */
  events: number;
}

export class SimChassis {
  readonly view: TopologyView;
  readonly apps: LoadedApps;
  readonly switch = new SwitchDouble();
  readonly flows: FlowManager;
  readonly subscription: PrefixSubscription;
  readonly sync: TopologySync;
  readonly bindings: BindingManager;
  readonly registration: ChassisRegistration;
  readonly health: StoreHealth;
  readonly computer: FlowComputer;
  private readonly reach: RouterReach;
  private readonly sgReach: SecurityGroupReach;
  private readonly chassisReach: ChassisReach;
  private readonly flusher: FlushScheduler;
  private readonly logger: Logger;
  private started = false;
  // Declared before the promise that sets it: a class field defined later would reset it to undefined.
  private markStarted!: () => void;
  /** Resolves when `started` becomes true (the first computation is done), as the agent's. */
  private readonly untilStarted = new Promise<void>((done) => (this.markStarted = done));
  private stopping = false;
  /**
   * Store events (puts and deletes) delivered to this chassis by its watches: its share of the watch fan-out
   * (with those of longer keys its one-key watches drop: subscription.foreignEvents, 0 with fixed-width names).
   */
  private consumed = 0;
  get events(): number {
    return this.consumed + this.subscription.foreignEvents;
  }
  /** Payload bytes of those events (key, value and previous value, as etcd sends them with prev_kv). */
  eventBytes = 0;
  /** Keys read by snapshots and resyncs (a prefix added: a network watched for a new local port, or healed). */
  snapshotKeys = 0;
  /** Milliseconds of each flow recompute (FlowComputer.flush), newest last; bounded. */
  readonly flushMs: number[] = [];
  /** When each recompute ran (performance.now()), parallel to flushMs. */
  readonly flushAt: number[] = [];
  /** Called after each view change once the flush that follows it is computed (harness probes). */
  onChange: ((c: ViewChange) => void) | undefined;
  private nextOfport = 10;
  /** Milliseconds from the start of start() to the end of each of its stages. */
  readonly startStages: Record<string, number> = {};

  constructor(private readonly opts: SimChassisOptions) {
    const log = (this.logger = opts.logger ?? silentLogger);
    const encap = opts.encap ?? 'vxlan';
    this.view = new TopologyView(opts.name, [encap]);
    // The tunnel port OVS would number once the agent made it (switch-link.ts): remote ports need it.
    this.view.tunnelOfports.set(encap, 1);
    this.apps = loadApps(opts.tables, APPS, (app) => ({
      view: this.view,
      tables: opts.tables.forApp(app.name),
      logger: log,
      config: { encaps: [encap] },
      now: Date.now,
      // The simulated chassis have no physical network: no packet can contest a gateway.
      roles: { gatewayConflict: () => 'none' },
    }));
    this.flows = new FlowManager(this.switch, { logger: log, check: (f) => opts.tables.check(f) });
    this.computer = new FlowComputer(
      opts.tables,
      this.apps.apps.map(({ app }) => app),
      this.view,
      this.flows,
    );
    this.flusher = new FlushScheduler(
      () => this.flushNow(),
      () => this.started,
    );
    const store = opts.store;
    const ttl = opts.leaseTtlSeconds ?? 10;
    // As the agent: the probe is the lease's keep-alive (no read), every 2 s or TTL/3.
    this.health = new StoreHealth(() => this.registration.probe(), log, {
      intervalMs: Math.min(opts.healthIntervalMs ?? 2000, (ttl * 1000) / 3),
    });
    const report = (err: unknown) => this.health.report(err);
    this.subscription = new PrefixSubscription(store, { logger: log, background: true, retryMs: 250, retryMaxMs: 2000 });
    this.subscription.on('error', (_p: string, err: Error) => report(err));
    this.registration = new ChassisRegistration(store, () => this.chassisDocument(), ttl, log, report, { probeKeepsAlive: true });
    this.sync = new TopologySync(this.view, this.subscription, log, true);
    this.bindings = new BindingManager(store, this.view, this.sync, this.subscription, log, {
      beforeAnnounce: () => this.localFlowsApplied(),
      onStoreError: report,
      mayBind: () => !this.registration.retired,
    });
    this.reach = new RouterReach(this.view, this.sync);
    this.sgReach = new SecurityGroupReach(this.view, this.sync);
    this.chassisReach = new ChassisReach(this.view, this.sync);
  }

  get name(): string {
    return this.opts.name;
  }

  /** Registers, loads its topology, and programs its switch from it (the agent's start, without OVS). */
  async start(): Promise<void> {
    const log = this.logger;
    const t0 = performance.now();
    const stage = (name: string) => (this.startStages[name] = Math.round((performance.now() - t0) * 10) / 10);
    this.health.on('tick', (kv: KeyValue | null | 'alive') => {
      this.registration.verify(kv).catch((err) => this.health.report(err));
      if (this.bindings.pendingWrites) void this.bindings.retryUnsynced();
    });
    this.health.on('up', () => {
      this.subscription.retryNow();
      void this.registration.ensure('store reachable again');
      void this.bindings.checkAll();
    });
    await this.health.start();
    stage('store probed');
    this.subscription.on('event', (ev: SubscriptionEvent) => {
      if (ev.type === 'snapshot' || ev.type === 'resync') this.snapshotKeys += ev.kvs.length;
      else {
        this.consumed++;
        this.eventBytes += ev.type === 'put' ? ev.kv.key.length + ev.kv.value.length : ev.key.length;
        if (ev.prev) this.eventBytes += ev.prev.key.length + ev.prev.value.length;
      }
      routeStoreEvent(ev, {
        sync: this.sync,
        bindings: this.bindings,
        chassis: this.opts.name,
        ownChassisGone: (revision) =>
          void (this.stopping || !this.registration.goneAt(revision)
            ? undefined
            : this.registration.ensure('chassis key gone from the store')),
        ownChassis: (kv) => this.registration.observe(kv),
      });
    });
    this.sync.on('change', (c: ViewChange) => this.onViewChange(c));
    this.sync.on(
      'portRemoved',
      (ev: PortRemoved) => void this.bindings.portRemoved(ev).catch((err) => log.error({ err, port: ev.name }, 'release failed')),
    );
    this.bindings.on('changed', (netId: string, portId: string) => {
      this.markDirty(netId, { urgent: true, ports: portId ? [portId] : undefined });
      void this.sgReach.update();
    });
    await this.registration.ensure('agent start');
    stage('registered');
    await this.sync.start();
    const topologyPrefix = (p: string) => !p.startsWith(NAMES_PREFIX);
    await this.subscription.whenLoaded(topologyPrefix);
    stage('topology loaded');
    await this.reach.update();
    await this.sgReach.update();
    await this.sgReach.update();
    await this.chassisReach.update();
    await this.subscription.whenLoaded(topologyPrefix);
    this.computer.markAllDirty();
    const first = this.computer.flush();
    stage('computed');
    this.started = true;
    this.markStarted();
    this.switch.connect();
    await this.flows.activate();
    await this.flows.whenApplied(first);
    stage('flows applied');
  }

  /** A VIF for `port` (its name) appears on br-int, as the VIF watcher reports it. */
  async plug(port: string): Promise<void> {
    await this.bindings.plugged({ name: `tap-${port}`, ofport: this.nextOfport++, ifaceId: port });
  }

  /** The VIF goes (the VM stopped or moved away). */
  async unplug(port: string): Promise<void> {
    const vif = this.view.vifs.get(port);
    if (!vif) return;
    await this.bindings.unplugged({ name: vif.ifaceName, ofport: vif.ofport, ifaceId: port });
  }

  /**
   * Stops like a crash or a planned stop: watches and probes end, nothing is withdrawn (the chassis key stays on
   * its lease until the lease lapses — with a store of its own closed, keep-alives stop).
   */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.flusher.cancel();
    this.health.stop();
    await this.subscription.close().catch(() => undefined);
    await this.registration.stop().catch(() => undefined);
  }

  footprint(): ChassisFootprint {
    let networkKeys = 0;
    for (const net of this.view.networks.values()) {
      networkKeys += 1 + net.subnets.size + net.ports.size;
      for (const ps of net.ports.values()) if (ps.binding) networkKeys++;
    }
    const v = this.view;
    return {
      prefixes: this.subscription.prefixes().length,
      networks: v.networks.size,
      networkKeys,
      globalKeys: v.chassis.size + v.routers.size + v.floatingIps.size + v.gateways.size,
      chassisKeys: v.chassis.size,
      flows: this.switch.flows.size,
      events: this.events,
    };
  }

  private chassisDocument(): Chassis {
    return {
      name: this.opts.name,
      tunnelIp: this.opts.tunnelIp,
      encaps: [...this.view.encaps],
      version: 'sim',
      registeredAt: isoTime(),
    };
  }

  // The rest is the agent's own reaction to view changes (agent.ts onViewChange, markDirty, flushNow), minus what
  // needs OVS or the API: installed marks, announcements, gateway elections.

  private onViewChange(c: ViewChange): void {
    for (const { runtime } of this.apps.apps) for (const owner of runtime.viewChanged?.(c) ?? []) this.flows.drop(owner);
    if (c.all) this.markAllDirty();
    else for (const id of c.networks) this.markDirty(id, { groupsOnly: c.securityGroupsOnly, ports: c.ports });
    void this.chassisReach.update();
    void this.reach.update();
    void this.sgReach.update();
    this.onChange?.(c);
  }

  private markDirty(netId: string, opts: { urgent?: boolean; groupsOnly?: boolean; ports?: Iterable<string> } = {}): void {
    if (!this.started) return;
    if (opts.ports) this.computer.markPortsDirty(netId, opts.ports);
    else this.computer.markDirty(netId, opts.groupsOnly);
    if (!opts.groupsOnly) for (const n of this.reach.neighboursOf(netId)) this.computer.markDirty(n);
    this.flusher.schedule(opts.urgent);
  }

  private markAllDirty(): void {
    if (!this.started) return;
    this.computer.markAllDirty();
    this.flusher.schedule();
  }

  private flushNow(): void {
    if (this.stopping || !this.computer.hasDirty()) return;
    const t0 = performance.now();
    this.computer.flush();
    if (this.flushMs.length >= 256) {
      this.flushMs.shift();
      this.flushAt.shift();
    }
    this.flushMs.push(performance.now() - t0);
    this.flushAt.push(t0);
    void this.flows.sync();
  }

  /** The agent's own rule (flow-schedule.ts): a binding is announced once its flows are on the switch. */
  private localFlowsApplied(): Promise<void> {
    return localFlowsApplied(
      () => this.started,
      () => this.flows,
      this.untilStarted,
    );
  }
}
