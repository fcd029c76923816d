/**
 * Lazy sync of security groups: an agent reads the groups of its local ports and the members of the groups their
 * rules name, and lets go of them when no reason is left; group and member changes mark the right networks dirty,
 * so the incremental flows always equal a full recompute.
 */
import { describe, expect, it, vi } from 'vitest';
import { APPS } from '../../src/apps/index.js';
import { FlowComputer } from '../../src/agent/compute.js';
import { FlowManager } from '../../src/flows/manager.js';
import { encodeSecurityGroup, encodeSgMember } from '../../src/model/codec.js';
import { networkKey, portKey, SG_MEMBERS_PREFIX, SG_PREFIX, sgKey, sgMemberKey, sgMembersPrefix } from '../../src/model/keys.js';
import type { SecurityGroup, SgRule } from '../../src/model/types.js';
import { loadPipeline } from '../../src/pipeline/pipeline.js';
import { PipelineTables } from '../../src/pipeline/tables.js';
import { silentLogger } from '../../src/util/log.js';
import { SecurityGroupReach } from '../../src/view/sg-reach.js';
import { groupsLoaded } from '../../src/view/security-groups.js';
import { TopologySync, type ViewChange } from '../../src/view/topology-sync.js';
import { TopologyView } from '../../src/view/topology-view.js';
import { FakeSwitch } from '../helpers/fake-switch.js';

const uuid = (kind: number, n: number) => `0${kind}000000-0000-4000-8000-${n.toString().padStart(12, '0')}`;
const N = [uuid(1, 1), uuid(1, 2)];
const P = (n: number) => uuid(2, n);
const G = (n: number) => uuid(3, n);
const R = (n: number) => uuid(4, n);

const portDoc = (n: number, net: string, groups: string[]) =>
  JSON.stringify({
    id: P(n),
    name: `vm${n}`,
    networkId: net,
    mac: `02:00:00:00:00:0${n}`,
    fixedIps: [{ subnetId: uuid(5, 1), ip: `10.0.0.${n}` }],
    portSecurity: true,
    allowedAddressPairs: [],
    securityGroups: groups,
    portKey: n,
  });
const rule = (n: number, r: Partial<SgRule>): SgRule => ({ id: R(n), ruleKey: n, direction: 'ingress', protocol: 'tcp', ...r });
const groupDoc = (n: number, rules: SgRule[]): string =>
  encodeSecurityGroup({ id: G(n), name: `g${n}`, description: '', groupKey: n, rules } satisfies SecurityGroup);
const memberDoc = (port: number, net: string) => encodeSgMember({ portId: P(port), networkId: net, addresses: [`10.0.0.${port}`] });

function make(lazy: boolean) {
  const view = new TopologyView('hv1', 'vxlan');
  const watched = new Set<string>();
  const sync = new TopologySync(
    view,
    { add: (p) => void watched.add(p), remove: (p) => void watched.delete(p), prefixes: () => [...watched] },
    silentLogger,
    lazy,
  );
  const reach = new SecurityGroupReach(view, sync);
  const sgWatches = () => [...watched].filter((p) => p.startsWith(SG_PREFIX) || p.startsWith(SG_MEMBERS_PREFIX)).sort();
  for (const [i, net] of N.entries()) {
    void sync.want(net, 'test');
    sync.applyPut(networkKey(net), JSON.stringify({ id: net, name: `n${i}`, tunnelKey: i + 1, mtu: 1500 }));
  }
  return { view, sync, reach, sgWatches };
}

describe('security groups: lazy sync', () => {
  it('watches the groups of local ports and the members of the groups their rules name; lets go with the last reason', async () => {
    const { view, sync, reach, sgWatches } = make(true);
    sync.applyPut(portKey(N[0]!, P(1)), portDoc(1, N[0]!, [G(1)]));
    sync.applyPut(portKey(N[0]!, P(2)), portDoc(2, N[0]!, [G(1)]));
    sync.applyPut(portKey(N[0]!, P(3)), portDoc(3, N[0]!, [G(2)])); // not local: its group is not read here
    view.plugVif({ ifaceName: 't1', ofport: 1, ifaceId: 'vm1' });
    view.plugVif({ ifaceName: 't2', ofport: 2, ifaceId: 'vm2' });
    await reach.update();
    expect(sgWatches()).toEqual([sgKey(G(1))]);

    // The group's rules name G3 as remote: its members are read too.
    sync.applyPut(sgKey(G(1)), groupDoc(1, [rule(10, { remoteGroupId: G(3) })]));
    await reach.update();
    expect(sgWatches()).toEqual([sgKey(G(1)), sgMembersPrefix(G(3))].sort());
    sync.applyPut(sgMemberKey(G(3), P(3)), memberDoc(3, N[0]!));
    expect(view.sgMembers.get(G(3))?.size).toBe(1);

    // One of two local ports of G1 leaves: still watched. The last one: both watches go, and what they held.
    view.unplugVif('vm1');
    await reach.update();
    expect(sgWatches()).toEqual([sgKey(G(1)), sgMembersPrefix(G(3))].sort());
    view.unplugVif('vm2');
    await reach.update();
    expect(sgWatches()).toEqual([]);
    expect(view.securityGroups.size).toBe(0);
    expect(view.sgMembers.size).toBe(0);
    expect(sync.wantedSgPrefixes()).toEqual([]);
    // A late event for an unwatched group is ignored.
    sync.applyPut(sgKey(G(1)), groupDoc(1, []));
    expect(view.securityGroups.size).toBe(0);
  });

  it('without lazy sync every group and member is watched from the start', async () => {
    const { sync, sgWatches } = make(false);
    await sync.start();
    expect(sgWatches()).toEqual([SG_MEMBERS_PREFIX, SG_PREFIX].sort());
  });

  it('a group change marks the networks with ports in it; a member change those with ports in groups naming it', () => {
    const { sync } = make(false);
    sync.applyPut(portKey(N[0]!, P(1)), portDoc(1, N[0]!, [G(1)]));
    sync.applyPut(portKey(N[1]!, P(2)), portDoc(2, N[1]!, [G(2)]));
    const seen: ViewChange[] = [];
    sync.on('change', (c: ViewChange) => seen.push(c));
    sync.applyPut(sgKey(G(1)), groupDoc(1, [rule(10, { remoteGroupId: G(2) })]));
    sync.applyPut(sgKey(G(2)), groupDoc(2, []));
    sync.applyPut(sgMemberKey(G(2), P(2)), memberDoc(2, N[1]!)); // G1 (in N0) names G2
    sync.applyPut(sgMemberKey(G(4), P(2)), memberDoc(2, N[1]!)); // nobody names G4
    sync.applyDelete(sgKey(G(2)));
    expect(seen.map((c) => [...c.networks])).toEqual([[N[0]], [N[1]], [N[0]], [N[1]]]);
  });
});

describe('security groups: incremental == full recompute', () => {
  it('after port, group, rule and member changes, in two networks sharing groups', () => {
    const { view, sync } = make(false);
    const tables = new PipelineTables(loadPipeline());
    const fm = new FlowManager(new FakeSwitch());
    const computer = new FlowComputer(tables, APPS, view, fm);
    // As the agent does: a group or member change recomputes only the apps that read groups.
    const scopes: boolean[] = [];
    sync.on('change', (c: ViewChange) => {
      scopes.push(c.securityGroupsOnly === true);
      if (c.all) computer.markAllDirty();
      else c.networks.forEach((n) => computer.markDirty(n, c.securityGroupsOnly));
    });
    computer.markAllDirty();
    const check = (step: string) => {
      computer.flush();
      const r = computer.compare();
      expect(r, step).toMatchObject({ equal: true });
    };
    for (const n of [1, 2, 3, 4]) view.plugVif({ ifaceName: `t${n}`, ofport: n, ifaceId: `vm${n}` });
    sync.applyPut(portKey(N[0]!, P(1)), portDoc(1, N[0]!, [G(1)]));
    sync.applyPut(portKey(N[0]!, P(2)), portDoc(2, N[0]!, [G(2)]));
    sync.applyPut(portKey(N[1]!, P(3)), portDoc(3, N[1]!, [G(1)]));
    check('ports before their groups');
    sync.applyPut(sgKey(G(2)), groupDoc(2, [rule(20, { direction: 'egress', protocol: 'any' })]));
    sync.applyPut(
      sgKey(G(1)),
      groupDoc(1, [
        rule(10, { portMin: 8000, portMax: 8099, remoteGroupId: G(2) }),
        rule(11, { portMin: 22, portMax: 22, remoteGroupId: G(2) }),
      ]),
    );
    check('groups');
    sync.applyPut(sgMemberKey(G(2), P(2)), memberDoc(2, N[0]!));
    sync.applyPut(sgMemberKey(G(2), P(4)), memberDoc(4, N[1]!));
    check('members');
    expect(computer.compare().equal).toBe(true);
    // The address clause of member 2 is one flow carrying both rules' conjunctions, declared by both networks.
    sync.applyPut(sgKey(G(1)), groupDoc(1, [rule(10, { portMin: 8000, portMax: 8099, remoteGroupId: G(2) })]));
    check('a rule removed');
    sync.applyDelete(sgMemberKey(G(2), P(2)));
    check('a member removed');
    sync.applyPut(portKey(N[1]!, P(3)), portDoc(3, N[1]!, []));
    check('a port leaves its group');
    sync.applyDelete(sgKey(G(1)));
    check('a group deleted');
    expect(scopes.filter(Boolean).length).toBeGreaterThanOrEqual(6); // group and member changes were scoped

    // A scoped change leaves every other app's owners as they were: a rule added to G2 sets only acl owners.
    const set = vi.spyOn(fm, 'set');
    sync.applyPut(sgKey(G(2)), groupDoc(2, [rule(20, { direction: 'egress', protocol: 'any' }), rule(21, { protocol: 'udp' })]));
    check('a rule added');
    expect(new Set(set.mock.calls.map(([owner]) => owner.split('/')[0]))).toEqual(new Set(['pipeline', 'acl']));
  });
});

describe('security groups: a protected port is ready once its groups are read', () => {
  it('groupsLoaded: unprotected ports at once; protected ones when every group is in the view', () => {
    const { view, sync } = make(false);
    sync.applyPut(portKey(N[0]!, P(1)), portDoc(1, N[0]!, [G(1), G(2)]));
    sync.applyPut(portKey(N[0]!, P(2)), portDoc(2, N[0]!, []));
    const port = (n: number) => view.networks.get(N[0]!)!.ports.get(P(n))!.port;
    expect(groupsLoaded(view, port(2))).toBe(true);
    expect(groupsLoaded(view, port(1))).toBe(false);
    sync.applyPut(sgKey(G(1)), groupDoc(1, []));
    expect(groupsLoaded(view, port(1))).toBe(false);
    sync.applyPut(sgKey(G(2)), groupDoc(2, []));
    expect(groupsLoaded(view, port(1))).toBe(true);
    expect(groupsLoaded(view, { ...port(1), portSecurity: false, securityGroups: [G(9)] })).toBe(true);
  });
});

describe('security groups: recompute cost', () => {
  it("a port's conntrack flows and the state flows are the same objects on every recompute; rule flows are rebuilt", () => {
    const { view, sync } = make(false);
    sync.applyPut(portKey(N[0]!, P(1)), portDoc(1, N[0]!, [G(1)]));
    sync.applyPut(sgKey(G(1)), groupDoc(1, [rule(10, { portMin: 80, portMax: 80 })]));
    view.plugVif({ ifaceName: 't1', ofport: 1, ifaceId: 'vm1' });
    const tables = new PipelineTables(loadPipeline()).forApp('acl');
    const acl = APPS.find((a) => a.name === 'acl')!;
    const net = view.networks.get(N[0]!)!;
    const first = acl.networkFlows!(tables, view, net);
    sync.applyPut(sgKey(G(1)), groupDoc(1, [rule(10, { portMin: 80, portMax: 80 }), rule(11, { portMin: 443, portMax: 443 })]));
    const second = acl.networkFlows!(tables, view, net);
    const ct = (fs: typeof first) => fs.filter((f) => f.table === 'acl_ingress_ct' || f.table === 'acl_egress_action');
    expect(ct(first).length).toBeGreaterThan(0);
    expect(ct(second).every((f, i) => f === ct(first)[i])).toBe(true);
    expect(second.length).toBeGreaterThan(first.length); // the new rule's flow
  });
});
