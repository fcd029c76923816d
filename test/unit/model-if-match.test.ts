/**
 * Conditional writes in the model (precondition.ts): every write to an existing object, given an If-Match, is made
 * only while the object is at a revision it names; refused (PRECONDITION_FAILED) it writes nothing. Reads and writes
 * answer with the object's revision (the API's ETag). A change already applied is answered as made whatever the
 * condition says (RFC 9110 §13.1.1), which is how a request whose commit's answer was lost finds its own change.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { runCas, runCasInSteps, type Plan, type Stepped } from '../../src/model/cas.js';
import { registerChassis } from '../../src/model/chassis.js';
import { ModelError } from '../../src/model/errors.js';
import { revisionOf, type IfMatch } from '../../src/model/precondition.js';
import { Topology } from '../../src/model/repo.js';
import { updateNetworkTopology } from '../../src/model/star-sites.js';
import { createMemoryStore } from '../../src/store/memory.js';
import type { Store } from '../../src/store/types.js';

const at = (...revisions: number[]): IfMatch => ({ revisions, text: revisions.map((r) => `"${r}"`).join(', ') });
const rev = (obj: unknown): number => {
  const r = revisionOf(obj);
  if (r === undefined) throw new Error('no revision recorded');
  return r;
};

/** Everything the store holds, with revisions: a refused write must leave it exactly so. */
const dump = async (store: Store) => (await store.range('/')).kvs.map((kv) => [kv.key, kv.value, kv.modRevision]);

/** Runs `write`, expects it refused for its condition, and the store unchanged. */
async function refused(store: Store, write: () => Promise<unknown>, message: RegExp): Promise<void> {
  const before = await dump(store);
  const e = await write().then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(ModelError);
  expect((e as ModelError).code).toBe('PRECONDITION_FAILED');
  expect((e as ModelError).message).toMatch(message);
  expect(await dump(store)).toEqual(before);
}

let store: Store;
let topo: Topology;

beforeEach(async () => {
  store = createMemoryStore();
  topo = new Topology(store);
  const lease = await store.grantLease(60);
  await registerChassis(store, { name: 'hv1', tunnelIp: '172.31.9.1', encaps: ['vxlan'], version: '0.1.0', physnets: ['physnet1'] }, lease);
  await topo.createNetwork({ name: 'n' });
  await topo.createSubnet({ name: 's', network: 'n', cidr: '10.0.0.0/24' });
  return () => topo.close();
});

describe('revisions on reads and writes', () => {
  it('every object read or written carries the revision its record is at; the next write moves it', async () => {
    const p = await topo.createPort({ name: 'vm', network: 'n' });
    expect(rev(p)).toBe(rev(await topo.getPort('vm')));
    const g = await topo.createSecurityGroup({ name: 'g' });
    expect(rev(g)).toBe(rev(await topo.getSecurityGroup('g')));
    const q = await topo.updatePort('vm', { securityGroups: ['g'] });
    expect(rev(q)).toBeGreaterThan(rev(p));
    expect(rev(q)).toBe(rev(await topo.getPort('vm')));
    // A binding (what agents write beside the port) does not move the port's revision.
    const r = await topo.createRouter({ name: 'r' });
    const r2 = await topo.attachSubnet('r', { subnet: 's' });
    expect(rev(r2)).toBeGreaterThan(rev(r));
    expect(rev(await topo.getRouter('r'))).toBe(rev(r2));
    // A group's rules: at the group's revision.
    const rule = await topo.addSgRule('g', { direction: 'ingress', protocol: 'tcp', portMin: 22, portMax: 22 });
    expect(rev(rule)).toBe(rev(await topo.getSecurityGroup('g')));
    expect(rev(await topo.listSgRules('g'))).toBe(rev(rule));
    expect(rev(await topo.getNetwork('n'))).toBeGreaterThan(0);
    expect(rev(await topo.getSubnet('s'))).toBeGreaterThan(0);
    // Never in the JSON.
    expect(JSON.stringify(q)).not.toMatch(/revision/);
  });
});

describe('If-Match on each write to an existing object', () => {
  it('ports: PATCH and DELETE refused at another revision, made at the current one or *', async () => {
    const p = await topo.createPort({ name: 'vm', network: 'n' });
    await refused(
      store,
      () => topo.updatePort('vm', { portSecurity: false }, at(rev(p) - 1)),
      /port vm is at revision \d+, not the one If-Match names \("\d+"\)/,
    );
    const q = await topo.updatePort('vm', { portSecurity: false }, at(rev(p) + 100, rev(p)));
    expect(q.portSecurity).toBe(false);
    await refused(store, () => topo.updatePort('vm', { portSecurity: true }, at(rev(p))), /port vm/);
    await refused(store, () => topo.deletePort('vm', at(rev(p))), /port vm/);
    // A tag that names no revision of ours (weak, or not a number) matches nothing.
    await refused(store, () => topo.deletePort('vm', { revisions: [], text: 'W/"7"' }), /W\/"7"/);
    expect((await topo.updatePort('vm', { portSecurity: true }, { any: true })).portSecurity).toBe(true);
    await topo.deletePort('vm', at(rev(await topo.getPort('vm'))));
    await expect(topo.getPort('vm')).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('a PATCH the object holds already is made whatever the condition (nothing written)', async () => {
    const p = await topo.createPort({ name: 'vm', network: 'n' });
    const q = await topo.updatePort('vm', { portSecurity: false });
    const before = await dump(store);
    const again = await topo.updatePort('vm', { portSecurity: false }, at(rev(p)));
    expect(again.portSecurity).toBe(false);
    expect(rev(again)).toBe(rev(q));
    expect(await dump(store)).toEqual(before);
  });

  it('a missing object is a 404 first, whatever the condition', async () => {
    await expect(topo.updatePort('nope', { portSecurity: false }, at(1))).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(topo.deleteRouter('nope', at(1))).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('networks and subnets: DELETE and the topology PATCH', async () => {
    await topo.createNetwork({ name: 'm' });
    const s = await topo.createSubnet({ name: 'ms', network: 'm', cidr: '10.1.0.0/24' });
    const m = await topo.getNetwork('m');
    await refused(store, () => topo.deleteSubnet('ms', at(rev(s) - 1)), /subnet ms/);
    await topo.deleteSubnet('ms', at(rev(s)));
    // The subnet's delete bumped nothing in the network's record: its revision holds.
    expect(rev(await topo.getNetwork('m'))).toBe(rev(m));
    await refused(store, () => updateNetworkTopology(store, 'm', { topology: 'star' }, at(rev(m) - 1)), /network m/);
    const star = await updateNetworkTopology(store, 'm', { topology: 'star' }, at(rev(m)));
    expect(star.topology).toBe('star');
    expect(rev(star)).toBe(rev(await topo.getNetwork('m')));
    await refused(store, () => topo.deleteNetwork('m', at(rev(m))), /network m/);
    await topo.deleteNetwork('m', at(rev(star)));
  });

  it("routers: the mode, interfaces, routes and gateway are all the router's record, and all move its revision", async () => {
    await topo.createNetwork({ name: 'ext', provider: { physnet: 'physnet1' } });
    await topo.createSubnet({ name: 'ext-s', network: 'ext', cidr: '203.0.113.0/24', enableDhcp: false });
    const r0 = await topo.createRouter({ name: 'r' });
    const r1 = await topo.attachSubnet('r', { subnet: 's' }, at(rev(r0)));
    await refused(store, () => topo.addRoute('r', { cidr: '192.168.0.0/24', nexthop: '10.0.0.5' }, at(rev(r0))), /router r is at revision/);
    const r2 = await topo.addRoute('r', { cidr: '192.168.0.0/24', nexthop: '10.0.0.5' }, at(rev(r1)));
    await refused(store, () => topo.setRouterMode('r', 'reactive', at(rev(r1))), /router r/);
    const r3 = await topo.setRouterMode('r', 'reactive', at(rev(r2)));
    await refused(store, () => topo.setGateway('r', { network: 'ext' }, at(rev(r2))), /router r/);
    const r4 = await topo.setGateway('r', { network: 'ext' }, at(rev(r3)));
    expect(rev(await topo.getGateway('r'))).toBe(rev(r4));
    await refused(store, () => topo.removeRoute('r', '192.168.0.0/24', at(rev(r3))), /router r/);
    const r5 = await topo.removeRoute('r', '192.168.0.0/24', at(rev(r4)));
    await refused(store, () => topo.clearGateway('r', at(rev(r4))), /router r/);
    const r6 = await topo.clearGateway('r', at(rev(r5)));
    await refused(store, () => topo.detachSubnet('r', 's', at(rev(r5))), /router r/);
    const r7 = await topo.detachSubnet('r', 's', at(rev(r6)));
    await refused(store, () => topo.deleteRouter('r', at(rev(r6))), /router r/);
    await topo.deleteRouter('r', at(rev(r7)));
    expect(await topo.listRouters()).toEqual([]);
  });

  it('a router deleted in steps (on more networks than one transaction takes): the condition is on the router as found', async () => {
    const r = await topo.createRouter({ name: 'big' });
    for (let i = 0; i < 70; i++) {
      await topo.createNetwork({ name: `b${i}` });
      await topo.createSubnet({ name: `b${i}-s`, network: `b${i}`, cidr: `10.${100 + i}.0.0/24` });
      await topo.attachSubnet('big', { subnet: `b${i}-s` });
    }
    const found = await topo.getRouter('big');
    expect(rev(found)).toBeGreaterThan(rev(r));
    await refused(store, () => topo.deleteRouter('big', at(rev(r))), /router big/);
    const gone = await topo.deleteRouter('big', at(rev(found)));
    expect(gone.interfaces).toHaveLength(70);
    expect(await topo.listRouters()).toEqual([]);
  });

  it('security groups: rules added and deleted at the group revision, the group deleted', async () => {
    const g = await topo.createSecurityGroup({ name: 'g' });
    const rule = await topo.addSgRule('g', { direction: 'ingress', protocol: 'tcp', portMin: 22, portMax: 22 }, at(rev(g)));
    await refused(
      store,
      () => topo.addSgRule('g', { direction: 'ingress', protocol: 'udp', portMin: 53, portMax: 53 }, at(rev(g))),
      /security group g/,
    );
    await refused(store, () => topo.deleteSgRule('g', rule.id, at(rev(g))), /security group g/);
    await refused(store, () => topo.deleteSecurityGroup('g', {}, at(rev(g))), /security group g/);
    const deleted = await topo.deleteSgRule('g', rule.id, at(rev(rule)));
    await topo.deleteSecurityGroup('g', {}, at(rev(deleted)));
    expect(await topo.listSecurityGroups()).toEqual([]);
  });

  it('floating IPs: PATCH (association) and DELETE', async () => {
    await topo.createNetwork({ name: 'ext', provider: { physnet: 'physnet1' } });
    await topo.createSubnet({ name: 'ext-s', network: 'ext', cidr: '203.0.113.0/24', enableDhcp: false });
    await topo.createRouter({ name: 'r' });
    await topo.attachSubnet('r', { subnet: 's' });
    await topo.setGateway('r', { network: 'ext' });
    await topo.createPort({ name: 'vm', network: 'n' });
    const f = await topo.createFloatingIp({ network: 'ext' });
    expect(rev(f)).toBe(rev(await topo.getFloatingIp(f.id)));
    await refused(
      store,
      () => topo.updateFloatingIp(f.id, { port: 'vm' }, at(rev(f) - 1)),
      new RegExp(`floating IP ${f.ip.replace(/\./g, '\\.')}`),
    );
    const a = await topo.updateFloatingIp(f.ip, { port: 'vm' }, at(rev(f)));
    expect(a.portId).toBeDefined();
    await refused(store, () => topo.deleteFloatingIp(f.id, at(rev(f))), /floating IP/);
    await topo.deleteFloatingIp(f.id, at(rev(a)));
    expect(await topo.listFloatingIps()).toEqual([]);
  });
});

describe('the condition in runCas and runCasInSteps', () => {
  it('a conditional write whose plan names no object is a bug, refused, never made unconditionally', async () => {
    await store.put('/k', 'a');
    const plan = async (): Promise<Plan<string>> => ({ compares: [], ops: [{ op: 'put', key: '/k', value: 'b' }], result: 'b' });
    await expect(runCas(store, plan, { ifMatch: { any: true } })).rejects.toThrow(/without naming its object/);
    expect((await store.get('/k'))?.value).toBe('a');
  });

  it("in steps, the condition follows the object through the request's own steps; another writer between them refuses the rest", async () => {
    /** Counts /obj up to 3 a step a time, then deletes it; `meddle` runs before the second step reads it. */
    const countUp = (cond: IfMatch, meddle: () => Promise<void>) => {
      const plan = async (): Promise<Plan<Stepped<string, string>>> => {
        if ((await store.get('/obj'))!.value === '1') await meddle();
        const kv = (await store.get('/obj'))!;
        const n = Number(kv.value);
        const base = { compares: [{ key: kv.key, modRevision: kv.modRevision }], object: { kv, what: 'object /obj' } };
        if (n === 3) return { ...base, ops: [{ op: 'delete', key: kv.key }], result: { done: 'gone' } };
        return { ...base, ops: [{ op: 'put', key: kv.key, value: String(n + 1) }], result: { step: String(n + 1) } };
      };
      return runCasInSteps(store, plan, { ifMatch: cond });
    };
    await store.put('/obj', '0');
    const quiet = async (): Promise<void> => undefined;
    expect(await countUp(at((await store.get('/obj'))!.modRevision), quiet)).toEqual({ done: 'gone', steps: ['1', '2', '3'] });
    // Another writer puts the object (the same value: a new revision) after the first step: the second is refused.
    await store.put('/obj', '0');
    let meddled = false;
    const meddle = async (): Promise<void> => {
      if (meddled) return;
      meddled = true;
      await store.put('/obj', '1');
    };
    const e = await countUp(at((await store.get('/obj'))!.modRevision), meddle).catch((x: unknown) => x);
    expect(e).toMatchObject({ code: 'PRECONDITION_FAILED', message: expect.stringContaining("this request's own step") });
    expect((await store.get('/obj'))?.value).toBe('1');
  });
});
