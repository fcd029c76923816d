/**
 * The in-process key/value engine behind the memory and level drivers: a sorted key index with
 * etcd-like revisions, transactions, a watch history and leases. A `Backend` makes it durable:
 * every commit is computed first, handed to the backend (level writes it as one atomic batch) and
 * only then applied in memory and delivered to watchers, so readers never see an unpersisted write.
 */
import { silentLogger, type Logger } from '../util/log.js';
import {
  compareHolds,
  MAX_TXN_OPS,
  StoreError,
  type Compare,
  type KeyValue,
  type TxnOp,
  type TxnResult,
  type WatchBatch,
  type WatchEvent,
} from './types.js';
import { Watchers } from './watchers.js';
import type { WatchHandlers, Watch } from './types.js';

/** Everything a backend must persist for one commit (applied atomically). */
export interface Commit {
  revision: number;
  puts: KeyValue[];
  deletes: string[];
  /** Lease table changes. */
  leasePuts: LeaseRecord[];
  leaseDeletes: string[];
  /** The batch appended to the history log (absent when the commit only touched leases). */
  batch?: WatchBatch;
  /** History entries older than this revision are dropped (bounded log). */
  compactRevision: number;
}

export interface LeaseRecord {
  id: string;
  ttlSeconds: number;
  /** Absolute expiry (ms since epoch, by the engine's clock). */
  expiresAt: number;
}

export interface EngineState {
  revision: number;
  compactRevision: number;
  kvs: KeyValue[];
  leases: LeaseRecord[];
  history: WatchBatch[];
  nextLeaseId: number;
}

export interface Backend {
  write(commit: Commit): Promise<void> | void;
  close(): Promise<void> | void;
}

export interface Clock {
  now(): number;
}

export interface EngineOptions {
  logger?: Logger;
  clock?: Clock;
  /** Keep at most this many revisions of history (older watch starts get onCompacted). Default unbounded. */
  historyLimit?: number;
  /** How often lease expiry is checked (ms); 0 disables the timer (tests call expireLeases()). Default 250. */
  leaseCheckMs?: number;
  backend?: Backend;
  initial?: EngineState;
}

/** Smallest index in sorted `arr` whose element is >= `s`. */
function lowerBound(arr: string[], s: string): number {
  let lo = 0;
  let hi = arr.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (arr[mid]! < s) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export class Engine {
  private readonly kvs = new Map<string, KeyValue>();
  /** Keys in byte order (JS string order equals UTF-8 byte order for the BMP keys we use). */
  private readonly sorted: string[] = [];
  private readonly leases = new Map<string, LeaseRecord>();
  private history: WatchBatch[] = [];
  private revision = 1;
  private compactRevision = 0;
  private nextLeaseId = 1;
  private writeChain: Promise<unknown> = Promise.resolve();
  private closed = false;
  private readonly timer?: NodeJS.Timeout;
  readonly watchers: Watchers;
  readonly clock: Clock;
  private readonly logger: Logger;
  private readonly backend?: Backend;
  private readonly historyLimit: number;

  constructor(opts: EngineOptions = {}) {
    this.logger = opts.logger ?? silentLogger;
    this.clock = opts.clock ?? { now: () => Date.now() };
    this.backend = opts.backend;
    this.historyLimit = opts.historyLimit ?? Infinity;
    this.watchers = new Watchers(this.logger);
    if (opts.initial) {
      const s = opts.initial;
      this.revision = s.revision;
      this.compactRevision = s.compactRevision;
      this.nextLeaseId = s.nextLeaseId;
      for (const kv of s.kvs) this.kvs.set(kv.key, kv);
      this.sorted.push(...[...this.kvs.keys()].sort());
      for (const l of s.leases) this.leases.set(l.id, l);
      this.history = s.history.filter((b) => b.revision > this.compactRevision).sort((a, b) => a.revision - b.revision);
    }
    const every = opts.leaseCheckMs ?? 250;
    if (every > 0) {
      this.timer = setInterval(() => void this.expireLeases().catch((err) => this.logger.warn({ err }, 'lease expiry failed')), every);
      this.timer.unref();
    }
  }

  private check(): void {
    if (this.closed) throw new StoreError('store is closed', 'CLOSED');
  }

  /** Runs `fn` after every earlier write: one writer, commits in revision order. */
  private serial<T>(fn: () => Promise<T> | T): Promise<T> {
    const p = this.writeChain.then(fn);
    this.writeChain = p.catch(() => undefined);
    return p;
  }

  currentRevision(): number {
    this.check();
    return this.revision;
  }

  get(key: string): KeyValue | undefined {
    this.check();
    const kv = this.kvs.get(key);
    return kv && { ...kv };
  }

  range(prefix: string): { kvs: KeyValue[]; revision: number } {
    this.check();
    const out: KeyValue[] = [];
    for (let i = lowerBound(this.sorted, prefix); i < this.sorted.length; i++) {
      const k = this.sorted[i]!;
      if (!k.startsWith(prefix)) break;
      out.push({ ...this.kvs.get(k)! });
    }
    return { kvs: out, revision: this.revision };
  }

  txn(compares: Compare[], success: TxnOp[], failure: TxnOp[] = []): Promise<TxnResult> {
    this.check();
    checkTxnSize(compares.length, success.length, failure.length);
    return this.serial(async () => {
      this.check();
      const ok = compares.every((c) => compareHolds(c, this.kvs.get(c.key)));
      const ops = ok ? success : failure;
      validateOps(ops);
      const rev = this.revision + 1;
      const changed = new Map<string, KeyValue | undefined>();
      const events: WatchEvent[] = [];
      const current = (k: string): KeyValue | undefined => (changed.has(k) ? changed.get(k) : this.kvs.get(k));
      for (const op of ops) {
        if (op.op === 'put') {
          if (op.lease !== undefined && !this.leases.has(op.lease)) throw new StoreError(`lease ${op.lease} not found`, 'INVALID');
          const prev = current(op.key);
          const kv: KeyValue = { key: op.key, value: op.value, createRevision: prev?.createRevision ?? rev, modRevision: rev };
          if (op.lease !== undefined) kv.lease = op.lease;
          changed.set(op.key, kv);
          events.push(prev ? { type: 'put', kv: { ...kv }, prev: { ...prev } } : { type: 'put', kv: { ...kv } });
        } else {
          const keys = op.op === 'delete' ? [op.key] : this.range(op.prefix).kvs.map((k) => k.key);
          for (const k of keys) {
            const prev = current(k);
            if (!prev) continue;
            changed.set(k, undefined);
            events.push({ type: 'delete', key: k, modRevision: rev, prev: { ...prev } });
          }
        }
      }
      if (events.length === 0) return { succeeded: ok, revision: this.revision };
      await this.commit(rev, changed, events, [], []);
      return { succeeded: ok, revision: rev };
    });
  }

  /** Persists then applies one revision's changes and hands its batch to the watchers. */
  private async commit(
    rev: number,
    changed: Map<string, KeyValue | undefined>,
    events: WatchEvent[],
    leasePuts: LeaseRecord[],
    leaseDeletes: string[],
  ): Promise<void> {
    const puts: KeyValue[] = [];
    const deletes: string[] = [];
    for (const [k, v] of changed) {
      if (v) puts.push(v);
      else deletes.push(k);
    }
    const batch: WatchBatch | undefined = events.length > 0 ? { revision: rev, events } : undefined;
    let compact = this.compactRevision;
    if (batch && Number.isFinite(this.historyLimit) && rev - this.historyLimit > compact) compact = rev - this.historyLimit;
    if (this.backend) {
      try {
        await this.backend.write({
          revision: batch ? rev : this.revision,
          puts,
          deletes,
          leasePuts,
          leaseDeletes,
          batch,
          compactRevision: compact,
        });
      } catch (err) {
        throw new StoreError(`store write failed: ${(err as Error).message}`, 'INTERNAL', { cause: err });
      }
    }
    for (const kv of puts) {
      if (!this.kvs.has(kv.key)) this.sorted.splice(lowerBound(this.sorted, kv.key), 0, kv.key);
      this.kvs.set(kv.key, kv);
    }
    for (const k of deletes) {
      this.kvs.delete(k);
      const i = lowerBound(this.sorted, k);
      if (this.sorted[i] === k) this.sorted.splice(i, 1);
    }
    for (const l of leasePuts) this.leases.set(l.id, l);
    for (const id of leaseDeletes) this.leases.delete(id);
    if (batch) {
      this.revision = rev;
      this.history.push(batch);
      this.setCompact(compact);
      this.watchers.deliver(batch);
    }
  }

  private setCompact(rev: number): void {
    if (rev <= this.compactRevision) return;
    this.compactRevision = rev;
    let drop = 0;
    while (drop < this.history.length && this.history[drop]!.revision <= rev) drop++;
    if (drop > 0) this.history = this.history.slice(drop);
  }

  /** Forgets history up to and including `rev` (watches starting there get onCompacted). */
  compact(rev: number): Promise<void> {
    this.check();
    return this.serial(async () => {
      const r = Math.min(rev, this.revision);
      if (this.backend)
        await this.backend.write({ revision: this.revision, puts: [], deletes: [], leasePuts: [], leaseDeletes: [], compactRevision: r });
      this.setCompact(r);
    });
  }

  watch(prefix: string, fromRevision: number | undefined, handlers: WatchHandlers): Watch {
    this.check();
    const start = fromRevision ?? this.revision + 1;
    if (start <= this.compactRevision) return this.watchers.compacted(handlers, this.compactRevision);
    const replay = this.history.filter((b) => b.revision >= start);
    return this.watchers.add(prefix, start, replay, handlers);
  }

  grantLease(ttlSeconds: number): Promise<LeaseRecord> {
    this.check();
    if (!(ttlSeconds > 0)) throw new StoreError(`lease TTL must be positive, got ${ttlSeconds}`, 'INVALID');
    return this.serial(async () => {
      const rec: LeaseRecord = { id: String(this.nextLeaseId++), ttlSeconds, expiresAt: this.clock.now() + ttlSeconds * 1000 };
      await this.commit(this.revision, new Map(), [], [rec], []);
      return rec;
    });
  }

  keepAlive(id: string): Promise<void> {
    this.check();
    return this.serial(async () => {
      const l = this.leases.get(id);
      if (!l) throw new StoreError(`lease ${id} not found (expired or revoked)`, 'INVALID');
      await this.commit(this.revision, new Map(), [], [{ ...l, expiresAt: this.clock.now() + l.ttlSeconds * 1000 }], []);
    });
  }

  /** Deletes the lease and every key attached to it, in one revision (like etcd). */
  revokeLease(id: string): Promise<void> {
    if (this.closed) return Promise.resolve();
    return this.serial(() => this.dropLease(id));
  }

  private async dropLease(id: string): Promise<void> {
    if (!this.leases.has(id)) return;
    const rev = this.revision + 1;
    const changed = new Map<string, KeyValue | undefined>();
    const events: WatchEvent[] = [];
    for (const kv of this.kvs.values()) {
      if (kv.lease !== id) continue;
      changed.set(kv.key, undefined);
      events.push({ type: 'delete', key: kv.key, modRevision: rev, prev: { ...kv } });
    }
    events.sort((a, b) => (a.type === 'delete' && b.type === 'delete' && a.key < b.key ? -1 : 1));
    await this.commit(rev, changed, events, [], [id]);
  }

  /** Expires every lease whose deadline passed by the engine's clock. */
  expireLeases(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return this.serial(async () => {
      const now = this.clock.now();
      for (const l of [...this.leases.values()]) {
        if (l.expiresAt <= now) {
          this.logger.debug({ lease: l.id }, 'lease expired');
          await this.dropLease(l.id);
        }
      }
    });
  }

  hasLease(id: string): boolean {
    return this.leases.has(id);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.writeChain;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    await this.watchers.cancelAll();
    await this.backend?.close();
  }
}

/**
 * etcd refuses a transaction (or a multi-read) of more than MAX_TXN_OPS compares or operations per branch; so do
 * we, so that what works on the embedded store works on etcd (and a unit test on the memory store finds what would
 * not).
 */
export function checkTxnSize(...counts: number[]): void {
  if (counts.some((n) => n > MAX_TXN_OPS))
    throw new StoreError(`too many operations in txn request (${Math.max(...counts)}; a store takes at most ${MAX_TXN_OPS})`, 'INVALID');
}

/** etcd rejects a txn that writes one key twice or deletes a range it also puts into; so do we. */
function validateOps(ops: TxnOp[]): void {
  const puts = new Set<string>();
  for (const op of ops) {
    if (op.op !== 'put') continue;
    if (puts.has(op.key)) throw new StoreError(`duplicate key given in txn request: ${op.key}`, 'INVALID');
    puts.add(op.key);
  }
  for (const op of ops) {
    if (op.op === 'put') continue;
    for (const k of puts) {
      if (op.op === 'delete' ? op.key === k : k.startsWith(op.prefix)) {
        throw new StoreError(`txn deletes a key it also puts: ${k}`, 'INVALID');
      }
    }
  }
}
