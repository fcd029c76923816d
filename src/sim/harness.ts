/**
 * The scale harness: N simulated chassis (the agent's own core, src/sim/sim-chassis.ts) against one store, a
 * workload (src/sim/workload.ts), then churn — port creations and deletions at a steady rate, VM migrations, a
 * chassis dying and a fresh one joining — with every convergence measured on the chassis that care.
 */
import { Topology } from '../model/repo.js';
import { loadPipeline } from '../pipeline/pipeline.js';
import { PipelineTables } from '../pipeline/tables.js';
import { diskBetween, sampleAll } from './etcd-metrics.js';
import { summary } from './probes.js';
import { bringUp, writeTopology } from './bring-up.js';
import type { RunContext } from './run-context.js';
import type { HarnessOptions, ScaleResult } from './scale-types.js';
import { sleep } from './settle.js';
import { runChurn } from './churn.js';
import { probeDeath, probeJoin, probeRouterChange } from './one-off-probes.js';
import type { ChassisFootprint } from './sim-chassis.js';
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
  const { chassis, stores } = up.fleet;
  const { footprints, memory } = up;
  const { startSeconds, bindSeconds, settleSeconds } = up.bringUp;
  const barrier = run.barrier;

  // Idle: what leases, health probes and watches cost etcd with nothing changing.
  await barrier('idle');
  const idle0 = await sample();
  await sleep((o.idleSeconds ?? 5) * 1000);
  const idle1 = await sample();

  // Churn.
  const topo = new Topology(o.store, { maxAttempts: 1000 });
  const churn = await runChurn(run, up.fleet, topo);
  const { creates, createApi, deletes, migrations, missed, interestedCreate, interestedMigrate, ops: total } = churn;
  const m = churn.measures;

  const routerChange = await probeRouterChange(run, up.fleet, topo);
  const death = await probeDeath(run, up.fleet);
  const { join, joiner } = await probeJoin(run, up.fleet, topo);
  const others = chassis.slice(0, -1);
  await barrier('end');
  const end = await sample();

  const agg = {} as ScaleResult['footprint'];
  for (const k of Object.keys(footprints[0]!) as (keyof ChassisFootprint)[]) {
    const xs = footprints.map((f) => f[k]).sort((a, b) => a - b);
    agg[k] = { min: xs[0]!, p50: xs[Math.floor(xs.length / 2)]!, max: xs[xs.length - 1]! };
  }
  const nCreate = creates.length + missed.create;
  const result: ScaleResult = {
    chassis: plan.chassis,
    networks: plan.networks.length,
    ports: plan.ports.length,
    routers: plan.routers.size,
    build,
    bringUp: { startSeconds, bindSeconds, settleSeconds },
    footprint: agg,
    chassis0: footprints[0]!,
    memory,
    create: {
      ...summary(creates),
      missed: missed.create,
      interested: interestedCreate / Math.max(1, nCreate),
      apiP50: summary(createApi).p50,
    },
    deleted: { ...summary(deletes), missed: missed.delete },
    migrate: {
      ...summary(migrations),
      missed: missed.migrate,
      interested: interestedMigrate / Math.max(1, migrations.length + missed.migrate),
    },
    death,
    join,
    routerChange,
    raw: { create: creates, deleted: deletes, migrate: migrations, footprints, interestedCreate, interestedMigrate },
    shards: 1,
    churn: {
      ops: total,
      revisions: m.revisions,
      eventsDelivered: m.eventsDelivered,
      eventsPerRevision: m.eventsDelivered / Math.max(1, m.revisions),
      interestedPerChange: (interestedCreate + interestedMigrate) / Math.max(1, nCreate + migrations.length + missed.migrate),
      eventBytesPerRevision: m.eventBytes / Math.max(1, m.revisions),
      snapshotKeys: m.snapshotKeys,
      simCpuPercent: (100 * (m.cpu.user + m.cpu.system)) / 1e6 / m.seconds,
      loopDelayP99Ms: m.loopDelayP99Ms,
      gcMaxMs: m.gcMaxMs,
      gcTotalMs: m.gcTotalMs,
      slowOps: m.slowOps,
    },
  };
  const [churn0, churn1, churnSecs, slowDisk] = [m.etcd0, m.etcd1, m.seconds, m.slowDisk];
  if (idle0 && idle1 && churn0 && churn1 && end) {
    const idleS = (idle1.at - idle0.at) / 1000;
    const churnS = (churn1.at - churn0.at) / 1000;
    const idleBps = (idle1.sentBytes - idle0.sentBytes) / idleS;
    const changes = churn1.revision - churn0.revision;
    result.etcd = {
      idle: {
        cpuPercent: (100 * (idle1.cpuSeconds - idle0.cpuSeconds)) / idleS,
        sentBytesPerSecond: idleBps,
        snapshots: idle1.snapshots - idle0.snapshots,
      },
      churn: {
        cpuPercent: (100 * (churn1.cpuSeconds - churn0.cpuSeconds)) / churnS,
        sentBytesPerSecond: (churn1.sentBytes - churn0.sentBytes) / churnS,
        bytesPerChange: (churn1.sentBytes - churn0.sentBytes - idleBps * churnS) / Math.max(1, changes),
        revisionsPerSecond: changes / churnSecs,
        disk: diskBetween(churn0, churn1),
      },
      end,
      slowDisk,
    };
  }
  for (const c of [...others, joiner]) await c.stop();
  for (const s of stores) await s.close();
  return result;
}
