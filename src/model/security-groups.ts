/**
 * Security groups: create/list/get/delete groups, add/list/delete their rules. Each mutation is ONE store
 * transaction whose compares make a refused or racing request write nothing (see cas.ts). Rules live inside the
 * group's document (one watch per group for agents); a rule naming another group as remote compares that group's
 * record and bumps its guard, so neither a delete planned meanwhile nor one committed meanwhile can leave the
 * reference dangling.
 */
import { randomUUID } from 'node:crypto';
import { MAX_TXN_OPS, readInPieces, type Compare, type KeyValue, type ReadResult, type Store, type TxnOp } from '../store/types.js';
import { SharedReads } from '../util/single-flight.js';
import { pickFree, poolFlight, runCas, runCasInSteps, type CasOptions } from './cas.js';
import { withRevision } from './precondition.js';
import { decodePort, decodeSecurityGroup, decodeSgMember, encodePort, encodeSecurityGroup } from './codec.js';
import { conflict, notFound } from './errors.js';
import { allocKey, nameKey, portKey, SG_PREFIX, sgGuardKey, sgKey, sgMembersPrefix } from './keys.js';
import { createdAs, deletedAs, encodeClaim, loadSecurityGroup } from './read.js';
import { membershipOps } from './sg-members.js';
import { describeRule, parseSecurityGroupInput, parseSgRuleInput, rulesOverlap } from './sg-validate.js';
import type { Port, SecurityGroup, SgRule } from './types.js';
import { byName } from '../util/order.js';
import { isoTime } from '../util/time.js';

/** What a forced delete took with it. */
export interface SecurityGroupDeleted extends SecurityGroup {
  /** Names of the ports the group was removed from. */
  portsDetached: string[];
  /** Rules of other groups that named it as remote, removed. */
  rulesRemoved: { group: string; ruleId: string }[];
}

const ruleOwner = (ruleId: string): string => `sg-rule/${ruleId}`;

export async function createSecurityGroup(store: Store, body: unknown, opts: CasOptions = {}): Promise<SecurityGroup> {
  const input = parseSecurityGroupInput(body);
  const id = randomUUID();
  const ruleId = randomUUID();
  const groups = poolFlight(store, 'sg-key');
  const rules = poolFlight(store, 'sg-rule-key');
  return runCas(
    store,
    async (attempt) => {
      if (await store.get(nameKey('security-group', input.name)))
        throw conflict('name', `a security group named ${input.name} already exists`);
      const [gk, rk] = await Promise.all([
        pickFree(store, 'sg-key', attempt, groups.contended()),
        pickFree(store, 'sg-rule-key', attempt, rules.contended()),
      ]);
      // The default rule: every egress allowed; no ingress (a new group admits nothing in until rules say so).
      const rule: SgRule = { id: ruleId, ruleKey: rk.n, direction: 'egress', protocol: 'any' };
      const g: SecurityGroup = { id, name: input.name, description: input.description, groupKey: gk.n, rules: [rule] };
      return {
        compares: [{ key: nameKey('security-group', g.name), modRevision: 0 }, gk.compare, rk.compare, { key: sgKey(id), modRevision: 0 }],
        ops: [
          { op: 'put', key: sgKey(id), value: encodeSecurityGroup(g) },
          { op: 'put', key: nameKey('security-group', g.name), value: encodeClaim({ id }) },
          { op: 'put', key: gk.key, value: `security-group/${id}` },
          { op: 'put', key: rk.key, value: ruleOwner(ruleId) },
        ],
        result: g,
        committed: (rev) => void withRevision(g, rev),
        landed: () => createdAs(store, 'security-group', g.name, id, () => sgKey(id), decodeSecurityGroup),
      };
    },
    opts,
  ).finally(() => {
    groups.leave();
    rules.leave();
  });
}

export async function getSecurityGroup(store: Store, ref: string): Promise<SecurityGroup> {
  const { obj, kv } = await loadSecurityGroup(store, ref);
  return withRevision(obj, kv.modRevision);
}

export async function listSecurityGroups(store: Store): Promise<SecurityGroup[]> {
  const { kvs } = await store.range(SG_PREFIX);
  return kvs.map((kv) => decodeSecurityGroup(kv.value)).sort(byName);
}

export async function addSgRule(store: Store, ref: string, body: unknown, opts: CasOptions = {}): Promise<SgRule> {
  const input = parseSgRuleInput(body);
  const ruleId = randomUUID();
  const flight = poolFlight(store, 'sg-rule-key');
  return runCas(
    store,
    async (attempt) => {
      const { obj: g, kv } = await loadSecurityGroup(store, ref);
      const compares: Compare[] = [{ key: kv.key, modRevision: kv.modRevision }];
      const ops: TxnOp[] = [];
      const { remoteGroup, ...shape } = input;
      const rule: Omit<SgRule, 'ruleKey'> = { id: ruleId, ...shape };
      let remoteName = g.name;
      if (remoteGroup !== undefined) {
        const self = remoteGroup.toLowerCase() === g.id || remoteGroup === g.name;
        const remote = self ? { obj: g, kv } : await loadSecurityGroup(store, remoteGroup, 'remoteGroup');
        rule.remoteGroupId = remote.obj.id;
        remoteName = remote.obj.name;
        if (!self) {
          compares.push({ key: remote.kv.key, modRevision: remote.kv.modRevision });
          ops.push({ op: 'put', key: sgGuardKey(remote.obj.id), value: isoTime() });
        }
      }
      const dup = g.rules.find((r) => rulesOverlap(r, rule));
      if (dup) {
        throw conflict(
          undefined,
          `rule overlaps rule ${dup.id} of security group ${g.name} (${describeRule(dup, () => remoteName)}); delete or change that one instead`,
        );
      }
      const rk = await pickFree(store, 'sg-rule-key', attempt, flight.contended());
      const full: SgRule = { ...rule, ruleKey: rk.n };
      const next: SecurityGroup = { ...g, rules: [...g.rules, full] };
      compares.push(rk.compare);
      ops.push({ op: 'put', key: kv.key, value: encodeSecurityGroup(next) }, { op: 'put', key: rk.key, value: ruleOwner(ruleId) });
      // The stored form (normalised by the codec), as a later GET returns it; at the group's revision (its record
      // holds its rules: what an If-Match on the group or its rules names).
      return {
        compares,
        ops,
        result: decodeSecurityGroup(next).rules.at(-1)!,
        object: { kv, what: `security group ${g.name}` },
        // Its own id: a rule under it in the group is this request's.
        landed: async () => {
          const cur = await store.get(kv.key);
          return cur ? decodeSecurityGroup(cur.value).rules.find((r) => r.id === ruleId) : undefined;
        },
      };
    },
    opts,
  ).finally(flight.leave);
}

/** A group's rules, at the group's revision (its record holds them). */
export async function listSgRules(store: Store, ref: string): Promise<SgRule[]> {
  const { obj, kv } = await loadSecurityGroup(store, ref);
  return withRevision(obj.rules, kv.modRevision);
}

export async function deleteSgRule(store: Store, ref: string, ruleId: string, opts: CasOptions = {}): Promise<SgRule> {
  return runCas(
    store,
    async () => {
      const { obj: g, kv } = await loadSecurityGroup(store, ref);
      const rule = g.rules.find((r) => r.id === ruleId.toLowerCase());
      if (!rule) throw notFound('rule', `security group ${g.name} has no rule ${ruleId}`);
      const next: SecurityGroup = { ...g, rules: g.rules.filter((r) => r !== rule) };
      return {
        compares: [{ key: kv.key, modRevision: kv.modRevision }],
        ops: [
          { op: 'put', key: kv.key, value: encodeSecurityGroup(next) },
          { op: 'delete', key: allocKey('sg-rule-key', rule.ruleKey) },
        ],
        result: rule,
        // At the group's new revision, as addSgRule's.
        object: { kv, what: `security group ${g.name}` },
        // Made once the group holds no rule of that id (or is gone, its rules with it).
        landed: async () => {
          const now = await store.get(kv.key);
          return now && decodeSecurityGroup(now.value).rules.some((r) => r.id === rule.id) ? undefined : rule;
        },
      };
    },
    opts,
  );
}

/**
 * Every group, from a read at `revision` or later, shared by the deletes in flight in this process: a delete looks
 * for rules naming its group in all of them, and each delete reading all of them made 1,000 deletes at once read a
 * million groups (389–443 of them ran into the store's 5 s deadline, eighteenth session). A read begun before the
 * delete's own read of its guard is not used for it (SharedReads).
 */
const everyGroup = new SharedReads<ReadResult>();
const everyGroupSince = async (store: Store, revision: number): Promise<KeyValue[]> =>
  (await everyGroup.since(store, 'security groups', revision, () => store.read([{ prefix: SG_PREFIX }]))).results[0]!;

/** Ports a forced delete takes a group off per transaction when the whole delete does not fit in one (2 writes each). */
const SHED_PORTS = 60;

/**
 * Deletes a group. Refused (CONFLICT listing them) while ports are in it or other groups' rules name it as
 * remote, unless `force`: then the same transaction removes it from each such port (and its member key) and
 * deletes those rules. The group's guard is compared, so a port joining or a rule naming it after this read
 * makes the transaction fail and the request re-plan. A forced delete of a group with more ports than one
 * transaction can write (etcd: MAX_TXN_OPS) first takes the group off its ports SHED_PORTS at a time, each step
 * what a PATCH of their groups would write, compared on each port's revision; the delete itself goes last.
 */
export async function deleteSecurityGroup(
  store: Store,
  ref: string,
  opts: CasOptions & { force?: boolean } = {},
): Promise<SecurityGroupDeleted> {
  const { done, steps } = await runCasInSteps<SecurityGroupDeleted, string[]>(
    store,
    async () => {
      const { obj: g } = await loadSecurityGroup(store, ref);
      const { results, revision } = await store.read([{ key: sgKey(g.id) }, { key: sgGuardKey(g.id) }, { prefix: sgMembersPrefix(g.id) }]);
      const [self, guard, members] = results as [KeyValue[], KeyValue[], KeyValue[]];
      const groups = await everyGroupSince(store, revision);
      const kv = self[0];
      if (!kv) throw notFound(undefined, `security-group ${ref} not found`);
      // Each step's too: a step takes the group off ports, and leaves its record (and revision) as it was.
      const object = { kv, what: `security group ${g.name}` };
      const memberPorts = members.map((m) => decodeSgMember(m.value));
      // In pieces a store takes: a group may have hundreds of ports.
      const reads = await readInPieces(
        store,
        memberPorts.map((m) => ({ key: portKey(m.networkId, m.portId) })),
      );
      const ports = reads.flatMap((r) => (r[0] ? [{ kv: r[0], port: decodePort(r[0].value) }] : []));
      const referrers = groups
        .map((x) => ({ kv: x, g: decodeSecurityGroup(x.value) }))
        .filter((x) => x.g.id !== g.id && x.g.rules.some((r) => r.remoteGroupId === g.id));
      if (!opts.force && (ports.length > 0 || referrers.length > 0)) {
        const parts: string[] = [];
        if (ports.length > 0) parts.push(`ports ${listed(ports.map((p) => p.port.name))} are in it`);
        if (referrers.length > 0) parts.push(`rules of security groups ${listed(referrers.map((r) => r.g.name))} name it as remote`);
        throw conflict(undefined, `security group ${g.name} is in use: ${parts.join('; ')} (force=true removes those references)`);
      }
      const compares: Compare[] = [
        { key: kv.key, modRevision: kv.modRevision },
        { key: sgGuardKey(g.id), modRevision: guard[0]?.modRevision ?? 0 },
      ];
      const ops: TxnOp[] = [
        { op: 'delete', key: kv.key },
        { op: 'delete', key: nameKey('security-group', g.name) },
        { op: 'delete', key: allocKey('sg-key', g.groupKey) },
        { op: 'delete', key: sgGuardKey(g.id) },
        { op: 'deletePrefix', prefix: sgMembersPrefix(g.id) },
        ...g.rules.map((r): TxnOp => ({ op: 'delete', key: allocKey('sg-rule-key', r.ruleKey) })),
      ];
      const without = (port: Port): Port => ({ ...port, securityGroups: port.securityGroups.filter((x) => x !== g.id) });
      for (const { kv: pkv, port } of ports) {
        compares.push({ key: pkv.key, modRevision: pkv.modRevision });
        ops.push({ op: 'put', key: pkv.key, value: encodePort(without(port)) });
      }
      const rulesRemoved: SecurityGroupDeleted['rulesRemoved'] = [];
      for (const { kv: okv, g: other } of referrers) {
        const gone = other.rules.filter((r) => r.remoteGroupId === g.id);
        for (const r of gone) rulesRemoved.push({ group: other.name, ruleId: r.id });
        compares.push({ key: okv.key, modRevision: okv.modRevision });
        ops.push(
          { op: 'put', key: okv.key, value: encodeSecurityGroup({ ...other, rules: other.rules.filter((r) => !gone.includes(r)) }) },
          ...gone.map((r): TxnOp => ({ op: 'delete', key: allocKey('sg-rule-key', r.ruleKey) })),
        );
      }
      const done = { ...g, portsDetached: ports.map((p) => p.port.name), rulesRemoved };
      // A delete (or step) the store did not answer: done once the group is gone; a step found made or not is planned
      // again from what the store holds.
      const landed = deletedAs(store, kv.key, { done });
      if (ops.length <= MAX_TXN_OPS && compares.length <= MAX_TXN_OPS) return { compares, ops, result: { done }, object, landed };
      // Too big for one transaction: take the group off some of its ports first, as a PATCH of their groups would.
      if (ports.length > 0) {
        const piece = ports.slice(0, SHED_PORTS);
        return {
          // The group's record too: a step made only while the group is as read (its If-Match holds through the steps).
          compares: [{ key: kv.key, modRevision: kv.modRevision }, ...piece.map((p) => ({ key: p.kv.key, modRevision: p.kv.modRevision }))],
          ops: piece.flatMap((p) => [
            { op: 'put', key: p.kv.key, value: encodePort(without(p.port)) } satisfies TxnOp,
            ...membershipOps(p.port, without(p.port), []).ops,
          ]),
          result: { step: piece.map((p) => p.port.name) },
          object,
          landed,
        };
      }
      throw conflict(
        undefined,
        `deleting security group ${g.name} takes ${ops.length} writes, more than one store transaction allows (${MAX_TXN_OPS}): ` +
          `remove some of the rules that name it as remote first`,
      );
    },
    opts,
  );
  return { ...done, portsDetached: [...steps.flat(), ...done.portsDetached].sort() };
}

function listed(names: string[]): string {
  const sorted = [...names].sort();
  return sorted.length > 10 ? `${sorted.slice(0, 10).join(', ')} and ${sorted.length - 10} more` : sorted.join(', ');
}
