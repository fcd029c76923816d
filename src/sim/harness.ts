/**
 * The scale harness: N simulated chassis (the agent's own core, src/sim/sim-chassis.ts) against one store, a
 * workload (src/sim/workload.ts), then churn — port creations and deletions at a steady rate, VM migrations, a
 * chassis dying and a fresh one joining — with every convergence measured on the chassis that care.
 *
 * runScale is the sequence of phases; each phase is a module of its own: bring-up.ts (topology and chassis),
 * etcd-windows.ts (the idle window and etcd's figures), churn.ts with churn-meter.ts, one-off-probes.ts (router
 * change, chassis death, fresh chassis) and report.ts (the result).
 */
import { Topology } from '../model/repo.js';
import { loadPipeline } from '../pipeline/pipeline.js';
import { PipelineTables } from '../pipeline/tables.js';
import { bringUp, writeTopology } from './bring-up.js';
import { runChurn } from './churn.js';
import { sampleAll } from './etcd-metrics.js';
import { etcdFigures, measureIdle } from './etcd-windows.js';
import { probeDeath, probeJoin, probeRouterChange } from './one-off-probes.js';
import { assembleResult } from './report.js';
import type { RunContext } from './run-context.js';
import type { HarnessOptions, ScaleResult } from './scale-types.js';
import { planWorkload } from './workload.js';

export type { HarnessOptions, ScaleResult } from './scale-types.js';
export { settle } from './settle.js';

export async function runScale(o: HarnessOptions): Promise<ScaleResult> {
  const log = o.log ?? (() => undefined);
  const plan = planWorkload(o);
  const ttl = o.leaseTtlSeconds ?? 10;
  const tables = new PipelineTables(loadPipeline());
  const sample = async () => (o.etcdUrls?.length ? sampleAll(o.etcdUrls) : undefined);
  log(`workload: ${plan.chassis} chassis, ${plan.networks.length} networks, ${plan.ports.length} ports, ${plan.routers.size} routers`);
  const run: RunContext = { o, plan, ttl, tables, log, sample, barrier: o.shard?.barrier ?? (async () => undefined) };

  const build = await writeTopology(run);
  const up = await bringUp(run);
  const idle = await measureIdle(run);
  const topo = new Topology(o.store, { maxAttempts: 1000 });
  const churn = await runChurn(run, up.fleet, topo);
  const routerChange = await probeRouterChange(run, up.fleet, topo);
  const death = await probeDeath(run, up.fleet);
  const { join, joiner } = await probeJoin(run, up.fleet, topo);
  await run.barrier('end');
  const end = await sample();

  const etcd = etcdFigures(idle, churn.measures, end);
  const result = assembleResult({ plan, build, up, churn, routerChange, death, join, etcd });
  for (const c of [...up.fleet.chassis.slice(0, -1), joiner]) await c.stop();
  for (const s of up.fleet.stores) await s.close();
  return result;
}
