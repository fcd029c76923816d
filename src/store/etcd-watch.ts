/**
 * One etcd prefix watch with the Store contract's guarantees on top of a WatchStream:
 *  - events are regrouped into one batch per revision (a response may carry several revisions);
 *  - we track the next revision we still need, and each (re)creation after a stream break asks for exactly
 *    that one, so nothing is skipped and
 *  - anything at or below the last delivered revision is dropped (no duplicates after failover);
 *  - a cancellation caused by compaction becomes onCompacted(last compacted revision).
 */
import type { Logger } from '../util/log.js';
import type { WatchBatch, WatchEvent, WatchHandlers } from './types.js';
import type { WatchTarget } from './etcd-client/watch-stream.js';
import type { Event, WatchCreateRequest, WatchResponse } from './etcd-client/messages.js';
import { mapError, prefixEnd, toKv } from './etcd.js';

export class EtcdWatch implements WatchTarget {
  /** Next revision not yet delivered (undefined until a "from now" watch is created). */
  private next: number | undefined;
  private done = false;
  private connected = false;
  private readonly key: Buffer;
  private readonly end: Buffer;

  constructor(
    private readonly prefix: string,
    from: number | undefined,
    private readonly handlers: WatchHandlers,
    private readonly logger: Logger,
  ) {
    this.next = from;
    this.key = Buffer.from(prefix);
    this.end = prefixEnd(prefix);
  }

  request(): WatchCreateRequest {
    return { key: this.key, range_end: this.end, prev_kv: true, ...(this.next !== undefined ? { start_revision: this.next } : {}) };
  }

  created(res: WatchResponse): void {
    if (this.next === undefined) this.next = res.header.revision + 1;
    if (this.connected && !this.done) {
      this.logger.debug({ prefix: this.prefix, next: this.next }, 'etcd watch resumed');
      this.handlers.onResumed?.();
    }
    this.connected = true;
  }

  response(res: WatchResponse): void {
    if (this.done) return;
    if (res.events.length === 0) {
      // Progress notification: everything up to the header revision has been sent.
      if (this.next !== undefined && res.header.revision + 1 > this.next) this.next = res.header.revision + 1;
      return;
    }
    const batches: WatchBatch[] = [];
    for (const ev of res.events) {
      const rev = ev.kv.mod_revision;
      if (this.next !== undefined && rev < this.next) continue; // replayed after a reconnect
      let b = batches[batches.length - 1];
      if (!b || b.revision !== rev) {
        b = { revision: rev, events: [] };
        batches.push(b);
      }
      b.events.push(toEvent(ev, rev));
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

  canceled(res: WatchResponse): void {
    if (this.done) return;
    this.done = true;
    if (res.compact_revision > 0) {
      // etcd names the oldest revision it still has; the one before it is the last compacted.
      const compacted = res.compact_revision - 1;
      if (this.handlers.onCompacted) this.handlers.onCompacted(compacted);
      else this.handlers.onError?.(mapError(new Error(`etcdserver: mvcc: required revision has been compacted (${compacted})`), 'watch'));
      return;
    }
    this.handlers.onError?.(mapError(new Error(res.cancel_reason || 'etcd cancelled the watch'), `watch ${this.prefix}`));
  }

  failed(err: Error): void {
    if (this.done) return;
    this.done = true;
    this.handlers.onError?.(mapError(err, `watch ${this.prefix}`));
  }

  stop(): void {
    this.done = true;
  }
}

function toEvent(ev: Event, rev: number): WatchEvent {
  const prev = ev.prev_kv ? toKv(ev.prev_kv) : undefined;
  if (ev.type === 0) return prev ? { type: 'put', kv: toKv(ev.kv), prev } : { type: 'put', kv: toKv(ev.kv) };
  const key = ev.kv.key.toString();
  return prev ? { type: 'delete', key, modRevision: rev, prev } : { type: 'delete', key, modRevision: rev };
}
