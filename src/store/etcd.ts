/**
 * etcd driver over wyvern's own etcd v3 client (etcd-client/: protobuf codec, gRPC over node:http2, watch
 * streams). The Store contract is etcd's own model, so calls map 1:1 onto KV.Range/Put/DeleteRange/Txn,
 * Watch and Lease. What this module adds is the mapping (keys and values as strings, StoreError codes with
 * clear messages), lease keep-alive with loss detection, and spreading watches over a few streams.
 */
import { silentLogger, type Logger } from '../util/log.js';
import {
  StoreError,
  type Compare,
  type GrantOptions,
  type KeyValue,
  type Lease,
  type RangeResult,
  type ReadOp,
  type ReadResult,
  type Store,
  type TxnOp,
  type TxnResult,
  type Watch,
  type WatchHandlers,
} from './types.js';
import { maskUrl, type StoreUrl } from './url.js';
import { EtcdWatch } from './etcd-watch.js';
import { diagnoseClientCert, explainEtcdTls } from './etcd-tls.js';
import { EtcdClient, type EtcdClientOptions } from './etcd-client/client.js';
import { ChannelClosedError, GrpcError, GrpcStatus } from './etcd-client/grpc.js';
import { WatchStream } from './etcd-client/watch-stream.js';
import { CompareResult, CompareTarget, type KeyValue as RawKv, type RequestOp } from './etcd-client/messages.js';
import { copiesWriteBufferPerTxn, slowTxnWarning } from './etcd-server-version.js';

export interface EtcdStoreOptions {
  /** PEM contents (not paths). */
  tls?: { ca?: string | Buffer; cert?: string | Buffer; key?: string | Buffer };
  username?: string;
  password?: string;
  logger?: Logger;
  /** Deadline for unary calls (ms, default 5000) so a dead member fails over instead of hanging. */
  callTimeoutMs?: number;
  /** Check that etcd answers before returning (default true). */
  probe?: boolean;
  /** gRPC watch streams the store's watches are spread over (default 4; see EtcdStore.watchStream). */
  watchStreams?: number;
}

/** Default number of watch streams: the knee of the curve measured in docs/benchmarks.md, "etcd watch delivery". */
export const DEFAULT_WATCH_STREAMS = 4;

export function toKv(raw: RawKv): KeyValue {
  const kv: KeyValue = {
    key: raw.key.toString(),
    value: raw.value.toString(),
    createRevision: raw.create_revision,
    modRevision: raw.mod_revision,
  };
  if (raw.lease !== '0') kv.lease = raw.lease;
  return kv;
}

/** etcd's exclusive range end for "every key starting with prefix". */
export function prefixEnd(prefix: string): Buffer {
  const b = Buffer.from(prefix);
  for (let i = b.length - 1; i >= 0; i--) {
    if (b[i]! < 0xff) {
      const end = Buffer.from(b.subarray(0, i + 1));
      end[i]! += 1;
      return end;
    }
  }
  return Buffer.from([0]); // empty prefix (or all 0xff): to the end of the keyspace
}

/** Whether an error means "no member answered" (retrying later can work). */
function isUnreachable(err: unknown, msg: string): boolean {
  if (err instanceof GrpcError) {
    const c = err.code;
    if (c === GrpcStatus.UNAVAILABLE || c === GrpcStatus.DEADLINE_EXCEEDED || c === GrpcStatus.CANCELLED) return true;
  }
  // etcd's own "no leader" / "request timed out" / "leader changed" are outages of the cluster, not bad requests.
  return /unavailable|ECONNREFUSED|ECONNRESET|deadline|no leader|request timed out|leader changed/i.test(msg);
}

export function mapError(err: unknown, what: string): StoreError {
  if (err instanceof StoreError) return err;
  const msg = (err as Error)?.message ?? String(err);
  if (/lease not found/.test(msg)) return new StoreError(`${what}: ${msg}`, 'INVALID', { cause: err });
  if (/authentication failed|permission denied|invalid auth token|user name is empty|Unauthenticated/i.test(msg)) {
    return new StoreError(`${what}: etcd refused the credentials: ${msg}`, 'DENIED', { cause: err });
  }
  const tls = explainEtcdTls(msg);
  if (tls) return new StoreError(`${what}: ${tls} [${msg.split('\n')[0]}]`, 'DENIED', { cause: err });
  if (/duplicate key|too many operations/.test(msg)) return new StoreError(`${what}: ${msg}`, 'INVALID', { cause: err });
  if (/compacted/.test(msg)) return new StoreError(`${what}: ${msg}`, 'COMPACTED', { cause: err });
  if (err instanceof ChannelClosedError) return new StoreError(`${what}: ${msg}`, 'CLOSED', { cause: err });
  if (isUnreachable(err, msg)) return new StoreError(`${what}: etcd unreachable: ${msg}`, 'UNAVAILABLE', { cause: err });
  return new StoreError(`${what}: ${msg}`, 'INTERNAL', { cause: err });
}

// Keys and values go to the encoder as strings (written as UTF-8 straight into the request: no Buffer per key).
function toOp(op: TxnOp): RequestOp {
  switch (op.op) {
    case 'put':
      return { request_put: { key: op.key, value: op.value, ...(op.lease !== undefined ? { lease: op.lease } : {}) } };
    case 'delete':
      return { request_delete_range: { key: op.key } };
    case 'deletePrefix':
      return { request_delete_range: { key: op.prefix, range_end: prefixEnd(op.prefix) } };
  }
}

function toCompare(c: Compare) {
  if ('modRevision' in c) return { key: c.key, target: CompareTarget.Mod, result: CompareResult.Equal, mod_revision: c.modRevision };
  // A missing key compares as create revision 0.
  if ('exists' in c) return { key: c.key, target: CompareTarget.Create, result: CompareResult.Greater, create_revision: 0 };
  return { key: c.key, target: CompareTarget.Value, result: CompareResult.Equal, value: c.value };
}

/**
 * How long a keep-alive of a lease of `ttlSeconds` waits for its answer: a third of the TTL (at most the call timeout,
 * at least 500 ms). A member that hangs under the keep-alive stream (stopped, cut off without RST or FIN) then costs
 * one third of the TTL, and the next keep-alive, on another member, still comes within the TTL: with the call timeout
 * (5 s) a 5-s lease lapsed before the first keep-alive on a hung member had even failed.
 */
export function keepAliveDeadlineMs(ttlSeconds: number, callTimeoutMs: number): number {
  return Math.max(500, Math.min(callTimeoutMs, (ttlSeconds * 1000) / 3));
}

/**
 * Keeps one lease alive: a keep-alive every third of its TTL, and a sixth of it after one failed (each waits a third
 * at most: keepAliveDeadlineMs). Lost when etcd answers that the lease is gone, or when no keep-alive got through for
 * a whole TTL (etcd has let it expire, or will: the holder must not count on its keys any more).
 */
class LeaseKeeper {
  private timer: NodeJS.Timeout | undefined;
  private lastOk = Date.now();
  private stopped = false;

  constructor(
    private readonly client: EtcdClient,
    readonly id: string,
    private readonly ttlSeconds: number,
    private readonly deadlineMs: number,
    private readonly lost: (err: Error) => void,
  ) {
    this.schedule();
  }

  private schedule(afterFailure = false): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.tick(), Math.max(200, (this.ttlSeconds * 1000) / (afterFailure ? 6 : 3)));
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    let failed = false;
    try {
      const r = await this.client.lease.keepAliveOnce(this.id, this.deadlineMs);
      if (this.stopped) return;
      if (r.TTL <= 0) return this.lose(new StoreError(`lease ${this.id} not found (expired or revoked)`, 'INVALID'));
      this.lastOk = Date.now();
    } catch (err) {
      if (this.stopped) return;
      const e = mapError(err, 'lease keep-alive');
      if (e.code === 'INVALID') return this.lose(e);
      if (Date.now() - this.lastOk > this.ttlSeconds * 1000) {
        return this.lose(
          new StoreError(`lease ${this.id} expired: no keep-alive reached etcd for ${this.ttlSeconds} s (${e.message})`, 'UNAVAILABLE'),
        );
      }
      failed = true;
    }
    this.schedule(failed);
  }

  private lose(err: Error): void {
    this.stop();
    this.lost(err);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }
}

export class EtcdStore implements Store {
  private closed = false;
  /** The watch streams (each a gRPC Watch stream on the client's connection to its member). */
  private readonly streams: WatchStream[] = [];
  private readonly leases = new Set<LeaseKeeper>();
  private readonly watches = new Set<() => Promise<void>>();
  private readonly logger: Logger;

  constructor(
    readonly url: string,
    readonly client: EtcdClient,
    logger: Logger,
    private readonly watchStreams: number = DEFAULT_WATCH_STREAMS,
  ) {
    this.logger = logger.child({ component: 'store-etcd' });
  }

  private async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    if (this.closed) throw new StoreError('store is closed', 'CLOSED');
    try {
      return await fn();
    } catch (err) {
      const e = mapError(err, what);
      // etcd says only "bad certificate" whatever it disliked about ours: look at it here to say what.
      if (e.code === 'DENIED' && this.certDiagnosis && /refused our client certificate/.test(e.message)) {
        const why = this.certDiagnosis();
        if (why)
          throw new StoreError(e.message.replace('missing, expired, or not signed by a CA etcd trusts', why), 'DENIED', { cause: err });
      }
      throw e;
    }
  }

  /** Says what is wrong with our client certificate when etcd refuses it (set by openEtcdStore). */
  certDiagnosis: (() => string | undefined) | undefined;

  async get(key: string): Promise<KeyValue | undefined> {
    const r = await this.call('get', () => this.client.kv.range({ key: Buffer.from(key) }));
    return r.kvs[0] ? toKv(r.kvs[0]) : undefined;
  }

  async range(prefix: string): Promise<RangeResult> {
    const r = await this.call('range', () => this.client.kv.range({ key: Buffer.from(prefix), range_end: prefixEnd(prefix) }));
    return { kvs: r.kvs.map(toKv), revision: r.header.revision };
  }

  async read(ops: ReadOp[]): Promise<ReadResult> {
    if (ops.length === 0) return { revision: await this.currentRevision(), results: [] };
    // A transaction with no compares and only range requests: etcd serves every range at one revision.
    const success: RequestOp[] = ops.map((op) => ({
      request_range: 'key' in op ? { key: Buffer.from(op.key) } : { key: Buffer.from(op.prefix), range_end: prefixEnd(op.prefix) },
    }));
    const r = await this.call('read', () => this.client.kv.txn({ compare: [], success, failure: [] }, true));
    return { revision: r.header.revision, results: r.responses.map((x) => (x.response_range?.kvs ?? []).map(toKv)) };
  }

  async put(key: string, value: string, opts?: { lease?: string }): Promise<number> {
    const r = await this.call('put', () =>
      this.client.kv.put({ key: Buffer.from(key), value: Buffer.from(value), ...(opts?.lease !== undefined ? { lease: opts.lease } : {}) }),
    );
    return r.header.revision;
  }

  async delete(key: string): Promise<number> {
    const r = await this.call('delete', () => this.client.kv.deleteRange({ key: Buffer.from(key) }));
    return r.header.revision;
  }

  async txn(compares: Compare[], success: TxnOp[], failure: TxnOp[] = []): Promise<TxnResult> {
    const r = await this.call('txn', () =>
      this.client.kv.txn({ compare: compares.map(toCompare), success: success.map(toOp), failure: failure.map(toOp) }),
    );
    return { succeeded: r.succeeded, revision: r.header.revision };
  }

  watch(prefix: string, fromRevision: number | undefined, handlers: WatchHandlers): Watch {
    if (this.closed) throw new StoreError('store is closed', 'CLOSED');
    const w = new EtcdWatch(prefix, fromRevision, handlers, this.logger);
    const remove = this.watchStream().add(w);
    const cancel = async (): Promise<void> => {
      w.stop();
      this.watches.delete(cancel);
      await remove();
    };
    this.watches.add(cancel);
    return { cancel };
  }

  /**
   * The least loaded watch stream. etcd queues the responses of all the watches of one gRPC Watch stream in one
   * buffer of 128 (mvcc's chanBufLen) drained by one sender; when a change fans out to more watches of a stream
   * than that sender keeps up with, the buffer fills, the watches that did not fit become "slow watchers", and
   * etcd catches them up from its backend every 100 ms: the tail of the latency. Spreading the watches over a
   * few streams (on the same HTTP/2 connection) gives each stream its own buffer and sender.
   */
  private watchStream(): WatchStream {
    let best: WatchStream | undefined;
    for (const s of this.streams) if (!best || s.size < best.size) best = s;
    if (!best || (best.size > 0 && this.streams.length < this.watchStreams)) {
      best = new WatchStream(this.client, this.logger);
      this.streams.push(best);
    }
    return best;
  }

  async grantLease(ttlSeconds: number, opts: GrantOptions = {}): Promise<Lease> {
    const r = await this.call('grantLease', () => this.client.lease.grant(ttlSeconds));
    if (r.error) throw new StoreError(`grantLease: ${r.error}`, 'INVALID');
    const id = r.ID;
    const deadline = keepAliveDeadlineMs(ttlSeconds, this.client.opts.callTimeoutMs);
    let keeper: LeaseKeeper | undefined;
    if (opts.keepAlive !== false) {
      keeper = new LeaseKeeper(this.client, id, ttlSeconds, deadline, (err) => {
        this.leases.delete(keeper!);
        this.logger.warn({ err, lease: id }, 'etcd lease lost');
        opts.onLost?.(err);
      });
      this.leases.add(keeper);
    }
    return {
      id,
      ttlSeconds,
      keepAliveOnce: async () => {
        const k = await this.call('keepAlive', () => this.client.lease.keepAliveOnce(id, deadline));
        if (k.TTL <= 0) throw new StoreError(`lease ${id} not found (expired or revoked)`, 'INVALID');
      },
      revoke: async () => {
        if (keeper) {
          keeper.stop();
          this.leases.delete(keeper);
        }
        await this.call('revoke', () => this.client.lease.revoke(id));
      },
    };
  }

  /** The etcd release of the member this store talks to ("3.4.23"; Maintenance.Status). */
  async serverVersion(): Promise<string> {
    return this.call('serverVersion', async () => (await this.client.maintenance.status()).version);
  }

  /**
   * Warns (once per call) when the member runs an etcd release whose write transactions are slow
   * (etcd-server-version.ts); resolves with the warning, or undefined. Never fails: a member that does not answer
   * is not this check's business.
   */
  async warnIfSlowRelease(): Promise<string | undefined> {
    let version: string;
    try {
      version = await this.serverVersion();
    } catch {
      return undefined;
    }
    if (!copiesWriteBufferPerTxn(version)) return undefined;
    const warning = slowTxnWarning(version, this.url);
    this.logger.warn({ etcdVersion: version }, warning);
    return warning;
  }

  async currentRevision(): Promise<number> {
    // Any range carries the store revision in its header; probe a key wyvern's role may read
    // (with auth on, a user is usually granted /wyvern/ only), else ask the member's status.
    return this.call('currentRevision', async () => {
      try {
        return (await this.client.kv.range({ key: Buffer.from('/wyvern/v1/'), count_only: true })).header.revision;
      } catch (err) {
        if (!/permission denied/i.test((err as Error).message)) throw err;
        return (await this.client.maintenance.status()).header.revision;
      }
    });
  }

  /**
   * Compacts history before `revision + 1`, so (like the memory store) revision itself is gone —
   * except the current revision, which etcd always keeps readable.
   */
  async compact(revision: number): Promise<void> {
    const target = Math.min(revision + 1, await this.currentRevision());
    await this.call('compact', () => this.client.kv.compact({ revision: target, physical: true }));
  }

  /** Another client of the same cluster (tests: closing it lets its leases expire by TTL). */
  connect(): EtcdStore {
    const s = new EtcdStore(this.url, new EtcdClient(this.client.opts), this.logger, this.watchStreams);
    s.certDiagnosis = this.certDiagnosis;
    return s;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // Stop keep-alives without revoking: the leases then expire by TTL, as for a crashed holder.
    for (const l of this.leases) l.stop();
    this.leases.clear();
    await Promise.all([...this.watches].map((cancel) => cancel().catch(() => undefined)));
    this.watches.clear();
    for (const s of this.streams) s.close();
    this.client.close();
  }
}

const pem = (v: string | Buffer | undefined): Buffer | undefined => (v === undefined ? undefined : Buffer.isBuffer(v) ? v : Buffer.from(v));

/** How long after a store opens it asks which etcd release the member runs (EtcdStore.warnIfSlowRelease). */
const SLOW_RELEASE_CHECK_MS = 1000;

export async function openEtcdStore(url: string, u: Extract<StoreUrl, { kind: 'etcd' }>, opts: EtcdStoreOptions = {}): Promise<EtcdStore> {
  const logger = opts.logger ?? silentLogger;
  const timeout = opts.callTimeoutMs ?? 5000;
  const options: EtcdClientOptions = { endpoints: u.endpoints, callTimeoutMs: timeout, connectTimeoutMs: timeout };
  if (u.tls) {
    const ca = pem(opts.tls?.ca);
    if (!ca) throw new StoreError(`${maskUrl(url)}: etcds:// needs a CA certificate (tls.ca; the agent's store-ca)`, 'BAD_URL');
    options.tls = { ca, ...(opts.tls?.key ? { key: pem(opts.tls.key)! } : {}), ...(opts.tls?.cert ? { cert: pem(opts.tls.cert)! } : {}) };
  }
  const username = opts.username ?? u.username;
  const password = opts.password ?? u.password;
  if (username !== undefined) Object.assign(options, { username, password: password ?? '' });
  // Never show a password in the URL the store reports (it ends up in logs).
  const shown = maskUrl(url);
  const streams = opts.watchStreams ?? DEFAULT_WATCH_STREAMS;
  if (!Number.isInteger(streams) || streams < 1) throw new StoreError(`watchStreams must be a positive integer, not ${streams}`, 'INVALID');
  const store = new EtcdStore(shown, new EtcdClient(options), logger, streams);
  if (u.tls) store.certDiagnosis = () => diagnoseClientCert(opts.tls?.cert, opts.tls?.ca);
  // Which release the member runs, a second later: off an agent's start path (its first flows come first). Not asked
  // for a logger that would not say it (tools, tests, the scale harness's many stores).
  if (logger.isLevelEnabled('warn')) setTimeout(() => void store.warnIfSlowRelease(), SLOW_RELEASE_CHECK_MS).unref();
  if (opts.probe === false) return store;
  // Fail fast with UNAVAILABLE rather than on first use.
  try {
    await store.currentRevision();
  } catch (err) {
    await store.close();
    throw err;
  }
  return store;
}
