/**
 * npm run bench:scale — N simulated chassis (the agent's own core, src/sim) against a real etcd: bring-up, then
 * churn (port creations/deletions, migrations), a chassis dying and a fresh one joining; per-chassis state and
 * etcd's load. Documented in docs/scale.md.
 *
 *   SCALE_CHASSIS=100,300,1000   cluster sizes, one fresh etcd each (default 1000: the issue's 1,000 chassis, 20,000 ports)
 *   SCALE_MEMBERS=1|3            etcd members on loopback (default 1)
 *   SCALE_PORTS_PER_CHASSIS (20), SCALE_NETS_PER_CHASSIS (5): networks are 2 per chassis (tenant blocks of 4
 *                                chassis sharing 8 networks), routers 1 per 20 networks (src/sim/workload.ts)
 *   SCALE_CHURN_SECONDS (20), SCALE_CHURN_RATE ops/s (10), SCALE_LEASE_TTL seconds (10)
 *   SCALE_CHASSIS_PER_CONNECTION chassis sharing one etcd client (10; a real hypervisor has its own)
 *   SCALE_BIND_CONCURRENCY       VIFs plugged at once during bring-up (16)
 *   SCALE_SHARDS                 simulator processes (default 1): whole tenant blocks each, own etcd connections,
 *                                phases in step (src/sim/shards.ts); churn split evenly
 *   SCALE_OUT                    JSON results file (default /tmp/wyvern-scale-<time>.json)
 *   SCALE_ETCD_BATCH_LIMIT       the members' --backend-batch-limit (default the sandbox's, 500; 0: etcd's own 10,000)
 * With two or more sizes it fits each figure as a·N^b and prints b (0: flat, 1: linear, 2: quadratic).
 */
import { writeFileSync } from 'node:fs';
import { openStore } from '../src/store/index.js';
import { runScale, type ScaleResult } from '../src/sim/harness.js';
import { runSharded } from '../src/sim/shards.js';
import { ETCD_BACKEND_BATCH_LIMIT, startEtcd } from '../test/helpers/etcd.js';

const env = (k: string, d: number) => (process.env[k] !== undefined ? Number(process.env[k]) : d);
const sizes = (process.env.SCALE_CHASSIS ?? '1000').split(',').map(Number);
const members = env('SCALE_MEMBERS', 1) as 1 | 3;
const shards = env('SCALE_SHARDS', 1);
const batchLimit = env('SCALE_ETCD_BATCH_LIMIT', ETCD_BACKEND_BATCH_LIMIT);
const out = process.env.SCALE_OUT ?? `/tmp/wyvern-scale-${new Date().toISOString().replace(/[:.]/g, '')}.json`;
const f = (n: number, d = 0) => (Number.isFinite(n) ? n.toFixed(d) : String(n));
const log = (s: string) => process.stdout.write(`[${new Date().toISOString().slice(11, 19)}] ${s}\n`);

function print(r: ScaleResult): void {
  const fp = r.footprint;
  const lines = [
    `== ${r.chassis} chassis, ${r.networks} networks, ${r.ports} ports, ${r.routers} routers; etcd ${members} member(s), batch limit ${batchLimit || 'default'}; ${r.shards} simulator process(es)`,
    `bring-up: topology ${f(r.build.seconds, 1)} s (${f(r.build.portsPerSecond)} ports/s), chassis start ${f(r.bringUp.startSeconds, 1)} s, VIFs bound ${f(r.bringUp.bindSeconds, 1)} s, settled +${f(r.bringUp.settleSeconds, 1)} s`,
    `port create → bound and flows on every interested chassis (${f(r.create.interested, 1)} on average): p50 ${f(r.create.p50)} ms, p99 ${f(r.create.p99)} ms, max ${f(r.create.max)} ms (n=${r.create.n}, missed ${r.create.missed}; API create p50 ${f(r.create.apiP50)} ms)`,
    `port delete → gone everywhere: p50 ${f(r.deleted.p50)} ms, p99 ${f(r.deleted.p99)} ms, max ${f(r.deleted.max)} ms (n=${r.deleted.n}, missed ${r.deleted.missed})`,
    `migration → reachable again on all ${f(r.migrate.interested, 1)} interested: p50 ${f(r.migrate.p50)} ms, p99 ${f(r.migrate.p99)} ms, max ${f(r.migrate.max)} ms (n=${r.migrate.n}, missed ${r.migrate.missed})`,
    `chassis death → withdrawn on the ${r.death.holders} of ${r.chassis - 1} holding its record: ${f(r.death.fromCrashMs)} ms from the crash (lease TTL), ${f(r.death.fromKeyDeleteMs)} ms after the key lapsed (p50 ${f(r.death.withdrawnP50)} ms); ${r.death.eventsDelivered} events delivered; each chassis's recompute p50 ${f(r.death.recomputeP50Ms, 1)} ms, max ${f(r.death.recomputeMaxMs, 1)} ms, all together ${f(r.death.recomputeSumMs)} ms on the one simulator core`,
    `router change (a static route added) → seen by the ${r.routerChange.holders} of ${r.chassis} chassis holding the router: max ${f(r.routerChange.seenMaxMs)} ms (missed ${r.routerChange.missed}); ${r.routerChange.eventsDelivered} store events delivered in all`,
    `fresh chassis: start → in sync ${f(r.join.startToSyncedMs)} ms, → its 20 VIFs' flows ${f(r.join.startToBoundMs)} ms (start stages, ms: ${JSON.stringify(r.join.stages)})`,
    `per chassis (min/p50/max): prefixes ${fp.prefixes.min}/${fp.prefixes.p50}/${fp.prefixes.max}, networks ${fp.networks.min}/${fp.networks.p50}/${fp.networks.max}, network keys ${fp.networkKeys.min}/${fp.networkKeys.p50}/${fp.networkKeys.max}, keys outside its networks ${fp.globalKeys.p50} (chassis ${fp.chassisKeys.p50}), flows ${fp.flows.min}/${fp.flows.p50}/${fp.flows.max}`,
    `chassis 0: ${JSON.stringify(r.chassis0)}`,
    `sim process: RSS ${f(r.memory.rssMB)} MB, heap ${f(r.memory.heapMB)} MB, ${f(r.memory.heapPerChassisKB)} KB heap per chassis`,
    ...r.churn.slowOps.map((o) => `  slow ${o.kind} of ${o.name}: started ${f(o.atMs / 1000, 1)} s into the churn, ${f(o.ms)} ms`),
    ...r.churn.stalls.map(
      (st) =>
        `  simulator's event loop blocked ${f(st.ms)} ms at ${f(st.atMs / 1000, 1)} s into the churn, using ${f(st.cpuMs)} ms of CPU meanwhile${st.cpuMs < st.ms / 2 ? ' (it waited for a core)' : ''}`,
    ),
    `churn: ${r.churn.ops} ops, ${r.churn.revisions} store revisions, ${r.churn.eventsDelivered} events delivered = ${f(r.churn.eventsPerRevision, 2)} per revision (interested chassis per change ${f(r.churn.interestedPerChange, 2)}; ${f(r.churn.eventBytesPerRevision)} payload bytes per revision), ${r.churn.snapshotKeys} keys read by new watches; simulator CPU ${f(r.churn.simCpuPercent)} %, event-loop delay p99 ${f(r.churn.loopDelayP99Ms, 1)} ms (max ${f(r.churn.loopDelayMaxMs)}), GC pauses max ${f(r.churn.gcMaxMs)} ms (${f(r.churn.gcTotalMs)} ms in all)`,
  ];
  if (r.etcd) {
    const e = r.etcd;
    lines.push(
      `etcd idle: CPU ${f(e.idle.cpuPercent, 1)} %, sent ${f(e.idle.sentBytesPerSecond / 1024, 1)} KB/s, raft snapshots saved ${e.idle.snapshots}`,
      `etcd churn: CPU ${f(e.churn.cpuPercent, 1)} %, ${f(e.churn.revisionsPerSecond, 1)} revisions/s, sent ${f(e.churn.sentBytesPerSecond / 1024, 1)} KB/s, ${f(e.churn.bytesPerChange)} bytes per change above idle`,
      `etcd disk during churn: WAL fsyncs ${e.churn.disk.walFsyncs} (${e.churn.disk.walFsyncsOver128ms} over 128 ms, ${e.churn.disk.walFsyncsOver512ms} over 512 ms), backend commits ${e.churn.disk.backendCommits} (${e.churn.disk.backendCommitsOver128ms} over 128 ms, ${e.churn.disk.backendCommitsOver512ms} over 512 ms), slow applies ${e.churn.disk.slowApplies}, raft snapshots saved ${e.churn.disk.snapshots}`,
      ...e.slowDisk.map(
        (d) =>
          `  slow etcd disk at ${f(d.atMs / 1000, 1)} s into the churn (500-ms window): fsyncs >128 ms ${d.walFsyncsOver128ms} (>512 ms ${d.walFsyncsOver512ms}), commits >128 ms ${d.backendCommitsOver128ms} (>512 ms ${d.backendCommitsOver512ms}), slow applies ${d.slowApplies}`,
      ),
      `etcd end: RSS ${f(e.end.rssBytes / 2 ** 20)} MB, db ${f(e.end.dbBytes / 2 ** 20, 1)} MB, watchers ${e.end.watchers}, watch streams ${e.end.watchStreams}, slow watchers ${e.end.slowWatchers}, CPU total ${f(e.end.cpuSeconds, 1)} s`,
    );
  }
  for (const l of lines) process.stdout.write(`${l}\n`);
}

/** Least squares of log y on log N: y ≈ a·N^b. */
function exponent(ns: number[], ys: number[]): number {
  const pts = ns.map((n, i) => [Math.log(n), Math.log(ys[i]!)] as const).filter(([, y]) => Number.isFinite(y));
  if (pts.length < 2) return NaN;
  const mx = pts.reduce((s, [x]) => s + x, 0) / pts.length;
  const my = pts.reduce((s, [, y]) => s + y, 0) / pts.length;
  const sxy = pts.reduce((s, [x, y]) => s + (x - mx) * (y - my), 0);
  const sxx = pts.reduce((s, [x]) => s + (x - mx) ** 2, 0);
  return sxy / sxx;
}

const FIGURES: [string, (r: ScaleResult) => number][] = [
  ['create p99 ms', (r) => r.create.p99],
  ['migration p99 ms', (r) => r.migrate.p99],
  ['death withdrawn max ms (after key lapsed)', (r) => r.death.fromKeyDeleteMs],
  ['fresh chassis start→synced ms', (r) => r.join.startToSyncedMs],
  ['per-chassis network keys p50', (r) => r.footprint.networkKeys.p50],
  ['per-chassis flows p50', (r) => r.footprint.flows.p50],
  ['per-chassis chassis keys', (r) => r.footprint.chassisKeys.p50],
  ['per-chassis keys outside its networks p50', (r) => r.footprint.globalKeys.p50],
  ['heap KB per chassis', (r) => r.memory.heapPerChassisKB],
  ['events per revision (churn)', (r) => r.churn.eventsPerRevision],
  ['events per chassis death', (r) => r.death.eventsDelivered],
  ['events per router change', (r) => r.routerChange.eventsDelivered],
  ['recompute per chassis death p50 ms', (r) => r.death.recomputeP50Ms],
  ['etcd watchers', (r) => r.etcd?.end.watchers ?? NaN],
  ['etcd RSS MB', (r) => (r.etcd?.end.rssBytes ?? NaN) / 2 ** 20],
  ['etcd db MB', (r) => (r.etcd?.end.dbBytes ?? NaN) / 2 ** 20],
  ['etcd idle CPU %', (r) => r.etcd?.idle.cpuPercent ?? NaN],
  ['etcd idle sent KB/s', (r) => (r.etcd?.idle.sentBytesPerSecond ?? NaN) / 1024],
  ['etcd bytes per change', (r) => r.etcd?.churn.bytesPerChange ?? NaN],
  ['event payload bytes per revision', (r) => r.churn.eventBytesPerRevision],
];

const results: ScaleResult[] = [];
for (const n of sizes) {
  const t0 = Date.now();
  const etcd = await startEtcd({ members, backendBatchLimit: batchLimit });
  const store = await openStore(etcd.url);
  try {
    const opts = {
      chassis: n,
      portsPerChassis: env('SCALE_PORTS_PER_CHASSIS', 20),
      netsPerChassis: env('SCALE_NETS_PER_CHASSIS', 5),
      store,
      openStore: () => openStore(etcd.url),
      etcdUrls: etcd.members.map((m) => m.clientUrl),
      leaseTtlSeconds: env('SCALE_LEASE_TTL', 10),
      chassisPerStore: env('SCALE_CHASSIS_PER_CONNECTION', 10),
      bindConcurrency: env('SCALE_BIND_CONCURRENCY', 16),
      churnSeconds: env('SCALE_CHURN_SECONDS', 20),
      churnRate: env('SCALE_CHURN_RATE', 10),
      log,
    };
    const r = shards > 1 ? await runSharded({ ...opts, storeUrl: etcd.url, shards }) : await runScale(opts);
    results.push(r);
    print(r);
    log(`run of ${n} chassis took ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    writeFileSync(out, JSON.stringify({ members, results }, null, 1));
  } finally {
    await store.close();
    await etcd.stop();
  }
}
if (results.length >= 2) {
  const ns = results.map((r) => r.chassis);
  process.stdout.write(`\n== growth with N (fit y = a·N^b over N = ${ns.join(', ')})\n`);
  for (const [name, get] of FIGURES) {
    const ys = results.map(get);
    process.stdout.write(`${name.padEnd(44)} ${ys.map((y) => f(y, 1).padStart(10)).join('')}   b = ${f(exponent(ns, ys), 2)}\n`);
  }
}
process.stdout.write(`results: ${out}\n`);
process.exit(0);
