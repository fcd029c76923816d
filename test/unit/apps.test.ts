import { describe, expect, it } from 'vitest';
import { APPS } from '../../src/apps/index.js';
import { FlowComputer } from '../../src/agent/compute.js';
import { TopologyView, type NetworkState } from '../../src/view/topology-view.js';
import { FlowManager } from '../../src/flows/manager.js';
import type { Port, Router } from '../../src/model/types.js';
import { loadPipeline } from '../../src/pipeline/pipeline.js';
import { PipelineTables } from '../../src/pipeline/tables.js';
import { FakeOFTable, type PacketSpec } from '../helpers/fake-of-table.js';
import { FakeSwitch } from '../helpers/fake-switch.js';

const tables = new PipelineTables(loadPipeline());

function port(n: number, netId: string, subnetId: string): Port {
  const hex = n.toString(16).padStart(2, '0');
  return {
    id: `p${n}`,
    name: `vm${n}`,
    networkId: netId,
    mac: `02:00:00:00:00:${hex}`,
    fixedIps: [{ subnetId, ip: `10.${netId === 'n1' ? 1 : 2}.0.${n}` }],
    portSecurity: true,
    allowedAddressPairs: [],
    securityGroups: [],
    portKey: n,
  };
}

function network(id: string, key: number, ports: Port[]): NetworkState {
  return {
    network: { id, name: id, tunnelKey: key, mtu: 1450 },
    subnets: new Map([
      [
        `${id}s`,
        {
          id: `${id}s`,
          name: `${id}s`,
          networkId: id,
          cidr: `10.${key}.0.0/24`,
          gatewayIp: `10.${key}.0.1`,
          enableDhcp: true,
          dnsServers: [],
          hostRoutes: [],
          leaseTime: 3600,
          dhcpOptions: [],
        },
      ],
    ]),
    ports: new Map(ports.map((p) => [p.id, { port: p, binding: { chassis: p.portKey % 2 ? 'hv1' : 'hv2', updatedAt: '' } }])),
  };
}

function makeView(): TopologyView {
  const v = new TopologyView('hv1', 'vxlan');
  v.tunnelOfport = 10;
  v.chassis.set('hv1', { name: 'hv1', tunnelIp: '172.31.0.1', encaps: ['vxlan'], version: 't' });
  v.chassis.set('hv2', { name: 'hv2', tunnelIp: '172.31.0.2', encaps: ['vxlan'], version: 't' });
  v.networks.set('n1', network('n1', 1, [port(1, 'n1', 'n1s'), port(2, 'n1', 'n1s'), port(3, 'n1', 'n1s')]));
  v.networks.set('n2', network('n2', 2, [port(4, 'n2', 'n2s'), port(5, 'n2', 'n2s')]));
  // Odd ports are local (hv1), even ones remote on hv2.
  for (const n of [1, 3, 5]) v.plugVif({ ifaceName: `tap${n}`, ofport: n, ifaceId: `vm${n}` });
  const router: Router = {
    id: 'r1',
    name: 'r1',
    routerKey: 7,
    mac: '02:aa:00:00:00:01',
    mode: 'proactive',
    routes: [],
    interfaces: [
      { subnetId: 'n1s', networkId: 'n1', ip: '10.1.0.1', mac: '02:aa:00:00:01:01' },
      { subnetId: 'n2s', networkId: 'n2', ip: '10.2.0.1', mac: '02:aa:00:00:02:01' },
    ],
  };
  v.routers.set('r1', router);
  return v;
}

/** The desired flows of a view, as a switch packets can be run through. */
const switchOf = (view: TopologyView) =>
  new FakeOFTable(new FlowComputer(tables, APPS, view, new FlowManager(new FakeSwitch())).fullRecompute());

const MAC = (n: number) => `02:00:00:00:00:${n.toString(16).padStart(2, '0')}`;
const BCAST = 'ff:ff:ff:ff:ff:ff';
const TUNNEL = 10;
/** A packet from local VM n (its ofport is n) to `dst`. */
const fromVm = (n: number, dst: string, more: PacketSpec = {}): PacketSpec => ({ in_port: n, eth_src: MAC(n), eth_dst: dst, ...more });
/** A packet arriving from the tunnel with network key `key`. */
const fromTunnel = (key: number, dst: string, more: PacketSpec = {}): PacketSpec => ({
  in_port: TUNNEL,
  tun_id: key,
  eth_src: MAC(2),
  eth_dst: dst,
  ...more,
});

describe('proactive apps', () => {
  it('compute flows that pass the pipeline guards for every app', () => {
    const view = makeView();
    const computer = new FlowComputer(tables, APPS, view, new FlowManager(new FakeSwitch()));
    const flows = computer.fullRecompute();
    const byTable = new Map<string, number>();
    for (const f of flows) byTable.set(f.table, (byTable.get(f.table) ?? 0) + 1);
    for (const t of ['classifier', 'port_security', 'dhcp', 'arp_responder', 'l3_router', 'l2_lookup', 'egress'])
      expect(byTable.get(t)).toBeGreaterThan(0);
    // The flow manager's guard (set-field targets, priority bands, owners) accepts every flow apps compute,
    // static routes of every prefix length included.
    view.routers.get('r1')!.routes = [0, 8, 24, 32].map((len) => ({
      cidr: len === 0 ? '0.0.0.0/0' : `10.9.0.0/${len}`,
      nexthop: '10.2.0.5',
    }));
    for (const f of [...flows, ...computer.fullRecompute()]) expect(() => tables.check(f), `${f.table} ${f.priority}`).not.toThrow();
  });

  it('a packet from a local VIF is classified (network, source port) and delivered to a local port', () => {
    const sw = switchOf(makeView());
    // vm1 (ofport 1) to vm3 (local, ofport 3): network n1 (key 1) in metadata, source port 1, destination port 3.
    expect(sw.outputs(fromVm(1, MAC(3)))).toEqual([
      { port: 3, packet: expect.objectContaining({ in_port: 1, metadata: 1, reg6: 1, reg7: 3, eth_dst: MAC(3) }) },
    ]);
  });

  it('port security: a port may only send from its own MAC', () => {
    const sw = switchOf(makeView());
    expect(sw.outputs({ ...fromVm(1, MAC(3)), eth_src: '02:00:00:00:00:99' })).toEqual([]);
    expect(sw.outputs({ ...fromVm(1, BCAST), eth_src: MAC(3) })).toEqual([]);
  });

  it("a packet from vm1 to vm2's MAC leaves on the tunnel to hv2 with key 1", () => {
    const outs = switchOf(makeView()).outputs(fromVm(1, MAC(2)));
    expect(outs).toEqual([{ port: TUNNEL, packet: expect.objectContaining({ tun_id: 1, tun_ipv4_dst: '172.31.0.2', eth_dst: MAC(2) }) }]);
  });

  it('from the tunnel: delivered to the local port by network key and MAC, never tunnelled again, never across networks', () => {
    const sw = switchOf(makeView());
    expect(sw.ports(fromTunnel(1, MAC(1)))).toEqual([1]);
    expect(sw.outputs(fromTunnel(1, MAC(1)))[0]!.packet).toMatchObject({ metadata: 1, reg0: 1, reg7: 1 });
    expect(sw.ports(fromTunnel(1, MAC(2)))).toEqual([]); // vm2 is remote: no tunnel-to-tunnel
    expect(sw.ports(fromTunnel(1, BCAST))).toEqual([1, 3]); // flooded locally only
    expect(sw.ports(fromTunnel(2, MAC(1)))).toEqual([5]); // key 2 is n2: vm1's MAC is unknown there, flooded to n2's vm5 only
    expect(sw.ports(fromTunnel(9, BCAST))).toEqual([]); // unknown key
  });

  it('broadcast from a VM: every other local port of its network and each remote chassis once', () => {
    const sw = switchOf(makeView());
    const outs = sw.outputs(fromVm(1, BCAST));
    expect(sw.ports(fromVm(1, BCAST))).toEqual([3, TUNNEL]);
    expect(outs.find((o) => o.port === TUNNEL)!.packet).toMatchObject({ tun_id: 1, tun_ipv4_dst: '172.31.0.2' });
    // n2 floods on its own: vm5's broadcast reaches hv2 (vm4) with key 2, never n1's ports.
    expect(sw.outputs(fromVm(5, BCAST)).map((o) => [o.port, o.packet.tun_id])).toEqual([[TUNNEL, 2]]);
  });

  it('ARP for a known address is answered on the asking port, never sent on', () => {
    const ask = fromVm(1, BCAST, { eth_type: 0x0806, arp_op: 1, arp_sha: MAC(1), arp_spa: '10.1.0.1', arp_tpa: '10.1.0.2' });
    expect(switchOf(makeView()).outputs(ask)).toEqual([
      {
        port: 1,
        packet: expect.objectContaining({
          eth_dst: MAC(1),
          eth_src: MAC(2),
          arp_op: 2,
          arp_sha: MAC(2),
          arp_spa: '10.1.0.2',
          arp_tha: MAC(1),
          arp_tpa: '10.1.0.1',
        }),
      },
    ]);
    // The router's address on n2 is answered with the router interface's MAC.
    const gw = fromVm(5, BCAST, { eth_type: 0x0806, arp_op: 1, arp_sha: MAC(5), arp_spa: '10.2.0.5', arp_tpa: '10.2.0.1' });
    expect(switchOf(makeView()).outputs(gw)).toEqual([
      { port: 5, packet: expect.objectContaining({ eth_src: '02:aa:00:00:02:01', arp_spa: '10.2.0.1' }) },
    ]);
  });

  it('DHCP requests from a VM go to the agent only', () => {
    const discover = fromVm(1, BCAST, {
      eth_type: 0x0800,
      ip_proto: 17,
      ipv4_src: '0.0.0.0',
      ipv4_dst: '255.255.255.255',
      udp_src: 68,
      udp_dst: 67,
    });
    expect(switchOf(makeView()).ports(discover)).toEqual(['controller']);
  });

  it('the proactive router routes between its networks: MACs rewritten, TTL decremented, on into the other network', () => {
    const sw = switchOf(makeView());
    const ip = (dst: string, ttl = 64) =>
      fromVm(1, '02:aa:00:00:01:01', { eth_type: 0x0800, ip_proto: 1, ipv4_src: '10.1.0.1', ipv4_dst: dst, ip_ttl: ttl });
    // To vm5 on this hypervisor.
    expect(sw.outputs(ip('10.2.0.5'))).toEqual([
      { port: 5, packet: expect.objectContaining({ eth_src: '02:aa:00:00:02:01', eth_dst: MAC(5), ip_ttl: 63, metadata: 2, reg7: 5 }) },
    ]);
    // To vm4 on hv2: through the tunnel with n2's key.
    expect(sw.outputs(ip('10.2.0.4'))).toEqual([
      { port: TUNNEL, packet: expect.objectContaining({ eth_dst: MAC(4), ip_ttl: 63, tun_id: 2, tun_ipv4_dst: '172.31.0.2' }) },
    ]);
    // An expiring TTL, the router's own address, or no route: the agent answers (ICMP).
    expect(sw.ports(ip('10.2.0.5', 1))).toEqual(['controller']);
    expect(sw.ports(ip('10.2.0.1'))).toEqual(['controller']);
    expect(sw.ports(ip('192.0.2.1'))).toEqual(['controller']);
  });

  it('incremental recompute of changed networks equals a full recompute', async () => {
    const view = makeView();
    const sw = new FakeSwitch();
    const fm = new FlowManager(sw);
    const computer = new FlowComputer(tables, APPS, view, fm);
    computer.markAllDirty();
    computer.flush();
    sw.connect();
    await fm.activate();
    // A port moves from remote to local, another network loses a port.
    view.plugVif({ ifaceName: 'tap2', ofport: 2, ifaceId: 'vm2' });
    view.networks.get('n2')!.ports.delete('p5');
    view.unplugVif('vm5');
    // Before: vm2 is on hv2, so the switch sends vm1's packets for it into the tunnel.
    expect(sw.table().ports(fromVm(1, MAC(2)))).toEqual([TUNNEL]);
    computer.markDirty('n1');
    computer.markDirty('n2');
    computer.flush();
    await fm.sync();
    expect(computer.compare().equal).toBe(true);
    expect((await fm.compareSwitch(computer.fullRecompute())).equal).toBe(true);
    // After, on what the switch has installed: vm2 is local on ofport 2, vm5 is gone.
    expect(sw.table().ports(fromVm(1, MAC(2)))).toEqual([2]);
    expect(sw.table().ports(fromTunnel(2, MAC(5)))).toEqual([]);
  });
});

describe('port security: anti-spoofing (vm3 attacks, vm1 is its local neighbour)', () => {
  // vm3: ofport 3, MAC(3), 10.1.0.3; vm1 (local, ofport 1) 10.1.0.1; vm2 (remote) 10.1.0.2.
  const IP = (n: number) => `10.1.0.${n}`;
  const udp = (src: string, sport: number, dport: number, dst = MAC(1)): PacketSpec =>
    fromVm(3, dst, { eth_type: 0x800, ipv4_src: src, ipv4_dst: IP(1), ip_proto: 17, udp_src: sport, udp_dst: dport });
  const arp = (op: number, sha: string, spa: string, dst = BCAST, tpa = spa): PacketSpec =>
    fromVm(3, dst, { eth_type: 0x806, arp_op: op, arp_sha: sha, arp_spa: spa, arp_tpa: tpa });
  /** The tables a packet went through, by name. */
  const path = (sw: FakeOFTable, p: PacketSpec) => sw.trace(p).path.map((h) => tables.nameOf(h.tableId));
  /** Dropped in port_security: that is the last table it saw, and it goes nowhere. */
  const droppedInPortSecurity = (sw: FakeOFTable, p: PacketSpec) => path(sw, p).at(-1) === 'port_security' && sw.outputs(p).length === 0;
  const passes = (sw: FakeOFTable, p: PacketSpec) => path(sw, p).includes('dhcp');
  const withVm3 = (change: (p: Port) => void) => {
    const view = makeView();
    change(view.networks.get('n1')!.ports.get('p3')!.port);
    return switchOf(view);
  };

  it("a packet from vm3 with vm2's source IP, or 8.8.8.8, is dropped in port_security; its own IP passes to the dhcp table and vm1", () => {
    const sw = switchOf(makeView());
    expect(droppedInPortSecurity(sw, udp(IP(2), 5000, 5000))).toBe(true);
    expect(droppedInPortSecurity(sw, udp('8.8.8.8', 5000, 5000))).toBe(true);
    expect(droppedInPortSecurity(sw, udp(IP(2), 5000, 5000, BCAST))).toBe(true);
    expect(passes(sw, udp(IP(3), 5000, 5000))).toBe(true);
    expect(sw.ports(udp(IP(3), 5000, 5000))).toEqual([1]);
  });

  it('ARP: sha must be the Ethernet source and spa one of the port addresses (or 0.0.0.0, a probe)', () => {
    const sw = switchOf(makeView());
    // gratuitous ARP claiming vm2's address, broadcast
    expect(droppedInPortSecurity(sw, arp(1, MAC(3), IP(2)))).toBe(true);
    // ARP reply whose sender hardware address is not the Ethernet source
    expect(droppedInPortSecurity(sw, arp(2, MAC(2), IP(3), MAC(1), IP(1)))).toBe(true);
    // unicast ARP reply poisoning vm1's cache for vm2's address
    expect(droppedInPortSecurity(sw, arp(2, MAC(3), IP(2), MAC(1), IP(1)))).toBe(true);
    // gratuitous ARP for its own address passes (and floods); a probe from 0.0.0.0 too; an ordinary request too
    expect(passes(sw, arp(1, MAC(3), IP(3)))).toBe(true);
    expect(sw.ports(arp(1, MAC(3), IP(3)))).toContain(1);
    expect(passes(sw, arp(1, MAC(3), '0.0.0.0', BCAST, IP(7)))).toBe(true);
    expect(passes(sw, arp(2, MAC(3), IP(3), MAC(1), IP(1)))).toBe(true);
    expect(sw.ports(arp(2, MAC(3), IP(3), MAC(1), IP(1)))).toEqual([1]);
  });

  it('DHCP: server traffic (UDP 67 -> 68) from a VM is dropped, from its own IP too; DISCOVER from 0.0.0.0 passes', () => {
    const sw = switchOf(makeView());
    expect(droppedInPortSecurity(sw, udp(IP(3), 67, 68, BCAST))).toBe(true); // rogue OFFER, broadcast
    expect(droppedInPortSecurity(sw, udp(IP(3), 67, 68, MAC(1)))).toBe(true); // rogue ACK, unicast
    const discover = { ...udp('0.0.0.0', 68, 67, BCAST), ipv4_dst: '255.255.255.255' };
    expect(passes(sw, discover)).toBe(true);
    expect(sw.ports(discover)).toContain('controller'); // the dhcp table sends it to the agent
    // 0.0.0.0 is only for DHCP: anything else from it is dropped
    expect(droppedInPortSecurity(sw, udp('0.0.0.0', 68, 5000, BCAST))).toBe(true);
  });

  it('other ethertypes (IPv6) pass from the port MAC only', () => {
    const sw = switchOf(makeView());
    expect(passes(sw, fromVm(3, BCAST, { eth_type: 0x86dd }))).toBe(true);
    expect(droppedInPortSecurity(sw, fromVm(3, BCAST, { eth_type: 0x86dd, eth_src: MAC(2) }))).toBe(true);
  });

  it('an allowed address pair admits its VIP with its own MAC (IPv4 and ARP); a CIDR pair without MAC uses the port MAC', () => {
    const VMAC = '02:00:00:00:00:aa';
    const sw = withVm3((p) => (p.allowedAddressPairs = [{ ip: '10.1.0.100', mac: VMAC }, { ip: '10.1.0.64/28' }]));
    expect(passes(sw, { ...udp('10.1.0.100', 5000, 5000), eth_src: VMAC })).toBe(true);
    expect(passes(sw, { ...arp(1, VMAC, '10.1.0.100'), eth_src: VMAC })).toBe(true);
    expect(sw.ports({ ...arp(1, VMAC, '10.1.0.100'), eth_src: VMAC })).toContain(1);
    expect(passes(sw, udp('10.1.0.70', 5000, 5000))).toBe(true);
    expect(passes(sw, arp(1, MAC(3), '10.1.0.79'))).toBe(true);
    expect(passes(sw, udp(IP(3), 5000, 5000))).toBe(true);
    // the VIP only with its MAC, the pair's MAC only with the VIP, nothing outside the CIDR
    expect(droppedInPortSecurity(sw, udp('10.1.0.100', 5000, 5000))).toBe(true);
    expect(droppedInPortSecurity(sw, { ...udp(IP(3), 5000, 5000), eth_src: VMAC })).toBe(true);
    expect(droppedInPortSecurity(sw, { ...arp(1, MAC(3), '10.1.0.100'), eth_src: VMAC })).toBe(true);
    expect(droppedInPortSecurity(sw, udp('10.1.0.80', 5000, 5000))).toBe(true);
    expect(droppedInPortSecurity(sw, { ...udp(IP(3), 67, 68), eth_src: VMAC })).toBe(true);
    // The ARP responder does not answer for a VIP: the request reaches the VM that holds it, which answers.
    const who = fromVm(1, BCAST, { eth_type: 0x806, arp_op: 1, arp_sha: MAC(1), arp_spa: IP(1), arp_tpa: '10.1.0.100' });
    expect(sw.ports(who)).toContain(3);
    expect(sw.ports(who)).not.toContain(1);
  });

  it('port security off lifts all of it', () => {
    const sw = withVm3((p) => (p.portSecurity = false));
    for (const p of [
      udp(IP(2), 5000, 5000),
      udp('8.8.8.8', 5000, 5000),
      arp(1, MAC(3), IP(2)),
      arp(2, MAC(2), IP(3), MAC(1), IP(1)),
      udp(IP(3), 67, 68, BCAST),
      { ...udp(IP(3), 5000, 5000), eth_src: '02:00:00:00:00:99' },
    ])
      expect(passes(sw, p), JSON.stringify(p)).toBe(true);
    expect(sw.ports(udp(IP(2), 5000, 5000))).toEqual([1]);
  });
});
