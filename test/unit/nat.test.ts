/**
 * North-south NAT (issue 14) through the fake switch: distributed floating IPs on the port's chassis, SNAT on the
 * active gateway chassis (tunnelled there from the others), ARP for NAT addresses only from the physnet and only
 * where they are active, next-hop MAC learning, gratuitous ARPs, zones apart from security groups.
 */
import { describe, expect, it } from 'vitest';
import { FlowComputer } from '../../src/agent/compute.js';
import { APPS } from '../../src/apps/index.js';
import { ANNOUNCE_INTERVAL_MS, Neighbours } from '../../src/apps/nat/index.js';
import type { PacketIn } from '../../src/apps/platform.js';
import { FlowManager } from '../../src/flows/manager.js';
import { buildArpReply, parseFrame } from '../../src/packet/index.js';
import { loadPipeline } from '../../src/pipeline/pipeline.js';
import { PipelineTables, type DesiredFlow } from '../../src/pipeline/tables.js';
import type { TopologyView } from '../../src/view/topology-view.js';
import { FakeOFTable, type PacketSpec } from '../helpers/fake-of-table.js';
import { FakeSwitch } from '../helpers/fake-switch.js';
import { FIP, GW, HV2_IP, IDS, IFACE_MAC, MAC, natView, OUTSIDE_ROUTER, PATCH, TUNNEL } from '../helpers/nat-topology.js';

const tables = new PipelineTables(loadPipeline());
const natTables = tables.forApp('nat');
const OUTSIDE = '198.51.100.7';
const opcodeOf = (name: string) => Buffer.from([0, tables.opcode(name).id]);

function flowsOf(view: TopologyView): DesiredFlow[] {
  return new FlowComputer(tables, APPS, view, new FlowManager(new FakeSwitch())).fullRecompute();
}

/** The switch of a view, and next hops learned (as the agent would, from ARP replies). */
function switchOf(view: TopologyView, opts: { vlan?: number; learn?: boolean } = {}): FakeOFTable {
  const extra: DesiredFlow[] = [];
  if (opts.learn !== false) {
    const n = new Neighbours(view, natTables, () => 0);
    const reply = n.binding(pinOf(arpReplyFrom(OUTSIDE_ROUTER, opts.vlan === undefined ? GW : GW), 'nat_mac_binding'));
    extra.push(...(reply?.transient?.flows ?? []));
  }
  return new FakeOFTable([...flowsOf(view), ...extra]);
}

function arpReplyFrom(from: { ip: string; mac: string }, to: { ip: string; mac: string }): Buffer {
  return buildArpReply({ srcMac: from.mac, srcIp: from.ip, dstMac: to.mac, dstIp: to.ip });
}

function pinOf(frame: Buffer, opcode: string, networkKey = 100n): PacketIn {
  return { opcode, table: 'nat_nexthop', inPort: PATCH, networkKey, frame: parseFrame(frame), cookie: 0n };
}

const ip = (src: string, dst: string, more: PacketSpec = {}): PacketSpec => ({
  eth_type: 0x0800,
  ip_proto: 1,
  icmp_type: 8,
  ipv4_src: src,
  ipv4_dst: dst,
  ip_ttl: 64,
  ...more,
});
/** From local vm n to the router, for `dst`. */
const fromVm = (n: number, dst: string): PacketSpec => ({
  in_port: n,
  eth_src: MAC(n),
  eth_dst: IFACE_MAC,
  ...ip(`10.1.0.${10 + n}`, dst),
});
/** From the outside (the physnet) to `dst`, via the MAC answering for it. */
const fromOutside = (dstMac: string, dst: string, src = OUTSIDE, more: PacketSpec = {}): PacketSpec => ({
  in_port: PATCH,
  eth_src: OUTSIDE_ROUTER.mac,
  eth_dst: dstMac,
  ...ip(src, dst, { icmp_type: 0, ...more }),
});
const arpRequest = (tpa: string, inPort = PATCH): PacketSpec => ({
  in_port: inPort,
  eth_src: OUTSIDE_ROUTER.mac,
  eth_dst: 'ff:ff:ff:ff:ff:ff',
  eth_type: 0x0806,
  arp_op: 1,
  arp_sha: OUTSIDE_ROUTER.mac,
  arp_spa: OUTSIDE_ROUTER.ip,
  arp_tpa: tpa,
});

describe('floating IPs (distributed, on the port chassis)', () => {
  it('vm1 -> outside leaves on the physnet with the FIP as source and MAC, to the learned next hop, never on a tunnel', () => {
    for (const active of ['hv1', 'hv2', undefined]) {
      const sw = switchOf(natView({ ...(active ? { active } : {}) }));
      const out = sw.outputs(fromVm(1, OUTSIDE));
      expect(
        out.map((o) => o.port),
        `active ${active}`,
      ).toEqual([PATCH]);
      expect(out[0]!.packet).toMatchObject({
        ipv4_src: FIP.ip,
        ipv4_dst: OUTSIDE,
        eth_src: FIP.mac,
        eth_dst: OUTSIDE_ROUTER.mac,
        ip_ttl: 63,
      });
    }
  });

  it('outside -> FIP reaches vm1 (un-DNATed, routed: router MAC as source), and its reply leaves with the FIP as source', () => {
    const sw = switchOf(natView({ active: 'hv2' }));
    const inbound = sw.outputs(fromOutside(FIP.mac, FIP.ip, OUTSIDE, { icmp_type: 8 }));
    expect(inbound.map((o) => o.port)).toEqual([1]);
    expect(inbound[0]!.packet).toMatchObject({
      ipv4_dst: '10.1.0.11',
      ipv4_src: OUTSIDE,
      eth_dst: MAC(1),
      eth_src: IFACE_MAC,
      metadata: 1,
    });
    const reply = sw.outputs({ ...fromVm(1, OUTSIDE), icmp_type: 0 });
    expect(reply.map((o) => o.port)).toEqual([PATCH]);
    expect(reply[0]!.packet).toMatchObject({ ipv4_src: FIP.ip, ipv4_dst: OUTSIDE });
  });

  it('ARP for the FIP is answered from the physnet only, on the port chassis only', () => {
    const sw = switchOf(natView({ active: 'hv2' }));
    const answer = sw.outputs(arpRequest(FIP.ip));
    expect(answer).toEqual([
      {
        port: PATCH,
        packet: expect.objectContaining({ arp_op: 2, arp_sha: FIP.mac, arp_spa: FIP.ip, eth_src: FIP.mac, eth_dst: OUTSIDE_ROUTER.mac }),
      },
    ]);
    // vm1 moved away (its VIF gone from hv1): no answer here, no FIP flows.
    const view = natView({ active: 'hv2' });
    view.unplugVif('vm1');
    const moved = switchOf(view);
    expect(moved.outputs(arpRequest(FIP.ip)).filter((o) => o.packet.arp_op === 2)).toEqual([]);
    expect(moved.outputs(fromOutside(FIP.mac, FIP.ip)).map((o) => o.port)).toEqual([]);
  });

  it('on a VLAN provider network the FIP traffic and ARP answers leave tagged', () => {
    const sw = switchOf(natView({ vlan: 42 }), { vlan: 42 });
    const out = sw.outputs(fromVm(1, OUTSIDE));
    expect(out.map((o) => o.port)).toEqual([PATCH]);
    expect(out[0]!.packet).toMatchObject({ vlan_vid: 42 | 0x1000, ipv4_src: FIP.ip });
    const answer = sw.outputs({ ...arpRequest(FIP.ip), vlan_vid: 42 | 0x1000 });
    expect(answer[0]!.packet).toMatchObject({ arp_op: 2, vlan_vid: 42 | 0x1000 });
  });
});

describe('SNAT through the active gateway chassis', () => {
  it('active here: vm3 -> outside is SNATed to the gateway IP on the physnet; the reply is un-SNATed back to vm3', () => {
    const sw = switchOf(natView({ active: 'hv1' }));
    const out = sw.outputs(fromVm(3, OUTSIDE));
    expect(out.map((o) => o.port)).toEqual([PATCH]);
    expect(out[0]!.packet).toMatchObject({ ipv4_src: GW.ip, eth_src: GW.mac, eth_dst: OUTSIDE_ROUTER.mac });
    const back = sw.outputs(fromOutside(GW.mac, GW.ip));
    expect(back.map((o) => o.port)).toEqual([3]);
    expect(back[0]!.packet).toMatchObject({ ipv4_dst: '10.1.0.13', eth_dst: MAC(3), eth_src: IFACE_MAC });
    // Unsolicited traffic to the gateway IP opens nothing.
    expect(sw.outputs(fromOutside(GW.mac, GW.ip, '198.51.100.99'))).toEqual([]);
  });

  it('active here: what hv2 tunnels for SNAT goes out SNATed; the reply goes back to hv2 by tunnel in the VM network', () => {
    const sw = switchOf(natView({ active: 'hv1' }));
    const tunnelled: PacketSpec = {
      in_port: TUNNEL,
      tun_id: 1,
      eth_src: IFACE_MAC,
      eth_dst: GW.mac,
      ...ip('10.1.0.12', OUTSIDE, { ip_ttl: 63 }),
    };
    const out = sw.outputs(tunnelled);
    expect(out.map((o) => o.port)).toEqual([PATCH]);
    expect(out[0]!.packet).toMatchObject({ ipv4_src: GW.ip, eth_src: GW.mac });
    const back = sw.outputs(fromOutside(GW.mac, GW.ip));
    expect(back.map((o) => o.port)).toEqual([TUNNEL]);
    expect(back[0]!.packet).toMatchObject({ ipv4_dst: '10.1.0.12', eth_dst: MAC(2), tun_id: 1, tun_ipv4_dst: HV2_IP });
  });

  it('active elsewhere: vm3 -> outside goes to the active chassis by tunnel (its network key, gateway MAC), never to the physnet', () => {
    const sw = switchOf(natView({ active: 'hv2' }));
    const out = sw.outputs(fromVm(3, OUTSIDE));
    expect(out.map((o) => o.port)).toEqual([TUNNEL]);
    expect(out[0]!.packet).toMatchObject({ tun_id: 1, tun_ipv4_dst: HV2_IP, eth_dst: GW.mac, ipv4_src: '10.1.0.13', ip_ttl: 63 });
    // Nobody active: dropped.
    expect(switchOf(natView({})).outputs(fromVm(3, OUTSIDE))).toEqual([]);
  });

  it('over a star network (issue 16): SNAT goes to the center, which relays it to the active chassis, tunnel to tunnel', () => {
    // hv1 a spoke of n1 whose center is hv3; hv2 the active gateway chassis.
    const star = (me: 'hv1' | 'hv3') => {
      const v = natView({ active: 'hv2' });
      v.chassis.set('hv3', { name: 'hv3', tunnelIp: '172.31.0.3', encaps: ['vxlan'], version: 't' });
      v.chassis.set('hv4', { name: 'hv4', tunnelIp: '172.31.0.4', encaps: ['vxlan'], version: 't' });
      const n1 = v.networks.get(IDS.n1)!;
      // Another spoke, hv4: a flood from the center would reach it too; the relay goes to hv2 only.
      const vm2 = n1.ports.get('50000000-0000-4000-8000-000000000002')!;
      const vm4 = { ...vm2.port, id: 'p4', name: 'vm4', mac: MAC(4), portKey: 14, fixedIps: [{ subnetId: IDS.n1s, ip: '10.1.0.14' }] };
      n1.ports.set('p4', { port: vm4, binding: { chassis: 'hv4', updatedAt: '' } });
      n1.network = { ...n1.network, topology: 'star' };
      v.centers.set(IDS.n1, { networkId: IDS.n1, chassis: 'hv3', since: '' });
      if (me === 'hv1') return v;
      // The same topology seen from the center hv3 (vm1 and vm3 are hv1's: no local VIF here).
      const c = Object.assign(Object.create(Object.getPrototypeOf(v)), v, { chassisName: 'hv3' }) as TopologyView;
      c.vifs.clear();
      return c;
    };
    const out = switchOf(star('hv1')).outputs(fromVm(3, OUTSIDE));
    expect(out.map((o) => [o.port, o.packet.tun_ipv4_dst])).toEqual([[TUNNEL, '172.31.0.3']]);
    expect(out[0]!.packet).toMatchObject({ eth_dst: GW.mac, tun_id: 1 });
    const relayed = switchOf(star('hv3')).outputs({
      in_port: TUNNEL,
      tun_id: 1,
      tun_ipv4_src: '172.31.0.1',
      eth_src: IFACE_MAC,
      eth_dst: GW.mac,
      ...ip('10.1.0.13', OUTSIDE, { ip_ttl: 63 }),
    });
    expect(relayed.map((o) => [o.port, o.packet.tun_ipv4_dst])).toEqual([[TUNNEL, HV2_IP]]);
  });

  it('ARP for the gateway IP is answered only on the active chassis and only from the physnet', () => {
    const answered = (view: TopologyView, spec: PacketSpec) =>
      switchOf(view)
        .outputs(spec)
        .filter((o) => o.packet.arp_op === 2);
    expect(answered(natView({ active: 'hv1' }), arpRequest(GW.ip))).toHaveLength(1);
    expect(answered(natView({ active: 'hv1' }), arpRequest(GW.ip))[0]!.packet).toMatchObject({ arp_sha: GW.mac, arp_spa: GW.ip });
    expect(answered(natView({ active: 'hv2' }), arpRequest(GW.ip))).toEqual([]);
  });

  it('inside the router subnets nothing is NATed: an unknown host goes to the agent (l3), a known one is routed', () => {
    const sw = switchOf(natView({ active: 'hv1' }));
    const unknown = sw.outputs(fromVm(3, '10.1.0.99'));
    expect(unknown.map((o) => [o.port, o.userdata])).toEqual([['controller', Buffer.from([0, tables.opcode('l3_route_miss').id])]]);
  });
});

describe('next hops, announcements, zones', () => {
  it('an unknown next hop: the packet goes to the agent, which holds it, ARPs from the NAT address (rate-limited), and sends it once learned', () => {
    const view = natView({ active: 'hv1' });
    const sw = switchOf(view, { learn: false });
    const out = sw.outputs(fromVm(3, OUTSIDE));
    expect(out.map((o) => [o.port, o.userdata])).toEqual([['controller', opcodeOf('nat_nexthop_miss')]]);
    let t = 0;
    const n = new Neighbours(view, natTables, () => t);
    const frame = Buffer.from(
      // An ICMP packet as the miss delivers it: NAT source and MAC set, destination outside the provider subnet.
      '0b0000000001' +
        '02ee00000010'.padStart(12, '0') +
        '0800' +
        '4500001c000000004001' +
        '0000' +
        'cb00710a' +
        'c6336407' +
        '0800f7ff00000000',
      'hex',
    );
    const ask = n.miss(pinOf(frame, 'nat_nexthop_miss'));
    expect(ask?.messages).toHaveLength(1);
    const po = ask!.messages[0]! as { type: string; data: Buffer; actions: unknown[] };
    expect(po.actions).toEqual([{ type: 'output', port: PATCH }]);
    const arp = parseFrame(po.data).arp!;
    expect(arp).toMatchObject({ op: 1, senderIp: GW.ip, senderMac: GW.mac, targetIp: OUTSIDE_ROUTER.ip });
    expect(n.miss(pinOf(frame, 'nat_nexthop_miss'))).toBeUndefined();
    t += 1000;
    expect(n.miss(pinOf(frame, 'nat_nexthop_miss'))?.messages).toHaveLength(1);
    // The three packets were held: the reply's flows come with them, sent to the learned MAC out the patch port.
    const learned = n.binding(pinOf(arpReplyFrom(OUTSIDE_ROUTER, GW), 'nat_mac_binding'));
    expect(learned?.transient?.flows.length).toBe(2);
    expect(learned?.messages).toHaveLength(3);
    const held = learned!.messages[0] as { actions: unknown[]; data: Buffer };
    expect(held.actions).toEqual([
      { type: 'set_field', field: 'eth_dst', value: OUTSIDE_ROUTER.mac },
      { type: 'output', port: PATCH },
    ]);
    expect(parseFrame(held.data).ipv4).toMatchObject({ src: GW.ip, dst: '198.51.100.7' });
    expect(n.counters).toMatchObject({ heldSent: 3, heldDropped: 0 });
    // Held packets too old by the time the reply comes are dropped, and at most 8 are held per next hop.
    for (let i = 0; i < 10; i++) n.miss(pinOf(frame, 'nat_nexthop_miss'));
    t += 5000;
    expect(n.binding(pinOf(arpReplyFrom(OUTSIDE_ROUTER, GW), 'nat_mac_binding'))?.messages).toEqual([]);
    expect(n.counters).toMatchObject({ heldSent: 3, heldDropped: 10 });
  });

  it('each announcement is repeated once, ANNOUNCE_INTERVAL_MS later, while the address is still active here (RFC 5227)', () => {
    const view = natView({ active: 'hv2' });
    let t = 1000;
    const n = new Neighbours(view, natTables, () => t);
    const garps = () =>
      n
        .announce()
        .map((m) => parseFrame((m as { data: Buffer }).data).arp!)
        .filter((a) => a.targetIp === a.senderIp)
        .map((a) => a.senderIp);
    expect(garps()).toEqual([FIP.ip]);
    expect(n.announceDueIn()).toBe(ANNOUNCE_INTERVAL_MS);
    t += ANNOUNCE_INTERVAL_MS - 1;
    expect(garps()).toEqual([]);
    expect(n.announceDueIn()).toBe(1);
    t += 1;
    // The gratuitous ARP again, without a second request for the next hop.
    expect(n.announce()).toHaveLength(1);
    expect(n.announceDueIn()).toBeUndefined();
    t += 10 * ANNOUNCE_INTERVAL_MS;
    expect(garps()).toEqual([]);
    // Taken over here, then gone elsewhere before its repeat: not announced again from here.
    view.gateways.set(IDS.r1, { routerId: IDS.r1, chassis: 'hv1', since: '' });
    expect(garps()).toEqual([GW.ip]);
    view.gateways.set(IDS.r1, { routerId: IDS.r1, chassis: 'hv3', since: '' });
    t += ANNOUNCE_INTERVAL_MS;
    expect(garps()).toEqual([]);
    expect(n.announceDueIn()).toBeUndefined();
    expect(n.counters.garps).toBe(3);
  });

  it('gratuitous ARPs: for the gateway IP on takeover and for a FIP whose port arrives, once per activation', () => {
    const view = natView({ active: 'hv2' });
    const n = new Neighbours(view, natTables, () => 0);
    const sent: ReturnType<typeof parseFrame>['arp'][] = [];
    const garps = () => {
      const arps = n.announce().map((m) => parseFrame((m as { data: Buffer }).data).arp!);
      sent.push(...arps.filter((a) => a.targetIp !== a.senderIp));
      return arps.filter((a) => a.targetIp === a.senderIp);
    };
    expect(garps()).toEqual([expect.objectContaining({ op: 1, senderIp: FIP.ip, targetIp: FIP.ip, senderMac: FIP.mac })]);
    expect(garps()).toEqual([]);
    view.gateways.set(IDS.r1, { routerId: IDS.r1, chassis: 'hv1', since: '' });
    expect(garps()).toEqual([expect.objectContaining({ senderIp: GW.ip, targetIp: GW.ip, senderMac: GW.mac })]);
    view.unplugVif('vm1');
    expect(garps()).toEqual([]);
    view.plugVif({ ifaceName: 'tap1', ofport: 1, ifaceId: 'vm1' });
    expect(garps()).toEqual([expect.objectContaining({ senderIp: FIP.ip })]);
    // Each announcement asks for the default next hop at once (learned before traffic needs it).
    expect(sent.map((a) => [a!.senderIp, a!.targetIp])).toEqual([
      [FIP.ip, OUTSIDE_ROUTER.ip],
      [GW.ip, OUTSIDE_ROUTER.ip],
      [FIP.ip, OUTSIDE_ROUTER.ip],
    ]);
  });

  it('zones: NAT in 0x8000 + router key, security groups in their ofport; an ofport beyond 0x7fff is refused and dropped', () => {
    const flows = flowsOf(natView({ active: 'hv1' }));
    const zones = new Set<number>();
    for (const f of flows)
      for (const ins of f.instructions)
        if (ins.type === 'apply_actions') for (const a of ins.actions) if (a.type === 'ct' && a.zoneSrc === undefined) zones.add(a.zone);
    expect([...zones]).toEqual([0x8000 + 7]);
    const acl = tables.forApp('acl');
    expect(acl.ctZone('port_acl', 0x7fff)).toBe(0x7fff);
    expect(() => acl.ctZone('port_acl', 0x8000)).toThrow(/outside 0..32767/);
    expect(() => acl.ctZone('router_nat', 1)).toThrow(/may not use/);
    expect(natTables.ctZone('router_nat', 7)).toBe(0x8007);
    expect(() => natTables.ctZone('router_nat', 0x8000)).toThrow(/outside/);
  });

  it('every flow passes the guards, and the incremental computation equals a full recompute', () => {
    const view = natView({ active: 'hv1' });
    const manager = new FlowManager(new FakeSwitch());
    const computer = new FlowComputer(tables, APPS, view, manager);
    computer.markAllDirty();
    computer.flush();
    for (const f of computer.fullRecompute()) expect(() => tables.check(f), `${f.table} ${f.priority}`).not.toThrow();
    view.gateways.set(IDS.r1, { routerId: IDS.r1, chassis: 'hv2', since: '' });
    computer.markDirty(IDS.n1);
    computer.markDirty(IDS.ext);
    computer.flush();
    expect(computer.compare().equal).toBe(true);
  });
});
