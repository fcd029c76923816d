/**
 * Watch exactly a set of key prefixes and change the set at run time (the agent's lazy sync: one
 * prefix per network plus a few global ones). Each prefix is read at a revision R and watched from
 * R+1, so its consumer sees a snapshot then every later change once, in order. A compacted or failed
 * watch is healed by re-reading: a 'resync' carries the full current contents of the prefix.
 *
 * Overlapping prefixes are independent: a key under both is reported once per prefix.
 *
 * The store may be unreachable when a prefix is added (an agent starting during a store outage). With
 * `fallback`, the last known contents of the prefix (the agent's on-disk cache) are emitted as a snapshot
 * marked `cached`, and the prefix is read again in the background until the store answers: that read arrives
 * as a 'resync' carrying the store's truth. With `background` and nothing cached, add() does not fail: the
 * prefix stays subscribed, its snapshot comes once the store answers, and whenLoaded() tells when every
 * prefix has had one. Retries back off (retryMs doubling up to retryMaxMs); retryNow() cuts every wait short
 * (the store is known to be back).
 */
import { EventEmitter } from 'node:events';
import { Backoff } from '../util/backoff.js';
import { silentLogger, type Logger } from '../util/log.js';
import type { KeyValue, Store, Watch, WatchBatch } from './types.js';

export type SubscriptionEvent =
  /** Contents of a newly added prefix at `revision` (`cached`: the fallback's, the store did not answer). */
  | { type: 'snapshot'; prefix: string; kvs: KeyValue[]; revision: number; cached?: true }
  /** Full contents after the watch lost continuity (compaction/failure): replace, don't merge. */
  | { type: 'resync'; prefix: string; kvs: KeyValue[]; revision: number }
  | { type: 'put'; prefix: string; kv: KeyValue; prev?: KeyValue; revision: number }
  | { type: 'delete'; prefix: string; key: string; prev?: KeyValue; revision: number };

export interface PrefixSubscriptionOptions {
  logger?: Logger;
  /** Called for every event (same as listening to 'event'). */
  onEvent?: (ev: SubscriptionEvent) => void;
  /** First delay before re-reading a prefix whose read or watch failed (ms, default 1000). */
  retryMs?: number;
  /** Longest delay between retries (ms, default 2000). */
  retryMaxMs?: number;
  /** Last known contents of a prefix, used when the store cannot be read as it is added. */
  fallback?: (prefix: string) => KeyValue[] | undefined;
  /** With nothing to fall back on, add() resolves anyway and the first read is retried in the background. */
  background?: boolean;
}

interface Entry {
  prefix: string;
  watch?: Watch;
  /** Revision of the last event or snapshot emitted for this prefix. */
  revision: number;
  retry?: NodeJS.Timeout;
  /** Runs the pending retry at once (retryNow). */
  retryRun?: () => void;
  backoff: Backoff;
  /** A snapshot (from the store or the fallback) has been emitted. */
  loaded: boolean;
  /** One key, not a prefix: the store's prefix read and watch also return longer keys (hv1 → hv10), dropped here. */
  exact?: boolean;
}

/**
 * Events: 'event' (SubscriptionEvent), 'resumed' (prefix: the driver re-established a broken watch stream where it
 * left off), and 'error' (prefix, Error) only when someone listens.
 */
export class PrefixSubscription extends EventEmitter {
  private readonly entries = new Map<string, Entry>();
  private readonly logger: Logger;
  /**
   * Events of longer keys that an exact-key entry's prefix watch delivered and this subscription dropped: the cost
   * of the Store contract having prefix watches only (a chassis named hv1 also hears hv10 … hv19 on the wire).
   */
  foreignEvents = 0;
  private closed = false;
  /**
   * The last read failed and none has succeeded since. A prefix added meanwhile that has cached contents starts
   * from them at once, its read going on in the background: a store that drops packets (a partition) fails each
   * read only at its deadline, and lazy sync adds prefixes level by level (chassis, routers, networks, ports…), so
   * waiting for each level's deadline would keep a restarted agent's switch unprogrammed for several of them.
   */
  private unreachable = false;

  constructor(
    private readonly store: Store,
    private readonly opts: PrefixSubscriptionOptions = {},
  ) {
    super();
    this.logger = (opts.logger ?? silentLogger).child({ component: 'prefix-subscription' });
  }

  prefixes(): string[] {
    return [...this.entries.keys()];
  }

  /**
   * Starts watching `prefix`; resolves after its snapshot was emitted (from the store, or from the fallback
   * while the store is unreachable). No-op if already watched. `exact`: `prefix` is one key — its snapshot and
   * events carry that key only.
   */
  async add(prefix: string, opts: { exact?: boolean } = {}): Promise<void> {
    if (this.closed || this.entries.has(prefix)) return;
    const e: Entry = { prefix, revision: 0, backoff: this.newBackoff(), loaded: false, ...(opts.exact ? { exact: true } : {}) };
    this.entries.set(prefix, e);
    const early = this.unreachable ? this.opts.fallback?.(prefix) : undefined;
    if (early) {
      this.logger.debug({ prefix }, 'store unreachable just now; using the cached contents while it is read');
      this.emitEvent({ type: 'snapshot', prefix, kvs: early, revision: 0, cached: true });
      this.reload(e, 0);
      return;
    }
    try {
      await this.load(e, 'snapshot');
      return;
    } catch (err) {
      this.unreachable = true;
      const cached = this.opts.fallback?.(prefix);
      if (cached && this.live(e)) {
        this.note({ prefix, err }, 'store unreachable; using the cached contents until it answers');
        this.emitEvent({ type: 'snapshot', prefix, kvs: cached, revision: 0, cached: true });
        this.reload(e, e.backoff.next());
        return;
      }
      if (!this.opts.background) {
        if (this.entries.get(prefix) === e) this.entries.delete(prefix);
        throw err;
      }
      this.note({ prefix, err }, 'store unreachable and nothing cached; its snapshot comes when the store answers');
      this.reload(e, e.backoff.next(), 'snapshot');
    }
  }

  /** Every watched prefix that `which` selects has had its snapshot (or cached snapshot). */
  loaded(which: (prefix: string) => boolean = () => true): boolean {
    return [...this.entries.values()].every((e) => e.loaded || !which(e.prefix));
  }

  /** Resolves once every watched prefix that `which` selects has had its snapshot (or cached snapshot). */
  whenLoaded(which: (prefix: string) => boolean = () => true): Promise<void> {
    const done = (): boolean => this.loaded(which);
    if (done()) return Promise.resolve();
    return new Promise((resolve) => {
      const check = (): void => {
        if (!done()) return;
        this.off('loaded', check);
        resolve();
      };
      this.on('loaded', check);
    });
  }

  /** Cuts every pending retry short: the caller knows the store answers again. */
  retryNow(): void {
    for (const e of this.entries.values()) {
      e.backoff.reset();
      e.retryRun?.();
    }
  }

  /**
   * A store failure worth a line. In background mode the owner reports outages once (the agent's store
   * health), so each of its many prefixes only notes them at debug level.
   */
  private note(obj: object, msg: string): void {
    if (this.opts.background) this.logger.debug(obj, msg);
    else this.logger.warn(obj, msg);
  }

  private newBackoff(): Backoff {
    const minMs = this.opts.retryMs ?? 1000;
    return new Backoff({ minMs, maxMs: Math.max(minMs, this.opts.retryMaxMs ?? 2000) });
  }

  /** Stops watching `prefix`: nothing more is emitted for it once this resolves (and not after it is called). */
  async remove(prefix: string): Promise<void> {
    const e = this.entries.get(prefix);
    if (!e) return;
    this.entries.delete(prefix);
    if (e.retry) clearTimeout(e.retry);
    this.emit('loaded');
    await e.watch?.cancel();
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.prefixes().map((p) => this.remove(p)));
  }

  private live(e: Entry): boolean {
    return !this.closed && this.entries.get(e.prefix) === e;
  }

  /** Reads the prefix at R, emits it, and watches from R+1. */
  private async load(e: Entry, kind: 'snapshot' | 'resync'): Promise<void> {
    const read = await this.store.range(e.prefix);
    this.unreachable = false;
    if (!this.live(e)) return;
    const { revision } = read;
    const kvs = e.exact ? read.kvs.filter((kv) => kv.key === e.prefix) : read.kvs;
    e.revision = revision;
    e.backoff.reset();
    this.emitEvent({ type: kind, prefix: e.prefix, kvs, revision });
    if (!this.live(e)) return;
    e.watch = this.store.watch(e.prefix, revision + 1, {
      onBatch: (b) => this.onBatch(e, b),
      onResumed: () => {
        if (this.live(e)) this.emit('resumed', e.prefix);
      },
      onCompacted: (rev) => {
        this.logger.warn({ prefix: e.prefix, compactRevision: rev, at: e.revision }, 'watch compacted; re-reading prefix');
        this.reload(e, 0);
      },
      onError: (err) => {
        this.note({ prefix: e.prefix, err }, 'watch failed; re-reading prefix');
        if (this.listenerCount('error') > 0) this.emit('error', e.prefix, err);
        this.reload(e, e.backoff.next());
      },
    });
  }

  private reload(e: Entry, delayMs: number, kind: 'snapshot' | 'resync' = 'resync'): void {
    if (!this.live(e)) return;
    const old = e.watch;
    e.watch = undefined;
    void old?.cancel();
    const run = (): void => {
      if (e.retry) clearTimeout(e.retry);
      e.retry = e.retryRun = undefined;
      if (!this.live(e)) return;
      this.load(e, kind).catch((err: unknown) => {
        this.unreachable = true;
        if (e.backoff.attempts <= 1) this.note({ prefix: e.prefix, err }, 're-read failed; retrying');
        else this.logger.debug({ prefix: e.prefix, err }, 're-read failed; retrying');
        this.reload(e, e.backoff.next(), kind);
      });
    };
    if (delayMs > 0) {
      e.retry = setTimeout(run, delayMs);
      e.retryRun = run;
    } else queueMicrotask(run);
  }

  private onBatch(e: Entry, b: WatchBatch): void {
    // Drivers guarantee order; this guard keeps a late batch of a replaced watch from re-emitting.
    if (!this.live(e) || b.revision <= e.revision) return;
    e.revision = b.revision;
    for (const ev of b.events) {
      if (!this.live(e)) return;
      if (e.exact && (ev.type === 'put' ? ev.kv.key : ev.key) !== e.prefix) {
        this.foreignEvents++;
        continue;
      }
      if (ev.type === 'put') {
        this.emitEvent({ type: 'put', prefix: e.prefix, kv: ev.kv, ...(ev.prev ? { prev: ev.prev } : {}), revision: b.revision });
      } else {
        this.emitEvent({ type: 'delete', prefix: e.prefix, key: ev.key, ...(ev.prev ? { prev: ev.prev } : {}), revision: b.revision });
      }
    }
  }

  private emitEvent(ev: SubscriptionEvent): void {
    try {
      this.opts.onEvent?.(ev);
      this.emit('event', ev);
    } catch (err) {
      this.logger.error({ err, prefix: ev.prefix }, 'subscription consumer threw');
    }
    const e = this.entries.get(ev.prefix);
    if (e && !e.loaded && (ev.type === 'snapshot' || ev.type === 'resync')) {
      e.loaded = true;
      this.emit('loaded');
    }
  }
}
