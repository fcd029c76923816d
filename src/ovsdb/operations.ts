import { type Row, type ValueInput, Uuid, decodeValue, encodeValue, idRe, isPlainObject } from './datum.js';
import { OvsdbError } from './errors.js';
import { type DbSchema, type ColumnType, columnOf, decodeRow, encodeDatum, encodeAtomFor, tableOf } from './schema.js';

/** RFC 7047 §5.1 conditions and mutations, with typed datums. */
export type ConditionFn = '<' | '<=' | '==' | '!=' | '>=' | '>' | 'includes' | 'excludes';
export type Condition = readonly [column: string, fn: ConditionFn, value: ValueInput];
export type Mutator = '+=' | '-=' | '*=' | '/=' | '%=' | 'insert' | 'delete';
export type Mutation = readonly [column: string, mutator: Mutator, value: ValueInput];
export type RowInput = Readonly<Record<string, ValueInput>>;

/** RFC 7047 §5.2 operations. */
export type Operation =
  | { op: 'insert'; table: string; row: RowInput; uuidName?: string; uuid?: string }
  | { op: 'select'; table: string; where: readonly Condition[]; columns?: readonly string[] }
  | { op: 'update'; table: string; where: readonly Condition[]; row: RowInput }
  | { op: 'mutate'; table: string; where: readonly Condition[]; mutations: readonly Mutation[] }
  | { op: 'delete'; table: string; where: readonly Condition[] }
  | {
      op: 'wait';
      table: string;
      where: readonly Condition[];
      columns: readonly string[];
      until: '==' | '!=';
      rows: readonly RowInput[];
      timeout?: number;
    }
  | { op: 'commit'; durable: boolean }
  | { op: 'abort' }
  | { op: 'comment'; comment: string }
  | { op: 'assert'; lock: string };

export interface OperationResult {
  /** insert: the new row's uuid. */
  uuid?: Uuid;
  /** update, mutate, delete: rows affected. */
  count?: number;
  /** select: the rows, decoded by the schema. */
  rows?: Row[];
}

/** Validates `op` against `schema` and returns its wire form. Throws OvsdbError('schema') naming the op index. */
export function encodeOperation(op: Operation, schema: DbSchema | undefined, index: number): Record<string, unknown> {
  try {
    return encode(op, schema);
  } catch (e) {
    if (e instanceof OvsdbError) {
      throw new OvsdbError(e.code, `operation ${index} (${op.op}): ${e.message}`, { ...e.extra, opIndex: index, op: op.op });
    }
    throw e;
  }
}

function encode(op: Operation, s: DbSchema | undefined): Record<string, unknown> {
  switch (op.op) {
    case 'insert': {
      const w: Record<string, unknown> = { op: 'insert', table: op.table, row: encodeRow(s, op.table, op.row, 'insert') };
      if (op.uuidName !== undefined) {
        if (!idRe.test(op.uuidName)) throw new OvsdbError('schema', `bad uuid-name "${op.uuidName}" (must be an <id>)`);
        w['uuid-name'] = op.uuidName;
      }
      if (op.uuid !== undefined) w.uuid = op.uuid;
      return w;
    }
    case 'select': {
      const w: Record<string, unknown> = { op: 'select', table: op.table, where: encodeWhere(s, op.table, op.where) };
      if (op.columns) w.columns = checkColumns(s, op.table, op.columns);
      return w;
    }
    case 'update':
      return { op: 'update', table: op.table, where: encodeWhere(s, op.table, op.where), row: encodeRow(s, op.table, op.row, 'update') };
    case 'mutate':
      return {
        op: 'mutate',
        table: op.table,
        where: encodeWhere(s, op.table, op.where),
        mutations: op.mutations.map((m) => encodeMutation(s, op.table, m)),
      };
    case 'delete':
      return { op: 'delete', table: op.table, where: encodeWhere(s, op.table, op.where) };
    case 'wait': {
      const w: Record<string, unknown> = {
        op: 'wait',
        table: op.table,
        where: encodeWhere(s, op.table, op.where),
        columns: checkColumns(s, op.table, op.columns),
        until: op.until,
        rows: op.rows.map((r) => encodeRow(s, op.table, r, 'wait')),
      };
      if (op.timeout !== undefined) w.timeout = op.timeout;
      return w;
    }
    case 'commit':
      return { op: 'commit', durable: op.durable };
    case 'abort':
      return { op: 'abort' };
    case 'comment':
      return { op: 'comment', comment: op.comment };
    case 'assert':
      return { op: 'assert', lock: op.lock };
    default:
      throw new OvsdbError('schema', `unknown operation ${(op as { op: unknown }).op}`);
  }
}

function colType(s: DbSchema, table: string, column: string): ColumnType {
  return columnOf(s, table, column).type;
}

function checkColumns(s: DbSchema | undefined, table: string, cols: readonly string[]): string[] {
  if (s) for (const c of cols) columnOf(s, table, c);
  return [...cols];
}

function encodeRow(s: DbSchema | undefined, table: string, row: RowInput, kind: 'insert' | 'update' | 'wait'): Record<string, unknown> {
  if (!isPlainObject(row)) throw new OvsdbError('schema', 'row must be a plain object');
  const w: Record<string, unknown> = {};
  if (s) tableOf(s, table);
  for (const [c, v] of Object.entries(row)) {
    if (!s) {
      w[c] = encodeLoose(v);
      continue;
    }
    const cs = columnOf(s, table, c);
    if (kind !== 'wait' && (c === '_uuid' || c === '_version')) throw new OvsdbError('schema', `column ${c} is read-only`);
    if (kind === 'update' && cs.mutable === false) throw new OvsdbError('schema', `column ${table}.${c} is immutable`);
    w[c] = encodeDatum(v, cs.type, `${table}.${c}`);
  }
  return w;
}

/** Encodes monitor/transact conditions for `table`, checked against the schema when given. */
export function encodeWhereFor(s: DbSchema | undefined, table: string, where: readonly Condition[]): unknown[] {
  return encodeWhere(s, table, where);
}

function encodeWhere(s: DbSchema | undefined, table: string, where: readonly Condition[]): unknown[] {
  if (s) tableOf(s, table);
  return where.map(([c, fn, v]) => {
    if (!s) return [c, fn, encodeLoose(v)];
    const t = colType(s, table, c);
    const where = `${table}.${c} ${fn}`;
    if (fn === '<' || fn === '<=' || fn === '>' || fn === '>=') {
      if (!(t.key.type === 'integer' || t.key.type === 'real') || t.value !== undefined || t.max !== 1) {
        throw new OvsdbError('schema', `${where}: ordering needs an optional or scalar integer/real column`);
      }
      return [c, fn, encodeAtomFor(v, t.key, where)];
    }
    if (fn === 'includes' || fn === 'excludes') return [c, fn, encodeDatum(v, t, where, false)];
    if (fn === '==' || fn === '!=') return [c, fn, encodeDatum(v, t, where)];
    throw new OvsdbError('schema', `unknown condition function ${String(fn)}`);
  });
}

function encodeMutation(s: DbSchema | undefined, table: string, [c, m, v]: Mutation): unknown[] {
  if (!s) return [c, m, encodeLoose(v)];
  const cs = columnOf(s, table, c);
  const t = cs.type;
  const where = `${table}.${c} ${m}`;
  if (cs.mutable === false || c === '_uuid' || c === '_version') throw new OvsdbError('schema', `${where}: column is immutable`);
  switch (m) {
    case '+=':
    case '-=':
    case '*=':
    case '/=':
    case '%=': {
      const numeric = t.key.type === 'integer' || (t.key.type === 'real' && m !== '%=');
      if (!numeric || t.value !== undefined) throw new OvsdbError('schema', `${where}: arithmetic needs an integer/real column`);
      // Bounds of the column apply to the result, not to the operand.
      return [c, m, encodeAtomFor(v, { type: t.key.type }, where)];
    }
    case 'insert':
      if (t.min === 1 && t.max === 1 && t.value === undefined) throw new OvsdbError('schema', `${where}: needs a set or map column`);
      return [c, m, encodeDatum(v, t, where, false)];
    case 'delete':
      if (t.value !== undefined && Array.isArray(v)) {
        // Deleting from a map by key: a set of keys.
        return [c, m, encodeDatum(v, { key: t.key, min: 0, max: Infinity }, where, false)];
      }
      if (t.min === 1 && t.max === 1 && t.value === undefined) throw new OvsdbError('schema', `${where}: needs a set or map column`);
      return [c, m, encodeDatum(v, t, where, false)];
    default:
      throw new OvsdbError('schema', `unknown mutator ${String(m)}`);
  }
}

/** Without a schema, encode by shape only. */
function encodeLoose(v: ValueInput): unknown {
  return encodeValue(v);
}

/** Decodes the transact reply against the ops sent. */
export function decodeResults(ops: readonly Operation[], results: unknown[], schema: DbSchema | undefined): OperationResult[] {
  return results.map((r, i) => {
    const op = ops[i];
    const out: OperationResult = {};
    if (!isPlainObject(r)) return out;
    if (Array.isArray(r.uuid) && r.uuid[0] === 'uuid') out.uuid = new Uuid(r.uuid[1] as string);
    if (typeof r.count === 'number') out.count = r.count;
    if (Array.isArray(r.rows) && op && 'table' in op) {
      const table = op.table;
      out.rows = (r.rows as Record<string, unknown>[]).map((row) =>
        schema && schema.tables[table] ? decodeRow(schema, table, row) : decodeLooseRow(row),
      );
    }
    return out;
  });
}

function decodeLooseRow(row: Record<string, unknown>): Row {
  const out: Row = {};
  for (const [k, v] of Object.entries(row)) out[k] = decodeValue(v);
  return out;
}
