/**
 * One etcd prefix watch with the Store contract's guarantees on top of etcd3's Watcher:
 *  - events are regrouped into one batch per revision (a response may carry several revisions);
 *  - we track the next revision we still need and, each time etcd3 (re)creates the watch after a
 *    reconnect, make it resume exactly there — etcd3 alone resumes from the last *response header*
 *    revision, which can skip history not yet replayed when the stream broke;
 *  - anything at or below the last delivered revision is dropped (no duplicates after failover);
 *  - a cancellation caused by compaction becomes onCompacted(last compacted revision).
 */
import type { Etcd3, Namespace, Watcher } from 'etcd3';
import type { Logger } from '../util/log.js';
import type { WatchBatch, WatchEvent, WatchHandlers } from './types.js';
import { toKv } from './etcd.js';

type RawKv = Parameters<typeof toKv>[0];
interface RawEvent {
  type: 'Put' | 'Delete';
  kv: RawKv;
  prev_kv?: RawKv;
}

export class EtcdWatch {
  /** Next revision not yet delivered (undefined until a "from now" watch is created). */
  private next: number | undefined;
  private done = false;
  private readonly watcher: Watcher;

  constructor(
    private readonly client: Etcd3,
    /** The client itself or one of its namespaces: the gRPC watch stream this watch runs on. */
    stream: Namespace,
    private readonly prefix: string,
    from: number | undefined,
    private readonly handlers: WatchHandlers,
    private readonly logger: Logger,
    /** etcd refused the watch's credentials (an auth token that did not survive a restart). */
    private readonly onAuthFailure: () => void = () => undefined,
  ) {
    this.next = from;
    const b = stream.watch().prefix(prefix).withPreviousKV();
    if (from !== undefined) b.startRevision(String(from));
    const w = b.watcher();
    this.watcher = w;
    w.on('connecting', (req) => {
      // etcd3 passes the very create request it is about to send: steer its start revision.
      if (this.next !== undefined) (req as unknown as { start_revision?: number }).start_revision = this.next;
    });
    let connected = false;
    w.on('connected', (res) => {
      if (this.next === undefined) this.next = Number(res.header.revision) + 1;
      if (connected && !this.done) this.handlers.onResumed?.();
      connected = true;
    });
    w.on('data', (res) => this.onData(res.events as unknown as RawEvent[], Number(res.header.revision)));
    w.on('disconnected', (err: Error) =>
      this.logger.debug({ prefix, err: err.message, next: this.next }, 'etcd watch disconnected; etcd3 reconnects'),
    );
    w.on('error', (err: Error) => void this.onFailure(err));
  }

  private onData(events: RawEvent[], headerRevision: number): void {
    if (this.done) return;
    if (events.length === 0) {
      // Progress notification: everything up to the header revision has been sent.
      if (this.next !== undefined && headerRevision + 1 > this.next) this.next = headerRevision + 1;
      return;
    }
    const batches: WatchBatch[] = [];
    for (const ev of events) {
      const rev = Number(ev.kv.mod_revision);
      if (this.next !== undefined && rev < this.next) continue; // replayed after a reconnect
      let b = batches[batches.length - 1];
      if (!b || b.revision !== rev) {
        b = { revision: rev, events: [] };
        batches.push(b);
      }
      b.events.push(this.toEvent(ev, rev));
    }
    for (const b of batches) {
      if (this.done) return;
      this.next = b.revision + 1;
      try {
        this.handlers.onBatch(b);
      } catch (err) {
        this.logger.error({ err, prefix: this.prefix }, 'watch handler threw');
      }
    }
  }

  private toEvent(ev: RawEvent, rev: number): WatchEvent {
    const prev = ev.prev_kv ? toKv(ev.prev_kv) : undefined;
    if (ev.type === 'Put') return prev ? { type: 'put', kv: toKv(ev.kv), prev } : { type: 'put', kv: toKv(ev.kv) };
    const key = ev.kv.key.toString();
    return prev ? { type: 'delete', key, modRevision: rev, prev } : { type: 'delete', key, modRevision: rev };
  }

  private async readable(rev: number): Promise<boolean> {
    try {
      await this.client.kv.range({ key: Buffer.from(this.prefix), revision: rev, count_only: true });
      return true;
    } catch (err) {
      if (/compacted/.test((err as Error).message)) return false;
      throw err;
    }
  }

  /** etcd cancelled the watch: find out whether our start revision was compacted. */
  private async onFailure(err: Error): Promise<void> {
    if (this.done) return;
    if (/invalid auth token|auth token is not provided|Unauthenticated/i.test(err.message)) {
      // The token died with the member that issued it (etcd's simple tokens do not survive a restart), and
      // the client's watch stream keeps sending it. The store renews its watch client; the owner re-reads.
      this.done = true;
      this.logger.info({ prefix: this.prefix }, 'etcd refused the watch token; renewing the watch client');
      this.onAuthFailure();
      this.handlers.onError?.(err);
      return;
    }
    try {
      const start = this.next ?? 1;
      if (!(await this.readable(start))) {
        // Smallest still-readable revision, by bisection (rare path); report the one before it.
        let lo = start;
        let hi = Number((await this.client.kv.range({ key: Buffer.from(this.prefix), count_only: true })).header.revision);
        while (hi - lo > 1) {
          const mid = Math.floor((lo + hi) / 2);
          if (await this.readable(mid)) hi = mid;
          else lo = mid;
        }
        this.done = true;
        if (this.handlers.onCompacted) this.handlers.onCompacted(hi - 1);
        else this.handlers.onError?.(err);
        return;
      }
    } catch (probeErr) {
      this.logger.warn({ err: probeErr, prefix: this.prefix }, 'could not probe compaction after watch failure');
    }
    this.done = true;
    this.handlers.onError?.(err);
  }

  /** Whether this watch runs on `client`. */
  runsOn(client: Etcd3): boolean {
    return this.client === client;
  }

  /**
   * The client under this watch is being replaced: stop it and tell the owner, who re-reads its prefix and
   * watches again (on the new client). A watch whose create was refused can leave its siblings on the same
   * stream neither cancelled nor served, so every watch of the old client moves, not only the refused one.
   */
  failOver(err: Error): void {
    if (this.done) return;
    this.done = true;
    void this.watcher.cancel().catch(() => undefined);
    this.handlers.onError?.(err);
  }

  async cancel(): Promise<void> {
    this.done = true;
    // A cancel waits for etcd's confirmation; don't hang on it if the member is gone.
    await Promise.race([this.watcher.cancel().catch(() => undefined), new Promise((r) => setTimeout(r, 2000).unref())]);
  }
}
