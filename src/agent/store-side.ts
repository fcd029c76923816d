/**
 * The agent's store side, made and wired once the store is open: its health, the topology cache, the prefix
 * subscription and the topology sync, the chassis registration, the bindings, the elections and the reach trackers
 * that scope the lazy watches. Kept apart from the Agent class, which only orders the start-up: what each part is
 * given, and which events reach which part, is read here in one place; what the agent does about an event comes
 * back through the explicit hooks of StoreSideInput.
 */
import type { Chassis } from '../model/types.js';
import { PrefixSubscription, type SubscriptionEvent } from '../store/index.js';
import type { KeyValue, Store } from '../store/types.js';
import type { Logger } from '../util/log.js';
import { ChassisReach } from '../view/chassis-reach.js';
import { RouterReach } from '../view/router-reach.js';
import { SecurityGroupReach } from '../view/sg-reach.js';
import { TopologySync, type PortRemoved, type ViewChange } from '../view/topology-sync.js';
import type { TopologyView } from '../view/topology-view.js';
import { BindingManager } from './binding.js';
import { physnetRefusal } from './bridge-mappings.js';
import { ChassisRegistration } from './chassis-registration.js';
import type { AgentConfig } from './config.js';
import { Election } from './election.js';
import { centerRaces, gatewayRaces, siteGatewayRaces } from './races.js';
import { routeStoreEvent } from './store-events.js';
import { StoreHealth } from './store-health.js';
import type { SwitchLink } from './switch-link.js';
import { TopologyCache } from './topology-cache.js';

export interface StoreSideInput {
  config: AgentConfig;
  logger: Logger;
  /** The store, open (and instrumented for metrics). */
  store: Store;
  view: TopologyView;
  /** The Open vSwitch link (made before the store side): physnet bridges and the datapath's state. */
  link: SwitchLink;
  /** How long the OpenFlow session may stay down before this chassis stands down (DATAPATH_GRACE_MS). */
  graceMs: number;
  /** This chassis's record, as registered. */
  chassisDocument(): Chassis;
  /** Set once the first computation is done. */
  started(): boolean;
  /** Resolves once the flows asked for so far are on the switch (a binding is announced after that). */
  localFlowsApplied(): Promise<void>;
  /** The store answers again after an outage. */
  storeBack(): void;
  /** After every successful store probe (a fenced gateway the store still has on our lease is let go: gateway-fence.ts). */
  storeTick(): void;
  /** Runs this chassis's part in the elections. */
  reconcileGateways(): void;
  /** Our chassis key vanished from the store at `revision`. */
  ownChassisGone(revision: number): void;
  viewChanged(c: ViewChange): void;
  /** Marks a network (or some of its ports) for recompute. */
  markDirty(netId: string, opts: { urgent?: boolean; ports?: Iterable<string> }): void;
}

export interface StoreSide {
  health: StoreHealth;
  cache: TopologyCache | undefined;
  subscription: PrefixSubscription;
  registration: ChassisRegistration;
  sync: TopologySync;
  bindings: BindingManager;
  election: Election;
  reach: RouterReach;
  sgReach: SecurityGroupReach;
  chassisReach: ChassisReach;
}

/** The store side: its health, the topology's subscription and sync, the chassis, bindings, elections. */
export function wireStoreSide(input: StoreSideInput): StoreSide {
  const { config: cfg, logger: log, store, view, link } = input;
  // The probe is the chassis lease's keep-alive (issue 17): one call the lease needs anyway tells whether the store
  // answers, at no extra cost to the etcd leader (it was a linearizable read of this chassis's key every 2 s). The
  // key itself is followed by the watch (ownChassis, ownChassisGone). Every 2 s, or TTL/3 for a short lease.
  const health = new StoreHealth(() => registration.probe(), log.child({ component: 'store-health', store: store.url }), {
    intervalMs: Math.min(2000, (cfg.leaseTtlSeconds * 1000) / 3),
  });
  const report = (err: unknown) => health.report(err);
  let cache: TopologyCache | undefined;
  if (cfg.cacheFile !== 'none') {
    cache = new TopologyCache(cfg.cacheFile, cfg.chassis, log.child({ component: 'cache' }), () => subscription.prefixes());
  }
  const subscription = new PrefixSubscription(store, {
    logger: log,
    background: true,
    retryMs: 250,
    retryMaxMs: 2000,
    ...(cache ? { fallback: (prefix: string) => cache!.get(prefix) } : {}),
  });
  subscription.on('error', (_prefix: string, err: Error) => report(err));
  const registration = new ChassisRegistration(
    store,
    () => input.chassisDocument(),
    cfg.leaseTtlSeconds,
    log.child({ component: 'chassis' }),
    report,
    { probeKeepsAlive: true, ...(cfg.presenceTtlSeconds !== undefined ? { presenceTtlSeconds: cfg.presenceTtlSeconds } : {}) },
  );
  const sync = new TopologySync(view, subscription, log.child({ component: 'sync' }), cfg.lazySync);
  const bindings = new BindingManager(store, view, sync, subscription, log.child({ component: 'binding' }), {
    beforeAnnounce: () => input.localFlowsApplied(),
    onStoreError: report,
    storeDown: () => !health.isConnected,
    mayBind: () => !registration.retired,
    // A provider network's port needs this chassis to reach its physnet (bridge mapping, bridge, patch port).
    refuse: (networkId) => {
      const physnet = view.networks.get(networkId)?.network.provider?.physnet;
      if (physnet === undefined) return undefined;
      const bridgeState = () => link.status().bridge.physnets[physnet]?.state;
      return physnetRefusal(physnet, cfg.bridgeMappings, view.physnetOfports.has(physnet), bridgeState);
    },
  });
  health.on('up', () => input.storeBack());
  const election = new Election({
    store,
    chassis: cfg.chassis,
    // Centers and site gateways relay traffic, and a center's candidates are read from lazily watched networks:
    // both act once the switch is programmed from a whole topology (local VIFs bound, their networks loaded).
    kinds: [
      { ...gatewayRaces(view), enabled: () => sync.chassisSettled },
      centerRaces(view, () => input.started() && sync.chassisSettled),
      siteGatewayRaces(view, () => input.started() && sync.chassisSettled),
    ],
    leaseId: () => registration.leaseId,
    logger: log.child({ component: 'election' }),
    onChange: (kind, race, active) => log.info({ kind, race, active }, active ? `${kind} active here` : `${kind} not active here`),
    // A live agent over a dead ovs-vswitchd hands its roles over at once instead of holding them on its lease.
    standDown: () => link.datapathDown(input.graceMs),
  });
  health.on('tick', (kv: KeyValue | null | 'alive') => {
    registration.verify(kv).catch(report);
    input.reconcileGateways();
    input.storeTick();
    if (bindings.pendingWrites) void bindings.retryUnsynced();
  });
  const reach = new RouterReach(view, sync);
  const sgReach = new SecurityGroupReach(view, sync);
  const chassisReach = new ChassisReach(view, sync);
  subscription.on('event', (ev: SubscriptionEvent) => {
    cache?.apply(ev);
    routeStoreEvent(ev, {
      sync,
      bindings,
      chassis: cfg.chassis,
      ownChassisGone: (revision) => input.ownChassisGone(revision),
      ownChassis: (kv) => registration.observe(kv),
    });
  });
  sync.on('change', (c: ViewChange) => input.viewChanged(c));
  sync.on(
    'portRemoved',
    (ev: PortRemoved) => void bindings.portRemoved(ev).catch((err) => log.error({ err, port: ev.name }, 'release failed')),
  );
  bindings.on('changed', (netId: string, portId: string) => {
    input.markDirty(netId, { urgent: true, ports: portId ? [portId] : undefined });
    // A port bound or released here: the groups this host enforces may change.
    void sgReach.update();
  });
  return { health, cache, subscription, registration, sync, bindings, election, reach, sgReach, chassisReach };
}
