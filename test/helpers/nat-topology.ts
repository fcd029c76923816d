/**
 * A north-south topology for NAT tests (issue 14), seen from hv1: overlay network n1 (10.1.0.0/24, key 1) with
 * vm1 (10.1.0.11, local, ofport 1, floating IP 203.0.113.50), vm2 (10.1.0.12, on hv2) and vm3 (10.1.0.13, local,
 * ofport 3); provider network ext (203.0.113.0/24, key 100, physnet1, flat or VLAN) whose patch port is ofport 20;
 * router r1 (key 7) on n1 with its gateway on ext (203.0.113.10), candidates hv1 then hv2. The tunnel is ofport 10.
 */
import type { FloatingIp, Port, Router, Subnet } from '../../src/model/types.js';
import { TopologyView, type NetworkState } from '../../src/view/topology-view.js';

export const IDS = {
  n1: '10000000-0000-4000-8000-000000000001',
  n1s: '10000000-0000-4000-8000-0000000000a1',
  ext: '20000000-0000-4000-8000-000000000001',
  exts: '20000000-0000-4000-8000-0000000000a1',
  r1: '30000000-0000-4000-8000-000000000001',
  fip1: '40000000-0000-4000-8000-000000000001',
};
export const TUNNEL = 10;
export const PATCH = 20;
export const IFACE_MAC = '02:aa:00:00:01:01';
export const GW = { ip: '203.0.113.10', mac: '02:ee:00:00:00:10' };
export const FIP = { ip: '203.0.113.50', mac: '02:ff:00:00:00:50' };
export const OUTSIDE_ROUTER = { ip: '203.0.113.1', mac: '02:0b:00:00:00:01' };
export const MAC = (n: number) => `02:00:00:00:00:${n.toString(16).padStart(2, '0')}`;
export const HV2_IP = '172.31.0.2';

function subnet(id: string, networkId: string, cidr: string, gatewayIp: string): Subnet {
  return {
    id,
    name: id,
    networkId,
    cidr,
    gatewayIp,
    enableDhcp: false,
    dnsServers: [],
    hostRoutes: [],
    leaseTime: 3600,
    dhcpOptions: [],
  };
}

function port(n: number): Port {
  return {
    id: `50000000-0000-4000-8000-0000000000${n.toString(16).padStart(2, '0')}`,
    name: `vm${n}`,
    networkId: IDS.n1,
    mac: MAC(n),
    fixedIps: [{ subnetId: IDS.n1s, ip: `10.1.0.${10 + n}` }],
    portSecurity: false,
    allowedAddressPairs: [],
    securityGroups: [],
    portKey: 10 + n,
  };
}

export function natView(opts: { active?: string; vlan?: number; fip?: boolean } = {}): TopologyView {
  const v = new TopologyView('hv1', 'vxlan');
  v.tunnelOfport = TUNNEL;
  v.chassis.set('hv1', { name: 'hv1', tunnelIp: '172.31.0.1', encaps: ['vxlan'], version: 't' });
  v.chassis.set('hv2', { name: 'hv2', tunnelIp: HV2_IP, encaps: ['vxlan'], version: 't' });
  const ports = [port(1), port(2), port(3)];
  const n1: NetworkState = {
    network: { id: IDS.n1, name: 'n1', tunnelKey: 1, mtu: 1450 },
    subnets: new Map([[IDS.n1s, subnet(IDS.n1s, IDS.n1, '10.1.0.0/24', '10.1.0.1')]]),
    ports: new Map(ports.map((p) => [p.id, { port: p, binding: { chassis: p.name === 'vm2' ? 'hv2' : 'hv1', updatedAt: '' } }])),
  };
  const ext: NetworkState = {
    network: {
      id: IDS.ext,
      name: 'ext',
      tunnelKey: 100,
      mtu: 1500,
      provider: { physnet: 'physnet1', ...(opts.vlan !== undefined ? { vlan: opts.vlan } : {}) },
    },
    subnets: new Map([[IDS.exts, subnet(IDS.exts, IDS.ext, '203.0.113.0/24', OUTSIDE_ROUTER.ip)]]),
    ports: new Map(),
  };
  v.networks.set(IDS.n1, n1);
  v.networks.set(IDS.ext, ext);
  v.plugVif({ ifaceName: 'tap1', ofport: 1, ifaceId: 'vm1' });
  v.plugVif({ ifaceName: 'tap3', ofport: 3, ifaceId: 'vm3' });
  v.physnetOfports.set('physnet1', PATCH);
  const r1: Router = {
    id: IDS.r1,
    name: 'r1',
    routerKey: 7,
    mac: '02:aa:00:00:00:01',
    mode: 'proactive',
    routes: [],
    interfaces: [{ subnetId: IDS.n1s, networkId: IDS.n1, ip: '10.1.0.1', mac: IFACE_MAC }],
    gateway: { networkId: IDS.ext, subnetId: IDS.exts, ip: GW.ip, mac: GW.mac, chassis: ['hv1', 'hv2'] },
  };
  v.routers.set(IDS.r1, r1);
  if (opts.fip !== false) {
    const f: FloatingIp = {
      id: IDS.fip1,
      networkId: IDS.ext,
      ip: FIP.ip,
      mac: FIP.mac,
      portId: ports[0]!.id,
      portNetworkId: IDS.n1,
      fixedIp: '10.1.0.11',
      routerId: IDS.r1,
    };
    v.floatingIps.set(f.id, f);
  }
  if (opts.active) v.gateways.set(IDS.r1, { routerId: IDS.r1, chassis: opts.active, since: '2026-01-01T00:00:00Z' });
  return v;
}
