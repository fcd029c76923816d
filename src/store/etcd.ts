/**
 * etcd driver over the `etcd3` gRPC client. The Store contract is etcd's own model, so calls map
 * 1:1 onto KV.Range/Put/DeleteRange/Txn, Watch and Lease. What this module adds is watch hygiene
 * (see etcd-watch.ts) and error mapping to StoreError codes.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { circuitBreaker, ConsecutiveBreaker, ExponentialBackoff, handleWhen, type IPolicy } from 'cockatiel';
import {
  ClientClosedError,
  Etcd3,
  EtcdLeaseInvalidError,
  GRPCDeadlineExceededError,
  GRPCUnavailableError,
  isRecoverableError,
  type IOptions,
  type Lease as EtcdLease,
  type Namespace,
} from 'etcd3';
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

type RawKv = { key: Buffer; value: Buffer; create_revision: string; mod_revision: string; lease: string };

export function toKv(raw: RawKv): KeyValue {
  const kv: KeyValue = {
    key: raw.key.toString(),
    value: raw.value.toString(),
    createRevision: Number(raw.create_revision),
    modRevision: Number(raw.mod_revision),
  };
  if (raw.lease && raw.lease !== '0') kv.lease = String(raw.lease);
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

/**
 * Whether an etcd3 error means "no member answered" (retrying later can work). etcd3 wraps each host
 * in a cockatiel circuit breaker: after three failed calls it stops dialling for a few seconds and
 * every call fails with BrokenCircuitError ("Execution prevented because the circuit breaker is
 * open"), which is not a gRPC error at all — recognised by the marker property cockatiel's own
 * isBrokenCircuitError tests (cockatiel is etcd3's dependency, not ours). The errors etcd3 itself
 * flags as recoverable (unavailable, cancelled, internal/unknown transport faults) are outages too.
 */
function isUnreachable(err: unknown, msg: string): boolean {
  if (err instanceof Error && ('isBrokenCircuitError' in err || isRecoverableError(err))) return true;
  if (err instanceof GRPCUnavailableError || err instanceof GRPCDeadlineExceededError) return true;
  return /unavailable|ECONNREFUSED|ECONNRESET|deadline|No connection|circuit breaker is open/i.test(msg);
}

export function mapError(err: unknown, what: string): StoreError {
  if (err instanceof StoreError) return err;
  const msg = (err as Error)?.message ?? String(err);
  if (err instanceof EtcdLeaseInvalidError || /lease not found/.test(msg))
    return new StoreError(`${what}: ${msg}`, 'INVALID', { cause: err });
  if (/authentication failed|permission denied|invalid auth token|user name is empty|Unauthenticated/i.test(msg)) {
    return new StoreError(`${what}: etcd refused the credentials: ${msg}`, 'DENIED', { cause: err });
  }
  const tls = explainEtcdTls(msg);
  if (tls) return new StoreError(`${what}: ${tls} [${msg.split('\n')[0]}]`, 'DENIED', { cause: err });
  if (/duplicate key/.test(msg)) return new StoreError(`${what}: ${msg}`, 'INVALID', { cause: err });
  if (/compacted/.test(msg)) return new StoreError(`${what}: ${msg}`, 'COMPACTED', { cause: err });
  if (isUnreachable(err, msg)) return new StoreError(`${what}: etcd unreachable: ${msg}`, 'UNAVAILABLE', { cause: err });
  if (err instanceof ClientClosedError) return new StoreError(`${what}: ${msg}`, 'CLOSED', { cause: err });
  return new StoreError(`${what}: ${msg}`, 'INTERNAL', { cause: err });
}

function toOp(op: TxnOp): object {
  switch (op.op) {
    case 'put':
      return {
        request_put: { key: Buffer.from(op.key), value: Buffer.from(op.value), ...(op.lease !== undefined ? { lease: op.lease } : {}) },
      };
    case 'delete':
      return { request_delete_range: { key: Buffer.from(op.key), prev_kv: false } };
    case 'deletePrefix':
      return { request_delete_range: { key: Buffer.from(op.prefix), range_end: prefixEnd(op.prefix) } };
  }
}

function toCompare(c: Compare): object {
  if ('modRevision' in c) return { key: Buffer.from(c.key), target: 'Mod', result: 'Equal', mod_revision: c.modRevision };
  return { key: Buffer.from(c.key), target: 'Value', result: 'Equal', value: Buffer.from(c.value) };
}

export class EtcdStore implements Store {
  private closed = false;
  /**
   * Watches run on a client of their own: its watch stream is renewed as a whole when etcd refuses the token
   * it was opened with, which etcd3 does not do by itself (it renews tokens for unary calls only).
   */
  private watchClient: Etcd3 | undefined;
  private watchClientBorn = 0;
  /** The watch client's streams (etcd3 namespaces, each with a gRPC Watch stream of its own) and their watch counts. */
  private streams = new Map<Namespace, number>();
  private readonly leases = new Set<EtcdLease>();
  private readonly watches = new Set<EtcdWatch>();
  private readonly logger: Logger;

  constructor(
    readonly url: string,
    readonly client: Etcd3,
    logger: Logger,
    /** Options to open further clients of the same cluster (tests: connect()). */
    private readonly clientOptions: IOptions,
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
    return { kvs: r.kvs.map(toKv), revision: Number(r.header.revision) };
  }

  async read(ops: ReadOp[]): Promise<ReadResult> {
    if (ops.length === 0) return { revision: await this.currentRevision(), results: [] };
    // A transaction with no compares and only range requests: etcd serves every range at one revision.
    const r = await this.call('read', () =>
      this.client.kv.txn({
        compare: [],
        success: ops.map((op) => ({
          request_range: 'key' in op ? { key: Buffer.from(op.key) } : { key: Buffer.from(op.prefix), range_end: prefixEnd(op.prefix) },
        })),
        failure: [],
      } as never),
    );
    const responses = (r as unknown as { responses: { response_range: { kvs: RawKv[] } }[] }).responses;
    return { revision: Number(r.header.revision), results: responses.map((x) => x.response_range.kvs.map(toKv)) };
  }

  async put(key: string, value: string, opts?: { lease?: string }): Promise<number> {
    const r = await this.call('put', () =>
      this.client.kv.put({ key: Buffer.from(key), value: Buffer.from(value), ...(opts?.lease !== undefined ? { lease: opts.lease } : {}) }),
    );
    return Number(r.header.revision);
  }

  async delete(key: string): Promise<number> {
    const r = await this.call('delete', () => this.client.kv.deleteRange({ key: Buffer.from(key) }));
    return Number(r.header.revision);
  }

  async txn(compares: Compare[], success: TxnOp[], failure: TxnOp[] = []): Promise<TxnResult> {
    const r = await this.call('txn', () =>
      this.client.kv.txn({ compare: compares.map(toCompare), success: success.map(toOp), failure: failure.map(toOp) } as never),
    );
    return { succeeded: r.succeeded, revision: Number(r.header.revision) };
  }

  watch(prefix: string, fromRevision: number | undefined, handlers: WatchHandlers): Watch {
    if (this.closed) throw new StoreError('store is closed', 'CLOSED');
    this.watchClient ??= new Etcd3(this.clientOptions);
    const client = this.watchClient;
    const stream = this.watchStream(client);
    const w = new EtcdWatch(client, stream, prefix, fromRevision, handlers, this.logger, () => this.renewWatchClient());
    this.watches.add(w);
    let released = false;
    return {
      cancel: async () => {
        this.watches.delete(w);
        if (!released && this.watchClient === client) this.streams.set(stream, (this.streams.get(stream) ?? 1) - 1);
        released = true;
        await w.cancel();
      },
    };
  }

  /**
   * The least loaded of the watch client's streams. etcd queues the responses of all the watches of one gRPC
   * Watch stream in one buffer of 128 (mvcc's chanBufLen) drained by one sender; when a change fans out to more
   * watches of a stream than that sender keeps up with, the buffer fills, the watches that did not fit become
   * "slow watchers", and etcd catches them up from its backend every 100 ms: the tail of the latency. Each
   * etcd3 namespace has a stream of its own (on the same HTTP/2 connection), so spreading the watches over a
   * few of them gives each stream its own buffer and sender — and lets their creations proceed in parallel,
   * since etcd3 attaches the watches of one stream one at a time.
   */
  private watchStream(client: Etcd3): Namespace {
    let best: Namespace | undefined;
    let least = Infinity;
    for (const [ns, n] of this.streams) {
      if (n < least) [best, least] = [ns, n];
    }
    if (!best || (least > 0 && this.streams.size < this.watchStreams)) {
      // The client itself is the first stream; further ones are namespaces with no prefix (keys unchanged).
      best = this.streams.size === 0 ? client : client.namespace('');
      least = 0;
    }
    this.streams.set(best, least + 1);
    return best;
  }

  /** A fresh watch client (fresh token, fresh stream), and every watch of the old one moves to it. */
  private renewWatchClient(): void {
    if (this.closed || Date.now() - this.watchClientBorn < 1000) return;
    const old = this.watchClient;
    this.watchClient = new Etcd3(this.clientOptions);
    this.streams = new Map();
    this.watchClientBorn = Date.now();
    if (!old) return;
    const err = new StoreError('etcd refused the watch token; watching again with a new one', 'UNAVAILABLE');
    for (const w of this.watches) if (w.runsOn(old)) w.failOver(err);
    // Later: cancellations of the old client's watches are still in flight.
    setTimeout(() => old.close(), 5000).unref();
  }

  async grantLease(ttlSeconds: number, opts: GrantOptions = {}): Promise<Lease> {
    const lease = this.client.lease(ttlSeconds, { autoKeepAlive: opts.keepAlive !== false });
    lease.on('lost', (err: Error) => {
      this.leases.delete(lease);
      this.logger.warn({ err }, 'etcd lease lost');
      opts.onLost?.(err);
    });
    const id = await this.call('grantLease', () => lease.grant());
    this.leases.add(lease);
    return {
      id,
      ttlSeconds,
      keepAliveOnce: async () => {
        const r = await this.call('keepAlive', () => lease.keepaliveOnce());
        if (Number(r.TTL) <= 0) throw new StoreError(`lease ${id} not found (expired or revoked)`, 'INVALID');
      },
      revoke: async () => {
        this.leases.delete(lease);
        await this.call('revoke', () => lease.revoke());
      },
    };
  }

  async currentRevision(): Promise<number> {
    // Any range carries the store revision in its header; probe a key wyvern's role may read
    // (with auth on, a user is usually granted /wyvern/ only), else ask the member's status.
    return this.call('currentRevision', async () => {
      try {
        return Number((await this.client.kv.range({ key: Buffer.from('/wyvern/v1/'), count_only: true })).header.revision);
      } catch (err) {
        if (!/permission denied/i.test((err as Error).message)) throw err;
        return Number((await this.client.maintenance.status()).header.revision);
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
    return new EtcdStore(this.url, new Etcd3(this.clientOptions), this.logger, this.clientOptions, this.watchStreams);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // Stop keep-alives without revoking: the leases then expire by TTL, as for a crashed holder.
    for (const l of this.leases) l.release();
    this.leases.clear();
    await Promise.all([...this.watches].map((w) => w.cancel().catch(() => undefined)));
    this.watches.clear();
    this.watchClient?.close();
    this.client.close();
  }
}

/**
 * A host policy that a call made from inside one of its own executions passes straight through.
 *
 * etcd3 retries a call that etcd refused for an expired auth token (tokens do not survive an etcd restart) by
 * calling itself again *inside* the host policy's execution of the first attempt. When that first attempt is the
 * circuit breaker's half-open probe (the first call after an outage), cockatiel makes every other call wait for
 * the probe to finish — the nested retry included, which the probe is waiting for: the client deadlocked, every
 * unary call hung for good (seen as an agent that never saw the store come back after an etcd restart with auth,
 * a 1-in-10 flake of fault-store-outage under load). The nested call is part of the probe, so it skips the breaker.
 */
export function reentrant(policy: IPolicy): IPolicy {
  const inside = new AsyncLocalStorage<true>();
  return new Proxy(policy, {
    get(target, prop, receiver) {
      if (prop !== 'execute') return Reflect.get(target, prop, receiver);
      return (fn: (ctx: { signal: AbortSignal }) => unknown, signal?: AbortSignal) =>
        inside.getStore()
          ? Promise.resolve().then(() => fn({ signal: signal ?? new AbortController().signal }))
          : inside.run(true, () => target.execute(fn as never, signal));
    },
  });
}

const pem = (v: string | Buffer | undefined): Buffer | undefined => (v === undefined ? undefined : Buffer.isBuffer(v) ? v : Buffer.from(v));

export async function openEtcdStore(url: string, u: Extract<StoreUrl, { kind: 'etcd' }>, opts: EtcdStoreOptions = {}): Promise<EtcdStore> {
  const logger = opts.logger ?? silentLogger;
  const timeout = opts.callTimeoutMs ?? 5000;
  const scheme = u.tls ? 'https' : 'http';
  const options: IOptions = {
    hosts: u.endpoints.map((e) => `${scheme}://${e}`),
    dialTimeout: timeout,
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + timeout }),
    // etcd3's defaults suit a long-lived client of a big cluster, not an agent that must notice a returning
    // store at once: its circuit breaker refuses every call for 5 s after three failures, and its watch
    // stream reconnects with a backoff up to 30 s. A member that is down is still skipped for a second.
    faultHandling: {
      host: () => reentrant(circuitBreaker(handleWhen(isRecoverableError), { halfOpenAfter: 1000, breaker: new ConsecutiveBreaker(3) })),
      // etcd3 takes the backoff factory here (its default is `new ExponentialBackoff()`); its typings say otherwise.
      watchBackoff: new ExponentialBackoff({ initialDelay: 100, maxDelay: 1000 }) as never,
    },
  };
  if (u.tls) {
    const ca = pem(opts.tls?.ca);
    if (!ca) throw new StoreError(`${maskUrl(url)}: etcds:// needs a CA certificate (tls.ca; the agent's store-ca)`, 'BAD_URL');
    options.credentials = {
      rootCertificate: ca,
      ...(opts.tls?.key ? { privateKey: pem(opts.tls.key)! } : {}),
      ...(opts.tls?.cert ? { certChain: pem(opts.tls.cert)! } : {}),
    };
  }
  const username = opts.username ?? u.username;
  const password = opts.password ?? u.password;
  if (username !== undefined) options.auth = { username, password: password ?? '' };
  // Never show a password in the URL the store reports (it ends up in logs).
  const shown = maskUrl(url);
  const streams = opts.watchStreams ?? DEFAULT_WATCH_STREAMS;
  if (!Number.isInteger(streams) || streams < 1) throw new StoreError(`watchStreams must be a positive integer, not ${streams}`, 'INVALID');
  const store = new EtcdStore(shown, new Etcd3(options), logger, options, streams);
  if (u.tls) store.certDiagnosis = () => diagnoseClientCert(opts.tls?.cert, opts.tls?.ca);
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
