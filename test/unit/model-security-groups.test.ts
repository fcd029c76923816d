import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/index.js';
import type { Store } from '../../src/store/types.js';
import { holdFirstRead, modelChecks } from '../helpers/model-checks.js';
import {
  decodeSgMember,
  exportTopology,
  importTopology,
  ROOT,
  sgMemberKey,
  sgMembersPrefix,
  SG_PREFIX,
  Topology,
  type TopologyDocument,
} from '../../src/model/index.js';

let store: Store;
let topo: Topology;

beforeEach(async () => {
  store = await openStore('memory:');
  topo = new Topology(store);
});
afterEach(async () => {
  await store.close();
});

const { rejects, raceOnce } = modelChecks(() => store);

async function members(groupId: string): Promise<Record<string, string[]>> {
  const { kvs } = await store.range(sgMembersPrefix(groupId));
  return Object.fromEntries(kvs.map((kv) => [decodeSgMember(kv.value).portId, decodeSgMember(kv.value).addresses]));
}

async function base() {
  await topo.createNetwork({ name: 'blue' });
  await topo.createSubnet({ name: 'blue-a', network: 'blue', cidr: '10.0.0.0/24' });
}

describe('security groups', () => {
  it('creates a group with one default egress rule; get by name and id; list; keys from the pools', async () => {
    const g = await topo.createSecurityGroup({ name: 'web', description: 'web servers' });
    expect(g).toMatchObject({ name: 'web', description: 'web servers', groupKey: 1 });
    expect(g.rules).toEqual([{ id: expect.any(String), ruleKey: 1, direction: 'egress', protocol: 'any' }]);
    expect(await topo.getSecurityGroup('web')).toEqual(g);
    expect(await topo.getSecurityGroup(g.id)).toEqual(g);
    const h = await topo.createSecurityGroup({ name: 'db' });
    expect(h).toMatchObject({ description: '', groupKey: 2, rules: [{ ruleKey: 2 }] });
    expect((await topo.listSecurityGroups()).map((x) => x.name)).toEqual(['db', 'web']);
    await rejects(() => topo.getSecurityGroup('nope'), 'NOT_FOUND');
  });

  it('refuses bad groups and duplicates, writing nothing', async () => {
    await topo.createSecurityGroup({ name: 'web' });
    await rejects(() => topo.createSecurityGroup({ name: 'web' }), 'CONFLICT', 'name', /already exists/);
    await rejects(() => topo.createSecurityGroup({ name: 'bad name' }), 'INVALID', 'name');
    await rejects(() => topo.createSecurityGroup({}), 'INVALID', 'name');
    await rejects(() => topo.createSecurityGroup({ name: 'x', colour: 1 }), 'INVALID', 'colour');
    await rejects(() => topo.createSecurityGroup({ name: 'x', description: 7 }), 'INVALID', 'description');
  });

  it('adds rules with normalised protocols and CIDRs; lists and deletes them (freeing the rule key)', async () => {
    const g = await topo.createSecurityGroup({ name: 'web' });
    const r1 = await topo.addSgRule('web', { direction: 'ingress', protocol: 'tcp', portMin: 80, portMax: 81, remoteCidr: '10.0.0.0/8' });
    expect(r1).toMatchObject({ direction: 'ingress', protocol: 'tcp', portMin: 80, portMax: 81, remoteCidr: '10.0.0.0/8', ruleKey: 2 });
    expect(await topo.addSgRule(g.id, { direction: 'ingress', protocol: 17, portMin: 53 })).toMatchObject({
      protocol: 'udp',
      portMin: 53,
      portMax: 53,
    });
    expect(await topo.addSgRule('web', { direction: 'ingress', protocol: 1, icmpType: 8, icmpCode: 0 })).toMatchObject({
      protocol: 'icmp',
      icmpType: 8,
      icmpCode: 0,
    });
    expect(await topo.addSgRule('web', { direction: 'ingress', protocol: 47 })).toMatchObject({ protocol: 47 });
    expect(await topo.addSgRule('web', { direction: 'ingress', remoteGroup: 'web' })).toMatchObject({ remoteGroupId: g.id });
    expect((await topo.listSgRules('web')).map((r) => r.ruleKey)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(await topo.getSecurityGroup('web')).toMatchObject({ rules: await topo.listSgRules('web') });
    const gone = await topo.deleteSgRule('web', r1.id);
    expect(gone).toEqual(r1);
    expect((await topo.listSgRules('web')).some((r) => r.id === r1.id)).toBe(false);
    expect((await topo.addSgRule('web', { direction: 'egress', protocol: 'tcp', portMin: 22 })).ruleKey).toBe(2);
    await rejects(() => topo.deleteSgRule('web', r1.id), 'NOT_FOUND', 'rule');
  });

  it('refuses each bad rule with a clear error, writing nothing', async () => {
    await topo.createSecurityGroup({ name: 'web' });
    const add = (b: unknown) => () => topo.addSgRule('web', b);
    await rejects(add({}), 'INVALID', 'direction', /required/);
    await rejects(add({ direction: 'in' }), 'INVALID', 'direction');
    await rejects(add({ direction: 'ingress', protocol: 'sctp' }), 'INVALID', 'protocol');
    await rejects(add({ direction: 'ingress', protocol: 256 }), 'INVALID', 'protocol');
    await rejects(add({ direction: 'ingress', protocol: 'icmp', portMin: 80 }), 'INVALID', 'portMin', /tcp or udp/);
    await rejects(add({ direction: 'ingress', protocol: 'any', portMin: 80 }), 'INVALID', 'portMin');
    await rejects(add({ direction: 'ingress', protocol: 'tcp', portMin: 90, portMax: 80 }), 'INVALID', 'portMax');
    await rejects(add({ direction: 'ingress', protocol: 'tcp', portMax: 80 }), 'INVALID', 'portMax');
    await rejects(add({ direction: 'ingress', protocol: 'tcp', portMin: 0 }), 'INVALID', 'portMin');
    await rejects(add({ direction: 'ingress', protocol: 'tcp', portMin: 65536 }), 'INVALID', 'portMin');
    await rejects(add({ direction: 'ingress', protocol: 'tcp', icmpType: 8 }), 'INVALID', 'icmpType');
    await rejects(add({ direction: 'ingress', protocol: 'icmp', icmpCode: 0 }), 'INVALID', 'icmpCode', /needs icmpType/);
    await rejects(add({ direction: 'ingress', remoteCidr: '10.0.0.1/8' }), 'INVALID', 'remoteCidr', /host bits/);
    await rejects(add({ direction: 'ingress', remoteCidr: 'x' }), 'INVALID', 'remoteCidr');
    await rejects(add({ direction: 'ingress', remoteCidr: '10.0.0.0/8', remoteGroup: 'web' }), 'INVALID', 'remoteGroup', /not both/);
    await rejects(add({ direction: 'ingress', remoteGroup: 'ghost' }), 'INVALID', 'remoteGroup', /not found/);
    await rejects(add({ direction: 'ingress', port: 80 }), 'INVALID', 'port');
    await rejects(() => topo.addSgRule('ghost', { direction: 'ingress' }), 'NOT_FOUND');
    const e = await rejects(add({ direction: 'up', protocol: 'x', colour: 1 }), 'INVALID');
    expect(e.problems?.map((p) => p.field).sort()).toEqual(['colour', 'direction', 'protocol']);
  });

  it('refuses overlapping duplicates with CONFLICT naming the existing rule', async () => {
    const g = await topo.createSecurityGroup({ name: 'web' });
    const dflt = g.rules[0]!;
    await rejects(() => topo.addSgRule('web', { direction: 'egress' }), 'CONFLICT', undefined, new RegExp(dflt.id));
    const r = await topo.addSgRule('web', { direction: 'ingress', protocol: 'tcp', portMin: 80, portMax: 90 });
    await rejects(
      () => topo.addSgRule('web', { direction: 'ingress', protocol: 'tcp', portMin: 85, portMax: 100 }),
      'CONFLICT',
      undefined,
      new RegExp(r.id),
    );
    await rejects(() => topo.addSgRule('web', { direction: 'ingress', protocol: 'tcp' }), 'CONFLICT', undefined, new RegExp(r.id));
    await rejects(() => topo.addSgRule('web', { direction: 'ingress', protocol: 6, portMin: 80, portMax: 90 }), 'CONFLICT');
    // Not overlapping: other ports, protocol, direction, remote, ICMP type.
    await topo.addSgRule('web', { direction: 'ingress', protocol: 'tcp', portMin: 91 });
    await topo.addSgRule('web', { direction: 'ingress', protocol: 'udp', portMin: 80 });
    await topo.addSgRule('web', { direction: 'egress', protocol: 'tcp', portMin: 80 });
    await topo.addSgRule('web', { direction: 'ingress', protocol: 'tcp', portMin: 80, remoteCidr: '10.0.0.0/8' });
    const icmp = await topo.addSgRule('web', { direction: 'ingress', protocol: 'icmp' });
    await topo.addSgRule('web', { direction: 'ingress', protocol: 'icmp', icmpType: 8 });
    await rejects(() => topo.addSgRule('web', { direction: 'ingress', protocol: 'icmp' }), 'CONFLICT', undefined, new RegExp(icmp.id));
  });
});

describe('ports in security groups', () => {
  it('create resolves names and ids, drops repeats, writes the members; update and delete follow', async () => {
    await base();
    const web = await topo.createSecurityGroup({ name: 'web' });
    const db = await topo.createSecurityGroup({ name: 'db' });
    const p = await topo.createPort({
      name: 'vm',
      network: 'blue',
      securityGroups: ['web', web.id, db.id.toUpperCase()],
      allowedAddressPairs: [{ ip: '10.0.0.128/25' }, { ip: '10.0.0.9' }],
    });
    expect(p.securityGroups).toEqual([web.id, db.id]);
    expect(await members(web.id)).toEqual({ [p.id]: ['10.0.0.2', '10.0.0.128/25', '10.0.0.9'] });
    expect(await members(db.id)).toEqual({ [p.id]: ['10.0.0.2', '10.0.0.128/25', '10.0.0.9'] });
    expect(decodeSgMember((await store.get(sgMemberKey(web.id, p.id)))!.value).networkId).toBe(p.networkId);
    // Address change: members rewritten.
    await topo.updatePort('vm', { allowedAddressPairs: [] });
    expect(await members(web.id)).toEqual({ [p.id]: ['10.0.0.2'] });
    // Groups replaced.
    const u = await topo.updatePort('vm', { securityGroups: ['db'] });
    expect(u.securityGroups).toEqual([db.id]);
    expect(await members(web.id)).toEqual({});
    expect(await members(db.id)).toEqual({ [p.id]: ['10.0.0.2'] });
    // Cleared.
    expect((await topo.updatePort('vm', { securityGroups: [] })).securityGroups).toEqual([]);
    expect(await members(db.id)).toEqual({});
    await topo.updatePort('vm', { securityGroups: ['web', 'db'] });
    await topo.deletePort('vm');
    expect(await members(web.id)).toEqual({});
    expect(await members(db.id)).toEqual({});
    // A port without groups: securityGroups [] and no member keys.
    const q = await topo.createPort({ name: 'plain', network: 'blue' });
    expect(q.securityGroups).toEqual([]);
    expect(q.qos).toBeUndefined();
  });

  it('qos: set at creation, replaced, cleared by null; bad values refused writing nothing', async () => {
    await base();
    const p = await topo.createPort({ name: 'vm', network: 'blue', qos: { ingressRateKbps: 1000, ingressBurstKb: 100 } });
    expect(p.qos).toEqual({ ingressRateKbps: 1000, ingressBurstKb: 100 });
    expect((await topo.getPort('vm')).qos).toEqual(p.qos);
    expect((await topo.updatePort('vm', { qos: { egressRateKbps: 5000 } })).qos).toEqual({ egressRateKbps: 5000 });
    const cleared = await topo.updatePort('vm', { qos: null });
    expect(cleared.qos).toBeUndefined();
    expect('qos' in (await topo.getPort('vm'))).toBe(false);
    await rejects(() => topo.updatePort('vm', { qos: { ingressBurstKb: 10 } }), 'INVALID', 'qos.ingressBurstKb', /needs/);
    await rejects(() => topo.updatePort('vm', { qos: { egressRateKbps: 0 } }), 'INVALID', 'qos.egressRateKbps');
    await rejects(() => topo.updatePort('vm', { qos: { egressRateKbps: 100_000_001 } }), 'INVALID', 'qos.egressRateKbps');
    await rejects(() => topo.updatePort('vm', { qos: { rate: 1 } }), 'INVALID', 'qos.rate');
    await rejects(() => topo.updatePort('vm', { qos: 5 }), 'INVALID', 'qos');
    await rejects(() => topo.createPort({ name: 'w', network: 'blue', qos: { egressBurstKb: 1 } }), 'INVALID', 'qos.egressBurstKb');
  });

  it('unknown groups are INVALID naming the entry; nothing written', async () => {
    await base();
    await topo.createSecurityGroup({ name: 'web' });
    await rejects(() => topo.createPort({ name: 'vm', network: 'blue', securityGroups: ['web', 'ghost'] }), 'INVALID', 'securityGroups[1]');
    await rejects(() => topo.createPort({ name: 'vm', network: 'blue', securityGroups: 'web' }), 'INVALID', 'securityGroups');
    await rejects(() => topo.createPort({ name: 'vm', network: 'blue', securityGroups: [3] }), 'INVALID', 'securityGroups[0]');
    await topo.createPort({ name: 'vm', network: 'blue' });
    await rejects(
      () => topo.updatePort('vm', { securityGroups: ['00000000-0000-4000-8000-000000000000'] }),
      'INVALID',
      'securityGroups[0]',
    );
    await rejects(() => topo.updatePort('vm', { securityGroups: null }), 'INVALID', 'securityGroups');
  });

  it('a group deleted while a port joins it is not joined (the port request re-plans and refuses)', async () => {
    await base();
    await topo.createSecurityGroup({ name: 'web' });
    await topo.createPort({ name: 'vm', network: 'blue' });
    const other = new Topology(store);
    const race = raceOnce(() => other.deleteSecurityGroup('web'));
    await expect(topo.updatePort('vm', { securityGroups: ['web'] })).rejects.toMatchObject({ code: 'INVALID', field: 'securityGroups[0]' });
    expect(race.txns()).toBe(1);
    expect((await topo.getPort('vm')).securityGroups).toEqual([]);
    expect((await store.range('/wyvern/v1/sg-members/')).kvs).toEqual([]);
  });

  it('a port joining while a delete is planned makes the delete re-plan and refuse', async () => {
    await base();
    await topo.createSecurityGroup({ name: 'web' });
    const other = new Topology(store);
    const race = raceOnce(() => other.createPort({ name: 'vm', network: 'blue', securityGroups: ['web'] }));
    await expect(topo.deleteSecurityGroup('web')).rejects.toMatchObject({ code: 'CONFLICT', message: expect.stringMatching(/ports vm/) });
    expect(race.txns()).toBe(1);
    expect((await topo.getSecurityGroup('web')).name).toBe('web');
  });

  it('a rule naming the group added while a delete is planned makes the delete re-plan and refuse', async () => {
    await topo.createSecurityGroup({ name: 'web' });
    await topo.createSecurityGroup({ name: 'app' });
    const other = new Topology(store);
    raceOnce(() => other.addSgRule('app', { direction: 'ingress', remoteGroup: 'web' }));
    await expect(topo.deleteSecurityGroup('web')).rejects.toMatchObject({ code: 'CONFLICT', message: expect.stringMatching(/app/) });
  });

  it('deletes at once share the read of every group; one begun before a delete read its guard is not used for it', async () => {
    for (const name of ['web', 'app', 'other']) await topo.createSecurityGroup({ name });
    // The first read of every group is answered late, with what it saw before the rule below was added.
    const hold = holdFirstRead(store, (ops) => ops.length === 1 && 'prefix' in ops[0]! && ops[0].prefix === SG_PREFIX);
    const first = topo.deleteSecurityGroup('other');
    await hold.held;
    await new Topology(store).addSgRule('app', { direction: 'ingress', remoteGroup: 'web' });
    const second = topo.deleteSecurityGroup('web'); // its guard read sees the rule's put; the held read does not
    await new Promise((r) => setTimeout(r, 10));
    hold.release();
    await expect(second).rejects.toMatchObject({ code: 'CONFLICT', message: expect.stringMatching(/rules of security groups app/) });
    await first;
    expect(hold.reads.n).toBe(2);
    // 60 deletes at once over one server: a few reads of every group, not 60.
    for (let i = 0; i < 60; i++) await topo.createSecurityGroup({ name: `g${i}` });
    hold.reads.n = 0;
    await Promise.all(Array.from({ length: 60 }, (_, i) => topo.deleteSecurityGroup(`g${i}`)));
    expect(hold.reads.n).toBeLessThan(10);
    expect((await topo.listSecurityGroups()).map((g) => g.name).sort()).toEqual(['app', 'web']);
  });
  it('a group deleted while a rule naming it is added: the rule is refused', async () => {
    await topo.createSecurityGroup({ name: 'web' });
    await topo.createSecurityGroup({ name: 'app' });
    const other = new Topology(store);
    raceOnce(() => other.deleteSecurityGroup('web'));
    await expect(topo.addSgRule('app', { direction: 'ingress', remoteGroup: 'web' })).rejects.toMatchObject({
      code: 'INVALID',
      field: 'remoteGroup',
    });
    expect((await topo.listSgRules('app')).length).toBe(1);
  });
});

describe('deleting a group', () => {
  it('refused while in use (naming ports and groups); force removes every reference in one transaction', async () => {
    await base();
    const web = await topo.createSecurityGroup({ name: 'web' });
    const app = await topo.createSecurityGroup({ name: 'app' });
    const rule = await topo.addSgRule('app', { direction: 'ingress', protocol: 'tcp', portMin: 80, remoteGroup: 'web' });
    await topo.addSgRule('web', { direction: 'ingress', remoteGroup: 'web' }); // itself: not a reference that blocks
    const p1 = await topo.createPort({ name: 'vm1', network: 'blue', securityGroups: ['web', 'app'] });
    await topo.createPort({ name: 'vm2', network: 'blue', securityGroups: ['web'] });
    const e = await rejects(() => topo.deleteSecurityGroup('web'), 'CONFLICT');
    expect(e.message).toMatch(/ports vm1, vm2 are in it/);
    expect(e.message).toMatch(/security groups app name it as remote/);
    const rev = await store.currentRevision();
    const d = await topo.deleteSecurityGroup('web', { force: true });
    expect(await store.currentRevision()).toBe(rev + 1);
    expect(d).toMatchObject({ id: web.id, portsDetached: ['vm1', 'vm2'], rulesRemoved: [{ group: 'app', ruleId: rule.id }] });
    expect((await topo.getPort('vm1')).securityGroups).toEqual([app.id]);
    expect((await topo.getPort('vm2')).securityGroups).toEqual([]);
    expect(await members(web.id)).toEqual({});
    expect(Object.keys(await members(app.id))).toEqual([p1.id]);
    expect((await topo.listSgRules('app')).map((r) => r.id)).not.toContain(rule.id);
    await rejects(() => topo.getSecurityGroup('web'), 'NOT_FOUND');
    const keys = (await store.range(ROOT)).kvs.map((kv) => kv.key);
    expect(keys.filter((k) => k.includes(web.id))).toEqual([]);
    // Its name, group key and rule keys are free again.
    const again = await topo.createSecurityGroup({ name: 'web' });
    expect(again.groupKey).toBe(web.groupKey);
  });

  it('an unused group is deleted with everything it held', async () => {
    const g = await topo.createSecurityGroup({ name: 'web' });
    await topo.addSgRule('web', { direction: 'ingress', protocol: 'tcp', portMin: 22 });
    await topo.deleteSecurityGroup(g.id);
    expect((await store.range(ROOT)).kvs).toEqual([]);
  });
});

describe('topology export / import with security groups', () => {
  it('round-trips groups and rebuilds members; an old document without securityGroups imports unchanged', async () => {
    await base();
    await topo.createSecurityGroup({ name: 'web' });
    await topo.addSgRule('web', { direction: 'ingress', protocol: 'tcp', portMin: 80, remoteGroup: 'web' });
    const p = await topo.createPort({ name: 'vm', network: 'blue', securityGroups: ['web'], qos: { egressRateKbps: 1000 } });
    const doc = await exportTopology(store);
    expect(doc.securityGroups).toHaveLength(1);
    const before = (await store.range(ROOT)).kvs.filter((kv) => !kv.key.includes('/guard/')).map((kv) => [kv.key, kv.value]);
    const fresh = await openStore('memory:');
    const r = await importTopology(fresh, doc);
    expect(r.written).toBeGreaterThan(0);
    const after = (await fresh.range(ROOT)).kvs.filter((kv) => !kv.key.includes('/guard/')).map((kv) => [kv.key, kv.value]);
    expect(after).toEqual(before);
    expect(await exportTopology(fresh)).toEqual(doc);
    expect((await importTopology(fresh, doc)).written).toBe(0);
    expect((await fresh.get(sgMemberKey(doc.securityGroups![0]!.id, p.id)))?.value).toBeDefined();
    await fresh.close();

    const old: TopologyDocument = { ...doc, ports: doc.ports.map((x) => ({ ...x, securityGroups: [] })) };
    delete old.securityGroups;
    const legacy = JSON.parse(JSON.stringify(old)) as Record<string, unknown>;
    for (const x of legacy.ports as Record<string, unknown>[]) delete x.securityGroups;
    const fresh2 = await openStore('memory:');
    await importTopology(fresh2, legacy);
    expect((await exportTopology(fresh2)).securityGroups).toEqual([]);
    await fresh2.close();
  });

  it('refuses dangling group references and duplicate rule keys in a document', async () => {
    await base();
    await topo.createSecurityGroup({ name: 'web' });
    await topo.createPort({ name: 'vm', network: 'blue', securityGroups: ['web'] });
    const doc = await exportTopology(store);
    const fresh = await openStore('memory:');
    const noGroups = { ...doc, securityGroups: [] };
    await expect(importTopology(fresh, noGroups)).rejects.toMatchObject({ code: 'INVALID', field: 'ports[0].securityGroups[0]' });
    const g = doc.securityGroups![0]!;
    const twoKeys = {
      ...doc,
      securityGroups: [{ ...g, rules: [...g.rules, { ...g.rules[0]!, id: '11111111-1111-4111-8111-111111111111', direction: 'ingress' }] }],
    };
    await expect(importTopology(fresh, twoKeys)).rejects.toMatchObject({ code: 'INVALID', message: expect.stringMatching(/ruleKey/) });
    expect((await fresh.range(ROOT)).kvs).toEqual([]);
    await fresh.close();
  });
});

describe('transaction size', () => {
  it('a forced delete of a group on more ports than one transaction can write goes in steps: off every port, then gone', async () => {
    await topo.createNetwork({ name: 'big' });
    await topo.createSubnet({ name: 'big-a', network: 'big', cidr: '10.1.0.0/16' });
    await topo.createSecurityGroup({ name: 'web' });
    await topo.createSecurityGroup({ name: 'db' });
    for (let i = 0; i < 300; i++) await topo.createPort({ name: `p${i}`, network: 'big', securityGroups: i % 2 ? ['web', 'db'] : ['web'] });
    const r = await topo.deleteSecurityGroup('web', { force: true });
    expect(r.portsDetached).toEqual(Array.from({ length: 300 }, (_, i) => `p${i}`).sort());
    await expect(topo.getSecurityGroup('web')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    const ports = await topo.listPorts('big');
    expect(ports.flatMap((p) => p.securityGroups).every((id) => id !== r.id)).toBe(true);
    const db = await topo.getSecurityGroup('db');
    expect(ports.filter((p) => p.securityGroups.includes(db.id))).toHaveLength(150);
    // Nothing of the group is left: no member key, no guard, no name.
    const { kvs } = await store.range(ROOT);
    expect(kvs.filter((kv) => kv.key.includes(r.id)).map((kv) => kv.key)).toEqual([]);
    expect((await store.range(`/wyvern/v1/sg-members/${db.id}/`)).kvs).toHaveLength(150);
  });
});
