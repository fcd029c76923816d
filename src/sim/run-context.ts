/**
 * What the phases of a scale run share, passed to each explicitly: the run's settings (set once by runScale in
 * src/sim/harness.ts) and the fleet of simulated chassis that bring-up makes. Its own module so that every phase
 * names the same two types without importing another phase.
 */
import type { PipelineTables } from '../pipeline/tables.js';
import type { Store } from '../store/types.js';
import type { EtcdSample } from './etcd-metrics.js';
import type { Probes } from './probes.js';
import type { HarnessOptions } from './scale-types.js';
import type { SimChassis } from './sim-chassis.js';
import type { Plan } from './workload.js';

export interface RunContext {
  o: HarnessOptions;
  plan: Plan;
  /** Chassis lease TTL (s). */
  ttl: number;
  tables: PipelineTables;
  log: (line: string) => void;
  /** etcd's metrics summed over its members (undefined when not sampled). */
  sample: () => Promise<EtcdSample | undefined>;
  /** Waits until every shard reaches a phase (at once when not sharded). */
  barrier: (phase: string) => Promise<void>;
}

export interface Fleet {
  /** This process's chassis: [lo, hi) of the plan; the last one is the one that dies. */
  chassis: SimChassis[];
  lo: number;
  hi: number;
  size: number;
  probes: Probes;
  /** Shared store connections; the last one has no chassis until the fresh one joins. */
  stores: Store[];
  /** The dying chassis's own connection. */
  victimStore: Store;
  /** Makes chassis i of the plan on a store connection, attached to the probes. */
  make: (i: number, store: Store) => SimChassis;
}
