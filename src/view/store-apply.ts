/**
 * The per-key-kind handlers of the topology sync: a store key put or deleted is decoded (validated) by its key's
 * kind, checked against what is wanted (lazy sync: an event racing an unwatch must not bring back what the unwatch
 * removed), written into the view, and reported as the change it is (view-changes.ts). Kept apart from TopologySync,
 * which decides what is watched: this module only applies what arrives, through the explicit KeyApplierDeps.
 */
import { netPrefix, parseKey } from '../model/keys.js';
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
import type * as Doc from '../model/types.js';
import type { Logger } from '../util/log.js';
import type { IndexedObjects } from './indexed-objects.js';
import { networksUsingGroup } from './security-groups.js';
import type { PortRemoved } from './topology-sync.js';
import { sameLocation, type NetworkState, type TopologyView } from './topology-view.js';
import type { ViewChanges } from './view-changes.js';

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

/** Puts a lease (gateway, center, site gateway) into the view; whether its holder is another chassis than before. */
function holderChanged<L extends { chassis: string }>(leases: Map<string, L>, id: string, lease: L): boolean {
  const prev = leases.get(id);
  leases.set(id, lease);
  return prev?.chassis !== lease.chassis;
}

/** What the handlers read of the sync's bookkeeping, and what they ask of it. */
export interface KeyApplierDeps {
  view: TopologyView;
  /** Lazy sync: only what is wanted enters the view. */
  lazy: boolean;
  logger: Logger;
  /** The routers, gateway leases and FIPs named by the lazy index. */
  indexed: IndexedObjects;
  changes: ViewChanges;
  /** Networks wanted, with their reasons. */
  wanted: ReadonlyMap<string, ReadonlySet<string>>;
  isChassisWanted(name: string): boolean;
  isSgWanted(key: string): boolean;
  /** Whether this chassis watches every overlay network as a site gateway candidate. */
  relaying(): boolean;
  want(networkId: string, reason: string): Promise<void> | undefined;
  unwant(networkId: string, reason: string): Promise<void>;
  /** Site records changed (the elections run; the relay's watches may change). */
  siteCandidatesChanged(): void;
  /** A port that was in the view was deleted ('portRemoved'). */
  portRemoved(ev: PortRemoved): void;
}

export class KeyApplier {
  /** Keys whose current document failed to decode (warned once each). */
  private readonly undecodable = new Set<string>();
  /** Bindings seen before their port (the port arrives in a later event of the same snapshot or revision). */
  private readonly orphanBindings = new Map<string, Doc.Binding>();

  /** Set while a snapshot from the agent's on-disk cache is applied (not the store's word). */
  fromCache = false;

  constructor(private readonly d: KeyApplierDeps) {}

  /** A key's document was put: decoded by its key's kind, then into the view if it is wanted. */
  put(key: string, value: string): void {
    const d = this.d;
    const k = parseKey(key);
    if (!k) return;
    if (k.kind === 'router-ref' || k.kind === 'fip-ref' || k.kind === 'gateway-of') {
      // Without lazy sync everything is watched already. An event racing a network's unwatch must not start
      // watches nothing would stop.
      if (d.lazy && (k.kind === 'gateway-of' || d.wanted.has(k.networkId))) d.indexed.put(key, k);
      return;
    }
    const decode = DECODERS[k.kind as keyof typeof DECODERS] as ((v: string, at: string) => unknown) | undefined;
    if (!decode) return;
    let doc: unknown;
    try {
      doc = decode(value, k.kind);
    } catch (err) {
      // Foreign or corrupt data never reaches the apps; one warning per key until it changes to something valid.
      if (!this.undecodable.has(key)) d.logger.warn({ key, err: (err as Error).message }, 'ignoring a store document that does not decode');
      this.undecodable.add(key);
      return;
    }
    this.undecodable.delete(key);
    switch (k.kind) {
      case 'chassis': {
        // A prefix watch of one chassis's key also carries longer names (hv1 → hv10): only wanted ones enter.
        if (!d.isChassisWanted(k.name)) return;
        const before = d.view.chassis.get(k.name);
        const after = doc as Doc.Chassis;
        d.view.chassis.set(k.name, after);
        if (before && sameForFlows(before, after)) d.changes.changedChassisRecord(k.name);
        else d.changes.changedChassis(k.name);
        return;
      }
      case 'router':
        // An event racing an unwatch must not bring back what the unwatch removed.
        if (d.lazy && !d.indexed.has(key)) return;
        d.view.routers.set(k.routerId, doc as Doc.Router);
        d.changes.changedAll();
        return;
      case 'floating-ip':
        if (d.lazy && !d.indexed.has(key)) return;
        d.view.floatingIps.set(k.fipId, doc as Doc.FloatingIp);
        d.changes.changedAll();
        return;
      case 'gateway': {
        const lease = doc as Doc.GatewayLease;
        // The key names the router: a document naming another is foreign data.
        if (lease.routerId !== k.routerId) return;
        if (d.lazy && !d.indexed.has(key)) return;
        // A lease moved to a new etcd lease by the same chassis (a planned restart) changes no flow. The store's copy
        // lifts a fence (the view's lease was fenced while the store could not be asked): the flows follow it again.
        // The cache's copy is not: a fence on this chassis's lease moves onto it (a prefix re-added during the outage).
        if (this.fromCache && d.view.gatewayFences.has(k.routerId) && lease.chassis === d.view.chassisName) {
          d.view.gateways.set(k.routerId, lease);
          d.view.gatewayFences.set(k.routerId, lease);
          return;
        }
        const unfenced = d.view.gatewayFences.delete(k.routerId);
        if (holderChanged(d.view.gateways, k.routerId, lease) || unfenced) d.changes.changedAll();
        return;
      }
      case 'center': {
        const lease = doc as Doc.CenterLease;
        if (lease.networkId !== k.networkId) return;
        // A center moved to a new etcd lease by the same chassis (a planned restart) changes no flow.
        if (holderChanged(d.view.centers, k.networkId, lease)) d.changes.changed(k.networkId, true);
        return;
      }
      case 'site-gateway': {
        const lease = doc as Doc.SiteGatewayLease;
        if (lease.site !== k.site) return;
        if (holderChanged(d.view.siteGateways, k.site, lease)) d.changes.changedOverlay();
        return;
      }
      case 'site': {
        const site = doc as Doc.Site;
        if (site.name !== k.site) return;
        d.view.sites.set(k.site, site);
        d.siteCandidatesChanged();
        return;
      }
      case 'security-group':
        // An event racing an unwatch must not bring back what the unwatch removed.
        if (!d.isSgWanted(key)) return;
        d.view.securityGroups.set(k.groupId, doc as Doc.SecurityGroup);
        d.changes.changedGroups(networksUsingGroup(d.view, k.groupId, false));
        return;
      case 'sg-member': {
        if (!d.isSgWanted(key)) return;
        let members = d.view.sgMembers.get(k.groupId);
        if (!members) d.view.sgMembers.set(k.groupId, (members = new Map()));
        members.set(k.portId, doc as Doc.SgMember);
        d.changes.changedGroups(networksUsingGroup(d.view, k.groupId, true));
        return;
      }
      case 'network': {
        const existing = d.view.networks.get(k.networkId);
        // A site gateway candidate relays every overlay network between sites: it watches them all.
        if (!existing && d.relaying() && !(doc as Doc.Network).provider) void d.want(k.networkId, RELAY_REASON);
        if (existing) existing.network = doc as Doc.Network;
        else if (this.isWanted(k.networkId))
          d.view.networks.set(k.networkId, { network: doc as Doc.Network, subnets: new Map(), ports: new Map() });
        d.changes.changed(k.networkId);
        return;
      }
      case 'subnet':
        this.netState(k.networkId).subnets.set(k.subnetId, doc as Doc.Subnet);
        d.changes.changed(k.networkId);
        return;
      case 'port': {
        const net = this.netState(k.networkId);
        const prev = net.ports.get(k.portId);
        // A snapshot lists bindings/ before ports/: a binding read first waits here for its port.
        const bkey = `${netPrefix(k.networkId)}bindings/${k.portId}`;
        const orphan = this.orphanBindings.get(bkey);
        this.orphanBindings.delete(bkey);
        net.ports.set(k.portId, { port: doc as Doc.Port, binding: prev?.binding ?? orphan });
        d.changes.changedPort(k.networkId, k.portId);
        return;
      }
      case 'binding': {
        const net = this.netState(k.networkId);
        const ps = net.ports.get(k.portId);
        if (!ps) {
          this.orphanBindings.set(key, doc as Doc.Binding);
          d.changes.changed(k.networkId);
          return;
        }
        const before = d.view.locate(net, ps);
        const owner = ps.binding?.chassis;
        ps.binding = doc as Doc.Binding;
        // Flows depend on where a port is, not on its binding record: this agent's own binding coming back
        // for a VIF it already serves (or a rewrite of the same binding) changes nothing to recompute. A new remote
        // owner does even when neither location is known yet: lazy chassis watching must read the owner's record.
        const newRemoteOwner = owner !== ps.binding.chassis && ps.binding.chassis !== d.view.chassisName;
        if (!sameLocation(before, d.view.locate(net, ps)) || newRemoteOwner) d.changes.changedPort(k.networkId, k.portId);
        return;
      }
      default:
        return;
    }
  }

  /** A key was deleted: what it held leaves the view. */
  delete(key: string): void {
    const d = this.d;
    this.undecodable.delete(key);
    const k = parseKey(key);
    if (!k) return;
    switch (k.kind) {
      case 'router-ref':
      case 'fip-ref':
      case 'gateway-of':
        d.indexed.delete(key);
        return;
      case 'chassis':
        if (d.view.chassis.delete(k.name)) d.changes.changedChassis(k.name);
        return;
      case 'router':
        if (d.view.routers.delete(k.routerId)) d.changes.changedAll();
        return;
      case 'floating-ip':
        if (d.view.floatingIps.delete(k.fipId)) d.changes.changedAll();
        return;
      case 'gateway':
        d.view.gatewayFences.delete(k.routerId);
        if (d.view.gateways.delete(k.routerId)) d.changes.changedAll();
        return;
      case 'center':
        if (d.view.centers.delete(k.networkId)) d.changes.changed(k.networkId, true);
        return;
      case 'site-gateway':
        if (d.view.siteGateways.delete(k.site)) d.changes.changedOverlay();
        return;
      case 'site':
        if (d.view.sites.delete(k.site)) d.siteCandidatesChanged();
        return;
      case 'security-group':
        if (d.view.securityGroups.delete(k.groupId)) d.changes.changedGroups(networksUsingGroup(d.view, k.groupId, false));
        return;
      case 'sg-member': {
        const members = d.view.sgMembers.get(k.groupId);
        if (!members?.delete(k.portId)) return;
        if (members.size === 0) d.view.sgMembers.delete(k.groupId);
        d.changes.changedGroups(networksUsingGroup(d.view, k.groupId, true));
        return;
      }
      case 'network':
        d.view.networks.delete(k.networkId);
        d.changes.changed(k.networkId);
        if (d.wanted.get(k.networkId)?.has(RELAY_REASON)) void d.unwant(k.networkId, RELAY_REASON);
        return;
      case 'subnet':
        d.view.networks.get(k.networkId)?.subnets.delete(k.subnetId);
        d.changes.changed(k.networkId);
        return;
      case 'port': {
        const ports = d.view.networks.get(k.networkId)?.ports;
        const gone = ports?.get(k.portId);
        ports?.delete(k.portId);
        this.orphanBindings.delete(`${netPrefix(k.networkId)}bindings/${k.portId}`);
        d.changes.changedPort(k.networkId, k.portId);
        // The binding manager follows its ports' deletions here, through the network it watches anyway.
        if (gone) d.portRemoved({ networkId: k.networkId, portId: k.portId, name: gone.port.name } satisfies PortRemoved);
        return;
      }
      case 'binding': {
        this.orphanBindings.delete(key);
        const net = d.view.networks.get(k.networkId);
        const ps = net?.ports.get(k.portId);
        if (!net || !ps) return;
        const before = d.view.locate(net, ps);
        const owner = ps.binding?.chassis;
        ps.binding = undefined;
        if (!sameLocation(before, d.view.locate(net, ps)) || (owner !== undefined && owner !== d.view.chassisName))
          d.changes.changedPort(k.networkId, k.portId);
        return;
      }
      default:
        return;
    }
  }

  private isWanted(networkId: string): boolean {
    return !this.d.lazy || this.d.wanted.has(networkId);
  }

  /** Network state, created on first sight (a network's children may arrive before the network itself). */
  private netState(networkId: string): NetworkState {
    let net = this.d.view.networks.get(networkId);
    if (!net) {
      net = {
        network: { id: networkId, name: '', tunnelKey: 0, mtu: 1500 },
        subnets: new Map(),
        ports: new Map(),
      };
      this.d.view.networks.set(networkId, net);
    }
    return net;
  }
}

/**
 * Whether two records of one chassis give every flow the same: flows read a peer's tunnel IP, encapsulations and
 * site (topology-view.ts locate, overlay-paths.ts), nothing else of its record.
 */
function sameForFlows(a: Doc.Chassis, b: Doc.Chassis): boolean {
  return (
    a.tunnelIp === b.tunnelIp && a.site === b.site && a.encaps.length === b.encaps.length && a.encaps.every((e, i) => e === b.encaps[i])
  );
}
