import { EventEmitter } from 'node:events';
import { type Atom, type OvsMap, type Row, type Value, atomKey, rowEquals } from './datum.js';
import { OvsdbError } from './errors.js';
import type { Condition } from './operations.js';
import { type DbSchema, type ColumnType, decodeDatum, decodeRow, isScalar, tableOf } from './schema.js';
import type { MonitorCondRequests, OvsdbClient, TableUpdates2 } from './client.js';

/** Tables to replicate: a column list, or columns plus a condition. */
export type MonitorSpec = Record<string, readonly string[] | { columns?: readonly string[]; where?: readonly Condition[] }>;

const ZERO_TXN_ID = '00000000-0000-0000-0000-000000000000';

/**
 * A local replica of monitored tables. Rows are immutable objects (a change replaces the row),
 * so an old row handed to a listener stays valid.
 *
 * Events: 'rowAdded' (table, uuid, row), 'rowChanged' (table, uuid, oldRow, newRow),
 * 'rowRemoved' (table, uuid, row); after a reconnect, the difference between the old replica and
 * the server's current contents as those same events, then 'resync'. 'resyncError' (error) when
 * re-monitoring fails (the next reconnect tries again).
 */
export class MonitoredDb extends EventEmitter {
  private replica = new Map<string, Map<string, Row>>();
  private columns = new Map<string, readonly string[]>();
  private schema?: DbSchema;
  private monitorId?: string;
  private lastTxnId = ZERO_TXN_ID;
  private useSince = true;
  /** Updates that arrive between a monitor request and our handling of its reply. */
  private queued: { txn?: string; updates: TableUpdates2 }[] | null = null;
  private chain: Promise<void> = Promise.resolve();
  private closed = false;
  private readonly onUpdate2 = (id: unknown, u: TableUpdates2) => this.onUpdate(id, u);
  private readonly onUpdate3 = (id: unknown, txn: string, u: TableUpdates2) => this.onUpdate(id, u, txn);
  private readonly onReconnected = () => {
    this.chain = this.chain.then(() => this.resubscribe(true));
  };

  constructor(
    readonly client: OvsdbClient,
    readonly db: string,
    private readonly spec: MonitorSpec,
  ) {
    super();
  }

  /** Subscribes and loads the initial contents. */
  async start(): Promise<void> {
    this.client.on('update2', this.onUpdate2);
    this.client.on('update3', this.onUpdate3);
    this.client.on('reconnected', this.onReconnected);
    const p = this.resubscribe(false);
    this.chain = p.catch(() => undefined);
    try {
      await p;
    } catch (e) {
      await this.close();
      throw e;
    }
  }

  rows(table: string): ReadonlyMap<string, Row> {
    const t = this.replica.get(table);
    if (!t) {
      if (!(table in this.spec)) throw new OvsdbError('schema', `table ${table} is not monitored`);
      return new Map();
    }
    return t;
  }

  row(table: string, uuid: string): Row | undefined {
    return this.replica.get(table)?.get(uuid);
  }

  /** Transaction id of the last change seen (zero when the server does not keep history). */
  get txnId(): string {
    return this.lastTxnId;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.client.off('update2', this.onUpdate2);
    this.client.off('update3', this.onUpdate3);
    this.client.off('reconnected', this.onReconnected);
    if (this.monitorId && this.client.connected) await this.client.monitorCancel(this.monitorId).catch(() => undefined);
  }

  private async resubscribe(isResync: boolean): Promise<void> {
    if (this.closed) return;
    try {
      this.schema = await this.client.getSchema(this.db);
      const reqs: MonitorCondRequests = {};
      for (const [table, s] of Object.entries(this.spec)) {
        const ts = tableOf(this.schema, table);
        const cols =
          (Array.isArray(s) ? s : (s as { columns?: readonly string[] }).columns) ??
          Object.keys(ts.columns).filter((c) => !c.startsWith('_'));
        for (const c of cols) if (!ts.columns[c]) throw new OvsdbError('schema', `no column ${c} in table ${table}`);
        this.columns.set(table, cols);
        const where = Array.isArray(s) ? undefined : (s as { where?: readonly Condition[] }).where;
        reqs[table] = where ? { columns: cols, where } : { columns: cols };
      }
      const id = this.client.newMonitorId();
      this.monitorId = id;
      this.queued = [];
      let found = false;
      let updates: TableUpdates2;
      if (this.useSince) {
        try {
          const r = await this.client.monitorCondSince(this.db, id, reqs, isResync ? this.lastTxnId : ZERO_TXN_ID);
          found = r.found && isResync;
          this.lastTxnId = r.lastTxnId;
          updates = r.updates;
        } catch (e) {
          if (!(e instanceof OvsdbError && e.code === 'rpc' && /unknown method/i.test(e.extra.error ?? ''))) throw e;
          this.useSince = false; // an older server: plain monitor_cond and a diff on resync
          updates = await this.client.monitorCond(this.db, id, reqs);
        }
      } else updates = await this.client.monitorCond(this.db, id, reqs);
      if (found) this.applyUpdates(updates);
      else this.applySnapshot(updates);
      const q = this.queued;
      this.queued = null;
      for (const u of q) this.applyChanges(u.updates, u.txn);
      if (isResync) this.emit('resync', { found });
    } catch (e) {
      this.queued = null;
      if (!isResync) throw e;
      this.client.log.warn({ err: (e as Error).message }, 'ovsdb re-monitor failed');
      this.emit('resyncError', e);
    }
  }

  private onUpdate(id: unknown, updates: TableUpdates2, txn?: string): void {
    if (id !== this.monitorId || this.closed) return;
    if (this.queued) this.queued.push(txn === undefined ? { updates } : { txn, updates });
    else this.applyChanges(updates, txn);
  }

  private applyChanges(updates: TableUpdates2, txn?: string): void {
    if (txn !== undefined) this.lastTxnId = txn;
    this.applyUpdates(updates);
  }

  /** Replaces the replica with a full snapshot and emits exactly the difference. */
  private applySnapshot(updates: TableUpdates2): void {
    const fresh = new Map<string, Map<string, Row>>();
    for (const table of Object.keys(this.spec)) fresh.set(table, new Map());
    for (const [table, rows] of Object.entries(updates)) {
      const t = fresh.get(table);
      if (!t) continue;
      for (const [uuid, ru] of Object.entries(rows)) {
        const r = ru.initial ?? ru.insert;
        if (r) t.set(uuid, this.decode(table, r as Record<string, unknown>));
      }
    }
    const old = this.replica;
    this.replica = fresh;
    for (const [table, t] of fresh) {
      const o = old.get(table) ?? new Map<string, Row>();
      for (const [uuid, row] of o) if (!t.has(uuid)) this.emit('rowRemoved', table, uuid, row);
      for (const [uuid, row] of t) {
        const prev = o.get(uuid);
        if (!prev) this.emit('rowAdded', table, uuid, row);
        else if (!rowEquals(prev, row)) this.emit('rowChanged', table, uuid, prev, row);
        else t.set(uuid, prev); // keep identity of unchanged rows
      }
    }
  }

  private applyUpdates(updates: TableUpdates2): void {
    for (const [table, rows] of Object.entries(updates)) {
      let t = this.replica.get(table);
      if (!t) this.replica.set(table, (t = new Map()));
      for (const [uuid, ru] of Object.entries(rows)) {
        const prev = t.get(uuid);
        if ('delete' in ru) {
          if (prev) {
            t.delete(uuid);
            this.emit('rowRemoved', table, uuid, prev);
          }
        } else if (ru.modify) {
          if (!prev) {
            this.client.log.warn({ table, uuid }, 'ovsdb: modify for unknown row');
            continue;
          }
          const next = this.modify(table, prev, ru.modify as Record<string, unknown>);
          t.set(uuid, next);
          if (!rowEquals(prev, next)) this.emit('rowChanged', table, uuid, prev, next);
        } else {
          const row = this.decode(table, (ru.initial ?? ru.insert) as Record<string, unknown>);
          t.set(uuid, row);
          if (!prev) this.emit('rowAdded', table, uuid, row);
          else if (!rowEquals(prev, row)) this.emit('rowChanged', table, uuid, prev, row);
        }
      }
    }
  }

  private decode(table: string, w: Record<string, unknown>): Row {
    return Object.freeze(decodeRow(this.schema!, table, w, this.columns.get(table))) as Row;
  }

  /** Applies an update2 row diff (RFC 7047 extension in ovsdb-server(7)). */
  private modify(table: string, prev: Row, diff: Record<string, unknown>): Row {
    const ts = tableOf(this.schema!, table);
    const next: Row = { ...prev };
    for (const [c, w] of Object.entries(diff)) {
      const cs = ts.columns[c];
      if (!cs) continue;
      next[c] = applyDiff(prev[c], decodeDatum(w, cs.type), cs.type);
    }
    return Object.freeze(next) as Row;
  }
}

/** Applies one column of an update2 "modify" diff (exported for tests). */
export function applyDiff(old: Value | undefined, d: Value, t: ColumnType): Value {
  if (isScalar(t)) return d;
  if (t.value !== undefined) {
    const m: OvsMap = new Map(old instanceof Map ? old : []);
    const byKey = new Map<string, Atom>();
    for (const k of m.keys()) byKey.set(atomKey(k), k);
    for (const [k, v] of d as OvsMap) {
      const existing = byKey.get(atomKey(k));
      if (existing === undefined) {
        m.set(k, v);
        byKey.set(atomKey(k), k);
      } else if (atomKey(m.get(existing)!) === atomKey(v)) {
        m.delete(existing);
        byKey.delete(atomKey(k));
      } else m.set(existing, v);
    }
    return m;
  }
  if (t.max === 1) {
    // Optional values: ovsdb-server (3.1, seen) sends the new value alone when one value replaces another
    // (ofport 1 -> 2 arrives as 2, not as the difference {1, 2}), and the old value alone when it is cleared.
    // Accept both forms: whatever differs from the old value is the new one.
    const o = Array.isArray(old) ? old[0] : undefined;
    const diff = d as Atom[];
    const fresh = diff.find((a) => o === undefined || atomKey(a) !== atomKey(o));
    if (fresh !== undefined) return [fresh];
    return diff.length > 0 || o === undefined ? [] : [o];
  }
  // Sets: the diff lists elements whose membership flips.
  const cur = new Map<string, Atom>();
  for (const a of Array.isArray(old) ? old : []) cur.set(atomKey(a), a);
  for (const a of d as Atom[]) {
    const k = atomKey(a);
    if (cur.has(k)) cur.delete(k);
    else cur.set(k, a);
  }
  return [...cur.values()];
}
