/**
 * Live state written by agents: chassis registrations (attached to the agent's lease, so the
 * key disappears when the agent dies) and port bindings (which chassis hosts a port).
 */
import type { Lease, Store } from '../store/types.js';
import { decodeChassis, decodePort, encodeBinding, encodeChassis } from './codec.js';
import { notFound } from './errors.js';
import { bindingKey, CHASSIS_PREFIX, chassisKey, portKey } from './keys.js';
import type { Binding, Chassis, ChassisStatus } from './types.js';

/** Registers (or refreshes) a chassis; the key lives as long as `lease`. Returns the store revision. */
export async function registerChassis(store: Store, chassis: Chassis, lease: Lease): Promise<number> {
  const c: Chassis = { ...chassis, registeredAt: chassis.registeredAt ?? new Date().toISOString() };
  return store.put(chassisKey(c.name), encodeChassis(c), { lease: lease.id });
}

/** Every registered chassis: a key exists exactly while its agent's lease is alive. */
export async function listChassis(store: Store): Promise<ChassisStatus[]> {
  const { kvs } = await store.range(CHASSIS_PREFIX);
  return kvs
    .map((kv) => ({ ...decodeChassis(kv.value), alive: true, ...(kv.lease !== undefined ? { lease: kv.lease } : {}) }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

export async function getChassis(store: Store, name: string): Promise<ChassisStatus> {
  const kv = await store.get(chassisKey(name));
  if (!kv) throw notFound(undefined, `chassis ${name} not found (not registered or its agent is gone)`);
  return { ...decodeChassis(kv.value), alive: true, ...(kv.lease !== undefined ? { lease: kv.lease } : {}) };
}

/** Removes a (stale) registration; a live agent re-registers on its next refresh. */
export async function deleteChassis(store: Store, name: string): Promise<ChassisStatus> {
  const c = await getChassis(store, name);
  await store.delete(chassisKey(name));
  return c;
}

/** Records that `chassis` hosts the port; refused (NOT_FOUND) if the port does not exist. */
export async function bindPort(store: Store, networkId: string, portId: string, chassis: string, ofport?: number): Promise<Binding> {
  const pkv = await store.get(portKey(networkId, portId));
  if (!pkv) throw notFound('port', `port ${portId} not found in network ${networkId}`);
  decodePort(pkv.value);
  const b: Binding = { chassis, updatedAt: new Date().toISOString(), ...(ofport !== undefined ? { ofport } : {}) };
  // The compare makes a bind racing with the port's deletion write nothing.
  const r = await store.txn([{ key: pkv.key, modRevision: pkv.modRevision }], [{ op: 'put', key: bindingKey(networkId, portId), value: encodeBinding(b) }]);
  if (!r.succeeded) {
    if (!(await store.get(portKey(networkId, portId)))) throw notFound('port', `port ${portId} was deleted`);
    return bindPort(store, networkId, portId, chassis, ofport);
  }
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
