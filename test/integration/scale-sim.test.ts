/**
 * The scale harness (src/sim, npm run bench:scale) at a size CI affords, against a real etcd: simulated chassis
 * (the agent's own core) converge on every port creation, deletion and migration, a dead chassis is withdrawn
 * everywhere and a fresh one syncs; and one chassis's state follows its local networks, not the cluster — the
 * same chassis holds the same networks, keys, chassis records and flows at 12 and at 24 chassis.
 * Timings are printed, never asserted (speed goals live in the benchmark).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/index.js';
import { runScale, type ScaleResult } from '../../src/sim/harness.js';
import { runSharded } from '../../src/sim/shards.js';
import { planWorkload } from '../../src/sim/workload.js';
import { startEtcd, type EtcdCluster } from '../helpers/etcd.js';

async function run(chassis: number, shards = 1): Promise<ScaleResult> {
  const etcd: EtcdCluster = await startEtcd();
  const store = await openStore(etcd.url);
  try {
    const opts = {
      chassis,
      store,
      openStore: () => openStore(etcd.url),
      etcdUrls: etcd.members.map((m) => m.clientUrl),
      leaseTtlSeconds: 2,
      idleSeconds: 1,
      churnSeconds: 3,
      churnRate: 10,
    };
    return shards > 1 ? await runSharded({ ...opts, storeUrl: etcd.url, shards }) : await runScale(opts);
  } finally {
    await store.close();
    await etcd.stop();
  }
}

describe('scale harness (simulated chassis on real etcd)', () => {
  let small: ScaleResult;
  let large: ScaleResult;
  let sharded: ScaleResult;
  beforeAll(async () => {
    small = await run(12);
    large = await run(24);
    sharded = await run(24, 2);
    for (const r of [small, large, sharded])
      console.log(
        `${r.chassis} chassis: create p99 ${r.create.p99.toFixed(0)} ms, migration p99 ${r.migrate.p99.toFixed(0)} ms, ` +
          `death withdrawn ${r.death.fromKeyDeleteMs.toFixed(0)} ms after the key lapsed, join ${r.join.startToSyncedMs.toFixed(0)} ms, ` +
          `chassis 0 ${JSON.stringify(r.chassis0)}, router change ${JSON.stringify(r.routerChange)}`,
      );
  }, 180_000);
  afterAll(() => undefined);

  it('builds the workload it was asked for', () => {
    const plan = planWorkload({ chassis: 24 });
    expect(plan.networks).toHaveLength(48);
    expect(plan.ports).toHaveLength(480);
    expect(new Set(plan.ports.map((p) => p.name)).size).toBe(480);
    // Each network is hosted by 2 or 3 chassis; chassis 0's networks are the same at every size.
    const hosts = new Map<string, Set<number>>();
    for (const p of plan.ports) (hosts.get(p.network) ?? hosts.set(p.network, new Set()).get(p.network)!).add(p.chassis);
    expect([...hosts.values()].every((h) => h.size === 2 || h.size === 3)).toBe(true);
    expect(planWorkload({ chassis: 1000 }).networksOf(0)).toEqual(plan.networksOf(0));
    expect(planWorkload({ chassis: 1000 }).networks).toHaveLength(2000);
  });

  it('converges every change on every interested chassis', () => {
    for (const r of [small, large]) {
      expect(r.create.n).toBeGreaterThan(0);
      expect(r.create.missed).toBe(0);
      expect(r.deleted.missed).toBe(0);
      expect(r.migrate.n).toBeGreaterThan(0);
      expect(r.migrate.missed).toBe(0);
      expect(r.death.missed).toBe(0);
      expect(r.join.footprint.flows).toBeGreaterThan(0);
      // A port is seen by the chassis that host its network (and reach it through a router), not by all.
      expect(r.create.interested).toBeGreaterThanOrEqual(2);
      expect(r.create.interested).toBeLessThan(r.chassis / 2);
    }
  });

  it("holds per chassis what its local networks need, whatever the cluster's size", () => {
    const a = small.chassis0;
    const b = large.chassis0;
    expect(a.flows).toBeGreaterThan(100);
    expect(b.networks).toBe(a.networks);
    expect(b.prefixes).toBe(a.prefixes);
    expect(b.networkKeys).toBe(a.networkKeys);
    expect(b.flows).toBe(a.flows);
    // Lazy chassis watching: the chassis records a chassis holds are its networks' hosts, not the cluster's list.
    expect(b.chassisKeys).toBe(a.chassisKeys);
    expect(a.chassisKeys).toBeLessThan(12);
    expect(large.footprint.chassisKeys.max).toBe(small.footprint.chassisKeys.max);
    expect(large.footprint.networkKeys.max).toBe(small.footprint.networkKeys.max);
    // Lazy sync of routers (issue 17): the routers and leases it holds are its networks', not the cluster's (2 routers
    // at 12 chassis, 3 at 24).
    expect(b.globalKeys).toBe(a.globalKeys);
    expect(large.footprint.globalKeys.max).toBe(small.footprint.globalKeys.max);
  });

  it('spreads over simulator processes (whole tenant blocks each) with the same per-chassis state and convergence', () => {
    expect(sharded.shards).toBe(2);
    expect(sharded.create.n).toBeGreaterThan(0);
    expect(sharded.create.missed).toBe(0);
    expect(sharded.migrate.missed).toBe(0);
    expect(sharded.deleted.missed).toBe(0);
    expect(sharded.death.missed).toBe(0);
    expect(sharded.raw.footprints).toHaveLength(24);
    expect(sharded.chassis0).toMatchObject({
      flows: large.chassis0.flows,
      networkKeys: large.chassis0.networkKeys,
      chassisKeys: large.chassis0.chassisKeys,
    });
    expect(sharded.footprint.chassisKeys.max).toBe(large.footprint.chassisKeys.max);
  });

  it("reports the simulator's own event loop beside its slow operations: its worst delay, and any stall with its CPU", () => {
    for (const r of [large, sharded]) {
      expect(r.churn.loopDelayMaxMs).toBeGreaterThanOrEqual(r.churn.loopDelayP99Ms);
      for (const st of r.churn.stalls) {
        expect(st.ms).toBeGreaterThan(100);
        expect(st.cpuMs).toBeGreaterThanOrEqual(0);
      }
    }
  });

  it('fans a change out to the interested chassis only, a chassis death too', () => {
    // Events delivered per store revision track the interested chassis, not the cluster.
    expect(large.churn.eventsPerRevision).toBeLessThan(large.chassis / 2);
    // A death reaches the chassis holding its record (its networks' peers), one event each, not all N−1.
    for (const r of [small, large]) {
      expect(r.death.holders).toBeGreaterThan(0);
      expect(r.death.eventsDelivered).toBe(r.death.holders);
    }
    expect(large.death.holders).toBe(small.death.holders);
    expect(large.death.eventsDelivered).toBeLessThan(large.chassis / 2);
    // A router change reaches the chassis holding the router (ports on its networks), one event each, not all.
    for (const r of [small, large, sharded]) {
      expect(r.routerChange.holders).toBeGreaterThan(0);
      expect(r.routerChange.missed).toBe(0);
      expect(r.routerChange.eventsDelivered).toBe(r.routerChange.holders);
    }
    // Its holders are the chassis with ports behind it (migrations during the churn move some): not the cluster.
    expect(large.routerChange.holders).toBeLessThan(large.chassis / 3);
    // etcd holds a fixed number of watches per chassis.
    const perChassis = (r: ScaleResult) => r.etcd!.end.watchers / r.chassis;
    expect(Math.abs(perChassis(large) - perChassis(small))).toBeLessThan(3);
  });
});
