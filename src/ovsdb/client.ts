import { EventEmitter } from 'node:events';
import { silentLogger, type Logger } from '../util/log.js';
import { OvsdbError } from './errors.js';
import { type Endpoint, type TlsFiles, connectError, isTlsFailure, openStream, parseEndpoint } from './transport.js';
import { JsonRpcSession } from './rpc.js';
import { type DbSchema, parseSchema } from './schema.js';
import { type Condition, type Operation, type OperationResult, decodeResults, encodeOperation, encodeWhereFor } from './operations.js';
import { MonitoredDb, type MonitorSpec } from './monitor.js';
import { backoffDelay } from '../util/backoff.js';

export interface OvsdbClientOptions {
  tls?: TlsFiles;
  logger?: Logger;
  /** Reconnect after a drop with exponential backoff (true = 100 ms .. 5 s). Default true. */
  reconnect?: boolean | { minMs: number; maxMs: number };
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
 * Events: 'connected', 'disconnected' (error), 'reconnected', 'update2' (monitorId, updates),
 * 'update3' (monitorId, lastTxnId, updates).
 */
export class OvsdbClient extends EventEmitter {
  private session?: JsonRpcSession;
  private readonly schemas = new Map<string, Promise<DbSchema>>();
  private closing = false;
  private nextMonitor = 1;
  private reconnectTimer?: NodeJS.Timeout;
  readonly endpoint: Endpoint;
  readonly log: Logger;

  private constructor(endpoint: string, private readonly opts: OvsdbClientOptions) {
    super();
    this.endpoint = parseEndpoint(endpoint);
    this.log = (opts.logger ?? silentLogger).child({ component: 'ovsdb', endpoint });
  }

  /** Connects and proves the session with an echo round trip (a TLS peer that refuses us fails here). */
  static async connect(endpoint: string, opts: OvsdbClientOptions = {}): Promise<OvsdbClient> {
    const c = new OvsdbClient(endpoint, opts);
    const deadline = Date.now() + (opts.initialRetryMs ?? 0);
    for (let attempt = 0; ; attempt++) {
      try {
        await c.open();
        return c;
      } catch (e) {
        // Waiting does not fix certificates: a TLS refusal ends the wait at once.
        if (Date.now() >= deadline || isTlsFailure(e)) throw e;
        c.log.debug({ err: (e as Error).message, attempt }, 'first connect failed; retrying');
        await new Promise((r) => setTimeout(r, Math.min(c.backoff(attempt), Math.max(1, deadline - Date.now()))));
      }
    }
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
    this.emit('connected');
  }

  private onClose(s: JsonRpcSession, err: Error): void {
    if (this.session !== s) return;
    this.schemas.clear(); // a restarted server may run a converted database
    this.log.info({ err: err.message }, 'ovsdb session closed');
    this.emit('disconnected', err);
    if (!this.closing && this.opts.reconnect !== false) this.scheduleReconnect(0);
  }

  /** Exponential backoff with jitter (many agents, one restarted server). */
  private backoff(attempt: number): number {
    const r = typeof this.opts.reconnect === 'object' ? this.opts.reconnect : { minMs: 100, maxMs: 5000 };
    return backoffDelay(attempt, { minMs: r.minMs, maxMs: r.maxMs, keep: 0.5 });
  }

  private scheduleReconnect(attempt: number): void {
    const delay = this.backoff(attempt);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (this.closing) return;
      this.open().then(
        () => {
          if (this.closing) this.session?.close(); // close() ran while we were connecting
          else this.emit('reconnected');
        },
        (e: Error) => {
          this.log.debug({ err: e.message, attempt }, 'reconnect failed');
          this.scheduleReconnect(attempt + 1);
        },
      );
    }, delay);
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
        throw new OvsdbError('transaction', `operation ${i}${op ? ` (${op})` : ''} failed: ${e.error}${e.details ? `: ${e.details}` : ''}`, extra);
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
    const s = this.session;
    if (s?.isOpen) {
      const closed = new Promise<void>((r) => s.once('close', () => r()));
      s.close();
      await closed;
    }
    this.session = undefined;
  }
}
