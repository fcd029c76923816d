/**
 * Security groups for tests, through the REST API (/v1/security-groups, PATCH /v1/ports), as an operator makes them.
 */
import type { ApiClient } from '../../src/api/client.js';
import type { SecurityGroup, SgRule } from '../../src/model/types.js';

/** A rule as tests write it (the API takes the remote group as `remoteGroup`, a name or id). */
export type RuleSpec = Omit<SgRule, 'id' | 'ruleKey' | 'remoteGroupId'> & { remoteGroupId?: string };

export async function addRule(api: ApiClient, groupId: string, spec: RuleSpec): Promise<SgRule> {
  const { remoteGroupId, ...rest } = spec;
  return api.call<SgRule>('POST', `/v1/security-groups/${groupId}/rules`, {
    ...rest,
    ...(remoteGroupId !== undefined ? { remoteGroup: remoteGroupId } : {}),
  });
}

/** A new group (with the API's default egress rule) plus `rules`; returns it as stored. */
export async function createGroup(api: ApiClient, name: string, rules: RuleSpec[] = []): Promise<SecurityGroup> {
  const g = await api.call<SecurityGroup>('POST', '/v1/security-groups', { name });
  for (const r of rules) await addRule(api, g.id, r);
  return readGroup(api, g.id);
}

export function readGroup(api: ApiClient, id: string): Promise<SecurityGroup> {
  return api.call<SecurityGroup>('GET', `/v1/security-groups/${id}`);
}

export async function deleteRule(api: ApiClient, groupId: string, ruleId: string): Promise<void> {
  await api.call('DELETE', `/v1/security-groups/${groupId}/rules/${ruleId}`);
}

/** Sets a port's groups (replacing its list); the API keeps the groups' member sets in step. */
export async function setPortGroups(api: ApiClient, port: { id: string }, groupIds: string[]): Promise<void> {
  await api.call('PATCH', `/v1/ports/${port.id}`, { securityGroups: groupIds });
}
