/**
 * Ports created with a given id (issue 15: a hypervisor names the VIF, e.g. libvirt's interfaceid or XAPI's
 * VIF uuid, and the operator creates the port under that id). An id must not be one any object already has:
 * the objects with a key of their own are compared absent in the creating transaction; subnets and ports made
 * before ids were claimed in the names index are found by a read of the index.
 */
import type { Compare, Store } from '../store/types.js';
import { conflict } from './errors.js';
import { fipKey, networkKey, routerKey, sgKey } from './keys.js';
import { findClaim } from './read.js';

/** The compares that make the port's creation fail if `id` is (or becomes) another object's id. */
export async function givenIdCompares(store: Store, id: string): Promise<Compare[]> {
  const keys = [networkKey(id), routerKey(id), sgKey(id), fipKey(id)];
  const [used, subnet, port] = await Promise.all([
    Promise.all(keys.map((k) => store.get(k))),
    findClaim(store, 'subnet', id),
    findClaim(store, 'port', id),
  ]);
  if (used.some((kv) => kv !== undefined) || subnet || port) throw conflict('id', `id ${id} is already used by another object`);
  return keys.map((key) => ({ key, modRevision: 0 }));
}
