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
 */
import { readFileSync } from 'node:fs';
import { EtcdClient } from '../src/store/etcd-client/client.js';
import { LEASE_KEEPALIVE_PATH } from '../src/store/etcd-client/keepalive-stream.js';
import * as m from '../src/store/etcd-client/messages.js';
import { ProtoReader } from '../src/store/etcd-client/proto.js';
import { startEtcd } from '../test/helpers/etcd.js';
import { p50 } from './lib/stats.js';

const CLIENTS = Number(process.env.CLIENTS ?? 20);
const KEEPALIVES = Number(process.env.KEEPALIVES ?? 4000);
const ROUNDS = Number(process.env.ROUNDS ?? 3);

/** CPU time (ms) a process has used, from /proc/PID/stat (utime + stime, 100 ticks a second). */
function cpuMs(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) * 10;
}

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
    const per: Record<string, number[]> = {};
    const rate: Record<string, number[]> = {};
    for (let round = 1; round <= ROUNDS; round++) {
      for (const [name, f] of ways) {
        let left = KEEPALIVES;
        const c0 = cpuMs(pid);
        const t0 = performance.now();
        await Promise.all(
          clients.map(async (c, i) => {
            while (left-- > 0) await f(c, leases[i]!);
          }),
        );
        const ms = performance.now() - t0;
        const us = ((cpuMs(pid) - c0) * 1000) / KEEPALIVES;
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
