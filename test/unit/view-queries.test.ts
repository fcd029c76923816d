/** Queries of the topology view that several apps share (so none imports another). */
import { describe, expect, it } from 'vitest';
import type { Port, Subnet } from '../../src/model/types.js';
import {
  addressesOn,
  dhcpOnlyGateways,
  dhcpServerMac,
  routedNeighbours,
  routersOn,
  TopologyView,
  type NetworkState,
} from '../../src/view/index.js';

const subnet = (net: string, key: number): Subnet => ({
  id: `${net}s`,
  name: `${net}s`,
  networkId: net,
  cidr: `10.${key}.0.0/24`,
  gatewayIp: `10.${key}.0.1`,
  enableDhcp: true,
  dnsServers: [],
  hostRoutes: [],
  leaseTime: 3600,
  dhcpOptions: [],
});
const port = (n: number, net: string, key: number): Port => ({
  id: `p${n}`,
  name: `vm${n}`,
  networkId: net,
  mac: `02:00:00:00:00:0${n}`.toUpperCase(),
  fixedIps: [{ subnetId: `${net}s`, ip: `10.${key}.0.${10 + n}` }],
  portSecurity: true,
  allowedAddressPairs: [],
  securityGroups: [],
  portKey: n,
});
const network = (id: string, key: number, ports: Port[]): NetworkState => ({
  network: { id, name: id, tunnelKey: key, mtu: 1450 },
  subnets: new Map([[`${id}s`, subnet(id, key)]]),
  ports: new Map(ports.map((p) => [p.id, { port: p }])),
});

function view(): TopologyView {
  const v = new TopologyView('hv1', 'vxlan');
  v.networks.set('n1', network('n1', 1, [port(2, 'n1', 1), port(1, 'n1', 1)]));
  v.networks.set('n2', network('n2', 2, []));
  v.networks.set('n3', network('n3', 3, []));
  v.routers.set('r1', {
    id: 'r1',
    name: 'r1',
    routerKey: 7,
    mac: '02:aa:00:00:00:01',
    mode: 'proactive',
    routes: [],
    interfaces: [
      { subnetId: 'n1s', networkId: 'n1', ip: '10.1.0.1', mac: '02:AA:00:00:01:01' },
      { subnetId: 'n2s', networkId: 'n2', ip: '10.2.0.1', mac: '02:aa:00:00:02:01' },
    ],
  });
  return v;
}

describe('view queries', () => {
  it('addresses on a network: ports by key, router interfaces, lower-case MACs', () => {
    const v = view();
    expect(addressesOn(v, v.networks.get('n1')!)).toEqual([
      { ip: '10.1.0.11', mac: '02:00:00:00:00:01', kind: 'port', key: 1 },
      { ip: '10.1.0.12', mac: '02:00:00:00:00:02', kind: 'port', key: 2 },
      { ip: '10.1.0.1', mac: '02:aa:00:00:01:01', kind: 'router', key: 7 },
    ]);
  });

  it('a DHCP subnet no router serves: its gateway is the DHCP server, with a stable derived MAC', () => {
    const v = view();
    const n3 = v.networks.get('n3')!;
    expect(dhcpOnlyGateways(v, n3).map((s) => s.id)).toEqual(['n3s']);
    expect(dhcpOnlyGateways(v, v.networks.get('n1')!)).toEqual([]);
    const mac = dhcpServerMac(v, n3, n3.subnets.get('n3s')!);
    expect(mac).toMatch(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
    expect(parseInt(mac.slice(0, 2), 16) & 0x03).toBe(0x02); // locally administered, unicast
    expect(addressesOn(v, n3)).toEqual([{ ip: '10.3.0.1', mac, kind: 'dhcp', key: 3 }]);
    // With a router on the subnet, the router interface's MAC serves DHCP.
    expect(dhcpServerMac(v, v.networks.get('n1')!, v.networks.get('n1')!.subnets.get('n1s')!)).toBe('02:aa:00:00:01:01');
  });

  it('routers on a network and the networks they reach', () => {
    const v = view();
    expect(routersOn(v, 'n2').map(({ router, iface }) => [router.id, iface.ip])).toEqual([['r1', '10.2.0.1']]);
    expect([...routedNeighbours(v, 'n1')]).toEqual(['n2']);
    expect([...routedNeighbours(v, 'n3')]).toEqual([]);
  });
});
