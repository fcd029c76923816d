import { rename, writeFile } from 'node:fs/promises';
import { APPS } from '../apps/index.js';
import { loadApps, type LoadedApps } from '../apps/registry.js';
import type { ApiServer } from '../api/server.js';
import type { FlowManager } from '../flows/manager.js';
import { deleteChassis, type ChassisRetirement } from '../model/chassis.js';
import { gatewayKey, NAMES_PREFIX } from '../model/keys.js';
import { decodeGatewayLease } from '../model/codec.js';
import { keepLazyIndex } from './lazy-index.js';
import * as status from './agent-status.js';
import { DEFAULT_SITE, type ChassisStatus } from '../model/types.js';
import type { OfChannel } from '../openflow/channel/index.js';
import { OvsdbClient } from '../ovsdb/index.js';
import type { VifWatcher } from '../ovsdb/vswitch.js';
import { loadPipeline } from '../pipeline/pipeline.js';
import { PipelineTables } from '../pipeline/tables.js';
import { openStore, type PrefixSubscription } from '../store/index.js';
import type { Store } from '../store/types.js';
import type { Logger } from '../util/log.js';
import type { BindingManager } from './binding.js';
import type { ChassisRegistration } from './chassis-registration.js';
import type { FlowComputer } from './compute.js';
import { InstalledMarks } from './installed-marks.js';
import { GatewayFence } from './gateway-fence.js';
import type { GatewayConflict } from '../apps/platform.js';
import type { AgentConfig, Encap } from './config.js';
import { ReachabilityLog } from './encap.js';
import type { PacketInDispatcher } from './packet-in.js';
import type { RouterReach } from '../view/router-reach.js';
import type { ChassisReach } from '../view/chassis-reach.js';
import type { SecurityGroupReach } from '../view/sg-reach.js';
import { Announcer } from './announcer.js';
import { FlowSchedule, localFlowsApplied } from './flow-schedule.js';
import { wireFlowSide } from './flow-side.js';
import { AgentApi } from './agent-api.js';
import { AgentElections, DATAPATH_GRACE_MS } from './agent-elections.js';
import { attachVifs } from './vif-attach.js';
import type { Election } from './election.js';
import type { StoreHealth } from './store-health.js';
import { wireStoreSide } from './store-side.js';
import type { TopologyCache } from './topology-cache.js';
import type { SwitchLink } from './switch-link.js';
import { prepareSwitchLink } from './switch-side.js';
import type { TopologySync } from '../view/topology-sync.js';
import { TopologyView } from '../view/topology-view.js';
import { loadAgentTls, type AgentTls } from './tls.js';
import { AgentMetrics } from './metrics.js';
import { VERSION } from '../version.js';
import { StartTrace } from './start-trace.js';
import { isoTime } from '../util/time.js';

/** When this module's imports were loaded and evaluated (the start timeline's 'modules loaded'). */
const MODULES_LOADED_AT = performance.now();

export const AGENT_VERSION = VERSION;

export { DATAPATH_GRACE_MS };

/**
 * The composition root of one hypervisor's agent: OVSDB (bridge, tables, tunnel port, VIFs), the store
 * (chassis lease, lazy per-network watches, bindings), the flow pipeline (apps → flow manager → switch)
 * and PACKET_IN handling. The only place that reads config and the clock.
 */
export class Agent {
  readonly tables = new PipelineTables(loadPipeline());
  readonly view: TopologyView;
  /** Every app of src/apps/index.ts, checked against the pipeline and created with its context. */
  readonly apps: LoadedApps;
  store!: Store;
  link!: SwitchLink;
  ovsdb!: OvsdbClient;
  channel!: OfChannel;
  flows!: FlowManager;
  computer!: FlowComputer;
  sync!: TopologySync;
  bindings!: BindingManager;
  packetIn!: PacketInDispatcher;
  health!: StoreHealth;
  registration!: ChassisRegistration;
  /**
   * This chassis's part in every election (one implementation): router gateways (issue 14), star network centers
   * and its site's gateway (issue 16).
   */
  election!: Election;
  /** When the elections run (made with the store side; agent-elections.ts). */
  private elections?: AgentElections;
  /** Gateways held here that another chassis announced while the store could not confirm our lease (gateway-fence.ts). */
  private readonly gatewayFence: GatewayFence;
  cache?: TopologyCache;
  /** Where the topology the switch was first programmed from came from (status, readiness). */
  topologySource: status.TopologySource = 'waiting for the store';
  /** The REST API, /metrics and the probes (agent-api.ts). */
  private readonly httpApi: AgentApi;
  get api(): ApiServer | undefined {
    return this.httpApi.server;
  }
  private subscription!: PrefixSubscription;
  private vifs?: VifWatcher;
  private reach!: RouterReach;
  private sgReach!: SecurityGroupReach;
  private chassisReach!: ChassisReach;
  private readonly reachLog: ReachabilityLog;
  /** View changes → dirty networks → one recompute and sync (made with the flow side, see prepareFlows). */
  private schedule?: FlowSchedule;
  private readonly marks: InstalledMarks;
  /** Gratuitous ARPs and the like, sent once the flows answering for them are applied. */
  private readonly announcer = new Announcer({
    whenApplied: (v) => this.flows.whenApplied(v),
    collect: () => this.apps.apps.flatMap(({ runtime }) => runtime.announce?.() ?? []),
    dueIn: () => {
      const due = this.apps.apps.flatMap(({ runtime }) => runtime.announceDueIn?.() ?? []);
      return due.length > 0 ? Math.min(...due) : undefined;
    },
    send: (packets) => this.flows.sendPackets(packets),
    onError: (err) => this.logger.warn({ err }, 'announcement not sent'),
    stopped: () => this.stopping,
  });
  private started = false;
  /** Resolves when `started` becomes true: the first computation is done (its flows asked of the flow manager). */
  private readonly untilStarted: Promise<void>;
  private markStarted!: () => void;
  private stopping = false;
  /** Set once this chassis is taken out of service (decommission, or an operator's `chassis delete`). */
  get retired(): ChassisRetirement | undefined {
    return this.registration?.retired;
  }
  private markStopped!: () => void;
  /** Resolves once stop() has finished (a signal, or decommission): the process may exit. */
  readonly stopped = new Promise<void>((done) => (this.markStopped = done));
  readonly startedAt = Date.now();
  /** Prometheus metrics, served at /metrics. */
  readonly metrics: AgentMetrics;
  /** The desired version of the first full computation: /readyz waits until it is on the switch. */
  private firstVersion: number | undefined;
  /** Resolves once the first computation's flows are on the switch (set by attachSwitch). */
  private firstApplied?: Promise<unknown>;
  /** Start-up milestones, logged once the first flows are on the switch. */
  readonly trace = new StartTrace(['modules loaded', Math.round(MODULES_LOADED_AT * 10) / 10]);
  private apiTls?: AgentTls['api'];

  constructor(
    readonly config: AgentConfig,
    private readonly logger: Logger,
  ) {
    this.untilStarted = new Promise<void>((done) => (this.markStarted = done));
    this.view = new TopologyView(config.chassis, config.encaps ?? [config.encap]);
    this.view.site = config.site ?? DEFAULT_SITE;
    this.reachLog = new ReachabilityLog(this.view.encaps, config.chassis, logger.child({ component: 'encap' }));
    this.marks = new InstalledMarks(
      () => this.ovsdb,
      logger.child({ component: 'installed' }),
      (seconds) => this.metrics.portInstalled(seconds),
    );
    const appConfig = { encaps: this.view.encaps as Encap[] };
    this.gatewayFence = new GatewayFence({
      view: this.view,
      logger: logger.child({ component: 'gateway-fence' }),
      leaseConfirmed: () => this.registration?.leaseConfirmed() ?? false,
      leaseId: () => this.registration?.leaseId,
      readGateway: async (routerId) => {
        const kv = await this.store.get(gatewayKey(routerId));
        return kv && { chassis: decodeGatewayLease(kv.value).chassis, lease: kv.lease };
      },
      changed: () => this.schedule?.markAllDirty(),
    });
    const roles = { gatewayConflict: (c: GatewayConflict) => this.gatewayFence.conflict(c) };
    this.apps = loadApps(this.tables, APPS, (app) => ({
      view: this.view,
      tables: this.tables.forApp(app.name),
      logger: logger.child({ component: app.name }),
      config: appConfig,
      now: Date.now,
      roles,
    }));
    this.metrics = new AgentMetrics(this);
    this.httpApi = new AgentApi({
      config,
      logger,
      metrics: this.metrics,
      trace: this.trace,
      view: this.view,
      store: () => this.store,
      tls: () => this.apiTls,
      stopping: () => this.stopping,
      probeReady: () => this.probeReady(),
      addRoutes: (api, { addAgentRoutes }) => addAgentRoutes(api, this),
    });
    this.trace.mark('agent made (pipeline, apps)');
  }

  async start(): Promise<void> {
    const cfg = this.config;
    const log = this.logger;
    const tls = loadAgentTls(cfg);
    this.apiTls = tls.api;
    this.prepareSwitchLink(tls.ovs);
    await this.openStoreSide(tls.store);
    this.prepareFlows(tls.ovs);

    // Store: chassis registration and the topology this hypervisor needs (from the cache if it does not answer).
    // All at once: the probe, the registration and the watches are independent round trips (the own key's watch
    // tells the registration what it sees; one that fails is reported to the probe's health and retried).
    await Promise.all([
      this.health.start().then(() => this.trace.mark('store probed')),
      this.registration.ensure('agent start').then(() => this.trace.mark('chassis registered')),
      this.sync.start().then(() => this.trace.mark('topology watches started')),
    ]);
    if (cfg.lazySync) {
      const indexLog = log.child({ component: 'lazy-index' });
      const lease = () => this.registration.leaseId;
      void keepLazyIndex(this.store, cfg.chassis, lease, indexLog, () => this.stopping, cfg.indexAuditSeconds * 1000);
    }
    const firstError = this.health.lastFailure;
    // Bad credentials or permissions are a configuration error, not an outage: say so and stop.
    if ((firstError as { code?: string } | undefined)?.code === 'DENIED') throw firstError;
    // Gateway elections once routers, chassis and gateway leases are read from the store (not a partial view).
    void this.subscription.whenLoaded((p) => !p.startsWith(NAMES_PREFIX)).then(() => this.elections!.topologyLoaded());

    // With Open vSwitch there, the switch side is attached before start() returns (VIFs bound before the first
    // computation, as ever). Without it, the agent serves its API and follows the store meanwhile.
    const attached = this.attachSwitch().catch((err) => log.error({ err }, 'switch attach failed'));
    // A TLS refusal by (or of) the switch before any session is a configuration error: the start fails with it.
    // Later (the start already returned) it is logged, and the link keeps trying.
    const fatal = this.link.untilFatal();
    fatal.catch((err: unknown) => log.error({ err }, 'Open vSwitch refused the TLS connection'));
    // Status and readiness answer while the agent waits (Open vSwitch absent; the store unreachable with no
    // cached topology: attachSwitch starts the API then). Otherwise the API — its modules and prom-client's — is
    // loaded once the first flows are on the switch, not before them (docs/footprint.md, start-up).
    const waiting = this.link.untilWaiting();
    // A failure reaches start() through httpApi.failure.
    void waiting.then(() => this.httpApi.start()).catch(() => undefined);
    await Promise.race([attached, waiting, fatal, this.httpApi.failure]);
    // A switch that never confirms (its session lost meanwhile) must not keep the API away: a second at most.
    let timer: NodeJS.Timeout | undefined;
    const second = new Promise<void>((done) => (timer = setTimeout(done, 1_000)));
    await Promise.race([this.firstApplied, waiting, fatal, this.httpApi.failure, this.stopped, second]);
    clearTimeout(timer);
    await Promise.race([this.httpApi.start(), this.httpApi.failure]);

    if (cfg.readyFile) {
      // Written whole then renamed: whoever waits for the file never reads half of it.
      await writeFile(`${cfg.readyFile}.tmp`, JSON.stringify({ api: this.api?.url, pid: process.pid }) + '\n');
      await rename(`${cfg.readyFile}.tmp`, cfg.readyFile);
    }
    log.info({ chassis: cfg.chassis, api: this.api?.url, lazy: cfg.lazySync }, 'agent started');
  }

  /** Open vSwitch: the link, made first, and what its ports change (switch-side.ts). */
  private prepareSwitchLink(ovsTls: AgentTls['ovs']): void {
    this.link = prepareSwitchLink({
      config: this.config,
      logger: this.logger,
      tables: this.tables,
      view: this.view,
      ovsTls,
      markAllDirty: () => this.schedule?.markAllDirty(),
      reconcileGateways: () => this.elections?.reconcile(),
      chassisChanged: (why) => void this.registration?.ensure(why),
      bindings: () => this.bindings,
    });
    this.ovsdb = this.link.ovsdb;
    // In the start timeline: the bridge's preparation runs beside the store's first round trips.
    this.ovsdb.once('connected', () => this.trace.mark('OVSDB connected'));
    this.link.once('prepared', () => this.trace.mark('bridge prepared'));
  }

  /** The store side: the store, then its health, topology subscription and sync, chassis, bindings, elections (store-side.ts). */
  private async openStoreSide(storeTls: AgentTls['store']): Promise<void> {
    const cfg = this.config;
    const log = this.logger;
    // The store may be unreachable now: the agent then runs from its cache and converges when it answers.
    this.store = this.metrics.instrumentStore(
      await openStore(cfg.store, { logger: log.child({ component: 'store' }), probe: false, ...storeTls }),
    );
    this.trace.mark('store opened');
    ({
      health: this.health,
      cache: this.cache,
      subscription: this.subscription,
      registration: this.registration,
      sync: this.sync,
      bindings: this.bindings,
      election: this.election,
      reach: this.reach,
      sgReach: this.sgReach,
      chassisReach: this.chassisReach,
    } = wireStoreSide({
      config: cfg,
      logger: log,
      store: this.store,
      view: this.view,
      link: this.link,
      graceMs: DATAPATH_GRACE_MS,
      chassisDocument: () => status.chassisDocument(cfg, this.view),
      started: () => this.started,
      localFlowsApplied: () =>
        localFlowsApplied(
          () => this.started,
          () => this.flows,
          this.untilStarted,
        ),
      storeBack: () => this.elections!.storeBack(),
      storeTick: () => void this.gatewayFence.recheck(),
      reconcileGateways: () => this.elections!.reconcile(),
      ownChassisGone: (revision) => this.elections!.ownChassisGone(revision),
      viewChanged: (c) => this.schedule!.viewChanged(c),
      markDirty: (netId, opts) => this.schedule?.markDirty(netId, opts),
    }));
    this.elections = new AgentElections({
      view: this.view,
      election: this.election,
      sync: this.sync,
      registration: this.registration,
      subscription: this.subscription,
      bindings: this.bindings,
      stopping: () => this.stopping,
    });
  }

  /** The flow side: the OpenFlow channel, the flow manager, the apps' computer and the PACKET_IN dispatcher (flow-side.ts). */
  private prepareFlows(ovsTls: AgentTls['ovs']): void {
    ({
      channel: this.channel,
      flows: this.flows,
      computer: this.computer,
      packetIn: this.packetIn,
    } = wireFlowSide({
      config: this.config,
      logger: this.logger,
      tables: this.tables,
      apps: this.apps,
      view: this.view,
      link: this.link,
      ovsTls,
      metrics: this.metrics,
      health: this.health,
      subscription: this.subscription,
      marks: this.marks,
      trace: this.trace,
      started: () => this.started,
      sessionUp: () => this.elections!.sessionUp(),
      sessionDown: () => this.elections!.sessionDown(),
    }));
    this.schedule = new FlowSchedule({
      view: this.view,
      apps: this.apps,
      computer: this.computer,
      flows: this.flows,
      marks: this.marks,
      announcer: this.announcer,
      bindings: this.bindings,
      reach: this.reach,
      sgReach: this.sgReach,
      chassisReach: this.chassisReach,
      reachLog: this.reachLog,
      started: () => this.started,
      stopping: () => this.stopping,
      reconcileGateways: () => this.elections!.reconcile(),
      electionWatches: (id) => this.elections!.watches(id),
    });
  }

  /**
   * The VIF watch and the first flow computation, once OVSDB is there and the bridge prepared (at once, or
   * whenever Open vSwitch appears). VIFs present then are bound before the first computation, so that the
   * first reconciliation never deletes a running VM's flows.
   */
  private async attachSwitch(): Promise<void> {
    const log = this.logger;
    const vifsBound = await attachVifs({
      link: this.link,
      ovsdb: this.ovsdb,
      channel: this.channel,
      bindings: this.bindings,
      marks: this.marks,
      logger: log,
      trace: this.trace,
      stopping: () => this.stopping,
      started: () => this.started,
      adopt: (vifs) => (this.vifs = vifs),
    });
    if (!vifsBound) return;

    // Never program the switch from less than a whole topology (that would delete live flows): wait until
    // chassis, routers and every local network are loaded, from the store or from the cache.
    const topologyPrefix = (p: string) => !p.startsWith(NAMES_PREFIX);
    const loaded = this.subscription.whenLoaded(topologyPrefix);
    if (!this.subscription.loaded(topologyPrefix)) this.httpApi.serveIfStoreDown(this.health, loaded);
    await loaded;
    if (this.stopping) return;
    this.topologySource = this.health.isConnected ? 'store' : 'cache';
    if (this.topologySource === 'cache')
      log.warn({ savedAt: this.cache?.loadedFrom }, 'store unreachable; programming the switch from the cached topology');
    await this.reach.update();
    // The groups of local ports, then the address sets their rules name, in the view before the first computation:
    // a protected port must not start from "no rules" (its traffic dropped) after a restart.
    await this.sgReach.update();
    await this.sgReach.update();
    // The records of the chassis those networks name (hosts of their ports, lease holders, fellow candidates).
    await this.chassisReach.update();
    await this.subscription.whenLoaded(topologyPrefix);
    if (this.stopping) return;

    this.trace.mark('topology loaded');
    this.computer.markAllDirty();
    this.firstVersion = this.computer.flush();
    this.trace.mark('first computation');
    this.schedule!.notePendingMarks(this.firstVersion);
    this.started = true;
    this.markStarted();
    this.elections?.reconcile();
    this.firstApplied = this.flows.whenApplied(this.firstVersion).then(() => {
      this.trace.mark('first flows on the switch');
      log.info(this.trace.finish(), 'start timeline (ms since the process began)');
    });
    this.firstApplied.catch(() => undefined);
    void this.flows.activate();
    this.announcer.after(this.firstVersion);
  }

  /**
   * Stops without withdrawing anything: a stop is a restart (SIGTERM from systemctl restart, an upgrade). The
   * flows stay on the switch, the bindings in the store, and the chassis key on its lease, which closing the
   * store does not revoke: an agent back within the TTL takes the key over and peers never stop tunnelling
   * here; one that does not come back loses it when the lease expires. Taking the chassis out of service is
   * decommission().
   */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.elections?.stop();
    this.schedule?.cancel();
    await this.httpApi.close();
    this.vifs?.stop();
    await this.channel?.stop().catch(() => undefined);
    await this.subscription?.close().catch(() => undefined);
    this.health?.stop();
    // Held gateway keys stay on the lease like the chassis key: a restart within the TTL keeps them (no failover).
    await this.election?.stop().catch(() => undefined);
    await this.cache?.flush();
    // A planned stop (SIGTERM: a restart or an upgrade) leaves the chassis key to its lease, which lapses on its
    // TTL only if the agent does not come back; bindings stay, as the VMs do.
    await this.registration?.stop().catch(() => undefined);
    await this.link?.close().catch(() => undefined);
    await this.store?.close().catch(() => undefined);
    this.markStopped();
  }

  /**
   * Takes this chassis out of service (the host is leaving): deletes its key with a tombstone — peers drop
   * their flows towards it in the same store revision — and revokes the lease. Refused while ports are bound
   * here unless `force` (their bindings go too). The caller then stops the agent.
   */
  async decommission(opts: { force?: boolean } = {}): Promise<ChassisStatus & { bindingsRemoved: string[] }> {
    // Retired first: the key's deletion comes back through the watch and must not be answered by registering again.
    const retirement = this.registration.retire({ name: this.config.chassis, at: isoTime(), bindingsRemoved: [] });
    try {
      const r = await deleteChassis(this.store, this.config.chassis, opts);
      this.registration.retired!.bindingsRemoved = r.bindingsRemoved;
      await this.registration.stop({ withdraw: true }).catch(() => undefined);
      this.logger.warn({ chassis: this.config.chassis, bindingsRemoved: r.bindingsRemoved }, 'chassis decommissioned');
      return r;
    } catch (err) {
      retirement.undo();
      throw err;
    }
  }

  /** What `wyvern agent status` and `/v1/agent/ready` report (see agent-status.ts). */
  readiness(): Record<string, unknown> & { ready: boolean } {
    return status.readiness({
      started: this.started,
      topologySource: this.topologySource,
      view: this.view,
      graceMs: DATAPATH_GRACE_MS,
      channel: this.channel,
      health: this.health,
      cache: this.cache,
      election: this.election,
      fence: this.gatewayFence,
      link: this.link,
      sync: this.sync,
      registration: this.registration,
      bindings: this.bindings,
    });
  }

  /** /readyz: stricter than readiness().ready (see agent-status.ts). */
  probeReady(): boolean {
    const { started, firstVersion, flows, channel, link, health } = this;
    return status.probeReady({ started, firstVersion, flows, channel, link, health });
  }

  /** Store prefixes this agent watches (lazy sync: one per local network, plus chassis, routers, port names). */
  watchedPrefixes(): string[] {
    return this.subscription.prefixes().sort();
  }

  /** Recomputes flows from scratch and compares with the incremental state (desired and on the switch). */
  async recomputeCheck(): Promise<Record<string, unknown>> {
    return status.recomputeCheck(this.flows, this.computer);
  }
}
