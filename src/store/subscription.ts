/**
 * Watch exactly a set of key prefixes and change the set at run time (the agent's lazy sync: one
 * prefix per network plus a few global ones). Each prefix is read at a revision R and watched from
 * R+1, so its consumer sees a snapshot then every later change once, in order. A compacted or failed
 * watch is healed by re-reading: a 'resync' carries the full current contents of the prefix.
 *
 * Overlapping prefixes are independent: a key under both is reported once per prefix.
 */
import { EventEmitter } from 'node:events';
import { silentLogger, type Logger } from '../util/log.js';
import type { KeyValue, Store, Watch, WatchBatch } from './types.js';

export type SubscriptionEvent =
  /** Contents of a newly added prefix at `revision`. */
  | { type: 'snapshot'; prefix: string; kvs: KeyValue[]; revision: number }
  /** Full contents after the watch lost continuity (compaction/failure): replace, don't merge. */
  | { type: 'resync'; prefix: string; kvs: KeyValue[]; revision: number }
  | { type: 'put'; prefix: string; kv: KeyValue; prev?: KeyValue; revision: number }
  | { type: 'delete'; prefix: string; key: string; prev?: KeyValue; revision: number };

export interface PrefixSubscriptionOptions {
  logger?: Logger;
  /** Called for every event (same as listening to 'event'). */
  onEvent?: (ev: SubscriptionEvent) => void;
  /** Delay before re-reading a prefix whose watch failed (ms, default 1000). */
  retryMs?: number;
}

interface Entry {
  prefix: string;
  watch?: Watch;
  /** Revision of the last event or snapshot emitted for this prefix. */
  revision: number;
  retry?: NodeJS.Timeout;
}

/**
 * Events: 'event' (SubscriptionEvent), and 'error' (prefix, Error) only when someone listens.
 */
export class PrefixSubscription extends EventEmitter {
  private readonly entries = new Map<string, Entry>();
  private readonly logger: Logger;
  private closed = false;

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

  /** Starts watching `prefix`; resolves after its snapshot was emitted. No-op if already watched. */
  async add(prefix: string): Promise<void> {
    if (this.closed || this.entries.has(prefix)) return;
    const e: Entry = { prefix, revision: 0 };
    this.entries.set(prefix, e);
    try {
      await this.load(e, 'snapshot');
    } catch (err) {
      if (this.entries.get(prefix) === e) this.entries.delete(prefix);
      throw err;
    }
  }

  /** Stops watching `prefix`: nothing more is emitted for it once this resolves (and not after it is called). */
  async remove(prefix: string): Promise<void> {
    const e = this.entries.get(prefix);
    if (!e) return;
    this.entries.delete(prefix);
    if (e.retry) clearTimeout(e.retry);
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
    const { kvs, revision } = await this.store.range(e.prefix);
    if (!this.live(e)) return;
    e.revision = revision;
    this.emitEvent({ type: kind, prefix: e.prefix, kvs, revision });
    if (!this.live(e)) return;
    e.watch = this.store.watch(e.prefix, revision + 1, {
      onBatch: (b) => this.onBatch(e, b),
      onCompacted: (rev) => {
        this.logger.warn({ prefix: e.prefix, compactRevision: rev, at: e.revision }, 'watch compacted; re-reading prefix');
        this.reload(e, 0);
      },
      onError: (err) => {
        this.logger.warn({ prefix: e.prefix, err }, 'watch failed; re-reading prefix');
        if (this.listenerCount('error') > 0) this.emit('error', e.prefix, err);
        this.reload(e, this.opts.retryMs ?? 1000);
      },
    });
  }

  private reload(e: Entry, delayMs: number): void {
    if (!this.live(e)) return;
    const old = e.watch;
    e.watch = undefined;
    void old?.cancel();
    const run = (): void => {
      e.retry = undefined;
      if (!this.live(e)) return;
      this.load(e, 'resync').catch((err: unknown) => {
        this.logger.warn({ prefix: e.prefix, err }, 're-read failed; retrying');
        this.reload(e, this.opts.retryMs ?? 1000);
      });
    };
    if (delayMs > 0) e.retry = setTimeout(run, delayMs);
    else queueMicrotask(run);
  }

  private onBatch(e: Entry, b: WatchBatch): void {
    // Drivers guarantee order; this guard keeps a late batch of a replaced watch from re-emitting.
    if (!this.live(e) || b.revision <= e.revision) return;
    e.revision = b.revision;
    for (const ev of b.events) {
      if (!this.live(e)) return;
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
  }
}
