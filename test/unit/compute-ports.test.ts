/**
 * Per-port recompute (FlowComputer.markPortsDirty): a change to one remote port recomputes that port's flows and
 * the network flows of apps that read every port, and nothing of the apps that read local ports only — and the
 * result always equals a full recompute, on the desired state and on the switch.
 */
import { describe, expect, it } from 'vitest';
import { FlowComputer } from '../../src/agent/compute.js';
import { APPS } from '../../src/apps/index.js';
import type { App } from '../../src/apps/platform.js';
import { FlowManager } from '../../src/flows/manager.js';
import type { Port } from '../../src/model/types.js';
import { loadPipeline } from '../../src/pipeline/pipeline.js';
import { PipelineTables } from '../../src/pipeline/tables.js';
import { TopologyView, type NetworkState } from '../../src/view/topology-view.js';
import { FakeSwitch } from '../helpers/fake-switch.js';

const tables = new PipelineTables(loadPipeline());
const CHASSIS = ['hv1', 'hv2', 'hv3'];

/** Even ports are in group g1, whose rules admit ssh from its own members (so ACL flows depend on local ports). */
function port(n: number, opts: Partial<Port> = {}): Port {
  const hex = (n & 0xff).toString(16).padStart(2, '0');
  return {
    id: `p${n}`,
    name: `vm${n}`,
    networkId: 'n1',
    mac: `02:00:00:00:${((n >> 8) & 0xff).toString(16).padStart(2, '0')}:${hex}`,
    fixedIps: [{ subnetId: 's1', ip: `10.1.${n >> 8}.${n & 0xff}` }],
    portSecurity: true,
    allowedAddressPairs: [],
    securityGroups: n % 2 === 0 ? ['g1'] : [],
    portKey: n,
    ...opts,
  };
}

function makeView(): { view: TopologyView; net: NetworkState } {
  const view = new TopologyView('hv1', 'vxlan');
  view.tunnelOfport = 100;
  CHASSIS.forEach((c, i) => view.chassis.set(c, { name: c, tunnelIp: `172.31.0.${i + 1}`, encaps: ['vxlan'], version: 't' }));
  const net: NetworkState = {
    network: { id: 'n1', name: 'n1', tunnelKey: 1, mtu: 1450 },
    subnets: new Map([
      [
        's1',
        {
          id: 's1',
          name: 's1',
          networkId: 'n1',
          cidr: '10.1.0.0/16',
          gatewayIp: '10.1.0.1',
          enableDhcp: true,
          dnsServers: [],
          hostRoutes: [],
          leaseTime: 3600,
          dhcpOptions: [],
        },
      ],
    ]),
    ports: new Map(),
  };
  view.networks.set('n1', net);
  view.securityGroups.set('g1', {
    id: 'g1',
    name: 'g1',
    description: '',
    groupKey: 1,
    rules: [
      { id: 'r1', ruleKey: 1, direction: 'ingress', protocol: 'tcp', portMin: 22, portMax: 22, remoteGroupId: 'g1' },
      { id: 'r2', ruleKey: 2, direction: 'egress', protocol: 'any' },
    ],
  });
  view.sgMembers.set(
    'g1',
    new Map([2, 4, 8, 400].map((n) => [`p${n}`, { portId: `p${n}`, networkId: 'n1', addresses: [`10.1.${n >> 8}.${n & 0xff}`] }])),
  );
  return { view, net };
}

/** Counts every app's network-flow computations. */
function counting(apps: readonly App[]): { apps: App[]; calls: Map<string, number> } {
  const calls = new Map<string, number>();
  return {
    calls,
    apps: apps.map((a) =>
      a.networkFlows
        ? {
            ...a,
            networkFlows: (t, v, n) => {
              calls.set(a.name, (calls.get(a.name) ?? 0) + 1);
              return a.networkFlows!(t, v, n);
            },
          }
        : a,
    ),
  };
}

async function setUp() {
  const { view, net } = makeView();
  for (let n = 2; n < 40; n++) net.ports.set(`p${n}`, { port: port(n), binding: { chassis: CHASSIS[n % 3]!, updatedAt: '' } });
  for (let n = 3; n < 40; n += 3) view.plugVif({ ifaceName: `tap${n}`, ofport: n, ifaceId: `vm${n}` });
  const sw = new FakeSwitch();
  const fm = new FlowManager(sw);
  const { apps, calls } = counting(APPS);
  const computer = new FlowComputer(tables, apps, view, fm);
  computer.markAllDirty();
  computer.flush();
  sw.connect();
  await fm.activate();
  await fm.sync();
  return { view, net, sw, fm, computer, calls };
}

describe('per-port recompute', () => {
  it('a remote port joining, moving and leaving recomputes no local-ports-only app', async () => {
    const { net, fm, computer, calls } = await setUp();
    calls.clear();
    net.ports.set('p500', { port: port(500), binding: { chassis: 'hv2', updatedAt: '' } });
    computer.markPortsDirty('n1', ['p500']);
    computer.flush();
    net.ports.get('p500')!.binding = { chassis: 'hv3', updatedAt: '' };
    computer.markPortsDirty('n1', ['p500']);
    computer.flush();
    net.ports.delete('p500');
    computer.markPortsDirty('n1', ['p500']);
    computer.flush();
    for (const app of APPS.filter((a) => a.localPortsOnly)) expect(calls.get(app.name) ?? 0, app.name).toBe(0);
    // l2's floods read every port: recomputed each time.
    expect(calls.get('l2')).toBe(3);
    await fm.sync();
    expect(computer.compare().equal).toBe(true);
    expect((await fm.compareSwitch(computer.fullRecompute())).equal).toBe(true);
  });

  it('a change to a port that is (or was) local recomputes the network flows of apps that read local ports', async () => {
    const { view, net, computer, calls } = await setUp();
    calls.clear();
    net.ports.set('p3', { port: port(3, { mac: '02:00:00:00:aa:03' }), binding: { chassis: 'hv1', updatedAt: '' } });
    computer.markPortsDirty('n1', ['p3']);
    computer.flush();
    expect(calls.get('classifier')).toBe(1);
    expect(computer.compare().equal).toBe(true);
    calls.clear();
    // Deleted from the store while its VIF is still plugged, then unplugged: still counts as local.
    net.ports.delete('p6');
    view.unplugVif('vm6');
    computer.markPortsDirty('n1', ['p6']);
    computer.flush();
    expect(calls.get('classifier')).toBe(1);
    expect(computer.compare().equal).toBe(true);
  });

  it('random changes, each marked as the agent marks it, always equal a full recompute (desired and switch)', async () => {
    const { view, net, fm, computer } = await setUp();
    let seed = 7;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    for (let step = 0; step < 300; step++) {
      const n = 2 + rnd(60);
      const id = `p${n}`;
      const r = rnd(6);
      if (r === 0) {
        net.ports.delete(id);
        computer.markPortsDirty('n1', [id]);
      } else if (r === 1) {
        net.ports.set(id, { port: port(n), binding: { chassis: CHASSIS[rnd(3)]!, updatedAt: '' } });
        computer.markPortsDirty('n1', [id]);
      } else if (r === 2) {
        const ps = net.ports.get(id);
        if (ps) ps.binding = rnd(4) === 0 ? undefined : { chassis: CHASSIS[1 + rnd(2)]!, updatedAt: '' };
        computer.markPortsDirty('n1', [id]);
      } else if (r === 3) {
        const ps = net.ports.get(id);
        if (ps) net.ports.set(id, { ...ps, port: port(n, { fixedIps: [{ subnetId: 's1', ip: `10.1.9.${rnd(250) + 2}` }] }) });
        computer.markPortsDirty('n1', [id]);
      } else if (r === 4) {
        // The binding manager's 'changed': a VIF plugged or unplugged here marks its port (a local one).
        if (view.vifs.has(`vm${n}`)) view.unplugVif(`vm${n}`);
        else view.plugVif({ ifaceName: `tap${n}`, ofport: n, ifaceId: `vm${n}` });
        computer.markPortsDirty('n1', [id]);
      } else {
        computer.markPortsDirty('n1', [id, `p${2 + rnd(60)}`]);
      }
      if (rnd(3) === 0) continue; // several changes in one flush, sometimes
      computer.flush();
      const c = computer.compare();
      expect(c, `step ${step}`).toMatchObject({ equal: true });
    }
    computer.flush();
    await fm.sync();
    expect((await fm.compareSwitch(computer.fullRecompute())).equal).toBe(true);
  });
});
