/**
 * npm run bench:election — the one election (router gateways, star centers, site gateways) on a real etcd member:
 * three agents (own client, own lease, chassis key on it) host R star networks; the center of each is elected,
 * then the center agent crashes (client closed, lease left to expire) and the next one takes every center over.
 *
 * Printed per R: the initial election time (all R centers taken), the takeover time after the crash — beside the
 * lease TTL it waits for, as a ratio (the lease expiry is the reference measured in the same run: the time until
 * etcd deletes the crashed agent's chassis key) — and the same for a site gateway. A planned restart (the agent
 * stops, a new one with a new lease starts) is also run: centers moved, centers deleted (must be 0).
 * Sizes: BENCH_RACES (default "1,50,200"), BENCH_TTL seconds (default 2).
 */
import { performance } from 'node:perf_hooks';
import { Election } from '../src/agent/election.js';
import { centerRaces, siteGatewayRaces } from '../src/agent/races.js';
import { CENTERS_PREFIX, chassisKey, CHASSIS_PREFIX, siteGatewayKey, SITE_GATEWAYS_PREFIX } from '../src/model/keys.js';
import type { Network } from '../src/model/types.js';
import { openStore } from '../src/store/index.js';
import type { Lease, Store } from '../src/store/types.js';
import { silentLogger } from '../src/util/log.js';
import { TopologyView, type NetworkState } from '../src/view/topology-view.js';
import { startEtcd } from '../test/helpers/etcd.js';

const SIZES = (process.env.BENCH_RACES ?? '1,50,200').split(',').map(Number);
const TTL = Number(process.env.BENCH_TTL ?? 2);
const HOSTS = ['hv1', 'hv2', 'hv3'];
const SITE = 'paris';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Member {
  name: string;
  store: Store;
  lease: Lease;
  view: TopologyView;
  election: Election;
}

const netId = (i: number): string => `0c${i.toString(16).padStart(6, '0')}-0000-4000-8000-000000000000`;

function network(i: number): NetworkState {
  const id = netId(i);
  const ports = new Map(
    HOSTS.map((h, j) => {
      const pid = `0d${i.toString(16).padStart(6, '0')}-0000-4000-8000-00000000000${j}`;
      return [
        pid,
        {
          port: {
            id: pid,
            name: `p${i}-${j}`,
            networkId: id,
            mac: '02:00:00:00:00:01',
            fixedIps: [],
            portSecurity: false,
            allowedAddressPairs: [],
            portKey: j + 1,
            securityGroups: [],
          },
          binding: { chassis: h, updatedAt: 't' },
        },
      ];
    }),
  );
  return { network: { id, name: `s${i}`, tunnelKey: i + 1, mtu: 1450, topology: 'star' } as Network, subnets: new Map(), ports };
}

async function until(cond: () => Promise<boolean>, ms: number): Promise<number> {
  const t0 = performance.now();
  while (!(await cond())) {
    if (performance.now() - t0 > ms) throw new Error(`not within ${ms} ms`);
    await sleep(10);
  }
  return performance.now() - t0;
}

async function run(url: string, races: number): Promise<void> {
  const observer = await openStore(url);
  await observer.txn([], [{ op: 'deletePrefix', prefix: '/wyvern/v1/' }]);
  const members = new Map<string, Member>();
  const reconcileAll = (): void => {
    for (const m of members.values()) void m.election.reconcile();
  };
  const start = async (name: string): Promise<Member> => {
    const store = await openStore(url);
    const lease = await store.grantLease(TTL);
    await store.put(chassisKey(name), JSON.stringify({ name, tunnelIp: '10.0.0.1', encaps: ['vxlan'], version: 'b', site: SITE }), {
      lease: lease.id,
    });
    const view = new TopologyView(name, 'vxlan');
    view.site = SITE;
    view.sites.set(SITE, { name: SITE, gatewayCandidates: HOSTS });
    for (const h of HOSTS) view.chassis.set(h, { name: h, tunnelIp: '10.0.0.1', encaps: ['vxlan'], version: 'b', site: SITE });
    for (let i = 0; i < races; i++) view.networks.set(netId(i), network(i));
    const election = new Election({
      store,
      chassis: name,
      kinds: [centerRaces(view), siteGatewayRaces(view)],
      leaseId: () => lease.id,
      logger: silentLogger,
    });
    const m = { name, store, lease, view, election };
    members.set(name, m);
    return m;
  };
  // Every agent watches leases and chassis (TopologySync does) and reconciles on each change.
  let chassisGoneAt = 0;
  let deletes = 0;
  const watches = [
    observer.watch(CENTERS_PREFIX, undefined, {
      onBatch: (b) => {
        deletes += b.events.filter((e) => e.type === 'delete').length;
        reconcileAll();
      },
    }),
    observer.watch(SITE_GATEWAYS_PREFIX, undefined, { onBatch: () => reconcileAll() }),
    observer.watch(CHASSIS_PREFIX, undefined, {
      onBatch: (b) => {
        for (const e of b.events) {
          if (e.type !== 'delete') continue;
          const name = e.key.slice(CHASSIS_PREFIX.length);
          if (!chassisGoneAt) chassisGoneAt = performance.now();
          for (const m of members.values()) m.view.chassis.delete(name);
        }
        reconcileAll();
      },
    }),
  ];
  const holders = async (prefix: string): Promise<Map<string, string>> =>
    new Map((await observer.range(prefix)).kvs.map((kv) => [kv.key, (JSON.parse(kv.value) as { chassis: string }).chassis]));
  const allHeld = async (): Promise<boolean> => (await holders(CENTERS_PREFIX)).size === races;

  for (const h of HOSTS) await start(h);
  reconcileAll();
  const initial = await until(allHeld, 30_000);
  // The preferred (first ranked) chassis should have won every race: the others only after their backoff.
  const byFirst = [...(await holders(CENTERS_PREFIX)).values()].filter((h) => h === 'hv1').length;
  await until(async () => (await holders(SITE_GATEWAYS_PREFIX)).has(siteGatewayKey(SITE)), 30_000);
  if (byFirst < races) {
    console.log(`races=${races}: only ${byFirst} centers taken by the first ranked chassis; the rest by a standby after its backoff`);
  }

  // Planned restart of hv1: a new agent with a new lease moves every key; none is deleted.
  const old = members.get('hv1')!;
  await old.election.stop();
  members.delete('hv1');
  await old.store.close();
  const moveT0 = performance.now();
  const fresh = await start('hv1');
  await fresh.election.reconcile();
  await until(
    async () =>
      (await observer.range(CENTERS_PREFIX)).kvs
        .filter((kv) => (JSON.parse(kv.value) as { chassis: string }).chassis === 'hv1')
        .every((kv) => kv.lease === fresh.lease.id),
    30_000,
  );
  const moved = performance.now() - moveT0;
  await sleep(TTL * 1000 + 500);
  const stillHv1 = [...(await holders(CENTERS_PREFIX)).values()].filter((h) => h === 'hv1').length === byFirst;
  const deletedOnRestart = deletes;

  // Crash of hv1: client gone, lease left to expire; hv2 takes every center and the site gateway.
  chassisGoneAt = 0;
  const crashT0 = performance.now();
  await fresh.election.stop();
  members.delete('hv1');
  await fresh.store.close();
  const [centers, site] = await Promise.all([
    until(async () => {
      const c = await holders(CENTERS_PREFIX);
      return c.size === races && ![...c.values()].includes('hv1');
    }, 60_000),
    until(async () => ['hv2', 'hv3'].includes((await holders(SITE_GATEWAYS_PREFIX)).get(siteGatewayKey(SITE)) ?? ''), 60_000),
  ]);
  const expiry = chassisGoneAt - crashT0;
  console.log(
    `races=${String(races).padStart(4)}  all centers held ${initial.toFixed(0)} ms after the last agent started (${byFirst}/${races} by the first ranked)  |  planned restart: ${moved.toFixed(0)} ms to move ` +
      `${races} centers, ${deletedOnRestart} deleted, kept=${stillHv1}  |  crash: lease expiry seen after ${expiry.toFixed(0)} ms ` +
      `(TTL ${TTL * 1000} ms), all centers taken over (none left on hv1) after ${centers.toFixed(0)} ms (${(centers / expiry).toFixed(2)}× the expiry), ` +
      `site gateway after ${site.toFixed(0)} ms (${(site / expiry).toFixed(2)}×)`,
  );
  for (const w of watches) await w.cancel();
  for (const m of members.values()) {
    await m.election.stop();
    await m.store.close();
  }
  await observer.close();
}

const etcd = await startEtcd();
try {
  for (const n of SIZES) await run(etcd.url, n);
} finally {
  await etcd.stop();
}
