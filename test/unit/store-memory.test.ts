import { describe, expect, it } from 'vitest';
import { createMemoryStore } from '../../src/store/memory.js';
import { openStore, StoreError } from '../../src/store/index.js';
import { storeSuite } from './store-suite.js';

storeSuite('memory', async () => {
  const store = createMemoryStore({ leaseCheckMs: 50 });
  return {
    store,
    compact: (rev) => store.compact(rev),
    connect: async () => store.connect(),
    cleanup: () => store.close(),
  };
});

describe('memory store specifics', () => {
  it('expires leases on an injected clock', async () => {
    let now = 1_000;
    const store = createMemoryStore({ clock: { now: () => now }, leaseCheckMs: 0 });
    const lease = await store.grantLease(10, { keepAlive: false });
    await store.put('/k', 'v', { lease: lease.id });
    now += 9_000;
    await store.expireLeases();
    expect(await store.get('/k')).toBeDefined();
    await lease.keepAliveOnce();
    now += 9_000;
    await store.expireLeases();
    expect(await store.get('/k')).toBeDefined();
    now += 1_001;
    await store.expireLeases();
    expect(await store.get('/k')).toBeUndefined();
    await expect(lease.keepAliveOnce()).rejects.toBeInstanceOf(StoreError);
    await store.close();
  });

  it('refuses use after close', async () => {
    const store = await openStore('memory:');
    await store.close();
    await expect(store.get('/x')).rejects.toMatchObject({ code: 'CLOSED' });
  });

  it('starts at revision 1 like etcd and bumps once per write', async () => {
    const store = createMemoryStore();
    expect(await store.currentRevision()).toBe(1);
    expect(await store.put('/a', '1')).toBe(2);
    await store.close();
  });
});
