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
import { FlowManager } from '../src/flows/manager.js';
import { bigHost, nullSwitch } from './lib/big-host.js';
import { p50 } from './lib/stats.js';

const PORTS = Number(process.env.PORTS ?? 1000);
const BATCHES = (process.env.BATCHES ?? '1,10,100').split(',').map(Number);
const ROUNDS = Number(process.env.ROUNDS ?? 3);

interface Run {
  cpuMs: number;
  syncs: number;
  messages: number;
}

/** A host with PORTS ports on one network; `batch` 0 binds them all before the first computation. */
async function run(batch: number): Promise<Run> {
  let messages = 0;
  const sw = nullSwitch((msgs) => (messages += msgs.length));
  const { tables, view, plug } = bigHost();
  const fm = new FlowManager(sw);
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

async function main(): Promise<void> {
  await run(10); // warm-up: compiled code for every path
  const full: Run[] = [];
  const bursts = new Map<number, Run[]>(BATCHES.map((b) => [b, []]));
  // Alternated, so a slow minute on the shared machine touches the reference and the bursts alike.
  for (let r = 0; r < ROUNDS; r++) {
    full.push(await run(0));
    for (const b of BATCHES) bursts.get(b)!.push(await run(b));
  }
  const ref = p50(full.map((x) => x.cpuMs));
  console.log(`full_compute_cpu_ms ${ref.toFixed(0)} ms (${PORTS} ports at once: the reference)`);
  for (const [b, rs] of bursts) {
    const cpu = p50(rs.map((x) => x.cpuMs));
    console.log(
      `burst_batch${b}_cpu_ms ${cpu.toFixed(0)} ms (${(cpu / ref).toFixed(1)}x the reference; ${rs[0]!.syncs} syncs, ${rs[0]!.messages} messages)`,
    );
  }
}

await main();
