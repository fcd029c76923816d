/**
 * The scale harness: N simulated chassis (the agent's own core, src/sim/sim-chassis.ts) against one store, a
 * workload (src/sim/workload.ts), then churn — port creations and deletions at a steady rate, VM migrations, a
 * chassis dying and a fresh one joining — with every convergence measured on the chassis that care.
 */
import { performance } from 'node:perf_hooks';
import { Topology } from '../model/repo.js';
import { loadPipeline } from '../pipeline/pipeline.js';
import { PipelineTables } from '../pipeline/tables.js';
import { diskBetween, sampleAll } from './etcd-metrics.js';
import { summary } from './probes.js';
import { bringUp, writeTopology } from './bring-up.js';
import type { RunContext } from './run-context.js';
import type { HarnessOptions, ScaleResult } from './scale-types.js';
import { eventsOf, settle, sleep } from './settle.js';
import { runChurn } from './churn.js';
import type { ChassisFootprint } from './sim-chassis.js';
import { planWorkload, pool, subnetCidr } from './workload.js';

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
  const { chassis, hi, size, probes, stores, victimStore, make } = up.fleet;
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
  const events = () => eventsOf(chassis);

  // A router changes: who hears of it. The first router of the plan; its block is in shard 0.
  await barrier('router');
  const routerChange = { holders: 0, eventsDelivered: 0, seenMaxMs: 0, missed: 0 };
  const [rName, rNets] = [...plan.routers][0] ?? [];
  const rId =
    rName === undefined ? undefined : chassis.map((c) => [...c.view.routers.values()].find((r) => r.name === rName)).find(Boolean)?.id;
  const evR0 = events();
  if (!o.shard || o.shard.index === 0) {
    if (rName !== undefined && rId !== undefined && rNets) {
      const holders = chassis.filter((c) => c.view.routers.has(rId));
      const tR = performance.now();
      const seen = probes.wait(holders, (c) => (c.view.routers.get(rId)?.routes.length ?? 0) > 0, tR);
      const first = subnetCidr(plan.networks.indexOf(rNets[0]!));
      await topo.addRoute(rName, { cidr: '192.168.0.0/16', nexthop: first.replace(/\.0\/24$/, '.250') });
      const r = await seen;
      Object.assign(routerChange, { holders: holders.length, seenMaxMs: r.max, missed: r.missed });
    }
  }
  await settle(chassis);
  await barrier('router-settled');
  routerChange.eventsDelivered = events() - evR0;
  log(
    `router change: seen by its ${routerChange.holders} holders in ${routerChange.seenMaxMs.toFixed(0)} ms, ${routerChange.eventsDelivered} events`,
  );

  // A chassis dies (its process and its store connection gone: keep-alives stop, the lease lapses on its TTL).
  await barrier('death');
  const victim = chassis[size - 1]!;
  const others = chassis.slice(0, -1);
  const evD0 = events();
  let keyDeletedAt = NaN;
  // From a known revision: a watch "from now" may attach after the lease lapsed.
  const keyWatch = o.store.watch(`/wyvern/v1/chassis/${victim.name}`, (await o.store.currentRevision()) + 1, {
    onBatch: (b) => {
      if (b.events.some((e) => e.type === 'delete')) keyDeletedAt = performance.now();
    },
  });
  await sleep(300);
  const tDie = performance.now();
  // Lazy chassis watching: only the chassis whose view names the victim (its networks' peers) hold its record.
  const holders = others.filter((c) => c.view.chassis.has(victim.name));
  const withdrawn = probes.wait(holders, (c) => !c.view.chassis.has(victim.name), tDie, (ttl + 30) * 1000);
  await victim.stop();
  await victimStore.close();
  const dead = await withdrawn;
  // The holders' watches may hear the deletion before this measuring watch does: wait for it (bounded), never read
  // its time as NaN.
  for (let t = 0; Number.isNaN(keyDeletedAt) && t < 5_000; t += 10) await sleep(10);
  await keyWatch.cancel();
  const evD1 = events();
  const deathFlushes = others.flatMap((c) => c.flushMs.filter((_, i) => c.flushAt[i]! >= tDie));
  const death = {
    fromCrashMs: dead.max,
    fromKeyDeleteMs: dead.max - (keyDeletedAt - tDie),
    withdrawnP50: summary(dead.each).p50 - (keyDeletedAt - tDie),
    withdrawnMax: dead.max - (keyDeletedAt - tDie),
    missed: dead.missed,
    holders: holders.length,
    eventsDelivered: evD1 - evD0,
    recomputeP50Ms: summary(deathFlushes).p50,
    recomputeMaxMs: summary(deathFlushes).max,
    recomputeSumMs: deathFlushes.reduce((a, b) => a + b, 0),
  };
  log(`chassis death: withdrawn everywhere ${death.fromKeyDeleteMs.toFixed(0)} ms after its key lapsed`);

  // A fresh chassis joins, hosting ports of the networks the dead one hosted.
  await barrier('join');
  const ji = hi - 1;
  const joinPorts = Array.from({ length: 20 }, (_, j) => ({ name: `j${ji}-${j}`, network: plan.networksOf(ji)[j % plan.netsPerChassis]! }));
  await pool(joinPorts, 8, async (p) => void (await topo.createPort(p)));
  await settle(others);
  const joiner = make(plan.chassis + (o.shard?.index ?? 0), stores[stores.length - 1]!);
  const tJ = performance.now();
  await joiner.start();
  const startToSyncedMs = performance.now() - tJ;
  await Promise.all(joinPorts.map((p) => joiner.plug(p.name)));
  await joiner.flows.whenApplied(joiner.flows.desiredVersion);
  const startToBoundMs = performance.now() - tJ;
  await settle([...others, joiner]);
  const join = { startToSyncedMs, startToBoundMs, stages: joiner.startStages, footprint: joiner.footprint() };
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
