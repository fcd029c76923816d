/**
 * npm run bench:writes — northbound writes at scale (issue 17), on one real etcd member:
 *  - the reference: etcd's own concurrent put rate in this run (32 writers on one connection, ~220 B values, as
 *    bench:store measures it), after an untimed first pass (referencePutRate);
 *  - the API: BENCH_PORTS (default 1000) concurrent POST /v1/ports spread over three API servers, each with its own
 *    etcd connection (three agents' APIs), into one network with a /22; created, refused, duration, ports/s;
 *  - the ratio API port-creates/s ÷ etcd puts/s (target ≥ 0.5), and what the creations cost the store: transactions
 *    per port (lost races included) and reads per port.
 * The servers run as processes (`wyvern api`, as agents' APIs would be): three with one HTTP connection per request
 * (as the CLI makes them), three and one with a keep-alive client (BENCH_SOCKETS, default 64, connections per server,
 * as a program driving the API would hold); then three inside this process, where the store's transactions can be
 * counted. The load comes from this process, and for three more rows (three API processes, and one) from wrk (a C load
 * generator, bench/lib/wrk-ports.lua; scripts/setup installs it), which leaves the cores to the servers: a Node client
 * uses a quarter to a third of what the rush uses. Each row also gives the CPU seconds each process used during the
 * rush (the machine has 2 cores: etcd, the API processes and the client share them), and what etcd handled per
 * created port (its own /metrics: Txn and Range RPCs, bytes in and out). Before each timed rush of the "fresh" rows,
 * BENCH_WARM (default 300) creations per server in another network warm new servers up (not timed). 300 is not V8's
 * steady state: a `wyvern api` process spends two to three times the CPU per creation in its first thousands that it
 * spends once TurboFan has compiled its request path, ten to twenty thousand in. The "steady" rows therefore run the
 * same loads again through three processes warmed up until their CPU per creation stops falling (warmUntilSteady;
 * BENCH_STEADY_MAX rounds at most), against the reference measured again after that warm-up (on the store as the
 * rushes find it; each ratio against the higher of the two). BENCH_ROWS (default fresh,steady,inproc) picks the
 * groups of rows. BENCH_WRITES (default 3000)
 * puts for the reference. BENCH_CPU_PROF=<dir> writes a V8 CPU profile of every API process there;
 * BENCH_API_NODE_FLAGS adds flags to the API processes' node command line (an A/B of V8 settings).
 * The steady group ends with two sustained rows (three processes and one, wrk keep-alive): BENCH_SUSTAINED (default
 * 6000) creations into a /16, throughput held past what a 1,000-creation rush pays once.
 * BENCH_ETCD_BATCH_LIMIT sets the member's --backend-batch-limit (default the sandbox's, ETCD_BACKEND_BATCH_LIMIT;
 * 0 leaves etcd's own 10,000: an A/B of the setting).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { startApiServer } from '../src/api/server.js';
import { ApiClient } from '../src/api/client.js';
import { openStore } from '../src/store/index.js';
import type { Store } from '../src/store/types.js';
import { concurrentPuts } from './lib/store-rates.js';
import { cpuMs } from './lib/sg-side.js';
import { ETCD_BACKEND_BATCH_LIMIT, startEtcd } from '../test/helpers/etcd.js';

const PORTS = Number(process.env.BENCH_PORTS ?? 1000);
const WRITES = Number(process.env.BENCH_WRITES ?? 3000);
const SOCKETS = Number(process.env.BENCH_SOCKETS ?? 64);
const WARM = Number(process.env.BENCH_WARM ?? 300);
const PROF = process.env.BENCH_CPU_PROF;
/** Which groups of rows run (BENCH_ROWS, comma-separated): fresh processes, steady ones, servers in this process. */
const ROWS = new Set((process.env.BENCH_ROWS ?? 'fresh,steady,inproc').split(',').map((r) => r.trim()));
/** V8/Node flags for the API processes (an experiment's A/B: BENCH_API_NODE_FLAGS='--interrupt-budget=16384'). */
const API_NODE_FLAGS = (process.env.BENCH_API_NODE_FLAGS ?? '').split(' ').filter(Boolean);
/** Creations in each of the steady group's two sustained rows, into a /16 (BENCH_SUSTAINED; 0 leaves them out). */
const SUSTAINED = Number(process.env.BENCH_SUSTAINED ?? 6000);
/** The member's --backend-batch-limit (BENCH_ETCD_BATCH_LIMIT; 0 = etcd's default). */
const ETCD_BATCH_LIMIT = Number(process.env.BENCH_ETCD_BATCH_LIMIT ?? ETCD_BACKEND_BATCH_LIMIT);
const fmt = (n: number): string => (n >= 100 ? n.toFixed(0) : n.toFixed(2));

/** Counts a store's transactions (committed and lost) and multi-reads. */
function counted(s: Store): { txns: number; lost: number; reads: number } {
  const c = { txns: 0, lost: 0, reads: 0 };
  const txn = s.txn.bind(s);
  const read = s.read.bind(s);
  s.txn = async (...a) => {
    const r = await txn(...a);
    c.txns++;
    if (!r.succeeded) c.lost++;
    return r;
  };
  s.read = async (...a) => {
    c.reads++;
    return read(...a);
  };
  return c;
}

/** `wyvern api` as its own process (the built CLI); resolves with its URL, printed once it listens. */
async function apiProcess(storeUrl: string): Promise<{ url: string; proc: ChildProcess }> {
  const main = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
  const prof = PROF ? ['--cpu-prof', '--cpu-prof-dir', PROF] : [];
  const proc = spawn(process.execPath, [...prof, ...API_NODE_FLAGS, main, 'api', '--store', storeUrl, '--listen', 'tcp:127.0.0.1:0'], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, WYVERN_LOG_LEVEL: 'warn' },
  });
  let out = '';
  for await (const chunk of proc.stdout!) {
    out += String(chunk);
    const m = /(https?:\/\/\S+)/.exec(out);
    if (m) return { url: m[1]!, proc };
  }
  throw new Error(`wyvern api exited before listening: ${out}`);
}

/** Stops `wyvern api` processes (SIGTERM, so that --cpu-prof writes) and waits for them. */
async function stopApis(apis: { proc: ChildProcess }[]): Promise<void> {
  for (const a of apis) a.proc.kill('SIGTERM');
  await Promise.all(apis.map((a) => (a.proc.exitCode === null ? once(a.proc, 'exit') : undefined)));
}

type Post = (body: unknown) => Promise<{ status: number; body: unknown }>;

/** POST /v1/ports over at most `sockets` kept-alive connections (the requests beyond wait in the client for one). */
function keepAlivePoster(url: string, sockets: number): { post: Post; close(): void } {
  const u = new URL(url);
  const agent = new Agent({ keepAlive: true, maxSockets: sockets });
  const post: Post = (body) =>
    new Promise((resolve, reject) => {
      const text = JSON.stringify(body);
      const req = request(
        {
          host: u.hostname,
          port: Number(u.port),
          path: '/v1/ports',
          method: 'POST',
          agent,
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), accept: 'application/json' },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8') || 'null') }));
        },
      );
      req.on('error', reject);
      req.end(text);
    });
  return { post, close: () => agent.destroy() };
}

/** bench/lib/wrk-ports.lua, from bench/ or the built dist/bench/ (scripts/bench runs the latter). */
const WRK_SCRIPT = ['./lib/wrk-ports.lua', '../../bench/lib/wrk-ports.lua']
  .map((rel) => fileURLToPath(new URL(rel, import.meta.url)))
  .find((path) => existsSync(path))!;

/**
 * The timed load of a rush from wrk (a C load generator, bench/lib/wrk-ports.lua): one wrk process per server, each
 * sending its share of the PORTS creations over `connections` keep-alive connections ('one each': a connection per
 * creation, all opened at once, as PORTS concurrent clients would). Resolves when every share has answered, with the
 * statuses and the CPU the wrk processes used; wrk (which runs for its -d whatever happens) is stopped then.
 */
async function wrkLoad(
  urls: string[],
  net: string,
  connections: number | 'one each',
  total = PORTS,
): Promise<{ statuses: { status: number; message: string }[]; cpuMs: number }> {
  const runs = urls.map(async (url, i) => {
    const share = Math.ceil((total - i) / urls.length);
    const c = connections === 'one each' ? share : Math.min(connections, share);
    const args = ['-t1', `-c${c}`, '-d60s', '--timeout', '60s', '-s', WRK_SCRIPT, url, '--', net, `${net}-s${i}`, String(share)];
    const proc = spawn('wrk', args, { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      let out = '';
      const answered = await new Promise<RegExpExecArray>((resolve, reject) => {
        proc.stdout!.on('data', (d: Buffer) => {
          out += String(d);
          const m = /wrk-ports: answered (\d+) created (\d+)/.exec(out);
          if (m) resolve(m);
        });
        proc.on('error', (err) => reject(new Error(`cannot run wrk (scripts/setup installs it): ${err.message}`)));
        proc.on('exit', (code) => reject(new Error(`wrk against ${url} ended (exit ${code}) before all ${share} answered:\n${out}`)));
      });
      const cpu = await cpuMs([proc.pid!]);
      const statuses = Array.from({ length: Number(answered[2]) }, () => ({ status: 201, message: '' }));
      for (const m of out.matchAll(/wrk-ports: status (\d+) x (\d+)/g))
        for (let k = 0; k < Number(m[2]); k++) statuses.push({ status: Number(m[1]), message: '(wrk: body not kept)' });
      return { statuses, cpuMs: cpu };
    } finally {
      proc.kill('SIGINT');
    }
  });
  const rs = await Promise.all(runs);
  return { statuses: rs.flatMap((r) => r.statuses), cpuMs: rs.reduce((a, r) => a + r.cpuMs, 0) };
}

/** etcd's own counters (its /metrics): RPCs handled by method, and bytes its clients sent and received. */
async function etcdCounters(etcdUrl: string): Promise<{ txn: number; range: number; in: number; out: number }> {
  const text = await (await fetch(`${etcdUrl.replace(/^etcd:/, 'http:')}/metrics`)).text();
  const sum = (re: RegExp): number => [...text.matchAll(re)].reduce((a, m) => a + Number(m[1]), 0);
  const rpc = (method: string): number => sum(new RegExp(`^grpc_server_handled_total\\{[^}]*grpc_method="${method}"[^}]*\\} (\\S+)`, 'gm'));
  return {
    txn: rpc('Txn'),
    range: rpc('Range'),
    in: sum(/^etcd_network_client_grpc_received_bytes_total (\S+)/gm),
    out: sum(/^etcd_network_client_grpc_sent_bytes_total (\S+)/gm),
  };
}

interface RushResult {
  rate: number;
  /** Creations asked for, and made. */
  asked: number;
  created: number;
  secs: number;
  why: Map<string, number>;
  /** CPU ms per process during the rush, by label. */
  cpu: [string, number][];
  /** What etcd handled during the rush (its counters' differences). */
  etcd: { txn: number; range: number; in: number; out: number };
}

/**
 * N concurrent POST /v1/ports spread over the servers, into a new network with a /22; ports/s, what failed and the
 * CPU each process used meanwhile. keepAlive: connections per server kept open (else one per request, as the CLI).
 */
async function rush(
  urls: string[],
  net: string,
  cidr: string,
  o: {
    keepAlive?: number;
    wrk?: number | 'one each';
    pids: [string, number][];
    started?: () => void;
    etcdUrl: string;
    /** Creations per server before the timed rush (default BENCH_WARM; 0 for servers warmed already: warmUntilSteady). */
    warm?: number;
    /** Creations in the rush (default BENCH_PORTS). */
    count?: number;
  },
): Promise<RushResult> {
  const clients = urls.map((u) => new ApiClient(u));
  const pools = o.keepAlive ? urls.map((u) => keepAlivePoster(u, o.keepAlive!)) : [];
  const posts: Post[] = o.keepAlive ? pools.map((p) => p.post) : clients.map((c) => (b: unknown) => c.raw('POST', '/v1/ports', b));
  // Warm-up, not timed: WARM creations per server in a network of their own, so that the rush does not time V8's
  // first compilation of the request path (the default 300 leaves the servers partly warm: see the header).
  const warm = o.warm ?? WARM;
  if (warm > 0) {
    await clients[0]!.call('POST', '/v1/networks', { name: `${net}-warm` });
    await clients[0]!.call('POST', '/v1/subnets', { name: `${net}-warm-sub`, network: `${net}-warm`, cidr: '10.250.0.0/16' });
    await Promise.all(
      Array.from({ length: warm * posts.length }, (_, i) => posts[i % posts.length]!({ name: `${net}-warm-${i}`, network: `${net}-warm` })),
    );
  }
  await clients[0]!.call('POST', '/v1/networks', { name: net });
  await clients[0]!.call('POST', '/v1/subnets', { name: `${net}-sub`, network: net, cidr });
  const etcd0 = await etcdCounters(o.etcdUrl);
  const cpu0 = await Promise.all(o.pids.map(([, pid]) => cpuMs([pid])));
  o.started?.();
  const self0 = process.cpuUsage();
  const t0 = performance.now();
  const count = o.count ?? PORTS;
  const load = o.wrk
    ? await wrkLoad(urls, net, o.wrk, count)
    : {
        statuses: (
          await Promise.all(Array.from({ length: count }, (_, i) => posts[i % posts.length]!({ name: `${net}-${i}`, network: net })))
        ).map((r) => ({ status: r.status, message: (r.body as { error?: { message?: string } })?.error?.message ?? '' })),
        cpuMs: 0,
      };
  const secs = (performance.now() - t0) / 1000;
  const self = process.cpuUsage(self0);
  const cpu1 = await Promise.all(o.pids.map(([, pid]) => cpuMs([pid])));
  const etcd1 = await etcdCounters(o.etcdUrl);
  const etcd = {
    txn: etcd1.txn - etcd0.txn,
    range: etcd1.range - etcd0.range,
    in: etcd1.in - etcd0.in,
    out: etcd1.out - etcd0.out,
  };
  for (const p of pools) p.close();
  const cpu: [string, number][] = [
    ...o.pids.map(([label], i): [string, number] => [label, cpu1[i]! - cpu0[i]!]),
    ...(o.wrk ? [['wrk (client)', load.cpuMs] as [string, number]] : []),
    ['bench', (self.user + self.system) / 1000],
  ];
  const created = load.statuses.filter((r) => r.status === 201).length;
  const why = new Map<string, number>();
  for (const r of load.statuses.filter((x) => x.status !== 201)) {
    const m = `${r.status} ${r.message}`.slice(0, 80);
    why.set(m, (why.get(m) ?? 0) + 1);
  }
  return { rate: created / secs, asked: load.statuses.length, created, secs, why, cpu, etcd };
}

function report(what: string, r: RushResult, putRate: number): void {
  console.log(
    `${what.padEnd(40)}${fmt(r.rate).padStart(7)} creates/s (${r.created}/${r.asked} in ${r.secs.toFixed(2)} s)  ratio ${(r.rate / putRate).toFixed(3)}`,
  );
  for (const [m, n] of r.why) console.log(`  not created: ${n} × ${m}`);
  const total = r.cpu.reduce((a, [, ms]) => a + ms, 0);
  const per = (n: number): string => (n / Math.max(1, r.created)).toFixed(n / Math.max(1, r.created) >= 100 ? 0 : 3);
  console.log(
    `  etcd per created port: ${per(r.etcd.txn)} Txn RPCs, ${per(r.etcd.range)} Range RPCs, ${per(r.etcd.in)} B received, ${per(r.etcd.out)} B sent (watch events included: every API server watching the network's claims gets each one)`,
  );
  console.log(
    `  CPU s (of ${(2 * r.secs).toFixed(2)} on 2 cores): ${r.cpu.map(([l, ms]) => `${l} ${(ms / 1000).toFixed(2)}`).join(', ')}; total ${(total / 1000).toFixed(2)}`,
  );
}

/** n `wyvern api` processes; one rush through them; then they stop (SIGTERM, so that --cpu-prof writes). */
async function rushProcesses(
  etcd: { url: string; members: { pid: number }[] },
  n: number,
  what: string,
  net: string,
  cidr: string,
  putRate: number,
  load: { keepAlive?: number; wrk?: number | 'one each' } = {},
): Promise<void> {
  const apis = await Promise.all(Array.from({ length: n }, () => apiProcess(etcd.url)));
  try {
    const pids: [string, number][] = [
      ['etcd', etcd.members[0]!.pid],
      ...apis.map((a, i): [string, number] => [`api${i + 1}`, a.proc.pid!]),
    ];
    report(
      what,
      await rush(
        apis.map((a) => a.url),
        net,
        cidr,
        { pids, etcdUrl: etcd.url, ...load },
      ),
      putRate,
    );
  } finally {
    await stopApis(apis);
  }
}

/**
 * The reference: etcd's concurrent put rate (32 writers on one connection), as `npm run bench:store` measures it. A
 * first pass is not timed: in it this process's client code is still being compiled (about three times the client
 * CPU per put of the passes after) and etcd has just started, and it read half the rate of the passes after it
 * (5,700–7,600 against 10,000–16,000 puts/s, 2026-12-06). Before the eighteenth session this bench took that cold
 * pass as its reference, which doubled every ratio it printed. The API side is warmed up too (BENCH_WARM). The
 * reference is the median of three timed passes; the cold pass and the three are printed.
 */
async function referencePutRate(store: Store, when: string): Promise<number> {
  const prefix = `/bench/${Date.now()}/`;
  const cold = await concurrentPuts(store, `${prefix}cold/`, WRITES, 32);
  const passes: number[] = [];
  for (let i = 0; i < 3; i++) passes.push(await concurrentPuts(store, `${prefix}${i}/`, WRITES, 32));
  const rate = [...passes].sort((a, b) => a - b)[1]!;
  console.log(
    `${`etcd puts/s x32 (reference, ${when})`.padEnd(40)}${fmt(rate).padStart(7)}  (median of ${passes.map(fmt).join(' / ')}; ` +
      `a first, untimed pass read ${fmt(cold)})`,
  );
  return rate;
}

/** Creations per server in one round of warmUntilSteady. */
const STEADY_ROUND = 1000;
/** The most rounds warmUntilSteady runs (BENCH_STEADY_MAX). */
const STEADY_MAX = Number(process.env.BENCH_STEADY_MAX ?? 16);
/** The fewest rounds warmUntilSteady runs, and how many in a row must not beat the best before them to stop. */
const STEADY_MIN = 6;
const STEADY_WINDOW = 3;

/**
 * Warms API processes up until V8 has compiled their request path: rounds of STEADY_ROUND creations per server
 * (wrk, keep-alive x64, each round in a network of its own) until the processes' CPU per creation stops falling (no
 * round in the last STEADY_WINDOW beat the best before them by 5 %), at least STEADY_MIN rounds, at most STEADY_MAX.
 * Not fewer: the CPU per creation still fell by a fifth between the fourth round and the tenth, and once a process
 * has served RELAX_AFTER_WRITES writes (src/util/tier-up.ts) TurboFan's compilations make the next round or two
 * dearer than the one before (twenty-third session; a window of two and a floor of three stopped there). A fresh `wyvern
 * api` spends two to three times the CPU per creation in its first thousands that it spends once TurboFan has
 * optimised what it runs (docs/northbound-writes.md, nineteenth session): a server that has been running is what
 * users' requests meet, and throughput is a steady-state figure. Returns the CPU per creation of each round (µs).
 */
async function warmUntilSteady(urls: string[], pids: number[], tag: string): Promise<number[]> {
  const client = new ApiClient(urls[0]!);
  const perRound: number[] = [];
  let best = Infinity;
  let since = 0;
  for (let r = 0; r < STEADY_MAX && (r < STEADY_MIN || since < STEADY_WINDOW); r++) {
    const net = `${tag}-${r}`;
    await client.call('POST', '/v1/networks', { name: net });
    await client.call('POST', '/v1/subnets', { name: `${net}-sub`, network: net, cidr: `10.${100 + r}.0.0/16` });
    const before = await cpuMs(pids);
    const load = await wrkLoad(urls, net, SOCKETS, STEADY_ROUND * urls.length);
    const created = load.statuses.filter((x) => x.status === 201).length;
    if (created < STEADY_ROUND * urls.length) throw new Error(`warm-up round ${r}: ${created} of ${STEADY_ROUND * urls.length} created`);
    const us = (((await cpuMs(pids)) - before) * 1000) / created;
    perRound.push(us);
    if (us < best * 0.95) since = 0;
    else since++;
    best = Math.min(best, us);
  }
  return perRound;
}

/**
 * The rows again through three `wyvern api` processes warmed up until steady (warmUntilSteady), started once for all
 * of them (the one-process rows use the first). Their reference is etcd's put rate measured again after the warm-up,
 * on the store as the rushes find it; each ratio is against the higher of it and the reference at the start.
 */
async function steadyRows(etcd: { url: string; members: { pid: number }[] }, store: Store, startRate: number): Promise<void> {
  const apis = await Promise.all([0, 1, 2].map(() => apiProcess(etcd.url)));
  try {
    const urls = apis.map((a) => a.url);
    const perRound = await warmUntilSteady(
      urls,
      apis.map((a) => a.proc.pid!),
      'bw-steady-warm',
    );
    console.log(
      `\nsteady state: 3 API processes after ${perRound.length} warm-up rounds of ${STEADY_ROUND} creations each; ` +
        `their CPU per creation, round by round: ${perRound.map((us) => us.toFixed(0)).join(', ')} µs`,
    );
    const putRate = Math.max(startRate, await referencePutRate(store, 'after the warm-up'));
    const pids = (n: number): [string, number][] => [
      ['etcd', etcd.members[0]!.pid],
      ...apis.slice(0, n).map((a, i): [string, number] => [`api${i + 1}`, a.proc.pid!]),
    ];
    const row = async (
      what: string,
      n: number,
      net: string,
      cidr: string,
      load: { keepAlive?: number; wrk?: number | 'one each'; count?: number },
    ) => report(what, await rush(urls.slice(0, n), net, cidr, { pids: pids(n), etcdUrl: etcd.url, warm: 0, ...load }), putRate);
    await row('steady: 3 procs, wrk, 1 conn/request', 3, 'bw-st-wrk1', '10.211.0.0/22', { wrk: 'one each' });
    await row(`steady: 3 procs, wrk keep-alive x${SOCKETS}`, 3, 'bw-st-wrk3', '10.212.0.0/22', { wrk: SOCKETS });
    await row(`steady: 1 proc, wrk keep-alive x${SOCKETS}`, 1, 'bw-st-wrk1p', '10.213.0.0/22', { wrk: SOCKETS });
    await row('steady: 3 procs, 1 conn/request', 3, 'bw-st-procs', '10.214.0.0/22', {});
    await row(`steady: 3 procs, keep-alive x${SOCKETS}`, 3, 'bw-st-ka3', '10.215.0.0/22', { keepAlive: SOCKETS });
    await row(`steady: 1 proc, keep-alive x${SOCKETS}`, 1, 'bw-st-ka1', '10.216.0.0/22', { keepAlive: SOCKETS });
    if (SUSTAINED > 0) {
      // Throughput held over a longer rush: what a 1,000-creation rush pays once (its network's first read and claims
      // watch, the client's connections, TurboFan still compiling) is spread over SUSTAINED creations.
      await row(`sustained: 3 procs, wrk keep-alive x${SOCKETS}`, 3, 'bw-su-wrk3', '10.217.0.0/16', { wrk: SOCKETS, count: SUSTAINED });
      await row(`sustained: 1 proc, wrk keep-alive x${SOCKETS}`, 1, 'bw-su-wrk1p', '10.218.0.0/16', { wrk: SOCKETS, count: SUSTAINED });
    }
  } finally {
    await stopApis(apis);
  }
}

/** Three API servers inside this process, where the store's transactions, lost races and reads can be counted. */
async function inProcessRow(stores: Store[], etcd: { url: string; members: { pid: number }[] }, putRate: number): Promise<void> {
  const counts = stores.map(counted);
  const servers = await Promise.all(stores.map((store) => startApiServer({ store, listen: 'tcp:127.0.0.1:0' })));
  try {
    const r = await rush(
      servers.map((s) => s.url),
      'bw-inproc',
      '10.202.0.0/22',
      {
        pids: [['etcd', etcd.members[0]!.pid]],
        etcdUrl: etcd.url,
        started: () => counts.forEach((c) => Object.assign(c, { txns: 0, lost: 0, reads: 0 })),
      },
    );
    report('3 API servers in this process', r, putRate);
    const txns = counts.reduce((a, c) => a + c.txns, 0);
    const lost = counts.reduce((a, c) => a + c.lost, 0);
    const reads = counts.reduce((a, c) => a + c.reads, 0);
    console.log(
      `  store per created port: ${fmt(txns / Math.max(1, r.created))} txns (${lost} lost races), ${fmt(reads / Math.max(1, r.created))} reads`,
    );
  } finally {
    await Promise.all(servers.map((s) => s.close()));
  }
}

async function main(): Promise<void> {
  const etcd = await startEtcd({ members: 1, backendBatchLimit: ETCD_BATCH_LIMIT });
  const stores = await Promise.all([0, 1, 2].map(() => openStore(etcd.url)));
  try {
    const batching = ETCD_BATCH_LIMIT > 0 ? `--backend-batch-limit ${ETCD_BATCH_LIMIT}` : "etcd's default batch limit";
    console.log(`bench:writes  etcd 1 member (${batching}); ${PORTS} concurrent POST /v1/ports over 3 API servers into one network (/22)`);
    const putRate = await referencePutRate(stores[0]!, 'same run');
    if (ROWS.has('fresh')) {
      // Fresh API processes (BENCH_WARM creations each before the rush), as agents' APIs.
      await rushProcesses(etcd, 3, '3 API processes, 1 conn/request', 'bw-procs', '10.201.0.0/22', putRate);
      await rushProcesses(etcd, 3, `3 API processes, keep-alive x${SOCKETS}`, 'bw-ka3', '10.203.0.0/22', putRate, { keepAlive: SOCKETS });
      await rushProcesses(etcd, 1, `1 API process, keep-alive x${SOCKETS}`, 'bw-ka1', '10.204.0.0/22', putRate, { keepAlive: SOCKETS });
      // The same servers with the load from wrk (C), which leaves the cores to them: what they do without a Node client
      // competing on this 2-core machine.
      await rushProcesses(etcd, 3, '3 API processes, wrk, 1 conn/request', 'bw-wrk1', '10.205.0.0/22', putRate, { wrk: 'one each' });
      await rushProcesses(etcd, 3, `3 API processes, wrk keep-alive x${SOCKETS}`, 'bw-wrk3', '10.206.0.0/22', putRate, { wrk: SOCKETS });
      await rushProcesses(etcd, 1, `1 API process, wrk keep-alive x${SOCKETS}`, 'bw-wrk1p', '10.207.0.0/22', putRate, { wrk: SOCKETS });
    }
    // The same loads through processes that have run long enough for V8 to have compiled them.
    if (ROWS.has('steady')) await steadyRows(etcd, stores[0]!, putRate);
    console.log('');
    // The same inside this process, counting what the creations cost the store.
    if (ROWS.has('inproc')) await inProcessRow(stores, etcd, putRate);
    console.log('target: ratio >= 0.5');
  } finally {
    await Promise.all(stores.map((s) => s.close()));
    await etcd.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
