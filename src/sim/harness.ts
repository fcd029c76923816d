/**
 * The scale harness: N simulated chassis (the agent's own core, src/sim/sim-chassis.ts) against one store, a
 * workload (src/sim/workload.ts), then churn — port creations and deletions at a steady rate, VM migrations, a
 * chassis dying and a fresh one joining — with every convergence measured on the chassis that care.
 */
import { monitorEventLoopDelay, performance, PerformanceObserver } from 'node:perf_hooks';
import { Topology } from '../model/repo.js';
import { netPrefix } from '../model/keys.js';
import { loadPipeline } from '../pipeline/pipeline.js';
import { PipelineTables } from '../pipeline/tables.js';
import { diskBetween, sampleAll, watchSlowDisk } from './etcd-metrics.js';
import { summary, type Convergence, type Probes } from './probes.js';
import { bringUp, writeTopology } from './bring-up.js';
import type { RunContext } from './run-context.js';
import type { HarnessOptions, ScaleResult } from './scale-types.js';
import { settle, sleep } from './settle.js';
import type { ChassisFootprint, SimChassis } from './sim-chassis.js';
import { planWorkload, pool, subnetCidr } from './workload.js';

export type { HarnessOptions, ScaleResult } from './scale-types.js';
export { settle } from './settle.js';

const SLOW_OP_MS = 300;

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
  const { chassis, lo, hi, size, probes, stores, victimStore, make } = up.fleet;
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
  const creates: number[] = [];
  const createApi: number[] = [];
  const deletes: number[] = [];
  const migrations: number[] = [];
  const missed = { create: 0, delete: 0, migrate: 0 };
  let interestedCreate = 0;
  let interestedMigrate = 0;
  const made: { name: string; network: string; host: SimChassis }[] = [];
  const watching = (net: string) => chassis.filter((c) => c.subscription.prefixes().includes(netPrefix(netId(c, net) ?? '\0')));
  const events = () => chassis.reduce((s, c) => s + c.events, 0);
  const rev0 = await o.store.currentRevision();
  const ev0 = events();
  const snaps = () => chassis.reduce((s, c) => s + c.snapshotKeys, 0);
  const snap0 = snaps();
  const bytes = () => chassis.reduce((s, c) => s + c.eventBytes, 0);
  const bytes0 = bytes();
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  const gc = { max: 0, total: 0 };
  const gcObs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      gc.max = Math.max(gc.max, e.duration);
      gc.total += e.duration;
    }
  });
  gcObs.observe({ entryTypes: ['gc'] });
  await barrier('churn');
  const cpu0 = process.cpuUsage();
  const churn0 = await sample();
  const churnT0 = performance.now();
  const slowOps: ScaleResult['churn']['slowOps'] = [];
  const slowOp = (kind: string, name: string, t0: number, ms: number) => {
    if (ms > SLOW_OP_MS) slowOps.push({ kind, name, atMs: t0 - churnT0, ms });
  };
  const diskWatch = churn0 && watchSlowDisk(sample, churn0);
  const rate = o.churnRate ?? 10;
  const total = Math.round((o.churnSeconds ?? 20) * rate);
  let serial = 0;
  const inflight: Promise<void>[] = [];
  for (let k = 0; k < total; k++) {
    const kind = ['create', 'create', 'delete', 'migrate', 'create', 'delete', 'migrate', 'create', 'delete', 'migrate'][k % 10]!;
    inflight.push(
      (async () => {
        if (kind === 'create' || made.length === 0) {
          const hx = lo + ((k * 7919) % size);
          const host = chassis[hx - lo]!;
          if (host === chassis[size - 1]) return;
          const network = plan.networksOf(hx)[k % plan.netsPerChassis]!;
          const name = `c${o.shard ? `${o.shard.index}-` : ''}${serial++}`;
          const id = netIdByName(chassis, network);
          const who = watching(network);
          interestedCreate += who.length;
          const t0 = performance.now();
          const conv = waitPort(probes, who, id, name, host.name, t0);
          const p = await topo.createPort({ name, network });
          createApi.push(performance.now() - t0);
          await host.plug(name);
          const r = await conv(p.id);
          if (r.missed) {
            missed.create++;
            log(`creation of ${name} on ${host.name} not seen by ${r.missedNames.join(', ')}`);
          } else {
            creates.push(r.max);
            slowOp('create', name, t0, r.max);
          }
          made.push({ name, network, host });
        } else if (kind === 'delete') {
          const victim = made.shift()!;
          const id = netIdByName(chassis, victim.network);
          const who = watching(victim.network);
          const t0 = performance.now();
          const port = chassis.find((c) => c === victim.host)!.view.networks.get(id!)?.ports;
          const portId = [...(port?.values() ?? [])].find((ps) => ps.port.name === victim.name)?.port.id;
          const gone = probes.wait(who, (c) => !c.view.networks.get(id!)?.ports.has(portId!), t0);
          await victim.host.unplug(victim.name);
          await topo.deletePort(victim.name);
          const r = await gone;
          if (r.missed) missed.delete++;
          else {
            deletes.push(r.max);
            slowOp('delete', victim.name, t0, r.max);
          }
        } else {
          const m = made.shift()!;
          const from = m.host;
          // Any other live chassis but the one that will die (offsets 1 … C-2 never land on `from`).
          const to = chassis[(chassis.indexOf(from) + 1 + ((k * 31) % (size - 2))) % (size - 1)]!;
          const id = netIdByName(chassis, m.network)!;
          const portId = [...(from.view.networks.get(id)?.ports.values() ?? [])].find((ps) => ps.port.name === m.name)?.port.id;
          const who = new Set([...watching(m.network), to]);
          interestedMigrate += who.size;
          const t0 = performance.now();
          // Reachable again: every chassis still watching the network sees the port on its new host.
          const conv = probes.wait(
            who,
            (c) =>
              (c === from && !c.subscription.prefixes().includes(netPrefix(id))) ||
              c.view.networks.get(id)?.ports.get(portId!)?.binding?.chassis === to.name,
            t0,
          );
          await from.unplug(m.name);
          await to.plug(m.name);
          const r = await conv;
          if (r.missed) {
            missed.migrate++;
            const views = r.missedNames.map((n) => {
              const c = chassis.find((x) => x.name === n)!;
              const ps = c.view.networks.get(id)?.ports.get(portId!);
              return `${n}: watching ${c.subscription.prefixes().includes(netPrefix(id))}, port ${ps ? 'in view' : 'absent'}, bound to ${ps?.binding?.chassis}`;
            });
            log(`migration of ${m.name} ${from.name} → ${to.name} not seen by ${views.join('; ')}`);
          } else {
            migrations.push(r.max);
            slowOp('migrate', m.name, t0, r.max);
          }
          made.push({ ...m, host: to });
        }
      })().catch((err) => log(`churn op failed: ${(err as Error).message}`)),
    );
    await sleep(1000 / rate);
  }
  await Promise.all(inflight);
  const churnSecs = (performance.now() - churnT0) / 1000;
  const slowDisk = (await diskWatch?.stop()) ?? [];
  loop.disable();
  gcObs.disconnect();
  const cpu1 = process.cpuUsage(cpu0);
  const snap1 = snaps();
  const bytes1 = bytes();
  const churn1 = await sample();
  const rev1 = await o.store.currentRevision();
  const ev1 = events();
  await settle(chassis);

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
      revisions: rev1 - rev0,
      eventsDelivered: ev1 - ev0,
      eventsPerRevision: (ev1 - ev0) / Math.max(1, rev1 - rev0),
      interestedPerChange: (interestedCreate + interestedMigrate) / Math.max(1, nCreate + migrations.length + missed.migrate),
      eventBytesPerRevision: (bytes1 - bytes0) / Math.max(1, rev1 - rev0),
      snapshotKeys: snap1 - snap0,
      simCpuPercent: (100 * (cpu1.user + cpu1.system)) / 1e6 / churnSecs,
      loopDelayP99Ms: loop.percentile(99) / 1e6,
      gcMaxMs: gc.max,
      gcTotalMs: gc.total,
      slowOps,
    },
  };
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

/** Network id of a network name, from any chassis's view that has it. */
function netIdByName(chassis: SimChassis[], name: string): string | undefined {
  for (const c of chassis) {
    const id = netId(c, name);
    if (id) return id;
  }
  return undefined;
}

function netId(c: SimChassis, name: string): string | undefined {
  for (const n of c.view.networks.values()) if (n.network.name === name) return n.network.id;
  return undefined;
}

/** A new port is reachable on every interested chassis: in its view, bound to its host (the flows follow). */
function waitPort(probes: Probes, who: SimChassis[], networkId: string | undefined, name: string, host: string, t0: number) {
  let resolveId: (id: string) => void;
  const idP = new Promise<string>((r) => (resolveId = r));
  const conv = idP.then((portId) =>
    probes.wait(who, (c) => c.view.networks.get(networkId!)?.ports.get(portId)?.binding?.chassis === host, t0),
  );
  return (portId: string): Promise<Convergence> => {
    resolveId(portId);
    return conv;
  };
}
