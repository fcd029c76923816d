/**
 * Provider networks through the apps' flows, on the fake OpenFlow table: a flat network (key 1) and a VLAN 100
 * network (key 2) on physnet1, whose patch port is ofport 20. Odd ports are local (hv1), even ones on hv2.
 */
import { describe, expect, it } from 'vitest';
import { APPS } from '../../src/apps/index.js';
import { FlowComputer } from '../../src/agent/compute.js';
import { FlowManager } from '../../src/flows/manager.js';
import type { Port, ProviderSegment } from '../../src/model/types.js';
import { loadPipeline } from '../../src/pipeline/pipeline.js';
import { PipelineTables } from '../../src/pipeline/tables.js';
import { TopologyView, type NetworkState } from '../../src/view/topology-view.js';
import { FakeOFTable, type PacketSpec } from '../helpers/fake-of-table.js';
import { FakeSwitch } from '../helpers/fake-switch.js';

const tables = new PipelineTables(loadPipeline());
const PATCH = 20;
const TUNNEL = 10;
const MAC = (n: number) => `02:00:00:00:00:${n.toString(16).padStart(2, '0')}`;
const IP = (key: number, n: number) => `10.${key}.0.${n}`;
const BCAST = 'ff:ff:ff:ff:ff:ff';
const VID = (v: number) => 0x1000 | v;

function port(n: number, netId: string, key: number): Port {
  return {
    id: `p${n}`,
    name: `vm${n}`,
    networkId: netId,
    mac: MAC(n),
    fixedIps: [{ subnetId: `${netId}s`, ip: IP(key, n) }],
    portSecurity: true,
    allowedAddressPairs: [],
    securityGroups: [],
    portKey: n,
  };
}

function network(id: string, key: number, provider: ProviderSegment, ns: number[]): NetworkState {
  return {
    network: { id, name: id, tunnelKey: key, mtu: 1500, provider },
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
    ports: new Map(ns.map((n) => [`p${n}`, { port: port(n, id, key), binding: { chassis: n % 2 ? 'hv1' : 'hv2', updatedAt: '' } }])),
  };
}

function makeView(mapped = true): TopologyView {
  const v = new TopologyView('hv1', 'vxlan');
  v.tunnelOfport = TUNNEL;
  if (mapped) v.physnetOfports.set('physnet1', PATCH);
  v.chassis.set('hv1', { name: 'hv1', tunnelIp: '172.31.0.1', encaps: ['vxlan'], version: 't', physnets: ['physnet1'] });
  v.chassis.set('hv2', { name: 'hv2', tunnelIp: '172.31.0.2', encaps: ['vxlan'], version: 't', physnets: ['physnet1'] });
  v.networks.set('flat', network('flat', 1, { physnet: 'physnet1' }, [1, 2, 3]));
  v.networks.set('v100', network('v100', 2, { physnet: 'physnet1', vlan: 100 }, [4, 5]));
  for (const n of [1, 3, 5]) v.plugVif({ ifaceName: `tap${n}`, ofport: n, ifaceId: `vm${n}` });
  return v;
}

const switchOf = (view: TopologyView) =>
  new FakeOFTable(new FlowComputer(tables, APPS, view, new FlowManager(new FakeSwitch())).fullRecompute());
const fromVm = (n: number, dst: string, more: PacketSpec = {}): PacketSpec => ({ in_port: n, eth_src: MAC(n), eth_dst: dst, ...more });
/** From the physical network: untagged, or with a VLAN tag. */
const fromPhys = (dst: string, vlan?: number, more: PacketSpec = {}): PacketSpec => ({
  in_port: PATCH,
  eth_src: '02:ee:00:00:00:01',
  eth_dst: dst,
  ...(vlan === undefined ? {} : { vlan_vid: VID(vlan) }),
  ...more,
});

describe('provider networks: flows on the fake switch', () => {
  it('flat: to a port on another chassis out the patch port untagged, never a tunnel', () => {
    const outs = switchOf(makeView()).outputs(fromVm(1, MAC(2)));
    expect(outs).toEqual([{ port: PATCH, packet: expect.objectContaining({ eth_dst: MAC(2) }) }]);
    expect(outs[0]!.packet.vlan_vid).toBeUndefined();
    expect(outs[0]!.packet.tun_id).toBeUndefined();
  });

  it('VLAN: to a port on another chassis out the patch port tagged 100', () => {
    const outs = switchOf(makeView()).outputs(fromVm(5, MAC(4)));
    expect(outs).toEqual([{ port: PATCH, packet: expect.objectContaining({ eth_dst: MAC(4), vlan_vid: VID(100) }) }]);
  });

  it('broadcast and unknown unicast: local ports and once out the physnet (tagged for VLAN), no tunnel', () => {
    const sw = switchOf(makeView());
    expect(sw.ports(fromVm(1, BCAST))).toEqual([3, PATCH]);
    expect(sw.ports(fromVm(1, '02:99:00:00:00:01'))).toEqual([3, PATCH]);
    const v = sw.outputs(fromVm(5, BCAST));
    expect(v.map((o) => [o.port, o.packet.vlan_vid])).toEqual([[PATCH, VID(100)]]);
  });

  it('local to local stays on the host, untagged', () => {
    const outs = switchOf(makeView()).outputs(fromVm(1, MAC(3)));
    expect(outs.map((o) => [o.port, o.packet.vlan_vid])).toEqual([[3, undefined]]);
  });

  it('in from the physnet: untagged to the flat network, tag 100 popped into the VLAN network, delivered locally only', () => {
    const sw = switchOf(makeView());
    expect(sw.ports(fromPhys(MAC(1)))).toEqual([1]);
    expect(sw.outputs(fromPhys(MAC(1)))[0]!.packet).toMatchObject({ metadata: 1, reg0: 4 });
    expect(sw.ports(fromPhys(MAC(2)))).toEqual([]); // vm2 is on hv2: the physical network delivers it, not us
    expect(sw.ports(fromPhys(BCAST))).toEqual([1, 3]); // never back out the physnet or a tunnel
    const tagged = sw.outputs(fromPhys(MAC(5), 100));
    expect(tagged.map((o) => o.port)).toEqual([5]);
    expect(tagged[0]!.packet.vlan_vid).toBeUndefined();
    expect(sw.ports(fromPhys(BCAST, 100))).toEqual([5]);
    expect(sw.ports(fromPhys(MAC(5), 200))).toEqual([]); // a VLAN no network here uses
    expect(sw.ports(fromPhys(MAC(5)))).toEqual([1, 3]); // untagged is the flat network: vm5's MAC unknown there
  });

  it('ARP from the physnet for a local VM is left to the VM (no responder reply on the wire); DHCP from it is not answered', () => {
    const sw = switchOf(makeView());
    const arp = fromPhys(BCAST, undefined, { eth_type: 0x0806, arp_op: 1, arp_spa: '10.1.0.200', arp_tpa: IP(1, 1) });
    const outs = sw.outputs(arp);
    expect(outs.map((o) => o.port)).toEqual([1, 3]);
    expect(outs.every((o) => o.packet.arp_op === 1)).toBe(true);
    const discover = fromPhys(BCAST, undefined, {
      eth_type: 0x0800,
      ip_proto: 17,
      ipv4_src: '0.0.0.0',
      ipv4_dst: '255.255.255.255',
      udp_src: 68,
      udp_dst: 67,
    });
    expect(sw.ports(discover)).not.toContain('controller');
  });

  it("a local VM's ARP for a VM on another chassis is answered locally; for the gateway it goes out (the physical router answers)", () => {
    const sw = switchOf(makeView());
    const ask = (tpa: string) => fromVm(1, BCAST, { eth_type: 0x0806, arp_op: 1, arp_sha: MAC(1), arp_spa: IP(1, 1), arp_tpa: tpa });
    expect(sw.outputs(ask(IP(1, 2)))).toEqual([{ port: 1, packet: expect.objectContaining({ arp_op: 2, arp_sha: MAC(2) }) }]);
    expect(sw.ports(ask('10.1.0.1'))).toEqual([3, PATCH]);
  });

  it('a DHCP request from a local VM goes to the agent', () => {
    const sw = switchOf(makeView());
    const discover = fromVm(1, BCAST, {
      eth_type: 0x0800,
      ip_proto: 17,
      ipv4_src: '0.0.0.0',
      ipv4_dst: '255.255.255.255',
      udp_src: 68,
      udp_dst: 67,
    });
    expect(sw.ports(discover)).toContain('controller');
  });

  it('no tunnel ingress for provider networks; without a usable mapping no port is placed', () => {
    expect(switchOf(makeView()).ports({ in_port: TUNNEL, tun_id: 1, eth_src: MAC(2), eth_dst: MAC(1) })).toEqual([]);
    const sw = switchOf(makeView(false));
    expect(sw.ports(fromVm(1, MAC(3)))).toEqual([]);
    expect(sw.ports(fromVm(1, BCAST))).toEqual([]);
  });
});
