/**
 * Router gateways (issue 14): a router's port on a provider network, the SNAT address of its subnets, carried by one
 * active chassis among a priority list. Setting, showing and clearing it; each change is one transaction that
 * compares the router and the provider network's guard and bumps that guard (the gateway takes an address and a MAC
 * there, like a router interface), so it serialises with ports, floating IPs and other gateways on that network.
 */
import type { Compare, Store, TxnOp } from '../store/types.js';
import { listChassis } from './chassis.js';
import { decodeGatewayLease, encodeRouter } from './codec.js';
import { conflict, invalid, notFound } from './errors.js';
import { gatewayKey, guardKey } from './keys.js';
import { generateMac } from './macs.js';
import { parseGatewayInput } from './ns-validate.js';
import { routerIndexOps } from './lazy-index.js';
import { assignOneIp } from './port-ips.js';
import { ipOwners, loadNetState, loadNetwork, loadRouter, macOwners, netStateForRouter, portsCompare, type NetState } from './read.js';
import { runCas, type CasOptions } from './cas.js';
import type { Network, Router, RouterGateway, Subnet } from './types.js';
import { cidrContains, ipToInt } from '../net/addr.js';
import { parseSubnetCidr } from './addr-rules.js';
import { isoTime } from '../util/time.js';

const bump = (networkId: string): TxnOp => ({ op: 'put', key: guardKey(networkId), value: isoTime() });

/** Floating IPs whose router path goes through router `r` (they live on its gateway network, whose state is `st`). */
export function fipsUsing(st: NetState, routerId: string): string[] {
  return st.fips.filter((f) => f.obj.routerId === routerId).map((f) => `${f.obj.ip} (${f.obj.id})`);
}

/** The chassis list of a gateway: the named ones checked, or every live chassis reaching `physnet`, by name. */
async function gatewayChassis(store: Store, physnet: string, named: string[] | undefined): Promise<string[]> {
  const live = await listChassis(store);
  if (named === undefined) {
    const all = live.filter((c) => c.physnets?.includes(physnet)).map((c) => c.name);
    if (all.length === 0)
      throw conflict('chassis', `no live chassis reaches physical network ${physnet} (bridge_mappings); start one or name the chassis`);
    return all.slice(0, 16);
  }
  named.forEach((name, i) => {
    const c = live.find((x) => x.name === name);
    if (!c) throw invalid(`chassis[${i}]`, `chassis ${name} does not exist (not registered, or its agent is gone)`);
    if (!c.physnets?.includes(physnet))
      throw invalid(
        `chassis[${i}]`,
        `chassis ${name} has no bridge mapping for physical network ${physnet} (it reaches: ${c.physnets?.join(', ') || 'none'})`,
      );
  });
  return named;
}

export async function setGateway(store: Store, ref: string, body: unknown, opts: CasOptions): Promise<Router> {
  const input = parseGatewayInput(body);
  return runCas(
    store,
    async () => {
      const { obj: r, kv } = await loadRouter(store, ref);
      const { obj: net, kv: nkv } = await loadNetwork(store, input.network, 'network');
      if (!net.provider)
        throw invalid('network', `network ${net.name} is not a provider network: a router gateway needs one (network create --provider)`);
      const itf = r.interfaces.find((i) => i.networkId === net.id);
      if (itf)
        throw conflict(
          'network',
          `router ${r.name} has an interface on network ${net.name} (${itf.ip}); a router cannot have both an interface and its gateway on one network: detach it first`,
        );
      const st = await loadNetState(store, net.id);
      const old = r.gateway;
      const compares: Compare[] = [
        { key: kv.key, modRevision: kv.modRevision },
        { key: nkv.key, modRevision: nkv.modRevision },
        { key: guardKey(net.id), modRevision: st.guardRev },
        // The gateway's address and MAC hold no claim: a port created on the network since the read must fail this.
        portsCompare(st),
      ];
      const ops: TxnOp[] = [];
      if (old && old.networkId !== net.id) {
        // Moving to another network breaks the router path of the floating IPs on the old one.
        const { st: ost, routerFips } = await netStateForRouter(store, old.networkId, r.id);
        const using = fipsUsing(ost, r.id);
        if (using.length > 0)
          throw conflict(
            'network',
            `router ${r.name} is the router path of floating IP(s) ${using.join(', ')} on its current gateway network; disassociate them first`,
          );
        compares.push({ key: guardKey(old.networkId), modRevision: ost.guardRev }, routerFips);
        ops.push(bump(old.networkId));
      }
      const owners = ipOwners(st);
      const macs = macOwners(st);
      if (old?.networkId === net.id) {
        owners.delete(old.ip);
        macs.delete(old.mac);
      }
      const { subnetId, ip } = assignOneIp(input.ip ?? (old?.networkId === net.id ? old.ip : undefined), st, net, owners);
      const mac = old?.networkId === net.id ? old.mac : generateMac(new Set(macs.keys()));
      const chassis = await gatewayChassis(store, net.provider.physnet, input.chassis);
      const gateway: RouterGateway = { networkId: net.id, subnetId, ip, mac, chassis };
      const next: Router = { ...r, gateway };
      ops.push({ op: 'put', key: kv.key, value: encodeRouter(next) }, bump(net.id), ...routerIndexOps(r, next));
      return { compares, ops, result: next };
    },
    opts,
  );
}

/** A router's gateway as shown: its configuration, the active chassis (the lease key), and the standbys. */
export interface GatewayStatus extends RouterGateway {
  routerId: string;
  router: string;
  network: string;
  /** The chassis holding the gateway lease now; null when none (no live candidate, or not elected yet). */
  active: string | null;
  activeSince?: string;
  /** The other candidates in priority order, each with whether its agent is alive. */
  standbys: { name: string; alive: boolean }[];
}

export async function getGateway(store: Store, ref: string): Promise<GatewayStatus> {
  const { obj: r } = await loadRouter(store, ref);
  const gw = r.gateway;
  if (!gw) throw notFound(undefined, `router ${r.name} has no gateway`);
  const [leaseKv, live, net] = await Promise.all([
    store.get(gatewayKey(r.id)),
    listChassis(store),
    loadNetwork(store, gw.networkId).catch(() => undefined),
  ]);
  const lease = leaseKv ? decodeGatewayLease(leaseKv.value) : undefined;
  const alive = new Set(live.map((c) => c.name));
  return {
    routerId: r.id,
    router: r.name,
    network: net?.obj.name ?? gw.networkId,
    ...gw,
    active: lease?.chassis ?? null,
    ...(lease ? { activeSince: lease.since } : {}),
    standbys: gw.chassis.filter((c) => c !== lease?.chassis).map((name) => ({ name, alive: alive.has(name) })),
  };
}

export async function clearGateway(store: Store, ref: string, opts: CasOptions): Promise<Router> {
  return runCas(
    store,
    async () => {
      const { obj: r, kv } = await loadRouter(store, ref);
      const gw = r.gateway;
      if (!gw) throw notFound(undefined, `router ${r.name} has no gateway`);
      const { st, routerFips } = await netStateForRouter(store, gw.networkId, r.id);
      const using = fipsUsing(st, r.id);
      if (using.length > 0)
        throw conflict(
          undefined,
          `router ${r.name}'s gateway is used by floating IP(s) ${using.join(', ')}; disassociate or delete them first`,
        );
      const { gateway: _gone, ...next } = r;
      return {
        compares: [{ key: kv.key, modRevision: kv.modRevision }, { key: guardKey(gw.networkId), modRevision: st.guardRev }, routerFips],
        ops: [
          { op: 'put', key: kv.key, value: encodeRouter(next) },
          bump(gw.networkId),
          { op: 'delete', key: gatewayKey(r.id) },
          ...routerIndexOps(r, next),
        ],
        result: next,
      };
    },
    opts,
  );
}

/**
 * What deleting router `r` needs for its gateway: refused while floating IPs use it; else the gateway network's
 * guard compared and bumped, and the gateway lease key deleted, in the router's delete transaction.
 */
export async function gatewayDeletion(store: Store, r: Router): Promise<{ compares: Compare[]; ops: TxnOp[] }> {
  const gw = r.gateway;
  if (!gw) return { compares: [], ops: [] };
  const { st, routerFips } = await netStateForRouter(store, gw.networkId, r.id);
  const using = fipsUsing(st, r.id);
  if (using.length > 0)
    throw conflict(
      undefined,
      `router ${r.name} is the router path of floating IP(s) ${using.join(', ')}; disassociate or delete them first`,
    );
  return {
    compares: [{ key: guardKey(gw.networkId), modRevision: st.guardRev }, routerFips],
    ops: [bump(gw.networkId), { op: 'delete', key: gatewayKey(r.id) }],
  };
}

/** Deleting a provider network is refused while it is a router's gateway network or has floating IPs. */
export function refuseNetworkDelete(st: NetState, n: Network): void {
  const gws = st.gateways.map((g) => g.router.name);
  if (gws.length > 0) throw conflict(undefined, `network ${n.name} is the gateway network of router ${gws.join(', ')}; clear it first`);
  const fips = st.fips.filter((f) => f.obj.networkId === n.id).map((f) => f.obj.ip);
  if (fips.length > 0)
    throw conflict(undefined, `network ${n.name} still has floating IP(s) ${fips.slice(0, 5).join(', ')}; delete them first`);
}

/** Deleting a subnet of a provider network is refused while a gateway or a floating IP holds an address in it. */
export function refuseSubnetDelete(st: NetState, s: Subnet): void {
  const gws = st.gateways.filter((g) => g.subnetId === s.id).map((g) => g.router.name);
  if (gws.length > 0) throw conflict(undefined, `subnet ${s.name} holds the gateway of router ${gws.join(', ')}; clear it first`);
  const c = parseSubnetCidr(s.cidr);
  const fips = st.fips.filter((f) => f.obj.networkId === s.networkId && cidrContains(c, ipToInt(f.obj.ip))).map((f) => f.obj.ip);
  if (fips.length > 0) throw conflict(undefined, `subnet ${s.name} still has floating IP(s) ${fips.slice(0, 5).join(', ')}`);
}
