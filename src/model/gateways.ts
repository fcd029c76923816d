/**
 * Router gateways (issue 14): a router's port on a provider network, the SNAT address of its subnets, carried by one
 * active chassis among a priority list. Setting, showing and clearing it; each change is one transaction that
 * compares the router and the provider network's structure guard and claims the gateway's address and MAC there
 * (port-claims.ts claimGateway), as a floating IP does: gateways set at once on one network (a tenant router each)
 * conflict only when they pick the same address. Until the nineteenth session every gateway change bumped the
 * structure guard, and 300 set at once took 34 s, 21 of them giving up after 100 attempts.
 */
import type { Compare, Store, TxnOp } from '../store/types.js';
import { listChassis } from './chassis.js';
import { decodeGatewayLease, decodeRouter, encodeRouter } from './codec.js';
import { conflict, invalid, notFound } from './errors.js';
import { gatewayKey, guardKey, ipClaimKey } from './keys.js';
import { claimGateway, gatewayClaimKeys, randomPick, releaseGateway } from './port-claims.js';
import { addressWriters, planOnSharedState } from './shared-net-state.js';
import { StoreFlights } from '../util/single-flight.js';
import { generateMac } from './macs.js';
import { parseGatewayInput } from './ns-validate.js';
import { routerIndexOps } from './lazy-index.js';
import { assignOneIp } from './port-ips.js';
import { ipOwners, loadNetwork, loadRouter, macOwners, routerFipState, type Loaded, type NetState } from './read.js';
import { runCas, type CasOptions } from './cas.js';
import { withRevision } from './precondition.js';
import type { FloatingIp, Network, Router, RouterGateway, Subnet } from './types.js';
import { cidrContains, ipToInt } from '../net/addr.js';
import { parseSubnetCidr } from './addr-rules.js';

/** The live chassis, read once for the gateway sets asking meanwhile (a burst of them on a cluster of a thousand). */
const chassisReads = new StoreFlights<Awaited<ReturnType<typeof listChassis>>>();
const liveChassis = (store: Store): ReturnType<typeof listChassis> => chassisReads.run(store, 'all', () => listChassis(store));

/** Floating IPs (routerFipState's) as a refusal names them. */
const fipList = (fips: Loaded<FloatingIp>[]): string => fips.map((f) => `${f.obj.ip} (${f.obj.id})`).join(', ');

/** The chassis list of a gateway: the named ones checked, or every live chassis reaching `physnet`, by name. */
async function gatewayChassis(store: Store, physnet: string, named: string[] | undefined): Promise<string[]> {
  const live = await liveChassis(store);
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
  let flight: ReturnType<typeof addressWriters.enter> | undefined;
  try {
    return await runCas(
      store,
      async (attempt) => {
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
        flight ??= addressWriters.enter(store, net.id);
        const old = r.gateway;
        const same = old?.networkId === net.id;
        const compares: Compare[] = [
          { key: kv.key, modRevision: kv.modRevision },
          { key: nkv.key, modRevision: nkv.modRevision },
        ];
        const ops: TxnOp[] = [];
        if (old && !same) {
          // Moving to another network breaks the router path of the floating IPs on the old one.
          const { routerFips, using } = await routerFipState(store, r);
          if (using.length > 0)
            throw conflict(
              'network',
              `router ${r.name} is the router path of floating IP(s) ${fipList(using)} on its current gateway network; disassociate them first`,
            );
          compares.push(routerFips);
          ops.push(...releaseGateway(old));
        }
        // The claims this router holds there already (set again on the same network), at the revision read.
        const held = same ? await heldClaims(store, old) : new Map<string, number>();
        const plan = async (st: NetState) => {
          const owners = ipOwners(st);
          const macs = macOwners(st);
          if (same) {
            owners.delete(old.ip);
            macs.delete(old.mac);
          }
          const pick = attempt > 0 || flight!.contended() ? randomPick : undefined;
          const { subnetId, ip } = assignOneIp(input.ip ?? (same ? old.ip : undefined), st, net, owners, 'ip', pick);
          const mac = same ? old.mac : generateMac(new Set(macs.keys()));
          const chassis = await gatewayChassis(store, net.provider!.physnet, input.chassis);
          const gateway: RouterGateway = { networkId: net.id, subnetId, ip, mac, chassis };
          const next: Router = { ...r, gateway };
          // The gateway it has, claims and all (set again as it is): nothing to write.
          const object = { kv, what: `router ${r.name}` };
          // Made so whatever If-Match says (cas.ts CasOptions.ifMatch).
          if (same && encodeRouter(next) === kv.value && gatewayClaimKeys(gateway).every((k) => held.has(k)))
            return { compares: [], ops: [], result: next, object };
          // An address given up on the same network (another one asked for) is released; the new one claimed.
          const released: TxnOp[] = same && old.ip !== ip ? [{ op: 'delete', key: ipClaimKey(net.id, old.ip) }] : [];
          const claims = claimGateway(r, gateway, held);
          return {
            // The structure guard, compared and left alone: a subnet created or deleted since the read moves it.
            compares: [...compares, { key: guardKey(net.id), modRevision: st.guardRev }, ...claims.compares],
            ops: [
              ...ops,
              ...released,
              { op: 'put', key: kv.key, value: encodeRouter(next) },
              ...claims.ops,
              ...routerIndexOps(r, next),
            ] satisfies TxnOp[],
            result: next,
            object,
            // Set again on the same network, it keeps its address, MAC and claims: the same gateway.
            replannable: true,
          };
        };
        // As floating IP creations plan: from the network's state read for the sets in flight here (shared-net-state.ts).
        return planOnSharedState(store, net.id, attempt, plan);
      },
      opts,
    );
  } finally {
    flight?.leave();
  }
}

/** The revisions of a gateway's claim keys as the store holds them now (absent keys are left out). */
async function heldClaims(store: Store, gw: RouterGateway): Promise<Map<string, number>> {
  const keys = gatewayClaimKeys(gw);
  const { results } = await store.read(keys.map((key) => ({ key })));
  return new Map(results.flatMap((kvs, i) => (kvs[0] ? [[keys[i]!, kvs[0].modRevision] as [string, number]] : [])));
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

/** At the router's revision: its record holds the gateway's configuration (what an If-Match on it names). */
export async function getGateway(store: Store, ref: string): Promise<GatewayStatus> {
  const { obj: r, kv } = await loadRouter(store, ref);
  const gw = r.gateway;
  if (!gw) throw notFound(undefined, `router ${r.name} has no gateway`);
  const [leaseKv, live, net] = await Promise.all([
    store.get(gatewayKey(r.id)),
    listChassis(store),
    loadNetwork(store, gw.networkId).catch(() => undefined),
  ]);
  const lease = leaseKv ? decodeGatewayLease(leaseKv.value) : undefined;
  const alive = new Set(live.map((c) => c.name));
  const status: GatewayStatus = {
    routerId: r.id,
    router: r.name,
    network: net?.obj.name ?? gw.networkId,
    ...gw,
    active: lease?.chassis ?? null,
    ...(lease ? { activeSince: lease.since } : {}),
    standbys: gw.chassis.filter((c) => c !== lease?.chassis).map((name) => ({ name, alive: alive.has(name) })),
  };
  return withRevision(status, kv.modRevision);
}

export async function clearGateway(store: Store, ref: string, opts: CasOptions): Promise<Router> {
  return runCas(
    store,
    async () => {
      const { obj: r, kv } = await loadRouter(store, ref);
      const gw = r.gateway;
      if (!gw) throw notFound(undefined, `router ${r.name} has no gateway`);
      const { routerFips, using } = await routerFipState(store, r);
      if (using.length > 0)
        throw conflict(
          undefined,
          `router ${r.name}'s gateway is used by floating IP(s) ${fipList(using)}; disassociate or delete them first`,
        );
      const { gateway: _gone, ...next } = r;
      return {
        // The router's FIP guard as read (routerFipState): a FIP associated through the router since stops this.
        compares: [{ key: kv.key, modRevision: kv.modRevision }, routerFips],
        ops: [
          { op: 'put', key: kv.key, value: encodeRouter(next) },
          ...releaseGateway(gw),
          { op: 'delete', key: gatewayKey(r.id) },
          ...routerIndexOps(r, next),
        ],
        result: next,
        object: { kv, what: `router ${r.name}` },
        // Made once the router has no gateway (a clear the store did not answer; planned again it would be a 404).
        landed: async () => {
          const now = await store.get(kv.key);
          const cur = now && decodeRouter(now.value);
          return cur && !cur.gateway ? withRevision(cur, now.modRevision) : undefined;
        },
      };
    },
    opts,
  );
}

/**
 * What deleting router `r` needs for its gateway: refused while floating IPs use it (the router's FIP guard compared);
 * else its claims released and the gateway lease key deleted, in the router's delete transaction.
 */
export async function gatewayDeletion(store: Store, r: Router): Promise<{ compares: Compare[]; ops: TxnOp[] }> {
  const gw = r.gateway;
  if (!gw) return { compares: [], ops: [] };
  const { routerFips, using } = await routerFipState(store, r);
  if (using.length > 0)
    throw conflict(undefined, `router ${r.name} is the router path of floating IP(s) ${fipList(using)}; disassociate or delete them first`);
  return { compares: [routerFips], ops: [...releaseGateway(gw), { op: 'delete', key: gatewayKey(r.id) }] };
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
