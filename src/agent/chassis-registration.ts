/**
 * This hypervisor's chassis registration, as state the agent converges to rather than a write made once: the
 * chassis key exists in the store, attached to a lease this agent keeps alive. Whatever shows otherwise — the
 * lease reported lost (it expired during an outage, and etcd may restore it only to expire it again), the key
 * seen deleted or missing from a snapshot, a periodic check finding it gone or on a foreign lease, the store
 * coming back — calls ensure(), which takes a new lease only when the old one is gone and rewrites the key.
 * Calls are serialised; one arriving while a write is under way runs again after it. A failed write is
 * retried by the agent: when the store link sees the store back ('up') and on every periodic check (verify).
 *
 * The first registration commissions the chassis (clears a decommission tombstone: starting an agent puts its
 * host back in service). Every later one writes only while no tombstone exists: an operator's `chassis delete`
 * or a decommission keeps a running agent out (retired) instead of being undone by its next check.
 *
 * Two leases when `presenceTtlSeconds` is longer than the TTL: the chassis key on a presence lease of that TTL, the
 * elected roles (gateway, center and site-gateway keys: leaseId) on the TTL's. A host cut off from the store alone
 * then stays present for its peers (its VMs reachable) for the presence TTL, while its roles fail over after the
 * TTL as ever. One lease carries both otherwise.
 *
 * With `probeKeepsAlive` (the agent, issue 17) the lease has no background keep-alive: the agent's store probe
 * (StoreHealth, every 2 s or TTL/3) calls probe(), whose one keep-alive both refreshes the lease and proves the
 * store answers — the linearizable read of the chassis key that probe used to make is gone. The key itself is
 * followed by the agent's watch of it (observe(), and a deletion through ownChassisGone), not read.
 */
import { SerialPasses } from '../util/serial-passes.js';
import { getRetirement, registerChassis, type ChassisRetirement } from '../model/chassis.js';
import { chassisKey } from '../model/keys.js';
import type { Chassis } from '../model/types.js';
import type { KeyValue, Lease, Store } from '../store/types.js';
import type { Logger } from '../util/log.js';
import { isoTime } from '../util/time.js';

export class ChassisRegistration {
  /** The lease of the elected roles, and of the chassis key too unless a presence lease is kept apart. */
  private lease: Lease | undefined;
  /** The chassis key's own lease (presenceTtlSeconds longer than the TTL). */
  private presence: Lease | undefined;
  private readonly passes = new SerialPasses(
    () => this.register(this.why),
    () => this.stopped,
  );
  /** The store revision of our last write of the key (0: none yet). */
  private writtenRevision = 0;
  /**
   * When the store last confirmed the roles lease (granted, or a keep-alive answered), in performance.now() ms:
   * monotonic, so a step of the wall clock neither stretches nor shrinks the window leaseConfirmed() reads.
   */
  private confirmedAt = -Infinity;
  /** Why the latest ensure() was called (its log line). */
  private why = '';
  private stopped = false;
  /** Last failure, for status (cleared once registered). */
  lastError: string | undefined;
  registeredAt: string | undefined;
  /** Set once the chassis is out of service (decommissioned here, or deleted by an operator). */
  retired: ChassisRetirement | undefined;

  constructor(
    private readonly store: Store,
    private readonly chassis: () => Chassis,
    private readonly ttlSeconds: number,
    private readonly logger: Logger,
    /** A write failed: the store link probes at once, and calls ensure() again when the store is back. */
    private readonly onFailure: (err: unknown) => void,
    private readonly opts: { probeKeepsAlive?: boolean; presenceTtlSeconds?: number } = {},
  ) {}

  /** Whether the chassis key has a lease of its own (a presence TTL longer than the roles'). */
  private get separate(): boolean {
    return (this.opts.presenceTtlSeconds ?? 0) > this.ttlSeconds;
  }

  /** The lease the chassis key is on. */
  private get keyLease(): Lease | undefined {
    return this.separate ? this.presence : this.lease;
  }

  /**
   * The store probe (probeKeepsAlive): a keep-alive of our lease — 'alive' — or, holding no lease (not registered
   * yet, retired), a read of our key. A lease the store no longer knows is not an outage: the store answered, so
   * this registers again with a new lease and still reports 'alive'.
   */
  async probe(): Promise<KeyValue | null | 'alive'> {
    const leases = [this.lease, this.presence].filter((l): l is Lease => l !== undefined);
    if (leases.length === 0) return (await this.store.get(this.key)) ?? null;
    await Promise.all(
      leases.map(async (lease) => {
        try {
          await lease.keepAliveOnce();
          if (this.lease === lease) this.confirmedAt = performance.now();
        } catch (err) {
          if ((err as { code?: string }).code !== 'INVALID') throw err;
          this.lost(lease, err);
        }
      }),
    );
    return 'alive';
  }

  /** A lease of ours the store no longer knows (it lapsed while the store could not be reached): take a new one. */
  private lost(lease: Lease, err: unknown): void {
    if (lease !== this.lease && lease !== this.presence) return;
    const which = !this.separate ? 'chassis' : lease === this.lease ? 'roles' : 'presence';
    if (lease === this.lease) this.lease = undefined;
    else this.presence = undefined;
    this.logger.warn({ err, lease: lease.id }, `${which} lease lost; registering with a new one`);
    void this.ensure('lease lost');
  }

  /**
   * Whether the store still vouches for our lease: it confirmed it within three quarters of the TTL (the probe keeps
   * it alive every TTL/3, so only a probe more than twice late leaves it unconfirmed). Past that, the lease may lapse
   * in the store any moment while we cannot ask — so another chassis may take what it carried (a gateway lease) —
   * even if no probe has failed yet (a partition that drops packets fails the probe only at its deadline). The store
   * expires a lease no sooner than a TTL after its last keep-alive, so a takeover never finds it still confirmed here.
   */
  leaseConfirmed(now = performance.now()): boolean {
    return this.lease !== undefined && now - this.confirmedAt < (this.ttlSeconds * 1000 * 3) / 4;
  }

  /** The probe period that keeps the lease alive when the probe is its keep-alive: at most TTL/3. */
  probeIntervalMs(wantedMs: number): number {
    return this.opts.probeKeepsAlive ? Math.min(wantedMs, (this.ttlSeconds * 1000) / 3) : wantedMs;
  }

  /** Our key as the watch delivered it (a put, or a snapshot holding it): on a lease not ours, register again. */
  observe(kv: KeyValue): void {
    const lease = this.keyLease;
    if (this.stopped || this.retired || !lease || this.passes.busy) return;
    if (kv.lease !== undefined && kv.lease !== lease.id) void this.ensure('chassis key on a lease not ours');
  }

  /** The lease the elected roles' keys go on (the chassis key's too, unless it has a presence lease). */
  get leaseId(): string | undefined {
    return this.lease?.id;
  }

  /** The lease the chassis key is on. */
  get chassisLeaseId(): string | undefined {
    return this.keyLease?.id;
  }

  /**
   * Whether a read of the store at `revision` without our key says it is gone: not while a registration pass is
   * under way (it writes the key when it ends), nor for a read older than our last write of it (the start's watch is
   * made beside the registration, so its first read may precede the key).
   */
  goneAt(revision: number): boolean {
    return !this.passes.busy && revision >= this.writtenRevision;
  }

  /** Makes sure the key is in the store on a live lease of ours; resolves when done or failed (then retried). */
  ensure(why: string): Promise<void> {
    if (this.stopped || this.retired) return Promise.resolve();
    this.why = why;
    return this.passes.run();
  }

  /** Reads the key back: missing, or attached to another lease than ours, means register again. */
  /** The key whose presence verify() checks: the agent's store probe reads it, so one read serves both. */
  get key(): string {
    return chassisKey(this.chassis().name);
  }

  /**
   * Checks the key as read now (`kv`, or read here when not given; 'alive': not read — the probe was a keep-alive
   * and the watch follows the key — so only a registration that failed earlier is retried).
   */
  async verify(read?: KeyValue | undefined | null | 'alive'): Promise<void> {
    if (this.stopped || this.passes.busy || this.retired) return;
    // Not registered yet and no attempt failed: the agent's start is registering now.
    if (!this.keyLease && this.lastError === undefined) return;
    if (read === 'alive') {
      if (!this.lease || !this.keyLease) await this.ensure('not registered yet');
      return;
    }
    const kv = read === undefined ? await this.store.get(this.key) : (read ?? undefined);
    const lease = this.keyLease;
    if (!this.lease || !lease) await this.ensure('not registered yet');
    else if (!kv) await this.ensure('chassis key missing');
    else if (kv.lease !== undefined && kv.lease !== lease.id) await this.ensure('chassis key on a lease not ours');
  }

  /**
   * Stops converging. withdraw: revoke the lease, so the key goes and peers stop tunnelling here at once
   * (decommission). Otherwise the lease is left to the store's close(), which stops its keep-alive without
   * revoking: if the agent does not come back within the TTL, the key lapses on its own.
   */
  async stop(opts: { withdraw?: boolean } = {}): Promise<void> {
    this.stopped = true;
    await this.passes.settled();
    if (opts.withdraw) await Promise.all([this.lease?.revoke(), this.presence?.revoke()]);
  }

  /**
   * Takes the chassis out of service from here (decommission): set before the key is deleted, so its deletion
   * coming back through the watch is not answered by registering again. undo() if the deletion failed.
   */
  retire(r: ChassisRetirement): { undo: () => void } {
    this.retired = r;
    return { undo: () => (this.retired = undefined) };
  }

  /** A lease of `ttl` seconds; its loss (reported by a background keep-alive) registers again. */
  private async grant(ttl: number): Promise<Lease> {
    const lease = await this.store.grantLease(ttl, {
      ...(this.opts.probeKeepsAlive ? { keepAlive: false } : {}),
      onLost: (err) => this.lost(lease, err),
    });
    return lease;
  }

  private async register(why: string): Promise<void> {
    if (this.retired) return;
    try {
      if (!this.lease) {
        const lease = await this.grant(this.ttlSeconds);
        if (this.stopped) return;
        this.lease = lease;
        this.confirmedAt = performance.now(); // granted just now: alive for a whole TTL
      }
      if (this.separate && !this.presence) {
        const lease = await this.grant(this.opts.presenceTtlSeconds!);
        if (this.stopped) return;
        this.presence = lease;
      }
      const keyLease = this.keyLease!;
      const c = this.chassis();
      const first = this.registeredAt === undefined;
      const done = await registerChassis(this.store, c, keyLease, { commission: first });
      if (done !== undefined) this.writtenRevision = done;
      if (done === undefined) {
        this.retired = (await getRetirement(this.store, c.name)) ?? { name: c.name, at: isoTime(), bindingsRemoved: [] };
        await Promise.all([this.lease?.revoke(), this.presence?.revoke()].map((p) => p?.catch(() => undefined)));
        this.lease = this.presence = undefined;
        this.logger.error(
          { chassis: c.name, at: this.retired.at, bindingsRemoved: this.retired.bindingsRemoved },
          'this chassis was taken out of service by an operator: not registering again (restart the agent to put it back)',
        );
        return;
      }
      this.registeredAt = isoTime();
      this.lastError = undefined;
      const leases = { lease: keyLease.id, ...(this.separate ? { rolesLease: this.lease!.id } : {}) };
      if (first) this.logger.info({ chassis: c.name, ...leases }, 'chassis registered');
      else this.logger.warn({ chassis: c.name, ...leases, why }, 'chassis registered again');
    } catch (err) {
      this.lastError = (err as Error)?.message ?? String(err);
      // A lease the store no longer knows cannot carry the key: take a new one next time.
      if ((err as { code?: string }).code === 'INVALID' && this.keyLease) {
        if (this.separate) this.presence = undefined;
        else this.lease = undefined;
        this.passes.repeat();
        return;
      }
      this.logger.debug({ err, why }, 'chassis registration failed; retrying when the store answers');
      this.onFailure(err);
    }
  }
}
