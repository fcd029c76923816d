/**
 * The 1,000-port host of bench:agent, in process (no OVS, no store), for the flow benchmarks (flow-memory,
 * flow-burst): one network with a /20 subnet and DHCP, its ports with port security bound here, and a switch that
 * keeps nothing.
 */
import type { OfMessage } from '../../src/openflow/index.js';
import type { FlowChannel } from '../../src/flows/types.js';
import { loadPipeline } from '../../src/pipeline/pipeline.js';
import { PipelineTables } from '../../src/pipeline/tables.js';
import { TopologyView, type NetworkState } from '../../src/view/topology-view.js';

const hex = (n: number) => n.toString(16).padStart(2, '0');

/** A switch that takes every bundle and holds nothing; `onBundle` sees each one. */
export function nullSwitch(onBundle: (msgs: OfMessage[]) => void = () => undefined): FlowChannel {
  return {
    isUp: true,
    bundle: async (msgs: OfMessage[]) => onBundle(msgs),
    dumpFlows: async () => [],
    multipart: async () => [],
    sendChecked: async () => undefined,
    send: async () => undefined,
    barrier: async () => undefined,
    on: () => undefined,
    off: () => undefined,
  } as unknown as FlowChannel;
}

/** hv1's view with network n1 and no port yet; `plug(k)` binds port k here (a VIF on ofport k + 3), returns its id. */
export function bigHost(): { tables: PipelineTables; view: TopologyView; net: NetworkState; plug: (k: number) => string } {
  const tables = new PipelineTables(loadPipeline());
  const view = new TopologyView('hv1', 'geneve');
  view.tunnelOfport = 100;
  ['hv1', 'hv2', 'hv3'].forEach((c, i) =>
    view.chassis.set(c, { name: c, tunnelIp: `172.31.0.${i + 1}`, encaps: ['geneve'], version: 't' }),
  );
  const subnet = {
    id: 's1',
    name: 'big-sub',
    networkId: 'n1',
    cidr: '10.1.0.0/20',
    gatewayIp: '10.1.0.1',
    enableDhcp: true,
    dnsServers: [],
    hostRoutes: [],
    leaseTime: 3600,
    dhcpOptions: [],
  };
  const net: NetworkState = {
    network: { id: 'n1', name: 'big', tunnelKey: 1, mtu: 1450 },
    subnets: new Map([['s1', subnet]]),
    ports: new Map(),
  };
  view.networks.set('n1', net);
  const plug = (k: number): string => {
    const port = {
      id: `p${k}`,
      name: `big${k}`,
      networkId: 'n1',
      mac: `0a:00:01:00:${hex(k >> 8)}:${hex(k & 255)}`,
      fixedIps: [{ subnetId: 's1', ip: `10.1.${(k + 10) >> 8}.${(k + 10) & 255}` }],
      portSecurity: true,
      allowedAddressPairs: [],
      securityGroups: [],
      portKey: k + 2,
    };
    net.ports.set(port.id, { port, binding: { chassis: 'hv1', updatedAt: '2026-12-05T00:00:00Z' } });
    view.plugVif({ ifaceName: `b${k}`, ofport: k + 3, ifaceId: port.name });
    return port.id;
  };
  return { tables, view, net, plug };
}
