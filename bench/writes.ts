/**
 * npm run bench:writes — northbound writes at scale (issue 17), on one real etcd member:
 *  - the reference: etcd's own concurrent put rate in this run (32 writers on one connection, ~220 B values, as
 *    bench:store measures it);
 *  - the API: BENCH_PORTS (default 1000) concurrent POST /v1/ports spread over three API servers, each with its own
 *    etcd connection (three agents' APIs), into one network with a /22; created, refused, duration, ports/s;
 *  - the ratio API port-creates/s ÷ etcd puts/s (target ≥ 0.5), and what the creations cost the store: transactions
 *    per port (lost races included) and reads per port.
 * Twice: the three servers as three processes (`wyvern api`, as three agents would be), then inside this process
 * (where the store's transactions can be counted). The load (one HTTP connection per request, as the CLI makes)
 * comes from this process. BENCH_WRITES (default 3000) puts for the reference.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { startApiServer } from '../src/api/server.js';
import { ApiClient } from '../src/api/client.js';
import { openStore } from '../src/store/index.js';
import type { Store } from '../src/store/types.js';
import { concurrentPuts } from './lib/store-rates.js';
import { startEtcd } from '../test/helpers/etcd.js';

const PORTS = Number(process.env.BENCH_PORTS ?? 1000);
const WRITES = Number(process.env.BENCH_WRITES ?? 3000);
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
  const proc = spawn(process.execPath, [main, 'api', '--store', storeUrl, '--listen', 'tcp:127.0.0.1:0'], {
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

/** N concurrent POST /v1/ports spread over the servers, into a new network with a /22; ports/s and what failed. */
async function rush(
  urls: string[],
  net: string,
  cidr: string,
): Promise<{ rate: number; created: number; secs: number; why: Map<string, number> }> {
  const clients = urls.map((u) => new ApiClient(u));
  await clients[0]!.call('POST', '/v1/networks', { name: net });
  await clients[0]!.call('POST', '/v1/subnets', { name: `${net}-sub`, network: net, cidr });
  const t0 = performance.now();
  const rs = await Promise.all(
    Array.from({ length: PORTS }, (_, i) => clients[i % clients.length]!.raw('POST', '/v1/ports', { name: `${net}-${i}`, network: net })),
  );
  const secs = (performance.now() - t0) / 1000;
  const created = rs.filter((r) => r.status === 201).length;
  const why = new Map<string, number>();
  for (const r of rs.filter((x) => x.status !== 201)) {
    const m = `${r.status} ${(r.body as { error?: { message?: string } })?.error?.message ?? ''}`.slice(0, 80);
    why.set(m, (why.get(m) ?? 0) + 1);
  }
  return { rate: created / secs, created, secs, why };
}

function report(what: string, r: { rate: number; created: number; secs: number; why: Map<string, number> }, putRate: number): void {
  console.log(
    `${what.padEnd(40)}${fmt(r.rate).padStart(7)} creates/s (${r.created}/${PORTS} in ${r.secs.toFixed(2)} s)  ratio ${(r.rate / putRate).toFixed(3)}`,
  );
  for (const [m, n] of r.why) console.log(`  not created: ${n} × ${m}`);
}

async function main(): Promise<void> {
  const etcd = await startEtcd({ members: 1 });
  const stores = await Promise.all([0, 1, 2].map(() => openStore(etcd.url)));
  const procs: ChildProcess[] = [];
  try {
    console.log(`bench:writes  etcd 1 member; ${PORTS} concurrent POST /v1/ports over 3 API servers into one network (/22)`);
    const putRate = await concurrentPuts(stores[0]!, `/bench/${Date.now()}/`, WRITES, 32);
    console.log(`${'etcd puts/s x32 (reference, same run)'.padEnd(40)}${fmt(putRate).padStart(7)}`);
    // Three API processes, as three agents.
    const apis = await Promise.all([0, 1, 2].map(() => apiProcess(etcd.url)));
    procs.push(...apis.map((a) => a.proc));
    report(
      '3 API processes',
      await rush(
        apis.map((a) => a.url),
        'bw-procs',
        '10.201.0.0/22',
      ),
      putRate,
    );
    for (const p of procs) p.kill('SIGTERM');
    await Promise.all(procs.map((p) => (p.exitCode === null ? once(p, 'exit') : undefined)));
    procs.length = 0;
    // The same inside this process, counting what the creations cost the store.
    const counts = stores.map(counted);
    const servers = await Promise.all(stores.map((store) => startApiServer({ store, listen: 'tcp:127.0.0.1:0' })));
    try {
      const r = await rush(
        servers.map((s) => s.url),
        'bw-inproc',
        '10.202.0.0/22',
      );
      report('3 API servers in this process', r, putRate);
      const txns = counts.reduce((a, c) => a + c.txns, 0) - 2;
      const lost = counts.reduce((a, c) => a + c.lost, 0);
      const reads = counts.reduce((a, c) => a + c.reads, 0);
      console.log(
        `  store per created port: ${fmt(txns / Math.max(1, r.created))} txns (${lost} lost races), ${fmt(reads / Math.max(1, r.created))} reads`,
      );
    } finally {
      await Promise.all(servers.map((s) => s.close()));
    }
    console.log('target: ratio >= 0.5');
  } finally {
    for (const p of procs) p.kill('SIGTERM');
    await Promise.all(stores.map((s) => s.close()));
    await etcd.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
