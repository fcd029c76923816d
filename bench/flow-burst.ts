/**
 * scripts/bench flow-burst — the flow side of binding PORTS ports one batch at a time, in process (no OVS, no store):
 * each batch is plugged into the view, marked dirty as the agent marks it, recomputed and synced to a switch that
 * keeps nothing. Batch 1 is ports arriving one after another with a sync between each (VMs started one by one);
 * bench:agent's 1,000 ports arrive 100 per OVSDB update and the real agent syncs only ~5 times for all of them. Reference, same run: one full computation of
 * the same ports at once (what a restart does). The ratio says how far incremental binding is from "each port
 * costs its share of one computation"; before the flow manager diffed only changed keys, every sync walked every
 * flow, and the flood flows (an output per local port) are rebuilt at each batch, so small batches cost O(ports²).
 *
 * Environment: PORTS (1000), BATCHES (1,10,100: ports per batch), ROUNDS (3: each figure is the median).
 */
import { FlowComputer } from '../src/agent/compute.js';
import { APPS } from '../src/apps/index.js';
import type { OfMessage } from '../src/openflow/index.js';
import type { FlowChannel } from '../src/flows/types.js';
import { FlowManager } from '../src/flows/manager.js';
import { loadPipeline } from '../src/pipeline/pipeline.js';
import { PipelineTables } from '../src/pipeline/tables.js';
import { TopologyView, type NetworkState } from '../src/view/topology-view.js';

const PORTS = Number(process.env.PORTS ?? 1000);
const BATCHES = (process.env.BATCHES ?? '1,10,100').split(',').map(Number);
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const hex = (n: number) => n.toString(16).padStart(2, '0');

interface Run {
  cpuMs: number;
  syncs: number;
  messages: number;
}

/** A host with PORTS ports on one network; `batch` 0 binds them all before the first computation. */
async function run(batch: number): Promise<Run> {
  let messages = 0;
  const nullSwitch: FlowChannel = {
    isUp: true,
    bundle: async (msgs: OfMessage[]) => {
      messages += msgs.length;
    },
    dumpFlows: async () => [],
    multipart: async () => [],
    sendChecked: async () => undefined,
    send: async () => undefined,
    barrier: async () => undefined,
    on: () => undefined,
    off: () => undefined,
  } as unknown as FlowChannel;
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
  const fm = new FlowManager(nullSwitch);
  const computer = new FlowComputer(tables, APPS, view, fm);
  if (batch === 0) for (let k = 0; k < PORTS; k++) plug(k);
  const c0 = process.cpuUsage();
  computer.markAllDirty();
  computer.flush();
  await fm.activate();
  for (let k0 = 0; batch > 0 && k0 < PORTS; k0 += batch) {
    const ids: string[] = [];
    for (let k = k0; k < Math.min(PORTS, k0 + batch); k++) ids.push(plug(k));
    computer.markPortsDirty('n1', ids);
    computer.flush();
    await fm.sync();
  }
  const c1 = process.cpuUsage(c0);
  if (fm.installedCount() < PORTS * 10) throw new Error(`only ${fm.installedCount()} flows installed`);
  if (computer.compare().equal !== true) throw new Error('incremental != full recompute');
  return { cpuMs: (c1.user + c1.system) / 1000, syncs: fm.stats.syncs, messages };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  await run(10); // warm-up: compiled code for every path
  const full: Run[] = [];
  const bursts = new Map<number, Run[]>(BATCHES.map((b) => [b, []]));
  // Alternated, so a slow minute on the shared machine touches the reference and the bursts alike.
  for (let r = 0; r < ROUNDS; r++) {
    full.push(await run(0));
    for (const b of BATCHES) bursts.get(b)!.push(await run(b));
  }
  const ref = median(full.map((x) => x.cpuMs));
  console.log(`full_compute_cpu_ms ${ref.toFixed(0)} ms (${PORTS} ports at once: the reference)`);
  for (const [b, rs] of bursts) {
    const cpu = median(rs.map((x) => x.cpuMs));
    console.log(
      `burst_batch${b}_cpu_ms ${cpu.toFixed(0)} ms (${(cpu / ref).toFixed(1)}x the reference; ${rs[0]!.syncs} syncs, ${rs[0]!.messages} messages)`,
    );
  }
}

await main();
