/**
 * The store layer under etcd outages: a PrefixSubscription keeps delivering changes after etcd restarts (with
 * authentication on, whose tokens do not survive a restart), a lease lost in an outage is reported, and every
 * unreachable-store error is UNAVAILABLE.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { openStore, PrefixSubscription, type SubscriptionEvent } from '../../src/store/index.js';
import type { Store } from '../../src/store/types.js';
import { enableEtcdAuth, startEtcd, type EtcdCluster } from '../helpers/etcd.js';

const clusters: EtcdCluster[] = [];
const stores: Store[] = [];
afterAll(async () => {
  await Promise.all(stores.map((s) => s.close().catch(() => undefined)));
  await Promise.all(clusters.map((c) => c.stop()));
});

async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 20_000): Promise<number> {
  const t0 = Date.now();
  while (!(await cond())) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return Date.now() - t0;
}

async function authEtcd(): Promise<{ etcd: EtcdCluster; url: string }> {
  const etcd = await startEtcd();
  clusters.push(etcd);
  return { etcd, url: await enableEtcdAuth(etcd) };
}

describe('store under etcd outages', () => {
  it('with authentication on, a subscription hears changes again after etcd restarts', async () => {
    const { etcd, url } = await authEtcd();
    const s = await openStore(url);
    stores.push(s);
    const events: SubscriptionEvent[] = [];
    const sub = new PrefixSubscription(s, { retryMs: 100, retryMaxMs: 500 });
    sub.on('event', (e: SubscriptionEvent) => events.push(e));
    await sub.add('/wyvern/v1/t/');
    // Several watches share the client's stream: every one of them must come back, not only the first refused.
    await sub.add('/wyvern/v1/v/');
    await sub.add('/wyvern/v1/w/');
    await s.put('/wyvern/v1/t/a', '1');
    await until('first put', () => events.some((e) => e.type === 'put' && e.kv.value === '1'));
    await etcd.members[0]!.kill();
    await new Promise((r) => setTimeout(r, 1000));
    await etcd.members[0]!.restart();
    const writer = await openStore(url);
    stores.push(writer);
    await writer.put('/wyvern/v1/t/b', '2');
    const ms = await until('a change made after the restart', () =>
      events.some((e) => (e.type === 'put' && e.kv.value === '2') || (e.type === 'resync' && e.kvs.some((kv) => kv.value === '2'))),
    );
    console.log(`subscription heard a change ${ms} ms after etcd (auth on) came back`);
    // Not only a re-read: the watch itself is live again, for old prefixes and for one added now.
    await new Promise((r) => setTimeout(r, 2000));
    await sub.add('/wyvern/v1/u/');
    const seen = events.length;
    await writer.put('/wyvern/v1/t/c', '3');
    await writer.put('/wyvern/v1/u/d', '4');
    await writer.put('/wyvern/v1/v/e', '5');
    await writer.put('/wyvern/v1/w/f', '6');
    await until('puts after the restart, through every watch', () =>
      ['3', '4', '5', '6'].every((v) => events.slice(seen).some((e) => e.type === 'put' && e.kv.value === v)),
    );
    await sub.close();
  }, 60_000);

  it('a lease that expires during an outage is reported lost, and a new one can be taken when etcd is back', async () => {
    const etcd = await startEtcd();
    clusters.push(etcd);
    const s = await openStore(etcd.url);
    stores.push(s);
    let lost: Error | undefined;
    const lease = await s.grantLease(1, { onLost: (err) => (lost = err) });
    await s.put('/wyvern/v1/chassis/x', '{}', { lease: lease.id });
    await etcd.members[0]!.kill();
    await until('the lease to be reported lost', () => lost !== undefined, 15_000);
    await etcd.members[0]!.restart();
    const again = await s.grantLease(1);
    await s.put('/wyvern/v1/chassis/x', '{}', { lease: again.id });
    expect((await s.get('/wyvern/v1/chassis/x'))?.lease).toBe(again.id);
  }, 60_000);
});
