/**
 * The membership index of security groups: for every group of a port, `sg-members/<group>/<port>` holds the
 * port's addresses (the group's address set, what agents enforcing "remote group" rules match on). It is
 * written, updated and deleted in the SAME transaction as the port, by the operations planned here.
 */
import type { Compare, KeyValue, Store, TxnOp } from '../store/types.js';
import { intToIp, maskOf, parseCidr } from '../net/addr.js';
import { encodeSgMember } from './codec.js';
import { invalid } from './errors.js';
import { nameKey, sgGuardKey, sgKey, sgMemberKey } from './keys.js';
import { decodeClaim } from './read.js';
import type { Port, SgMember } from './types.js';
import { UUID_RE } from './validate.js';
import { isoTime } from '../util/time.js';

/** A port's fixed IPs, then its allowed-address-pair IPs/CIDRs (CIDRs in network/prefix form), without repeats. */
export function memberAddresses(p: Port): string[] {
  const out: string[] = [];
  const add = (a: string): void => {
    if (!out.includes(a)) out.push(a);
  };
  for (const f of p.fixedIps) add(f.ip);
  for (const pair of p.allowedAddressPairs) {
    if (!pair.ip.includes('/')) add(pair.ip);
    else {
      const c = parseCidr(pair.ip);
      if (c) add(`${intToIp((c.ip & maskOf(c.prefix)) >>> 0)}/${c.prefix}`);
    }
  }
  return out;
}

export function memberOf(p: Port): SgMember {
  return { portId: p.id, networkId: p.networkId, addresses: memberAddresses(p) };
}

/** A group as resolved for a port: its id and the record whose revision the port's transaction compares. */
export interface ResolvedGroup {
  id: string;
  kv: KeyValue;
}

/**
 * Resolves group references (names or ids) to their records, repeats dropped, order kept; an unknown one is
 * INVALID naming its `field[i]`. Two round trips at most (name claims, then records).
 */
export async function resolveGroups(store: Store, refs: readonly string[], field = 'securityGroups'): Promise<ResolvedGroup[]> {
  if (refs.length === 0) return [];
  const byName = refs.map((r) => !UUID_RE.test(r));
  const claims = byName.some(Boolean)
    ? (await store.read(refs.map((r, i) => ({ key: byName[i] ? nameKey('security-group', r) : sgKey(r) })))).results
    : refs.map(() => []);
  const ids = refs.map((r, i) => {
    if (!byName[i]) return r.toLowerCase();
    const c = claims[i]![0];
    if (!c) throw invalid(`${field}[${i}]`, `${field}[${i}]: security group ${r} not found`);
    return decodeClaim(c.value).id;
  });
  const { results } = await store.read(ids.map((id) => ({ key: sgKey(id) })));
  const out: ResolvedGroup[] = [];
  ids.forEach((id, i) => {
    const kv = results[i]![0];
    if (!kv) throw invalid(`${field}[${i}]`, `${field}[${i}]: security group ${refs[i]} not found`);
    if (!out.some((g) => g.id === id)) out.push({ id, kv });
  });
  return out;
}

/**
 * The compares and writes that bring the membership index from port `prev` to port `next` (undefined = no port):
 * member keys of groups left are deleted, those of groups joined are written (with the group's revision compared,
 * so a group deleted meanwhile is not joined, and its guard bumped, so a delete planned meanwhile fails), and
 * those whose addresses changed are rewritten. `groups` must hold every group of `next` that is joined or whose
 * member changes (resolveGroups).
 */
export function membershipOps(
  prev: Port | undefined,
  next: Port | undefined,
  groups: readonly ResolvedGroup[],
): { compares: Compare[]; ops: TxnOp[] } {
  const compares: Compare[] = [];
  const ops: TxnOp[] = [];
  // A port in no group, before or after, has no membership to write (most ports: skip encoding its member entry).
  if (!prev?.securityGroups.length && !next?.securityGroups.length) return { compares, ops };
  const before = new Set(prev?.securityGroups ?? []);
  const after = new Set(next?.securityGroups ?? []);
  for (const g of before) if (!after.has(g)) ops.push({ op: 'delete', key: sgMemberKey(g, prev!.id) });
  if (!next) return { compares, ops };
  const value = encodeSgMember(memberOf(next));
  const same = prev !== undefined && encodeSgMember(memberOf(prev)) === value;
  for (const g of after) {
    const joined = !before.has(g);
    if (!joined && same) continue;
    const r = groups.find((x) => x.id === g);
    if (!r) throw new Error(`membershipOps: group ${g} was not resolved`);
    compares.push({ key: r.kv.key, modRevision: r.kv.modRevision });
    ops.push({ op: 'put', key: sgMemberKey(g, next.id), value });
    if (joined) ops.push({ op: 'put', key: sgGuardKey(g), value: isoTime() });
  }
  return { compares, ops };
}
