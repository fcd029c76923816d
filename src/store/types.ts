/**
 * The store contract shared by every driver (etcd, level, memory).
 *
 * Keys and values are strings (values are JSON documents written by src/model). Every write
 * advances one store-wide revision; each key remembers the revision that created it and
 * the one that last modified it, which is what compare-and-swap checks against.
 */

export interface KeyValue {
  key: string;
  value: string;
  /** Store revision at which this key was created. */
  createRevision: number;
  /** Store revision of the key's last modification. */
  modRevision: number;
  /** Lease the key is attached to, if any. */
  lease?: string;
}

export type Compare =
  /** modRevision of key equals (0 = key must not exist). */
  | { key: string; modRevision: number }
  /** the key's current value equals. */
  | { key: string; value: string }
  /** the key exists, whatever its value and revision (etcd: its create revision is above 0). */
  | { key: string; exists: true };

/** Whether `c` holds for the key's current state `kv` (undefined: absent), as etcd evaluates it. */
export function compareHolds(c: Compare, kv: KeyValue | undefined): boolean {
  if ('modRevision' in c) return (kv?.modRevision ?? 0) === c.modRevision;
  if ('exists' in c) return kv !== undefined;
  // A value compare on a missing key fails (there is no value to equal).
  return kv !== undefined && kv.value === c.value;
}

/**
 * The most compares, and the most writes, one transaction (or one multi-read) may carry: etcd refuses more
 * (`--max-txn-ops`, 128 by default), and every driver is held to the strictest.
 */
export const MAX_TXN_OPS = 128;

/** `xs` in pieces of at most `n` (one transaction each). */
export function inPieces<T>(xs: readonly T[], n = MAX_TXN_OPS): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += n) out.push(xs.slice(i, i + n));
  return out;
}

/**
 * Reads `ops` in pieces a store takes in one call (MAX_TXN_OPS each), side by side: one result list per op, in order.
 * Each piece is a read of its own, so the results are not from one revision.
 */
export async function readInPieces(store: Pick<Store, 'read'>, ops: readonly ReadOp[]): Promise<KeyValue[][]> {
  return (await Promise.all(inPieces(ops).map((piece) => store.read(piece)))).flatMap((r) => r.results);
}

export type TxnOp =
  { op: 'put'; key: string; value: string; lease?: string } | { op: 'delete'; key: string } | { op: 'deletePrefix'; prefix: string };

export interface TxnResult {
  succeeded: boolean;
  /** Revision after the transaction (or current revision when it failed). */
  revision: number;
}

export type WatchEvent =
  { type: 'put'; kv: KeyValue; prev?: KeyValue } | { type: 'delete'; key: string; modRevision: number; prev?: KeyValue };

export interface WatchBatch {
  /** All events of one store revision (a transaction's writes arrive together). */
  revision: number;
  events: WatchEvent[];
}

export interface Watch {
  /** Stops delivery; resolves once no further callback will run. */
  cancel(): Promise<void>;
}

export interface WatchHandlers {
  onBatch(batch: WatchBatch): void;
  /**
   * The requested start revision was compacted away: the watcher must re-read
   * (range) and re-watch from the returned revision. No batch follows this on this watch.
   */
  onCompacted?(compactRevision: number): void;
  /** Unrecoverable watch failure (the driver already retried where it could). */
  onError?(err: Error): void;
  /** The watch's stream broke and the driver re-established it, resuming where it left off (nothing lost). */
  onResumed?(): void;
}

export interface Lease {
  id: string;
  ttlSeconds: number;
  /** Refreshes the lease once; drivers also keep it alive in the background until revoke(). */
  keepAliveOnce(): Promise<void>;
  revoke(): Promise<void>;
}

export interface GrantOptions {
  /** Refresh the lease in the background until revoke()/close() (default true). */
  keepAlive?: boolean;
  /**
   * Called once if the background refresh finds the lease gone (expired while the store was unreachable, or
   * revoked by someone else): its keys are gone or about to go, and the holder must take a new lease.
   */
  onLost?: (err: Error) => void;
}

export interface RangeResult {
  kvs: KeyValue[];
  /** Store revision the range was read at: watch from revision + 1 for a gapless view. */
  revision: number;
}

/** One read of a multi-read: a single key, or every key under a prefix. */
export type ReadOp = { key: string } | { prefix: string };

export interface ReadResult {
  /** Store revision every read saw. */
  revision: number;
  /** One entry per ReadOp, in order: a key read gives [] or [kv]; a prefix read every kv in key order. */
  results: KeyValue[][];
}

export interface Store {
  /** URL this store was opened from (etcd://…, level:…, memory:). */
  readonly url: string;
  get(key: string): Promise<KeyValue | undefined>;
  range(prefix: string): Promise<RangeResult>;
  /**
   * Several reads at one revision, in one round trip: a consistent snapshot to plan a compare-and-swap
   * transaction on (a request reads what it needs once instead of one round trip per key).
   */
  read(ops: ReadOp[]): Promise<ReadResult>;
  put(key: string, value: string, opts?: { lease?: string }): Promise<number>;
  delete(key: string): Promise<number>;
  /** Atomic: if every compare holds, apply `success`, else `failure` (may be empty). */
  txn(compares: Compare[], success: TxnOp[], failure?: TxnOp[]): Promise<TxnResult>;
  /** Watch a key prefix starting at `fromRevision` (inclusive); undefined = from now. */
  watch(prefix: string, fromRevision: number | undefined, handlers: WatchHandlers): Watch;
  grantLease(ttlSeconds: number, opts?: GrantOptions): Promise<Lease>;
  currentRevision(): Promise<number>;
  close(): Promise<void>;
}

/**
 * BAD_URL: unparsable store URL; UNAVAILABLE: store unreachable/locked; COMPACTED: revision gone;
 * CLOSED: used after close(); INVALID: a request the store refuses (duplicate key in one txn, unknown
 * lease, bad TTL) — a bug in the caller; EXHAUSTED: an integer pool is full; CONFLICT: gave up after
 * too many lost compare-and-swap races; DENIED: bad credentials or missing permission; INTERNAL: anything else.
 */
export type StoreErrorCode =
  'BAD_URL' | 'UNAVAILABLE' | 'COMPACTED' | 'CLOSED' | 'INVALID' | 'EXHAUSTED' | 'CONFLICT' | 'DENIED' | 'INTERNAL';

/** Typed store failure; `code` lets callers tell an unreachable store from a bad URL. */
export class StoreError extends Error {
  constructor(
    message: string,
    readonly code: StoreErrorCode,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'StoreError';
  }
}
