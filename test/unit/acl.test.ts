/**
 * The firewall's flows run through the fake switch (with its conntrack model): what passes and what does not,
 * for tcp/udp/icmp/other protocols, port ranges, remote CIDRs and groups, the default egress rule, replies,
 * unprotected ports; conjunction clauses merged across rules and networks; the flow count linear in rules + members.
 */
import { describe, expect, it } from 'vitest';
import { APPS } from '../../src/apps/index.js';
import { FlowComputer } from '../../src/agent/compute.js';
import { FlowManager } from '../../src/flows/manager.js';
import type { Port, SecurityGroup, SgRule } from '../../src/model/types.js';
import { loadPipeline } from '../../src/pipeline/pipeline.js';
import { PipelineTables, type DesiredFlow } from '../../src/pipeline/tables.js';
import { TopologyView, type NetworkState } from '../../src/view/topology-view.js';
import { FakeOFTable, type PacketSpec } from '../helpers/fake-of-table.js';
import { FakeSwitch } from '../helpers/fake-switch.js';

const tables = new PipelineTables(loadPipeline());
const TUNNEL = 10;
const MAC = (n: number) => `02:00:00:00:00:${n.toString(16).padStart(2, '0')}`;
const IP = (n: number) => `10.1.0.${n}`;

let ruleKeys = 100;
const rule = (r: Omit<SgRule, 'id' | 'ruleKey'>): SgRule => ({ id: `r${ruleKeys}`, ruleKey: ruleKeys++, ...r });
const group = (id: string, groupKey: number, rules: SgRule[]): SecurityGroup => ({ id, name: id, description: '', groupKey, rules });
const egressAll = () => rule({ direction: 'egress', protocol: 'any' });

function port(n: number, netId: string, groups: string[], portSecurity = true): Port {
  return {
    id: `p${n}`,
    name: `vm${n}`,
    networkId: netId,
    mac: MAC(n),
    fixedIps: [{ subnetId: `${netId}s`, ip: netId === 'n1' ? IP(n) : `10.2.0.${n}` }],
    portSecurity,
    allowedAddressPairs: [],
    securityGroups: groups,
    portKey: n,
  };
}

function network(id: string, key: number, ports: Port[]): NetworkState {
  return {
    network: { id, name: id, tunnelKey: key, mtu: 1450 },
    subnets: new Map(),
    ports: new Map(ports.map((p) => [p.id, { port: p, binding: { chassis: p.portKey === 2 ? 'hv2' : 'hv1', updatedAt: '' } }])),
  };
}

/**
 * hv1's view. n1: web (1, local, group web), client2 (2, on hv2, clients), client3 (3, local, clients), open (4,
 * local, group web but no port security), other (6, local, group others). n2: web5 (5, local, web).
 */
function makeView(webRules: SgRule[]): TopologyView {
  const v = new TopologyView('hv1', 'vxlan');
  v.tunnelOfport = TUNNEL;
  v.chassis.set('hv1', { name: 'hv1', tunnelIp: '172.31.0.1', encaps: ['vxlan'], version: 't' });
  v.chassis.set('hv2', { name: 'hv2', tunnelIp: '172.31.0.2', encaps: ['vxlan'], version: 't' });
  v.networks.set(
    'n1',
    network('n1', 1, [
      port(1, 'n1', ['web']),
      port(2, 'n1', ['clients']),
      port(3, 'n1', ['clients']),
      port(4, 'n1', ['web'], false),
      port(6, 'n1', ['others']),
    ]),
  );
  v.networks.set('n2', network('n2', 2, [port(5, 'n2', ['web'])]));
  for (const n of [1, 3, 4, 5, 6]) v.plugVif({ ifaceName: `tap${n}`, ofport: n, ifaceId: `vm${n}` });
  v.securityGroups.set('web', group('web', 1, webRules));
  v.securityGroups.set('clients', group('clients', 2, [egressAll()]));
  v.securityGroups.set(
    'others',
    group('others', 3, [rule({ direction: 'egress', protocol: 'tcp', portMin: 443, portMax: 443, remoteCidr: '10.1.0.0/24' })]),
  );
  v.sgMembers.set(
    'clients',
    new Map([
      ['p2', { portId: 'p2', networkId: 'n1', addresses: [IP(2)] }],
      ['p3', { portId: 'p3', networkId: 'n1', addresses: [IP(3)] }],
    ]),
  );
  return v;
}

const WEB_RULES = () => [
  egressAll(),
  rule({ direction: 'ingress', protocol: 'tcp', portMin: 8000, portMax: 8099, remoteGroupId: 'clients' }),
  rule({ direction: 'ingress', protocol: 'tcp', portMin: 22, portMax: 22, remoteGroupId: 'clients' }),
  rule({ direction: 'ingress', protocol: 'udp', portMin: 53, portMax: 53 }),
  rule({ direction: 'ingress', protocol: 'icmp', icmpType: 8, remoteCidr: '10.1.0.0/24' }),
  rule({ direction: 'ingress', protocol: 47 }),
];

const computerOf = (view: TopologyView) => new FlowComputer(tables, APPS, view, new FlowManager(new FakeSwitch()));
const switchOf = (view: TopologyView) => new FakeOFTable(computerOf(view).fullRecompute());

/** An IPv4 packet from local VM `from` (its ofport) to VM `to` in n1. */
function ip(from: number, to: number, l4: PacketSpec): PacketSpec {
  return { in_port: from, eth_src: MAC(from), eth_dst: MAC(to), eth_type: 0x0800, ipv4_src: IP(from), ipv4_dst: IP(to), ...l4 };
}
const tcp = (dport: number, sport = 40000): PacketSpec => ({ ip_proto: 6, tcp_src: sport, tcp_dst: dport });
const udp = (dport: number, sport = 40000): PacketSpec => ({ ip_proto: 17, udp_src: sport, udp_dst: dport });
const icmp = (type: number): PacketSpec => ({ ip_proto: 1, icmp_type: type, icmp_code: 0 });
/** The same packet arriving from hv2 over the tunnel (the sender's egress ACL ran there). */
const viaTunnel = (p: PacketSpec): PacketSpec => ({ ...p, in_port: TUNNEL, tun_id: 1 });

describe('acl: what passes', () => {
  const sw = switchOf(makeView(WEB_RULES()));
  const delivered = (p: PacketSpec, port: number) => sw.ports(p).includes(port);

  it('tcp: a member of the remote group reaches the port range (from this host and over the tunnel), nothing else', () => {
    for (const d of [8000, 8050, 8099, 22]) expect(delivered(ip(3, 1, tcp(d)), 1)).toBe(true);
    for (const d of [7999, 8100, 23, 443]) expect(delivered(ip(3, 1, tcp(d)), 1)).toBe(false);
    expect(delivered(viaTunnel(ip(2, 1, tcp(8080))), 1)).toBe(true);
    expect(delivered(ip(6, 1, tcp(8080)), 1)).toBe(false); // not a member of clients
  });

  it('udp with no remote is a plain flow: anyone reaches port 53 and only it', () => {
    expect(delivered(ip(3, 1, udp(53)), 1)).toBe(true);
    expect(delivered(ip(6, 1, udp(53)), 1)).toBe(false); // other's egress allows only tcp 443
    expect(delivered(ip(3, 1, udp(54)), 1)).toBe(false);
  });

  it('icmp by type and remote CIDR; another IP protocol by number', () => {
    expect(delivered(ip(3, 1, icmp(8)), 1)).toBe(true);
    expect(delivered(ip(3, 1, icmp(13)), 1)).toBe(false);
    expect(delivered(viaTunnel({ ...ip(2, 1, icmp(8)), ipv4_src: '10.9.0.2' }), 1)).toBe(false); // outside the CIDR
    expect(delivered(ip(3, 1, { ip_proto: 47 }), 1)).toBe(true);
    expect(delivered(ip(3, 1, { ip_proto: 50 }), 1)).toBe(false);
  });

  it('egress rules: others may only send tcp 443 into 10.1.0.0/24; the default egress rule allows everything', () => {
    expect(delivered(ip(6, 4, tcp(443)), 4)).toBe(true);
    expect(delivered(ip(6, 4, tcp(80)), 4)).toBe(false);
    expect(delivered(ip(6, 4, udp(443)), 4)).toBe(false);
    expect(delivered(ip(3, 4, udp(9999)), 4)).toBe(true);
  });

  it('a port without port security is open (no ACL), whatever its groups', () => {
    expect(delivered(ip(3, 4, tcp(1)), 4)).toBe(true);
    expect(sw.trace(ip(3, 4, tcp(1))).path.map((h) => tables.nameOf(h.tableId))).not.toContain('acl_ingress');
  });

  it('ARP to and from protected ports passes; their other ethertypes (IPv6) are dropped', () => {
    const arp = { in_port: 3, eth_src: MAC(3), eth_dst: MAC(1), eth_type: 0x0806, arp_op: 2, arp_sha: MAC(3), arp_spa: IP(3) };
    expect(delivered(arp, 1)).toBe(true);
    expect(delivered({ in_port: 3, eth_src: MAC(3), eth_dst: MAC(4), eth_type: 0x86dd }, 4)).toBe(false);
    expect(delivered({ in_port: 4, eth_src: MAC(4), eth_dst: MAC(1), eth_type: 0x86dd }, 1)).toBe(false);
  });

  it('DHCP client traffic from a protected port is never filtered (others may only send tcp 443)', () => {
    const discover = {
      in_port: 6,
      eth_src: MAC(6),
      eth_dst: 'ff:ff:ff:ff:ff:ff',
      eth_type: 0x0800,
      ipv4_src: '0.0.0.0',
      ipv4_dst: '255.255.255.255',
      ...udp(67, 68),
    };
    const path = sw.trace(discover).path.map((h) => tables.nameOf(h.tableId));
    expect(path).toContain('acl_egress');
    expect(path).toContain('dhcp');
  });

  it('a flood copy to an unprotected port with an egress rate limit takes the ingress pipeline too, and is delivered', () => {
    const view = makeView(WEB_RULES());
    view.networks.get('n1')!.ports.get('p4')!.port.qos = { egressRateKbps: 1000 };
    const flows = computerOf(view).fullRecompute();
    const flood = flows.filter((f) => f.tableId === tables.id('l2_lookup') && f.priority === 10)[0]!;
    const actions = flood.instructions.flatMap((i) => (i.type === 'apply_actions' ? i.actions : []));
    expect(actions).toContainEqual({ type: 'set_field', field: 'reg7', value: 4 });
    expect(actions).not.toContainEqual({ type: 'output', port: 4 });
    const bc = { ...ip(3, 4, udp(9999)), eth_dst: 'ff:ff:ff:ff:ff:ff' };
    expect(new FakeOFTable(flows).ports(bc)).toContain(4);
  });

  it("a flood copy takes the receiver's ingress ACL: udp 53 broadcast reaches web and open, not other", () => {
    const bc = { ...ip(3, 1, udp(53)), eth_dst: 'ff:ff:ff:ff:ff:ff', ipv4_dst: '10.1.0.255' };
    const out = sw.ports(bc);
    expect(out).toContain(1);
    expect(out).toContain(4);
    expect(out).not.toContain(6);
    expect(out).toContain(TUNNEL);
  });
});

describe('acl: connections', () => {
  it('a reply returns to a port with no ingress rule; unsolicited traffic to it does not', () => {
    const sw = switchOf(makeView(WEB_RULES()));
    expect(sw.ports(ip(1, 3, tcp(40000, 8080)))).toEqual([]); // web -> client3 first: client3 admits nothing
    expect(sw.ports(ip(3, 1, tcp(8080)))).toEqual([1]); // client3 opens a connection to web
    expect(sw.ports(ip(1, 3, tcp(40000, 8080)))).toEqual([3]); // web's reply gets back
    expect(sw.ports(ip(3, 1, tcp(8080)))).toEqual([1]); // and the connection goes on
  });

  it('removing a rule cuts an established connection at its next packet, both ways; adding it back restores it', () => {
    const rules = WEB_RULES();
    const sw = switchOf(makeView(rules));
    expect(sw.ports(ip(3, 1, tcp(8080)))).toEqual([1]);
    expect(sw.ports(ip(1, 3, tcp(40000, 8080)))).toEqual([3]);

    const cut = switchOf(makeView(rules.filter((r) => !(r.protocol === 'tcp' && r.portMin === 8000))));
    for (const [k, c] of sw.conntrack.connections) cut.conntrack.connections.set(k, c);
    expect(cut.ports(ip(3, 1, tcp(8080)))).toEqual([]); // marked blocked and dropped
    expect(cut.ports(ip(1, 3, tcp(40000, 8080)))).toEqual([]); // the reply meets the blocked mark
    expect(cut.ports(ip(3, 1, tcp(22)))).toEqual([1]); // other connections are untouched

    const back = switchOf(makeView(rules));
    for (const [k, c] of cut.conntrack.connections) back.conntrack.connections.set(k, c);
    expect(back.ports(ip(3, 1, tcp(8080)))).toEqual([1]); // allowed again: unblocked
    expect(back.ports(ip(1, 3, tcp(40000, 8080)))).toEqual([3]);
  });
});

describe('acl: flows', () => {
  const aclFlows = (flows: DesiredFlow[], table: string) => flows.filter((f) => f.tableId === tables.id(table));
  const conjOf = (f: DesiredFlow) =>
    f.instructions.flatMap((i) => (i.type === 'apply_actions' ? i.actions : [])).filter((a) => a.type === 'conjunction');

  it('one address flow per member carries the one conjunction of its group, shared by every rule naming it, in every network', () => {
    const rules = WEB_RULES();
    const flows = computerOf(makeView(rules)).fullRecompute();
    const forClient3 = aclFlows(flows, 'acl_ingress').filter((f) => f.match.some((m) => m.field === 'ipv4_src' && m.value === IP(3)));
    expect(forClient3).toHaveLength(1);
    const conj = conjOf(forClient3[0]!);
    expect(conj).toHaveLength(1);
    const setId = conj[0]!.id;
    expect(conj[0]).toEqual({ type: 'conjunction', id: setId, clause: 2, nClauses: 2 });
    expect(setId).toBeGreaterThanOrEqual(0x8000_0000); // above every rule key
    // Both rules naming clients (a range of several masks and port 22) are clause-1 flows of that one conjunction,
    // for the web ports of both networks (1 in n1, 5 in n2).
    const portClauses = aclFlows(flows, 'acl_ingress').filter((f) => conjOf(f).some((c) => c.id === setId && c.clause === 1));
    expect([...new Set(portClauses.map((f) => f.match.find((m) => m.field === 'reg7')!.value))].sort()).toEqual([1, 5]);
    expect(portClauses.some((f) => f.match.some((m) => m.field === 'tcp_dst' && m.value === 22))).toBe(true);
    expect(aclFlows(flows, 'acl_ingress').filter((f) => f.match.some((m) => m.field === 'conj_id' && m.value === setId))).toHaveLength(1);
    // No plain and conjunctive flow share a priority.
    const plainPrios = new Set(
      aclFlows(flows, 'acl_ingress')
        .filter((f) => conjOf(f).length === 0 && !f.match.some((m) => m.field === 'conj_id'))
        .map((f) => f.priority),
    );
    for (const f of aclFlows(flows, 'acl_ingress')) if (conjOf(f).length > 0) expect(plainPrios.has(f.priority)).toBe(false);
  });

  it('the flow count grows with rules + members, not rules x members', () => {
    const count = (nRules: number, nMembers: number) => {
      const rules = [egressAll()];
      for (let i = 0; i < nRules; i++)
        rules.push(rule({ direction: 'ingress', protocol: 'tcp', portMin: 1000 + i, portMax: 1000 + i, remoteGroupId: 'clients' }));
      const view = makeView(rules);
      const members = new Map<string, { portId: string; networkId: string; addresses: string[] }>();
      for (let m = 0; m < nMembers; m++)
        members.set(`m${m}`, { portId: `m${m}`, networkId: 'n1', addresses: [`10.5.${m >> 8}.${m & 255}`] });
      view.sgMembers.set('clients', members);
      return aclFlows(computerOf(view).fullRecompute(), 'acl_ingress').length;
    };
    const base = count(10, 10);
    // 10 more members: 10 more address flows, whatever the number of rules.
    expect(count(10, 20) - base).toBe(10);
    expect(count(20, 20) - count(20, 10)).toBe(10);
    // 10 more rules: per rule one port clause per enforcing port (2), whatever the members.
    expect(count(20, 10) - base).toBe(20);
    expect(count(20, 50) - count(10, 50)).toBe(20);
  });

  it('a rule naming a group leaves every address flow of that group as it was (a rule add rewrites no member flow)', () => {
    const addressFlows = (nRules: number) => {
      const rules = [egressAll()];
      for (let i = 0; i < nRules; i++)
        rules.push(rule({ direction: 'ingress', protocol: 'tcp', portMin: 2000 + i, portMax: 2000 + i, remoteGroupId: 'clients' }));
      return aclFlows(computerOf(makeView(rules)).fullRecompute(), 'acl_ingress').filter((f) =>
        f.match.some((m) => m.field === 'ipv4_src'),
      );
    };
    const before = addressFlows(3);
    expect(before.length).toBeGreaterThan(0);
    expect(addressFlows(4)).toEqual(before);
  });

  it('a rule naming a group without members allows nothing and builds no flow', () => {
    const view = makeView([egressAll(), rule({ direction: 'ingress', protocol: 'tcp', remoteGroupId: 'nobody' })]);
    const sw = new FakeOFTable(computerOf(view).fullRecompute());
    expect(sw.ports(ip(3, 1, tcp(80)))).toEqual([]);
  });
});
