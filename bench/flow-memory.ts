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
import { FlowManager } from '../src/flows/manager.js';
import { bigHost, nullSwitch } from './lib/big-host.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const PORTS = Number(process.env.PORTS ?? 1000);

function heapUsed(): number {
  for (let i = 0; i < 4; i++) gc();
  return process.memoryUsage().heapUsed;
}

async function main(): Promise<void> {
  const { tables, view, plug } = bigHost();
  for (let k = 0; k < PORTS; k++) plug(k);
  const fm = new FlowManager(nullSwitch());
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
