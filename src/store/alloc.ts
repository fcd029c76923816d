/**
 * Cluster-wide integer keys (tunnel keys, port keys, router keys) claimed with compare-and-swap:
 * `/wyvern/v1/alloc/<pool>/<n>` is created only if absent (modRevision 0), its value names the owner.
 * allocCandidate() lets a caller fold the claim into a larger transaction (network + name + key).
 */
import { raceBackoff } from '../util/backoff.js';
import { StoreError, type Compare, type Store, type TxnOp } from './types.js';

export const allocPrefix = (pool: string): string => `/wyvern/v1/alloc/${pool}/`;

export interface AllocOptions {
  /** Smallest value handed out (default 1). */
  min?: number;
  /** Largest value handed out (inclusive). */
  max: number;
  /** Stored as the key's value, e.g. "network/<id>"; releaseInt can check it. */
  owner: string;
  /** Lost races tolerated before CONFLICT (default 200). */
  maxAttempts?: number;
}

export interface AllocCandidate {
  n: number;
  key: string;
  /** The key must still be absent when the txn commits. */
  compare: Compare;
  /** Claims the key for the owner. */
  op: TxnOp;
}

/**
 * A free value to try: the lowest on the first attempt; after a lost race one of the lowest few at
 * random (the window grows with attempts) so racing allocators stop colliding on the same number.
 */
export async function allocCandidate(
  store: Store,
  pool: string,
  opts: Pick<AllocOptions, 'min' | 'max' | 'owner'>,
  attempt = 0,
): Promise<AllocCandidate> {
  const min = opts.min ?? 1;
  if (!Number.isSafeInteger(min) || !Number.isSafeInteger(opts.max) || min > opts.max) {
    throw new StoreError(`bad range [${min}, ${opts.max}] for pool ${pool}`, 'INVALID');
  }
  const prefix = allocPrefix(pool);
  const { kvs } = await store.range(prefix);
  const used = new Set<number>();
  for (const kv of kvs) used.add(Number(kv.key.slice(prefix.length)));
  const want = attempt === 0 ? 1 : Math.min(4 * attempt, 64);
  const free: number[] = [];
  for (let n = min; n <= opts.max && free.length < want; n++) if (!used.has(n)) free.push(n);
  if (free.length === 0) throw new StoreError(`integer pool ${pool} [${min}, ${opts.max}] is exhausted`, 'EXHAUSTED');
  const n = free[Math.floor(Math.random() * free.length)]!;
  const key = `${prefix}${n}`;
  return { n, key, compare: { key, modRevision: 0 }, op: { op: 'put', key, value: opts.owner } };
}

/** Claims a free integer in `pool` for `opts.owner`; never hands one value to two callers. */
export async function allocateInt(store: Store, pool: string, opts: AllocOptions): Promise<number> {
  const max = opts.maxAttempts ?? 200;
  for (let attempt = 0; attempt < max; attempt++) {
    const c = await allocCandidate(store, pool, opts, attempt);
    const r = await store.txn([c.compare], [c.op]);
    if (r.succeeded) return c.n;
    await raceBackoff(attempt, { firstMs: 1, capMs: 10 });
  }
  throw new StoreError(`could not allocate from pool ${pool} after ${max} attempts (too much contention)`, 'CONFLICT');
}

/** Frees `n`; with `owner`, only if it still belongs to that owner. Returns whether it was freed. */
export async function releaseInt(store: Store, pool: string, n: number, owner?: string): Promise<boolean> {
  const key = `${allocPrefix(pool)}${n}`;
  const compares: Compare[] = owner !== undefined ? [{ key, value: owner }] : [];
  const r = await store.txn(compares, [{ op: 'delete', key }]);
  return r.succeeded;
}
