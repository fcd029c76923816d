import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openLevelStore } from '../../src/store/level.js';
import { openStore } from '../../src/store/index.js';
import type { WatchBatch } from '../../src/store/types.js';
import { storeSuite } from './store-suite.js';

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'wyvern-store-level-'));
  dirs.push(d);
  return d;
}
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

storeSuite('level', async () => {
  const dir = await tempDir();
  const store = await openLevelStore(dir, { leaseCheckMs: 50 });
  return {
    store,
    compact: (rev) => store.compact(rev),
    // A level store has one process; a second "client" is a handle whose close() stops its keep-alives.
    connect: async () => store.connect(),
    cleanup: () => store.close(),
  };
});

describe('level store persistence', () => {
  it('a reopened store keeps keys, continues revisions and replays recent history', async () => {
    const dir = await tempDir();
    const a = await openStore(`level:${dir}`);
    const r1 = await a.put('/p/a', '1');
    const r2 = (
      await a.txn(
        [],
        [
          { op: 'put', key: '/p/b', value: '2' },
          { op: 'put', key: '/p/c', value: '3' },
        ],
      )
    ).revision;
    await a.delete('/p/a');
    await a.close();
    const b = await openStore(`level:${dir}`);
    expect(await b.currentRevision()).toBe(r2 + 1);
    expect((await b.range('/p/')).kvs.map((k) => [k.key, k.value, k.createRevision])).toEqual([
      ['/p/b', '2', r2],
      ['/p/c', '3', r2],
    ]);
    const batches: WatchBatch[] = [];
    const w = b.watch('/p/', r1, { onBatch: (x) => batches.push(x) });
    await new Promise((r) => setTimeout(r, 20));
    expect(batches.map((x) => [x.revision, x.events.length])).toEqual([
      [r1, 1],
      [r2, 2],
      [r2 + 1, 1],
    ]);
    await w.cancel();
    expect(await b.put('/p/d', '4')).toBe(r2 + 2);
    await b.close();
  });

  it('bounds history: older starts get onCompacted, also after reopen', async () => {
    const dir = await tempDir();
    const a = await openLevelStore(dir, { historyLimit: 3 });
    const first = await a.put('/h/x', '0');
    for (let i = 1; i < 6; i++) await a.put('/h/x', String(i));
    await a.close();
    const b = await openLevelStore(dir, { historyLimit: 3 });
    let compacted: number | undefined;
    b.watch('/h/', first, { onBatch: () => undefined, onCompacted: (r) => (compacted = r) });
    const recent: number[] = [];
    b.watch('/h/', (await b.currentRevision()) - 2, { onBatch: (x) => recent.push(x.revision) });
    await new Promise((r) => setTimeout(r, 20));
    expect(compacted).toBe((await b.currentRevision()) - 3);
    expect(recent).toHaveLength(3);
    await b.close();
  });

  it('expires the leases of a process that died while the store was closed', async () => {
    const dir = await tempDir();
    let now = 10_000;
    const clock = { now: () => now };
    const a = await openLevelStore(dir, { clock, leaseCheckMs: 0 });
    const lease = await a.grantLease(5, { keepAlive: false });
    await a.put('/l/chassis', 'up', { lease: lease.id });
    await a.put('/l/plain', 'stays');
    await a.close(); // no revoke: the holder is gone
    now += 4_000;
    const b = await openLevelStore(dir, { clock, leaseCheckMs: 0 });
    expect(await b.get('/l/chassis')).toBeDefined();
    await b.close();
    now += 2_000;
    const c = await openLevelStore(dir, { clock, leaseCheckMs: 0 });
    expect(await c.get('/l/chassis')).toBeUndefined();
    expect((await c.get('/l/plain'))?.value).toBe('stays');
    const fresh = await c.grantLease(5, { keepAlive: false });
    expect(fresh.id).not.toBe(lease.id);
    await c.close();
  });

  it('refuses a second opener of the same directory with UNAVAILABLE', async () => {
    const dir = await tempDir();
    const a = await openStore(`level:${dir}`);
    await expect(openStore(`level:${dir}`)).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    await a.close();
  });
});
