import { EventEmitter } from 'node:events';
import {
  centerKey,
  CENTERS_PREFIX,
  CHASSIS_PREFIX,
  chassisKey,
  FIPS_PREFIX,
  fipKey,
  GATEWAYS_PREFIX,
  gatewayKey,
  gatewayOfPrefix,
  routerKey,
  networkKey,
  netPrefix,
  ROUTERS_PREFIX,
  NETWORKS_PREFIX,
  NET_PREFIX,
  SG_MEMBERS_PREFIX,
  SG_PREFIX,
  sgKey,
  sgMemberKey,
  sgMembersPrefix,
  siteGatewayKey,
  SITE_GATEWAYS_PREFIX,
  siteKey,
  SITES_PREFIX,
} from '../model/keys.js';
import type { KeyValue } from '../store/types.js';
import type { Logger } from '../util/log.js';
import { IndexedObjects } from './indexed-objects.js';
import { KeyApplier, RELAY_REASON } from './store-apply.js';
import type { TopologyView } from './topology-view.js';
import { ViewChanges } from './view-changes.js';

export { RELAY_REASON };

/**
 * What changed in the view: network ids whose flows must be recomputed, or everything. `securityGroupsOnly`: only
 * security groups or their members changed, so only apps that read them (App.readsSecurityGroups) recompute.
 */
export type ViewChange = {
  networks: Set<string>;
  all: boolean;
  securityGroupsOnly?: boolean;
  /**
   * Set when only these ports of the (one) network in `networks` changed (a port's document or binding): apps with
   * per-port flows recompute just those ports' flows, plus the network-wide flows of apps that read every port.
   */
  ports?: Set<string>;
  /**
   * Something an election reads changed (a star center or site gateway lease, a Site record): the agent runs its
   * part in the elections even when no flow changes (issue 16).
   */
  elections?: boolean;
  /**
   * Set when a chassis was added, changed or removed (its name). `networks` then holds only the networks with a port
   * bound there — the only flows a chassis's tunnel address or encapsulations reach — unless a gateway, center or
   * site-gateway lease names it (then `all`), and none when its record changed only where no flow reads it (a
   * restart's registeredAt, an uplink's state). The agent re-checks peer reachability and its gateway elections.
   */
  chassis?: string;
};

/** What the sync needs of a store subscription (PrefixSubscription provides it). */
export interface Subscription {
  /** `exact`: one key (a chassis's), not every key it prefixes. */
  add(prefix: string, opts?: { exact?: boolean }): Promise<void> | void;
  remove(prefix: string): Promise<void> | void;
  prefixes(): string[];
}

/**
 * Keeps the view in step with the store for exactly the networks it is asked to watch (lazy sync), the chassis
 * they name, and the routers, gateway leases and floating IPs the lazy index names under them. Store events come
 * in as key/value changes; each is decoded with its key's kind, and the networks it affects are reported through 'change'; a port deleted from the view is also
 * reported through 'portRemoved' (PortRemoved).
 */
/** A port that was in the view was deleted from the store. */
export interface PortRemoved {
  networkId: string;
  portId: string;
  name: string;
}

export class TopologySync extends EventEmitter {
  /** Networks we want, with the reasons (local port names) we want them. */
  private readonly wanted = new Map<string, Set<string>>();
  /** Security-group prefixes we want (a group's key, a group's members), with their reasons (see SecurityGroupReach). */
  private readonly wantedSg = new Map<string, Set<string>>();
  /** Per network, the adding or removing of its watches under way (settle): the last step queued. */
  private readonly pending = new Map<string, Promise<void>>();
  /** Lazy sync: the routers, gateway leases and FIPs named by the index under the watched prefixes. */
  private readonly indexed: IndexedObjects;
  /** Reports changes of the view through 'change' (view-changes.ts). */
  private readonly changes: ViewChanges;
  /** Applies each key put or deleted to the view (store-apply.ts). */
  private readonly applier: KeyApplier;

  constructor(
    private readonly view: TopologyView,
    private readonly subscription: Subscription,
    private readonly logger: Logger,
    private readonly lazy: boolean,
  ) {
    super();
    this.indexed = new IndexedObjects(subscription, logger, view.chassisName, (key) => this.applyDelete(key));
    this.changes = new ViewChanges(view, (c) => this.emit('change', c));
    this.applier = new KeyApplier({
      view,
      lazy,
      logger,
      indexed: this.indexed,
      changes: this.changes,
      wanted: this.wanted,
      isChassisWanted: (name) => this.isChassisWanted(name),
      isSgWanted: (key) => this.isSgWanted(key),
      relaying: () => this.relay,
      want: (networkId, reason) => this.want(networkId, reason),
      unwant: (networkId, reason) => this.unwant(networkId, reason),
      siteCandidatesChanged: () => this.siteCandidatesChanged(),
      portRemoved: (ev) => this.emit('portRemoved', ev),
    });
  }

  async start(): Promise<void> {
    // Lazy sync: only the chassis this one needs (ChassisReach) — its own key from the start (its loss is news).
    if (this.lazy) this.wantChassis(this.view.chassisName);
    const prefixes = [
      // Lazy sync: routers, their gateway leases and FIPs come through the index under each watched network
      // (IndexedObjects); the routers this chassis is a gateway candidate of, through its own index prefix.
      ...(this.lazy ? [gatewayOfPrefix(this.view.chassisName)] : [CHASSIS_PREFIX, ROUTERS_PREFIX, FIPS_PREFIX, GATEWAYS_PREFIX]),
      // Issue 16: star centers, sites and site gateways are few (one per star network, one per site): every agent.
      CENTERS_PREFIX,
      SITES_PREFIX,
      SITE_GATEWAYS_PREFIX,
      ...(this.lazy ? [] : [NETWORKS_PREFIX, NET_PREFIX, SG_PREFIX, SG_MEMBERS_PREFIX]),
    ];
    // Each prefix's read and watch are independent: one round trip for all of them instead of one each in turn
    // (a fresh agent's start waits on this; docs/footprint.md).
    await Promise.all(prefixes.map((p) => this.subscription.add(p)));
    if (this.lazy) await this.indexed.whenLoaded(gatewayOfPrefix(this.view.chassisName));
  }

  /** The routers, gateway leases and FIPs watched through the lazy index, by key (status, tests). */
  indexedObjects(): string[] {
    return this.indexed.objects();
  }

  /**
   * Starts watching a security group's document (reason: a local port in it) or a group's members (reason: a
   * group whose rules name it as remote): `prefix` is sgKey(g) or sgMembersPrefix(g). Reason-counted like
   * networks; without lazy sync everything is watched already and only the reasons are kept.
   */
  async wantSg(prefix: string, reason: string): Promise<void> {
    let reasons = this.wantedSg.get(prefix);
    if (!reasons) this.wantedSg.set(prefix, (reasons = new Set()));
    reasons.add(reason);
    if (!this.lazy || this.subscription.prefixes().includes(prefix)) return;
    await this.subscription.add(prefix);
  }

  /** Drops a reason; with none left the prefix is unwatched and what it held leaves the view. */
  async unwantSg(prefix: string, reason: string): Promise<void> {
    const reasons = this.wantedSg.get(prefix);
    if (!reasons) return;
    reasons.delete(reason);
    if (reasons.size > 0) return;
    this.wantedSg.delete(prefix);
    if (!this.lazy) return;
    await this.subscription.remove(prefix);
    // Wanted again meanwhile: its new snapshot replaces what the view holds under it (deleting here could take
    // that snapshot's keys).
    if (this.wantedSg.has(prefix)) return;
    for (const key of [...this.keysUnder(prefix)]) this.applyDelete(key);
  }

  /** The security-group prefixes wanted now (tests, status). */
  wantedSgPrefixes(): string[] {
    return [...this.wantedSg.keys()].sort();
  }

  private isSgWanted(key: string): boolean {
    if (!this.lazy) return true;
    for (const p of this.wantedSg.keys()) if (key.startsWith(p)) return true;
    return false;
  }

  /** Chassis whose key is watched (lazy sync), and those of them whose first read has not arrived yet. */
  private readonly wantedChassis = new Set<string>();
  private readonly loadingChassis = new Set<string>();

  /**
   * Starts watching one chassis's key (lazy sync; without it every chassis is watched already). Synchronous in
   * what it records: until its snapshot arrives `chassisSettled` is false, so nobody reads its absence from the
   * view as "dead" (elections wait). Resolves once the snapshot is in the view.
   */
  wantChassis(name: string): Promise<void> {
    if (!this.lazy || this.wantedChassis.has(name)) return Promise.resolve();
    this.wantedChassis.add(name);
    this.loadingChassis.add(name);
    return Promise.resolve(this.subscription.add(chassisKey(name), { exact: true })).then(
      () => undefined,
      (err: unknown) => this.logger.warn({ err, chassis: name }, 'chassis watch failed'),
    );
  }

  /** Stops watching a chassis's key; its record leaves the view at once (no stale record is kept). */
  async unwantChassis(name: string): Promise<void> {
    if (!this.lazy || !this.wantedChassis.delete(name)) return;
    this.loadingChassis.delete(name);
    await this.subscription.remove(chassisKey(name));
    if (this.wantedChassis.has(name)) return; // wanted again meanwhile: its new snapshot is on its way
    if (this.view.chassis.delete(name)) this.changes.changedChassis(name);
  }

  /** The chassis watched now (lazy sync), sorted. */
  watchedChassis(): string[] {
    return [...this.wantedChassis].sort();
  }

  /** Every wanted chassis key has been read once: an absent record means the chassis is not registered. */
  get chassisSettled(): boolean {
    return this.loadingChassis.size === 0;
  }

  private isChassisWanted(name: string): boolean {
    return !this.lazy || this.wantedChassis.has(name);
  }

  watchedNetworks(): string[] {
    return [...this.view.networks.keys()];
  }

  /** Why each network is wanted (its reasons: local ports' names, `router`, …), by network id (status). */
  networkReasons(networkId: string): string[] {
    return [...(this.wanted.get(networkId) ?? [])].sort();
  }

  /**
   * Networks wanted but not in the view (status): while their first read is on its way, for a moment; a network
   * that stays here is a bug (one did, before `settle`), and the status shows it.
   */
  networksNotInView(): { id: string; reasons: string[]; loading: boolean }[] {
    if (!this.lazy) return [];
    return [...this.wanted]
      .filter(([id]) => !this.view.networks.has(id))
      .map(([id, reasons]) => ({ id, reasons: [...reasons].sort(), loading: this.pending.has(id) }));
  }

  /**
   * Starts watching a network for a reason (a local port). Returns a promise that resolves once its snapshot
   * is in the view, or undefined when it already is (so a caller can go on in the same turn of the loop).
   */
  want(networkId: string, reason: string): Promise<void> | undefined {
    let reasons = this.wanted.get(networkId);
    const wasWanted = reasons !== undefined;
    if (!reasons) this.wanted.set(networkId, (reasons = new Set()));
    reasons.add(reason);
    if (!this.lazy) return;
    const pending = this.pending.get(networkId);
    // Wanted already: the last step queued was an add (an unwant that left no reason would have queued a removal,
    // and the want after it an add). A burst of ports binding in one network shares it.
    if (pending && wasWanted) return pending;
    if (!pending && this.watching(networkId)) return;
    return this.settle(networkId);
  }

  /** Drops a reason; the network is unwatched and forgotten when no reason is left. */
  async unwant(networkId: string, reason: string): Promise<void> {
    const reasons = this.wanted.get(networkId);
    if (!reasons) return;
    reasons.delete(reason);
    if (reasons.size > 0) return;
    this.wanted.delete(networkId);
    if (!this.lazy) return;
    await this.settle(networkId);
  }

  private watching(networkId: string): boolean {
    const prefixes = this.subscription.prefixes();
    return prefixes.includes(networkKey(networkId)) && prefixes.includes(netPrefix(networkId));
  }

  /**
   * Brings a network's two watches (its record, its prefix) and its place in the view in line with whether it is
   * wanted now, once whatever runs for it already is done. One at a time per network: a removal that ran under an
   * add (or the reverse) left a network wanted but neither watched nor in the view, for good (RouterReach wants and
   * unwants from concurrent updates).
   */
  private settle(networkId: string): Promise<void> {
    const before = this.pending.get(networkId);
    const run = (before ? before.catch(() => undefined) : Promise.resolve()).then(() => this.settleNow(networkId));
    const tracked: Promise<void> = run.finally(() => {
      if (this.pending.get(networkId) === tracked) this.pending.delete(networkId);
    });
    this.pending.set(networkId, tracked);
    return tracked;
  }

  private async settleNow(networkId: string): Promise<void> {
    const reasons = this.wanted.get(networkId);
    if (reasons) {
      this.logger.debug({ network: networkId, reasons: [...reasons] }, 'watching a network');
      await this.subscription.add(networkKey(networkId));
      await this.subscription.add(netPrefix(networkId));
      // Its routers and FIPs too: flows computed when this resolves route from the start.
      await this.indexed.whenLoaded(netPrefix(networkId));
      return;
    }
    this.logger.debug({ network: networkId }, 'unwatching a network: no reason left');
    await this.subscription.remove(netPrefix(networkId));
    await this.subscription.remove(networkKey(networkId));
    for (const ref of [...this.indexed.refsUnder(netPrefix(networkId))]) this.indexed.delete(ref);
    if (this.view.networks.delete(networkId)) this.changes.changed(networkId);
  }

  /**
   * A prefix's full content (first read or after compaction): replaces what the view had under it. `cached`: the
   * on-disk cache's, not the store's (the store did not answer): it does not lift a gateway fence (store-apply.ts).
   */
  applySnapshot(prefix: string, kvs: KeyValue[], opts: { cached?: boolean } = {}): void {
    const present = new Set(kvs.map((kv) => kv.key));
    this.applier.fromCache = opts.cached === true;
    try {
      for (const key of this.keysUnder(prefix)) if (!present.has(key)) this.applyDelete(key);
      for (const kv of kvs) this.applyPut(kv.key, kv.value);
    } finally {
      this.applier.fromCache = false;
    }
    // One chassis's key read (lazy sync): absent or not, the chassis is known now — elections waiting may go on.
    if (prefix !== CHASSIS_PREFIX && prefix.startsWith(CHASSIS_PREFIX)) {
      const name = prefix.slice(CHASSIS_PREFIX.length);
      if (this.loadingChassis.delete(name) && !present.has(prefix)) this.changes.changedChassis(name);
    }
  }

  /** A key's document was put in the store (store-apply.ts). */
  applyPut(key: string, value: string): void {
    this.applier.put(key, value);
  }

  /** A key was deleted from the store (store-apply.ts). */
  applyDelete(key: string): void {
    this.applier.delete(key);
  }

  private *keysUnder(prefix: string): Generator<string> {
    yield* this.indexed.refsUnder(prefix);
    if (prefix === CHASSIS_PREFIX) for (const n of this.view.chassis.keys()) yield chassisKey(n);
    else if (prefix.startsWith(CHASSIS_PREFIX)) {
      // One chassis's key (a one-key entry): only that key, never the longer names it prefixes (hv1 → hv10).
      if (this.view.chassis.has(prefix.slice(CHASSIS_PREFIX.length))) yield prefix;
      return;
    } else if (prefix.startsWith(ROUTERS_PREFIX)) {
      // The whole list (lazy sync off) or one router's key (lazy sync).
      for (const id of this.view.routers.keys()) if (routerKey(id).startsWith(prefix)) yield routerKey(id);
      return;
    } else if (prefix.startsWith(FIPS_PREFIX)) {
      for (const id of this.view.floatingIps.keys()) if (fipKey(id).startsWith(prefix)) yield fipKey(id);
      return;
    } else if (prefix.startsWith(GATEWAYS_PREFIX)) {
      for (const id of this.view.gateways.keys()) if (gatewayKey(id).startsWith(prefix)) yield gatewayKey(id);
      return;
    }
    if (prefix === CENTERS_PREFIX) for (const id of this.view.centers.keys()) yield centerKey(id);
    else if (prefix === SITES_PREFIX) for (const id of this.view.sites.keys()) yield siteKey(id);
    else if (prefix === SITE_GATEWAYS_PREFIX) for (const id of this.view.siteGateways.keys()) yield siteGatewayKey(id);
    else if (prefix.startsWith(SG_PREFIX)) {
      for (const id of this.view.securityGroups.keys()) if (sgKey(id).startsWith(prefix)) yield sgKey(id);
      return;
    } else if (prefix.startsWith(SG_MEMBERS_PREFIX)) {
      for (const [g, members] of this.view.sgMembers)
        if (sgMembersPrefix(g).startsWith(prefix) || prefix.startsWith(sgMembersPrefix(g)))
          for (const p of members.keys()) if (sgMemberKey(g, p).startsWith(prefix)) yield sgMemberKey(g, p);
      return;
    }
    for (const [id, net] of this.view.networks) {
      if (networkKey(id).startsWith(prefix) && net.network.tunnelKey !== 0) yield networkKey(id);
      const np = netPrefix(id);
      if (!np.startsWith(prefix) && !prefix.startsWith(np)) continue;
      for (const sid of net.subnets.keys()) {
        const key = `${np}subnets/${sid}`;
        if (key.startsWith(prefix)) yield key;
      }
      for (const [pid, ps] of net.ports) {
        const key = `${np}ports/${pid}`;
        if (key.startsWith(prefix)) yield key;
        const bkey = `${np}bindings/${pid}`;
        if (ps.binding && bkey.startsWith(prefix)) yield bkey;
      }
    }
  }

  /** Whether this chassis is a gateway candidate of any site: it then watches every overlay network (lazy sync). */
  private relay = false;

  /** Site records changed: the elections run, and a chassis that became (or stopped being) a candidate re-scopes its watches. */
  private siteCandidatesChanged(): void {
    const me = this.view.chassisName;
    const candidate = [...this.view.sites.values()].some((s) => s.gatewayCandidates.includes(me));
    if (candidate !== this.relay) {
      this.relay = candidate;
      if (this.lazy) void this.rescopeRelay(candidate).catch((err) => this.logger.warn({ err }, 'site gateway watch change failed'));
    }
    this.emit('change', { networks: new Set<string>(), all: false, elections: true } satisfies ViewChange);
  }

  private async rescopeRelay(candidate: boolean): Promise<void> {
    if (candidate) {
      // Every network record: each overlay one is wanted as it arrives (applyPut 'network').
      await this.subscription.add(NETWORKS_PREFIX);
      for (const [id, net] of this.view.networks) if (!net.network.provider) void this.want(id, RELAY_REASON);
      return;
    }
    await this.subscription.remove(NETWORKS_PREFIX);
    for (const [id, reasons] of [...this.wanted]) if (reasons.has(RELAY_REASON)) await this.unwant(id, RELAY_REASON);
  }

  /** Whether this chassis watches every overlay network as a site gateway candidate (status, tests). */
  get relaying(): boolean {
    return this.relay;
  }
}
