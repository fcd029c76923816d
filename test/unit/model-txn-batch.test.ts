import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/index.js';
import { StoreError, type Compare, type Store, type TxnOp } from '../../src/store/types.js';
import { MAX_IN_FLIGHT, TxnBatcher } from '../../src/model/txn-batch.js';

let store: Store;
let calls: { compares: Compare[]; ops: TxnOp[] }[];
let reads: number;
let batcher: TxnBatcher;
beforeEach(async () => {
  store = await openStore('memory:');
  calls = [];
  reads = 0;
  const txn = store.txn.bind(store);
  const read = store.read.bind(store);
  // Counts what reaches the store: one entry per transaction sent, and the reads.
  const counting = Object.assign(Object.create(null) as Store, {
    txn: (c: Compare[], o: TxnOp[]) => {
      calls.push({ compares: c, ops: o });
      return txn(c, o);
    },
    read: (ops: Parameters<Store['read']>[0]) => {
      reads++;
      return read(ops);
    },
  });
  batcher = new TxnBatcher(counting, (k) => k.startsWith('/g/'));
});
afterEach(async () => {
  await store.close();
});

const create = (k: string, extra: TxnOp[] = []) =>
  batcher.txn([{ key: k, modRevision: 0 }], [{ op: 'put', key: k, value: 'v' }, { op: 'put', key: '/g/ports', value: k }, ...extra]);

describe('TxnBatcher (group commit of port creations)', () => {
  it('sends the transactions of one turn as one, sharing the blind guard put, all at one revision', async () => {
    const rs = await Promise.all(Array.from({ length: 10 }, (_, i) => create(`/k/${i}`)));
    expect(calls).toHaveLength(1);
    expect(calls[0]!.ops.filter((o) => o.op === 'put' && o.key === '/g/ports')).toHaveLength(1);
    expect(rs.every((r) => r.succeeded && r.revision === rs[0]!.revision)).toBe(true);
    for (let i = 0; i < 10; i++) expect((await store.get(`/k/${i}`))?.value).toBe('v');
  });

  it('at most MAX_IN_FLIGHT transactions in flight: what arrives meanwhile, turn after turn, goes as one', async () => {
    // A store that answers only when let go: the batcher's transactions stay in flight.
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const sent: number[] = [];
    const txn = store.txn.bind(store);
    const slow = Object.assign(Object.create(null) as Store, {
      txn: async (c: Compare[], o: TxnOp[]) => {
        sent.push(o.filter((op) => op.op === 'put' && op.key.startsWith('/k/')).length);
        await gate;
        return txn(c, o);
      },
      read: store.read.bind(store),
    });
    const b = new TxnBatcher(slow, (k) => k.startsWith('/g/'));
    const turn = () => new Promise((r) => setImmediate(r));
    const put = (k: string) =>
      b.txn(
        [{ key: k, modRevision: 0 }],
        [
          { op: 'put', key: k, value: 'v' },
          { op: 'put', key: '/g/ports', value: k },
        ],
      );
    const all: Promise<{ succeeded: boolean }>[] = [];
    // One creation a turn (as arrivals spread out come): the first MAX_IN_FLIGHT go alone…
    for (let i = 0; i < MAX_IN_FLIGHT + 10; i++) {
      all.push(put(`/k/${i}`));
      await turn();
    }
    expect(sent).toEqual(Array.from({ length: MAX_IN_FLIGHT }, () => 1));
    // …and the ten that came while they were in flight go together once they are answered.
    release();
    const rs = await Promise.all(all);
    await turn();
    expect(sent).toEqual([...Array.from({ length: MAX_IN_FLIGHT }, () => 1), 10]);
    expect(rs.every((r) => r.succeeded)).toBe(true);
    for (let i = 0; i < MAX_IN_FLIGHT + 10; i++) expect((await store.get(`/k/${i}`))?.value).toBe('v');
  });

  it('the store unreachable: the batches waiting for their turn fail with the one in flight, not a deadline later', async () => {
    let fail!: () => void;
    const gate = new Promise<void>((r) => (fail = r));
    let sent = 0;
    const down = Object.assign(Object.create(null) as Store, {
      txn: async () => {
        sent++;
        await gate;
        throw new StoreError('etcd unreachable: deadline exceeded', 'UNAVAILABLE');
      },
      read: store.read.bind(store),
    });
    const b = new TxnBatcher(down, (k) => k.startsWith('/g/'));
    const turn = () => new Promise((r) => setImmediate(r));
    const all: Promise<unknown>[] = [];
    for (let i = 0; i < MAX_IN_FLIGHT + 10; i++) {
      all.push(b.txn([{ key: `/k/${i}`, modRevision: 0 }], [{ op: 'put', key: `/k/${i}`, value: 'v' }]).catch((e: unknown) => e));
      await turn();
    }
    fail();
    const outcomes = await Promise.all(all);
    expect(outcomes.every((e) => e instanceof StoreError && e.code === 'UNAVAILABLE')).toBe(true);
    expect(sent).toBe(MAX_IN_FLIGHT); // the ten waiting were never sent
  });

  it('a compare several members share word for word is sent once; different compares of one key all go', async () => {
    await store.put('/net', 'n');
    const rev = (await store.get('/net'))!.modRevision;
    const member = (k: string, netRev: number) =>
      batcher.txn(
        [
          { key: '/net', modRevision: netRev },
          { key: '/name', value: 'id' },
          { key: k, modRevision: 0 },
        ],
        [{ op: 'put', key: k, value: 'v' }],
      );
    await store.put('/name', 'id');
    const rs = await Promise.all([member('/k/a', rev), member('/k/b', rev), member('/k/c', rev)]);
    expect(rs.every((r) => r.succeeded)).toBe(true);
    expect(calls).toHaveLength(1);
    expect(calls[0]!.compares.filter((c) => c.key === '/net')).toHaveLength(1);
    expect(calls[0]!.compares.filter((c) => c.key === '/name')).toHaveLength(1);
    expect(calls[0]!.compares).toHaveLength(2 + 3);
    // A member comparing another revision of /net keeps its own compare: it fails, alone, and the others commit.
    calls.length = 0;
    const rs2 = await Promise.all([member('/k/d', rev), member('/k/e', rev - 1), member('/k/f', rev)]);
    expect(rs2.map((r) => r.succeeded)).toEqual([true, false, true]);
    expect(calls[0]!.compares.filter((c) => c.key === '/net')).toHaveLength(2);
  });

  it('a member whose compare fails fails alone: one read finds it, the others commit together', async () => {
    await store.put('/k/3', 'taken');
    const rs = await Promise.all(Array.from({ length: 5 }, (_, i) => create(`/k/${i}`)));
    expect(rs.map((r) => r.succeeded)).toEqual([true, true, true, false, true]);
    expect((await store.get('/k/3'))?.value).toBe('taken');
    // The failed batch, one read of what it compared, the four others again as one transaction.
    expect(calls).toHaveLength(2);
    expect(reads).toBe(1);
    expect(calls[1]!.compares.map((c) => c.key)).not.toContain('/k/3');
    for (const i of [0, 1, 2, 4]) expect((await store.get(`/k/${i}`))?.value).toBe('v');
    expect(rs[0]!.revision).toBe(rs[4]!.revision);
  });

  it('a value compare on an absent key fails, as in etcd; when the survivors fail again, each goes alone', async () => {
    // /gone holds no value: the member comparing its value fails (etcd: a value compare of an absent key is false).
    const valueMember = batcher.txn([{ key: '/gone', value: '' }], [{ op: 'put', key: '/k/v', value: 'v' }]);
    const rs = await Promise.all([valueMember, create('/k/a'), create('/k/b')]);
    expect(rs.map((r) => r.succeeded)).toEqual([false, true, true]);
    // Survivors that fail again (something changed between the read and their second try) are sent alone.
    calls.length = 0;
    reads = 0;
    const read = store.read.bind(store);
    let first = true;
    const racing = Object.assign(Object.create(null) as Store, {
      txn: (c: Compare[], o: TxnOp[]) => {
        calls.push({ compares: c, ops: o });
        return store.txn(c, o);
      },
      read: async (ops: Parameters<Store['read']>[0]) => {
        reads++;
        const r = await read(ops);
        // Another writer takes /k/y right after the read: the survivors' second batch fails too.
        if (first) await store.put('/k/y', 'other');
        first = false;
        return r;
      },
    });
    const b2 = new TxnBatcher(racing, (k) => k.startsWith('/g/'));
    await store.put('/k/x', 'taken');
    const mk = (k: string) => b2.txn([{ key: k, modRevision: 0 }], [{ op: 'put', key: k, value: 'v' }]);
    const rs2 = await Promise.all([mk('/k/x'), mk('/k/y'), mk('/k/z')]);
    expect(rs2.map((r) => r.succeeded)).toEqual([false, false, true]);
    expect(reads).toBe(1);
    // The batch, the survivors' batch, then /k/y and /k/z alone.
    expect(calls.map((c) => c.compares.length)).toEqual([3, 2, 1, 1]);
  });

  it('when the read after a failed batch fails (store outage), each member is sent alone and decides for itself', async () => {
    const failing = Object.assign(Object.create(null) as Store, {
      txn: (c: Compare[], o: TxnOp[]) => {
        calls.push({ compares: c, ops: o });
        return store.txn(c, o);
      },
      read: () => Promise.reject(new Error('etcd unreachable')),
    });
    const b = new TxnBatcher(failing, (k) => k.startsWith('/g/'));
    await store.put('/k/1', 'taken');
    const mk = (k: string) => b.txn([{ key: k, modRevision: 0 }], [{ op: 'put', key: k, value: 'v' }]);
    const rs = await Promise.all([mk('/k/0'), mk('/k/1'), mk('/k/2')]);
    expect(rs.map((r) => r.succeeded)).toEqual([true, false, true]);
    expect(calls.map((c) => c.compares.length)).toEqual([3, 1, 1, 1]);
  });

  it('two members writing the same key never share a transaction (they would decide each other)', async () => {
    const rs = await Promise.all([create('/k/same'), create('/k/same'), create('/k/other')]);
    expect(rs.filter((r) => r.succeeded)).toHaveLength(2);
    for (const c of calls) expect(new Set(c.ops.map((o) => (o.op === 'deletePrefix' ? o.prefix : o.key))).size).toBe(c.ops.length);
  });

  it('a blind key some member compares is not shared', async () => {
    const guard = batcher.txn([{ key: '/g/ports', modRevision: 0 }], [{ op: 'put', key: '/x', value: '1' }]);
    const rs = await Promise.all([guard, create('/k/a'), create('/k/b')]);
    expect(rs.every((r) => r.succeeded)).toBe(true);
    // The compare of /g/ports held when checked: the member comparing it went in a transaction without its put.
    const withCompare = calls.find((c) => c.compares.some((x) => x.key === '/g/ports'))!;
    expect(withCompare.ops.some((o) => o.op === 'put' && o.key === '/g/ports')).toBe(false);
  });

  it('keeps within the 128 compares / 128 writes etcd allows per transaction', async () => {
    const rs = await Promise.all(Array.from({ length: 200 }, (_, i) => create(`/k/${i}`)));
    expect(rs.every((r) => r.succeeded)).toBe(true);
    for (const c of calls) {
      expect(c.compares.length).toBeLessThanOrEqual(128);
      expect(c.ops.length).toBeLessThanOrEqual(128);
    }
    expect(calls.length).toBeLessThan(10);
  });
});
