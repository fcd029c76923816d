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
  parseKey,
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
import {
  decodeBinding,
  decodeCenterLease,
  decodeChassis,
  decodeFloatingIp,
  decodeGatewayLease,
  decodeNetwork,
  decodePort,
  decodeRouter,
  decodeSecurityGroup,
  decodeSgMember,
  decodeSite,
  decodeSiteGatewayLease,
  decodeSubnet,
} from '../model/codec.js';
import type {
  Binding,
  CenterLease,
  Chassis,
  FloatingIp,
  GatewayLease,
  Network,
  Port,
  Router,
  SecurityGroup,
  SgMember,
  Site,
  SiteGatewayLease,
  Subnet,
} from '../model/types.js';
import type { KeyValue } from '../store/types.js';
import type { Logger } from '../util/log.js';
import { IndexedObjects } from './indexed-objects.js';
import { networksUsingGroup } from './security-groups.js';
import { sameLocation, type NetworkState, type TopologyView } from './topology-view.js';

/** Store documents are decoded (validated) by their key's kind before they enter the view. */
const DECODERS = {
  chassis: decodeChassis,
  router: decodeRouter,
  network: decodeNetwork,
  subnet: decodeSubnet,
  port: decodePort,
  binding: decodeBinding,
  'security-group': decodeSecurityGroup,
  'sg-member': decodeSgMember,
  'floating-ip': decodeFloatingIp,
  gateway: decodeGatewayLease,
  center: decodeCenterLease,
  site: decodeSite,
  'site-gateway': decodeSiteGatewayLease,
} as const;

/** The reason a site gateway candidate watches a network it hosts no port of: it relays the network between sites. */
export const RELAY_REASON = 'site-gateway-candidate';

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
   * site-gateway lease names it (then `all`). The agent re-checks peer reachability and its gateway elections.
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
  private readonly pending = new Map<string, Promise<void>>();
  /** Keys whose current document failed to decode (warned once each). */
  private readonly undecodable = new Set<string>();
  /** Lazy sync: the routers, gateway leases and FIPs named by the index under the watched prefixes. */
  private readonly indexed: IndexedObjects;

  constructor(
    private readonly view: TopologyView,
    private readonly subscription: Subscription,
    private readonly logger: Logger,
    private readonly lazy: boolean,
  ) {
    super();
    this.indexed = new IndexedObjects(subscription, logger, view.chassisName, (key) => this.applyDelete(key));
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
    if (this.view.chassis.delete(name)) this.changedChassis(name);
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

  /**
   * Starts watching a network for a reason (a local port). Returns a promise that resolves once its snapshot
   * is in the view, or undefined when it already is (so a caller can go on in the same turn of the loop).
   */
  want(networkId: string, reason: string): Promise<void> | undefined {
    let reasons = this.wanted.get(networkId);
    if (!reasons) this.wanted.set(networkId, (reasons = new Set()));
    reasons.add(reason);
    if (!this.lazy) return;
    const inFlight = this.pending.get(networkId);
    if (inFlight) return inFlight;
    if (this.subscription.prefixes().includes(netPrefix(networkId))) return;
    const p = (async () => {
      await this.subscription.add(networkKey(networkId));
      await this.subscription.add(netPrefix(networkId));
      // Its routers and FIPs too: flows computed when this resolves route from the start.
      await this.indexed.whenLoaded(netPrefix(networkId));
    })().finally(() => this.pending.delete(networkId));
    this.pending.set(networkId, p);
    return p;
  }

  /** Drops a reason; the network is unwatched and forgotten when no reason is left. */
  async unwant(networkId: string, reason: string): Promise<void> {
    const reasons = this.wanted.get(networkId);
    if (!reasons) return;
    reasons.delete(reason);
    if (reasons.size > 0) return;
    this.wanted.delete(networkId);
    if (!this.lazy) return;
    await this.subscription.remove(netPrefix(networkId));
    await this.subscription.remove(networkKey(networkId));
    for (const ref of [...this.indexed.refsUnder(netPrefix(networkId))]) this.indexed.delete(ref);
    if (this.view.networks.delete(networkId)) this.changed(networkId);
  }

  /** A prefix's full content (first read or after compaction): replaces what the view had under it. */
  applySnapshot(prefix: string, kvs: KeyValue[]): void {
    const present = new Set(kvs.map((kv) => kv.key));
    for (const key of this.keysUnder(prefix)) if (!present.has(key)) this.applyDelete(key);
    for (const kv of kvs) this.applyPut(kv.key, kv.value);
    // One chassis's key read (lazy sync): absent or not, the chassis is known now — elections waiting may go on.
    if (prefix !== CHASSIS_PREFIX && prefix.startsWith(CHASSIS_PREFIX)) {
      const name = prefix.slice(CHASSIS_PREFIX.length);
      if (this.loadingChassis.delete(name) && !present.has(prefix)) this.changedChassis(name);
    }
  }

  applyPut(key: string, value: string): void {
    const k = parseKey(key);
    if (!k) return;
    if (k.kind === 'router-ref' || k.kind === 'fip-ref' || k.kind === 'gateway-of') {
      // Without lazy sync everything is watched already. An event racing a network's unwatch must not start
      // watches nothing would stop.
      if (this.lazy && (k.kind === 'gateway-of' || this.wanted.has(k.networkId))) this.indexed.put(key, k);
      return;
    }
    const decode = DECODERS[k.kind as keyof typeof DECODERS] as ((v: string, at: string) => unknown) | undefined;
    if (!decode) return;
    let doc: unknown;
    try {
      doc = decode(value, k.kind);
    } catch (err) {
      // Foreign or corrupt data never reaches the apps; one warning per key until it changes to something valid.
      if (!this.undecodable.has(key))
        this.logger.warn({ key, err: (err as Error).message }, 'ignoring a store document that does not decode');
      this.undecodable.add(key);
      return;
    }
    this.undecodable.delete(key);
    switch (k.kind) {
      case 'chassis':
        // A prefix watch of one chassis's key also carries longer names (hv1 → hv10): only wanted ones enter.
        if (!this.isChassisWanted(k.name)) return;
        this.view.chassis.set(k.name, doc as Chassis);
        this.changedChassis(k.name);
        return;
      case 'router':
        // An event racing an unwatch must not bring back what the unwatch removed.
        if (this.lazy && !this.indexed.has(key)) return;
        this.view.routers.set(k.routerId, doc as Router);
        this.changedAll();
        return;
      case 'floating-ip':
        if (this.lazy && !this.indexed.has(key)) return;
        this.view.floatingIps.set(k.fipId, doc as FloatingIp);
        this.changedAll();
        return;
      case 'gateway': {
        const lease = doc as GatewayLease;
        // The key names the router: a document naming another is foreign data.
        if (lease.routerId !== k.routerId) return;
        if (this.lazy && !this.indexed.has(key)) return;
        const prev = this.view.gateways.get(k.routerId);
        this.view.gateways.set(k.routerId, lease);
        // A lease moved to a new etcd lease by the same chassis (a planned restart) changes no flow.
        if (prev?.chassis !== lease.chassis) this.changedAll();
        return;
      }
      case 'center': {
        const lease = doc as CenterLease;
        if (lease.networkId !== k.networkId) return;
        const prev = this.view.centers.get(k.networkId);
        this.view.centers.set(k.networkId, lease);
        // A center moved to a new etcd lease by the same chassis (a planned restart) changes no flow.
        if (prev?.chassis !== lease.chassis) this.changed(k.networkId, true);
        return;
      }
      case 'site-gateway': {
        const lease = doc as SiteGatewayLease;
        if (lease.site !== k.site) return;
        const prev = this.view.siteGateways.get(k.site);
        this.view.siteGateways.set(k.site, lease);
        if (prev?.chassis !== lease.chassis) this.changedOverlay();
        return;
      }
      case 'site': {
        const site = doc as Site;
        if (site.name !== k.site) return;
        this.view.sites.set(k.site, site);
        this.siteCandidatesChanged();
        return;
      }
      case 'security-group':
        // An event racing an unwatch must not bring back what the unwatch removed.
        if (!this.isSgWanted(key)) return;
        this.view.securityGroups.set(k.groupId, doc as SecurityGroup);
        this.changedGroups(networksUsingGroup(this.view, k.groupId, false));
        return;
      case 'sg-member': {
        if (!this.isSgWanted(key)) return;
        let members = this.view.sgMembers.get(k.groupId);
        if (!members) this.view.sgMembers.set(k.groupId, (members = new Map()));
        members.set(k.portId, doc as SgMember);
        this.changedGroups(networksUsingGroup(this.view, k.groupId, true));
        return;
      }
      case 'network': {
        const existing = this.view.networks.get(k.networkId);
        // A site gateway candidate relays every overlay network between sites: it watches them all.
        if (!existing && this.relay && !(doc as Network).provider) void this.want(k.networkId, RELAY_REASON);
        if (existing) existing.network = doc as Network;
        else if (this.isWanted(k.networkId))
          this.view.networks.set(k.networkId, { network: doc as Network, subnets: new Map(), ports: new Map() });
        this.changed(k.networkId);
        return;
      }
      case 'subnet':
        this.netState(k.networkId).subnets.set(k.subnetId, doc as Subnet);
        this.changed(k.networkId);
        return;
      case 'port': {
        const net = this.netState(k.networkId);
        const prev = net.ports.get(k.portId);
        // A snapshot lists bindings/ before ports/: a binding read first waits here for its port.
        const bkey = `${netPrefix(k.networkId)}bindings/${k.portId}`;
        const orphan = this.orphanBindings.get(bkey);
        this.orphanBindings.delete(bkey);
        net.ports.set(k.portId, { port: doc as Port, binding: prev?.binding ?? orphan });
        this.changedPort(k.networkId, k.portId);
        return;
      }
      case 'binding': {
        const net = this.netState(k.networkId);
        const ps = net.ports.get(k.portId);
        if (!ps) {
          this.orphanBindings.set(key, doc as Binding);
          this.changed(k.networkId);
          return;
        }
        const before = this.view.locate(net, ps);
        const owner = ps.binding?.chassis;
        ps.binding = doc as Binding;
        // Flows depend on where a port is, not on its binding record: this agent's own binding coming back
        // for a VIF it already serves (or a rewrite of the same binding) changes nothing to recompute. A new remote
        // owner does even when neither location is known yet: lazy chassis watching must read the owner's record.
        const newRemoteOwner = owner !== ps.binding.chassis && ps.binding.chassis !== this.view.chassisName;
        if (!sameLocation(before, this.view.locate(net, ps)) || newRemoteOwner) this.changedPort(k.networkId, k.portId);
        return;
      }
      default:
        return;
    }
  }

  applyDelete(key: string): void {
    this.undecodable.delete(key);
    const k = parseKey(key);
    if (!k) return;
    switch (k.kind) {
      case 'router-ref':
      case 'fip-ref':
      case 'gateway-of':
        this.indexed.delete(key);
        return;
      case 'chassis':
        if (this.view.chassis.delete(k.name)) this.changedChassis(k.name);
        return;
      case 'router':
        if (this.view.routers.delete(k.routerId)) this.changedAll();
        return;
      case 'floating-ip':
        if (this.view.floatingIps.delete(k.fipId)) this.changedAll();
        return;
      case 'gateway':
        if (this.view.gateways.delete(k.routerId)) this.changedAll();
        return;
      case 'center':
        if (this.view.centers.delete(k.networkId)) this.changed(k.networkId, true);
        return;
      case 'site-gateway':
        if (this.view.siteGateways.delete(k.site)) this.changedOverlay();
        return;
      case 'site':
        if (this.view.sites.delete(k.site)) this.siteCandidatesChanged();
        return;
      case 'security-group':
        if (this.view.securityGroups.delete(k.groupId)) this.changedGroups(networksUsingGroup(this.view, k.groupId, false));
        return;
      case 'sg-member': {
        const members = this.view.sgMembers.get(k.groupId);
        if (!members?.delete(k.portId)) return;
        if (members.size === 0) this.view.sgMembers.delete(k.groupId);
        this.changedGroups(networksUsingGroup(this.view, k.groupId, true));
        return;
      }
      case 'network':
        this.view.networks.delete(k.networkId);
        this.changed(k.networkId);
        if (this.wanted.get(k.networkId)?.has(RELAY_REASON)) void this.unwant(k.networkId, RELAY_REASON);
        return;
      case 'subnet':
        this.view.networks.get(k.networkId)?.subnets.delete(k.subnetId);
        this.changed(k.networkId);
        return;
      case 'port': {
        const ports = this.view.networks.get(k.networkId)?.ports;
        const gone = ports?.get(k.portId);
        ports?.delete(k.portId);
        this.orphanBindings.delete(`${netPrefix(k.networkId)}bindings/${k.portId}`);
        this.changedPort(k.networkId, k.portId);
        // The binding manager follows its ports' deletions here, through the network it watches anyway.
        if (gone) this.emit('portRemoved', { networkId: k.networkId, portId: k.portId, name: gone.port.name } satisfies PortRemoved);
        return;
      }
      case 'binding': {
        this.orphanBindings.delete(key);
        const net = this.view.networks.get(k.networkId);
        const ps = net?.ports.get(k.portId);
        if (!net || !ps) return;
        const before = this.view.locate(net, ps);
        const owner = ps.binding?.chassis;
        ps.binding = undefined;
        if (!sameLocation(before, this.view.locate(net, ps)) || (owner !== undefined && owner !== this.view.chassisName))
          this.changedPort(k.networkId, k.portId);
        return;
      }
      default:
        return;
    }
  }

  /** Bindings seen before their port (the port arrives in a later event of the same snapshot or revision). */
  private readonly orphanBindings = new Map<string, Binding>();

  private isWanted(networkId: string): boolean {
    return !this.lazy || this.wanted.has(networkId);
  }

  /** Network state, created on first sight (a network's children may arrive before the network itself). */
  private netState(networkId: string): NetworkState {
    let net = this.view.networks.get(networkId);
    if (!net) {
      net = {
        network: { id: networkId, name: '', tunnelKey: 0, mtu: 1500 },
        subnets: new Map(),
        ports: new Map(),
      };
      this.view.networks.set(networkId, net);
    }
    return net;
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

  private changed(networkId: string, elections = false): void {
    this.emit('change', { networks: new Set([networkId]), all: false, ...(elections ? { elections } : {}) } satisfies ViewChange);
  }

  /** A site's gateway changed: every overlay network's flows may name it (issue 16). */
  private changedOverlay(): void {
    const networks = new Set<string>();
    for (const [id, net] of this.view.networks) if (!net.network.provider) networks.add(id);
    this.emit('change', { networks, all: false, elections: true } satisfies ViewChange);
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

  /** One port of a network changed (its document or where it is bound): see ViewChange.ports. */
  private changedPort(networkId: string, portId: string): void {
    this.emit('change', { networks: new Set([networkId]), all: false, ports: new Set([portId]) } satisfies ViewChange);
  }

  /** A security group or a group's members changed: only the flows of apps that read groups, in `networks`. */
  private changedGroups(networks: Set<string>): void {
    if (networks.size > 0) this.emit('change', { networks, all: false, securityGroupsOnly: true } satisfies ViewChange);
  }

  /**
   * A chassis came, changed or went. Lazy sync's promise is that a hypervisor's work follows its own networks: a
   * chassis with no port in them, no lease they depend on, changes none of its flows — joins, restarts and deaths of
   * the other 999 hypervisors do not recompute everything here (the scale harness saw each one cost a full recompute
   * on every chassis).
   */
  private changedChassis(name: string): void {
    const v = this.view;
    const leased = (leases: Iterable<{ chassis: string }>) => [...leases].some((l) => l.chassis === name);
    if (leased(v.gateways.values()) || leased(v.centers.values()) || leased(v.siteGateways.values())) {
      this.emit('change', { networks: new Set<string>(), all: true, chassis: name } satisfies ViewChange);
      return;
    }
    const networks = new Set<string>();
    for (const net of v.networks.values())
      for (const ps of net.ports.values())
        if (ps.binding?.chassis === name) {
          networks.add(net.network.id);
          break;
        }
    this.emit('change', { networks, all: false, chassis: name } satisfies ViewChange);
  }

  private changedAll(): void {
    this.emit('change', { networks: new Set<string>(), all: true } satisfies ViewChange);
  }
}
