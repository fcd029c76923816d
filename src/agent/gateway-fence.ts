/**
 * Split brain between gateway chassis, ended by what the physical network shows. A gateway's holder cut from the
 * store alone (its management network down, its uplink and tunnels fine) keeps its flows, as every agent does
 * through a store outage; its lease lapses in the store after the TTL, and the next candidate takes the gateway
 * and announces it with gratuitous ARPs. Both would then answer ARP for the gateway IP and SNAT behind it: the
 * physical switch learns the gateway MAC on whichever uplink spoke last, and the replies of one holder's
 * connections reach the other, which drops them.
 *
 * The NAT app reports an ARP from the physnet whose sender is the gateway IP active here (apps/nat/conflicts.ts).
 * While the store cannot confirm this chassis's lease (agent/chassis-registration.ts leaseConfirmed: no keep-alive
 * answered within 3/4 of the TTL), that ARP can only be a chassis that took the gateway over: this chassis fences
 * the gateway off (view.gatewayFences: it stops answering for it and SNATing behind it) until the store's copy of
 * the key arrives — a watch event or the resync when the store answers again — which then decides. While the store
 * confirms the lease, the key is ours: the other host is wrong (a former holder still cut off, restarted from its
 * cache and announcing the gateway again, or a misconfigured host), and the NAT app defends the address with a
 * gratuitous ARP, which a former holder hears and yields to.
 *
 * A whole-store outage takes nothing over (no one can write the key), so it fences nothing: the gateways keep
 * running, as before. OVN settles the same question with BFD between the gateway chassis, over the tunnels.
 */
import type { GatewayConflict, GatewayConflictOutcome } from '../apps/platform.js';
import type { Logger } from '../util/log.js';
import type { TopologyView } from '../view/topology-view.js';
import { isoTime } from '../util/time.js';

/** At most one "kept" warning per router per this many ms (a misconfigured host may ARP every second). */
const KEPT_LOG_MS = 60_000;

export interface GatewayFenceDeps {
  view: TopologyView;
  logger: Logger;
  /** Whether the store vouches for this chassis's lease now (ChassisRegistration.leaseConfirmed). */
  leaseConfirmed(): boolean;
  /** This chassis's roles lease (the one gateway keys go on). */
  leaseId(): string | undefined;
  /** The router's gateway key as the store has it now: its holder and the lease it is on; undefined if absent. */
  readGateway(routerId: string): Promise<{ chassis: string; lease: string | undefined } | undefined>;
  /** Every flow may depend on who holds a gateway: recompute. */
  changed(): void;
  now?: () => number;
}

export interface FencedGateway {
  router: string;
  ip: string;
  /** The MAC the announcing frame came from, and when it came (ISO time). */
  announcedBy: string;
  since: string;
}

export class GatewayFence {
  /** Conflicts seen for gateways held here, by outcome (agent status, gateways.conflicts). */
  readonly counters = { fenced: 0, kept: 0 };
  /** What each fence was raised on, by router (the last one; whether it stands is the view's gatewayFences). */
  private readonly fenced = new Map<string, FencedGateway>();
  private readonly lastKeptLog = new Map<string, number>();

  constructor(private readonly d: GatewayFenceDeps) {}

  /** Another host announced the gateway address of a router active here (the NAT app's report). */
  conflict(c: GatewayConflict): GatewayConflictOutcome {
    const { view, logger } = this.d;
    const lease = view.gateways.get(c.routerId);
    if (lease === undefined || lease.chassis !== view.chassisName) return 'none';
    if (view.gatewayFences.get(c.routerId) === lease) return 'fenced';
    const now = (this.d.now ?? Date.now)();
    const detail = { router: c.routerId, ip: c.ip, ethSrc: c.ethSrc, arpSha: c.senderMac, network: c.networkId };
    if (this.d.leaseConfirmed()) {
      this.counters.kept++;
      if (now - (this.lastKeptLog.get(c.routerId) ?? -Infinity) >= KEPT_LOG_MS) {
        this.lastKeptLog.set(c.routerId, now);
        logger.warn(
          detail,
          'another host on the physical network sends as the gateway IP of a router this chassis holds; the store confirms our lease: kept and defended',
        );
      }
      return 'kept';
    }
    view.gatewayFences.set(c.routerId, lease);
    this.fenced.set(c.routerId, { router: c.routerId, ip: c.ip, announcedBy: c.ethSrc, since: isoTime(now) });
    this.counters.fenced++;
    logger.warn(
      detail,
      'gateway fenced off: another chassis announces it while the store cannot confirm our lease (it took the gateway over); no ARP answers or SNAT for it here until the store answers',
    );
    this.d.changed();
    return 'fenced';
  }

  /**
   * On each store probe that confirms our lease: a fence whose key the store still has on this chassis's current
   * lease was a false alarm (a probe late enough to leave the lease unconfirmed when a misconfigured host's ARP came):
   * lifted. The key unchanged, no watch event would ever lift it. A key on another chassis or lease is left to the
   * watch or resync that brings it (which lifts the fence and names the holder).
   */
  async recheck(): Promise<void> {
    const { view, logger } = this.d;
    for (const [routerId, lease] of [...view.gatewayFences]) {
      if (!this.d.leaseConfirmed()) return;
      const kv = await this.d.readGateway(routerId).catch(() => undefined);
      const mine = this.d.leaseId();
      if (kv === undefined || kv.chassis !== view.chassisName || mine === undefined || kv.lease !== mine) continue;
      if (view.gatewayFences.get(routerId) !== lease) continue; // lifted or moved meanwhile
      view.gatewayFences.delete(routerId);
      logger.warn({ router: routerId }, 'gateway fence lifted: the store has the gateway on our lease (the conflict was not a takeover)');
      this.d.changed();
    }
  }

  /** The gateways fenced off now: the view's fences (the store's copy of a key lifts one: store-apply.ts). */
  status(): FencedGateway[] {
    return [...this.d.view.gatewayFences.keys()].flatMap((id) => this.fenced.get(id) ?? []);
  }
}
