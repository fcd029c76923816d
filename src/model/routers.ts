/**
 * Routers: create/delete, attaching subnets (interfaces) and static routes. Attaching or
 * detaching bumps the subnet's network guard, because the interface takes an IP and a MAC
 * in that network (port creation checks against them).
 */
import { randomUUID } from 'node:crypto';
import { MAX_TXN_OPS, readInPieces, type Compare, type Store, type TxnOp } from '../store/types.js';
import { pickFree, poolFlight, runCas, runCasInSteps, type CasOptions } from './cas.js';
import { withRevision } from './precondition.js';
import { decodeRouter, decodeSubnet, encodeRouter } from './codec.js';
import { conflict, invalid, notFound } from './errors.js';
import { cidrContains, cidrsOverlap, ipToInt, isHostOf } from '../net/addr.js';
import { parseRouteCidr, parseSubnetCidr } from './addr-rules.js';
import { allocKey, guardKey, nameKey, ROUTERS_PREFIX, routerFipsGuardKey, routerKey, subnetKey } from './keys.js';
import { generateMac, randomMac } from './macs.js';
import {
  createdAs,
  deletedAs,
  encodeClaim,
  ipOwners,
  loadNetState,
  loadRouter,
  loadSubnet,
  macOwners,
  netStateForRouter,
  portsCompare,
} from './read.js';
import type { Router, Subnet } from './types.js';
import { gatewayDeletion } from './gateways.js';
import { routerIndexOps } from './lazy-index.js';
import { parseInterfaceInput, parseMode, parseRouteInput, parseRouterInput } from './validate.js';
import { byName } from '../util/order.js';
import { isoTime } from '../util/time.js';

const bump = (networkId: string): TxnOp => ({ op: 'put', key: guardKey(networkId), value: isoTime() });

/**
 * Plan.landed of a write to router `id` whose commit the store may have made without answering: the router as stored
 * now when it holds what the request asked for (an interface on the subnet, a route, none), by this request or
 * another: either way that is the state asked for, as a delete finding its object gone is made.
 */
const routerHolds = (store: Store, id: string, holds: (r: Router) => boolean) => async (): Promise<Router | undefined> => {
  const kv = await store.get(routerKey(id));
  const r = kv && decodeRouter(kv.value);
  return r && holds(r) ? withRevision(r, kv.modRevision) : undefined;
};

export async function createRouter(store: Store, body: unknown, opts: CasOptions): Promise<Router> {
  const input = parseRouterInput(body);
  const id = randomUUID();
  const mac = randomMac();
  const flight = poolFlight(store, 'router-key');
  return runCas(
    store,
    async (attempt) => {
      if (await store.get(nameKey('router', input.name))) throw conflict('name', `a router named ${input.name} already exists`);
      const rk = await pickFree(store, 'router-key', attempt, flight.contended());
      const r: Router = { id, name: input.name, routerKey: rk.n, mac, mode: input.mode, interfaces: [], routes: [] };
      return {
        compares: [{ key: nameKey('router', r.name), modRevision: 0 }, rk.compare],
        ops: [
          { op: 'put', key: routerKey(id), value: encodeRouter(r) },
          { op: 'put', key: nameKey('router', r.name), value: encodeClaim({ id }) },
          { op: 'put', key: rk.key, value: `router/${id}` },
        ],
        result: r,
        committed: (rev) => void withRevision(r, rev),
        landed: () => createdAs(store, 'router', r.name, id, () => routerKey(id), decodeRouter),
      };
    },
    opts,
  ).finally(flight.leave);
}

export async function getRouter(store: Store, ref: string): Promise<Router> {
  const { obj, kv } = await loadRouter(store, ref);
  return withRevision(obj, kv.modRevision);
}

export async function listRouters(store: Store): Promise<Router[]> {
  const { kvs } = await store.range(ROUTERS_PREFIX);
  return kvs.map((kv) => decodeRouter(kv.value)).sort(byName);
}

/**
 * Networks whose interfaces one transaction takes off a router being deleted, when the whole delete does not fit in
 * one (each network costs a guard bump and an index key: 2 × 60 + the router's own put stay under MAX_TXN_OPS).
 */
const SHED_NETWORKS = 60;

/**
 * Deletes a router with its interfaces, gateway and routes. One transaction when it fits in one; a router on more
 * networks than that (etcd takes MAX_TXN_OPS operations in a transaction, the delete writes two per network) first
 * sheds its interfaces, SHED_NETWORKS networks per transaction, each step what a detach of those subnets writes and
 * each on the router's revision (a concurrent change makes it read again). What would refuse the delete (floating IPs
 * using its gateway) refuses before anything is written; an interruption between steps leaves the router with fewer
 * interfaces and no routes, which a second delete finishes. Returns the router as it was first read.
 */
export async function deleteRouter(store: Store, ref: string, opts: CasOptions): Promise<Router> {
  const { done, steps } = await runCasInSteps<Router, Router>(
    store,
    async () => {
      const { obj: r, kv } = await loadRouter(store, ref);
      const object = { kv, what: `router ${r.name}` };
      const gw = await gatewayDeletion(store, r);
      const nets = [...new Set(r.interfaces.map((i) => i.networkId))];
      const ops: TxnOp[] = [
        ...gw.ops,
        { op: 'delete', key: kv.key },
        { op: 'delete', key: nameKey('router', r.name) },
        { op: 'delete', key: allocKey('router-key', r.routerKey) },
        { op: 'delete', key: routerFipsGuardKey(r.id) },
        ...routerIndexOps(r, undefined),
        // Interfaces go with the router; their networks' guards are bumped so IPAM sees the freed addresses.
        ...nets.map(bump),
      ];
      // The router's revision, and its FIP guard (gatewayDeletion): a FIP associated through this router since the
      // read (it puts that guard, and leaves the router's revision alone) stops the delete and each step alike.
      const compares = [{ key: kv.key, modRevision: kv.modRevision }, ...gw.compares];
      // A delete (or step) the store did not answer: done once the router is gone; a step found made or not is
      // planned again from what the store holds.
      const landed = deletedAs(store, kv.key, { done: r });
      if (ops.length <= MAX_TXN_OPS || nets.length === 0) return { compares, ops, result: { done: r }, object, landed };
      // Too big for one transaction: take some networks' interfaces off first (routes go too: a route's next hop may
      // be on a shed subnet, and the routes go with the router anyway).
      const shed = new Set(nets.slice(0, SHED_NETWORKS));
      const next: Router = { ...r, routes: [], interfaces: r.interfaces.filter((i) => !shed.has(i.networkId)) };
      return {
        compares,
        ops: [{ op: 'put', key: kv.key, value: encodeRouter(next) }, ...[...shed].map(bump), ...routerIndexOps(r, next)],
        result: { step: r },
        // Its If-Match follows the router through this step (cas.ts runCasInSteps).
        object,
        landed,
      };
    },
    opts,
  );
  // The router as it was first read.
  return steps[0] ?? done;
}

export async function attachSubnet(store: Store, ref: string, body: unknown, opts: CasOptions): Promise<Router> {
  const input = parseInterfaceInput(body);
  return runCas(
    store,
    async () => {
      const { obj: r, kv } = await loadRouter(store, ref);
      const { obj: s, kv: skv } = await loadSubnet(store, input.subnet, 'subnet');
      if (r.interfaces.some((i) => i.subnetId === s.id))
        throw conflict('subnet', `subnet ${s.name} is already attached to router ${r.name}`);
      if (r.gateway?.networkId === s.networkId)
        throw conflict(
          'subnet',
          `subnet ${s.name} is on the gateway network of router ${r.name}; a router cannot have both an interface and its gateway on one network`,
        );
      const cidr = parseSubnetCidr(s.cidr);
      for (const other of await attachedSubnets(store, r)) {
        if (cidrsOverlap(cidr, parseSubnetCidr(other.cidr)))
          throw conflict('subnet', `subnet ${s.name} (${s.cidr}) overlaps subnet ${other.name} already attached to router ${r.name}`);
      }
      const ip = input.ip ?? s.gatewayIp;
      if (!isHostOf(cidr, ipToInt(ip))) throw invalid('ip', `interface IP ${ip} is outside subnet ${s.name} (${s.cidr})`);
      const st = await loadNetState(store, s.networkId);
      const owner = ipOwners(st).get(ip);
      if (owner !== undefined) throw conflict('ip', `IP ${ip} is already used by ${owner}`);
      const mac = generateMac(new Set(macOwners(st).keys()));
      const next: Router = { ...r, interfaces: [...r.interfaces, { subnetId: s.id, networkId: s.networkId, ip, mac }] };
      return {
        compares: [
          { key: kv.key, modRevision: kv.modRevision },
          { key: skv.key, modRevision: skv.modRevision },
          { key: guardKey(s.networkId), modRevision: st.guardRev },
          // The interface's address and MAC hold no claim: a port created since the read must fail this.
          portsCompare(st),
        ],
        ops: [{ op: 'put', key: kv.key, value: encodeRouter(next) }, bump(s.networkId), ...routerIndexOps(r, next)],
        result: next,
        object: { kv, what: `router ${r.name}` },
        landed: routerHolds(store, r.id, (x) => x.interfaces.some((i) => i.subnetId === s.id && i.ip === ip)),
      };
    },
    opts,
  );
}

/** Subnets attached to a router, read for route validation. */
/** The subnets of a router's interfaces, read together (in pieces a store takes: a router may have hundreds). */
async function attachedSubnets(store: Store, r: Router): Promise<Subnet[]> {
  const ops = r.interfaces.map((i) => ({ key: subnetKey(i.networkId, i.subnetId) }));
  return (await readInPieces(store, ops)).flat().map((kv) => decodeSubnet(kv.value));
}

export async function detachSubnet(store: Store, ref: string, subnetRef: string, opts: CasOptions): Promise<Router> {
  return runCas(
    store,
    async () => {
      const { obj: r, kv } = await loadRouter(store, ref);
      const subs = await attachedSubnets(store, r);
      const s = subs.find((x) => x.id === subnetRef || x.name === subnetRef);
      if (!s) throw notFound('subnet', `subnet ${subnetRef} is not attached to router ${r.name}`);
      const rest = subs.filter((x) => x.id !== s.id).map((x) => parseSubnetCidr(x.cidr));
      const orphan = r.routes.find((rt) => !rest.some((c) => cidrContains(c, ipToInt(rt.nexthop))));
      if (orphan) throw conflict('subnet', `route ${orphan.cidr} via ${orphan.nexthop} needs subnet ${s.name}; remove the route first`);
      // Floating IPs whose router path is this interface (their port's fixed IP is in the subnet) keep it.
      const { st, routerFips } = await netStateForRouter(store, s.networkId, r.id);
      const used = st.fips.filter(
        (f) =>
          f.obj.routerId === r.id && f.obj.portNetworkId === s.networkId && cidrContains(parseSubnetCidr(s.cidr), ipToInt(f.obj.fixedIp!)),
      );
      if (used.length > 0)
        throw conflict(
          'subnet',
          `floating IP(s) ${used.map((f) => `${f.obj.ip} (${f.obj.id})`).join(', ')} reach their port through router ${r.name}'s interface on subnet ${s.name}; disassociate them first`,
        );
      const next: Router = { ...r, interfaces: r.interfaces.filter((i) => i.subnetId !== s.id) };
      return {
        compares: [{ key: kv.key, modRevision: kv.modRevision }, { key: guardKey(s.networkId), modRevision: st.guardRev }, routerFips],
        ops: [{ op: 'put', key: kv.key, value: encodeRouter(next) }, bump(s.networkId), ...routerIndexOps(r, next)],
        result: next,
        object: { kv, what: `router ${r.name}` },
        landed: routerHolds(store, r.id, (x) => !x.interfaces.some((i) => i.subnetId === s.id)),
      };
    },
    opts,
  );
}

export async function addRoute(store: Store, ref: string, body: unknown, opts: CasOptions): Promise<Router> {
  const input = parseRouteInput(body);
  return runCas(
    store,
    async () => {
      const { obj: r, kv } = await loadRouter(store, ref);
      if (r.routes.some((x) => x.cidr === input.cidr)) throw conflict('cidr', `router ${r.name} already has a route to ${input.cidr}`);
      const subs = await attachedSubnets(store, r);
      const nh = ipToInt(input.nexthop);
      const via = subs.find((s) => cidrContains(parseSubnetCidr(s.cidr), nh));
      if (!via) {
        throw invalid(
          'nexthop',
          `nexthop ${input.nexthop} is not in any subnet attached to router ${r.name}` +
            (subs.length ? ` (${subs.map((s) => s.cidr).join(', ')})` : ' (none attached)'),
        );
      }
      if (r.interfaces.some((i) => i.ip === input.nexthop))
        throw invalid('nexthop', `nexthop ${input.nexthop} is the router's own address`);
      const next: Router = { ...r, routes: [...r.routes, { cidr: input.cidr, nexthop: input.nexthop }] };
      const compares: Compare[] = [{ key: kv.key, modRevision: kv.modRevision }];
      return {
        compares,
        ops: [{ op: 'put', key: kv.key, value: encodeRouter(next) }],
        result: next,
        object: { kv, what: `router ${r.name}` },
        landed: routerHolds(store, r.id, (x) => x.routes.some((rt) => rt.cidr === input.cidr && rt.nexthop === input.nexthop)),
      };
    },
    opts,
  );
}

export async function removeRoute(store: Store, ref: string, cidr: string, opts: CasOptions): Promise<Router> {
  parseRouteCidr(cidr, 'cidr');
  return runCas(
    store,
    async () => {
      const { obj: r, kv } = await loadRouter(store, ref);
      if (!r.routes.some((x) => x.cidr === cidr)) throw notFound('cidr', `router ${r.name} has no route to ${cidr}`);
      const next: Router = { ...r, routes: r.routes.filter((x) => x.cidr !== cidr) };
      return {
        compares: [{ key: kv.key, modRevision: kv.modRevision }],
        ops: [{ op: 'put', key: kv.key, value: encodeRouter(next) }],
        result: next,
        object: { kv, what: `router ${r.name}` },
        landed: routerHolds(store, r.id, (x) => !x.routes.some((rt) => rt.cidr === cidr)),
      };
    },
    opts,
  );
}

export async function setRouterMode(store: Store, ref: string, mode: unknown, opts: CasOptions): Promise<Router> {
  const m = parseMode(mode);
  return runCas(
    store,
    async () => {
      const { obj: r, kv } = await loadRouter(store, ref);
      // In that mode already, it is made whatever If-Match says (cas.ts CasOptions.ifMatch).
      if (r.mode === m) return { compares: [], ops: [], result: r, object: { kv, what: `router ${r.name}` } };
      const next: Router = { ...r, mode: m };
      return {
        compares: [{ key: kv.key, modRevision: kv.modRevision }],
        ops: [{ op: 'put', key: kv.key, value: encodeRouter(next) }],
        result: next,
        object: { kv, what: `router ${r.name}` },
        replannable: true,
      };
    },
    opts,
  );
}
