/**
 * scripts/bench flow-memory — live heap of the agent's flow state per bound port, in process (no OVS, no store):
 * PORTS local ports on one network (the 1,000-port host of bench:agent: same addresses, DHCP, port security), every
 * app computed, the flows applied through the flow manager to a switch that keeps nothing, recomputed once more (as
 * after any change: unchanged flows must not be held twice), then a full GC. Prints the heap growth over the same
 * setup with no port, per port and per flow. Issue 17's target is ≤ 20 MB of RSS per 1,000 ports; this is the part
 * of it the flow state is (the rest: topology documents, the store and OVSDB caches, V8's slack).
 *
 * Environment: PORTS (1000), SNAP=path to also write a heap snapshot (for a breakdown by holder).
 */
import { setFlagsFromString, writeHeapSnapshot } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { FlowComputer } from '../src/agent/compute.js';
import { APPS } from '../src/apps/index.js';
import type { FlowChannel } from '../src/flows/types.js';
import { FlowManager } from '../src/flows/manager.js';
import { loadPipeline } from '../src/pipeline/pipeline.js';
import { PipelineTables } from '../src/pipeline/tables.js';
import { TopologyView, type NetworkState } from '../src/view/topology-view.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const PORTS = Number(process.env.PORTS ?? 1000);

const nullSwitch: FlowChannel = {
  isUp: true,
  bundle: async () => undefined,
  dumpFlows: async () => [],
  multipart: async () => [],
  sendChecked: async () => undefined,
  send: async () => undefined,
  barrier: async () => undefined,
  on: () => undefined,
  off: () => undefined,
};

function heapUsed(): number {
  for (let i = 0; i < 4; i++) gc();
  return process.memoryUsage().heapUsed;
}

const hex = (n: number) => n.toString(16).padStart(2, '0');

async function main(): Promise<void> {
  const tables = new PipelineTables(loadPipeline());
  const view = new TopologyView('hv1', 'geneve');
  view.tunnelOfport = 100;
  ['hv1', 'hv2', 'hv3'].forEach((c, i) =>
    view.chassis.set(c, { name: c, tunnelIp: `172.31.0.${i + 1}`, encaps: ['geneve'], version: 't' }),
  );
  const net: NetworkState = {
    network: { id: 'n1', name: 'big', tunnelKey: 1, mtu: 1450 },
    subnets: new Map([
      [
        's1',
        {
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
        },
      ],
    ]),
    ports: new Map(),
  };
  view.networks.set('n1', net);
  for (let k = 0; k < PORTS; k++) {
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
  }
  const fm = new FlowManager(nullSwitch);
  const computer = new FlowComputer(tables, APPS, view, fm);
  const before = heapUsed();
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  computer.markAllDirty();
  computer.flush();
  await fm.activate();
  await fm.sync();
  const tFirst = performance.now() - t0;
  const c1 = process.cpuUsage(c0);
  computer.markAllDirty();
  computer.flush();
  await fm.sync();
  const grown = heapUsed() - before;
  const flows = fm.installedCount();
  console.log(`flow_state_mb ${(grown / 1e6).toFixed(2)} MB (${PORTS} ports, ${flows} flows)`);
  console.log(`flow_state_bytes_per_port ${Math.round(grown / Math.max(1, PORTS))} B`);
  console.log(`flow_state_bytes_per_flow ${Math.round(grown / Math.max(1, flows))} B`);
  // CPU as well as wall time: the machine is shared, the CPU time is the steadier figure.
  console.log(`first_compute_and_apply_ms ${tFirst.toFixed(0)} ms (CPU ${((c1.user + c1.system) / 1000).toFixed(0)} ms)`);
  if (process.env.SNAP) writeHeapSnapshot(process.env.SNAP);
  // Kept alive up to here: the measurement is of what they hold.
  if (computer.compare().equal !== true) throw new Error('incremental != full recompute');
}

await main();
