/**
 * Security groups for tests, written straight into the store with the model's encoders — the one place to switch
 * to the REST API (/v1/security-groups, PATCH /v1/ports) once it lands: every test goes through these functions.
 */
import { randomUUID } from 'node:crypto';
import { decodePort, decodeSecurityGroup, encodePort, encodeSecurityGroup, encodeSgMember } from '../../src/model/codec.js';
import { portKey, sgKey, sgMemberKey } from '../../src/model/keys.js';
import type { SecurityGroup, SgRule } from '../../src/model/types.js';
import type { Store } from '../../src/store/index.js';

export type RuleSpec = Omit<SgRule, 'id' | 'ruleKey'>;

let nextKey = 1000;

/** A rule with a fresh id and rule key. */
export function rule(spec: RuleSpec): SgRule {
  return { id: randomUUID(), ruleKey: nextKey++, ...spec };
}

/** A new group: the default egress rule (allow all egress, as the API creates it) plus `rules`. */
export async function createGroup(store: Store, name: string, rules: RuleSpec[] = []): Promise<SecurityGroup> {
  const g: SecurityGroup = {
    id: randomUUID(),
    name,
    description: '',
    groupKey: nextKey++,
    rules: [rule({ direction: 'egress', protocol: 'any' }), ...rules.map(rule)],
  };
  await store.put(sgKey(g.id), encodeSecurityGroup(g));
  return g;
}

export async function readGroup(store: Store, id: string): Promise<SecurityGroup> {
  const kv = await store.get(sgKey(id));
  if (!kv) throw new Error(`no group ${id}`);
  return decodeSecurityGroup(kv.value);
}

export async function addRule(store: Store, groupId: string, spec: RuleSpec): Promise<SgRule> {
  const g = await readGroup(store, groupId);
  const r = rule(spec);
  g.rules.push(r);
  await store.put(sgKey(g.id), encodeSecurityGroup(g));
  return r;
}

export async function deleteRule(store: Store, groupId: string, ruleId: string): Promise<void> {
  const g = await readGroup(store, groupId);
  g.rules = g.rules.filter((r) => r.id !== ruleId);
  await store.put(sgKey(g.id), encodeSecurityGroup(g));
}

/** Sets a port's groups (replacing its list) and its member entries (its fixed IPs), as PATCH /v1/ports would. */
export async function setPortGroups(store: Store, port: { id: string; networkId: string }, groupIds: string[]): Promise<void> {
  const kv = await store.get(portKey(port.networkId, port.id));
  if (!kv) throw new Error(`no port ${port.id}`);
  const p = decodePort(kv.value);
  const before = p.securityGroups;
  p.securityGroups = groupIds;
  const addresses = [...p.fixedIps.map((f) => f.ip), ...p.allowedAddressPairs.map((a) => a.ip)];
  for (const g of groupIds) await store.put(sgMemberKey(g, p.id), encodeSgMember({ portId: p.id, networkId: p.networkId, addresses }));
  await store.put(portKey(port.networkId, port.id), encodePort(p));
  for (const g of before) if (!groupIds.includes(g)) await store.delete(sgMemberKey(g, p.id));
}
