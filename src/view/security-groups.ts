/**
 * Security-group queries shared by the apps that enforce groups (acl) and those that route packets through the
 * firewall (l2), and by the lazy sync that decides which group documents and address sets this agent reads.
 */
import type { Port, SecurityGroup } from '../model/types.js';
import { intToIp, maskOf, parseCidr } from '../net/addr.js';
import type { NetworkState, TopologyView } from './topology-view.js';

/**
 * A port the firewall protects: port security on and at least one group. A port without port security is a
 * trusted appliance (a router, a load balancer): its groups are kept but not enforced, as in OpenStack.
 */
export function isProtected(p: Port): boolean {
  return p.portSecurity && p.securityGroups.length > 0;
}

/**
 * Whether the view holds every group a protected port is in. Until it does, the port's firewall allows nothing
 * (fail closed), so its flows are not yet the ones it should have: the agent does not mark it installed.
 */
export function groupsLoaded(view: TopologyView, p: Port): boolean {
  return !isProtected(p) || p.securityGroups.every((g) => view.securityGroups.has(g));
}

/**
 * Whether a flood copy to this local port must take the ingress pipeline (acl_ingress_ct … egress) instead of a
 * direct output: a protected port (its ingress rules), or one with an egress rate limit (the meter on its flow in
 * the egress table).
 */
export function throughIngressAcl(p: Port): boolean {
  return isProtected(p) || p.qos?.egressRateKbps !== undefined;
}

/** An IPv4 address or CIDR as `a.b.c.d/len` with host bits zero (a bare address is /32). */
export function normalizeCidr(s: string): string | undefined {
  const c = parseCidr(s.includes('/') ? s : `${s}/32`);
  if (!c) return undefined;
  return `${intToIp((c.ip & maskOf(c.prefix)) >>> 0)}/${c.prefix}`;
}

/** The address set of a group: every member's addresses, normalised, deduplicated and sorted (deterministic flows). */
export function groupAddresses(view: TopologyView, groupId: string): string[] {
  const out = new Set<string>();
  for (const m of view.sgMembers.get(groupId)?.values() ?? [])
    for (const a of m.addresses) {
      const n = normalizeCidr(a);
      if (n) out.add(n);
    }
  return [...out].sort();
}

/** The groups (in the view) of a port, in the port's order; groups not read yet are skipped (they allow nothing). */
export function groupsOf(view: TopologyView, p: Port): SecurityGroup[] {
  return p.securityGroups.map((g) => view.securityGroups.get(g)).filter((g): g is SecurityGroup => g !== undefined);
}

/** Groups named as a remote group by the rules of `groups`. */
export function remoteGroupsOf(groups: Iterable<SecurityGroup>): Set<string> {
  const out = new Set<string>();
  for (const g of groups) for (const r of g.rules) if (r.remoteGroupId) out.add(r.remoteGroupId);
  return out;
}

/**
 * Networks whose flows depend on a group: those with a port in it (its rules), and — for a change of the group's
 * members — those with a port in a group whose rules name it as remote. Over-inclusive (any port, local or not,
 * protected or not), never under: incremental must equal a full recompute.
 */
export function networksUsingGroup(view: TopologyView, groupId: string, asRemote: boolean): Set<string> {
  const via = new Set<string>([groupId]);
  if (asRemote) {
    via.clear();
    for (const g of view.securityGroups.values()) if (g.rules.some((r) => r.remoteGroupId === groupId)) via.add(g.id);
  }
  const out = new Set<string>();
  for (const [id, net] of view.networks) if (hasPortIn(net, via)) out.add(id);
  return out;
}

function hasPortIn(net: NetworkState, groups: Set<string>): boolean {
  if (groups.size === 0) return false;
  for (const { port } of net.ports.values()) if (port.securityGroups.some((g) => groups.has(g))) return true;
  return false;
}
