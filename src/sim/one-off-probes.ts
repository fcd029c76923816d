/**
 * The run's one-off probes, after the churn and in this order: a router changes (who hears of it, at what event
 * cost), a chassis dies (how soon the chassis holding its record withdraw it, and what that costs them), and a
 * fresh chassis joins (how long until it is synced and its VIFs bound). Apart from the churn because each is a
 * single measured event, not a rate; together because each is short and they share the fleet and its probes.
 */
import { performance } from 'node:perf_hooks';
import type { Topology } from '../model/repo.js';
import { summary } from './probes.js';
import type { Fleet, RunContext } from './run-context.js';
import type { ScaleResult } from './scale-types.js';
import { eventsOf, settle, sleep } from './settle.js';
import type { SimChassis } from './sim-chassis.js';
import { pool, subnetCidr } from './workload.js';

/** A router changes: who hears of it. The first router of the plan; its block is in shard 0. */
export async function probeRouterChange(
  { o, plan, log, barrier }: RunContext,
  { chassis, probes }: Fleet,
  topo: Topology,
): Promise<ScaleResult['routerChange']> {
  const events = () => eventsOf(chassis);
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
  return routerChange;
}

/** A chassis dies (its process and its store connection gone: keep-alives stop, the lease lapses on its TTL). */
export async function probeDeath(
  { o, ttl, log, barrier }: RunContext,
  { chassis, size, probes, victimStore }: Fleet,
): Promise<ScaleResult['death']> {
  const events = () => eventsOf(chassis);
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
  return death;
}

/**
 * A fresh chassis joins, hosting ports of the networks the dead one hosted. Returns the joined chassis too: the run
 * stops it with the others.
 */
export async function probeJoin(
  { o, plan, barrier }: RunContext,
  { chassis, hi, stores, make }: Fleet,
  topo: Topology,
): Promise<{ join: ScaleResult['join']; joiner: SimChassis }> {
  const others = chassis.slice(0, -1);
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
  return { join, joiner };
}
