/**
 * npm run bench:net-writes — what a write or a read of one network costs in the API when the store holds many routers
 * and floating IPs elsewhere (issue 17), on one real etcd member. A port's delete reads the routers and FIPs placed in
 * the network: through the lazy index once it is complete in the store (src/model/read.ts snapshotNet), or every
 * router and FIP in the store before that — the reference, the same code on the same store with the index marked
 * incomplete, in alternating rounds. A network's port list (since the tenth session one range of the network's
 * prefix, readNetContents) reads neither: the same in both modes.
 *
 *   BENCH_ROUTERS (default 2000)  routers, each with an interface on a network of its own and a floating IP there
 *   BENCH_SETUP_FULL=1            the set-up writes as before the index (its time is printed: it grows with the square)
 *   BENCH_OPS (default 200)       port lists and deletes timed per round; BENCH_ROUNDS (default 4)
 */
import { performance } from 'node:perf_hooks';
import { LAZY_INDEX_KEY } from '../src/model/keys.js';
import { ensureLazyIndex } from '../src/model/lazy-index.js';
import { Topology } from '../src/model/repo.js';
import { pool } from '../src/sim/workload.js';
import { openStore } from '../src/store/index.js';
import { startEtcd } from '../test/helpers/etcd.js';
import { p50, pct } from './lib/stats.js';

const ROUTERS = Number(process.env.BENCH_ROUTERS ?? 2000);
const OPS = Number(process.env.BENCH_OPS ?? 200);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 4);
const log = (s: string) => process.stdout.write(`# ${new Date().toISOString().slice(11, 19)} ${s}\n`);

const etcd = await startEtcd({});
const store = await openStore(etcd.url);
try {
  // BENCH_SETUP_FULL=1: the set-up's own writes read every router and FIP too (the index marked complete only after it).
  if (process.env.BENCH_SETUP_FULL !== '1') await ensureLazyIndex(store, 'bench');
  const topo = new Topology(store, { maxAttempts: 1000 });
  // Elsewhere: ROUTERS networks, each with a router interface and a FIP on a provider network.
  await topo.createNetwork({ name: 'ext', provider: { physnet: 'physnet1' } });
  await topo.createSubnet({ name: 'ext-s', network: 'ext', cidr: '100.64.0.0/10', enableDhcp: false });
  let t = performance.now();
  await pool(
    Array.from({ length: ROUTERS }, (_, i) => i),
    16,
    async (i) => {
      const n = `n${i}`;
      await topo.createNetwork({ name: n });
      await topo.createSubnet({ name: `${n}-s`, network: n, cidr: `10.${(i >> 8) & 255}.${i & 255}.0/24` });
      await topo.createRouter({ name: `r${i}` });
      await topo.attachSubnet(`r${i}`, { subnet: `${n}-s` });
      await topo.createFloatingIp({ network: 'ext' });
    },
  );
  log(`${ROUTERS} routers, networks and floating IPs written in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  // The network written to: a /16 with nothing placed in it.
  await topo.createNetwork({ name: 'busy' });
  await topo.createSubnet({ name: 'busy-s', network: 'busy', cidr: '172.20.0.0/16' });
  await ensureLazyIndex(store, 'bench');
  const done = (await store.get(LAZY_INDEX_KEY))!.value;

  const rows: Record<string, { list: number[]; del: number[] }> = {
    index: { list: [], del: [] },
    'every router': { list: [], del: [] },
  };
  for (let round = 0; round < ROUNDS; round++) {
    for (const mode of round % 2 === 0 ? ['every router', 'index'] : ['index', 'every router']) {
      // A fresh connection per mode and round: a process learns once that the index is complete.
      if (mode === 'index') await store.put(LAZY_INDEX_KEY, done);
      else await store.delete(LAZY_INDEX_KEY);
      const s = await openStore(etcd.url);
      const api = new Topology(s, { maxAttempts: 1000 });
      await api.getNetwork('busy');
      const names = Array.from({ length: OPS }, (_, i) => `p${round}-${mode === 'index' ? 'i' : 'a'}-${i}`);
      await pool(names, 8, async (name) => void (await api.createPort({ name, network: 'busy' })));
      await api.listPorts('busy'); // the first read (learns whether the index is complete)
      for (let i = 0; i < OPS; i++) {
        t = performance.now();
        await api.listPorts('busy');
        rows[mode]!.list.push(performance.now() - t);
      }
      for (const name of names) {
        t = performance.now();
        await api.deletePort(name);
        rows[mode]!.del.push(performance.now() - t);
      }
      await s.close();
      log(
        `round ${round + 1}, ${mode}: port list p50 ${p50(rows[mode]!.list.slice(-OPS)).toFixed(2)} ms, delete p50 ${p50(rows[mode]!.del.slice(-OPS)).toFixed(2)} ms`,
      );
    }
  }
  await store.put(LAZY_INDEX_KEY, done);
  const f = (x: number) => x.toFixed(2);
  const ref = rows['every router']!;
  console.log(
    `\nwrites in one network, ${ROUTERS} routers and ${ROUTERS} floating IPs elsewhere; ${ROUNDS} rounds of ${OPS} each, alternating`,
  );
  console.log('| reads | port list of the network p50 / p99 ms | port delete p50 / p99 ms | list ÷ reference | delete ÷ reference |');
  console.log('|---|---|---|---|---|');
  for (const [name, r] of Object.entries(rows))
    console.log(
      `| ${name === 'index' ? 'through the index' : 'every router and FIP (reference)'} | ${f(p50(r.list))} / ${f(pct(r.list, 99))} | ${f(p50(r.del))} / ${f(pct(r.del, 99))} | ${f(p50(r.list) / p50(ref.list))} | ${f(p50(r.del) / p50(ref.del))} |`,
    );
} finally {
  await store.close();
  await etcd.stop();
}
process.exit(0);
