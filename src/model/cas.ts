/**
 * Optimistic concurrency: a request reads, plans one transaction guarded by compares, and
 * commits it; on a lost race it re-reads and re-plans. Plans are pure functions of what they
 * read, so a retry re-validates against the newer state (a name taken meanwhile becomes a 409).
 */
import type { Compare, KeyValue, Store, TxnOp } from '../store/types.js';
import { raceBackoff } from '../util/backoff.js';
import { conflict } from './errors.js';
import { allocKey, poolPrefix, type Pool } from './keys.js';

export interface Plan<T> {
  compares: Compare[];
  ops: TxnOp[];
  result: T;
  /**
   * Planned from state remembered from an earlier request rather than read now: a lost race is expected
   * to mean "the memory was stale", so it is retried at once (the next plan reads) instead of after a backoff.
   */
  speculative?: boolean;
  /** Called with the store revision of the committed transaction. */
  committed?: (revision: number) => void;
}

export interface CasOptions {
  /**
   * Attempts before giving up with CONFLICT. Port creations in one network no longer serialise here (they conflict
   * only on what they both pick: port-create.ts); structural changes racing many creations may.
   */
  maxAttempts?: number;
  /** Commits a plan instead of store.txn (port creations: group commit, txn-batch.ts). */
  txn?: Store['txn'];
}

export async function runCas<T>(store: Store, plan: (attempt: number) => Promise<Plan<T>>, opts: CasOptions = {}): Promise<T> {
  const max = opts.maxAttempts ?? 100;
  const txn = opts.txn ?? store.txn.bind(store);
  for (let attempt = 0; attempt < max; attempt++) {
    const p = await plan(attempt);
    if (p.ops.length === 0) return p.result;
    const r = await txn(p.compares, p.ops);
    if (r.succeeded) {
      p.committed?.(r.revision);
      return p.result;
    }
    if (p.speculative) continue;
    await raceBackoff(attempt, { firstMs: 2, capMs: 20 });
  }
  throw conflict(undefined, `gave up after ${max} attempts: too many concurrent updates, please retry`);
}

/** What a plan of runCasInSteps commits: the whole change, or one step toward it. */
export type Stepped<T, S> = { done: T } | { step: S };

/**
 * runCas for a change that may not fit in one transaction (etcd takes MAX_TXN_OPS operations): `plan` returns the
 * whole change (`done`) when it fits, or else one consistent step toward it (`step`: what a smaller request would
 * write, e.g. a detach), and is planned again from a new read after each committed step until it is done. Returns
 * the result and each step's, in order. An interruption between steps leaves a state a request could have left.
 */
export async function runCasInSteps<T, S>(
  store: Store,
  plan: (attempt: number) => Promise<Plan<Stepped<T, S>>>,
  opts: CasOptions = {},
): Promise<{ done: T; steps: S[] }> {
  const steps: S[] = [];
  for (;;) {
    const r = await runCas(store, plan, opts);
    if ('done' in r) return { done: r.done, steps };
    steps.push(r.step);
  }
}

export const POOL_MAX: Record<Pool, number> = {
  'tunnel-key': 16_777_215,
  'port-key': 0xffff_fffe,
  'router-key': 0xffff_fffe,
  'sg-key': 0xffff_fffe,
  'sg-rule-key': 0x7fff_ffff, // below 2^31: conjunction ids of remote-group sets take the upper half
};

/**
 * Chooses a free integer in a pool: the lowest on the first attempt; on retries one of the
 * lowest few at random, so racing allocators stop colliding on the same number.
 * The caller claims it with a `modRevision: 0` compare on allocKey(pool, n).
 */
export async function pickFree(store: Store, pool: Pool, attempt: number): Promise<{ n: number; compare: Compare; key: string }> {
  return pickFreeFrom((await store.range(poolPrefix(pool))).kvs, pool, attempt);
}

/** pickFree on the pool's keys as already read (e.g. in a snapshot with the rest of a request's reads). */
export function pickFreeFrom(kvs: KeyValue[], pool: Pool, attempt: number): { n: number; compare: Compare; key: string } {
  const used = new Set<number>();
  for (const kv of kvs) used.add(Number(kv.key.slice(poolPrefix(pool).length)));
  const want = attempt === 0 ? 1 : 8;
  const free: number[] = [];
  for (let n = 1; n <= POOL_MAX[pool] && free.length < want; n++) if (!used.has(n)) free.push(n);
  if (free.length === 0) throw conflict(undefined, `pool ${pool} is exhausted`);
  const n = free[Math.floor(Math.random() * free.length)]!;
  const key = allocKey(pool, n);
  return { n, key, compare: { key, modRevision: 0 } };
}
