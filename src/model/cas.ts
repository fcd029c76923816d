/**
 * Optimistic concurrency: a request reads, plans one transaction guarded by compares, and
 * commits it; on a lost race it re-reads and re-plans. Plans are pure functions of what they
 * read, so a retry re-validates against the newer state (a name taken meanwhile becomes a 409).
 */
import { randomInt } from 'node:crypto';
import type { Compare, KeyValue, Store, TxnOp } from '../store/types.js';
import { raceBackoff } from '../util/backoff.js';
import { InFlight } from '../util/in-flight.js';
import { KeyedTurns } from '../util/keyed-turns.js';
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

export interface PoolPick {
  n: number;
  key: string;
  compare: Compare;
}

/** Allocations of each pool in flight in this process, per store (poolFlight). */
const allocating = new InFlight();

/**
 * Counts an allocation from `pool` in while it runs (call leave() when its request is done): pickFree takes the lowest
 * free number only for an allocation alone in this process.
 */
export const poolFlight = (store: Store, pool: Pool): { contended(): boolean; leave(): void } => allocating.enter(store, pool);

/** Attempts after which a pick scans the pool (and says when it is exhausted) instead of drawing at random. */
const SCAN_AFTER = 8;

/**
 * Chooses a free number in a pool, claimed by the caller with a `modRevision: 0` compare on allocKey(pool, n):
 * - alone in this process, on its first attempt: the lowest free one (a user creating networks one by one gets
 *   tunnel keys 1, 2, 3…), from a read of the pool;
 * - with other allocations of the pool in flight here (`contended`), or after a lost race: one drawn at random from
 *   the whole pool, without reading it. Racing allocators took the lowest (or one of the lowest 8) before, so a
 *   thousand at once chased the same few numbers, each reading the whole pool on every attempt: 1,000 networks created
 *   at once over three API servers took 25 s, 1,000 security groups 56 s, 1,000 rules 89 s (eighteenth session);
 * - after SCAN_AFTER lost races: at random among the lowest 64 free ones, from a read (a pool nearly full is found,
 *   and refused when full).
 */
export async function pickFree(store: Store, pool: Pool, attempt: number, contended = false): Promise<PoolPick> {
  if (attempt >= SCAN_AFTER) return pickFreeFrom((await store.range(poolPrefix(pool))).kvs, pool, 64);
  if (attempt === 0 && !contended) return pickFreeFrom((await store.range(poolPrefix(pool))).kvs, pool, 1);
  return claimOf(pool, 1 + randomInt(POOL_MAX[pool]));
}

/** At random among the lowest `among` free numbers of the pool as read; CONFLICT when none is free. */
function pickFreeFrom(kvs: KeyValue[], pool: Pool, among: number): PoolPick {
  const used = new Set<number>();
  for (const kv of kvs) used.add(Number(kv.key.slice(poolPrefix(pool).length)));
  const free: number[] = [];
  for (let n = 1; n <= POOL_MAX[pool] && free.length < among; n++) if (!used.has(n)) free.push(n);
  if (free.length === 0) throw conflict(undefined, `pool ${pool} is exhausted`);
  return claimOf(pool, free[randomInt(free.length)]!);
}

function claimOf(pool: Pool, n: number): PoolPick {
  const key = allocKey(pool, n);
  return { n, key, compare: { key, modRevision: 0 } };
}

/** Writes to one object taking turns in this process, per store (inTurn). */
const turns = new WeakMap<Store, KeyedTurns>();

/**
 * Runs a write to one object (a router, a security group: `key`) after the writes to it already queued in this
 * process. Each such write rewrites the object's one record, so writes to it racing in one process only make each
 * other fail and re-read: 150 interfaces attached to one router at once took 6.7 s, ~N²/2 transactions (eighteenth
 * session). Taking turns, they lose races only to other processes' writes.
 */
export function inTurn<T>(store: Store, key: string, write: () => Promise<T>): Promise<T> {
  let t = turns.get(store);
  if (!t) turns.set(store, (t = new KeyedTurns()));
  return t.run(key, write);
}
