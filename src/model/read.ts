/** Read helpers: resolve `{name-or-id}` references and load a network's objects at one revision. */
import { readInPieces, type Compare, type KeyValue, type ReadOp, type Store } from '../store/types.js';
import { decodeBinding, decodeFloatingIp, decodeNetwork, decodePort, decodeRouter, decodeSecurityGroup, decodeSubnet } from './codec.js';
import { invalid, notFound } from './errors.js';
import { indexComplete } from './lazy-index.js';
import {
  fipKey,
  FIPS_PREFIX,
  fipsOnPrefix,
  guardKey,
  LAZY_INDEX_KEY,
  nameKey,
  NET_PREFIX,
  netGuardsPrefix,
  portFipsGuardKey,
  portsGuardKey,
  subnetGuardKey,
  namesPrefix,
  netPrefix,
  networkKey,
  parseKey,
  portKey,
  ROUTERS_PREFIX,
  routerFipsGuardKey,
  routerKey,
  sgKey,
  subnetKey,
} from './keys.js';
import type { Binding, FloatingIp, Kind, Network, Port, Router, SecurityGroup, Subnet } from './types.js';
import { UUID_RE } from './validate.js';
import { SharedReads } from '../util/single-flight.js';

export interface NameClaim {
  id: string;
  networkId?: string;
}

export function encodeClaim(c: NameClaim): string {
  return JSON.stringify(c.networkId === undefined ? { id: c.id } : { id: c.id, networkId: c.networkId });
}

export function decodeClaim(v: string): NameClaim {
  const o = JSON.parse(v) as NameClaim;
  return o.networkId === undefined ? { id: o.id } : { id: o.id, networkId: o.networkId };
}

/**
 * What a creation made, if it did: its name claimed with its own id, and the record at `key(claim)`, decoded. A plan's
 * `landed` (cas.ts): asked after the store failed to answer the creation's commit, which may have been made or not.
 */
export async function createdAs<T>(
  store: Store,
  kind: Kind,
  name: string,
  id: string,
  key: (c: NameClaim) => string,
  decode: (value: string) => T,
): Promise<T | undefined> {
  const claim = await store.get(nameKey(kind, name));
  const c = claim ? decodeClaim(claim.value) : undefined;
  if (c?.id !== id) return undefined;
  const kv = await store.get(key(c));
  return kv ? decode(kv.value) : undefined;
}

/**
 * A deletion's `landed` (cas.ts): made, answered with `result`, once the record at `key` is gone — by this request or
 * another: either way the object the request named is deleted.
 */
export const deletedAs =
  <T>(store: Store, key: string, result: T) =>
  async (): Promise<T | undefined> =>
    (await store.get(key)) ? undefined : result;

/** Finds the claim of a name or id; undefined if neither exists. */
export async function findClaim(store: Store, kind: Kind, ref: string): Promise<NameClaim | undefined> {
  const byName = UUID_RE.test(ref) ? undefined : await store.get(nameKey(kind, ref));
  if (byName) return decodeClaim(byName.value);
  if (!UUID_RE.test(ref)) return undefined;
  if (kind === 'network') return { id: ref };
  if (kind === 'router' || kind === 'security-group') return { id: ref };
  // A port's id is claimed in the names index too (keys.ts); ports made before that are found by the scan.
  const byId = kind === 'port' ? await store.get(nameKey('port', ref.toLowerCase())) : undefined;
  if (byId) return decodeClaim(byId.value);
  // Subnets and ports are keyed under their network: find the network through the names index.
  const { kvs } = await store.range(namesPrefix(kind));
  for (const kv of kvs) {
    const c = decodeClaim(kv.value);
    if (c.id === ref) return c;
  }
  return undefined;
}

/** Every name claimed for a kind (not ports' id claims, which share the index: keys.ts). */
export async function claimedNames(store: Store, kind: Kind): Promise<string[]> {
  const { kvs } = await store.range(namesPrefix(kind));
  return kvs.map((kv) => kv.key.slice(namesPrefix(kind).length)).filter((n) => !UUID_RE.test(n));
}

export interface Loaded<T> {
  obj: T;
  kv: KeyValue;
}

/** `field` set: the reference came from a request body (unknown → 400 naming the field); else 404. */
function missing(kind: Kind, ref: string, field?: string): Error {
  return field === undefined ? notFound(undefined, `${kind} ${ref} not found`) : invalid(field, `${field}: ${kind} ${ref} not found`);
}

/** The id a network reference names (a UUID is taken as is; a name is looked up). */
export async function networkIdOf(store: Store, ref: string, field?: string): Promise<string> {
  const c = await findClaim(store, 'network', ref);
  if (!c) throw missing('network', ref, field);
  return c.id;
}

export async function loadNetwork(store: Store, ref: string, field?: string): Promise<Loaded<Network>> {
  const c = await findClaim(store, 'network', ref);
  const kv = c && (await store.get(networkKey(c.id)));
  if (!kv) throw missing('network', ref, field);
  return { obj: decodeNetwork(kv.value), kv };
}

export async function loadSubnet(store: Store, ref: string, field?: string): Promise<Loaded<Subnet>> {
  const c = await findClaim(store, 'subnet', ref);
  const kv = c?.networkId && (await store.get(subnetKey(c.networkId, c.id)));
  if (!kv) throw missing('subnet', ref, field);
  return { obj: decodeSubnet(kv.value), kv };
}

export async function loadPort(store: Store, ref: string, field?: string): Promise<Loaded<Port>> {
  const c = await findClaim(store, 'port', ref);
  const kv = c?.networkId && (await store.get(portKey(c.networkId, c.id)));
  if (!kv) throw missing('port', ref, field);
  return { obj: decodePort(kv.value), kv };
}

export async function loadRouter(store: Store, ref: string, field?: string): Promise<Loaded<Router>> {
  const c = await findClaim(store, 'router', ref);
  const kv = c && (await store.get(routerKey(c.id)));
  if (!kv) throw missing('router', ref, field);
  return { obj: decodeRouter(kv.value), kv };
}

export async function loadSecurityGroup(store: Store, ref: string, field?: string): Promise<Loaded<SecurityGroup>> {
  // Ids are stored lowercase; an id typed in capitals names the same group.
  const c = await findClaim(store, 'security-group', UUID_RE.test(ref) ? ref.toLowerCase() : ref);
  const kv = c && (await store.get(sgKey(c.id)));
  if (!kv) throw missing('security-group', ref, field);
  return { obj: decodeSecurityGroup(kv.value), kv };
}

/** Everything one network's invariants depend on, plus the guard revisions that protect it (keys.ts). */
export interface NetState {
  networkId: string;
  /** The structure guard's modRevision (0: absent). */
  guardRev: number;
  /** modRevision of the ports guard, put by every port create and delete (0: absent). */
  portsRev: number;
  /** modRevision of each subnet's guard, put by every port create taking an address in it (absent: 0). */
  subnetRevs: Map<string, number>;
  subnets: Loaded<Subnet>[];
  ports: Loaded<Port>[];
  bindings: Map<string, Binding>;
  /** Router interfaces placed in this network. */
  routerIfaces: { router: Router; ip: string; mac: string; subnetId: string }[];
  /** Router gateways placed in this network (a provider network), with the router's revision as read. */
  gateways: { router: Router; ip: string; mac: string; subnetId: string; modRevision: number }[];
  /** Floating IPs on this network (networkId) or mapped to one of its ports (portNetworkId). */
  fips: Loaded<FloatingIp>[];
}

export async function loadNetState(store: Store, networkId: string): Promise<NetState> {
  return (await snapshotNet(store, networkId)).st;
}

/**
 * A network's state for a writer that refuses while floating IPs use router `routerId` (gateway clear and move,
 * interface detach, router delete), with the compare of the router's FIP guard as read: every association through
 * the router puts it, so one made after this read fails the writer. The guard is read before the FIPs are (they come
 * in snapshotNet's second read), so an association this read misses has moved it.
 */
export async function netStateForRouter(store: Store, networkId: string, routerId: string): Promise<{ st: NetState; routerFips: Compare }> {
  const key = routerFipsGuardKey(routerId);
  const { st, extra } = await snapshotNet(store, networkId, [{ key }]);
  return { st, routerFips: { key, modRevision: extra[0]?.[0]?.modRevision ?? 0 } };
}

/** Stores whose lazy index was seen complete (it stays so: every writer keeps it). */
const indexed = new WeakSet<Store>();

/** Tells this process the store's lazy index is complete (ensureLazyIndex found or made it so). */
export function noteIndexComplete(store: Store): void {
  indexed.add(store);
}

/**
 * A network's record and state, plus `extra` reads, at one revision: the guard's revision is consistent with what was
 * read, so a compare on it catches any writer after this snapshot.
 *
 * The routers and FIPs placed in the network are found through the lazy index under it (lazy-index.ts) and read in a
 * second round trip, by key: a write in one network reads the few objects placed there, not every router and FIP in
 * the store. That second read may see them newer than the first: any change that places one in the network or takes
 * it out bumps the network's guard, except a floating IP created without association, which claims its address and
 * MAC instead and puts the ports guard (port-claims.ts claimFip): every writer that takes an address there compares
 * the claim or that guard, so a writer planning on a stale read fails its compare and reads again. Until the index is
 * seen complete in the store (a store written before it existed), every router and FIP is read with the rest.
 */
export async function snapshotNet(
  store: Store,
  networkId: string,
  extra: ReadOp[] = [],
): Promise<{ network?: KeyValue; st: NetState; extra: KeyValue[][]; revision: number }> {
  const full = !indexed.has(store);
  const { results, revision } = await store.read([
    { key: networkKey(networkId) },
    { key: guardKey(networkId) },
    { prefix: netGuardsPrefix(networkId) },
    { prefix: netPrefix(networkId) },
    { prefix: fipsOnPrefix(networkId) },
    ...(full ? [{ key: LAZY_INDEX_KEY }, { prefix: ROUTERS_PREFIX }, { prefix: FIPS_PREFIX }] : []),
    ...extra,
  ]);
  const [net, guard, guards, kvs, fipsOn] = results as [KeyValue[], KeyValue[], KeyValue[], KeyValue[], KeyValue[]];
  let routers: KeyValue[];
  let fips: KeyValue[];
  let rest: KeyValue[][];
  if (full) {
    const [layout, allRouters, allFips, ...more] = results.slice(5) as [KeyValue[], KeyValue[], KeyValue[], ...KeyValue[][]];
    if (indexComplete(layout[0]?.value)) indexed.add(store);
    [routers, fips, rest] = [allRouters, allFips, more];
  } else {
    rest = results.slice(5);
    [routers, fips] = await placedHere(store, kvs, fipsOn);
  }
  return { network: net[0], st: buildNetState(networkId, guard[0], guards, kvs, routers, fips), extra: rest, revision };
}

/**
 * What a writer about one port must see of its floating IPs, without reading the port's network: the port's FIP
 * guard (keys.ts portFipsGuardKey: every association with the port puts it, so an association after this read fails
 * a writer comparing it) and the floating IPs associated with ports in its network, through the lazy index
 * (`<network>/fips/`), read after it (fipsAssociatedIn). Used by a port's delete and by an association. Both read the
 * whole network before (its ports, bindings and claims) and compared its structure guard, which every association
 * bumped: 500 concurrent port deletes in a network of 1,000 ports ran into the store's 5 s deadline, and 300
 * concurrent associations took 46 s and 83 gave up (eighteenth session). Until the index is seen complete in the
 * store, every FIP is read, as snapshotNet does.
 */
export async function portFipState(
  store: Store,
  port: { networkId: string; id: string },
): Promise<{ portFipsRev: number; fips: Loaded<FloatingIp>[] }> {
  const { results, revision } = await store.read([{ key: portFipsGuardKey(port.id) }]);
  return { portFipsRev: results[0]?.[0]?.modRevision ?? 0, fips: await fipsAssociatedIn(store, port.networkId, revision) };
}

/**
 * The floating IPs whose router path is router `r`, for a writer refused while any are (gateway clear and move, router
 * delete), with the compare of the router's FIP guard as read: every association through the router puts it, so one
 * made after this read fails the writer. Such a FIP is associated with a port in one of the router's interface
 * networks (its path needs that interface, and an interface's detach is refused while a FIP uses it), so those
 * networks' FIPs are read (fipsAssociatedIn: shared, from a read after the guard's), not the gateway network's routers
 * and FIPs, which made each of 300 gateway clears at once read ~600 keys (nineteenth session).
 */
export async function routerFipState(
  store: Store,
  r: Pick<Router, 'id' | 'interfaces'>,
): Promise<{ routerFips: Compare; using: Loaded<FloatingIp>[] }> {
  const key = routerFipsGuardKey(r.id);
  const { results, revision } = await store.read([{ key }]);
  const nets = [...new Set(r.interfaces.map((i) => i.networkId))];
  const fips = (await Promise.all(nets.map((n) => fipsAssociatedIn(store, n, revision)))).flat();
  return { routerFips: { key, modRevision: results[0]?.[0]?.modRevision ?? 0 }, using: fips.filter((f) => f.obj.routerId === r.id) };
}

/**
 * The floating IPs associated with ports in a network, from a read at revision `since` or later, shared by the port
 * deletes and associations in flight in this process: each reading them all made 1,000 deletes of ports with FIPs at
 * once read a million FIPs (511 ran into the store's deadline, eighteenth session). A read begun before the writer's
 * own read of its port's FIP guard is not used for it (SharedReads).
 */
const fipReads = new SharedReads<{ revision: number; fips: Loaded<FloatingIp>[] }>();
const fipsAssociatedIn = async (store: Store, networkId: string, since: number): Promise<Loaded<FloatingIp>[]> =>
  (await fipReads.since(store, `floating IPs of network ${networkId}`, since, () => readFipsAssociatedIn(store, networkId))).fips;

async function readFipsAssociatedIn(store: Store, networkId: string): Promise<{ revision: number; fips: Loaded<FloatingIp>[] }> {
  const full = !indexed.has(store);
  const { results, revision } = await store.read([
    { prefix: `${netPrefix(networkId)}fips/` },
    ...(full ? [{ key: LAZY_INDEX_KEY }, { prefix: FIPS_PREFIX }] : []),
  ]);
  const [refs] = results as [KeyValue[]];
  let fips: KeyValue[];
  if (full) {
    const [layout, all] = results.slice(1) as [KeyValue[], KeyValue[]];
    if (indexComplete(layout[0]?.value)) indexed.add(store);
    fips = all;
  } else {
    fips = (await placedHere(store, refs, []))[1];
  }
  return {
    revision,
    fips: fips.map((kv) => ({ obj: decodeFloatingIp(kv.value), kv })).filter((f) => f.obj.portNetworkId === networkId),
  };
}

/**
 * A network's routers with their gateway on it, without its ports and FIPs: the structure guard (every gateway set or
 * cleared there bumps it) and the routers the lazy index places there, read by key after it. What an association
 * needs of the provider network (its router paths).
 */
export async function gatewaysOn(store: Store, networkId: string): Promise<{ guardRev: number; gateways: NetState['gateways'] }> {
  if (!indexed.has(store)) {
    const st = await loadNetState(store, networkId);
    return { guardRev: st.guardRev, gateways: st.gateways };
  }
  const { results } = await store.read([{ key: guardKey(networkId) }, { prefix: `${netPrefix(networkId)}routers/` }]);
  const [guard, refs] = results as [KeyValue[], KeyValue[]];
  const [routers] = await placedHere(store, refs, []);
  const st = buildNetState(networkId, guard[0], [], [], routers, []);
  return { guardRev: st.guardRev, gateways: st.gateways };
}

/** The routers and FIPs the lazy index places in a network (its keys under the network, and the FIPs on it). */
async function placedHere(store: Store, netKvs: KeyValue[], fipsOn: KeyValue[]): Promise<[KeyValue[], KeyValue[]]> {
  const routerIds = new Set<string>();
  const fipIds = new Set<string>();
  for (const kv of [...netKvs, ...fipsOn]) {
    const k = parseKey(kv.key);
    if (k?.kind === 'router-ref') routerIds.add(k.routerId);
    else if (k?.kind === 'fip-ref' || k?.kind === 'fip-on') fipIds.add(k.fipId);
  }
  if (routerIds.size + fipIds.size === 0) return [[], []];
  const ops: ReadOp[] = [...[...routerIds].map((id) => ({ key: routerKey(id) })), ...[...fipIds].map((id) => ({ key: fipKey(id) }))];
  // In pieces a store takes: a provider network may hold thousands of FIPs.
  const results = await readInPieces(store, ops);
  return [results.slice(0, routerIds.size).flat(), results.slice(routerIds.size).flat()];
}

function buildNetState(
  networkId: string,
  guard: KeyValue | undefined,
  guards: KeyValue[],
  kvs: KeyValue[],
  routers: KeyValue[],
  fips: KeyValue[],
): NetState {
  const subnetRevs = new Map<string, number>();
  let portsRev = 0;
  const subnetGuards = `${netGuardsPrefix(networkId)}subnet/`;
  for (const kv of guards) {
    if (kv.key === portsGuardKey(networkId)) portsRev = kv.modRevision;
    else if (kv.key.startsWith(subnetGuards)) subnetRevs.set(kv.key.slice(subnetGuards.length), kv.modRevision);
  }
  const st: NetState = {
    networkId,
    guardRev: guard?.modRevision ?? 0,
    portsRev,
    subnetRevs,
    subnets: [],
    ports: [],
    bindings: new Map(),
    routerIfaces: [],
    gateways: [],
    fips: [],
  };
  for (const kv of kvs) {
    const k = parseKey(kv.key);
    if (k?.kind === 'subnet') st.subnets.push({ obj: decodeSubnet(kv.value), kv });
    else if (k?.kind === 'port') st.ports.push({ obj: decodePort(kv.value), kv });
    else if (k?.kind === 'binding') st.bindings.set(k.portId, decodeBinding(kv.value));
  }
  st.subnets.sort((a, b) => a.kv.createRevision - b.kv.createRevision);
  st.ports.sort((a, b) => a.kv.createRevision - b.kv.createRevision);
  for (const kv of routers) {
    const r = decodeRouter(kv.value);
    for (const i of r.interfaces)
      if (i.networkId === networkId) st.routerIfaces.push({ router: r, ip: i.ip, mac: i.mac, subnetId: i.subnetId });
    const g = r.gateway;
    if (g?.networkId === networkId)
      st.gateways.push({ router: r, ip: g.ip, mac: g.mac, subnetId: g.subnetId, modRevision: kv.modRevision });
  }
  for (const kv of fips) {
    const f = decodeFloatingIp(kv.value);
    if (f.networkId === networkId || f.portNetworkId === networkId) st.fips.push({ obj: f, kv });
  }
  return st;
}

/** What a network holds (or every network, for a list of all): its subnets, and its ports with their bindings. */
export interface NetContents {
  subnets: Subnet[];
  ports: (Port & { binding?: Binding })[];
}

/**
 * The subnets and ports of one network, or of every network, read at one revision with one range (a listing: no
 * guard, router or floating IP is needed). A list of every port is one read, not one per network: 2,000 networks
 * were 2,000 round trips in turn.
 */
export async function readNetContents(store: Store, networkId?: string): Promise<NetContents> {
  const { kvs } = await store.range(networkId === undefined ? NET_PREFIX : netPrefix(networkId));
  const subnets: Subnet[] = [];
  const ports = new Map<string, Port & { binding?: Binding }>();
  const bindings = new Map<string, Binding>();
  for (const kv of kvs) {
    const k = parseKey(kv.key);
    if (k?.kind === 'subnet') subnets.push(decodeSubnet(kv.value));
    else if (k?.kind === 'port') ports.set(k.portId, decodePort(kv.value));
    else if (k?.kind === 'binding') bindings.set(k.portId, decodeBinding(kv.value));
  }
  // A port's binding is under its own network's prefix, read in the same range.
  for (const [id, b] of bindings) {
    const p = ports.get(id);
    if (p) ports.set(id, { ...p, binding: b });
  }
  return { subnets, ports: [...ports.values()] };
}

/** The structure guard as read: a writer depending on the network's structure fails if it changed since. */
export const guardCompare = (st: NetState): Compare => ({ key: guardKey(st.networkId), modRevision: st.guardRev });

/**
 * The ports guard as read: a writer that must see every port of the network (its delete; anything taking an address
 * or a MAC there without a claim: a router interface, a gateway, a floating IP) fails if a port came or went since.
 */
export const portsCompare = (st: NetState): Compare => ({ key: portsGuardKey(st.networkId), modRevision: st.portsRev });

/** A subnet's guard as read: its delete fails if a port took an address in it since. */
export const subnetPortsCompare = (st: NetState, subnetId: string): Compare => ({
  key: subnetGuardKey(st.networkId, subnetId),
  modRevision: st.subnetRevs.get(subnetId) ?? 0,
});

/** Who holds an IP in a network (for "already used by …" messages). */
export function ipOwners(st: NetState): Map<string, string> {
  const m = new Map<string, string>();
  for (const p of st.ports) for (const f of p.obj.fixedIps) m.set(f.ip, `port ${p.obj.name}`);
  for (const r of st.routerIfaces) m.set(r.ip, `router ${r.router.name}`);
  for (const g of st.gateways) m.set(g.ip, `the gateway of router ${g.router.name}`);
  for (const f of st.fips) if (f.obj.networkId === st.networkId) m.set(f.obj.ip, `floating IP ${f.obj.id}`);
  return m;
}

export function macOwners(st: NetState): Map<string, string> {
  const m = new Map<string, string>();
  for (const p of st.ports) m.set(p.obj.mac, `port ${p.obj.name}`);
  for (const r of st.routerIfaces) m.set(r.mac, `router ${r.router.name}`);
  for (const g of st.gateways) m.set(g.mac, `the gateway of router ${g.router.name}`);
  for (const f of st.fips) if (f.obj.networkId === st.networkId) m.set(f.obj.mac, `floating IP ${f.obj.id}`);
  return m;
}
