/**
 * Fault test on a 3-member etcd cluster on loopback: kill the member carrying the most watch streams
 * while writers and watchers run. Every acknowledged write must survive; every watcher must see
 * exactly the prefix's history (same revisions, in order, none missing or repeated); the restarted
 * member must catch up (its own local reads return the latest data).
 */
import { afterAll, expect, it } from 'vitest';
import { openStore } from '../../src/store/index.js';
import { prefixEnd, type EtcdStore } from '../../src/store/etcd.js';
import type { Store, WatchBatch } from '../../src/store/types.js';
import { startEtcd, type EtcdCluster } from '../helpers/etcd.js';

let etcd: EtcdCluster | undefined;
const stores: Store[] = [];
afterAll(async () => {
  await Promise.all(stores.map((s) => s.close().catch(() => undefined)));
  await etcd?.stop();
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function watchStreams(clientUrl: string): Promise<number> {
  const text = await (await fetch(`${clientUrl}/metrics`)).text();
  const m = /^etcd_debugging_mvcc_watch_stream_total (\d+)/m.exec(text);
  return m ? Number(m[1]) : 0;
}

it('kill one of three members under writes and watches: nothing lost, nothing repeated, it catches up', async () => {
  etcd = await startEtcd({ members: 3 });
  const prefix = `/fault/${Date.now()}/`;
  const writer = await openStore(etcd.url);
  stores.push(writer);
  const start = (await writer.currentRevision()) + 1;

  // Several independent clients, each with one watch; etcd3 picks a random member for each stream.
  const watchers: { batches: WatchBatch[]; errors: Error[] }[] = [];
  for (let i = 0; i < 6; i++) {
    const s = await openStore(etcd.url);
    stores.push(s);
    const w = { batches: [] as WatchBatch[], errors: [] as Error[] };
    s.watch(prefix, start, {
      onBatch: (b) => w.batches.push(b),
      onError: (e) => w.errors.push(e),
      onCompacted: () => w.errors.push(new Error('compacted')),
    });
    watchers.push(w);
  }
  await sleep(300);

  // Writers: 3 concurrent loops of puts and txns on unique keys; a failed call is retried until acknowledged.
  const acked = new Map<string, string>();
  let stop = false;
  const failures: string[] = [];
  const loop = async (id: number): Promise<void> => {
    for (let i = 0; !stop; i++) {
      const key = `${prefix}w${id}/${i}`;
      const value = `v${i}`;
      for (;;) {
        try {
          if (i % 2 === 0) await writer.put(key, value);
          else
            await writer.txn(
              [{ key, modRevision: 0 }],
              [
                { op: 'put', key, value },
                { op: 'put', key: `${key}/twin`, value },
              ],
            );
          acked.set(key, value);
          break;
        } catch (err) {
          failures.push((err as Error).message);
          await sleep(20);
        }
      }
    }
  };
  const loops = [0, 1, 2].map(loop);
  await sleep(700);

  const streams = await Promise.all(etcd.members.map((m) => watchStreams(m.clientUrl)));
  const victimIndex = streams.indexOf(Math.max(...streams));
  const victim = etcd.members[victimIndex]!;
  expect(streams[victimIndex]).toBeGreaterThan(0); // some watch streams really do fail over
  const beforeKill = acked.size;
  await victim.kill();
  // Longer than a call's deadline (5 s): when the victim is the leader, the writes a follower had forwarded to it are
  // never answered (etcd drops them; a new leader is elected in ~0.5 s) and each writer waits out its deadline before
  // its retry goes through. Seen in CI with 2.5 s: no write acknowledged in the window. So: at least 2.5 s down, and
  // until a write is acknowledged (a fixed 6.5 s was a second above that on a loaded machine), at most 20 s.
  const killed = Date.now();
  await sleep(2500);
  while (acked.size === beforeKill && Date.now() - killed < 20_000) await sleep(100);
  const duringOutage = acked.size - beforeKill;
  await victim.restart();
  await sleep(1000);
  stop = true;
  await Promise.all(loops);

  // Ground truth: the prefix's history replayed by a fresh watch on a surviving member.
  const survivor = etcd.members[(victimIndex + 1) % 3]!;
  const truthStore = await openStore(`etcd://${survivor.clientUrl.replace('http://', '')}`);
  stores.push(truthStore);
  const end = await writer.currentRevision();
  const truth: WatchBatch[] = [];
  truthStore.watch(prefix, start, { onBatch: (b) => truth.push(b) });
  const until = async (cond: () => boolean, what: string): Promise<void> => {
    const t0 = Date.now();
    while (!cond()) {
      if (Date.now() - t0 > 20_000) throw new Error(`timed out: ${what}`);
      await sleep(20);
    }
  };
  const lastRev = (bs: WatchBatch[]): number => bs[bs.length - 1]?.revision ?? 0;
  const truthEnd = (await truthStore.range(prefix)).kvs.reduce((m, kv) => Math.max(m, kv.modRevision), 0);
  await until(() => lastRev(truth) >= truthEnd, 'ground-truth replay');
  expect(end).toBeGreaterThanOrEqual(truthEnd);

  // No acknowledged write lost.
  const { kvs } = await truthStore.range(prefix);
  const have = new Map(kvs.map((kv) => [kv.key, kv.value]));
  for (const [k, v] of acked) expect(have.get(k), k).toBe(v);
  expect(duringOutage).toBeGreaterThan(0); // writes kept flowing while the member was down

  // Every watcher saw exactly the history: same revisions, each once, in order, same events.
  const truthRevs = truth.map((b) => b.revision);
  for (const w of watchers) {
    await until(() => lastRev(w.batches) >= truthEnd, 'watcher catch-up');
    expect(w.errors).toEqual([]);
    expect(w.batches.map((b) => b.revision)).toEqual(truthRevs);
    expect(w.batches.map((b) => b.events.length)).toEqual(truth.map((b) => b.events.length));
  }

  // The restarted member catches up: its own (serializable, local) reads reach the latest data.
  const local = (await openStore(`etcd://${victim.clientUrl.replace('http://', '')}`)) as EtcdStore;
  stores.push(local);
  const latest = await truthStore.range(prefix);
  const localRead = async () => local.client.kv.range({ key: Buffer.from(prefix), range_end: prefixEnd(prefix), serializable: true });
  let r = await localRead();
  const t0 = Date.now();
  while (r.kvs.length < latest.kvs.length && Date.now() - t0 < 20_000) {
    await sleep(50);
    r = await localRead();
  }
  expect(Number(r.header.revision)).toBeGreaterThanOrEqual(latest.revision);
  expect(r.kvs.map((kv) => `${kv.key.toString()}=${kv.value.toString()}`)).toEqual(latest.kvs.map((kv) => `${kv.key}=${kv.value}`));
  console.log(
    `fault: victim ${victim.name} (watch streams ${streams.join('/')}), ${acked.size} writes acked, ${duringOutage} during outage, ${failures.length} retried calls, ${truth.length} revisions watched by ${watchers.length} watchers`,
  );
}, 120_000);
