/**
 * Floating IPs (issue 14): an address of a provider network, mapped 1:1 to a fixed IP of a port on a tenant network
 * through a router whose gateway is on that provider network and that has an interface on the port's subnet (the
 * router path). Each change is one transaction comparing the structure guard of the provider network, which none
 * bumps. Its address and MAC there are claimed as a port's are (port-claims.ts), so FIPs created at once conflict only
 * on the address they pick. An association (at creation or later) compares the router's revision and the port's
 * record, compares and puts the port's FIP guard (one FIP per fixed IP; the port's delete compares it), and puts the
 * router's FIP guard, which the writers refused while FIPs use the router compare (gateway clear and move, interface
 * detach, router delete: eighteenth session; before, associations bumped both networks' structure guards).
 */
import { randomUUID } from 'node:crypto';
import { readInPieces, type Compare, type Store, type TxnOp } from '../store/types.js';
import { runCas, type CasOptions } from './cas.js';
import { withRevision } from './precondition.js';
import { decodeFloatingIp, encodeFloatingIp } from './codec.js';
import { conflict, invalid, notFound } from './errors.js';
import { FIPS_PREFIX, fipKey, guardKey, ipClaimKey, portFipsGuardKey, routerFipsGuardKey, routerKey, SEGMENTS_PREFIX } from './keys.js';
import { generateMac } from './macs.js';
import { fipIndexOps } from './lazy-index.js';
import { parseFipInput, parseFipPatch, type FipAssociation } from './ns-validate.js';
import { claimedFip, claimFip, randomPick, releaseFip } from './port-claims.js';
import { addressWriters, planOnSharedState } from './shared-net-state.js';
import { segmentHolder } from './segments.js';
import { assignOneIp } from './port-ips.js';
import {
  deletedAs,
  gatewaysOn,
  ipOwners,
  loadNetwork,
  loadPort,
  loadSubnet,
  macOwners,
  portFipState,
  type Loaded,
  type NetState,
} from './read.js';
import type { FloatingIp, Network } from './types.js';
import { isIpv4, ipToInt } from '../net/addr.js';
import { UUID_RE } from './validate.js';
import { compareText } from '../util/order.js';
import { isoTime } from '../util/time.js';

type Association = Required<Pick<FloatingIp, 'portId' | 'portNetworkId' | 'fixedIp' | 'routerId'>>;

/**
 * Checks an association of a FIP on `net` (the router path), returning its fields and what guards it. `netSt` holds
 * the routers with their gateway on the provider network (found through the lazy index, not by reading every router).
 *
 * What guards it, without a key that every association shares (they bumped the provider and the port network's
 * structure guards before: 300 at once took 46 s and 83 gave up after 100 attempts): the router as read (a gateway
 * cleared or moved, an interface detached, the router deleted since fail it), the port as read (deleted since), and
 * the port's FIP guard, compared and put (a second FIP for the port since fails it: no twin). It puts the router's FIP
 * guard blind: the writers that refuse while FIPs use the router compare it, so they fail instead.
 */
async function associate(
  store: Store,
  net: Network,
  netSt: Pick<NetState, 'gateways'>,
  a: FipAssociation,
  selfId: string,
): Promise<{ fields: Association; compares: Compare[]; ops: TxnOp[] }> {
  const { obj: port, kv: portKv } = await loadPort(store, a.port, 'port');
  const { obj: pnet } = await loadNetwork(store, port.networkId);
  if (pnet.provider)
    throw invalid('port', `port ${port.name} is on provider network ${pnet.name}: a floating IP maps to a port on a tenant network`);
  const fixed = a.fixedIp === undefined ? port.fixedIps[0] : port.fixedIps.find((f) => f.ip === a.fixedIp);
  if (!fixed)
    throw invalid(
      a.fixedIp === undefined ? 'port' : 'fixedIp',
      a.fixedIp === undefined
        ? `port ${port.name} has no fixed IP to map a floating IP to`
        : `${a.fixedIp} is not a fixed IP of port ${port.name} (${port.fixedIps.map((f) => f.ip).join(', ') || 'none'})`,
    );
  const pst = await portFipState(store, port);
  const twin = pst.fips.find((f) => f.obj.id !== selfId && f.obj.portId === port.id && f.obj.fixedIp === fixed.ip);
  if (twin) throw conflict('port', `port ${port.name} (${fixed.ip}) already has floating IP ${twin.obj.ip} (${twin.obj.id})`);
  const withGw = [...netSt.gateways].sort((x, y) => compareText(x.router.name, y.router.name));
  const why = `port ${port.name} has no router path to network ${net.name}`;
  if (withGw.length === 0) throw conflict('port', `${why}: no router has its gateway on ${net.name}`);
  const path = withGw.find((x) => x.router.interfaces.some((i) => i.subnetId === fixed.subnetId));
  if (!path) {
    const sub = (await loadSubnet(store, fixed.subnetId).catch(() => undefined))?.obj.name ?? fixed.subnetId;
    throw conflict(
      'port',
      `${why}: no router with its gateway on ${net.name} (${withGw.map((x) => x.router.name).join(', ')}) has an interface on subnet ${sub} (${fixed.ip})`,
    );
  }
  return {
    fields: { portId: port.id, portNetworkId: port.networkId, fixedIp: fixed.ip, routerId: path.router.id },
    compares: [
      // The router as read (its interfaces and gateway are the path).
      { key: routerKey(path.router.id), modRevision: path.modRevision },
      { key: portKv.key, modRevision: portKv.modRevision },
      { key: portFipsGuardKey(port.id), modRevision: pst.portFipsRev },
    ],
    ops: [
      { op: 'put', key: portFipsGuardKey(port.id), value: isoTime() },
      { op: 'put', key: routerFipsGuardKey(path.router.id), value: isoTime() },
    ],
  };
}

function providerOf(net: Network): void {
  if (!net.provider)
    throw invalid('network', `network ${net.name} is not a provider network: floating IPs come from a provider network's subnets`);
}

/**
 * Creates a FIP: one transaction that compares the provider network's structure guard without bumping it and claims
 * its address and MAC (port-claims.ts claimFip), so that FIPs created at once on one network (and ports there)
 * conflict only when they pick the same address. Alone, a creation takes the lowest free address; with others in
 * flight here (shared-net-state.ts addressWriters, with gateway sets), or after a lost race, it picks at random among
 * the free ones, so racing creations do not all chase the next one. An association is guarded by the router, the port
 * and their FIP guards (associate).
 */
export async function createFip(store: Store, body: unknown, opts: CasOptions): Promise<FloatingIp> {
  const input = parseFipInput(body);
  const id = randomUUID();
  let flight: ReturnType<typeof addressWriters.enter> | undefined;
  try {
    return await runCas(
      store,
      async (attempt) => {
        const { obj: net, kv: nkv } = await loadNetwork(store, input.network, 'network');
        providerOf(net);
        flight ??= addressWriters.enter(store, net.id);
        const plan = async (st: NetState) => {
          const pick = attempt > 0 || flight!.contended() ? randomPick : undefined;
          const { ip, subnetId } = assignOneIp(input.ip, st, net, ipOwners(st), 'ip', pick);
          const mac = generateMac(new Set(macOwners(st).keys()));
          const a = input.association ? await associate(store, net, st, input.association, id) : undefined;
          const f: FloatingIp = { id, networkId: net.id, ip, mac, ...(a?.fields ?? {}) };
          const claims = claimFip(f, subnetId);
          return {
            compares: [
              { key: nkv.key, modRevision: nkv.modRevision },
              { key: guardKey(net.id), modRevision: st.guardRev },
              { key: fipKey(id), modRevision: 0 },
              ...claims.compares,
              ...(a?.compares ?? []),
            ],
            ops: [
              { op: 'put', key: fipKey(id), value: encodeFloatingIp(f) },
              ...claims.ops,
              ...(a?.ops ?? []),
              ...fipIndexOps(undefined, f),
            ] satisfies TxnOp[],
            result: f,
            committed: (rev: number) => void withRevision(f, rev),
            // Its own id: a FIP record under it is this request's.
            landed: async () => {
              const kv = await store.get(fipKey(id));
              return kv ? decodeFloatingIp(kv.value) : undefined;
            },
          };
        };
        return planOnSharedState(store, net.id, attempt, plan);
      },
      opts,
    );
  } finally {
    flight?.leave();
  }
}

/** A floating IP by id, or by its address when that names exactly one. */
export async function loadFip(store: Store, ref: string): Promise<Loaded<FloatingIp>> {
  if (UUID_RE.test(ref)) {
    const kv = await store.get(fipKey(ref.toLowerCase()));
    if (!kv) throw notFound(undefined, `floating IP ${ref} not found`);
    return { obj: decodeFloatingIp(kv.value), kv };
  }
  if (!isIpv4(ref)) throw notFound(undefined, `floating IP ${ref} not found (give its id or its address)`);
  // Through the address's claim on each provider network (one segment key each): a few keys, where reading every FIP
  // made each of N lookups by address (show, PATCH, delete) O(FIPs). A FIP created before FIPs claimed their address
  // has no claim: when no claim names one, every FIP is read, as before.
  const hits =
    (await fipsClaiming(store, ref)) ?? (await store.range(FIPS_PREFIX)).kvs.map((kv) => ({ obj: decodeFloatingIp(kv.value), kv }));
  const at = hits.filter((x) => x.obj.ip === ref);
  if (at.length === 0) throw notFound(undefined, `floating IP ${ref} not found`);
  if (at.length > 1) throw invalid(undefined, `${ref} is a floating IP on ${at.length} networks: give its id`);
  return at[0]!;
}

/** The FIPs whose claims hold address `ip` on the provider networks; undefined when no claim names a FIP there. */
async function fipsClaiming(store: Store, ip: string): Promise<Loaded<FloatingIp>[] | undefined> {
  const nets = new Set((await store.range(SEGMENTS_PREFIX)).kvs.map((kv) => segmentHolder(kv.value)));
  const claims = await readInPieces(
    store,
    [...nets].flatMap((id) => (id === undefined ? [] : [{ key: ipClaimKey(id, ip) }])),
  );
  const ids = claims.flat().flatMap((kv) => claimedFip(kv.value) ?? []);
  if (ids.length === 0) return undefined;
  const found = (
    await readInPieces(
      store,
      ids.map((id) => ({ key: fipKey(id) })),
    )
  )
    .flat()
    .map((kv) => ({ obj: decodeFloatingIp(kv.value), kv }));
  return found.length > 0 ? found : undefined;
}

export async function getFip(store: Store, ref: string): Promise<FloatingIp> {
  const { obj, kv } = await loadFip(store, ref);
  return withRevision(obj, kv.modRevision);
}

export async function listFips(store: Store): Promise<FloatingIp[]> {
  const { kvs } = await store.range(FIPS_PREFIX);
  return kvs.map((kv) => decodeFloatingIp(kv.value)).sort((a, b) => ipToInt(a.ip) - ipToInt(b.ip) || compareText(a.id, b.id));
}

const unassociated = (f: FloatingIp): FloatingIp => ({ id: f.id, networkId: f.networkId, ip: f.ip, mac: f.mac });

/** PATCH: associate with a port (another one, or another fixed IP) or disassociate (`port: null`). */
export async function updateFip(store: Store, ref: string, body: unknown, opts: CasOptions): Promise<FloatingIp> {
  const patch = parseFipPatch(body);
  return runCas(
    store,
    async () => {
      const { obj: cur, kv } = await loadFip(store, ref);
      const { obj: net } = await loadNetwork(store, cur.networkId);
      // The provider network's router paths only (not its ports and FIPs): the FIP holds its address already.
      const st = await gatewaysOn(store, net.id);
      const a = patch.association ? await associate(store, net, st, patch.association, cur.id) : undefined;
      const next: FloatingIp = { ...unassociated(cur), ...(a?.fields ?? {}) };
      const value = encodeFloatingIp(next);
      const object = { kv, what: `floating IP ${cur.ip}` };
      // Holding the association already, it is made whatever If-Match says (cas.ts CasOptions.ifMatch).
      if (value === kv.value) return { compares: [], ops: [], result: next, object };
      return {
        compares: [
          { key: kv.key, modRevision: kv.modRevision },
          // A gateway set or cleared there since the read (the router paths) fails this.
          { key: guardKey(net.id), modRevision: st.guardRev },
          ...(a?.compares ?? []),
        ],
        // A disassociation puts no guard: nothing waits on a FIP leaving a router or a port.
        ops: [{ op: 'put', key: kv.key, value }, ...(a?.ops ?? []), ...fipIndexOps(cur, next)],
        result: next,
        object,
        // Planned again on a FIP that holds this association already, it writes nothing (the twin check skips itself).
        replannable: true,
      };
    },
    opts,
  );
}

export async function deleteFip(store: Store, ref: string, opts: CasOptions): Promise<FloatingIp> {
  return runCas(
    store,
    async () => {
      const { obj: f, kv } = await loadFip(store, ref);
      return {
        compares: [{ key: kv.key, modRevision: kv.modRevision }],
        // Its claims go (the address is free again). Nothing waits on an association going with it (updateFip).
        ops: [{ op: 'delete', key: kv.key }, ...releaseFip(f), ...fipIndexOps(f, undefined)],
        result: f,
        object: { kv, what: `floating IP ${f.ip}` },
        landed: deletedAs(store, kv.key, f),
      };
    },
    opts,
  );
}

/** The floating IPs of a port being deleted, disassociated in the port's transaction (as Neutron does). */
export function disassociateOnPortDelete(onNet: readonly Loaded<FloatingIp>[], portId: string): { compares: Compare[]; ops: TxnOp[] } {
  const fips = onNet.filter((f) => f.obj.portId === portId);
  return {
    compares: fips.map((f): Compare => ({ key: f.kv.key, modRevision: f.kv.modRevision })),
    ops: fips.flatMap((f): TxnOp[] => [
      { op: 'put', key: f.kv.key, value: encodeFloatingIp(unassociated(f.obj)) },
      ...fipIndexOps(f.obj, unassociated(f.obj)),
    ]),
  };
}
