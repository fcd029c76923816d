/**
 * Floating IPs (issue 14): an address of a provider network, mapped 1:1 to a fixed IP of a port on a tenant network
 * through a router whose gateway is on that provider network and that has an interface on the port's subnet (the
 * router path). Each change is one transaction comparing and bumping the guard of the provider network (the FIP
 * holds an address and a MAC there; gateway clear and router delete read FIPs under it) and, while associated, of
 * the port's network (port delete and interface detach read FIPs under that one) and the router's revision.
 */
import { randomUUID } from 'node:crypto';
import type { Compare, Store, TxnOp } from '../store/types.js';
import { runCas, type CasOptions } from './cas.js';
import { decodeFloatingIp, decodeRouter, encodeFloatingIp } from './codec.js';
import { conflict, invalid, notFound } from './errors.js';
import { FIPS_PREFIX, fipKey, guardKey, ROUTERS_PREFIX } from './keys.js';
import { generateMac } from './macs.js';
import { fipIndexOps } from './lazy-index.js';
import { parseFipInput, parseFipPatch, type FipAssociation } from './ns-validate.js';
import { assignOneIp } from './port-ips.js';
import { ipOwners, loadNetState, loadNetwork, loadPort, macOwners, portsCompare, type Loaded, type NetState } from './read.js';
import type { FloatingIp, Network } from './types.js';
import { isIpv4, ipToInt } from '../net/addr.js';
import { UUID_RE } from './validate.js';

const bump = (networkId: string): TxnOp => ({ op: 'put', key: guardKey(networkId), value: new Date().toISOString() });

type Association = Required<Pick<FloatingIp, 'portId' | 'portNetworkId' | 'fixedIp' | 'routerId'>>;

/** Checks an association of a FIP on `net` (the router path), returning its fields and what guards it. */
async function associate(
  store: Store,
  net: Network,
  a: FipAssociation,
  selfId: string,
): Promise<{ fields: Association; compares: Compare[]; ops: TxnOp[] }> {
  const { obj: port } = await loadPort(store, a.port, 'port');
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
  const pst = await loadNetState(store, port.networkId);
  const twin = pst.fips.find((f) => f.obj.id !== selfId && f.obj.portId === port.id && f.obj.fixedIp === fixed.ip);
  if (twin) throw conflict('port', `port ${port.name} (${fixed.ip}) already has floating IP ${twin.obj.ip} (${twin.obj.id})`);
  const { kvs } = await store.range(ROUTERS_PREFIX);
  const routers = kvs.map((kv) => ({ r: decodeRouter(kv.value), kv })).sort((x, y) => x.r.name.localeCompare(y.r.name));
  const withGw = routers.filter((x) => x.r.gateway?.networkId === net.id);
  const why = `port ${port.name} has no router path to network ${net.name}`;
  if (withGw.length === 0) throw conflict('port', `${why}: no router has its gateway on ${net.name}`);
  const path = withGw.find((x) => x.r.interfaces.some((i) => i.subnetId === fixed.subnetId));
  const sub = pst.subnets.find((s) => s.obj.id === fixed.subnetId)?.obj.name ?? fixed.subnetId;
  if (!path)
    throw conflict(
      'port',
      `${why}: no router with its gateway on ${net.name} (${withGw.map((x) => x.r.name).join(', ')}) has an interface on subnet ${sub} (${fixed.ip})`,
    );
  return {
    fields: { portId: port.id, portNetworkId: port.networkId, fixedIp: fixed.ip, routerId: path.r.id },
    compares: [
      { key: path.kv.key, modRevision: path.kv.modRevision },
      { key: guardKey(port.networkId), modRevision: pst.guardRev },
      // Port deletes do not bump the guard: the ports guard catches the port's delete since the read.
      portsCompare(pst),
    ],
    ops: [bump(port.networkId)],
  };
}

function providerOf(net: Network): void {
  if (!net.provider)
    throw invalid('network', `network ${net.name} is not a provider network: floating IPs come from a provider network's subnets`);
}

export async function createFip(store: Store, body: unknown, opts: CasOptions): Promise<FloatingIp> {
  const input = parseFipInput(body);
  const id = randomUUID();
  return runCas(
    store,
    async () => {
      const { obj: net, kv: nkv } = await loadNetwork(store, input.network, 'network');
      providerOf(net);
      const st = await loadNetState(store, net.id);
      const { ip } = assignOneIp(input.ip, st, net, ipOwners(st));
      const mac = generateMac(new Set(macOwners(st).keys()));
      const a = input.association ? await associate(store, net, input.association, id) : undefined;
      const f: FloatingIp = { id, networkId: net.id, ip, mac, ...(a?.fields ?? {}) };
      return {
        compares: [
          { key: nkv.key, modRevision: nkv.modRevision },
          { key: guardKey(net.id), modRevision: st.guardRev },
          // Its address and MAC hold no claim: a port created on the network since the read must fail this.
          portsCompare(st),
          { key: fipKey(id), modRevision: 0 },
          ...(a?.compares ?? []),
        ],
        ops: [{ op: 'put', key: fipKey(id), value: encodeFloatingIp(f) }, bump(net.id), ...(a?.ops ?? []), ...fipIndexOps(undefined, f)],
        result: f,
      };
    },
    opts,
  );
}

/** A floating IP by id, or by its address when that names exactly one. */
export async function loadFip(store: Store, ref: string): Promise<Loaded<FloatingIp>> {
  if (UUID_RE.test(ref)) {
    const kv = await store.get(fipKey(ref.toLowerCase()));
    if (!kv) throw notFound(undefined, `floating IP ${ref} not found`);
    return { obj: decodeFloatingIp(kv.value), kv };
  }
  if (!isIpv4(ref)) throw notFound(undefined, `floating IP ${ref} not found (give its id or its address)`);
  const { kvs } = await store.range(FIPS_PREFIX);
  const hits = kvs.map((kv) => ({ obj: decodeFloatingIp(kv.value), kv })).filter((x) => x.obj.ip === ref);
  if (hits.length === 0) throw notFound(undefined, `floating IP ${ref} not found`);
  if (hits.length > 1) throw invalid(undefined, `${ref} is a floating IP on ${hits.length} networks: give its id`);
  return hits[0]!;
}

export async function getFip(store: Store, ref: string): Promise<FloatingIp> {
  return (await loadFip(store, ref)).obj;
}

export async function listFips(store: Store): Promise<FloatingIp[]> {
  const { kvs } = await store.range(FIPS_PREFIX);
  return kvs.map((kv) => decodeFloatingIp(kv.value)).sort((a, b) => ipToInt(a.ip) - ipToInt(b.ip) || a.id.localeCompare(b.id));
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
      const st = await loadNetState(store, net.id);
      const a = patch.association ? await associate(store, net, patch.association, cur.id) : undefined;
      const next: FloatingIp = { ...unassociated(cur), ...(a?.fields ?? {}) };
      const value = encodeFloatingIp(next);
      if (value === kv.value) return { compares: [], ops: [], result: next };
      return {
        compares: [
          { key: kv.key, modRevision: kv.modRevision },
          { key: guardKey(net.id), modRevision: st.guardRev },
          ...(a?.compares ?? []),
        ],
        ops: [{ op: 'put', key: kv.key, value }, bump(net.id), ...(a?.ops ?? []), ...fipIndexOps(cur, next)],
        result: next,
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
        ops: [{ op: 'delete', key: kv.key }, bump(f.networkId), ...fipIndexOps(f, undefined)],
        result: f,
      };
    },
    opts,
  );
}

/** The floating IPs of a port being deleted, disassociated in the port's transaction (as Neutron does). */
export function disassociateOnPortDelete(st: NetState, portId: string): { compares: Compare[]; ops: TxnOp[] } {
  const fips = st.fips.filter((f) => f.obj.portId === portId);
  return {
    compares: fips.map((f): Compare => ({ key: f.kv.key, modRevision: f.kv.modRevision })),
    ops: fips.flatMap((f): TxnOp[] => [
      { op: 'put', key: f.kv.key, value: encodeFloatingIp(unassociated(f.obj)) },
      bump(f.obj.networkId),
      ...fipIndexOps(f.obj, unassociated(f.obj)),
    ]),
  };
}
