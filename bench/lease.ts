/**
 * npm run bench:lease — etcd's CPU per lease keep-alive, the load every agent puts on the etcd leader at rest (its
 * store probe is its lease's keep-alive, every 2 s; docs/scale.md):
 *  - "kept stream": the client's way (src/store/etcd-client/keepalive-stream.ts), one LeaseKeepAlive stream per
 *    client kept open between keep-alives;
 *  - "stream per keep-alive" (the reference, what the client did before): a LeaseKeepAlive stream opened, used once
 *    and closed for every keep-alive, on the same client's connection.
 * CLIENTS clients (default 20), each with its own connection as each agent has, send KEEPALIVES keep-alives in all
 * (default 4000), one at a time per client; the two ways alternate for ROUNDS rounds (default 3) against one real
 * etcd member. Printed: etcd's CPU (its /proc stat) per keep-alive for each way, the ratio, and what it means for
 * 10,000 hypervisors at one keep-alive every 2 s.
 *
 * PACED_S=<seconds>: instead, as agents at rest do, each client sends one keep-alive every 2 s (spread evenly over
 * the clients) for that long, and etcd's CPU is printed as a share of a core for each way (CLIENTS=300: the
 * keep-alives of 300 hypervisors).
 */
import { EtcdClient } from '../src/store/etcd-client/client.js';
import { LEASE_KEEPALIVE_PATH } from '../src/store/etcd-client/keepalive-stream.js';
import * as m from '../src/store/etcd-client/messages.js';
import { ProtoReader } from '../src/store/etcd-client/proto.js';
import { startEtcd } from '../test/helpers/etcd.js';
import { cpuMs } from './lib/sg-side.js';
import { p50, sleep } from './lib/stats.js';

const CLIENTS = Number(process.env.CLIENTS ?? 20);
const KEEPALIVES = Number(process.env.KEEPALIVES ?? 4000);
const ROUNDS = Number(process.env.ROUNDS ?? 3);

/** The reference: one keep-alive on a stream of its own. */
async function streamPerKeepAlive(c: EtcdClient, id: string): Promise<void> {
  const s = await c.channel.stream(LEASE_KEEPALIVE_PATH, undefined, 5000);
  await new Promise<void>((resolve, reject) => {
    s.once('message', (b: Buffer) => {
      m.decodeLeaseKeepAliveResponse(new ProtoReader(b));
      s.end();
      s.cancel();
      resolve();
    });
    s.once('end', (err) => reject(err ?? new Error('stream ended without an answer')));
    s.write(m.encode(m.encodeLeaseId, { ID: id }));
  });
}

const PACED_S = Number(process.env.PACED_S ?? 0);
const PERIOD_MS = 2000;

/** Every client one keep-alive per PERIOD_MS, for PACED_S seconds a round: etcd's CPU share for each way. */
async function paced(
  pid: number,
  clients: EtcdClient[],
  leases: string[],
  ways: [string, (c: EtcdClient, id: string) => Promise<unknown>][],
): Promise<void> {
  const share: Record<string, number[]> = {};
  for (let round = 1; round <= ROUNDS; round++) {
    for (const [name, f] of ways) {
      const c0 = await cpuMs([pid]);
      const t0 = performance.now();
      let sent = 0;
      await Promise.all(
        clients.map(async (c, i) => {
          await sleep((PERIOD_MS * i) / clients.length);
          while (performance.now() - t0 < PACED_S * 1000) {
            const next = performance.now() + PERIOD_MS;
            await f(c, leases[i]!);
            sent++;
            await sleep(Math.max(0, next - performance.now()));
          }
        }),
      );
      const pct = (((await cpuMs([pid])) - c0) / (performance.now() - t0)) * 100;
      (share[name] ??= []).push(pct);
      console.error(`# round ${round} ${name}: ${sent} keep-alives in ${PACED_S} s, etcd CPU ${pct.toFixed(2)} % of a core`);
    }
  }
  for (const c of clients) c.close();
  console.log(
    `\nbench:lease paced  etcd 1 member; ${clients.length} clients, one keep-alive every ${PERIOD_MS} ms each, ${ROUNDS} rounds of ${PACED_S} s (medians)`,
  );
  console.log('| way | etcd CPU, % of a core |');
  console.log('|---|---|');
  for (const [name] of ways) console.log(`| ${name} | ${p50(share[name]!).toFixed(2)} |`);
  console.log(`kept stream ÷ stream per keep-alive: ${(p50(share['kept stream']!) / p50(share['stream per keep-alive']!)).toFixed(2)}`);
}

async function main(): Promise<void> {
  const etcd = await startEtcd();
  try {
    const pid = etcd.members[0]!.pid;
    const clients = Array.from(
      { length: CLIENTS },
      () => new EtcdClient({ endpoints: etcd.endpoints, connectTimeoutMs: 5000, callTimeoutMs: 5000 }),
    );
    const leases = await Promise.all(clients.map(async (c) => (await c.lease.grant(60)).ID));
    const ways: [string, (c: EtcdClient, id: string) => Promise<unknown>][] = [
      ['stream per keep-alive', streamPerKeepAlive],
      ['kept stream', (c, id) => c.lease.keepAliveOnce(id)],
    ];
    // Warm both ways up (connections, V8), not measured.
    for (const [, f] of ways) await Promise.all(clients.map((c, i) => f(c, leases[i]!)));
    if (PACED_S > 0) return await paced(pid, clients, leases, ways);
    const per: Record<string, number[]> = {};
    const rate: Record<string, number[]> = {};
    for (let round = 1; round <= ROUNDS; round++) {
      for (const [name, f] of ways) {
        let left = KEEPALIVES;
        const c0 = await cpuMs([pid]);
        const t0 = performance.now();
        await Promise.all(
          clients.map(async (c, i) => {
            while (left-- > 0) await f(c, leases[i]!);
          }),
        );
        const ms = performance.now() - t0;
        const us = (((await cpuMs([pid])) - c0) * 1000) / KEEPALIVES;
        (per[name] ??= []).push(us);
        (rate[name] ??= []).push((KEEPALIVES * 1000) / ms);
        console.error(`# round ${round} ${name}: ${KEEPALIVES} keep-alives in ${ms.toFixed(0)} ms, etcd CPU ${us.toFixed(0)} µs each`);
      }
    }
    for (const c of clients) c.close();
    const old = p50(per['stream per keep-alive']!);
    const now = p50(per['kept stream']!);
    console.log(
      `\nbench:lease  etcd 1 member; ${CLIENTS} clients (a connection each), ${KEEPALIVES} keep-alives a round, ${ROUNDS} rounds (medians)`,
    );
    console.log('| way | etcd CPU per keep-alive | keep-alives/s | 10,000 hypervisors, one every 2 s |');
    console.log('|---|---|---|---|');
    for (const [name] of ways) {
      const us = p50(per[name]!);
      console.log(
        `| ${name} | ${us.toFixed(0)} µs | ${p50(rate[name]!).toFixed(0)} | ${((us * 5000) / 1e6).toFixed(2)} cores of the leader |`,
      );
    }
    console.log(`kept stream ÷ stream per keep-alive (etcd CPU): ${(now / old).toFixed(2)}`);
  } finally {
    await etcd.stop();
  }
}

await main();
