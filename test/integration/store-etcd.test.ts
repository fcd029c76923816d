import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore, type WatchBatch } from '../../src/store/index.js';
import type { EtcdStore } from '../../src/store/etcd.js';
import { storeSuite } from '../unit/store-suite.js';
import { ETCD_BACKEND_BATCH_LIMIT, startEtcd, type EtcdCluster } from '../helpers/etcd.js';
import { freePort } from '../../src/util/free-port.js';
import { createServer, type AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { copiesWriteBufferPerTxn } from '../../src/store/etcd-server-version.js';

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

  it("tells the member's etcd release, and warns a second after opening when it is one with slow write transactions", async () => {
    // The release of the etcd binary the test helper runs, as the binary itself says it.
    const installed = /etcd Version: (\S+)/.exec(execFileSync('etcd', ['--version'], { encoding: 'utf8' }))![1]!;
    const lines: { msg: string; etcdVersion?: string; level: number }[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const l of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(l) as (typeof lines)[number]);
        done();
      },
    });
    const s = (await openStore(url, { logger: pino({ level: 'warn' }, sink) })) as EtcdStore;
    try {
      expect(await s.serverVersion()).toBe(installed);
      const slow = copiesWriteBufferPerTxn(installed);
      await new Promise((r) => setTimeout(r, 1_500));
      const warned = lines.filter((l) => l.etcdVersion !== undefined);
      if (slow) {
        expect(warned).toHaveLength(1);
        expect(warned[0]).toMatchObject({ etcdVersion: installed, level: 40 });
        expect(warned[0]!.msg).toContain(`etcd ${installed} (${url})`);
      } else {
        expect(warned).toEqual([]);
      }
      expect(await s.warnIfSlowRelease()).toBe(slow ? warned[0]!.msg : undefined);
    } finally {
      await s.close();
    }
    // A store closed before the check, or one whose logger would not say it, asks nothing and warns of nothing.
    lines.length = 0;
    const statusCalls = async (): Promise<number> => {
      const text = await (await fetch(`http://${url.replace(/^etcd:\/\//, '')}/metrics`)).text();
      return Number(/^grpc_server_started_total\{[^}]*grpc_method="Status"[^}]*\} (\d+)/m.exec(text)?.[1] ?? 0);
    };
    const before = await statusCalls();
    const closed = (await openStore(url, { logger: pino({ level: 'warn' }, sink) })) as EtcdStore;
    await closed.close();
    expect(await closed.warnIfSlowRelease()).toBeUndefined();
    const quiet = await openStore(url, { logger: pino({ level: 'error' }, sink) });
    await new Promise((r) => setTimeout(r, 1_200));
    await quiet.close();
    expect(lines).toEqual([]);
    expect(await statusCalls()).toBe(before);
  }, 30_000);
});

/** Watch streams etcd has opened so far (go-grpc-prometheus counts every Watch call it starts). */
async function watchStreamsStarted(url: string): Promise<number> {
  const host = url.replace(/^etcd:\/\//, '').split(',')[0];
  const text = await (await fetch(`http://${host}/metrics`)).text();
  const m = text.match(/^grpc_server_started_total\{[^}]*grpc_method="Watch"[^}]*\} (\d+)/m);
  if (!m) throw new Error('etcd exports no grpc_server_started_total for Watch');
  return Number(m[1]);
}

describe('etcd watch streams', () => {
  it('watches are spread over watchStreams gRPC streams; each gets every revision once, in order; cancel stops one', async () => {
    const url = etcd!.url;
    const s = await openStore(url, { watchStreams: 3 });
    try {
      const p = `/t/streams/${Date.now()}/`;
      const started0 = await watchStreamsStarted(url);
      const from = (await s.currentRevision()) + 1;
      const seen: number[][] = Array.from({ length: 10 }, () => []);
      const watches = seen.map((revs) => s.watch(p, from, { onBatch: (b: WatchBatch) => revs.push(b.revision) }));
      const written: number[] = [];
      for (let i = 0; i < 20; i++) written.push(await s.put(`${p}${i % 4}`, `v${i}`));
      await expect.poll(() => seen.every((r) => r.length >= 20), { timeout: 10_000 }).toBe(true);
      for (const revs of seen) expect(revs).toEqual(written);
      // Three streams, not one and not ten (each watch of a round-robin over the least loaded).
      expect((await watchStreamsStarted(url)) - started0).toBe(3);

      await Promise.all(watches.slice(0, 5).map((w) => w.cancel()));
      const lateRevs: number[] = [];
      const late = s.watch(p, written[19]! + 1, { onBatch: (b) => lateRevs.push(b.revision) });
      const last = await s.put(`${p}x`, 'last');
      await expect.poll(() => seen.slice(5).every((r) => r.at(-1) === last) && lateRevs.at(-1) === last, { timeout: 10_000 }).toBe(true);
      for (const revs of seen.slice(0, 5)) expect(revs).toEqual(written); // cancelled: nothing after
      expect(lateRevs).toEqual([last]);
      // The new watch joined a stream that still had watches: no stream was opened for it.
      expect((await watchStreamsStarted(url)) - started0).toBe(3);
      await Promise.all([...watches.slice(5), late].map((w) => w.cancel()));
    } finally {
      await s.close();
    }
  }, 30_000);

  it('watchStreams must be a positive integer', async () => {
    await expect(openStore(etcd!.url, { watchStreams: 0 })).rejects.toMatchObject({ code: 'INVALID' });
    await expect(openStore(etcd!.url, { watchStreams: 1.5 })).rejects.toMatchObject({ code: 'INVALID' });
  });
});

describe('etcd sandbox', () => {
  it('members commit every ETCD_BACKEND_BATCH_LIMIT writes (etcd 3.4 copies what is not committed for every transaction); 0 leaves etcd its own', async () => {
    const argsOf = (pid: number): string[] => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    const limitOf = (args: string[]): string | undefined => {
      const i = args.indexOf('--backend-batch-limit');
      return i < 0 ? undefined : args[i + 1];
    };
    const tuned = await startEtcd({ members: 1 });
    const plain = await startEtcd({ members: 1, backendBatchLimit: 0 });
    try {
      expect(limitOf(argsOf(tuned.members[0]!.pid))).toBe(String(ETCD_BACKEND_BATCH_LIMIT));
      expect(limitOf(argsOf(plain.members[0]!.pid))).toBeUndefined();
      // etcd took the setting: it is serving.
      const store = await openStore(tuned.url);
      await store.put('/sandbox/batch', 'v');
      expect((await store.get('/sandbox/batch'))?.value).toBe('v');
      await store.close();
    } finally {
      await Promise.all([tuned.stop(), plain.stop()]);
    }
  }, 60_000);

  it('a member whose port another process took before etcd bound it is started on other ports', async () => {
    const squatter = createServer();
    await new Promise<void>((r) => squatter.listen(0, '127.0.0.1', r));
    const taken = (squatter.address() as AddressInfo).port;
    let picks = 0;
    const cluster = await startEtcd({
      pickPort: () => (picks++ === 0 ? Promise.resolve(taken) : freePort()),
    });
    try {
      expect(picks).toBe(4);
      expect(cluster.endpoints[0]).not.toBe(`127.0.0.1:${taken}`);
      const store = await openStore(cluster.url);
      await store.put('/sandbox/k', 'v');
      expect((await store.get('/sandbox/k'))?.value).toBe('v');
      await store.close();
    } finally {
      await cluster.stop();
      squatter.close();
    }
  }, 60_000);

  it('ports it finds free lie below the ephemeral range, where outgoing connections never take them', async () => {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    for (let i = 0; i < 20; i++) expect(await freePort()).toBeLessThan(low);
  });
});
