/**
 * Gateway chassis election (issue 14): exactly one chassis is active for a router's gateway, recorded in the store
 * as `/wyvern/v1/gateways/<routerId>` (GatewayLease) attached to the active agent's lease — the very lease that
 * carries its chassis key, so the two live and die together:
 *
 * - Taking part: for every router whose gateway lists this chassis, when the key is absent the highest-priority
 *   live candidate (chassis key present, reaching the gateway's physnet) creates it (compare-and-swap
 *   create-if-absent); a lower-ranked one waits
 *   rank × backoff and tries only if it is still absent, so a dead higher-ranked candidate never blocks a takeover
 *   and two live ones never both win (the create is atomic).
 * - Non-preemptive: a recovered higher-priority chassis does not take the key back. Taking it back would cut every
 *   SNATed connection (conntrack state lives on the active chassis) for no gain; the holder keeps it until it dies,
 *   is removed from the candidates, or the gateway is cleared.
 * - A planned restart (SIGTERM) does not fail over: stopping leaves the lease to expire on its own (as for the
 *   chassis key), the key stays meanwhile, and the restarted agent — with a new lease — finds the key naming its
 *   chassis and moves it onto its new lease (compare-and-swap on its revision) before the old lease expires.
 * - A crash (agent killed, OVS stopped): the lease expires after its TTL, the key goes with the chassis key, and the
 *   first live candidate takes it at once (watch → reconcile).
 * - Release: a holder that is no longer a candidate (removed from the list, gateway cleared, router deleted)
 *   deletes the key (compare-and-swap on its revision), and the next candidate takes it.
 *
 * Decisions read the store (one range of the gateways prefix, a few keys) so they never act on a lagging view;
 * routers and live chassis come from the view. Calls are serialised; the agent calls reconcile() on every view
 * change of routers, chassis or gateways, on a periodic tick and once its lease changes.
 */
import { gatewayKey, GATEWAYS_PREFIX, parseKey } from '../model/keys.js';
import { decodeGatewayLease } from '../model/codec.js';
import type { GatewayLease } from '../model/types.js';
import type { KeyValue, Store } from '../store/types.js';
import type { Logger } from '../util/log.js';
import type { TopologyView } from '../view/topology-view.js';

export interface ElectionTimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  now(): number;
}

export interface GatewayElectionOptions {
  store: Store;
  view: TopologyView;
  /** This chassis's current lease (the chassis registration's), undefined while not registered. */
  leaseId: () => string | undefined;
  logger: Logger;
  /** Wait per rank before a lower-ranked candidate tries (default 500 ms). */
  backoffMs?: number;
  timers?: ElectionTimers;
  /** Told when this chassis becomes or stops being active for a router (logs, status). */
  onChange?: (routerId: string, active: boolean) => void;
}

const realTimers: ElectionTimers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
  now: () => Date.now(),
};

export class GatewayElection {
  private readonly timers: ElectionTimers;
  private readonly backoffMs: number;
  private readonly waiting = new Map<string, unknown>();
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  /** Routers this chassis holds the key of (as last read). */
  private readonly held = new Set<string>();
  /** Last failure (status). */
  lastError: string | undefined;

  constructor(private readonly opts: GatewayElectionOptions) {
    this.timers = opts.timers ?? realTimers;
    this.backoffMs = opts.backoffMs ?? 500;
  }

  private get me(): string {
    return this.opts.view.chassisName;
  }

  /** Routers whose gateway this chassis holds now (as of the last reconcile). */
  activeRouters(): string[] {
    return [...this.held].sort();
  }

  /** Converges this chassis's part in every election; resolves when done (failures are retried on the next call). */
  reconcile(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.again = false;
        try {
          await this.once();
          this.lastError = undefined;
        } catch (err) {
          this.lastError = (err as Error)?.message ?? String(err);
          this.opts.logger.warn({ err }, 'gateway election failed; retrying on the next change or tick');
        }
      } while (this.again && !this.stopped);
    })().finally(() => (this.running = undefined));
    return this.running;
  }

  /** Stops taking part (timers cleared). Held keys stay on the lease: a stop is a restart unless the lease is revoked. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const h of this.waiting.values()) this.timers.clearTimeout(h);
    this.waiting.clear();
    await this.running?.catch(() => undefined);
  }

  private async once(): Promise<void> {
    const lease = this.opts.leaseId();
    if (!lease) return;
    const { store, view, logger } = this.opts;
    // Nothing to do for a chassis no router lists and that holds no key as far as the watched view knows: no read.
    const listed = [...view.routers.values()].some((r) => r.gateway?.chassis.includes(this.me));
    const holds = [...view.gateways.values()].some((g) => g.chassis === this.me) || this.held.size > 0;
    if (!listed && !holds && this.waiting.size === 0) return;
    const { kvs } = await store.range(GATEWAYS_PREFIX);
    const current = new Map<string, { kv: KeyValue; doc: GatewayLease | undefined }>();
    for (const kv of kvs) {
      const k = parseKey(kv.key);
      if (k?.kind !== 'gateway') continue;
      let doc: GatewayLease | undefined;
      try {
        doc = decodeGatewayLease(kv.value);
      } catch (err) {
        logger.warn({ key: kv.key, err: (err as Error).message }, 'ignoring a gateway lease that does not decode');
        doc = undefined;
      }
      current.set(k.routerId, { kv, doc });
    }

    // Keys we hold but should not: router gone, gateway cleared, or this chassis no longer a candidate.
    for (const [routerId, { kv, doc }] of current) {
      if (doc?.chassis !== this.me) continue;
      const r = view.routers.get(routerId);
      if (r?.gateway?.chassis.includes(this.me)) continue;
      const res = await store.txn([{ key: kv.key, modRevision: kv.modRevision }], [{ op: 'delete', key: kv.key }]);
      if (res.succeeded) {
        logger.info({ router: routerId }, 'gateway released (no longer a candidate)');
        this.setHeld(routerId, false);
      }
      current.delete(routerId);
    }

    const wanted = new Set<string>();
    for (const r of view.routers.values()) {
      const g = r.gateway;
      if (!g || !g.chassis.includes(this.me)) continue;
      wanted.add(r.id);
      const cur = current.get(r.id);
      if (cur) {
        this.cancelWait(r.id);
        if (cur.doc?.chassis !== this.me) {
          this.setHeld(r.id, false);
          continue;
        }
        // Ours: on our current lease (a restarted agent moves it from its predecessor's lease before that expires).
        if (cur.kv.lease !== lease) {
          const doc: GatewayLease = { ...cur.doc, routerId: r.id, chassis: this.me };
          const res = await store.txn(
            [{ key: cur.kv.key, modRevision: cur.kv.modRevision }],
            [{ op: 'put', key: cur.kv.key, value: JSON.stringify(doc), lease }],
          );
          if (res.succeeded) logger.info({ router: r.id, lease }, 'gateway kept across a restart: moved onto the new lease');
          else this.again = true;
        }
        this.setHeld(r.id, true);
        continue;
      }
      // Absent: the first live candidate takes it now, the others after rank × backoff if still absent. Only a
      // chassis that reaches the gateway's physnet can serve it (this one: its patch port is there; a peer: it
      // publishes the physnet); before this chassis's patch port is up it waits (a holder never releases for that).
      const physnet = view.networks.get(g.networkId)?.network.provider?.physnet;
      const eligible = (c: string): boolean =>
        physnet === undefined ||
        (c === this.me ? view.physnetOfports.has(physnet) : (view.chassis.get(c)?.physnets?.includes(physnet) ?? false));
      if (!eligible(this.me)) {
        this.cancelWait(r.id);
        continue;
      }
      const live = g.chassis.filter((c) => c === this.me || (view.chassis.has(c) && eligible(c)));
      const rank = live.indexOf(this.me);
      if (rank === 0) {
        this.cancelWait(r.id);
        await this.acquire(r.id, lease);
      } else if (!this.waiting.has(r.id)) {
        const h = this.timers.setTimeout(() => {
          this.waiting.delete(r.id);
          void this.acquireIfAbsent(r.id);
        }, rank * this.backoffMs);
        this.waiting.set(r.id, h);
      }
    }
    for (const id of [...this.waiting.keys()]) if (!wanted.has(id)) this.cancelWait(id);
    for (const id of [...this.held]) if (!wanted.has(id)) this.setHeld(id, false);
  }

  private async acquireIfAbsent(routerId: string): Promise<void> {
    if (this.stopped) return;
    const lease = this.opts.leaseId();
    const r = this.opts.view.routers.get(routerId);
    if (!lease || !r?.gateway?.chassis.includes(this.me)) return;
    try {
      await this.acquire(routerId, lease);
    } catch (err) {
      this.opts.logger.warn({ err, router: routerId }, 'gateway takeover failed; retrying on the next change or tick');
    }
  }

  /** Create-if-absent on our lease; losing the race is fine (someone else is active). */
  private async acquire(routerId: string, lease: string): Promise<void> {
    const key = gatewayKey(routerId);
    const doc: GatewayLease = { routerId, chassis: this.me, since: new Date(this.timers.now()).toISOString() };
    const res = await this.opts.store.txn([{ key, modRevision: 0 }], [{ op: 'put', key, value: JSON.stringify(doc), lease }]);
    if (res.succeeded) {
      this.opts.logger.warn({ router: routerId, lease }, 'gateway taken: this chassis is now active');
      this.setHeld(routerId, true);
    }
  }

  private cancelWait(routerId: string): void {
    const h = this.waiting.get(routerId);
    if (h === undefined) return;
    this.timers.clearTimeout(h);
    this.waiting.delete(routerId);
  }

  private setHeld(routerId: string, active: boolean): void {
    if (this.held.has(routerId) === active) return;
    if (active) this.held.add(routerId);
    else this.held.delete(routerId);
    this.opts.onChange?.(routerId, active);
  }
}
