/**
 * What the scale harness takes and gives: its options and its result. Apart from the harness (src/sim/harness.ts,
 * which re-exports both) so that its phases, the shard parent (src/sim/shards.ts) and the bench can name them
 * without importing the run itself.
 */
import type { Store } from '../store/types.js';
import type { DiskCounters, EtcdSample, SlowDisk } from './etcd-metrics.js';
import type { ChassisFootprint } from './sim-chassis.js';
import type { WorkloadParams } from './workload.js';

export interface HarnessOptions extends WorkloadParams {
  store: Store;
  /**
   * Opens another connection to the same store: chassis share one per `chassisPerStore`, and the chassis that dies
   * has its own (closing it stops its lease keep-alives, as a crash does).
   */
  openStore: () => Promise<Store>;
  /**
   * Chassis sharing one store connection (default 10); a real hypervisor has its own. A connection's watches share
   * its few watch streams (the driver's `watchStreams`): at 1,000 chassis on one connection (15,000 watches, measured
   * with the former etcd3 client on one stream) etcd marked watchers slow and creations queued for minutes.
   */
  chassisPerStore?: number;
  /** VIFs plugged at once during bring-up (default 16): bounds the burst the one simulator core must absorb. */
  bindConcurrency?: number;
  /** etcd client URLs whose /metrics are sampled (none: not sampled). */
  etcdUrls?: string[];
  leaseTtlSeconds?: number;
  /** Chassis started at once during bring-up. */
  startConcurrency?: number;
  churnSeconds?: number;
  /** Quiet seconds measured before the churn: what leases, probes and watches cost etcd at rest (default 5). */
  idleSeconds?: number;
  /** Churn operations per second (creations, deletions, migrations: 4:3:3). */
  churnRate?: number;
  log?: (line: string) => void;
  /**
   * One shard of a sharded run (src/sim/shards.ts): this process simulates chassis [from, to) of the plan — whole
   * tenant blocks, which share nothing with other blocks — on a topology its parent wrote, and waits at each phase
   * until every shard reaches it, so bring-up, idle, churn, death and join overlap across shards.
   */
  shard?: { index: number; from: number; to: number; barrier: (phase: string) => Promise<void> };
}

type Stat = { n: number; p50: number; p99: number; max: number };

export interface ScaleResult {
  chassis: number;
  networks: number;
  ports: number;
  routers: number;
  build: { seconds: number; portsPerSecond: number };
  bringUp: { startSeconds: number; bindSeconds: number; settleSeconds: number };
  footprint: Record<keyof ChassisFootprint, { min: number; p50: number; max: number }>;
  /** Chassis 0's footprint (same neighbourhood at every cluster size). */
  chassis0: ChassisFootprint;
  memory: { rssMB: number; heapMB: number; heapPerChassisKB: number };
  create: Stat & { missed: number; interested: number; apiP50: number };
  deleted: Stat & { missed: number };
  migrate: Stat & { missed: number; interested: number };
  death: {
    fromCrashMs: number;
    fromKeyDeleteMs: number;
    withdrawnP50: number;
    withdrawnMax: number;
    missed: number;
    /** Chassis that held the dead one's record (lazy chassis watching: those whose networks it hosted ports of). */
    holders: number;
    eventsDelivered: number;
    /** One chassis's own recompute after the death (what a real hypervisor spends on its own core). */
    recomputeP50Ms: number;
    recomputeMaxMs: number;
    /** Sum of every chassis's recompute: what the one simulator core had to do in sequence. */
    recomputeSumMs: number;
  };
  join: { startToSyncedMs: number; startToBoundMs: number; stages: Record<string, number>; footprint: ChassisFootprint };
  /**
   * A router changed (a static route added): seen by every chassis holding it (those with ports on its networks,
   * through the lazy index), and how many store events that cost across all chassis (fan-out of a router change).
   */
  routerChange: { holders: number; eventsDelivered: number; seenMaxMs: number; missed: number };
  churn: {
    ops: number;
    revisions: number;
    eventsDelivered: number;
    eventsPerRevision: number;
    interestedPerChange: number;
    /** Payload bytes (keys, values, previous values) of the events delivered, per store revision. */
    eventBytesPerRevision: number;
    /** Keys read by snapshots (a chassis starting to watch a network, e.g. a migration's new host). */
    snapshotKeys: number;
    /** The simulator process: CPU used (% of one core) and its event loop's delay p99 (ms) — its own limit. */
    simCpuPercent: number;
    loopDelayP99Ms: number;
    loopDelayMaxMs: number;
    /**
     * The simulator's event loop blocked over 100 ms: when (ms into the churn), for how long (ms), and the CPU the
     * process used meanwhile (ms, all its threads): near `ms`, its own work; far below, it waited for a core.
     */
    stalls: { atMs: number; ms: number; cpuMs: number }[];
    /** The simulator's garbage-collection pauses during churn: the longest, and their sum (ms). */
    gcMaxMs: number;
    gcTotalMs: number;
    /** Operations slower than SLOW_OP_MS, with when they started (ms into the churn): a stall shows as a cluster. */
    slowOps: { kind: string; name: string; atMs: number; ms: number }[];
  };
  /** Raw samples (ms), for merging shards. */
  raw: {
    create: number[];
    deleted: number[];
    migrate: number[];
    footprints: ChassisFootprint[];
    interestedCreate: number;
    interestedMigrate: number;
  };
  /** Shards the run was spread over (1: one process). */
  shards: number;
  etcd?: {
    idle: { cpuPercent: number; sentBytesPerSecond: number; snapshots: number };
    churn: {
      cpuPercent: number;
      sentBytesPerSecond: number;
      bytesPerChange: number;
      revisionsPerSecond: number;
      /** The churn's WAL fsyncs and backend commits, and the slow ones (see EtcdSample). */
      disk: DiskCounters;
    };
    end: EtcdSample;
    /** The churn's slow disk writes and applies, sampled every 500 ms (ms into the churn): set beside `slowOps`. */
    slowDisk: SlowDisk[];
  };
}
