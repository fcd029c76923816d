/**
 * Waiting for a simulated cluster to go quiet. Apart from the harness because every phase (bring-up, churn, the
 * one-off probes) ends by settling; `settle` stays importable from src/sim/harness.ts, which re-exports it.
 */
import type { SimChassis } from './sim-chassis.js';

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Store events the chassis have received so far, all together: what settling and the phases' fan-out count. */
export const eventsOf = (chassis: readonly SimChassis[]): number => chassis.reduce((s, c) => s + c.events, 0);

/** Waits until nothing changes: every chassis's flows applied and no store event for a while. */
export async function settle(chassis: SimChassis[], quietMs = 1000, maxMs = 120_000): Promise<void> {
  const t0 = Date.now();
  let last = -1;
  let since = Date.now();
  for (;;) {
    const ev = eventsOf(chassis);
    const applied = chassis.every((c) => c.flows.appliedVersion >= c.flows.desiredVersion && !c.bindings.pendingWrites);
    if (ev !== last || !applied) {
      last = ev;
      since = Date.now();
    } else if (Date.now() - since >= quietMs) return;
    if (Date.now() - t0 > maxMs) return;
    await sleep(100);
  }
}
