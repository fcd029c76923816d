import { EventEmitter } from 'node:events';
import { Backoff } from '../util/backoff.js';
import { silentLogger, type Logger } from '../util/log.js';
import { NET_RECONNECT, UNIX_RECONNECT, watchSocket, type DirWatchFn } from '../util/socket-watch.js';
import { OvsdbError } from './errors.js';
import { type Endpoint, type TlsFiles, connectError, describe, isTlsFailure, openStream, parseEndpoint } from './transport.js';
import { JsonRpcSession } from './rpc.js';
import { type DbSchema, parseSchema } from './schema.js';
import { type Condition, type Operation, type OperationResult, decodeResults, encodeOperation, encodeWhereFor } from './operations.js';
import { MonitoredDb, type MonitorSpec } from './monitor.js';

export interface OvsdbClientOptions {
  tls?: TlsFiles;
  logger?: Logger;
  /**
   * Reconnect after a drop with exponential backoff. Default true: unix 50–250 ms (and the socket's directory
   * is watched, so a restarted ovsdb-server is reached as soon as it binds), tcp/ssl 100 ms–1 s.
   */
  reconnect?: boolean | { minMs: number; maxMs: number };
  /** For unix endpoints: watch the socket's directory while reconnecting (default on); a function replaces fs.watch. */
  watchSocket?: boolean | DirWatchFn;
  /** Send an echo after this much silence and drop the session after twice as much. 0 = off. Default 5000. */
  probeIntervalMs?: number;
  connectTimeoutMs?: number;
  /** Keep retrying the first connection (with the reconnect backoff) for up to this long, for an
   *  agent that may start before ovsdb-server. Default 0: the first failure rejects. */
  initialRetryMs?: number;
}

/** One table's monitor_cond request (RFC 7047 §4.1.5 with the OVS condition extension). */
export interface MonitorCondRequest {
  columns?: readonly string[];
  where?: readonly Condition[];
  select?: { initial?: boolean; insert?: boolean; delete?: boolean; modify?: boolean };
}
export type MonitorCondRequests = Record<string, MonitorCondRequest | MonitorCondRequest[]>;
/** Wire table-updates2: { table: { uuid: { initial|insert|modify: row } | { delete: null } } } */
export type TableUpdates2 = Record<string, Record<string, Record<string, unknown>>>;

export const ZERO_TXN_ID = '00000000-0000-0000-0000-000000000000';

/**
 * OVSDB (RFC 7047) client over unix:, tcp: or ssl:. Requests made while disconnected reject with
 * OvsdbError('not-connected'); in-flight ones reject with 'disconnected' (transactions are not
 * replayed: the caller decides, since only it knows whether its operations are idempotent).
 * Events: 'connected', 'disconnected' (error), 'reconnected', 'connectError' (error, a failed background
 * attempt), 'update2' (monitorId, updates),
 * 'update3' (monitorId, lastTxnId, updates).
 */
export class OvsdbClient extends EventEmitter {
  private session?: JsonRpcSession;
  private readonly schemas = new Map<string, Promise<DbSchema>>();
  private closing = false;
  private nextMonitor = 1;
  private reconnectTimer?: NodeJS.Timeout;
  private readonly backoff: Backoff;
  private socketWatch?: { close(): void };
  private wokenDuringAttempt = false;
  private everConnected = false;
  private lastError?: Error;
  readonly endpoint: Endpoint;
  readonly log: Logger;

  private constructor(
    endpoint: string,
    private readonly opts: OvsdbClientOptions,
  ) {
    super();
    this.endpoint = parseEndpoint(endpoint);
    this.log = (opts.logger ?? silentLogger).child({ component: 'ovsdb', endpoint });
    const r = typeof opts.reconnect === 'object' ? opts.reconnect : undefined;
    this.backoff = new Backoff(r ?? (this.endpoint.kind === 'unix' ? UNIX_RECONNECT : NET_RECONNECT));
  }

  /**
   * Returns at once and connects in the background, retrying until it succeeds and reconnecting after drops
   * (whatever `reconnect` says) until close(): for an agent that must keep running while ovsdb-server is
   * absent. 'connected' marks each session; requests before the first reject with 'not-connected'.
   */
  static create(endpoint: string, opts: OvsdbClientOptions = {}): OvsdbClient {
    const c = new OvsdbClient(endpoint, { ...opts, reconnect: opts.reconnect === false ? true : opts.reconnect });
    c.scheduleReconnect(0);
    return c;
  }

  /** Connects and proves the session with an echo round trip (a TLS peer that refuses us fails here). */
  static async connect(endpoint: string, opts: OvsdbClientOptions = {}): Promise<OvsdbClient> {
    if (!opts.initialRetryMs) {
      const c = new OvsdbClient(endpoint, opts);
      await c.open();
      return c;
    }
    const c = OvsdbClient.create(endpoint, opts);
    if (c.connected) return c;
    let timer: NodeJS.Timeout | undefined;
    const ok = await new Promise<boolean>((resolve) => {
      c.once('connected', () => resolve(true));
      // Waiting does not fix certificates: a TLS refusal ends the wait at once.
      c.on('connectError', (e: Error) => {
        if (isTlsFailure(e)) resolve(false);
      });
      timer = setTimeout(() => resolve(false), opts.initialRetryMs);
    });
    clearTimeout(timer);
    if (ok) {
      // Back to the caller's choice for later drops.
      c.opts.reconnect = opts.reconnect;
      return c;
    }
    const err = c.lastError ?? new OvsdbError('not-connected', `connect to ${describe(c.endpoint)}: timed out`);
    await c.close();
    throw err;
  }

  get connected(): boolean {
    return this.session?.isOpen ?? false;
  }

  private async open(): Promise<void> {
    const sock = await openStream(this.endpoint, this.opts.tls, this.opts.connectTimeoutMs ?? 5000);
    const s = new JsonRpcSession(sock, this.log, this.opts.probeIntervalMs ?? 5000);
    s.on('notification', (method: string, params: unknown[]) => this.onNotification(method, params));
    this.session = s;
    let closeErr: Error | undefined;
    const early = (e: Error) => (closeErr = e);
    s.once('close', early);
    try {
      await s.request('echo', ['wyvern-hello']).result;
    } catch (e) {
      throw closeErr ? connectError(this.endpoint, closeErr) : e;
    }
    s.off('close', early);
    s.once('close', (e: Error) => this.onClose(s, e));
    this.log.debug('connected');
    this.everConnected = true;
    this.emit('connected');
  }

  private onClose(s: JsonRpcSession, err: Error): void {
    if (this.session !== s) return;
    this.schemas.clear(); // a restarted server may run a converted database
    this.log.info({ err: err.message }, 'ovsdb session closed');
    this.emit('disconnected', err);
    if (!this.closing && this.opts.reconnect !== false) this.scheduleReconnect(0);
  }

  /** The next attempt after `delayMs` (backoff with jitter: many agents, one restarted server), or sooner on a socket event. */
  private scheduleReconnect(delayMs: number): void {
    if (this.closing || this.reconnectTimer) return;
    this.reconnectTimer = setTimeout(() => this.attempt(), delayMs);
    const w = this.opts.watchSocket ?? true;
    if (!this.socketWatch && w !== false && this.endpoint.kind === 'unix') {
      this.socketWatch = watchSocket(this.endpoint.path, () => this.wake(), typeof w === 'function' ? w : undefined);
    }
  }

  private wake(): void {
    if (this.closing || this.connected) return;
    this.backoff.reset();
    if (!this.reconnectTimer) {
      this.wokenDuringAttempt = true; // an attempt is in flight: if it fails, try again at once
      return;
    }
    this.attempt();
  }

  private attempt(): void {
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    if (this.closing) return;
    const reconnect = this.everConnected;
    this.open().then(
      () => {
        this.socketWatch?.close();
        this.socketWatch = undefined;
        this.wokenDuringAttempt = false;
        this.backoff.reset();
        this.lastError = undefined;
        if (this.closing)
          this.session?.close(); // close() ran while we were connecting
        else if (reconnect) this.emit('reconnected');
      },
      (e: Error) => {
        this.lastError = e;
        this.log.debug({ err: e.message, attempt: this.backoff.attempts }, 'connect failed');
        if (this.listenerCount('connectError') > 0) this.emit('connectError', e);
        const woken = this.wokenDuringAttempt;
        this.wokenDuringAttempt = false;
        this.scheduleReconnect(woken ? 0 : this.backoff.next());
      },
    );
  }

  private onNotification(method: string, params: unknown[]): void {
    if (method === 'update2') this.emit('update2', params[0], params[1]);
    else if (method === 'update3') this.emit('update3', params[0], params[1], params[2]);
    else if (method === 'update') this.emit('update', params[0], params[1]);
    else if (method === 'locked' || method === 'stolen') this.emit(method, params[0]);
    else this.log.debug({ method }, 'ovsdb: ignored notification');
  }

  /** Low-level request; the id is what `cancel` takes. */
  request(method: string, params: unknown[]): { id: number; result: Promise<unknown> } {
    const s = this.session;
    if (!s || !s.isOpen) {
      return { id: -1, result: Promise.reject(new OvsdbError('not-connected', `${method}: not connected`, { method })) };
    }
    return s.request(method, params);
  }

  private call(method: string, params: unknown[]): Promise<unknown> {
    return this.request(method, params).result;
  }

  async listDbs(): Promise<string[]> {
    return (await this.call('list_dbs', [])) as string[];
  }

  /** The database's schema (cached for the session). */
  getSchema(db: string): Promise<DbSchema> {
    let p = this.schemas.get(db);
    if (!p) {
      p = this.call('get_schema', [db]).then(parseSchema);
      p.catch(() => this.schemas.delete(db));
      this.schemas.set(db, p);
    }
    return p;
  }

  /**
   * Runs a transaction. Operations are checked against the schema first; a failed operation
   * throws OvsdbError('transaction') with opIndex, error and details. `signal` sends RFC 7047
   * `cancel` (useful for a `wait` with a long timeout).
   */
  async transact(db: string, ops: readonly Operation[], o: { signal?: AbortSignal } = {}): Promise<OperationResult[]> {
    const schema = await this.getSchema(db);
    const wire = ops.map((op, i) => encodeOperation(op, schema, i));
    const { id, result } = this.request('transact', [db, ...wire]);
    const onAbort = () => this.cancel(id);
    o.signal?.addEventListener('abort', onAbort, { once: true });
    let raw: unknown;
    try {
      raw = await result;
    } finally {
      o.signal?.removeEventListener('abort', onAbort);
    }
    if (!Array.isArray(raw)) throw new OvsdbError('protocol', 'transact: reply is not an array');
    raw.forEach((r, i) => {
      if (r && typeof r === 'object' && 'error' in r) {
        const e = r as { error: string; details?: string };
        const op = i < ops.length ? ops[i]!.op : undefined;
        const extra: OvsdbError['extra'] = { opIndex: i, error: e.error };
        if (op) extra.op = op;
        if (e.details) extra.details = e.details;
        throw new OvsdbError(
          'transaction',
          `operation ${i}${op ? ` (${op})` : ''} failed: ${e.error}${e.details ? `: ${e.details}` : ''}`,
          extra,
        );
      }
    });
    return decodeResults(ops, raw, schema);
  }

  /** RFC 7047 §4.1.4: asks the server to abandon an outstanding request (e.g. a blocked wait). */
  cancel(requestId: number): void {
    // ovsdb-server drops a cancelled request without replying, so stop waiting locally.
    this.session?.notify('cancel', [requestId]);
    this.session?.abandon(requestId, new OvsdbError('canceled', `request ${requestId} canceled`, { error: 'canceled' }));
  }

  async echo(...params: unknown[]): Promise<unknown[]> {
    return (await this.call('echo', params)) as unknown[];
  }

  async lock(id: string): Promise<boolean> {
    return ((await this.call('lock', [id])) as { locked: boolean }).locked;
  }
  async steal(id: string): Promise<void> {
    await this.call('steal', [id]);
  }
  async unlock(id: string): Promise<void> {
    await this.call('unlock', [id]);
  }

  /** A fresh monitor id, unique within this client. */
  newMonitorId(): string {
    return `wyvern-mon-${this.nextMonitor++}`;
  }

  private async encodeRequests(db: string, reqs: MonitorCondRequests): Promise<Record<string, unknown>> {
    const schema = await this.getSchema(db);
    const out: Record<string, unknown> = {};
    for (const [table, r] of Object.entries(reqs)) {
      out[table] = (Array.isArray(r) ? r : [r]).map((x) => {
        const w: Record<string, unknown> = {};
        if (x.columns) w.columns = [...x.columns];
        if (x.where) w.where = encodeWhereFor(schema, table, x.where);
        if (x.select) w.select = x.select;
        return w;
      });
    }
    return out;
  }

  /** monitor_cond: resolves with the initial contents; changes arrive as 'update2' events. */
  async monitorCond(db: string, monitorId: string, reqs: MonitorCondRequests): Promise<TableUpdates2> {
    return (await this.call('monitor_cond', [db, monitorId, await this.encodeRequests(db, reqs)])) as TableUpdates2;
  }

  /** monitor_cond_since: changes since `lastTxnId` when the server still has them ('update3' events follow). */
  async monitorCondSince(
    db: string,
    monitorId: string,
    reqs: MonitorCondRequests,
    lastTxnId: string = ZERO_TXN_ID,
  ): Promise<{ found: boolean; lastTxnId: string; updates: TableUpdates2 }> {
    const r = (await this.call('monitor_cond_since', [db, monitorId, await this.encodeRequests(db, reqs), lastTxnId])) as [
      boolean,
      string,
      TableUpdates2,
    ];
    return { found: r[0], lastTxnId: r[1], updates: r[2] };
  }

  async monitorCancel(monitorId: string): Promise<void> {
    await this.call('monitor_cancel', [monitorId]);
  }

  /** A replica of the given tables/columns that follows changes and survives reconnects. */
  async monitor(db: string, spec: MonitorSpec): Promise<MonitoredDb> {
    const m = new MonitoredDb(this, db, spec);
    await m.start();
    return m;
  }

  async close(): Promise<void> {
    this.closing = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    this.socketWatch?.close();
    this.socketWatch = undefined;
    const s = this.session;
    if (s?.isOpen) {
      const closed = new Promise<void>((r) => s.once('close', () => r()));
      s.close();
      await closed;
    }
    this.session = undefined;
  }
}
