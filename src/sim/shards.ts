/**
 * The scale harness spread over several simulator processes (issue 17): at 1,000 chassis one Node thread running
 * every agent was the limit (65 % CPU, event-loop delay p99 50 ms), not etcd. The parent writes the topology once,
 * then forks `shards` children (src/sim/shard-main.ts), each simulating whole tenant blocks — blocks share no
 * network, router or (with lazy chassis watching) chassis record, so a block's chassis never need another shard's —
 * with its own etcd connections. Every child runs the same phases (src/sim/harness.ts) and waits at each for all the
 * others (a barrier relayed here), so bring-up, idle, churn, death and join overlap as in one process; churn is split
 * evenly (rate / shards each). Their raw samples are merged here into one ScaleResult.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import type { Store } from '../store/types.js';
import type { HarnessOptions, ScaleResult } from './harness.js';
import { summary } from './probes.js';
import type { ChassisFootprint } from './sim-chassis.js';
import { buildTopology, planWorkload } from './workload.js';

/** What a child needs to run its shard: the harness's options minus the live objects, plus the store URL. */
export type ShardConfig = Omit<HarnessOptions, 'store' | 'openStore' | 'log' | 'shard'> & {
  storeUrl: string;
  shard: { index: number; from: number; to: number };
};

export type ShardMessage =
  | { type: 'barrier'; phase: string }
  | { type: 'log'; line: string }
  | { type: 'result'; result: ScaleResult }
  | { type: 'error'; message: string };

export interface ShardedOptions extends Omit<HarnessOptions, 'openStore' | 'shard'> {
  storeUrl: string;
  shards: number;
}

const BLOCK = 4;

/** Chassis ranges of whole tenant blocks, as even as blocks allow. */
export function shardRanges(chassis: number, shards: number): { from: number; to: number }[] {
  const blocks = Math.ceil(chassis / BLOCK);
  const n = Math.min(shards, blocks);
  return Array.from({ length: n }, (_, s) => ({
    from: BLOCK * Math.floor((blocks * s) / n),
    to: Math.min(chassis, BLOCK * Math.floor((blocks * (s + 1)) / n)),
  }));
}

export async function runSharded(o: ShardedOptions): Promise<ScaleResult> {
  const log = o.log ?? (() => undefined);
  const plan = planWorkload(o);
  log(`workload: ${plan.chassis} chassis, ${plan.networks.length} networks, ${plan.ports.length} ports, ${plan.routers.size} routers`);
  const t = performance.now();
  const written = await buildTopology(o.store as Store, plan);
  const build = { seconds: (performance.now() - t) / 1000, portsPerSecond: written.portsPerSecond };
  log(`topology written in ${build.seconds.toFixed(1)} s (ports ${written.portsPerSecond.toFixed(0)}/s)`);

  const ranges = shardRanges(o.chassis, o.shards);
  // Built (bench:scale runs dist/): the JS beside this module. From source (vitest): the TS, through tsx.
  const built = fileURLToPath(new URL('./shard-main.js', import.meta.url));
  const main = existsSync(built) ? built : fileURLToPath(new URL('./shard-main.ts', import.meta.url));
  const execArgv = main === built ? process.execArgv : [...process.execArgv, '--import', 'tsx'];
  const children: ChildProcess[] = [];
  const arrived = new Map<string, number>();
  const results: (ScaleResult | undefined)[] = ranges.map(() => undefined);
  const done = new Promise<void>((resolve, reject) => {
    let left = ranges.length;
    const fail = (err: Error) => {
      for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
      reject(err);
    };
    ranges.forEach((r, index) => {
      const child = fork(main, [], { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'advanced' });
      children.push(child);
      child.on('message', (m: ShardMessage) => {
        if (m.type === 'log') log(`[shard ${index}] ${m.line}`);
        else if (m.type === 'error') fail(new Error(`shard ${index}: ${m.message}`));
        else if (m.type === 'result') {
          results[index] = m.result;
          if (--left === 0) resolve();
        } else if (m.type === 'barrier') {
          const n = (arrived.get(m.phase) ?? 0) + 1;
          arrived.set(m.phase, n);
          if (n === ranges.length) for (const c of children) c.send({ type: 'go', phase: m.phase });
        }
      });
      child.on('exit', (code) => {
        if (results[index] === undefined) fail(new Error(`shard ${index} exited (${code}) before its result`));
      });
      // Only data crosses to the child (the test passes openStore as well: functions do not clone).
      const rest = Object.fromEntries(Object.entries(o).filter(([k, v]) => typeof v !== 'function' && k !== 'store')) as Omit<
        ShardedOptions,
        'store' | 'log'
      >;
      const config: ShardConfig = {
        ...rest,
        storeUrl: o.storeUrl,
        churnRate: (o.churnRate ?? 10) / ranges.length,
        shard: { index, ...r },
      };
      child.send({ type: 'run', config });
    });
  });
  await done;
  const merged = mergeShards(results as ScaleResult[]);
  merged.build = build;
  return merged;
}

/** One result from the shards' raw samples: latencies pooled, counts summed, the process figures combined. */
export function mergeShards(rs: ScaleResult[]): ScaleResult {
  const first = rs[0]!;
  const all = <T>(f: (r: ScaleResult) => T[]): T[] => rs.flatMap(f);
  const sum = (f: (r: ScaleResult) => number): number => rs.reduce((s, r) => s + f(r), 0);
  const max = (f: (r: ScaleResult) => number): number => Math.max(...rs.map(f));
  const creates = all((r) => r.raw.create);
  const deletes = all((r) => r.raw.deleted);
  const migrations = all((r) => r.raw.migrate);
  const footprints = all((r) => r.raw.footprints);
  const footprint = {} as ScaleResult['footprint'];
  for (const k of Object.keys(footprints[0]!) as (keyof ChassisFootprint)[]) {
    const xs = footprints.map((f) => f[k]).sort((a, b) => a - b);
    footprint[k] = { min: xs[0]!, p50: xs[Math.floor(xs.length / 2)]!, max: xs[xs.length - 1]! };
  }
  const createMissed = sum((r) => r.create.missed);
  const migrateMissed = sum((r) => r.migrate.missed);
  const interestedCreate = sum((r) => r.raw.interestedCreate);
  const interestedMigrate = sum((r) => r.raw.interestedMigrate);
  const revisions = first.churn.revisions; // every shard saw the same store revisions over the same window
  const events = sum((r) => r.churn.eventsDelivered);
  return {
    ...first,
    shards: rs.length,
    bringUp: {
      startSeconds: max((r) => r.bringUp.startSeconds),
      bindSeconds: max((r) => r.bringUp.bindSeconds),
      settleSeconds: max((r) => r.bringUp.settleSeconds),
    },
    footprint,
    chassis0: first.chassis0,
    memory: {
      rssMB: sum((r) => r.memory.rssMB),
      heapMB: sum((r) => r.memory.heapMB),
      heapPerChassisKB: sum((r) => r.memory.heapPerChassisKB * r.raw.footprints.length) / footprints.length,
    },
    create: {
      ...summary(creates),
      missed: createMissed,
      interested: interestedCreate / Math.max(1, creates.length + createMissed),
      apiP50: summary(rs.map((r) => r.create.apiP50)).p50,
    },
    deleted: { ...summary(deletes), missed: sum((r) => r.deleted.missed) },
    migrate: {
      ...summary(migrations),
      missed: migrateMissed,
      interested: interestedMigrate / Math.max(1, migrations.length + migrateMissed),
    },
    death: {
      fromCrashMs: max((r) => r.death.fromCrashMs),
      fromKeyDeleteMs: max((r) => r.death.fromKeyDeleteMs),
      withdrawnP50: summary(rs.map((r) => r.death.withdrawnP50)).p50,
      withdrawnMax: max((r) => r.death.withdrawnMax),
      missed: sum((r) => r.death.missed),
      holders: sum((r) => r.death.holders),
      eventsDelivered: sum((r) => r.death.eventsDelivered),
      recomputeP50Ms: summary(rs.map((r) => r.death.recomputeP50Ms)).p50,
      recomputeMaxMs: max((r) => r.death.recomputeMaxMs),
      recomputeSumMs: sum((r) => r.death.recomputeSumMs),
    },
    routerChange: {
      holders: sum((r) => r.routerChange.holders),
      eventsDelivered: sum((r) => r.routerChange.eventsDelivered),
      seenMaxMs: max((r) => r.routerChange.seenMaxMs),
      missed: sum((r) => r.routerChange.missed),
    },
    raw: { create: creates, deleted: deletes, migrate: migrations, footprints, interestedCreate, interestedMigrate },
    churn: {
      ops: sum((r) => r.churn.ops),
      revisions,
      eventsDelivered: events,
      eventsPerRevision: events / Math.max(1, revisions),
      interestedPerChange:
        (interestedCreate + interestedMigrate) / Math.max(1, creates.length + createMissed + migrations.length + migrateMissed),
      eventBytesPerRevision: sum((r) => r.churn.eventBytesPerRevision),
      snapshotKeys: sum((r) => r.churn.snapshotKeys),
      simCpuPercent: sum((r) => r.churn.simCpuPercent),
      loopDelayP99Ms: max((r) => r.churn.loopDelayP99Ms),
      loopDelayMaxMs: max((r) => r.churn.loopDelayMaxMs),
      stalls: rs.flatMap((r) => r.churn.stalls).sort((a, b) => a.atMs - b.atMs),
      gcMaxMs: max((r) => r.churn.gcMaxMs),
      gcTotalMs: sum((r) => r.churn.gcTotalMs),
      slowOps: rs.flatMap((r) => r.churn.slowOps).sort((a, b) => a.atMs - b.atMs),
    },
  };
}
