/**
 * npm run bench:store — store throughput and watch latency, etcd vs level vs memory:
 *  - direct writes/s: sequential puts, and 32 concurrent writers;
 *  - CAS txns/s (create-if-absent, as the model does);
 *  - watch delivery latency p50/p99 with 100 watchers on one prefix;
 *  - writes/s through the northbound API (port creations) on each driver.
 * Sizes: BENCH_WRITES (default 3000), BENCH_EVENTS (default 200). etcd is a real single member.
 *
 * On etcd the watch latency is also measured with every watch on one gRPC stream (watchStreams: 1, what the
 * driver did before), alternately with the default, so the ratio between them comes from the same minute.
 * bench/store-watch.ts takes that latency apart layer by layer.
 *
 * Last, etcd's reads at rest before and after a burst of 30,000 puts, on a member with the sandbox's
 * --backend-batch-limit and on one with etcd's own (bench/lib/read-buffer.ts): etcd 3.4.0–3.4.23 make every read
 * after a burst copy the buffer it grew, unless the batch limit keeps it small.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { openStore } from '../src/store/index.js';
import type { Store } from '../src/store/types.js';
import { concurrentPuts } from './lib/store-rates.js';
import { readsAfterBurst, type ReadCost } from './lib/read-buffer.js';
import { ETCD_BACKEND_BATCH_LIMIT, startEtcd } from '../test/helpers/etcd.js';

const WRITES = Number(process.env.BENCH_WRITES ?? 3000);
const EVENTS = Number(process.env.BENCH_EVENTS ?? 200);
const WATCHERS = 100;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};
const fmt = (n: number): string => (n >= 100 ? n.toFixed(0) : n.toFixed(2));

async function sequentialPuts(s: Store, prefix: string, n: number): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await s.put(`${prefix}seq/${i}`, JSON.stringify({ i, pad: 'x'.repeat(200) }));
  return n / ((performance.now() - t0) / 1000);
}

async function casTxns(s: Store, prefix: string, n: number): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const key = `${prefix}cas/${i}`;
    const r = await s.txn(
      [
        { key, modRevision: 0 },
        { key: `${prefix}cas-name/${i}`, modRevision: 0 },
      ],
      [
        { op: 'put', key, value: 'v' },
        { op: 'put', key: `${prefix}cas-name/${i}`, value: key },
      ],
    );
    if (!r.succeeded) throw new Error('unexpected CAS failure');
  }
  return n / ((performance.now() - t0) / 1000);
}

/** 100 watchers on one prefix; each put carries its send time; latency = receive - send. */
async function watchLatency(s: Store, prefix: string, events: number): Promise<{ p50: number; p99: number; delivered: number }> {
  const lat: number[] = [];
  const p = `${prefix}watch/`;
  const watches = Array.from({ length: WATCHERS }, () =>
    s.watch(p, undefined, {
      onBatch: (b) => {
        const now = performance.now();
        for (const e of b.events) if (e.type === 'put') lat.push(now - Number(e.kv.value));
      },
    }),
  );
  await sleep(500); // let remote watches be created
  for (let i = 0; i < events; i++) {
    await s.put(`${p}${i % 10}`, String(performance.now()));
    await sleep(2); // paced: we measure delivery, not queueing behind a burst
  }
  const t0 = Date.now();
  while (lat.length < events * WATCHERS && Date.now() - t0 < 10_000) await sleep(20);
  await Promise.all(watches.map((w) => w.cancel()));
  return { p50: pct(lat, 50), p99: pct(lat, 99), delivered: lat.length };
}

async function apiPorts(s: Store, n: number): Promise<{ seq: number; par: number } | string> {
  let api: typeof import('../src/api/server.js');
  let client: typeof import('../src/api/client.js');
  try {
    api = await import('../src/api/server.js');
    client = await import('../src/api/client.js');
  } catch (err) {
    return `API not available (${(err as Error).message})`;
  }
  const server = await api.startApiServer({ store: s, listen: 'tcp:127.0.0.1:0' });
  try {
    const c = new client.ApiClient(server.url);
    const tag = Math.random().toString(36).slice(2, 7);
    const nets = [0, 1, 2, 3].map((i) => `bench-${tag}-${i}`);
    for (const [i, net] of nets.entries()) {
      await c.call('POST', '/v1/networks', { name: net });
      await c.call('POST', '/v1/subnets', { name: `${net}-sub`, network: net, cidr: `10.${100 + i}.0.0/16` });
    }
    let t0 = performance.now();
    for (let i = 0; i < n; i++) await c.call('POST', '/v1/ports', { name: `p-${tag}-s${i}`, network: nets[0] });
    const seq = n / ((performance.now() - t0) / 1000);
    // Concurrent creations spread over 4 networks (one network serialises on its CAS guard).
    let next = 0;
    t0 = performance.now();
    await Promise.all(
      Array.from({ length: 8 }, async (_, w) => {
        while (next < n) {
          const i = next++;
          await c.call('POST', '/v1/ports', { name: `p-${tag}-c${i}`, network: nets[w % 4] });
        }
      }),
    );
    const par = n / ((performance.now() - t0) / 1000);
    return { seq, par };
  } finally {
    await server.close();
  }
}

/** etcd: watch latency with all watches on one gRPC stream vs the default spread, alternately (A B A B). */
async function watchStreamsAB(url: string): Promise<void> {
  const runs: { streams: string; p50: number; p99: number; delivered: number }[] = [];
  for (let rep = 0; rep < 2; rep++) {
    for (const streams of [1, undefined]) {
      const s = await openStore(url, streams === undefined ? {} : { watchStreams: streams });
      const w = await watchLatency(s, `/bench-ab/${Date.now()}/`, EVENTS);
      await s.close();
      runs.push({ streams: streams === undefined ? 'default' : String(streams), ...w });
    }
  }
  for (const r of runs)
    console.log(
      `etcd    watch(${WATCHERS}) on ${r.streams.padStart(7)} stream(s): p50 ${fmt(r.p50)} ms p99 ${fmt(r.p99)} ms (${r.delivered}/${EVENTS * WATCHERS})`,
    );
  const med = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
  const one = runs.filter((r) => r.streams === '1');
  const def = runs.filter((r) => r.streams !== '1');
  console.log(
    `etcd    watch p99, 1 stream / default: ${fmt(med(one.map((r) => r.p99)) / med(def.map((r) => r.p99)))}x  ` +
      `(p50 ${fmt(med(one.map((r) => r.p50)) / med(def.map((r) => r.p50)))}x)`,
  );
}

async function benchOne(name: string, s: Store): Promise<void> {
  const prefix = `/bench/${Date.now()}/`;
  const seq = await sequentialPuts(s, prefix, WRITES);
  const par = await concurrentPuts(s, prefix, WRITES, 32);
  const cas = await casTxns(s, prefix, Math.floor(WRITES / 2));
  const w = await watchLatency(s, prefix, EVENTS);
  const a = await apiPorts(s, Math.max(50, Math.floor(WRITES / 15)));
  console.log(
    `${name.padEnd(7)} puts/s seq ${fmt(seq).padStart(7)}  x32 ${fmt(par).padStart(7)}  cas-txn/s ${fmt(cas).padStart(7)}  ` +
      `watch(${WATCHERS}) p50 ${fmt(w.p50)} ms p99 ${fmt(w.p99)} ms (${w.delivered}/${EVENTS * WATCHERS})  ` +
      (typeof a === 'string' ? `api: ${a}` : `api port-create/s seq ${fmt(a.seq)}  x8 ${fmt(a.par)}`),
  );
}

async function main(): Promise<void> {
  console.log(
    `bench:store  writes=${WRITES} events=${EVENTS} watchers=${WATCHERS} (value ~220 B; etcd --backend-batch-limit ${ETCD_BACKEND_BATCH_LIMIT}, as every sandbox member)`,
  );
  const mem = await openStore('memory:');
  await benchOne('memory', mem);
  await mem.close();

  const dir = await mkdtemp(join(tmpdir(), 'wyvern-bench-level-'));
  const lvl = await openStore(`level:${dir}`);
  await benchOne('level', lvl);
  await lvl.close();
  await rm(dir, { recursive: true, force: true });

  const etcd = await startEtcd({ members: 1 });
  try {
    const e = await openStore(etcd.url);
    await benchOne('etcd', e);
    await e.close();
    await watchStreamsAB(etcd.url);
  } finally {
    await etcd.stop();
  }
  await readBufferAB();
}

/** Reads at rest after a write burst, with the sandbox's batch limit and with etcd's own, one after the other. */
async function readBufferAB(): Promise<void> {
  console.log('etcd reads at rest, before and after a burst of 30,000 puts (2,000 reads, 8 at a time):');
  const show = (c: ReadCost): string => `${fmt(c.cpuUs)} µs of etcd CPU, ${fmt(c.allocKb)} KB allocated per read`;
  for (const [label, limit] of [
    [`--backend-batch-limit ${ETCD_BACKEND_BATCH_LIMIT}`, ETCD_BACKEND_BATCH_LIMIT],
    ["etcd's default (10,000)", 0],
  ] as const) {
    const r = await readsAfterBurst(limit);
    console.log(
      `  ${label.padEnd(26)} before: ${show(r.before)}; after: ${show(r.after)} ` +
        `(after/before: CPU ×${(r.after.cpuUs / r.before.cpuUs).toFixed(2)}, allocated ×${(r.after.allocKb / r.before.allocKb).toFixed(2)})`,
    );
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
