import { describe, expect, it } from 'vitest';
import { APPS } from '../../src/apps/index.js';
import { FlowComputer } from '../../src/agent/compute.js';
import { TopologyView, type NetworkState } from '../../src/view/topology-view.js';
import { FlowManager } from '../../src/flows/manager.js';
import type { Port, Router } from '../../src/model/types.js';
import { formatFlow } from '../../src/openflow/index.js';
import { loadPipeline } from '../../src/pipeline/pipeline.js';
import { PipelineTables, type DesiredFlow } from '../../src/pipeline/tables.js';
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
    portKey: n,
  };
}

function network(id: string, key: number, ports: Port[]): NetworkState {
  return {
    network: { id, name: id, tunnelKey: key, mtu: 1450 },
    subnets: new Map([
      [`${id}s`, { id: `${id}s`, name: `${id}s`, networkId: id, cidr: `10.${key}.0.0/24`, gatewayIp: `10.${key}.0.1`, enableDhcp: true, dnsServers: [], hostRoutes: [], leaseTime: 3600, dhcpOptions: [] }],
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
    id: 'r1', name: 'r1', routerKey: 7, mac: '02:aa:00:00:00:01', mode: 'proactive', routes: [],
    interfaces: [
      { subnetId: 'n1s', networkId: 'n1', ip: '10.1.0.1', mac: '02:aa:00:00:01:01' },
      { subnetId: 'n2s', networkId: 'n2', ip: '10.2.0.1', mac: '02:aa:00:00:02:01' },
    ],
  };
  v.routers.set('r1', router);
  return v;
}

const text = (flows: DesiredFlow[]) =>
  flows.map((f) => formatFlow({ ...f, durationSec: 0, durationNsec: 0, flags: 0, packetCount: 0n, byteCount: 0n }));

describe('proactive apps', () => {
  it('compute flows that pass the pipeline guards for every app', () => {
    const view = makeView();
    const computer = new FlowComputer(tables, APPS, view, new FlowManager(new FakeSwitch()));
    const flows = computer.fullRecompute();
    const byTable = new Map<string, number>();
    for (const f of flows) byTable.set(f.table, (byTable.get(f.table) ?? 0) + 1);
    for (const t of ['classifier', 'port_security', 'dhcp', 'arp_responder', 'l3_router', 'l2_lookup', 'egress']) expect(byTable.get(t)).toBeGreaterThan(0);
  });

  it('local ports get classifier, port security and local egress; remote ports a tunnel egress that never re-tunnels', () => {
    const out = text(makeView() && new FlowComputer(tables, APPS, makeView(), new FlowManager(new FakeSwitch())).fullRecompute()).join('\n');
    expect(out).toMatch(/table=0, priority=100,in_port=1 actions=.*reg6.*write_metadata:0x1.*goto_table:10/);
    expect(out).toMatch(/priority=100,reg6=0x1,dl_src=02:00:00:00:00:01 .*goto_table:20/);
    expect(out).toMatch(/priority=100,reg0=0\/0x1,reg7=0x2 actions=set_field:0x1->tun_id,set_field:172\.31\.0\.2->tun_dst,output:10/);
    expect(out).toMatch(/priority=100,reg7=0x1 actions=output:1/);
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
    computer.markDirty('n1');
    computer.markDirty('n2');
    computer.flush();
    await fm.sync();
    expect(computer.compare().equal).toBe(true);
    expect((await fm.compareSwitch(computer.fullRecompute())).equal).toBe(true);
  });
});
