import {
  type Atom,
  type Row,
  type Value,
  type ValueInput,
  NamedUuid,
  Uuid,
  decodeAtom,
  decodeValue,
  encodeAtom,
  isAtom,
  isPlainObject,
  uuidRe,
} from './datum.js';
import { OvsdbError } from './errors.js';

/** RFC 7047 §3.2 schema, normalised: every column type has key, optional value, min and max. */
export type AtomicType = 'integer' | 'real' | 'boolean' | 'string' | 'uuid';
export interface BaseType {
  type: AtomicType;
  enum?: Atom[];
  minInteger?: number;
  maxInteger?: number;
  minReal?: number;
  maxReal?: number;
  minLength?: number;
  maxLength?: number;
  refTable?: string;
  refType?: 'strong' | 'weak';
}
export interface ColumnType {
  key: BaseType;
  value?: BaseType;
  min: number;
  max: number; // Infinity for "unlimited"
}
export interface ColumnSchema {
  type: ColumnType;
  ephemeral?: boolean;
  mutable?: boolean;
}
export interface TableSchema {
  columns: Record<string, ColumnSchema>;
  maxRows?: number;
  isRoot?: boolean;
  indexes?: string[][];
}
export interface DbSchema {
  name: string;
  version?: string;
  tables: Record<string, TableSchema>;
}

const atomicTypes = new Set(['integer', 'real', 'boolean', 'string', 'uuid']);

function parseBase(w: unknown, where: string): BaseType {
  if (typeof w === 'string') w = { type: w };
  if (!isPlainObject(w) || typeof w.type !== 'string' || !atomicTypes.has(w.type)) {
    throw new OvsdbError('protocol', `bad base type at ${where}`);
  }
  const b: BaseType = { ...(w as object), type: w.type as AtomicType } as BaseType;
  if (w.enum !== undefined) {
    const e = w.enum;
    b.enum = Array.isArray(e) && e[0] === 'set' ? (e[1] as unknown[]).map(decodeAtom) : [decodeAtom(e)];
  }
  return b;
}

/** Parses a get_schema reply into the normalised form. */
export function parseSchema(w: unknown): DbSchema {
  if (!isPlainObject(w) || typeof w.name !== 'string' || !isPlainObject(w.tables)) {
    throw new OvsdbError('protocol', 'bad schema');
  }
  const tables: Record<string, TableSchema> = {};
  for (const [tn, tw] of Object.entries(w.tables)) {
    const t = tw as Record<string, unknown>;
    const columns: Record<string, ColumnSchema> = {};
    for (const [cn, cw] of Object.entries(t.columns as Record<string, Record<string, unknown>>)) {
      let ty = cw.type;
      const where = `${tn}.${cn}`;
      let type: ColumnType;
      if (typeof ty === 'string' || (isPlainObject(ty) && ty.key === undefined)) {
        type = { key: parseBase(ty, where), min: 1, max: 1 };
      } else {
        ty = ty as Record<string, unknown>;
        const max = (ty as Record<string, unknown>).max;
        type = {
          key: parseBase((ty as Record<string, unknown>).key, where),
          min: typeof (ty as Record<string, unknown>).min === 'number' ? ((ty as Record<string, unknown>).min as number) : 1,
          max: max === 'unlimited' ? Infinity : typeof max === 'number' ? max : 1,
        };
        const v = (ty as Record<string, unknown>).value;
        if (v !== undefined) type.value = parseBase(v, where);
      }
      const col: ColumnSchema = { type };
      if (cw.ephemeral === true) col.ephemeral = true;
      if (cw.mutable === false) col.mutable = false;
      columns[cn] = col;
    }
    // Every table has these two, though schemas do not list them.
    columns._uuid = { type: { key: { type: 'uuid' }, min: 1, max: 1 }, mutable: false };
    columns._version = { type: { key: { type: 'uuid' }, min: 1, max: 1 }, mutable: false };
    tables[tn] = { columns };
    if (t.isRoot === true) tables[tn].isRoot = true;
    if (typeof t.maxRows === 'number') tables[tn].maxRows = t.maxRows;
    if (Array.isArray(t.indexes)) tables[tn].indexes = t.indexes as string[][];
  }
  const s: DbSchema = { name: w.name, tables };
  if (typeof w.version === 'string') s.version = w.version;
  return s;
}

export function isScalar(t: ColumnType): boolean {
  return t.min === 1 && t.max === 1 && t.value === undefined;
}

export function tableOf(schema: DbSchema, table: string): TableSchema {
  const t = schema.tables[table];
  if (!t) throw new OvsdbError('schema', `no table "${table}" in database ${schema.name}`);
  return t;
}

export function columnOf(schema: DbSchema, table: string, column: string): ColumnSchema {
  const c = tableOf(schema, table).columns[column];
  if (!c) throw new OvsdbError('schema', `no column "${column}" in table ${table}`);
  return c;
}

/** Checks one atom against a base type and returns its wire form. */
export function encodeAtomFor(a: unknown, b: BaseType, where: string): unknown {
  const bad = (why: string): never => {
    throw new OvsdbError('schema', `${where}: ${why} (got ${describe(a)})`);
  };
  switch (b.type) {
    case 'integer':
      if (typeof a !== 'number' || !Number.isInteger(a)) bad('expected integer');
      if (b.minInteger !== undefined && (a as number) < b.minInteger) bad(`integer below ${b.minInteger}`);
      if (b.maxInteger !== undefined && (a as number) > b.maxInteger) bad(`integer above ${b.maxInteger}`);
      break;
    case 'real':
      if (typeof a !== 'number' || !Number.isFinite(a)) bad('expected real');
      if (b.minReal !== undefined && (a as number) < b.minReal) bad(`real below ${b.minReal}`);
      if (b.maxReal !== undefined && (a as number) > b.maxReal) bad(`real above ${b.maxReal}`);
      break;
    case 'boolean':
      if (typeof a !== 'boolean') bad('expected boolean');
      break;
    case 'string': {
      if (typeof a !== 'string') bad('expected string');
      const len = [...(a as string)].length;
      if (b.minLength !== undefined && len < b.minLength) bad(`string shorter than ${b.minLength}`);
      if (b.maxLength !== undefined && len > b.maxLength) bad(`string longer than ${b.maxLength}`);
      break;
    }
    case 'uuid':
      if (a instanceof NamedUuid) return encodeAtom(a);
      if (!(a instanceof Uuid)) bad('expected Uuid or NamedUuid');
      if (!uuidRe.test((a as Uuid).id)) bad('malformed uuid');
      return encodeAtom(a as Uuid);
  }
  if (b.enum && !b.enum.some((e) => e === a)) bad(`not one of ${b.enum.map(String).join(', ')}`);
  return a;
}

function describe(v: unknown): string {
  if (v instanceof Uuid || v instanceof NamedUuid) return `${v.constructor.name}(${String(v)})`;
  if (v instanceof Map) return 'Map';
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

/**
 * Checks a full datum against a column type and returns its wire form.
 * `sizeCheck` is off where a partial datum is legal (mutations, includes/excludes conditions).
 */
export function encodeDatum(v: ValueInput, t: ColumnType, where: string, sizeCheck = true): unknown {
  if (t.value !== undefined) {
    let entries: [unknown, unknown][];
    if (v instanceof Map) entries = [...v];
    else if (isPlainObject(v)) entries = Object.entries(v);
    else throw new OvsdbError('schema', `${where}: expected a map (got ${describe(v)})`);
    if (sizeCheck) checkSize(entries.length, t, where);
    return ['map', entries.map(([k, x]) => [encodeAtomFor(k, t.key, `${where} key`), encodeAtomFor(x, t.value!, `${where} value`)])];
  }
  if (v instanceof Map || isPlainObject(v))
    throw new OvsdbError('schema', `${where}: expected ${isScalar(t) ? 'an atom' : 'a set'}, got a map`);
  if (Array.isArray(v)) {
    if (sizeCheck) checkSize(v.length, t, where);
    if (isScalar(t) && sizeCheck) return encodeAtomFor(v[0], t.key, where);
    return ['set', v.map((a) => encodeAtomFor(a, t.key, where))];
  }
  if (!isAtom(v)) throw new OvsdbError('schema', `${where}: not a datum (got ${describe(v)})`);
  if (sizeCheck) checkSize(1, t, where);
  return encodeAtomFor(v, t.key, where);
}

function checkSize(n: number, t: ColumnType, where: string): void {
  if (n < t.min || n > t.max) {
    throw new OvsdbError('schema', `${where}: ${n} element(s), column allows ${t.min}..${t.max === Infinity ? 'unlimited' : t.max}`);
  }
}

/** Decodes a wire datum into the column's declared shape (sets are always arrays, maps always Maps). */
export function decodeDatum(w: unknown, t: ColumnType): Value {
  if (t.value !== undefined) {
    const m = new Map<Atom, Atom>();
    if (Array.isArray(w) && w[0] === 'map') for (const [k, x] of w[1] as [unknown, unknown][]) m.set(decodeAtom(k), decodeAtom(x));
    return m;
  }
  if (Array.isArray(w) && w[0] === 'set') {
    const atoms = (w[1] as unknown[]).map(decodeAtom);
    return isScalar(t) && atoms.length === 1 ? atoms[0]! : atoms;
  }
  const a = decodeAtom(w);
  return isScalar(t) ? a : [a];
}

/** The value a column has when a row omits it (update2 "initial"/"insert" leave defaults out). */
export function defaultDatum(t: ColumnType): Value {
  if (t.value !== undefined) return new Map();
  if (!isScalar(t)) return [];
  // Like ovsdb-server: the atomic type's default even when an enum excludes it.
  switch (t.key.type) {
    case 'integer':
    case 'real':
      return 0;
    case 'boolean':
      return false;
    case 'string':
      return '';
    case 'uuid':
      return new Uuid('00000000-0000-0000-0000-000000000000');
  }
}

/** Decodes a wire row of `table`; with `columns`, fills defaults for listed columns the row omits. */
export function decodeRow(schema: DbSchema, table: string, w: Record<string, unknown>, columns?: readonly string[]): Row {
  const ts = tableOf(schema, table);
  const row: Row = {};
  for (const [c, x] of Object.entries(w)) {
    const cs = ts.columns[c];
    row[c] = cs ? decodeDatum(x, cs.type) : decodeValue(x);
  }
  if (columns) for (const c of columns) if (!(c in row) && ts.columns[c]) row[c] = defaultDatum(ts.columns[c]!.type);
  return row;
}
