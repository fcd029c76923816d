/**
 * What the agent reports about itself: readiness (`wyvern agent status`, `/v1/agent/ready`), the stricter /readyz
 * probe, the recompute check and the chassis document it registers. Pure readings of the parts the agent holds,
 * passed in explicitly: they are kept apart from the Agent class (the composition root) so that what is reported
 * can be read and tested without the start-up and scheduling code around it (like site-status.ts).
 */
import type { FlowManager } from '../flows/manager.js';
import { DEFAULT_SITE, type Chassis } from '../model/types.js';
import type { OfChannel } from '../openflow/channel/index.js';
import { VERSION } from '../version.js';
import type { TopologySync } from '../view/topology-sync.js';
import type { TopologyView } from '../view/topology-view.js';
import type { BindingManager } from './binding.js';
import type { ChassisRegistration } from './chassis-registration.js';
import type { FlowComputer } from './compute.js';
import type { AgentConfig } from './config.js';
import type { Election } from './election.js';
import type { GatewayFence } from './gateway-fence.js';
import { siteStatus } from './site-status.js';
import type { StoreHealth } from './store-health.js';
import type { SwitchLink } from './switch-link.js';
import type { TopologyCache } from './topology-cache.js';
import { isoTime } from '../util/time.js';

/** Where the topology the switch was first programmed from came from (status, readiness). */
export type TopologySource = 'waiting for the store' | 'store' | 'cache';

/** The parts readiness() reads; those the agent makes in start() are absent before it. */
export interface ReadinessParts {
  started: boolean;
  topologySource: TopologySource;
  view: TopologyView;
  /** How long the OpenFlow session may stay down before this chassis stands down (DATAPATH_GRACE_MS). */
  graceMs: number;
  channel?: OfChannel;
  health?: StoreHealth;
  cache?: TopologyCache;
  election?: Election;
  fence?: GatewayFence;
  link?: SwitchLink;
  sync?: TopologySync;
  registration?: ChassisRegistration;
  bindings?: BindingManager;
}

/**
 * What `wyvern agent status` and `/v1/agent/ready` report: ready once the switch is programmed from a whole
 * topology; the store's state (`disconnected since …` during an outage, when the agent runs on what it
 * knows), where the topology came from, the chassis registration and bindings not yet written.
 */
export function readiness(p: ReadinessParts): Record<string, unknown> & { ready: boolean } {
  const store = p.health?.describe();
  const pending = p.bindings?.unsyncedPorts() ?? [];
  const standingDown = p.link?.datapathDown(p.graceMs);
  const fenced = p.fence?.status() ?? [];
  return {
    ready: p.started && (p.channel?.isUp ?? false),
    store: store && { ...store, summary: `${store.state} since ${store.since}` },
    topology: {
      source: p.started && p.health!.isConnected ? 'store' : p.topologySource,
      ...(p.cache?.loadedFrom ? { cacheSavedAt: p.cache.loadedFrom } : {}),
    },
    gateways: {
      active: p.election?.active('gateway') ?? [],
      ...(standingDown !== undefined ? { standingDown } : {}),
      // Held in the store's last word, but another chassis announces them and the store cannot be asked (gateway-fence.ts).
      ...(fenced.length > 0 ? { fenced } : {}),
      ...(p.fence && p.fence.counters.fenced + p.fence.counters.kept > 0 ? { conflicts: { ...p.fence.counters } } : {}),
      ...(p.election?.lastError ? { lastError: p.election.lastError } : {}),
    },
    // Issue 16: star networks this chassis is the center of; its site and that site's gateway.
    centers: { active: p.election?.active('center') ?? [] },
    site: siteStatus(p.view, p.election?.active('site-gateway').includes(p.view.site) ?? false, p.sync?.relaying ?? false),
    chassisRegistration: {
      lease: p.registration?.chassisLeaseId,
      // The elected roles' lease, when the chassis key has a presence lease of its own (presence-ttl-seconds).
      ...(p.registration && p.registration.leaseId !== p.registration.chassisLeaseId ? { rolesLease: p.registration.leaseId } : {}),
      registeredAt: p.registration?.registeredAt,
      ...(p.registration?.lastError ? { lastError: p.registration.lastError } : {}),
    },
    ...(pending.length > 0 ? { bindingsNotWritten: pending } : {}),
  };
}

/** The parts probeReady() reads (only once `started`: before, they may not be made yet). */
export interface ProbeParts {
  started: boolean;
  /** The desired version of the first full computation. */
  firstVersion: number | undefined;
  flows: FlowManager;
  channel: OfChannel;
  link: SwitchLink;
  health: StoreHealth;
}

/**
 * /readyz: Open vSwitch (OVSDB and OpenFlow) and the store connected, and the first full computation on the
 * switch. Stricter than readiness().ready, which a store outage leaves true (the data plane keeps working).
 */
export function probeReady(p: ProbeParts): boolean {
  return (
    p.started &&
    p.firstVersion !== undefined &&
    p.flows.appliedVersion >= p.firstVersion &&
    p.channel.isUp &&
    p.link.status().ovsdb.state === 'connected' &&
    p.health.isConnected
  );
}

/** Recomputes flows from scratch and compares with the incremental state (desired and on the switch). */
export async function recomputeCheck(flows: FlowManager, computer: FlowComputer): Promise<Record<string, unknown>> {
  await flows.sync();
  const full = computer.fullRecompute();
  const incremental = computer.compare(full);
  const onSwitch = await flows.compareSwitch(full);
  return {
    equal: incremental.equal,
    switchEqual: onSwitch.equal,
    flows: flows.desiredCount(),
    incremental,
    switch: onSwitch,
  };
}

/** This chassis's record in the store, as registered (and registered again) by ChassisRegistration. */
export function chassisDocument(cfg: AgentConfig, view: TopologyView): Chassis {
  return {
    name: cfg.chassis,
    tunnelIp: cfg.tunnelIp,
    encaps: [...view.encaps],
    version: VERSION,
    registeredAt: isoTime(),
    ...(Object.keys(cfg.bridgeMappings).length > 0 ? { physnets: Object.keys(cfg.bridgeMappings).sort() } : {}),
    // Published so the other gateway candidates skip this chassis at once (races.ts), not one rank's wait later.
    ...(view.physnetsDown.size > 0 ? { uplinksDown: [...view.physnetsDown].sort() } : {}),
    ...(view.site !== DEFAULT_SITE ? { site: view.site } : {}),
  };
}
