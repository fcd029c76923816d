/**
 * level: driver — the single-host embedded store. The engine serves reads and watches from memory;
 * every commit (keys, revision counter, leases, one history entry) is first written to LevelDB as
 * one atomic batch, so a reopened store continues its revisions, keeps a bounded watch history to
 * resume from, and still expires the leases of a process that died.
 *
 * On-disk layout (utf8 keys, JSON values):
 *   k!<key>       {v, c, m, l?}   value, create/mod revision, lease
 *   m!state       {revision, compactRevision, leaseSeq}
 *   l!<leaseId>   LeaseRecord
 *   h!<rev:16>    WatchBatch      history log, revisions > compactRevision
 */
import { mkdir } from 'node:fs/promises';
import { Level } from 'level';
import type { Logger } from '../util/log.js';
import { Engine, type Backend, type Clock, type Commit, type EngineState, type LeaseRecord } from './engine.js';
import { LocalEngineStore } from './engine-store.js';
import { StoreError, type KeyValue, type WatchBatch } from './types.js';

export interface LevelStoreOptions {
  logger?: Logger;
  clock?: Clock;
  /** Revisions of watch history kept on disk (default 10000). */
  historyLimit?: number;
  leaseCheckMs?: number;
}

interface StoredKv {
  v: string;
  c: number;
  m: number;
  l?: string;
}

interface Meta {
  revision: number;
  compactRevision: number;
  leaseSeq: number;
}

type Db = Level<string, unknown>;
type BatchOp = { type: 'put'; key: string; value: unknown } | { type: 'del'; key: string };

const hkey = (rev: number): string => `h!${String(rev).padStart(16, '0')}`;

class LevelBackend implements Backend {
  constructor(
    private readonly db: Db,
    private meta: Meta,
    /** Revisions present in the on-disk history, ascending (to delete the ones compacted). */
    private readonly historyRevs: number[],
  ) {}

  async write(c: Commit): Promise<void> {
    const ops: BatchOp[] = [];
    for (const kv of c.puts) {
      const s: StoredKv = { v: kv.value, c: kv.createRevision, m: kv.modRevision };
      if (kv.lease !== undefined) s.l = kv.lease;
      ops.push({ type: 'put', key: `k!${kv.key}`, value: s });
    }
    for (const k of c.deletes) ops.push({ type: 'del', key: `k!${k}` });
    let leaseSeq = this.meta.leaseSeq;
    for (const l of c.leasePuts) {
      ops.push({ type: 'put', key: `l!${l.id}`, value: l });
      leaseSeq = Math.max(leaseSeq, Number(l.id) + 1);
    }
    for (const id of c.leaseDeletes) ops.push({ type: 'del', key: `l!${id}` });
    if (c.batch) ops.push({ type: 'put', key: hkey(c.batch.revision), value: c.batch });
    let drop = 0;
    while (drop < this.historyRevs.length && this.historyRevs[drop]! <= c.compactRevision) {
      ops.push({ type: 'del', key: hkey(this.historyRevs[drop]!) });
      drop++;
    }
    const meta: Meta = { revision: c.revision, compactRevision: Math.max(this.meta.compactRevision, c.compactRevision), leaseSeq };
    ops.push({ type: 'put', key: 'm!state', value: meta });
    await this.db.batch(ops);
    this.meta = meta;
    this.historyRevs.splice(0, drop);
    if (c.batch && c.batch.revision > c.compactRevision) this.historyRevs.push(c.batch.revision);
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}

async function load(db: Db): Promise<{ state: EngineState; meta: Meta; historyRevs: number[] }> {
  const meta = ((await db.get('m!state')) as Meta | undefined) ?? { revision: 1, compactRevision: 0, leaseSeq: 1 };
  const kvs: KeyValue[] = [];
  const leases: LeaseRecord[] = [];
  const history: WatchBatch[] = [];
  for await (const [k, v] of db.iterator()) {
    if (k.startsWith('k!')) {
      const s = v as StoredKv;
      const kv: KeyValue = { key: k.slice(2), value: s.v, createRevision: s.c, modRevision: s.m };
      if (s.l !== undefined) kv.lease = s.l;
      kvs.push(kv);
    } else if (k.startsWith('l!')) leases.push(v as LeaseRecord);
    else if (k.startsWith('h!')) history.push(v as WatchBatch);
  }
  const leaseSeq = Math.max(meta.leaseSeq, ...leases.map((l) => Number(l.id) + 1));
  return {
    meta: { ...meta, leaseSeq },
    historyRevs: history.map((b) => b.revision),
    state: { revision: meta.revision, compactRevision: meta.compactRevision, kvs, leases, history, nextLeaseId: leaseSeq },
  };
}

export async function openLevelStore(path: string, opts: LevelStoreOptions = {}): Promise<LevelStore> {
  await mkdir(path, { recursive: true });
  const db: Db = new Level<string, unknown>(path, { valueEncoding: 'json' });
  try {
    await db.open();
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause;
    const locked = cause?.code === 'LEVEL_LOCKED';
    throw new StoreError(
      locked
        ? `level store ${path} is in use by another process (only one process may open it)`
        : `cannot open level store ${path}: ${(err as Error).message}`,
      'UNAVAILABLE',
      { cause: err },
    );
  }
  const { state, meta, historyRevs } = await load(db);
  const engine = new Engine({
    backend: new LevelBackend(db, meta, historyRevs),
    initial: state,
    historyLimit: opts.historyLimit ?? 10_000,
    ...(opts.logger ? { logger: opts.logger } : {}),
    ...(opts.clock ? { clock: opts.clock } : {}),
    ...(opts.leaseCheckMs !== undefined ? { leaseCheckMs: opts.leaseCheckMs } : {}),
  });
  // Leases of a process that died while the store was closed expire now, not one tick later.
  await engine.expireLeases();
  return new LevelStore(`level:${path}`, engine, true);
}

/** The embedded single-host store, persisted on disk. */
export class LevelStore extends LocalEngineStore {}
