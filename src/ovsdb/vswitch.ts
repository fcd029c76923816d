/**
 * Idempotent helpers for the Open_vSwitch database. Each reads, then writes only what differs
 * with `mutate` (never rewriting whole columns) and guards what it read with `wait` (timeout 0),
 * so a concurrent `ovs-vsctl` edit is either preserved or makes us re-read and retry.
 */
import { type Atom, NamedUuid, Uuid, optional, stringMap } from './datum.js';
import { OvsdbError } from './errors.js';
import type { Encap } from '../model/types.js';
import type { OvsdbClient } from './client.js';
import type { Mutation, Operation, OperationResult, RowInput } from './operations.js';

export { VifWatcher, VIF_COLUMNS, type Vif, type VifWatcherOptions } from './vif-watcher.js';

export const OVS_DB = 'Open_vSwitch';
const INSTALLED_KEY = 'wyvern-installed';

/** Re-runs `fn` when a guard `wait` failed or a concurrent insert won an index race. */
export async function withRetry<T>(fn: () => Promise<T>, attempts = 8): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await fn();
    } catch (e) {
      const conflict =
        e instanceof OvsdbError && e.code === 'transaction' && (e.extra.error === 'timed out' || e.extra.error === 'constraint violation');
      const retryAgain = e instanceof RetryError;
      if (!(conflict || retryAgain) || i + 1 >= attempts) throw e;
      await new Promise((r) => setTimeout(r, 5 * (i + 1)));
    }
  }
}

class RetryError extends Error {}

function uuidOf(row: Record<string, unknown>): Uuid {
  return row._uuid as Uuid;
}

export interface EnsureBridgeOptions {
  name: string;
  datapathType: 'system' | 'netdev';
  protocols?: string[];
  failMode?: 'secure' | 'standalone';
}

/** Ensures the bridge exists with fail_mode, datapath_type, protocols ⊇ wanted and other_config:disable-in-band=true. */
export function ensureBridge(c: OvsdbClient, o: EnsureBridgeOptions): Promise<{ uuid: string }> {
  const protocols = o.protocols ?? ['OpenFlow13'];
  const failMode = o.failMode ?? 'secure';
  return withRetry(async () => {
    const [root, br] = await c.transact(OVS_DB, [
      { op: 'select', table: 'Open_vSwitch', where: [], columns: ['_uuid'] },
      bridgeSelect(o.name, ['fail_mode', 'datapath_type', 'protocols', 'other_config']),
    ]);
    const existing = br!.rows![0];
    if (existing) {
      const uuid = uuidOf(existing);
      const row: Record<string, RowInput[string]> = {};
      if (optional(existing.fail_mode) !== failMode) row.fail_mode = failMode;
      if (existing.datapath_type !== o.datapathType) row.datapath_type = o.datapathType;
      const have = new Set(existing.protocols as string[]);
      const mutations: Mutation[] = [];
      const missing = protocols.filter((p) => !have.has(p));
      if (missing.length) mutations.push(['protocols', 'insert', missing]);
      if (stringMap(existing.other_config)['disable-in-band'] !== 'true') {
        mutations.push(['other_config', 'delete', ['disable-in-band']], ['other_config', 'insert', { 'disable-in-band': 'true' }]);
      }
      const ops: Operation[] = [];
      if (Object.keys(row).length) ops.push({ op: 'update', table: 'Bridge', where: [['_uuid', '==', uuid]], row });
      if (mutations.length) ops.push({ op: 'mutate', table: 'Bridge', where: [['_uuid', '==', uuid]], mutations });
      if (ops.length) {
        const r = await c.transact(OVS_DB, ops);
        if (r.some((x) => x.count === 0)) throw new RetryError('bridge vanished');
      }
      return { uuid: uuid.id };
    }
    const ops: Operation[] = [];
    let rootWhere: Operation;
    if (root!.rows!.length === 0) {
      // A database nobody initialised (ovs-vsctl init would have made this row).
      ops.push({ op: 'wait', table: 'Open_vSwitch', where: [], columns: ['_uuid'], until: '==', rows: [], timeout: 0 });
      ops.push({ op: 'insert', table: 'Open_vSwitch', row: {}, uuidName: 'root' });
      rootWhere = { op: 'mutate', table: 'Open_vSwitch', where: [['_uuid', '==', new NamedUuid('root')]], mutations: [] };
    } else {
      rootWhere = { op: 'mutate', table: 'Open_vSwitch', where: [['_uuid', '==', uuidOf(root!.rows![0]!)]], mutations: [] };
    }
    ops.push(
      { op: 'wait', table: 'Bridge', where: [['name', '==', o.name]], columns: ['name'], until: '==', rows: [], timeout: 0 },
      { op: 'insert', table: 'Interface', row: { name: o.name, type: 'internal' }, uuidName: 'iface' },
      { op: 'insert', table: 'Port', row: { name: o.name, interfaces: [new NamedUuid('iface')] }, uuidName: 'port' },
      {
        op: 'insert',
        table: 'Bridge',
        uuidName: 'br',
        row: {
          name: o.name,
          ports: [new NamedUuid('port')],
          fail_mode: failMode,
          datapath_type: o.datapathType,
          protocols,
          other_config: { 'disable-in-band': 'true' },
        },
      },
      { ...(rootWhere as Extract<Operation, { op: 'mutate' }>), mutations: [['bridges', 'insert', [new NamedUuid('br')]]] },
    );
    const r = await c.transact(OVS_DB, ops);
    const idx = ops.findIndex((x) => x.op === 'insert' && x.table === 'Bridge');
    return { uuid: r[idx]!.uuid!.id };
  });
}

/** The select of a bridge's row by name (its uuid and `columns`), to send beside the other reads of a transaction. */
function bridgeSelect(bridge: string, columns: string[]): Operation {
  return { op: 'select', table: 'Bridge', where: [['name', '==', bridge]], columns: ['_uuid', ...columns] };
}

/** The bridge's row from bridgeSelect's result, or not-found. */
function bridgeOf(result: OperationResult, bridge: string): Record<string, unknown> {
  const row = result.rows![0];
  if (!row) throw new OvsdbError('not-found', `no bridge ${bridge}`);
  return row;
}

/** Names OpenFlow tables (Flow_Table rows in Bridge.flow_tables); other tables' rows are left alone. */
export function nameTables(c: OvsdbClient, bridge: string, names: Map<number, string>): Promise<void> {
  return withRetry(async () => {
    // The bridge and every table's name in one round trip (one snapshot: the write below guards what it read).
    const [brs, ft] = await c.transact(OVS_DB, [
      bridgeSelect(bridge, ['flow_tables']),
      { op: 'select', table: 'Flow_Table', where: [], columns: ['_uuid', 'name'] },
    ]);
    const br = bridgeOf(brs!, bridge);
    const uuid = uuidOf(br);
    const current = br.flow_tables as Map<Atom, Atom>;
    const nameOf = new Map(ft!.rows!.map((r) => [uuidOf(r).id, optional<string>(r.name)]));
    const ops: Operation[] = [
      // Guard: nobody changed the table map since we read it.
      {
        op: 'wait',
        table: 'Bridge',
        where: [['_uuid', '==', uuid]],
        columns: ['flow_tables'],
        until: '==',
        rows: [{ flow_tables: current }],
        timeout: 0,
      },
    ];
    const add = new Map<Atom, Atom>();
    for (const [n, name] of names) {
      const ref = current.get(n) as Uuid | undefined;
      if (ref) {
        if (nameOf.get(ref.id) !== name) ops.push({ op: 'update', table: 'Flow_Table', where: [['_uuid', '==', ref]], row: { name } });
      } else {
        const tag = `ft${n}`;
        ops.push({ op: 'insert', table: 'Flow_Table', row: { name }, uuidName: tag });
        add.set(n, new NamedUuid(tag));
      }
    }
    if (add.size) ops.push({ op: 'mutate', table: 'Bridge', where: [['_uuid', '==', uuid]], mutations: [['flow_tables', 'insert', add]] });
    if (ops.length > 1) await c.transact(OVS_DB, ops);
  });
}

export interface TunnelPortOptions {
  type: Encap;
  localIp: string;
  /** Default: an existing flow-based tunnel of this type on the bridge, else `tun-<type>`. */
  name?: string;
  /** How long to wait for ovs-vswitchd to assign the ofport. Default 5000 ms. */
  ofportTimeoutMs?: number;
}

/** Ensures one flow-based tunnel port (remote_ip=flow, key=flow, local_ip) of the type on the bridge; returns its ofport. */
export async function ensureTunnelPort(c: OvsdbClient, bridge: string, o: TunnelPortOptions): Promise<{ name: string; ofport: number }> {
  const name = await ensureTunnelPortRow(c, bridge, o);
  return { name, ofport: await waitOfport(c, name, o.ofportTimeoutMs ?? 5000) };
}

/**
 * The database half of ensureTunnelPort: the port's rows, without waiting for ovs-vswitchd to give it an
 * ofport (which never comes while ovs-vswitchd is not running). Returns the interface name.
 */
export async function ensureTunnelPortRow(c: OvsdbClient, bridge: string, o: Omit<TunnelPortOptions, 'ofportTimeoutMs'>): Promise<string> {
  const want = { remote_ip: 'flow', key: 'flow', local_ip: o.localIp };
  return withRetry(async () => {
    const [brs, ports, ifaces] = await c.transact(OVS_DB, [
      bridgeSelect(bridge, ['ports']),
      { op: 'select', table: 'Port', where: [], columns: ['_uuid', 'name', 'interfaces'] },
      { op: 'select', table: 'Interface', where: [['type', '==', o.type]], columns: ['_uuid', 'name', 'options'] },
    ]);
    const br = bridgeOf(brs!, bridge);
    const onBridge = new Set((br.ports as Uuid[]).map((u) => u.id));
    const ifaceOnBridge = new Set<string>();
    for (const p of ports!.rows!) if (onBridge.has(uuidOf(p).id)) for (const i of p.interfaces as Uuid[]) ifaceOnBridge.add(i.id);
    const candidates = ifaces!.rows!.filter((i) => ifaceOnBridge.has(uuidOf(i).id));
    const found =
      candidates.find((i) => i.name === o.name) ??
      (o.name === undefined ? candidates.find((i) => stringMap(i.options).remote_ip === 'flow') : undefined);
    if (found) {
      const opts = stringMap(found.options);
      const stale = Object.entries(want)
        .filter(([k, v]) => opts[k] !== v)
        .map(([k]) => k);
      if (stale.length) {
        const r = await c.transact(OVS_DB, [
          {
            op: 'mutate',
            table: 'Interface',
            where: [['_uuid', '==', uuidOf(found)]],
            mutations: [
              ['options', 'delete', stale],
              ['options', 'insert', Object.fromEntries(stale.map((k) => [k, want[k as keyof typeof want]]))],
            ],
          },
        ]);
        if (r[0]!.count === 0) throw new RetryError('interface vanished');
      }
      return found.name as string;
    }
    const n = o.name ?? `tun-${o.type}`;
    const r = await c.transact(OVS_DB, [
      { op: 'wait', table: 'Interface', where: [['name', '==', n]], columns: ['name'], until: '==', rows: [], timeout: 0 },
      { op: 'wait', table: 'Port', where: [['name', '==', n]], columns: ['name'], until: '==', rows: [], timeout: 0 },
      { op: 'insert', table: 'Interface', row: { name: n, type: o.type, options: want }, uuidName: 'tif' },
      { op: 'insert', table: 'Port', row: { name: n, interfaces: [new NamedUuid('tif')] }, uuidName: 'tport' },
      { op: 'mutate', table: 'Bridge', where: [['_uuid', '==', uuidOf(br)]], mutations: [['ports', 'insert', [new NamedUuid('tport')]]] },
    ]);
    if (r[4]!.count === 0) throw new RetryError('bridge vanished');
    return n;
  });
}

/**
 * Waits (server-side, with `wait`) until ovs-vswitchd has assigned the interface an ofport; rejects with
 * OvsdbError('transaction', error 'timed out') after timeoutMs. `signal` cancels the wait on the server.
 */
export async function waitOfport(c: OvsdbClient, ifaceName: string, timeoutMs: number, o: { signal?: AbortSignal } = {}): Promise<number> {
  const r = await c.transact(
    OVS_DB,
    [
      {
        op: 'wait',
        table: 'Interface',
        where: [['name', '==', ifaceName]],
        columns: ['ofport'],
        until: '!=',
        rows: [{ ofport: [] }],
        timeout: timeoutMs,
      },
      { op: 'select', table: 'Interface', where: [['name', '==', ifaceName]], columns: ['ofport', 'error'] },
    ],
    o,
  );
  const row = r[1]!.rows![0];
  if (!row) throw new OvsdbError('not-found', `no interface ${ifaceName}`);
  const ofport = optional<number>(row.ofport);
  if (ofport === undefined || ofport <= 0) {
    throw new OvsdbError(
      'not-found',
      `interface ${ifaceName} has no valid ofport (${ofport}): ${optional<string>(row.error) ?? 'no error reported'}`,
    );
  }
  return ofport;
}

/** Sets or clears external_ids:wyvern-installed=true on an Interface (the readiness mark, like ovn-installed). */
export async function markInstalled(c: OvsdbClient, ifaceName: string, installed: boolean): Promise<void> {
  const missing = await markInstalledMany(c, [ifaceName], installed);
  if (missing.length > 0) throw new OvsdbError('not-found', `no interface ${ifaceName}`);
}

/**
 * The same for several interfaces in one transaction (one round trip however many ports became ready
 * together); returns the names that matched no Interface row (unplugged meanwhile).
 */
export async function markInstalledMany(c: OvsdbClient, ifaceNames: string[], installed: boolean): Promise<string[]> {
  if (ifaceNames.length === 0) return [];
  const mutations: Mutation[] = [['external_ids', 'delete', [INSTALLED_KEY]]];
  if (installed) mutations.push(['external_ids', 'insert', { [INSTALLED_KEY]: 'true' }]);
  const results = await c.transact(
    OVS_DB,
    ifaceNames.map((name) => ({ op: 'mutate' as const, table: 'Interface', where: [['name', '==', name]], mutations })),
  );
  return ifaceNames.filter((_, i) => results[i]?.count === 0);
}

/**
 * Waits until ovs-vswitchd has applied the database as of now (the next_cfg/cur_cfg handshake
 * that `ovs-vsctl` does without --no-wait).
 */
export async function waitApplied(c: OvsdbClient, timeoutMs = 10_000): Promise<void> {
  const r = await c.transact(OVS_DB, [
    { op: 'mutate', table: 'Open_vSwitch', where: [], mutations: [['next_cfg', '+=', 1]] },
    { op: 'select', table: 'Open_vSwitch', where: [], columns: ['next_cfg'] },
  ]);
  const next = r[1]!.rows![0]?.next_cfg as number | undefined;
  if (next === undefined) throw new OvsdbError('not-found', 'no Open_vSwitch row');
  await c.transact(OVS_DB, [
    { op: 'wait', table: 'Open_vSwitch', where: [['cur_cfg', '>=', next]], columns: ['_uuid'], until: '!=', rows: [], timeout: timeoutMs },
  ]);
}
