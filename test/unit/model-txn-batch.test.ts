import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/index.js';
import type { Compare, Store, TxnOp } from '../../src/store/types.js';
import { TxnBatcher } from '../../src/model/txn-batch.js';

let store: Store;
let calls: { compares: Compare[]; ops: TxnOp[] }[];
let batcher: TxnBatcher;
beforeEach(async () => {
  store = await openStore('memory:');
  calls = [];
  const txn = store.txn.bind(store);
  // Counts what reaches the store: one entry per transaction sent.
  const counting = Object.assign(Object.create(null) as Store, {
    txn: (c: Compare[], o: TxnOp[]) => {
      calls.push({ compares: c, ops: o });
      return txn(c, o);
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

  it('a member whose compare fails fails alone: the others commit (the batch is re-sent member by member)', async () => {
    await store.put('/k/3', 'taken');
    const rs = await Promise.all(Array.from({ length: 5 }, (_, i) => create(`/k/${i}`)));
    expect(rs.map((r) => r.succeeded)).toEqual([true, true, true, false, true]);
    expect((await store.get('/k/3'))?.value).toBe('taken');
    expect(calls).toHaveLength(1 + 5);
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
