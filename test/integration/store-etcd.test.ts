import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/index.js';
import type { EtcdStore } from '../../src/store/etcd.js';
import { storeSuite } from '../unit/store-suite.js';
import { startEtcd, type EtcdCluster } from '../helpers/etcd.js';

let etcd: EtcdCluster | undefined;
const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  await etcd?.stop();
});

storeSuite('etcd', async () => {
  etcd = await startEtcd({ members: 1 });
  const store = (await openStore(etcd.url)) as EtcdStore;
  return {
    store,
    compact: (rev) => store.compact(rev),
    connect: async () => store.connect(),
    cleanup: () => store.close(),
  };
});

describe('etcd driver specifics', () => {
  let url: string;
  beforeAll(() => {
    if (!etcd) throw new Error('etcd not started');
    url = etcd.url;
  });

  it('unreachable endpoints fail with UNAVAILABLE; credentials in the URL are masked', async () => {
    await expect(openStore('etcd://127.0.0.1:1', {})).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    const s = await openStore(url.replace('etcd://', 'etcd://'));
    expect(s.url).toBe(url);
    await s.close();
  }, 30_000);
});
