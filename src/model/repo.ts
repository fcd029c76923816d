/**
 * The Topology repository: create/get/list/delete of networks, subnets and ports over a Store.
 * Every mutation is ONE store transaction whose compares make a rejected or racing request
 * write nothing; routers live in routers.ts, export/import in topology-io.ts.
 */
import { randomUUID } from 'node:crypto';
import { silentLogger, type Logger } from '../util/log.js';
import type { Compare, Store, TxnOp } from '../store/types.js';
import { inTurn, pickFree, poolFlight, runCas, throughOutage, writeOptions, type CasOptions } from './cas.js';
import { revisionOf, withRevision, type IfMatch } from './precondition.js';
import { decodeBinding, decodeNetwork, decodePort, decodeSubnet, encodeNetwork, encodePort, encodeSubnet } from './codec.js';
import { conflict } from './errors.js';
import { cidrsOverlap, intToIp, type Cidr } from '../net/addr.js';
import { parseSubnetCidr } from './addr-rules.js';
import {
  allocKey,
  bindingKey,
  claimsPrefix,
  guardKey,
  portFipsGuardKey,
  nameKey,
  NETWORKS_PREFIX,
  netGuardsPrefix,
  netPrefix,
  networkKey,
  portIdKey,
  subnetGuardKey,
  subnetKey,
} from './keys.js';
import {
  claimedNames,
  createdAs,
  deletedAs,
  encodeClaim,
  guardCompare,
  ipOwners,
  loadNetState,
  portFipState,
  loadNetwork,
  loadPort,
  loadSubnet,
  portsCompare,
  readNetContents,
  subnetPortsCompare,
} from './read.js';
import { releasePort } from './port-claims.js';
import { PortCreator } from './port-create.js';
import * as routers from './routers.js';
import { exportTopology, importTopology, type ImportResult } from './topology-io.js';
import type { Binding, FloatingIp, Network, Port, Router, SecurityGroup, SgRule, Subnet, TopologyDocument } from './types.js';
import { parseNetworkInput, parsePortPatch, parseSubnetInput } from './validate.js';
import { deleteChassis, getChassis, listChassis } from './chassis.js';
import { claimSegment, releaseSegment } from './segments.js';
import * as fips from './fips.js';
import * as gateways from './gateways.js';
import * as groups from './security-groups.js';
import { memberAddresses, membershipOps, resolveGroups } from './sg-members.js';
import { byName } from '../util/order.js';
import { isoTime } from '../util/time.js';

export interface TopologyOptions extends CasOptions {
  logger?: Logger;
}

/** A port as shown: its configuration plus the live binding an agent wrote, if any. */
export type PortView = Port & { binding?: Binding };

const bump = (networkId: string): TxnOp => ({ op: 'put', key: guardKey(networkId), value: isoTime() });
const nameFree = (kind: 'network' | 'subnet' | 'port' | 'router', name: string): Compare => ({ key: nameKey(kind, name), modRevision: 0 });

export class Topology {
  private readonly log: Logger;
  /** Port creation, with its remembered views of networks (port-create.ts). */
  private readonly ports: PortCreator;

  constructor(
    readonly store: Store,
    private readonly opts: TopologyOptions = {},
  ) {
    this.log = (opts.logger ?? silentLogger).child({ component: 'topology' });
    this.ports = new PortCreator(store, opts);
  }

  /** Stops the watches port creation keeps of the networks it created ports in (the store stays open). */
  close(): void {
    this.ports.close();
  }

  /**
   * A write's options, taken on its arrival: it rides a store outage out until cas.ts writeDeadline(), and writes only
   * while its object is at a revision `ifMatch` names, if given (precondition.ts).
   */
  private writeOpts(ifMatch?: IfMatch): CasOptions {
    const opts = writeOptions(this.opts);
    return ifMatch ? { ...opts, ifMatch } : opts;
  }

  /**
   * A write to router `ref`'s record (interfaces, routes, gateway, mode), after the ones queued here (cas.ts inTurn);
   * its outage deadline counts from its arrival, not from its turn.
   */
  private routerWrite<T>(ref: string, ifMatch: IfMatch | undefined, write: (opts: CasOptions) => Promise<T>): Promise<T> {
    const opts = this.writeOpts(ifMatch);
    return inTurn(this.store, `router:${ref}`, () => write(opts));
  }

  /** A write to security group `ref`'s record (its rules), after the ones queued here (as routerWrite). */
  private groupWrite<T>(ref: string, ifMatch: IfMatch | undefined, write: (opts: CasOptions) => Promise<T>): Promise<T> {
    const opts = this.writeOpts(ifMatch);
    return inTurn(this.store, `security-group:${ref}`, () => write(opts));
  }

  private async ensureNameFree(kind: 'network' | 'subnet' | 'port' | 'router', name: string): Promise<void> {
    if (await this.store.get(nameKey(kind, name))) throw conflict('name', `a ${kind} named ${name} already exists`);
  }

  // ---- networks ----

  async createNetwork(body: unknown): Promise<Network> {
    const opts = this.writeOpts();
    const input = parseNetworkInput(body);
    const id = randomUUID();
    const flight = poolFlight(this.store, 'tunnel-key');
    const net = await runCas(
      this.store,
      async (attempt) => {
        await this.ensureNameFree('network', input.name);
        const seg = input.provider ? await claimSegment(this.store, input.provider, id) : { compares: [], ops: [] };
        const tk = await pickFree(this.store, 'tunnel-key', attempt, flight.contended());
        const n: Network = {
          id,
          name: input.name,
          tunnelKey: tk.n,
          mtu: input.mtu,
          ...(input.provider ? { provider: input.provider } : {}),
          ...(input.topology ? { topology: input.topology } : {}),
          ...(input.centers ? { centers: input.centers } : {}),
        };
        return {
          compares: [nameFree('network', n.name), tk.compare, { key: networkKey(id), modRevision: 0 }, ...seg.compares],
          ops: [
            ...seg.ops,
            { op: 'put', key: networkKey(id), value: encodeNetwork(n) },
            { op: 'put', key: nameKey('network', n.name), value: encodeClaim({ id }) },
            { op: 'put', key: tk.key, value: `network/${id}` },
            bump(id),
          ],
          result: n,
          committed: (rev) => void withRevision(n, rev),
          landed: () => createdAs(this.store, 'network', n.name, id, () => networkKey(id), decodeNetwork),
        };
      },
      opts,
    ).finally(flight.leave);
    this.log.info({ network: net.name, id, tunnelKey: net.tunnelKey }, 'network created');
    return net;
  }

  async getNetwork(ref: string): Promise<Network> {
    const { obj, kv } = await loadNetwork(this.store, ref);
    return withRevision(obj, kv.modRevision);
  }

  async listNetworks(): Promise<Network[]> {
    const { kvs } = await this.store.range(NETWORKS_PREFIX);
    return kvs.map((kv) => decodeNetwork(kv.value)).sort(byName);
  }

  async deleteNetwork(ref: string, ifMatch?: IfMatch): Promise<Network> {
    const opts = this.writeOpts(ifMatch);
    return runCas(
      this.store,
      async () => {
        const { obj: n, kv } = await loadNetwork(this.store, ref);
        const st = await loadNetState(this.store, n.id);
        gateways.refuseNetworkDelete(st, n);
        if (st.subnets.length > 0 || st.ports.length > 0) {
          throw conflict(
            undefined,
            `network ${n.name} still has ${st.ports.length} port(s) and ${st.subnets.length} subnet(s); delete them first`,
          );
        }
        return {
          // The ports guard too: a port created since the read (creations do not bump the guard) refuses the delete.
          compares: [{ key: kv.key, modRevision: kv.modRevision }, guardCompare(st), portsCompare(st)],
          ops: [
            { op: 'delete', key: kv.key },
            { op: 'delete', key: nameKey('network', n.name) },
            { op: 'delete', key: allocKey('tunnel-key', n.tunnelKey) },
            { op: 'delete', key: guardKey(n.id) },
            { op: 'deletePrefix', prefix: netGuardsPrefix(n.id) },
            { op: 'deletePrefix', prefix: claimsPrefix(n.id) },
            ...releaseSegment(n.provider),
            { op: 'deletePrefix', prefix: netPrefix(n.id) },
          ],
          result: n,
          object: { kv, what: `network ${n.name}` },
          committed: () => this.ports.forget(n.id, n.name),
          // Made once the record is gone (by this delete or another: the network named is deleted either way).
          landed: async () => {
            if (await this.store.get(kv.key)) return undefined;
            this.ports.forget(n.id, n.name);
            return n;
          },
        };
      },
      opts,
    );
  }

  // ---- subnets ----

  async createSubnet(body: unknown): Promise<Subnet> {
    // Field rules (unicast CIDR, gateway and nexthops usable hosts of it, DHCP options, lease) are all in
    // parseSubnetInput; what is left here needs the store.
    const opts = this.writeOpts();
    const input = parseSubnetInput(body);
    const cidr = parseSubnetCidr(input.cidr);
    const gateway = input.gatewayIp ?? intToIp(cidr.network + 1);
    const id = randomUUID();
    // Every subnet creation bumps its network's structure guard (subnets must not overlap, and nothing claims a range),
    // so creations in one network take turns in this process (cas.ts inTurn): 300 at once over three servers raced
    // each other on every attempt, took 91 s, and 73 gave up after 100 attempts (nineteenth session).
    return inTurn(this.store, `subnets:${input.network}`, () => this.createSubnetNow(input, cidr, gateway, id, opts));
  }

  private createSubnetNow(
    input: ReturnType<typeof parseSubnetInput>,
    cidr: Cidr,
    gateway: string,
    id: string,
    opts: CasOptions,
  ): Promise<Subnet> {
    return runCas(
      this.store,
      async () => {
        const { obj: net, kv: nkv } = await loadNetwork(this.store, input.network, 'network');
        await this.ensureNameFree('subnet', input.name);
        const st = await loadNetState(this.store, net.id);
        for (const s of st.subnets) {
          if (cidrsOverlap(cidr, parseSubnetCidr(s.obj.cidr))) {
            throw conflict('cidr', `cidr ${input.cidr} overlaps subnet ${s.obj.name} (${s.obj.cidr}) in network ${net.name}`);
          }
        }
        const owner = ipOwners(st).get(gateway);
        if (owner !== undefined) throw conflict('gatewayIp', `gateway ${gateway} is already used by ${owner}`);
        const s: Subnet = {
          id,
          name: input.name,
          networkId: net.id,
          cidr: input.cidr,
          gatewayIp: gateway,
          enableDhcp: input.enableDhcp,
          dnsServers: input.dnsServers,
          hostRoutes: input.hostRoutes,
          leaseTime: input.leaseTime,
          dhcpOptions: input.dhcpOptions,
          ...(input.domain !== undefined ? { domain: input.domain } : {}),
        };
        return {
          compares: [{ key: nkv.key, modRevision: nkv.modRevision }, guardCompare(st), nameFree('subnet', s.name)],
          ops: [
            { op: 'put', key: subnetKey(net.id, id), value: encodeSubnet(s) },
            { op: 'put', key: nameKey('subnet', s.name), value: encodeClaim({ id, networkId: net.id }) },
            bump(net.id),
          ],
          result: s,
          committed: (rev) => void withRevision(s, rev),
          landed: () => createdAs(this.store, 'subnet', s.name, id, () => subnetKey(net.id, id), decodeSubnet),
        };
      },
      opts,
    );
  }

  async getSubnet(ref: string): Promise<Subnet> {
    const { obj, kv } = await loadSubnet(this.store, ref);
    return withRevision(obj, kv.modRevision);
  }

  async listSubnets(networkRef?: string): Promise<Subnet[]> {
    const netId = networkRef === undefined ? undefined : (await loadNetwork(this.store, networkRef, 'network')).obj.id;
    const { subnets } = await readNetContents(this.store, netId);
    return subnets.sort(byName);
  }

  async deleteSubnet(ref: string, ifMatch?: IfMatch): Promise<Subnet> {
    const opts = this.writeOpts(ifMatch);
    return runCas(
      this.store,
      async () => {
        const { obj: s, kv } = await loadSubnet(this.store, ref);
        const st = await loadNetState(this.store, s.networkId);
        const users = st.ports.filter((p) => p.obj.fixedIps.some((f) => f.subnetId === s.id)).map((p) => p.obj.name);
        if (users.length > 0)
          throw conflict(undefined, `subnet ${s.name} still has ports with addresses in it: ${users.slice(0, 5).join(', ')}`);
        const rs = st.routerIfaces.filter((r) => r.subnetId === s.id).map((r) => r.router.name);
        if (rs.length > 0) throw conflict(undefined, `subnet ${s.name} is attached to router ${rs.join(', ')}; detach it first`);
        gateways.refuseSubnetDelete(st, s);
        return {
          // The subnet's guard too: a port that took an address in it since the read refuses the delete. Only the
          // subnet's: creations elsewhere in the network do not hold it back.
          compares: [{ key: kv.key, modRevision: kv.modRevision }, guardCompare(st), subnetPortsCompare(st, s.id)],
          ops: [
            { op: 'delete', key: kv.key },
            { op: 'delete', key: nameKey('subnet', s.name) },
            { op: 'delete', key: subnetGuardKey(s.networkId, s.id) },
            bump(s.networkId),
          ],
          result: s,
          object: { kv, what: `subnet ${s.name}` },
          landed: deletedAs(this.store, kv.key, s),
        };
      },
      opts,
    );
  }

  // ---- ports ----

  /** One transaction that conflicts with other creations only on what they both pick (port-create.ts). */
  createPort(body: unknown): Promise<Port> {
    return this.ports.create(body);
  }

  async getPort(ref: string): Promise<PortView> {
    const { obj, kv } = await loadPort(this.store, ref);
    const b = await this.store.get(bindingKey(obj.networkId, obj.id));
    return withRevision(b ? { ...obj, binding: decodeBinding(b.value) } : obj, kv.modRevision);
  }

  async listPorts(networkRef?: string): Promise<PortView[]> {
    const netId = networkRef === undefined ? undefined : (await loadNetwork(this.store, networkRef, 'network')).obj.id;
    const { ports } = await readNetContents(this.store, netId);
    return ports.sort(byName);
  }

  /**
   * PATCH a port: port security, its allowed address pairs and security groups (lists replaced as a whole), its
   * rate limits (replaced, or cleared by null). One transaction on the port document, compared on its revision: a
   * concurrent update makes this one re-read and apply on top of it (nothing lost), a concurrent delete makes it a
   * 404. The membership index of its groups changes in the same transaction (see sg-members.ts). Nothing else in
   * the network depends on these fields, so the network's guard is neither compared nor bumped. Agents recompute
   * the port's flows from the new document.
   */
  async updatePort(ref: string, body: unknown, ifMatch?: IfMatch): Promise<PortView> {
    const patch = parsePortPatch(body);
    const opts = this.writeOpts(ifMatch);
    const p = await runCas(
      this.store,
      async () => {
        const { obj: cur, kv } = await loadPort(this.store, ref);
        const { securityGroups: refs, qos, ...rest } = patch;
        const next: Port = { ...cur, ...rest };
        if (qos === null) delete next.qos;
        else if (qos !== undefined) next.qos = qos;
        // Groups are read only when the index changes: new groups, or new addresses for the current ones.
        const moved = memberAddresses(next).join() !== memberAddresses(cur).join();
        const sgs =
          refs !== undefined ? await resolveGroups(this.store, refs) : moved ? await resolveGroups(this.store, cur.securityGroups) : [];
        if (refs !== undefined) next.securityGroups = sgs.map((g) => g.id);
        const value = encodePort(next);
        const object = { kv, what: `port ${cur.name}` };
        // Holding the patch already, it is made whatever If-Match says (cas.ts CasOptions.ifMatch).
        if (value === kv.value) return { compares: [], ops: [], result: decodePort(value), object };
        const members = membershipOps(cur, next, sgs);
        return {
          compares: [{ key: kv.key, modRevision: kv.modRevision }, ...members.compares],
          ops: [{ op: 'put', key: kv.key, value }, ...members.ops],
          result: decodePort(value),
          object,
          // Planned again on a port that holds the patch already, it writes nothing.
          replannable: true,
        };
      },
      opts,
    );
    this.log.info(
      {
        port: p.name,
        portSecurity: p.portSecurity,
        allowedAddressPairs: p.allowedAddressPairs.length,
        securityGroups: p.securityGroups.length,
        qos: p.qos !== undefined,
      },
      'port updated',
    );
    const b = await throughOutage(() => this.store.get(bindingKey(p.networkId, p.id)), opts.outageUntil!);
    return b ? withRevision({ ...p, binding: decodeBinding(b.value) }, revisionOf(p)) : p;
  }

  async deletePort(ref: string, ifMatch?: IfMatch): Promise<Port> {
    const opts = this.writeOpts(ifMatch);
    return runCas(
      this.store,
      async () => {
        const { obj: p, kv } = await loadPort(this.store, ref);
        const st = await portFipState(this.store, p);
        const fipOps = fips.disassociateOnPortDelete(st.fips, p.id);
        return {
          // The port's FIP guard is compared: a floating IP associated with it since the read would dangle. Nothing
          // every port delete or create writes is compared, so they do not conflict. The claims go with the port;
          // the ports guard tells the writers that must see every port (keys.ts).
          compares: [
            { key: kv.key, modRevision: kv.modRevision },
            { key: portFipsGuardKey(p.id), modRevision: st.portFipsRev },
            ...fipOps.compares,
          ],
          ops: [
            ...fipOps.ops,
            { op: 'delete', key: portFipsGuardKey(p.id) },
            { op: 'delete', key: kv.key },
            { op: 'delete', key: bindingKey(p.networkId, p.id) },
            { op: 'delete', key: nameKey('port', p.name) },
            { op: 'delete', key: portIdKey(p.id) },
            { op: 'delete', key: allocKey('port-key', p.portKey) },
            ...releasePort(p),
            ...membershipOps(p, undefined, []).ops,
          ],
          result: p,
          object: { kv, what: `port ${p.name}` },
          landed: deletedAs(this.store, kv.key, p),
        };
      },
      opts,
    );
  }

  // ---- routers (routers.ts) ----

  createRouter(body: unknown): Promise<Router> {
    return routers.createRouter(this.store, body, this.writeOpts());
  }
  getRouter(ref: string): Promise<Router> {
    return routers.getRouter(this.store, ref);
  }
  listRouters(): Promise<Router[]> {
    return routers.listRouters(this.store);
  }
  deleteRouter(ref: string, ifMatch?: IfMatch): Promise<Router> {
    return routers.deleteRouter(this.store, ref, this.writeOpts(ifMatch));
  }
  attachSubnet(ref: string, body: unknown, ifMatch?: IfMatch): Promise<Router> {
    return this.routerWrite(ref, ifMatch, (opts) => routers.attachSubnet(this.store, ref, body, opts));
  }
  detachSubnet(ref: string, subnetRef: string, ifMatch?: IfMatch): Promise<Router> {
    return this.routerWrite(ref, ifMatch, (opts) => routers.detachSubnet(this.store, ref, subnetRef, opts));
  }
  addRoute(ref: string, body: unknown, ifMatch?: IfMatch): Promise<Router> {
    return this.routerWrite(ref, ifMatch, (opts) => routers.addRoute(this.store, ref, body, opts));
  }
  removeRoute(ref: string, cidr: string, ifMatch?: IfMatch): Promise<Router> {
    return this.routerWrite(ref, ifMatch, (opts) => routers.removeRoute(this.store, ref, cidr, opts));
  }
  setRouterMode(ref: string, mode: unknown, ifMatch?: IfMatch): Promise<Router> {
    return this.routerWrite(ref, ifMatch, (opts) => routers.setRouterMode(this.store, ref, mode, opts));
  }

  setGateway(ref: string, body: unknown, ifMatch?: IfMatch): Promise<Router> {
    return this.routerWrite(ref, ifMatch, (opts) => gateways.setGateway(this.store, ref, body, opts));
  }
  getGateway(ref: string): Promise<gateways.GatewayStatus> {
    return gateways.getGateway(this.store, ref);
  }
  clearGateway(ref: string, ifMatch?: IfMatch): Promise<Router> {
    return this.routerWrite(ref, ifMatch, (opts) => gateways.clearGateway(this.store, ref, opts));
  }

  // ---- floating IPs (fips.ts) ----

  createFloatingIp(body: unknown): Promise<FloatingIp> {
    return fips.createFip(this.store, body, this.writeOpts());
  }
  getFloatingIp(ref: string): Promise<FloatingIp> {
    return fips.getFip(this.store, ref);
  }
  listFloatingIps(): Promise<FloatingIp[]> {
    return fips.listFips(this.store);
  }
  updateFloatingIp(ref: string, body: unknown, ifMatch?: IfMatch): Promise<FloatingIp> {
    return fips.updateFip(this.store, ref, body, this.writeOpts(ifMatch));
  }
  deleteFloatingIp(ref: string, ifMatch?: IfMatch): Promise<FloatingIp> {
    return fips.deleteFip(this.store, ref, this.writeOpts(ifMatch));
  }

  // ---- security groups (security-groups.ts) ----

  createSecurityGroup(body: unknown): Promise<SecurityGroup> {
    return groups.createSecurityGroup(this.store, body, this.writeOpts());
  }
  getSecurityGroup(ref: string): Promise<SecurityGroup> {
    return groups.getSecurityGroup(this.store, ref);
  }
  listSecurityGroups(): Promise<SecurityGroup[]> {
    return groups.listSecurityGroups(this.store);
  }
  deleteSecurityGroup(ref: string, opts: { force?: boolean } = {}, ifMatch?: IfMatch): Promise<groups.SecurityGroupDeleted> {
    return groups.deleteSecurityGroup(this.store, ref, { ...this.writeOpts(ifMatch), ...opts });
  }
  addSgRule(ref: string, body: unknown, ifMatch?: IfMatch): Promise<SgRule> {
    return this.groupWrite(ref, ifMatch, (opts) => groups.addSgRule(this.store, ref, body, opts));
  }
  listSgRules(ref: string): Promise<SgRule[]> {
    return groups.listSgRules(this.store, ref);
  }
  deleteSgRule(ref: string, ruleId: string, ifMatch?: IfMatch): Promise<SgRule> {
    return this.groupWrite(ref, ifMatch, (opts) => groups.deleteSgRule(this.store, ref, ruleId, opts));
  }

  // ---- chassis (chassis.ts), snapshot (topology-io.ts) ----

  listChassis() {
    return listChassis(this.store);
  }
  getChassis(name: string) {
    return getChassis(this.store, name);
  }
  deleteChassis(name: string, opts: { force?: boolean } = {}) {
    return deleteChassis(this.store, name, opts);
  }
  exportTopology(): Promise<TopologyDocument> {
    return exportTopology(this.store);
  }
  importTopology(doc: unknown): Promise<ImportResult> {
    return importTopology(this.store, doc);
  }

  /** Ids of every object of a kind by name (used by tests and the CLI's completions). */
  names(kind: 'network' | 'subnet' | 'port' | 'router' | 'security-group'): Promise<string[]> {
    return claimedNames(this.store, kind);
  }
}
