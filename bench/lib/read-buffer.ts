/**
 * What one write burst leaves behind in etcd 3.4.0–3.4.23: their read buffer of uncommitted writes keeps its backing
 * array when a commit empties it, and every read view copies the whole array (src/store/etcd-server-version.ts,
 * docs/scale.md, twenty-second session). So reads at rest cost more after a burst than before it, for as long as the
 * member runs, unless its --backend-batch-limit keeps the array small. Measured on a member of its own: reads at rest
 * (a write every 50 ms keeps the buffer in use, as an agent cluster's bindings and leases do) before and after a burst
 * of puts; etcd's CPU per read from /proc and its allocations per read from its Go runtime counters (/metrics).
 */
import { openStore } from '../../src/store/index.js';
import type { Store } from '../../src/store/types.js';
import { pool } from '../../src/sim/workload.js';
import { startEtcd } from '../../test/helpers/etcd.js';
import { cpuMs } from './sg-side.js';

export interface ReadCost {
  /** etcd's CPU per read, µs. */
  cpuUs: number;
  /** What etcd allocated per read, KB. */
  allocKb: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** 0 … n-1, for pool(). */
const upTo = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

async function allocatedBytes(clientUrl: string): Promise<number> {
  const text = await (await fetch(`${clientUrl}/metrics`)).text();
  const m = /^go_memstats_alloc_bytes_total (\S+)/m.exec(text);
  if (!m) throw new Error(`etcd at ${clientUrl} exposes no go_memstats_alloc_bytes_total`);
  return Number(m[1]);
}

/** `reads` reads of existing keys, 8 at a time, while one key is written every 50 ms. */
async function readsAtRest(store: Store, member: { pid: number; clientUrl: string }, reads: number): Promise<ReadCost> {
  let writing = true;
  const trickle = (async () => {
    for (let i = 0; writing; i++) {
      await store.put(`/bench/read-buffer/trickle/${i % 10}`, 'x');
      await sleep(50);
    }
  })();
  try {
    await sleep(300);
    const [a0, c0] = [await allocatedBytes(member.clientUrl), await cpuMs([member.pid])];
    await pool(upTo(reads), 8, async (i) => void (await store.get(`/bench/read-buffer/k/${i % 100}`)));
    const [a1, c1] = [await allocatedBytes(member.clientUrl), await cpuMs([member.pid])];
    return { cpuUs: ((c1 - c0) * 1000) / reads, allocKb: (a1 - a0) / reads / 1024 };
  } finally {
    writing = false;
    await trickle;
  }
}

/** Reads at rest before and after a burst of `burst` puts (64 at a time), on a new member with `batchLimit` (0: etcd's). */
export async function readsAfterBurst(
  batchLimit: number,
  o: { reads?: number; burst?: number } = {},
): Promise<{ before: ReadCost; after: ReadCost }> {
  const reads = o.reads ?? 2000;
  const etcd = await startEtcd({ members: 1, backendBatchLimit: batchLimit });
  const store = await openStore(etcd.url);
  try {
    const member = { pid: etcd.members[0]!.pid, clientUrl: etcd.members[0]!.clientUrl };
    const value = 'x'.repeat(100);
    await pool(upTo(100), 8, async (i) => void (await store.put(`/bench/read-buffer/k/${i}`, value)));
    const before = await readsAtRest(store, member, reads);
    await pool(upTo(o.burst ?? 30_000), 64, async (i) => void (await store.put(`/bench/read-buffer/burst/${i}`, value)));
    // Past the burst's own garbage collections, which would otherwise land in the reads' window.
    await sleep(2000);
    return { before, after: await readsAtRest(store, member, reads) };
  } finally {
    await store.close();
    await etcd.stop();
  }
}
