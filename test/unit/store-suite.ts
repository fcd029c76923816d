/**
 * The behavioural suite every store driver must pass (memory, level, etcd): one function taking a
 * factory, so the drivers are held to exactly the same contract.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KeyValue, Store, TxnOp, WatchBatch } from '../../src/store/types.js';
import { MAX_TXN_OPS, StoreError } from '../../src/store/types.js';
import { allocateInt, allocCandidate, releaseInt } from '../../src/store/alloc.js';
import { PrefixSubscription, type SubscriptionEvent } from '../../src/store/subscription.js';

export interface StoreHarness {
  store: Store;
  /** Forget history up to `revision` (drives onCompacted). */
  compact(revision: number): Promise<void>;
  /** Another client of the same store (closing it must let its leases expire by TTL). */
  connect(): Promise<Store>;
  cleanup(): Promise<void>;
}

const until = async (cond: () => boolean, ms = 10_000, what = 'condition'): Promise<void> => {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
};

/** Collects batches of a watch. */
function collect(store: Store, prefix: string, from?: number) {
  const batches: WatchBatch[] = [];
  let compacted: number | undefined;
  const w = store.watch(prefix, from, { onBatch: (b) => batches.push(b), onCompacted: (r) => (compacted = r) });
  return { batches, w, compacted: () => compacted };
}

export function storeSuite(name: string, factory: () => Promise<StoreHarness>): void {
  describe(`store contract: ${name}`, () => {
    let h: StoreHarness;
    let s: Store;
    let n = 0;
    // Each test works under its own prefix so tests never see each other's keys.
    const P = (): string => `/t/${name}/${process.pid}-${Date.now()}-${n++}/`;

    beforeAll(async () => {
      h = await factory();
      s = h.store;
    });
    afterAll(async () => {
      await h?.cleanup();
    });

    it('put/get track create and mod revisions; missing keys are undefined', async () => {
      const p = P();
      const r1 = await s.put(`${p}a`, '1');
      const r2 = await s.put(`${p}a`, '2');
      expect(r2).toBe(r1 + 1);
      const kv = await s.get(`${p}a`);
      expect(kv).toMatchObject({ key: `${p}a`, value: '2', createRevision: r1, modRevision: r2 });
      expect(await s.get(`${p}missing`)).toBeUndefined();
      expect(await s.currentRevision()).toBeGreaterThanOrEqual(r2);
    });

    it('range returns exactly the prefix, in key order, with the read revision', async () => {
      const p = P();
      await s.put(`${p}b`, 'b');
      await s.put(`${p}a`, 'a');
      await s.put(`${p}a/x`, 'ax');
      const last = await s.put(`${p.slice(0, -1)}X`, 'outside');
      const r = await s.range(p);
      expect(r.kvs.map((k) => k.key)).toEqual([`${p}a`, `${p}a/x`, `${p}b`]);
      expect(r.revision).toBeGreaterThanOrEqual(last);
    });

    it('read answers several key and prefix reads at one revision, in order', async () => {
      const p = P();
      await s.put(`${p}k1`, 'v1');
      await s.put(`${p}dir/b`, 'b');
      const last = await s.put(`${p}dir/a`, 'a');
      const r = await s.read([{ key: `${p}k1` }, { key: `${p}missing` }, { prefix: `${p}dir/` }, { prefix: `${p}none/` }]);
      expect(r.results.map((kvs) => kvs.map((kv) => kv.value))).toEqual([['v1'], [], ['a', 'b'], []]);
      expect(r.results[0]![0]!.modRevision).toBeLessThan(last);
      expect(r.revision).toBeGreaterThanOrEqual(last);
      expect((await s.read([])).results).toEqual([]);
    });

    it('read is a snapshot: concurrent writers never show half of a transaction', async () => {
      const p = P();
      // Writers move a token between two keys in one txn each; every read must see exactly one holder.
      await s.txn(
        [],
        [
          { op: 'put', key: `${p}a`, value: '1' },
          { op: 'put', key: `${p}b`, value: '0' },
        ],
      );
      let stop = false;
      const writer = (async () => {
        for (let i = 0; !stop && i < 200; i++) {
          const [a, b] = i % 2 ? ['1', '0'] : ['0', '1'];
          await s.txn(
            [],
            [
              { op: 'put', key: `${p}a`, value: a },
              { op: 'put', key: `${p}b`, value: b },
            ],
          );
        }
      })();
      for (let i = 0; i < 50; i++) {
        const r = await s.read([{ key: `${p}a` }, { key: `${p}b` }]);
        const sum = Number(r.results[0]![0]!.value) + Number(r.results[1]![0]!.value);
        expect(sum).toBe(1);
      }
      stop = true;
      await writer;
    });

    it('delete advances the revision only when something was deleted', async () => {
      const p = P();
      const r1 = await s.put(`${p}a`, '1');
      const r2 = await s.delete(`${p}a`);
      expect(r2).toBe(r1 + 1);
      expect(await s.get(`${p}a`)).toBeUndefined();
      const r3 = await s.delete(`${p}a`);
      expect(r3).toBe(await s.currentRevision());
    });

    it('txn compare-and-swap on modRevision (0 = absent) and on value', async () => {
      const p = P();
      const create = await s.txn([{ key: `${p}k`, modRevision: 0 }], [{ op: 'put', key: `${p}k`, value: 'v1' }]);
      expect(create.succeeded).toBe(true);
      const again = await s.txn(
        [{ key: `${p}k`, modRevision: 0 }],
        [{ op: 'put', key: `${p}k`, value: 'nope' }],
        [{ op: 'put', key: `${p}lost`, value: 'x' }],
      );
      expect(again.succeeded).toBe(false);
      expect((await s.get(`${p}k`))!.value).toBe('v1');
      expect((await s.get(`${p}lost`))!.value).toBe('x');
      const swap = await s.txn([{ key: `${p}k`, modRevision: create.revision }], [{ op: 'put', key: `${p}k`, value: 'v2' }]);
      expect(swap.succeeded).toBe(true);
      const stale = await s.txn([{ key: `${p}k`, modRevision: create.revision }], [{ op: 'put', key: `${p}k`, value: 'v3' }]);
      expect(stale.succeeded).toBe(false);
      expect((await s.txn([{ key: `${p}k`, value: 'v2' }], [{ op: 'delete', key: `${p}k` }])).succeeded).toBe(true);
      // A value compare on a missing key fails (etcd semantics).
      expect((await s.txn([{ key: `${p}k`, value: '' }], [{ op: 'put', key: `${p}z`, value: '1' }])).succeeded).toBe(false);
      const failed = await s.txn([{ key: `${p}k`, value: 'x' }], []);
      expect(failed.revision).toBe(await s.currentRevision());
    });

    it('txn compare on existence: holds for a key of any value and revision, fails once it is deleted', async () => {
      const p = P();
      const exists = [{ key: `${p}port`, exists: true as const }];
      expect((await s.txn(exists, [{ op: 'put', key: `${p}bound`, value: '1' }])).succeeded).toBe(false);
      expect(await s.get(`${p}bound`)).toBeUndefined();
      await s.put(`${p}port`, '');
      await s.put(`${p}port`, 'changed'); // a later revision, another value: still there
      expect((await s.txn(exists, [{ op: 'put', key: `${p}bound`, value: '2' }])).succeeded).toBe(true);
      expect((await s.get(`${p}bound`))!.value).toBe('2');
      await s.delete(`${p}port`);
      expect((await s.txn(exists, [], [{ op: 'put', key: `${p}gone`, value: 'x' }])).succeeded).toBe(false);
      expect((await s.get(`${p}gone`))!.value).toBe('x');
    });

    it('a txn applies all its ops in one revision; deletePrefix removes a subtree', async () => {
      const p = P();
      await s.put(`${p}sub/1`, '1');
      await s.put(`${p}sub/2`, '2');
      const r = await s.txn(
        [],
        [
          { op: 'put', key: `${p}a`, value: 'a' },
          { op: 'put', key: `${p}b`, value: 'b' },
          { op: 'deletePrefix', prefix: `${p}sub/` },
        ],
      );
      expect(r.succeeded).toBe(true);
      expect((await s.get(`${p}a`))!.modRevision).toBe(r.revision);
      expect((await s.get(`${p}b`))!.modRevision).toBe(r.revision);
      expect((await s.range(`${p}sub/`)).kvs).toEqual([]);
    });

    it('rejects a txn writing one key twice, and a put on an unknown lease', async () => {
      const p = P();
      await expect(
        s.txn(
          [],
          [
            { op: 'put', key: `${p}a`, value: '1' },
            { op: 'put', key: `${p}a`, value: '2' },
          ],
        ),
      ).rejects.toBeInstanceOf(StoreError);
      await expect(s.put(`${p}a`, '1', { lease: '123456789' })).rejects.toBeInstanceOf(StoreError);
      expect(await s.get(`${p}a`)).toBeUndefined();
    });

    it(`refuses a txn or a read of more than MAX_TXN_OPS (${MAX_TXN_OPS}) operations as etcd does, writing nothing; that many pass`, async () => {
      const p = P();
      const puts = (n: number): TxnOp[] => Array.from({ length: n }, (_, i) => ({ op: 'put', key: `${p}k${i}`, value: 'v' }));
      const refused = async (f: () => Promise<unknown>) => {
        const err = await f().then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(StoreError);
        expect((err as StoreError).code).toBe('INVALID');
        expect((err as StoreError).message).toMatch(/too many operations/);
      };
      await refused(() => s.txn([], puts(MAX_TXN_OPS + 1)));
      const compares = Array.from({ length: MAX_TXN_OPS + 1 }, (_, i) => ({ key: `${p}c${i}`, modRevision: 0 }));
      await refused(() => s.txn(compares, puts(1)));
      await refused(() => s.read(Array.from({ length: MAX_TXN_OPS + 1 }, (_, i) => ({ key: `${p}k${i}` }))));
      expect((await s.range(p)).kvs).toEqual([]);
      expect((await s.txn(compares.slice(1), puts(MAX_TXN_OPS))).succeeded).toBe(true);
      expect((await s.read(Array.from({ length: MAX_TXN_OPS }, (_, i) => ({ key: `${p}k${i}` })))).results.flat().length).toBe(MAX_TXN_OPS);
    });
    it('watch delivers one batch per revision, only under the prefix, with prev values', async () => {
      const p = P();
      await s.put(`${p}a`, '0');
      // From the next revision: a watch without one starts where the store is when it registers it, which a put
      // made meanwhile would precede.
      const c = collect(s, p, (await s.currentRevision()) + 1);
      const r1 = await s.put(`${p}a`, '1');
      await s.put(`/t/${name}/elsewhere`, 'x');
      const r2 = (
        await s.txn(
          [],
          [
            { op: 'put', key: `${p}b`, value: 'b' },
            { op: 'delete', key: `${p}a` },
          ],
        )
      ).revision;
      await until(() => c.batches.length >= 2, 10_000, 'two batches');
      await c.w.cancel();
      expect(c.batches.map((b) => b.revision)).toEqual([r1, r2]);
      expect(c.batches[0]!.events).toEqual([
        {
          type: 'put',
          kv: expect.objectContaining({ key: `${p}a`, value: '1', modRevision: r1 }),
          prev: expect.objectContaining({ value: '0' }),
        },
      ]);
      const ev2 = c.batches[1]!.events;
      expect(ev2).toHaveLength(2);
      expect(ev2).toContainEqual({ type: 'put', kv: expect.objectContaining({ key: `${p}b`, value: 'b', createRevision: r2 }) });
      expect(ev2).toContainEqual({ type: 'delete', key: `${p}a`, modRevision: r2, prev: expect.objectContaining({ value: '1' }) });
    });

    it('watch from an old revision replays history without gaps, then goes live', async () => {
      const p = P();
      const revs: number[] = [];
      for (let i = 0; i < 5; i++) revs.push(await s.put(`${p}k${i % 2}`, String(i)));
      const c = collect(s, p, revs[1]);
      await until(() => c.batches.length >= 4, 10_000, 'replayed batches');
      revs.push(await s.put(`${p}k9`, 'live'));
      await until(() => c.batches.length >= 5, 10_000, 'live batch');
      await c.w.cancel();
      expect(c.batches.map((b) => b.revision)).toEqual(revs.slice(1));
    });

    it('cancel stops delivery', async () => {
      const p = P();
      const c = collect(s, p, (await s.currentRevision()) + 1);
      await s.put(`${p}a`, '1');
      await until(() => c.batches.length === 1, 10_000, 'first batch');
      await c.w.cancel();
      await s.put(`${p}a`, '2');
      await new Promise((r) => setTimeout(r, 200));
      expect(c.batches).toHaveLength(1);
    });

    it('watching from a compacted revision signals onCompacted and delivers nothing', async () => {
      const p = P();
      const r1 = await s.put(`${p}a`, '1');
      const r2 = await s.put(`${p}a`, '2');
      await s.put(`${p}a`, '3');
      await h.compact(r2);
      const c = collect(s, p, r1);
      await until(() => c.compacted() !== undefined, 10_000, 'onCompacted');
      expect(c.compacted()).toBeGreaterThanOrEqual(r2);
      await new Promise((r) => setTimeout(r, 100));
      expect(c.batches).toEqual([]);
      await c.w.cancel();
    });

    it('revoking a lease deletes its keys (one revision) and reports deletes to watchers', async () => {
      const p = P();
      const lease = await s.grantLease(30);
      await lease.keepAliveOnce();
      await s.put(`${p}a`, '1', { lease: lease.id });
      await s.put(`${p}b`, '2', { lease: lease.id });
      expect((await s.get(`${p}a`))!.lease).toBe(lease.id);
      const c = collect(s, p, (await s.currentRevision()) + 1);
      await lease.revoke();
      await until(() => c.batches.flatMap((b) => b.events).length >= 2, 10_000, 'lease deletes');
      await c.w.cancel();
      expect(c.batches).toHaveLength(1);
      expect(c.batches[0]!.events.map((e) => e.type)).toEqual(['delete', 'delete']);
      expect((await s.range(p)).kvs).toEqual([]);
    });

    it('a lease whose holder went away expires after its TTL; a kept-alive one survives', async () => {
      const p = P();
      const other = await h.connect();
      const dying = await other.grantLease(1);
      await other.put(`${p}dying`, 'x', { lease: dying.id });
      const living = await s.grantLease(1);
      await s.put(`${p}living`, 'y', { lease: living.id });
      await other.close(); // the holder "crashes": no revoke, keep-alive stops
      const t0 = Date.now();
      let gone = false;
      while (!gone && Date.now() - t0 < 15_000) {
        gone = (await s.get(`${p}dying`)) === undefined;
        if (!gone) await new Promise((r) => setTimeout(r, 100));
      }
      expect(gone).toBe(true);
      // The other lease has been kept alive in the background all that time.
      expect((await s.get(`${p}living`))?.value).toBe('y');
      await living.revoke();
    }, 30_000);

    it('20 concurrent allocators never hand out the same integer; release frees it', async () => {
      const pool = `test-${name}-${process.pid}-${Date.now()}`;
      const got = await Promise.all(Array.from({ length: 20 }, (_, i) => allocateInt(s, pool, { min: 1, max: 1000, owner: `o${i}` })));
      expect(new Set(got).size).toBe(20);
      expect(got.every((x) => x >= 1 && x <= 1000)).toBe(true);
      const owners = (await s.range(`/wyvern/v1/alloc/${pool}/`)).kvs.map((k) => k.value).sort();
      expect(owners).toHaveLength(20);
      const victim = got[0]!;
      expect(await releaseInt(s, pool, victim, 'someone-else')).toBe(false);
      expect(await releaseInt(s, pool, victim, 'o0')).toBe(true);
      const taken = new Set(got.filter((x) => x !== victim));
      let lowest = 1;
      while (taken.has(lowest)) lowest++;
      expect(await allocateInt(s, pool, { max: 1000, owner: 'again' })).toBe(lowest);
      await s.txn([], [{ op: 'deletePrefix', prefix: `/wyvern/v1/alloc/${pool}/` }]);
    });

    it('an allocation candidate folds into a larger txn; a full pool is EXHAUSTED', async () => {
      const p = P();
      const pool = `test-${name}-fold-${Date.now()}`;
      const c = await allocCandidate(s, pool, { min: 5, max: 5, owner: 'net/1' });
      expect(c.n).toBe(5);
      const r = await s.txn([c.compare, { key: `${p}name`, modRevision: 0 }], [c.op, { op: 'put', key: `${p}name`, value: 'net/1' }]);
      expect(r.succeeded).toBe(true);
      expect((await s.get(c.key))!.value).toBe('net/1');
      await expect(allocateInt(s, pool, { min: 5, max: 5, owner: 'x' })).rejects.toMatchObject({ code: 'EXHAUSTED' });
      await s.txn([], [{ op: 'deletePrefix', prefix: `/wyvern/v1/alloc/${pool}/` }]);
    });

    it('PrefixSubscription: snapshot then ordered changes per prefix; add/remove at run time', async () => {
      const p = P();
      await s.put(`${p}net1/ports/a`, 'a');
      await s.put(`${p}net2/ports/b`, 'b');
      const events: SubscriptionEvent[] = [];
      const sub = new PrefixSubscription(s, { onEvent: (e) => events.push(e) });
      await sub.add(`${p}net1/`);
      expect(sub.prefixes()).toEqual([`${p}net1/`]);
      expect(events[0]).toMatchObject({
        type: 'snapshot',
        prefix: `${p}net1/`,
        kvs: [expect.objectContaining({ key: `${p}net1/ports/a` })],
      });
      await s.put(`${p}net2/ports/c`, 'c'); // not watched
      await s.put(`${p}net1/ports/d`, 'd');
      await s.delete(`${p}net1/ports/a`);
      await until(() => events.length >= 3, 10_000, 'net1 events');
      expect(events.slice(1).map((e) => [e.type, 'kv' in e ? e.kv.key : 'key' in e ? e.key : ''])).toEqual([
        ['put', `${p}net1/ports/d`],
        ['delete', `${p}net1/ports/a`],
      ]);
      await sub.add(`${p}net2/`);
      const snap2 = events[3]!;
      expect(snap2.type).toBe('snapshot');
      expect((snap2 as { kvs: KeyValue[] }).kvs.map((k) => k.key)).toEqual([`${p}net2/ports/b`, `${p}net2/ports/c`]);
      await sub.remove(`${p}net1/`);
      expect(sub.prefixes()).toEqual([`${p}net2/`]);
      await s.put(`${p}net1/ports/e`, 'e');
      await s.put(`${p}net2/ports/f`, 'f');
      await until(() => events.length >= 5, 10_000, 'net2 event');
      await new Promise((r) => setTimeout(r, 100));
      expect(events.slice(4).map((e) => e.type + ':' + ('kv' in e ? e.kv.key : ''))).toEqual([`put:${p}net2/ports/f`]);
      // Revisions are strictly increasing per prefix.
      const revs = events.filter((e) => e.prefix === `${p}net2/`).map((e) => e.revision);
      expect([...revs].sort((a, b) => a - b)).toEqual(revs);
      await sub.close();
      expect(sub.prefixes()).toEqual([]);
    });

    it('PrefixSubscription: a compacted watch becomes a resync with the current contents', async () => {
      const p = P();
      await s.put(`${p}a`, '1');
      const events: SubscriptionEvent[] = [];
      // The first read pretends to be old (revision r0-1, since compacted), so the subscription's watch
      // starts inside compacted history: the driver's own onCompacted path is what must heal it.
      const r0 = await s.currentRevision();
      await s.put(`${p}b`, '2');
      await s.put(`${p}c`, '3');
      await h.compact(await s.currentRevision());
      let first = true;
      const sub = new PrefixSubscription(
        {
          ...bindAll(s),
          range: async (prefix: string) => {
            if (first) {
              first = false;
              return { ...(await s.range(prefix)), revision: r0 - 1 };
            }
            return s.range(prefix);
          },
        },
        { onEvent: (e) => events.push(e) },
      );
      await sub.add(p);
      await until(() => events.some((e) => e.type === 'resync'), 10_000, 'resync');
      const rs = events.find((e) => e.type === 'resync') as { kvs: KeyValue[] };
      expect(rs.kvs.map((k) => k.value)).toEqual(['1', '2', '3']);
      await s.put(`${p}d`, '4');
      await until(() => events.some((e) => e.type === 'put'), 10_000, 'put after resync');
      await sub.close();
    });
  });
}

/** A plain object with the store's methods bound (so spreading it keeps them working). */
function bindAll(s: Store): Store {
  return {
    url: s.url,
    get: s.get.bind(s),
    range: s.range.bind(s),
    read: s.read.bind(s),
    put: s.put.bind(s),
    delete: s.delete.bind(s),
    txn: s.txn.bind(s),
    watch: s.watch.bind(s),
    grantLease: s.grantLease.bind(s),
    currentRevision: s.currentRevision.bind(s),
    close: s.close.bind(s),
  };
}
