/**
 * Security-group rules → flows of one direction's rule table (acl_egress or acl_ingress), as conjunctive matches
 * so the flow count grows with rules + ports + addresses, not their product (after OVN's address sets):
 *   clause 1: the local protected ports enforcing the rule (src_port egress, dst_port ingress), with the protocol
 *             and a port or ICMP match that needs one flow folded in;
 *   clause 2: the remote addresses (a remote group's member addresses or the remote CIDR), ipv4_src on ingress,
 *             ipv4_dst on egress — absent when the rule allows any remote;
 *   clause 3: the L4 destination port masks, when the rule's port range needs more than one.
 * The conjunction id is the rule's cluster-wide ruleKey, so equal clause flows of different rules, groups and
 * networks merge into one flow carrying each rule's conjunction action. A rule with one clause is a plain flow,
 * in a band above the conjunctive one (OpenFlow must never see a plain and a conjunctive flow at one priority).
 */
import type { Action, Match } from '../../openflow/index.js';
import type { Port, SgDirection, SgRule } from '../../model/types.js';
import type { AppTables, DesiredFlow } from '../../pipeline/tables.js';
import { groupAddresses, normalizeCidr, type TopologyView } from '../../view/index.js';
import { portRangeMasks } from './port-masks.js';

export const RULE_PRIO = { conjunctive: 100, plain: 200 } as const;

const ETH_IPV4 = 0x0800;
const PROTO_NUMBER = { tcp: 6, udp: 17, icmp: 1 } as const;

/** What one side of the pipeline names: its tables, the port register it enforces on, the remote address field. */
export interface AclSide {
  direction: SgDirection;
  rules: string;
  action: string;
  portReg: string;
  remoteField: 'ipv4_src' | 'ipv4_dst';
}

/** A rule and the local protected ports (of one network) that enforce it. */
export interface EnforcedRule {
  rule: SgRule;
  ports: Port[];
}

/** The actions of an allowed packet: set the acl_allowed flag; the flow then goes to the action table. */
export function allowActions(tables: AppTables): Action[] {
  const { field, bit } = tables.flagBit('acl_allowed');
  return [{ type: 'reg_load', dst: field, ofs: bit, nBits: 1, value: 1n }];
}

/** The rule's protocol and single-flow L4 match (clause 1's part besides the port), and the port masks beyond one. */
function protocolParts(rule: SgRule): { proto: Match; l4: Match; masks: Match[] } {
  const proto: Match = [{ field: 'eth_type', value: ETH_IPV4 }];
  if (rule.protocol === 'any') return { proto, l4: [], masks: [] };
  const number = typeof rule.protocol === 'number' ? rule.protocol : PROTO_NUMBER[rule.protocol];
  proto.push({ field: 'ip_proto', value: number });
  if (rule.protocol === 'icmp') {
    const l4: Match = [];
    if (rule.icmpType !== undefined) l4.push({ field: 'icmp_type', value: rule.icmpType });
    if (rule.icmpCode !== undefined) l4.push({ field: 'icmp_code', value: rule.icmpCode });
    return { proto, l4, masks: [] };
  }
  if ((rule.protocol === 'tcp' || rule.protocol === 'udp') && rule.portMin !== undefined) {
    const field = rule.protocol === 'tcp' ? 'tcp_dst' : 'udp_dst';
    const masks = portRangeMasks(rule.portMin, rule.portMax ?? rule.portMin).map((m): Match => [
      m.mask === 0xffff ? { field, value: m.value } : { field, value: m.value, mask: m.mask },
    ]);
    if (masks.length === 1) return { proto, l4: masks[0]!, masks: [] };
    // A range of several masks: each mask matches with the protocol (its prerequisite) in clause 3.
    return { proto, l4: [], masks: masks.map((m) => [...proto, ...m]) };
  }
  return { proto, l4: [], masks: [] };
}

/**
 * The remote addresses a rule allows: undefined = any; [] = none yet (a remote group without members). `memo`
 * keeps each remote group's address set for the call: twenty rules naming one group read it once.
 */
function remoteAddresses(view: TopologyView, rule: SgRule, memo: Map<string, string[]>): string[] | undefined {
  if (rule.remoteGroupId !== undefined) {
    let a = memo.get(rule.remoteGroupId);
    if (!a) memo.set(rule.remoteGroupId, (a = groupAddresses(view, rule.remoteGroupId)));
    return a;
  }
  if (rule.remoteCidr !== undefined) {
    const c = normalizeCidr(rule.remoteCidr);
    return c === undefined || c.endsWith('/0') ? undefined : [c];
  }
  return undefined;
}

function addressMatch(field: string, cidr: string): Match {
  const [ip, len] = cidr.split('/') as [string, string];
  const prefix = Number(len);
  if (prefix === 32) return [{ field, value: ip }];
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  const maskText = [24, 16, 8, 0].map((s) => (mask >>> s) & 0xff).join('.');
  return [{ field, value: ip, mask: maskText }];
}

/** Flows of one side's rule table for the rules its local protected ports enforce (unmerged: see mergeSameKey). */
export function ruleFlows(tables: AppTables, view: TopologyView, side: AclSide, enforced: readonly EnforcedRule[]): DesiredFlow[] {
  const table = tables.table(side.rules);
  const allow = allowActions(tables);
  const flows: DesiredFlow[] = [];
  const conjIdFlow = (id: number, object: number): DesiredFlow =>
    table.flow({ priority: RULE_PRIO.conjunctive, match: [{ field: 'conj_id', value: id }], actions: allow, goto: side.action, object });
  /**
   * Clause-2 flows by address: one flow per remote address carrying the conjunction of every rule or group set
   * that names it, built once. Its cookie object is the smallest rule key, as mergeConjunctions would keep.
   */
  const byAddress = new Map<string, { match: Match; conj: Conjunction[]; object: number }>();
  const addressSets = new Map<string, string[]>();
  const addAddress = (a: string, c: Conjunction, object: number) => {
    const seen = byAddress.get(a);
    if (!seen) {
      byAddress.set(a, { match: [{ field: 'eth_type', value: ETH_IPV4 }, ...addressMatch(side.remoteField, a)], conj: [c], object });
      return;
    }
    if (!seen.conj.some((x) => x.id === c.id && x.clause === c.clause)) seen.conj.push(c);
    seen.object = Math.min(seen.object, object);
  };
  const setIds = groupSetIds(enforced, side.direction);
  /** Remote groups whose set conjunction is in use (its conj_id flow; cookie object: the set id, rule-independent). */
  const setsUsed = new Set<string>();
  for (const { rule, ports } of enforced) {
    if (rule.direction !== side.direction || ports.length === 0) continue;
    const { proto, l4, masks } = protocolParts(rule);
    const remotes = remoteAddresses(view, rule, addressSets);
    if (remotes?.length === 0) continue; // nobody to allow yet
    const portMatch = (p: Port): Match => [{ field: side.portReg, value: p.portKey }, ...proto, ...l4];
    if (rule.remoteGroupId !== undefined) {
      // A remote group's rules share one conjunction: "address in G, and some rule naming G matches" is their
      // union (rules only allow). Clause 1 holds each rule's port/protocol flows (a range of several masks as
      // port × mask flows), clause 2 the group's addresses — untouched when a rule naming G comes or goes.
      const id = setIds.get(rule.remoteGroupId)!;
      // (Each mask's match carries the protocol already.)
      const patterns: Match[] =
        masks.length > 0
          ? ports.flatMap((p) => masks.map((m): Match => [{ field: side.portReg, value: p.portKey }, ...m]))
          : ports.map(portMatch);
      for (const match of patterns)
        flows.push(
          table.flow({
            priority: RULE_PRIO.conjunctive,
            match,
            actions: [{ type: 'conjunction', id, clause: 1, nClauses: 2 }],
            object: rule.ruleKey,
          }),
        );
      for (const a of remotes!) addAddress(a, { type: 'conjunction', id, clause: 2, nClauses: 2 }, id);
      setsUsed.add(rule.remoteGroupId);
      continue;
    }
    const n = 1 + (remotes ? 1 : 0) + (masks.length > 0 ? 1 : 0);
    if (n === 1) {
      for (const p of ports)
        flows.push(table.flow({ priority: RULE_PRIO.plain, match: portMatch(p), actions: allow, goto: side.action, object: p.portKey }));
      continue;
    }
    const conj = (clause: number): Action[] => [{ type: 'conjunction', id: rule.ruleKey, clause, nClauses: n }];
    const clause = (match: Match, k: number, object: number) =>
      flows.push(table.flow({ priority: RULE_PRIO.conjunctive, match, actions: conj(k), object }));
    for (const p of ports) clause(portMatch(p), 1, p.portKey);
    let k = 2;
    if (remotes) {
      for (const a of remotes) addAddress(a, { type: 'conjunction', id: rule.ruleKey, clause: k, nClauses: n }, rule.ruleKey);
      k++;
    }
    for (const m of masks) clause(m, k, rule.ruleKey);
    flows.push(conjIdFlow(rule.ruleKey, rule.ruleKey));
  }
  for (const group of [...setsUsed].sort()) flows.push(conjIdFlow(setIds.get(group)!, setIds.get(group)!));
  for (const { match, conj, object } of byAddress.values()) {
    // Sorted as mergeConjunctions sorts, so the flow is the same whichever order the rules came in.
    conj.sort((a, b) => a.id - b.id || a.clause - b.clause || a.nClauses - b.nClauses);
    flows.push(table.flow({ priority: RULE_PRIO.conjunctive, match, actions: conj, object }));
  }
  return flows;
}

type Conjunction = Extract<Action, { type: 'conjunction' }>;

/** Conjunction ids of remote-group sets live above every rule key (rule keys are at most 0x7fffffff). */
const SET_ID_BASE = 0x8000_0000;

/**
 * One conjunction id per remote group named by the side's rules: derived from the group's id (the same on every
 * recompute and in every network), in SET_ID_BASE..0xffffffff, distinct per computation (a hash collision moves
 * the later group, in sorted order, to the next free id).
 */
export function groupSetIds(enforced: readonly EnforcedRule[], direction: SgDirection): Map<string, number> {
  const groups = [
    ...new Set(enforced.filter((e) => e.rule.direction === direction && e.rule.remoteGroupId).map((e) => e.rule.remoteGroupId!)),
  ].sort();
  const out = new Map<string, number>();
  const used = new Set<number>();
  for (const g of groups) {
    let id = SET_ID_BASE + (fnv1a(g) & 0x7fff_ffff);
    while (used.has(id)) id = id === 0xffff_ffff ? SET_ID_BASE : id + 1;
    used.add(id);
    out.set(g, id);
  }
  return out;
}

function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}
