/**
 * Checks shared by the model's unit tests on a memory store: a refused request must leave the store exactly as it
 * was (`rejects`), and a lost race can be staged just before a request's first transaction commits (`raceOnce`).
 */
import { afterEach, beforeEach, expect } from 'vitest';
import { ModelError, ROOT, Topology } from '../../src/model/index.js';
import { openStore } from '../../src/store/index.js';
import type { ReadOp, Store } from '../../src/store/types.js';

/** The helpers, bound to the test file's current store (re-created per test). */
export function modelChecks(store: () => Store) {
  async function snapshot(): Promise<{ rev: number; kvs: string }> {
    const r = await store().range(ROOT);
    return { rev: await store().currentRevision(), kvs: JSON.stringify(r.kvs.map((k) => [k.key, k.value, k.modRevision])) };
  }

  /** Expects a ModelError with code (and field), and that the store did not change at all. */
  async function rejects(fn: () => Promise<unknown>, code: string, field?: string, msg?: RegExp): Promise<ModelError> {
    const before = await snapshot();
    const err = await fn().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err, 'expected a rejection').toBeInstanceOf(ModelError);
    const me = err as ModelError;
    expect(me.code).toBe(code);
    if (field !== undefined) expect(me.field).toBe(field);
    if (msg) expect(me.message).toMatch(msg);
    expect(await snapshot()).toEqual(before);
    return me;
  }

  /** Runs `other` once, just before the first transaction of the request under test commits (a lost race). */
  function raceOnce(other: () => Promise<unknown>): { txns: () => number } {
    const s = store();
    const realTxn = s.txn.bind(s);
    let n = 0;
    let raced = false;
    s.txn = (async (compares, ops) => {
      if (!raced) {
        raced = true;
        const inner = s.txn;
        s.txn = realTxn;
        await other();
        s.txn = inner;
      }
      n++;
      return realTxn(compares, ops);
    }) as typeof s.txn;
    return { txns: () => n };
  }

  return { snapshot, rejects, raceOnce };
}

/**
 * A fresh memory store and a Topology on it for every test of the file (registered here: call at the top level).
 * Read them through the returned object: they are replaced before each test.
 */
export function memoryTopology(): { store: Store; topo: Topology } {
  const ctx = {} as { store: Store; topo: Topology };
  beforeEach(async () => {
    ctx.store = await openStore('memory:');
    ctx.topo = new Topology(ctx.store);
  });
  afterEach(async () => {
    await ctx.store.close();
  });
  return ctx;
}

/** What a store was asked, counted by countingStore: calls by method, and the prefixes ranged over or read. */
export interface StoreCalls {
  txn: number;
  read: number;
  get: number;
  range: string[];
  /** The prefix ops of every multi-read, in order (one entry per prefix op). */
  readPrefixes: string[];
}

/**
 * The store seen through a proxy that counts its calls (the same store underneath): for tests that bound how many
 * transactions or reads a burst of requests costs.
 */
export function countingStore(store: Store): { store: Store; calls: StoreCalls } {
  const calls: StoreCalls = { txn: 0, read: 0, get: 0, range: [], readPrefixes: [] };
  const proxy = new Proxy(store, {
    get: (t, k) => {
      const v = Reflect.get(t, k) as unknown;
      if (typeof v !== 'function') return v;
      return (...a: unknown[]) => {
        if (k === 'txn' || k === 'read' || k === 'get') calls[k]++;
        if (k === 'range') calls.range.push(a[0] as string);
        if (k === 'read') calls.readPrefixes.push(...(a[0] as ReadOp[]).flatMap((op) => ('prefix' in op ? [op.prefix] : [])));
        return (v as (...x: unknown[]) => unknown).apply(t, a);
      };
    },
  });
  return { store: proxy, calls };
}

/**
 * Holds the store's first read matching `match`: it is made at once and answered when release() is called, so its
 * caller gets what the store held before whatever the test does meanwhile (`held` resolves once it is made). Counts
 * the matching reads.
 */
export function holdFirstRead(
  store: Store,
  match: (ops: ReadOp[]) => boolean,
): { held: Promise<void>; release(): void; reads: { n: number } } {
  const realRead = store.read.bind(store);
  const reads = { n: 0 };
  let hold = true;
  let made!: () => void;
  let gate: (() => void) | undefined;
  let released = false;
  const held = new Promise<void>((r) => (made = r));
  store.read = async (ops) => {
    const matches = match(ops);
    if (matches) reads.n++;
    const r = await realRead(ops);
    if (matches && hold) {
      hold = false;
      made();
      if (!released) await new Promise<void>((g) => (gate = g));
    }
    return r;
  };
  return {
    held,
    release: () => {
      released = true;
      gate?.();
    },
    reads,
  };
}
