/**
 * npm run bench:store-watch — where etcd watch latency goes, layer by layer (docs/benchmarks.md, "etcd watch
 * delivery"). One real etcd member; puts paced every BENCH_PACE ms (default 2), BENCH_EVENTS of them (default
 * 200), each carrying its send time; latency = time the layer saw the event - send time. Layers:
 *  - etcd3 Watcher 'data' with 1 watch: etcd + gRPC + protobuf decode for one watch, the floor;
 *  - etcd3 Watcher 'data', 100 watches of one prefix, on 1 gRPC stream and spread over 4;
 *  - Store.watch onBatch (our driver) with watchStreams 1 and the default;
 *  - PrefixSubscription 'event' (what the agent's topology sync listens to), default streams.
 * For the etcd3 runs, the time to attach the watches (etcd3 creates the watches of one stream one at a time).
 * Configurations run alternately, BENCH_REPS times each (default 2). Beside each: the most slow watchers etcd reported while it ran
 * (etcd_debugging_mvcc_slow_watcher_total, sampled every 50 ms) and CPU seconds used by etcd and by this process.
 * With BENCH_PCAP=1 (root, tshark installed) the loopback is captured for the 1-stream and 4-stream etcd3 runs
 * and the wire is timed too: put request frame -> each watch event frame leaving etcd (bench/lib/grpc-pcap.ts).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Etcd3, type Namespace } from 'etcd3';
import { openStore } from '../src/store/index.js';
import { PrefixSubscription } from '../src/store/subscription.js';
import { DEFAULT_WATCH_STREAMS } from '../src/store/etcd.js';
import { startEtcd } from '../test/helpers/etcd.js';
import { wireLatency } from './lib/grpc-pcap.js';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 200);
const PACE = Number(process.env.BENCH_PACE ?? 2);
const WATCHERS = 100;
const PCAP = process.env.BENCH_PCAP === '1';
const REPS = Number(process.env.BENCH_REPS ?? 2);

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};
const fmt = (n: number): string => (Number.isNaN(n) ? '-' : n >= 100 ? n.toFixed(0) : n.toFixed(2));

/** A watch setup under test: starts `watchers` watches on `prefix` that push latencies, resolves once they are live. */
type Setup = (prefix: string, onValue: (sentAt: string) => void) => Promise<{ stop: () => Promise<void>; attachMs?: number }>;

async function etcdMetric(host: string, name: string): Promise<number> {
  const text = await (await fetch(`http://${host}/metrics`)).text();
  const m = text.match(new RegExp(`^${name} (\\S+)`, 'm'));
  return Number(m?.[1] ?? NaN);
}

function etcd3Setup(host: string, watchers: number, streams: number): Setup {
  return async (prefix, onValue) => {
    const client = new Etcd3({ hosts: `http://${host}` });
    await client.get('/bench-watch-warm'); // connection up: time only the watches' attachment
    const t0 = performance.now();
    const nss: Namespace[] = Array.from({ length: streams }, (_, i) => (i === 0 ? client : client.namespace('')));
    const ws = Array.from({ length: watchers }, (_, i) => {
      const w = nss[i % streams]!.watch().prefix(prefix).withPreviousKV().watcher();
      w.on('data', (res) => {
        for (const e of res.events) onValue(e.kv.value.toString());
      });
      return w;
    });
    await Promise.all(ws.map((w) => new Promise((r) => w.once('connected', r))));
    const attachMs = performance.now() - t0;
    const stop = async (): Promise<void> => {
      await Promise.all(ws.map((w) => w.cancel()));
      client.close();
    };
    return { stop, attachMs };
  };
}

function storeSetup(url: string, streams: number | undefined): Setup {
  return async (prefix, onValue) => {
    const s = await openStore(url, streams === undefined ? {} : { watchStreams: streams });
    const rev = await s.currentRevision();
    // From a known revision: nothing is missed while the watches attach.
    const ws = Array.from({ length: WATCHERS }, () =>
      s.watch(prefix, rev + 1, {
        onBatch: (b) => {
          for (const e of b.events) if (e.type === 'put') onValue(e.kv.value);
        },
      }),
    );
    await sleep(300);
    const stop = async (): Promise<void> => {
      await Promise.all(ws.map((w) => w.cancel()));
      await s.close();
    };
    return { stop };
  };
}

function subscriptionSetup(url: string): Setup {
  return async (prefix, onValue) => {
    const s = await openStore(url);
    const subs = Array.from(
      { length: WATCHERS },
      () => new PrefixSubscription(s, { onEvent: (ev) => ev.type === 'put' && onValue(ev.kv.value) }),
    );
    await Promise.all(subs.map((sub) => sub.add(prefix)));
    await sleep(300);
    const stop = async (): Promise<void> => {
      await Promise.all(subs.map((sub) => sub.close()));
      await s.close();
    };
    return { stop };
  };
}

interface Result {
  name: string;
  p50: number;
  p99: number;
  max: number;
  delivered: number;
  expected: number;
  slowMax: number;
  etcdCpu: number;
  ownCpu: number;
  wire?: string;
  attachMs?: number;
}

async function run(name: string, host: string, watchers: number, setup: Setup, pcap: boolean): Promise<Result> {
  const lat: number[] = [];
  const prefix = `/bench-watch/${Date.now()}/${Math.random().toString(36).slice(2, 6)}/`;
  const { stop, attachMs } = await setup(prefix, (v) => lat.push(performance.now() - Number(v)));
  const writer = new Etcd3({ hosts: `http://${host}` });
  await writer.put(`${prefix.slice(0, -1)}-warm`).value('0'); // connection up before timing (a key outside the watched prefix)
  let capture: { proc: ChildProcess; file: string; dir: string } | undefined;
  if (pcap) {
    const dir = await mkdtemp(join(tmpdir(), 'wyvern-bench-pcap-'));
    const file = join(dir, 'watch.pcap');
    const proc = spawn('tshark', ['-i', 'lo', '-f', `tcp port ${host.split(':')[1]}`, '-w', file, '-q'], { stdio: 'ignore' });
    capture = { proc, file, dir };
    await sleep(1500); // tshark needs a moment before it captures
  }
  lat.length = 0;
  let slowMax = 0;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      slowMax = Math.max(slowMax, await etcdMetric(host, 'etcd_debugging_mvcc_slow_watcher_total'));
      await sleep(50);
    }
  })();
  const cpu0 = await etcdMetric(host, 'process_cpu_seconds_total');
  const own0 = process.cpuUsage();
  for (let i = 0; i < EVENTS; i++) {
    await writer.put(`${prefix}${i % 10}`).value(String(performance.now()));
    await sleep(PACE);
  }
  const t0 = Date.now();
  while (lat.length < EVENTS * watchers && Date.now() - t0 < 10_000) await sleep(20);
  const own = process.cpuUsage(own0);
  const etcdCpu = (await etcdMetric(host, 'process_cpu_seconds_total')) - cpu0;
  sampling = false;
  await sampler;
  let wire: string | undefined;
  if (capture) {
    await sleep(300);
    capture.proc.kill('SIGINT');
    await new Promise((r) => capture!.proc.once('exit', r));
    const w = wireLatency(capture.file, Number(host.split(':')[1]));
    wire =
      `wire: put -> event frame p50 ${fmt(w.p50)} p99 ${fmt(w.p99)} ms; ` +
      `${fmt(w.multiShare * 100)}% of events came in catch-up responses of several revisions (max ${w.maxPerResponse})`;
    await rm(capture.dir, { recursive: true, force: true });
  }
  await stop();
  writer.close();
  return {
    name,
    p50: pct(lat, 50),
    p99: pct(lat, 99),
    max: pct(lat, 100),
    delivered: lat.length,
    expected: EVENTS * watchers,
    slowMax,
    etcdCpu,
    ownCpu: (own.user + own.system) / 1e6,
    ...(wire ? { wire } : {}),
    ...(attachMs !== undefined ? { attachMs } : {}),
  };
}

async function main(): Promise<void> {
  const K = DEFAULT_WATCH_STREAMS;
  console.log(`bench:store-watch  events=${EVENTS} pace=${PACE} ms watchers=${WATCHERS} (one etcd member, values ~18 B, prev_kv on)`);
  const etcd = await startEtcd({ members: 1 });
  const host = etcd.endpoints[0]!;
  const configs: [string, number, Setup, boolean][] = [
    ['etcd3 Watcher, 1 watch', 1, etcd3Setup(host, 1, 1), false],
    ['etcd3 Watcher, 1 stream', WATCHERS, etcd3Setup(host, WATCHERS, 1), PCAP],
    [`etcd3 Watcher, ${K} streams`, WATCHERS, etcd3Setup(host, WATCHERS, K), PCAP],
    ['Store.watch, 1 stream', WATCHERS, storeSetup(etcd.url, 1), false],
    [`Store.watch, ${K} streams (default)`, WATCHERS, storeSetup(etcd.url, undefined), false],
    ['PrefixSubscription, default', WATCHERS, subscriptionSetup(etcd.url), false],
  ];
  const results: Result[] = [];
  try {
    for (let rep = 0; rep < REPS; rep++)
      for (const [name, watchers, setup, pcap] of configs) results.push(await run(name, host, watchers, setup, pcap && rep === 0));
  } finally {
    await etcd.stop();
  }
  for (const r of results) {
    console.log(
      `${r.name.padEnd(34)} p50 ${fmt(r.p50).padStart(6)} p99 ${fmt(r.p99).padStart(6)} max ${fmt(r.max).padStart(6)} ms  ` +
        `(${r.delivered}/${r.expected})  slow watchers max ${String(r.slowMax).padStart(3)}  ` +
        `cpu s: etcd ${r.etcdCpu.toFixed(2)} bench ${r.ownCpu.toFixed(2)}` +
        (r.attachMs !== undefined ? `  attach ${fmt(r.attachMs)} ms` : ''),
    );
    if (r.wire) console.log(`${''.padEnd(34)} ${r.wire}`);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
