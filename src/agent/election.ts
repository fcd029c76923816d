/**
 * The one election implementation (issues 14 and 16): a router's gateway chassis, a star network's center and a
 * site's gateway are all "races" — one store key per race, naming the chassis that holds the role, attached to that
 * agent's lease (the very lease that carries its chassis key, so the two live and die together):
 *
 * - Taking part: for every race that lists this chassis, when the key is absent the highest-ranked live eligible
 *   candidate creates it (compare-and-swap create-if-absent); a lower-ranked one waits rank × backoff and tries
 *   only if it is still absent, so a dead higher-ranked candidate never blocks a takeover and two live ones never
 *   both win (the create is atomic).
 * - Non-preemptive: a recovered higher-priority chassis does not take the key back. Taking it back would cut every
 *   connection whose state lives on the holder (SNAT conntrack on a gateway) and move every flow naming it (a star's
 *   spokes, a site's peers) for no gain; the holder keeps it until it dies, stops being a candidate, or the race
 *   ends.
 * - A planned restart (SIGTERM) does not fail over: stopping leaves the lease to expire on its own (as for the
 *   chassis key), the key stays meanwhile, and the restarted agent — with a new lease — finds the key naming its
 *   chassis and moves it onto its new lease (compare-and-swap on its revision) before the old lease expires.
 * - A crash (agent killed, host gone): the lease expires after its TTL, the key goes with the chassis key, and the
 *   first live candidate takes it at once (watch → reconcile).
 * - Release: a holder that is no longer a candidate deletes the key (compare-and-swap on its revision), and the
 *   next candidate takes it.
 * - Standing down (`standDown`): a chassis whose agent lives but whose datapath is gone (ovs-vswitchd dead) would
 *   hold its roles on a healthy lease while dropping every packet they carry. While standDown() gives a reason it
 *   is a candidate in nothing: it releases what it holds (the next candidate takes over at once, well inside the
 *   lease TTL) and takes nothing; once the datapath is back it is a candidate again, non-preemptive as ever.
 *
 * What differs between races is only data, given by a RaceKind: the key prefix, the ranked candidates of each race
 * as the view shows them, and the document to write. Decisions read the store (one range per kind that concerns
 * this chassis) so they never act on a lagging view. Calls are serialised; the agent calls reconcile() on every
 * view change that may matter, on a periodic tick and once its lease changes.
 */
import { SerialPasses } from '../util/serial-passes.js';
import type { KeyValue, Store } from '../store/types.js';
import type { Logger } from '../util/log.js';
import { isoTime } from '../util/time.js';

export interface ElectionTimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  now(): number;
}

/** A held key as read from the store. */
export interface Holder {
  chassis: string;
  since?: string;
}

/** One family of races (router gateways, star centers, site gateways): data only, read from the view. */
export interface RaceKind {
  /** Short name for logs and status: `gateway`, `center`, `site-gateway`. */
  readonly name: string;
  /** Store prefix holding every race's key. */
  readonly prefix: string;
  /** The race a key under the prefix belongs to (undefined: not one of this kind's keys). */
  raceOf(key: string): string | undefined;
  keyOf(race: string): string;
  /** The holder a stored value names; throws if it does not decode (or names another race: foreign data). */
  holderOf(value: string, race: string): Holder;
  /** The document this chassis writes when it takes (or keeps) the race. */
  document(race: string, chassis: string, since: string): string;
  /**
   * Races this chassis is a candidate in now → live eligible candidates in rank order. A race listing this chassis
   * without it in the ranked list is one it waits in (not eligible yet: it neither takes nor releases the key); a
   * race absent from the map is one it must not hold.
   */
  races(me: string): Map<string, readonly string[]>;
  /** Whether the view shows this chassis holding any key of this kind (a release may be due without any race). */
  holdsInView(me: string): boolean;
  /** The holder of a race as the watched view shows it (undefined: none seen). */
  holderInView?(race: string): string | undefined;
  /**
   * Whether the view is complete enough for this kind to act at all (default: always). Until then its keys are
   * left alone — neither taken nor released — so a restarting agent whose lazily watched networks are not loaded
   * yet does not release a center it holds (it moves it onto its new lease once they are).
   */
  enabled?(): boolean;
}

export interface ElectionOptions {
  store: Store;
  /** This chassis's name. */
  chassis: string;
  kinds: readonly RaceKind[];
  /** This chassis's current lease (the chassis registration's), undefined while not registered. */
  leaseId: () => string | undefined;
  logger: Logger;
  /** Wait per rank before a lower-ranked candidate tries (default 500 ms). */
  backoffMs?: number;
  timers?: ElectionTimers;
  /** Told when this chassis takes or loses a race (logs, status). */
  onChange?: (kind: string, race: string, active: boolean) => void;
  /**
   * Why this chassis must hold no role now (its datapath is down), or undefined when it may. The caller reconciles
   * when the answer changes.
   */
  standDown?: () => string | undefined;
}

const realTimers: ElectionTimers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
  now: () => Date.now(),
};

export class Election {
  private readonly timers: ElectionTimers;
  private readonly backoffMs: number;
  /** Backoff timers, by kind then race. */
  private readonly waiting = new Map<string, Map<string, unknown>>();
  /** Races this chassis holds the key of (as last read), by kind. */
  private readonly held = new Map<string, Set<string>>();
  private readonly passes = new SerialPasses(
    () => this.pass(),
    () => this.stopped,
  );
  private stopped = false;
  /** Last failure (status). */
  lastError: string | undefined;

  constructor(private readonly opts: ElectionOptions) {
    this.timers = opts.timers ?? realTimers;
    this.backoffMs = opts.backoffMs ?? 500;
    for (const k of opts.kinds) {
      this.waiting.set(k.name, new Map());
      this.held.set(k.name, new Set());
    }
  }

  private get me(): string {
    return this.opts.chassis;
  }

  /** Races of a kind this chassis holds now (as of the last reconcile), sorted. */
  active(kind: string): string[] {
    return [...(this.held.get(kind) ?? [])].sort();
  }

  /** Converges this chassis's part in every race; resolves when done (failures are retried on the next call). */
  reconcile(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return this.passes.run();
  }

  private async pass(): Promise<void> {
    try {
      for (const kind of this.opts.kinds) await this.once(kind);
      this.lastError = undefined;
    } catch (err) {
      this.lastError = (err as Error)?.message ?? String(err);
      this.opts.logger.warn({ err }, 'election failed; retrying on the next change or tick');
    }
  }

  /** Stops taking part (timers cleared). Held keys stay on the lease: a stop is a restart unless the lease is revoked. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const w of this.waiting.values()) {
      for (const h of w.values()) this.timers.clearTimeout(h);
      w.clear();
    }
    await this.passes.settled();
  }

  private async once(kind: RaceKind): Promise<void> {
    const lease = this.opts.leaseId();
    if (!lease) return;
    const { store, logger } = this.opts;
    if (kind.enabled && !kind.enabled()) return;
    const held = this.held.get(kind.name)!;
    const waiting = this.waiting.get(kind.name)!;
    const standingDown = this.opts.standDown?.();
    const races = standingDown === undefined ? kind.races(this.me) : new Map<string, readonly string[]>();
    // Nothing to do for a chassis no race lists and that holds no key as far as the watched view knows: no read.
    // Nor when every race it is in has another holder in the view (a standby: the periodic tick then costs no
    // read; the holder's deletion comes through the watch and runs this again).
    const quiet =
      held.size === 0 &&
      waiting.size === 0 &&
      !kind.holdsInView(this.me) &&
      [...races.keys()].every((r) => {
        const h = kind.holderInView?.(r);
        return h !== undefined && h !== this.me;
      });
    if (quiet) return;
    const { kvs } = await store.range(kind.prefix);
    const current = new Map<string, { kv: KeyValue; doc: Holder | undefined }>();
    for (const kv of kvs) {
      const race = kind.raceOf(kv.key);
      if (race === undefined) continue;
      let doc: Holder | undefined;
      try {
        doc = kind.holderOf(kv.value, race);
      } catch (err) {
        logger.warn({ key: kv.key, err: (err as Error).message }, `ignoring a ${kind.name} lease that does not decode`);
      }
      current.set(race, { kv, doc });
    }

    // Keys we hold but should not: the race is over, or this chassis is no longer a candidate.
    for (const [race, { kv, doc }] of current) {
      if (doc?.chassis !== this.me || races.has(race)) continue;
      const res = await store.txn([{ key: kv.key, modRevision: kv.modRevision }], [{ op: 'delete', key: kv.key }]);
      if (res.succeeded) {
        if (standingDown !== undefined)
          logger.warn({ kind: kind.name, race, reason: standingDown }, `${kind.name} released: ${standingDown}`);
        else logger.info({ kind: kind.name, race }, `${kind.name} released (no longer a candidate)`);
        this.setHeld(kind, race, false);
      }
      current.delete(race);
    }

    // Writes (lease moves, takes) go out together: a chassis first in many races (a center of many star networks)
    // must not take them one round trip after another while the others' backoff runs out.
    const writes: Promise<void>[] = [];
    for (const [race, ranked] of races) {
      const cur = current.get(race);
      if (cur) {
        this.cancelWait(kind, race);
        if (cur.doc?.chassis !== this.me) {
          this.setHeld(kind, race, false);
          continue;
        }
        // Ours: on our current lease (a restarted agent moves it from its predecessor's lease before that expires).
        if (cur.kv.lease !== lease) {
          const since = cur.doc.since ?? isoTime(this.timers.now());
          writes.push(
            store
              .txn(
                [{ key: cur.kv.key, modRevision: cur.kv.modRevision }],
                [{ op: 'put', key: cur.kv.key, value: kind.document(race, this.me, since), lease }],
              )
              .then((res) => {
                if (res.succeeded)
                  logger.info({ kind: kind.name, race, lease }, `${kind.name} kept across a restart: moved onto the new lease`);
                else this.passes.repeat();
              }),
          );
        }
        this.setHeld(kind, race, true);
        continue;
      }
      // Absent: the first live eligible candidate takes it now, the others after rank × backoff if still absent.
      const rank = ranked.indexOf(this.me);
      if (rank < 0) {
        // Listed but not eligible yet (a gateway without its patch port): wait for a change.
        this.cancelWait(kind, race);
        continue;
      }
      if (rank === 0) {
        this.cancelWait(kind, race);
        writes.push(this.acquire(kind, race, lease));
      } else if (!waiting.has(race)) {
        const h = this.timers.setTimeout(() => {
          waiting.delete(race);
          void this.acquireIfAbsent(kind, race);
        }, rank * this.backoffMs);
        waiting.set(race, h);
      }
    }
    const failed = (await Promise.allSettled(writes)).find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    for (const race of [...waiting.keys()]) if (!races.has(race)) this.cancelWait(kind, race);
    for (const race of [...held]) if (!races.has(race)) this.setHeld(kind, race, false);
  }

  private async acquireIfAbsent(kind: RaceKind, race: string): Promise<void> {
    if (this.stopped) return;
    const lease = this.opts.leaseId();
    if (!lease || (kind.enabled && !kind.enabled()) || this.opts.standDown?.() !== undefined) return;
    if (!kind.races(this.me).get(race)?.includes(this.me)) return;
    try {
      await this.acquire(kind, race, lease);
    } catch (err) {
      this.opts.logger.warn({ err, kind: kind.name, race }, `${kind.name} takeover failed; retrying on the next change or tick`);
    }
  }

  /** Create-if-absent on our lease; losing the race is fine (someone else is active). */
  private async acquire(kind: RaceKind, race: string, lease: string): Promise<void> {
    const key = kind.keyOf(race);
    const value = kind.document(race, this.me, isoTime(this.timers.now()));
    const res = await this.opts.store.txn([{ key, modRevision: 0 }], [{ op: 'put', key, value, lease }]);
    if (res.succeeded) {
      this.opts.logger.warn({ kind: kind.name, race, lease }, `${kind.name} taken: this chassis is now active`);
      this.setHeld(kind, race, true);
    }
  }

  private cancelWait(kind: RaceKind, race: string): void {
    const w = this.waiting.get(kind.name)!;
    const h = w.get(race);
    if (h === undefined) return;
    this.timers.clearTimeout(h);
    w.delete(race);
  }

  private setHeld(kind: RaceKind, race: string, active: boolean): void {
    const held = this.held.get(kind.name)!;
    if (held.has(race) === active) return;
    if (active) held.add(race);
    else held.delete(race);
    this.opts.onChange?.(kind.name, race, active);
  }
}
