/**
 * Tunnel encapsulation choice between this chassis and its peers, and the report of peers it cannot reach.
 * Like OVN: a chassis offers encapsulations in preference order; towards a peer, this agent uses the first of
 * its own that the peer also offers. A peer sharing none is unreachable — said in status, chassis list and
 * the log, never left silently without flows.
 */
import type { Chassis } from '../model/types.js';
import type { Logger } from '../util/log.js';
import { chooseEncap } from '../view/topology-view.js';
import { byName } from '../util/order.js';

export { chooseEncap };

export type Reachability = { reachable: true; encap: string } | { reachable: false; reason: string };

/** Whether this chassis (offering `own`) can tunnel to `peer`, and with what, or why not. */
export function reachability(own: readonly string[], peer: Pick<Chassis, 'encaps'>): Reachability {
  const encap = chooseEncap(own, peer.encaps);
  if (encap) return { reachable: true, encap };
  const theirs = peer.encaps.length ? peer.encaps.join(',') : 'none';
  return { reachable: false, reason: `encap ${theirs}, this host speaks ${own.join(',')}` };
}

/** `reachable` (and `encap` or `reason`) for a chassis listed through this agent's API; itself is `self`. */
export function chassisReachability(own: readonly string[], self: string, c: Pick<Chassis, 'name' | 'encaps'>): Record<string, unknown> {
  if (c.name === self) return { reachable: true, self: true };
  return reachability(own, c);
}

/** Peers this chassis cannot tunnel to, with the reason, sorted by name. */
export function unreachableChassis(
  own: readonly string[],
  self: string,
  chassis: ReadonlyMap<string, Chassis>,
): { name: string; encaps: string[]; reason: string }[] {
  const out = [];
  for (const [name, ch] of chassis) {
    if (name === self) continue;
    const r = reachability(own, ch);
    if (!r.reachable) out.push({ name, encaps: ch.encaps, reason: r.reason });
  }
  return out.sort(byName);
}

/**
 * Logs a peer's reachability once when first seen unreachable and once per change (not per recompute): a
 * warning when it cannot be reached, info when it can again or when it left.
 */
export class ReachabilityLog {
  /** Peer name → reason it is unreachable (only unreachable peers are kept). */
  private readonly reported = new Map<string, string>();

  constructor(
    private readonly own: readonly string[],
    private readonly self: string,
    private readonly logger: Logger,
  ) {}

  update(chassis: ReadonlyMap<string, Chassis>): void {
    const now = new Map(unreachableChassis(this.own, this.self, chassis).map((u) => [u.name, u.reason]));
    for (const [name, reason] of now) {
      if (this.reported.get(name) === reason) continue;
      this.reported.set(name, reason);
      this.logger.warn({ chassis: name, reason }, 'chassis unreachable: no common tunnel encapsulation; its ports get no flows from here');
    }
    for (const name of [...this.reported.keys()]) {
      if (now.has(name)) continue;
      this.reported.delete(name);
      this.logger.info(
        { chassis: name, gone: !chassis.has(name) },
        chassis.has(name) ? 'chassis reachable again' : 'unreachable chassis left',
      );
    }
  }
}
