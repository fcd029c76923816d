/**
 * Per-port QoS as meters (issue 13): which meters the apps declare for a view, the meter instruction on the
 * flows that carry each limit (l2's egress output flow, the classifier's in_port flow), the meter-id ranges of
 * pipelines/, and the whole path through the flow computer and flow manager onto a fake switch.
 */
import { describe, expect, it } from 'vitest';
import { FlowComputer } from '../../src/agent/compute.js';
import { APPS } from '../../src/apps/index.js';
import { classifierApp } from '../../src/apps/classifier/index.js';
import { l2App } from '../../src/apps/l2/index.js';
import type { App } from '../../src/apps/platform.js';
import { defaultBurstKb, MIN_BURST_KB, portLimit } from '../../src/apps/qos.js';
import { FlowManager } from '../../src/flows/manager.js';
import type { Port, PortQos } from '../../src/model/types.js';
import { loadPipeline, parsePipeline } from '../../src/pipeline/pipeline.js';
import { PipelineTables, type AppTables, type DesiredFlow } from '../../src/pipeline/tables.js';
import { TopologyView, type NetworkState } from '../../src/view/topology-view.js';
import { FakeOFTable } from '../helpers/fake-of-table.js';
import { FakeSwitch } from '../helpers/fake-switch.js';

/** Every flow an app declares for a network: its network flows and each port's. */
function appNetworkFlows(app: App, tables: AppTables, view: TopologyView, net: NetworkState): DesiredFlow[] {
  const flows = app.networkFlows?.(tables, view, net) ?? [];
  if (app.portFlows) for (const { ps, loc } of view.placedPorts(net)) flows.push(...app.portFlows(tables, view, net, ps, loc));
  return flows;
}

const tables = new PipelineTables(loadPipeline());
const MAC = (n: number) => `02:00:00:00:00:0${n}`;
const INGRESS_BASE = 65536;

function port(n: number, qos?: PortQos): Port {
  return {
    id: `p${n}`,
    name: `vm${n}`,
    networkId: 'n1',
    mac: MAC(n),
    fixedIps: [{ subnetId: 's1', ip: `10.1.0.${n}` }],
    portSecurity: false,
    allowedAddressPairs: [],
    securityGroups: [],
    portKey: n,
    ...(qos ? { qos } : {}),
  };
}

/** vm1 (ofport 11) limited both ways, vm2 (ofport 12) egress only with its own burst, vm3 local and unlimited, vm4 remote with limits. */
function makeView(): { view: TopologyView; net: NetworkState } {
  const view = new TopologyView('hv1', 'vxlan');
  view.tunnelOfport = 10;
  view.chassis.set('hv2', { name: 'hv2', tunnelIp: '172.31.0.2', encaps: ['vxlan'], version: 't' });
  const ports = [
    port(1, { egressRateKbps: 20_000, ingressRateKbps: 8_000 }),
    port(2, { egressRateKbps: 1_000, egressBurstKb: 300 }),
    port(3),
    port(4, { egressRateKbps: 5_000, ingressRateKbps: 5_000 }),
  ];
  const net: NetworkState = {
    network: { id: 'n1', name: 'n1', tunnelKey: 1, mtu: 1450 },
    subnets: new Map(),
    ports: new Map(ports.map((p) => [p.id, { port: p, binding: { chassis: p.portKey === 4 ? 'hv2' : 'hv1', updatedAt: '' } }])),
  };
  view.networks.set('n1', net);
  for (const n of [1, 2, 3]) view.plugVif({ ifaceName: `tap${n}`, ofport: 10 + n, ifaceId: `vm${n}` });
  return { view, net };
}

const meterOf = (f: DesiredFlow) => f.instructions.find((i) => i.type === 'meter');

describe('per-port QoS meters', () => {
  it('defaults the burst to half a second at the rate, never below one jumbo frame', () => {
    expect(defaultBurstKb(20_000)).toBe(10_000);
    expect(defaultBurstKb(8_001)).toBe(4_001);
    expect(defaultBurstKb(10)).toBe(MIN_BURST_KB);
    expect(portLimit({ egressRateKbps: 1_000, egressBurstKb: 300 }, 'egress')).toEqual({ rateKbps: 1_000, burstKb: 300 });
    expect(portLimit({ egressRateKbps: 1_000 }, 'ingress')).toBeUndefined();
    expect(portLimit(undefined, 'egress')).toBeUndefined();
  });

  it('l2 declares one egress meter per local limited port (id = ofport), classifier one ingress meter (65536 + ofport)', () => {
    const { view, net } = makeView();
    expect(l2App.networkMeters!(tables.forApp('l2'), view, net)).toEqual([
      { meterId: 11, burst: true, bands: [{ type: 'drop', rate: 20_000, burstSize: 10_000 }] },
      { meterId: 12, burst: true, bands: [{ type: 'drop', rate: 1_000, burstSize: 300 }] },
    ]);
    // vm4 is remote: its own host meters it.
    expect(classifierApp.networkMeters!(tables.forApp('classifier'), view, net)).toEqual([
      { meterId: INGRESS_BASE + 11, burst: true, bands: [{ type: 'drop', rate: 8_000, burstSize: 4_000 }] },
    ]);
  });

  it("the meter instruction sits first on the limited port's egress output flow and classifier flow, nowhere else", () => {
    const { view, net } = makeView();
    const l2 = appNetworkFlows(l2App, tables.forApp('l2'), view, net);
    const egressOf = (portKey: number) =>
      l2.find((f) => f.table === 'egress' && f.match.some((m) => m.field === 'reg7' && m.value === portKey))!;
    expect(egressOf(1).instructions[0]).toEqual({ type: 'meter', meterId: 11 });
    expect(egressOf(2).instructions[0]).toEqual({ type: 'meter', meterId: 12 });
    expect(meterOf(egressOf(3))).toBeUndefined();
    expect(meterOf(egressOf(4))).toBeUndefined(); // remote: out the tunnel unmetered here
    expect(l2.filter(meterOf)).toHaveLength(2);

    const cl = appNetworkFlows(classifierApp, tables.forApp('classifier'), view, net);
    const inPort = (ofport: number) =>
      cl.find((f) => f.table === 'classifier' && f.match.some((m) => m.field === 'in_port' && m.value === ofport))!;
    expect(inPort(11).instructions[0]).toEqual({ type: 'meter', meterId: INGRESS_BASE + 11 });
    expect(meterOf(inPort(12))).toBeUndefined();
    expect(cl.filter(meterOf)).toHaveLength(1);
    for (const f of [...l2, ...cl]) expect(() => tables.check(f)).not.toThrow();
  });

  it('a metered packet still goes where it went (fake table): metering drops by rate only', () => {
    const { view } = makeView();
    const sw = new FakeOFTable(new FlowComputer(tables, APPS, view, new FlowManager(new FakeSwitch())).fullRecompute());
    const trace = sw.trace({ in_port: 11, eth_src: MAC(1), eth_dst: MAC(2) });
    expect(trace.outputs.map((o) => o.port)).toEqual([12]);
    expect(sw.ports({ in_port: 13, eth_src: MAC(3), eth_dst: MAC(1) })).toEqual([11]);
  });

  it('flow computer and flow manager put meters and flows on the switch, and take the meter away with the limit', async () => {
    const { view, net } = makeView();
    const sw = new FakeSwitch();
    const fm = new FlowManager(sw, { check: (f) => tables.check(f) });
    const computer = new FlowComputer(tables, APPS, view, fm);
    computer.markAllDirty();
    computer.flush();
    sw.connect();
    await fm.activate();
    expect([...sw.meters.keys()].sort((a, b) => a - b)).toEqual([11, 12, INGRESS_BASE + 11]);
    expect(sw.meters.get(11)).toMatchObject({ flags: 1 | 4, bands: [{ type: 'drop', rate: 20_000, burstSize: 10_000 }] });
    const onSwitch = [...sw.flows.values()].filter((f) => f.instructions.some((i) => i.type === 'meter'));
    expect(onSwitch).toHaveLength(3);

    // The limit changes, then goes: the meter is modified, then deleted with the flows' meter instruction.
    net.ports.get('p1')!.port = { ...net.ports.get('p1')!.port, qos: { egressRateKbps: 30_000 } };
    computer.markDirty('n1');
    computer.flush();
    await fm.sync();
    expect(sw.meters.get(11)!.bands[0]).toMatchObject({ rate: 30_000, burstSize: 15_000 });
    expect(sw.meters.has(INGRESS_BASE + 11)).toBe(false);

    delete net.ports.get('p1')!.port.qos;
    computer.markDirty('n1');
    computer.flush();
    await fm.sync();
    expect(sw.meters.has(11)).toBe(false);
    expect([...sw.flows.values()].filter((f) => f.instructions.some((i) => i.type === 'meter'))).toHaveLength(1); // vm2's

    // The port leaves (VIF unplugged): its meter goes with its flows.
    view.unplugVif('vm2');
    computer.markDirty('n1');
    computer.flush();
    await fm.sync();
    expect(sw.meters.size).toBe(0);
  }, 10_000);

  it('pipelines/ meter ranges: per owner, aligned, within the switch limit; an app uses only its own', () => {
    expect(() => tables.forApp('l2').meterId('port_ingress', 1)).toThrow(/owned by classifier/);
    expect(() => tables.forApp('l2').meterId('port_egress', 0)).toThrow(/outside/);
    expect(tables.forApp('l2').meterId('port_egress', 0xfeff)).toBe(0xfeff);
    const doc = (meters: string) =>
      `tables: [{ id: 0, name: t, owner: a, miss: drop }]\ncookies: { apps: { pipeline: 1, a: 2 } }\nmeters:\n${meters}`;
    expect(parsePipeline(doc('  x: { base: 65536, owner: a }')).meters.x).toMatchObject({ base: 65536, owner: 'a' });
    expect(() => parsePipeline(doc('  x: { base: 100, owner: a }'))).toThrow(/multiple of 65536/);
    expect(() => parsePipeline(doc('  x: { base: 262144, owner: a }'))).toThrow(/limit/);
    expect(() => parsePipeline(doc('  x: { base: 0, owner: b }'))).toThrow(/owner/);
    expect(() => parsePipeline(doc('  x: { base: 0, owner: a }\n  y: { base: 0, owner: a }'))).toThrow(/share base/);
  });
});
