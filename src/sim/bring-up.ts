/**
 * Bring-up: the topology written to the store, then this process's simulated chassis made, started, their VIFs
 * bound and the cluster settled, with how long each took and what the chassis hold once quiet. Apart from the
 * harness because it is the one phase that creates what every later phase works on (the fleet).
 */
import { performance } from 'node:perf_hooks';
import type { Store } from '../store/types.js';
import { Probes } from './probes.js';
import type { Fleet, RunContext } from './run-context.js';
import type { ScaleResult } from './scale-types.js';
import { settle } from './settle.js';
import { SimChassis, type ChassisFootprint } from './sim-chassis.js';
import { buildTopology, pool } from './workload.js';

export interface BroughtUp {
  fleet: Fleet;
  bringUp: ScaleResult['bringUp'];
  /** Every chassis's footprint once settled. */
  footprints: ChassisFootprint[];
  memory: ScaleResult['memory'];
}

export async function writeTopology({ o, plan, log }: RunContext): Promise<ScaleResult['build']> {
  const t = performance.now();
  // A shard's topology was written by its parent, once for all shards.
  const built = o.shard ? { portsPerSecond: NaN } : await buildTopology(o.store, plan);
  const build = { seconds: (performance.now() - t) / 1000, portsPerSecond: built.portsPerSecond };
  if (!o.shard) log(`topology written in ${build.seconds.toFixed(1)} s (ports ${built.portsPerSecond.toFixed(0)}/s)`);
  return build;
}

export async function bringUp({ o, plan, ttl, tables, log, barrier }: RunContext): Promise<BroughtUp> {
  const lo = o.shard?.from ?? 0;
  const hi = o.shard?.to ?? plan.chassis;
  const size = hi - lo;
  let t: number;
  const probes = new Probes();
  const heapBefore = heapMB();
  const victimStore = await o.openStore();
  const per = o.chassisPerStore ?? 10;
  const stores: Store[] = [];
  for (let i = 0; i < Math.ceil(size / per) + 1; i++) stores.push(await o.openStore());
  const chassis: SimChassis[] = [];
  const make = (i: number, store: Store) => {
    // Fixed width: no name is a prefix of another (hv1 / hv10), which a store with prefix watches only would make
    // each chassis's one-key watch hear (counted as foreign events, see PrefixSubscription.foreignEvents).
    const c = new SimChassis({ name: `hv${String(i).padStart(5, '0')}`, tunnelIp: tunnelIp(i), store, tables, leaseTtlSeconds: ttl });
    probes.attach(c);
    return c;
  };
  for (let i = lo; i < hi; i++) chassis.push(make(i, i === hi - 1 ? victimStore : stores[Math.floor((i - lo) / per)]!));
  await barrier('made');
  t = performance.now();
  await pool(chassis, o.startConcurrency ?? 25, (c) => c.start());
  const startSeconds = (performance.now() - t) / 1000;
  log(`${size} chassis started in ${startSeconds.toFixed(1)} s`);
  await barrier('started');
  t = performance.now();
  const myPorts = plan.ports.filter((p) => p.chassis >= lo && p.chassis < hi);
  await pool(myPorts, o.bindConcurrency ?? 16, (p) => chassis[p.chassis - lo]!.plug(p.name));
  const bindSeconds = (performance.now() - t) / 1000;
  t = performance.now();
  await settle(chassis);
  const settleSeconds = (performance.now() - t) / 1000;
  log(`${myPorts.length} VIFs bound in ${bindSeconds.toFixed(1)} s, settled ${settleSeconds.toFixed(1)} s later`);
  await barrier('bound');
  const footprints = chassis.map((c) => c.footprint());
  const heapAfter = heapMB();
  const memory = {
    rssMB: process.memoryUsage().rss / 2 ** 20,
    heapMB: heapAfter,
    heapPerChassisKB: ((heapAfter - heapBefore) * 1024) / size,
  };
  const fleet: Fleet = { chassis, lo, hi, size, probes, stores, victimStore, make };
  return { fleet, bringUp: { startSeconds, bindSeconds, settleSeconds }, footprints, memory };
}

function tunnelIp(i: number): string {
  return `172.${16 + ((i >> 16) & 15)}.${(i >> 8) & 255}.${i & 255}`;
}

function heapMB(): number {
  (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage().heapUsed / 2 ** 20;
}
