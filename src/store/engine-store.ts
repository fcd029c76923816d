/**
 * The `Store` face of an Engine, shared by the memory and level drivers. A store handle owns the
 * background keep-alives of the leases it granted: closing a handle that does not own the engine
 * stops them without revoking, so its leases expire by TTL — how an agent crash looks to others.
 */
import {
  StoreError,
  type Compare,
  type GrantOptions,
  type KeyValue,
  type Lease,
  type RangeResult,
  type ReadOp,
  type ReadResult,
  type Store,
  type TxnOp,
  type TxnResult,
  type Watch,
  type WatchHandlers,
} from './types.js';
import { checkTxnSize, type Engine } from './engine.js';

export class EngineStore implements Store {
  private closed = false;
  private readonly keepAlives = new Set<NodeJS.Timeout>();
  private readonly watches = new Set<Watch>();

  constructor(
    readonly url: string,
    protected readonly engine: Engine,
    /** Whether close() also closes the engine (false for extra handles from connect()). */
    private readonly ownsEngine: boolean,
  ) {}

  private check(): void {
    if (this.closed) throw new StoreError('store is closed', 'CLOSED');
  }

  async get(key: string): Promise<KeyValue | undefined> {
    this.check();
    return this.engine.get(key);
  }

  async range(prefix: string): Promise<RangeResult> {
    this.check();
    return this.engine.range(prefix);
  }

  async read(ops: ReadOp[]): Promise<ReadResult> {
    this.check();
    checkTxnSize(ops.length);
    // The engine answers synchronously: nothing can commit between these reads.
    const results = ops.map((op) => {
      if ('prefix' in op) return this.engine.range(op.prefix).kvs;
      const kv = this.engine.get(op.key);
      return kv ? [kv] : [];
    });
    return { revision: this.engine.currentRevision(), results };
  }

  async put(key: string, value: string, opts?: { lease?: string }): Promise<number> {
    const r = await this.txn([], [{ op: 'put', key, value, ...(opts?.lease !== undefined ? { lease: opts.lease } : {}) }]);
    return r.revision;
  }

  async delete(key: string): Promise<number> {
    return (await this.txn([], [{ op: 'delete', key }])).revision;
  }

  async txn(compares: Compare[], success: TxnOp[], failure: TxnOp[] = []): Promise<TxnResult> {
    this.check();
    return this.engine.txn(compares, success, failure);
  }

  watch(prefix: string, fromRevision: number | undefined, handlers: WatchHandlers): Watch {
    this.check();
    const inner = this.engine.watch(prefix, fromRevision, handlers);
    const w: Watch = {
      cancel: async () => {
        this.watches.delete(w);
        await inner.cancel();
      },
    };
    this.watches.add(w);
    return w;
  }

  async grantLease(ttlSeconds: number, opts: GrantOptions = {}): Promise<Lease> {
    this.check();
    const rec = await this.engine.grantLease(ttlSeconds);
    let timer: NodeJS.Timeout | undefined;
    const stop = (): void => {
      if (timer) clearInterval(timer);
      if (timer) this.keepAlives.delete(timer);
      timer = undefined;
    };
    if (opts.keepAlive !== false) {
      // Refresh at a third of the TTL, like etcd clients, so one missed tick does not lose the lease.
      timer = setInterval(
        () => {
          const lost = (err: Error): void => {
            stop();
            opts.onLost?.(err);
          };
          if (!this.engine.hasLease(rec.id)) return lost(new StoreError(`lease ${rec.id} expired or was revoked`, 'INVALID'));
          this.engine.keepAlive(rec.id).catch((err: Error) => lost(err));
        },
        Math.max(50, (ttlSeconds * 1000) / 3),
      );
      timer.unref();
      this.keepAlives.add(timer);
    }
    return {
      id: rec.id,
      ttlSeconds,
      keepAliveOnce: () => this.engine.keepAlive(rec.id),
      revoke: async () => {
        stop();
        await this.engine.revokeLease(rec.id);
      },
    };
  }

  async currentRevision(): Promise<number> {
    this.check();
    return this.engine.currentRevision();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.keepAlives) clearInterval(t);
    this.keepAlives.clear();
    await Promise.all([...this.watches].map((w) => w.cancel()));
    if (this.ownsEngine) await this.engine.close();
  }
}

/**
 * A store whose engine lives in this process (memory, level): tests may compact its history, expire its
 * leases on an injected clock, and open more handles on the same data.
 */
export class LocalEngineStore extends EngineStore {
  /** Forgets watch history up to and including `revision` (tests of onCompacted). */
  compact(revision: number): Promise<void> {
    return this.engine.compact(revision);
  }

  /** Expires leases whose deadline passed on the (injected) clock. */
  expireLeases(): Promise<void> {
    return this.engine.expireLeases();
  }

  /**
   * Another client of the same store (e.g. a second agent in one test process). Closing it stops its lease
   * keep-alives without revoking them, like a crashed client.
   */
  connect(): EngineStore {
    return new EngineStore(this.url, this.engine, false);
  }
}
