/**
 * What the churn costs, measured around it: store revisions, and the events, event bytes and snapshot keys the
 * chassis received; the simulator process's CPU, event-loop delay, stalls and GC pauses; the operations slower than
 * SLOW_OP_MS; etcd's samples and its slow disk writes over the same window. Apart from the churn's operations
 * (src/sim/churn.ts) so that those read as what they do, not as what is counted around them.
 */
import { monitorEventLoopDelay, performance, PerformanceObserver } from 'node:perf_hooks';
import { watchSlowDisk, type EtcdSample, type SlowDisk } from './etcd-metrics.js';
import type { Fleet, RunContext } from './run-context.js';
import type { ScaleResult } from './scale-types.js';
import { eventsOf } from './settle.js';

const SLOW_OP_MS = 300;
/** The stall recorder's tick, and the lateness of a tick that counts as a stall of the simulator's event loop. */
const STALL_TICK_MS = 20;
const STALL_MS = 100;

export interface ChurnMeasures {
  /** Wall time of the churn (s), to its last operation's end. */
  seconds: number;
  revisions: number;
  eventsDelivered: number;
  eventBytes: number;
  snapshotKeys: number;
  /** The simulator's CPU during the churn. */
  cpu: NodeJS.CpuUsage;
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
  /** The simulator's event loop blocked longer than STALL_MS, when (ms into the churn) and how long. */
  stalls: ScaleResult['churn']['stalls'];
  gcMaxMs: number;
  gcTotalMs: number;
  slowOps: ScaleResult['churn']['slowOps'];
  slowDisk: SlowDisk[];
  /** etcd at the churn's start and end (undefined when not sampled). */
  etcd0: EtcdSample | undefined;
  etcd1: EtcdSample | undefined;
}

export interface ChurnMeter {
  /** Records an operation slower than SLOW_OP_MS (t0: its start, from performance.now()). */
  slowOp: (kind: string, name: string, t0: number, ms: number) => void;
  /** Stops the measures once every operation has ended. */
  stop: () => Promise<ChurnMeasures>;
}

/**
 * The counters start before the shards' 'churn' barrier, the clock, CPU and etcd's sample after it, when every
 * shard starts churning.
 */
export async function startChurnMeter({ o, sample, barrier }: RunContext, { chassis }: Fleet): Promise<ChurnMeter> {
  const events = () => eventsOf(chassis);
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
  // A cluster of slow operations is the simulator itself (its one event loop blocked: every chassis in it waits),
  // the store, or the machine; this tells which, and when. A stall in which the process used little CPU was not
  // its own work: it waited for a core (the other processes, or the host's other guests).
  const stalls: ScaleResult['churn']['stalls'] = [];
  let lastTick = churnT0;
  let lastCpu = process.cpuUsage();
  const ticker = setInterval(() => {
    const now = performance.now();
    const cpu = process.cpuUsage();
    const late = now - lastTick - STALL_TICK_MS;
    if (late > STALL_MS) {
      const cpuMs = (cpu.user - lastCpu.user + cpu.system - lastCpu.system) / 1000;
      stalls.push({ atMs: lastTick - churnT0, ms: late, cpuMs });
    }
    lastTick = now;
    lastCpu = cpu;
  }, STALL_TICK_MS);
  const diskWatch = churn0 && watchSlowDisk(sample, churn0);
  return {
    slowOp,
    async stop() {
      const churnSecs = (performance.now() - churnT0) / 1000;
      clearInterval(ticker);
      const slowDisk = (await diskWatch?.stop()) ?? [];
      loop.disable();
      gcObs.disconnect();
      const cpu1 = process.cpuUsage(cpu0);
      const snap1 = snaps();
      const bytes1 = bytes();
      const churn1 = await sample();
      const rev1 = await o.store.currentRevision();
      const ev1 = events();
      return {
        seconds: churnSecs,
        revisions: rev1 - rev0,
        eventsDelivered: ev1 - ev0,
        eventBytes: bytes1 - bytes0,
        snapshotKeys: snap1 - snap0,
        cpu: cpu1,
        loopDelayP99Ms: loop.percentile(99) / 1e6,
        loopDelayMaxMs: loop.max / 1e6,
        stalls,
        gcMaxMs: gc.max,
        gcTotalMs: gc.total,
        slowOps,
        slowDisk,
        etcd0: churn0,
        etcd1: churn1,
      };
    },
  };
}
