/**
 * Optimistic concurrency: a request reads, plans one transaction guarded by compares, and
 * commits it; on a lost race it re-reads and re-plans. Plans are pure functions of what they
 * read, so a retry re-validates against the newer state (a name taken meanwhile becomes a 409).
 */
import { randomInt } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { StoreError, type Compare, type KeyValue, type Store, type TxnOp, type TxnResult } from '../store/types.js';
import { raceBackoff } from '../util/backoff.js';
import { InFlight } from '../util/in-flight.js';
import { KeyedTurns } from '../util/keyed-turns.js';
import { conflict, ModelError } from './errors.js';
import { allocKey, poolPrefix, type Pool } from './keys.js';
import { checkIfMatch, withRevision, type IfMatch } from './precondition.js';

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
  /**
   * What this request made, as the store holds it now, if it made it (undefined: not made). Asked once the store
   * failed to answer one of its commits (a deadline, an etcd leader lost under it), which may have been made or not
   * and may still land later: before each plan from then on. A request whose plans can tell (a creation: its own id
   * under its name) rides a store outage out (CasOptions.outageUntil) instead of failing.
   */
  landed?: () => Promise<T | undefined>;
  /**
   * Planned again from a fresh read, this request makes nothing twice: it sets fields (a PATCH), and planned on a
   * store that holds them already it writes nothing or the same again. A commit the store did not answer is then
   * simply planned again, as a refused one is; no `landed` is needed to ride an outage out.
   */
  replannable?: boolean;
  /**
   * The existing object this plan changes, as read, and its name for messages: what the request's If-Match
   * (CasOptions.ifMatch) is checked against. Its revision, or the one this plan writes it at, goes on the result
   * (precondition.ts withRevision: the API's ETag) when the result is the object as it stands after the plan.
   */
  object?: { kv: KeyValue; what: string };
}

export interface CasOptions {
  /**
   * Attempts before giving up with CONFLICT. Port creations in one network no longer serialise here (they conflict
   * only on what they both pick: port-create.ts); structural changes racing many creations may.
   */
  maxAttempts?: number;
  /** Commits a plan instead of store.txn (port creations: group commit, txn-batch.ts). */
  txn?: Store['txn'];
  /**
   * Until when (Date.now() ms) a request goes on through its store failing to answer (UNAVAILABLE) before it fails
   * with that; default: it fails at once. Only reads are tried again, and commits whose plan can tell whether they
   * landed (Plan.landed) or may simply be planned again (Plan.replannable): a commit the store did not answer is
   * otherwise left for the caller to decide.
   */
  outageUntil?: number;
  /**
   * The request's If-Match: each plan that writes is made only while its object (Plan.object) is at a revision named
   * there; else PRECONDITION_FAILED, nothing written. A plan that writes nothing is answered as made whatever the
   * condition (RFC 9110 §13.1.1 allows a 2xx for a change already applied): that is how a request whose own commit
   * was made without an answer finds it. Checked on every plan, so a retry after a lost race checks again.
   */
  ifMatch?: IfMatch;
}

/**
 * How long after its arrival a northbound write goes on through its store failing to answer before it answers 503
 * (CasOptions.outageUntil): an etcd leader lost under a burst (transactions it held time out after 5 s while the
 * others elect a new one), a member restarted. 10 s: past the store call's deadline, within the API's drain on a
 * planned stop. Counted from the request's arrival, before any turn it waits (port-create.ts IN_FLIGHT, inTurn): one
 * that waited that long fails at the store's first failure.
 */
export const WRITE_OUTAGE_MS = 10_000;

/** When a write arriving now stops riding a store outage out: WRITE_OUTAGE_MS from now. */
export const writeDeadline = (): number => Date.now() + WRITE_OUTAGE_MS;

/** `opts` of a write arriving now: it rides a store outage out until writeDeadline(), unless `opts` sets its own. */
export const writeOptions = (opts: CasOptions = {}): CasOptions => ({ outageUntil: writeDeadline(), ...opts });

const unavailable = (e: unknown): boolean => e instanceof StoreError && e.code === 'UNAVAILABLE';

export async function runCas<T>(store: Store, plan: (attempt: number) => Promise<Plan<T>>, opts: CasOptions = {}): Promise<T> {
  const max = opts.maxAttempts ?? 100;
  const txn = opts.txn ?? store.txn.bind(store);
  const outageUntil = opts.outageUntil ?? 0;
  /** How often the store failed this request since it last answered. */
  let failures = 0;
  /** Set once a commit went unanswered: what the request made, if it did, read before each plan from then on. */
  let made: (() => Promise<T | undefined>) | undefined;
  for (let attempt = 0; attempt < max;) {
    // A commit failed that the store may have made without saying so, and no `landed` to ask: the caller's to decide.
    let unchecked = false;
    try {
      if (made) {
        const done = await made();
        if (done !== undefined) return done;
      }
      let p: Plan<T>;
      try {
        p = await plan(attempt);
        if (p.ops.length > 0 && opts.ifMatch) holdsCondition(opts.ifMatch, p);
      } catch (e) {
        // Refused on what the unanswered commit itself did (a creation's name taken, a deleted object gone, since
        // made() was asked): it landed.
        const done = made && e instanceof ModelError ? await made() : undefined;
        if (done !== undefined) return done;
        throw e;
      }
      if (p.ops.length === 0) return revised(p, p.object?.kv.modRevision);
      let r: TxnResult;
      try {
        r = await txn(p.compares, p.ops);
      } catch (e) {
        if (p.landed) made = p.landed;
        else if (!p.replannable) unchecked = true;
        throw e;
      }
      failures = 0;
      if (r.succeeded) {
        p.committed?.(r.revision);
        return revised(p, r.revision);
      }
      attempt++;
      if (p.speculative) continue;
      await raceBackoff(attempt - 1, { firstMs: 2, capMs: 20 });
    } catch (e) {
      if (!unavailable(e) || unchecked) throw e;
      await outageWait(e, failures++, outageUntil);
    }
  }
  throw conflict(undefined, `gave up after ${max} attempts: too many concurrent updates, please retry`);
}

/** Refuses (PRECONDITION_FAILED) a plan whose object is not at a revision `cond` names. */
function holdsCondition(cond: IfMatch, p: Plan<unknown>): void {
  // A write taking a condition whose plan names no object would be made unconditionally: a bug, never a write.
  if (!p.object) throw new Error('a conditional write planned a change without naming its object (Plan.object)');
  checkIfMatch(cond, p.object.kv, p.object.what);
}

/** The plan's result, carrying `revision` when it is the plan's object as it stands after the plan (not deleted). */
function revised<T>(p: Plan<T>, revision: number | undefined): T {
  const key = p.object?.kv.key;
  if (key === undefined || typeof p.result !== 'object' || p.result === null) return p.result;
  if (p.ops.length > 0 && !putsKey(p.ops, key)) return p.result;
  return withRevision(p.result, revision);
}

const putsKey = (ops: readonly TxnOp[], key: string): boolean => ops.some((o) => o.op === 'put' && o.key === key);

/** The first wait before a request tries the store again after it failed, doubled each time up to the cap. */
const OUTAGE_RETRY_MS = 100;
const OUTAGE_RETRY_CAP_MS = 1_000;

/** Waits before trying the store again after its `failures`-th failure in a row; throws `e` if that would pass `until`. */
async function outageWait(e: unknown, failures: number, until: number): Promise<void> {
  const wait = Math.min(OUTAGE_RETRY_MS * 2 ** failures, OUTAGE_RETRY_CAP_MS);
  if (Date.now() + wait >= until) throw e;
  await sleep(wait);
}

/**
 * `work` tried again, as runCas tries its reads, while the store fails to answer (UNAVAILABLE), until `outageUntil`
 * (Date.now() ms): for work that is whole when done again, such as a read, or a topology import (which skips what
 * it finds already written).
 */
export async function throughOutage<T>(work: () => Promise<T>, outageUntil: number): Promise<T> {
  for (let failures = 0; ; failures++) {
    try {
      return await work();
    } catch (e) {
      if (!unavailable(e)) throw e;
      await outageWait(e, failures, outageUntil);
    }
  }
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
  let ifMatch = opts.ifMatch;
  for (;;) {
    /** The revision this step wrote its object at, if it wrote it. */
    let moved: number | undefined;
    const own = async (attempt: number): Promise<Plan<Stepped<T, S>>> => {
      const p = await plan(attempt);
      const key = p.object?.kv.key;
      if (key === undefined || !putsKey(p.ops, key)) return p;
      const committed = (rev: number): void => {
        p.committed?.(rev);
        moved = rev;
      };
      return { ...p, committed };
    };
    const r = await runCas(store, own, { ...opts, ifMatch });
    if ('done' in r) return { done: r.done, steps };
    steps.push(r.step);
    // The request's own step moved its object: the condition follows it, so only another writer's change refuses the
    // steps after it.
    if (moved !== undefined && ifMatch && !('any' in ifMatch))
      ifMatch = { revisions: [moved], text: `${ifMatch.text}, then "${moved}" (this request's own step)` };
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
