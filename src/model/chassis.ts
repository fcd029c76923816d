/**
 * Live state written by agents: chassis registrations (attached to the agent's lease, so the
 * key disappears when the agent dies) and port bindings (which chassis hosts a port).
 */
import { inPieces, MAX_TXN_OPS, type Lease, type Store } from '../store/types.js';
import { decodeChassis, decodePort, encodeBinding, encodeChassis } from './codec.js';
import { runCas, throughOutage, writeDeadline } from './cas.js';
import { conflict, notFound } from './errors.js';
import { bindingKey, CHASSIS_PREFIX, chassisKey, NET_PREFIX, parseKey, portKey, retiredKey } from './keys.js';
import type { Binding, Chassis, ChassisStatus } from './types.js';
import { byName } from '../util/order.js';
import { isoTime } from '../util/time.js';

/**
 * Registers (or refreshes) a chassis; the key lives as long as `lease`. Writing it under a new lease moves the
 * key to that lease in place (etcd and the engine both re-attach on put): no delete in between, and the old
 * lease's expiry or revocation no longer touches it — so an agent restarted within the TTL takes its chassis
 * over without peers seeing it go. Clears a retirement tombstone in the same revision: an agent that starts
 * puts its chassis back in service. Returns the store revision.
 */
export async function registerChassis(
  store: Store,
  chassis: Chassis,
  lease: Lease,
  opts: { commission?: boolean } = { commission: true },
): Promise<number | undefined> {
  const c: Chassis = { ...chassis, registeredAt: chassis.registeredAt ?? isoTime() };
  const put = { op: 'put' as const, key: chassisKey(c.name), value: encodeChassis(c), lease: lease.id };
  if (opts.commission !== false) {
    // An agent starting is commissioning: its registration clears a tombstone left by a decommission.
    const r = await store.txn([], [put, { op: 'delete', key: retiredKey(c.name) }]);
    return r.revision;
  }
  // A running agent registering again (lease lost, key deleted) must not undo an operator's decommission:
  // only while no tombstone exists. undefined: the chassis is retired.
  const r = await store.txn([{ key: retiredKey(c.name), modRevision: 0 }], [put]);
  return r.succeeded ? r.revision : undefined;
}

/** Why and when a chassis was taken out of service (the tombstone `deleteChassis` writes). */
export interface ChassisRetirement {
  name: string;
  at: string;
  /** Port names whose bindings were removed with it (--force). */
  bindingsRemoved: string[];
}

/** The chassis's retirement tombstone, if an operator deleted it and no agent registered it since. */
export async function getRetirement(store: Store, name: string): Promise<ChassisRetirement | undefined> {
  const kv = await store.get(retiredKey(name));
  return kv ? (JSON.parse(kv.value) as ChassisRetirement) : undefined;
}

/** Bindings that name the chassis, with the port's name (one range over the bindings, a get per match). */
export async function bindingsOn(
  store: Store,
  chassis: string,
): Promise<{ key: string; modRevision: number; networkId: string; portId: string; port: string }[]> {
  // One range holds the bindings and the ports they name (their names, for messages).
  const { kvs } = await store.range(NET_PREFIX);
  const values = new Map(kvs.map((kv) => [kv.key, kv.value]));
  const out = [];
  for (const kv of kvs) {
    const k = parseKey(kv.key);
    if (k?.kind !== 'binding' || (JSON.parse(kv.value) as Binding).chassis !== chassis) continue;
    const p = values.get(portKey(k.networkId, k.portId));
    const port = p ? decodePort(p).name : k.portId;
    out.push({ key: kv.key, modRevision: kv.modRevision, networkId: k.networkId, portId: k.portId, port });
  }
  return out;
}

/** Every registered chassis: a key exists exactly while its agent's lease is alive. */
export async function listChassis(store: Store): Promise<ChassisStatus[]> {
  const { kvs } = await store.range(CHASSIS_PREFIX);
  return kvs
    .map((kv) => ({ ...decodeChassis(kv.value), alive: true, ...(kv.lease !== undefined ? { lease: kv.lease } : {}) }))
    .sort(byName);
}

export async function getChassis(store: Store, name: string): Promise<ChassisStatus> {
  const kv = await store.get(chassisKey(name));
  if (!kv) throw notFound(undefined, `chassis ${name} not found (not registered or its agent is gone)`);
  return { ...decodeChassis(kv.value), alive: true, ...(kv.lease !== undefined ? { lease: kv.lease } : {}) };
}

/**
 * Takes a chassis out of service: its key goes (peers drop their tunnels to it in the same revision) and a
 * tombstone tells its agent, if one still runs, not to register again. Refused (CONFLICT) while ports are bound
 * there, unless `force`: then those bindings go in the same transaction (those one transaction cannot take, right
 * after it). An agent that starts later
 * registers again (starting an agent is commissioning its chassis).
 */
export async function deleteChassis(
  store: Store,
  name: string,
  opts: { force?: boolean } = {},
): Promise<ChassisStatus & { bindingsRemoved: string[] }> {
  const force = opts.force === true;
  // A lost compare means the agent re-registered or a binding moved meanwhile: read again, a few times.
  const outageUntil = writeDeadline();
  const { result, rest } = await runCas(
    store,
    async () => {
      const kv = await store.get(chassisKey(name));
      if (!kv) throw notFound(undefined, `chassis ${name} not found (not registered or its agent is gone)`);
      const c: ChassisStatus = { ...decodeChassis(kv.value), alive: true, ...(kv.lease !== undefined ? { lease: kv.lease } : {}) };
      const bound = await bindingsOn(store, name);
      if (bound.length > 0 && !force) {
        const names = bound.map((b) => b.port).sort();
        const shown = names.length > 5 ? `${names.slice(0, 5).join(', ')}, …` : names.join(', ');
        throw conflict(
          'force',
          `chassis ${name} still hosts ${names.length} bound port(s) (${shown}); move or delete them first, or force (their bindings are removed too)`,
        );
      }
      const tomb: ChassisRetirement = { name, at: isoTime(), bindingsRemoved: bound.map((b) => b.port).sort() };
      const tombValue = JSON.stringify(tomb);
      // The key, the tombstone and as many bindings as one transaction takes (etcd: MAX_TXN_OPS) go together.
      const now = bound.slice(0, MAX_TXN_OPS - 2);
      const done = { result: { ...c, bindingsRemoved: tomb.bindingsRemoved }, rest: bound.slice(now.length) };
      return {
        compares: [{ key: kv.key, modRevision: kv.modRevision }, ...now.map((b) => ({ key: b.key, modRevision: b.modRevision }))],
        ops: [
          { op: 'delete', key: kv.key },
          ...now.map((b) => ({ op: 'delete' as const, key: b.key })),
          { op: 'put', key: retiredKey(name), value: tombValue },
        ],
        result: done,
        // A delete the store did not answer: made when its own tombstone is there (another delete's would differ in
        // its time; an agent started since would have cleared it, and the chassis is then in service again).
        landed: async () => ((await store.get(retiredKey(name)))?.value === tombValue ? done : undefined),
      };
    },
    { maxAttempts: 5, outageUntil },
  );
  // Tried again through an outage as a whole: a piece deleted already fails its compares, and what is left is read again.
  if (rest.length > 0) await throughOutage(() => removeBindings(store, name, rest), outageUntil);
  return result;
}

/**
 * The rest of a retired chassis's bindings (a host with more bound ports than one transaction takes), in pieces, each
 * compared as read. Its agent, if one still runs, sees the tombstone and binds nothing more; a binding it changed
 * before that fails its piece, and what is left is read again.
 */
async function removeBindings(store: Store, name: string, bound: Awaited<ReturnType<typeof bindingsOn>>): Promise<void> {
  let rest = bound;
  for (let attempt = 0; rest.length > 0; attempt++) {
    if (attempt === 5)
      throw conflict(
        undefined,
        `chassis ${name} is deleted, but ${rest.length} of its bindings kept changing and remain (does its agent still run?)`,
      );
    let lost = false;
    for (const piece of inPieces(rest)) {
      const done = await store.txn(
        piece.map((b) => ({ key: b.key, modRevision: b.modRevision })),
        piece.map((b) => ({ op: 'delete' as const, key: b.key })),
      );
      if ((lost = !done.succeeded)) break;
    }
    rest = lost ? await bindingsOn(store, name) : [];
  }
}

/**
 * Records that `chassis` hosts the port; refused (NOT_FOUND) if the port does not exist. One transaction, written
 * only while the port exists: a bind racing with the port's deletion writes nothing (no read first: an agent binding
 * a thousand ports at once makes a thousand store calls, not two thousand).
 */
export async function bindPort(
  store: Pick<Store, 'txn'>,
  networkId: string,
  portId: string,
  chassis: string,
  ofport?: number,
): Promise<Binding> {
  const b: Binding = { chassis, updatedAt: isoTime(), ...(ofport !== undefined ? { ofport } : {}) };
  const r = await store.txn(
    [{ key: portKey(networkId, portId), exists: true }],
    [{ op: 'put', key: bindingKey(networkId, portId), value: encodeBinding(b) }],
  );
  if (!r.succeeded) throw notFound('port', `port ${portId} not found in network ${networkId}`);
  return b;
}

/**
 * Removes the binding. With `chassis`, only if that chassis still holds it (an agent unbinding
 * late must not erase the binding of the chassis the port moved to). Returns whether it deleted.
 */
export async function unbindPort(store: Store, networkId: string, portId: string, chassis?: string): Promise<boolean> {
  const kv = await store.get(bindingKey(networkId, portId));
  if (!kv) return false;
  if (chassis !== undefined && (JSON.parse(kv.value) as Binding).chassis !== chassis) return false;
  const r = await store.txn([{ key: kv.key, modRevision: kv.modRevision }], [{ op: 'delete', key: kv.key }]);
  return r.succeeded;
}
