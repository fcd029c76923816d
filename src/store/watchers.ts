/**
 * In-process watch fan-out for the engine-backed drivers. Each watcher has its own queue drained
 * on a microtask, so a commit never runs user callbacks synchronously (no re-entrancy into a txn)
 * and batches reach each watcher in revision order.
 */
import type { Logger } from '../util/log.js';
import type { Watch, WatchBatch, WatchEvent, WatchHandlers } from './types.js';

interface Entry {
  prefix: string;
  from: number;
  handlers: WatchHandlers;
  queue: WatchBatch[];
  scheduled: boolean;
  cancelled: boolean;
}

const keyOf = (e: WatchEvent): string => (e.type === 'put' ? e.kv.key : e.key);

/** The part of `batch` under `prefix`, or undefined when nothing of it is. */
export function filterBatch(batch: WatchBatch, prefix: string): WatchBatch | undefined {
  if (prefix === '') return batch;
  const events = batch.events.filter((e) => keyOf(e).startsWith(prefix));
  return events.length > 0 ? { revision: batch.revision, events } : undefined;
}

export class Watchers {
  private readonly entries = new Set<Entry>();

  constructor(private readonly logger: Logger) {}

  get size(): number {
    return this.entries.size;
  }

  add(prefix: string, from: number, replay: WatchBatch[], handlers: WatchHandlers): Watch {
    const e: Entry = { prefix, from, handlers, queue: [], scheduled: false, cancelled: false };
    for (const b of replay) {
      const f = filterBatch(b, prefix);
      if (f) e.queue.push(f);
    }
    this.entries.add(e);
    if (e.queue.length > 0) this.schedule(e);
    return { cancel: async () => this.remove(e) };
  }

  /** A watch whose start revision is gone: signal once, deliver nothing. */
  compacted(handlers: WatchHandlers, compactRevision: number): Watch {
    let cancelled = false;
    queueMicrotask(() => {
      if (cancelled) return;
      if (handlers.onCompacted) this.safe(() => handlers.onCompacted!(compactRevision));
      else handlers.onError?.(new Error(`watch start revision compacted (compact revision ${compactRevision})`));
    });
    return { cancel: async () => void (cancelled = true) };
  }

  deliver(batch: WatchBatch): void {
    for (const e of this.entries) {
      if (batch.revision < e.from) continue;
      const f = filterBatch(batch, e.prefix);
      if (!f) continue;
      e.queue.push(f);
      this.schedule(e);
    }
  }

  private schedule(e: Entry): void {
    if (e.scheduled) return;
    e.scheduled = true;
    queueMicrotask(() => {
      e.scheduled = false;
      while (e.queue.length > 0 && !e.cancelled) {
        const b = e.queue.shift()!;
        this.safe(() => e.handlers.onBatch(b));
      }
    });
  }

  private safe(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      // A throwing handler must not break delivery to others or the writer that triggered it.
      this.logger.error({ err }, 'watch handler threw');
    }
  }

  private remove(e: Entry): void {
    e.cancelled = true;
    e.queue.length = 0;
    this.entries.delete(e);
  }

  async cancelAll(): Promise<void> {
    for (const e of [...this.entries]) this.remove(e);
  }
}
