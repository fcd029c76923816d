/**
 * The run's result assembled from what each phase measured: counts of the plan, bring-up times, footprints (min,
 * p50, max over the chassis), the churn's convergence summaries and costs, the one-off probes and etcd's figures.
 * Apart from the phases so that each of them returns raw measures and the arithmetic of the report is in one place.
 */
import type { BroughtUp } from './bring-up.js';
import type { ChurnOutcome } from './churn.js';
import { summary } from './probes.js';
import type { ScaleResult } from './scale-types.js';
import type { ChassisFootprint } from './sim-chassis.js';
import type { Plan } from './workload.js';

export interface RunOutcome {
  plan: Plan;
  build: ScaleResult['build'];
  up: BroughtUp;
  churn: ChurnOutcome;
  routerChange: ScaleResult['routerChange'];
  death: ScaleResult['death'];
  join: ScaleResult['join'];
  /** Undefined when etcd was not sampled: the result then has no `etcd`. */
  etcd: ScaleResult['etcd'];
}

export function assembleResult({ plan, build, up, churn, routerChange, death, join, etcd }: RunOutcome): ScaleResult {
  const { footprints, memory } = up;
  const { creates, createApi, deletes, migrations, missed, interestedCreate, interestedMigrate, ops: total } = churn;
  const m = churn.measures;
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
    bringUp: up.bringUp,
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
      loopDelayMaxMs: m.loopDelayMaxMs,
      stalls: m.stalls,
      gcMaxMs: m.gcMaxMs,
      gcTotalMs: m.gcTotalMs,
      slowOps: m.slowOps,
    },
  };
  if (etcd) result.etcd = etcd;
  return result;
}
