import { OvsdbError } from './errors.js';

/**
 * Typed OVSDB datums (RFC 7047 §5.1) and their wire form.
 *
 * In memory: atoms are numbers, booleans, strings, `Uuid` or `NamedUuid`; a set is an array of
 * atoms; a map is a `Map` (plain objects are also accepted as string-keyed maps when sending).
 * Decoding with a column type (see schema.ts) normalises single-atom sets to arrays, so code can
 * rely on the column's declared shape.
 */
export class Uuid {
  constructor(readonly id: string) {}
  toString(): string {
    return this.id;
  }
  toJSON(): ['uuid', string] {
    return ['uuid', this.id];
  }
  equals(o: unknown): boolean {
    return o instanceof Uuid && o.id === this.id;
  }
}

/** A row inserted earlier in the same transaction, named by the insert's `uuidName`. */
export class NamedUuid {
  constructor(readonly name: string) {}
  toString(): string {
    return this.name;
  }
  toJSON(): ['named-uuid', string] {
    return ['named-uuid', this.name];
  }
}

export type Atom = string | number | boolean | Uuid | NamedUuid;
export type OvsSet = Atom[];
export type OvsMap = Map<Atom, Atom>;
export type Value = Atom | OvsSet | OvsMap;
/** What callers may pass where a datum is expected: also plain objects for string maps. */
export type ValueInput = Value | Readonly<Record<string, Atom>>;
export type Row = Record<string, Value>;

export const uuidRe = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
export const idRe = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

export function isAtom(v: unknown): v is Atom {
  const t = typeof v;
  return t === 'string' || t === 'number' || t === 'boolean' || v instanceof Uuid || v instanceof NamedUuid;
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && Object.getPrototypeOf(v) === Object.prototype;
}

export function encodeAtom(a: Atom): unknown {
  if (a instanceof Uuid) return ['uuid', a.id];
  if (a instanceof NamedUuid) return ['named-uuid', a.name];
  return a;
}

/** Wire form of a datum; shape only (schema checks live in schema.ts). */
export function encodeValue(v: ValueInput): unknown {
  if (Array.isArray(v)) return ['set', v.map(encodeAtom)];
  if (v instanceof Map) return ['map', [...v].map(([k, x]) => [encodeAtom(k), encodeAtom(x)])];
  if (isPlainObject(v)) return ['map', Object.entries(v).map(([k, x]) => [k, encodeAtom(x as Atom)])];
  if (isAtom(v)) return encodeAtom(v);
  throw new OvsdbError('schema', `not an OVSDB datum: ${String(v)}`);
}

export function decodeAtom(w: unknown): Atom {
  if (Array.isArray(w)) {
    if (w.length === 2 && w[0] === 'uuid' && typeof w[1] === 'string') return new Uuid(w[1]);
    if (w.length === 2 && w[0] === 'named-uuid' && typeof w[1] === 'string') return new NamedUuid(w[1]);
    throw new OvsdbError('protocol', `bad atom ${JSON.stringify(w)}`);
  }
  if (typeof w === 'string' || typeof w === 'number' || typeof w === 'boolean') return w;
  throw new OvsdbError('protocol', `bad atom ${JSON.stringify(w)}`);
}

/** Decodes a wire datum by its own shape (a one-element set stays an atom: use schema decoding to normalise). */
export function decodeValue(w: unknown): Value {
  if (Array.isArray(w) && w[0] === 'set' && Array.isArray(w[1])) return (w[1] as unknown[]).map(decodeAtom);
  if (Array.isArray(w) && w[0] === 'map' && Array.isArray(w[1])) {
    const m: OvsMap = new Map();
    for (const pair of w[1] as unknown[]) {
      if (!Array.isArray(pair) || pair.length !== 2) throw new OvsdbError('protocol', 'bad map pair');
      m.set(decodeAtom(pair[0]), decodeAtom(pair[1]));
    }
    return m;
  }
  return decodeAtom(w);
}

/** A string that identifies an atom by type and value (for set/map equality and uuid-keyed lookups). */
export function atomKey(a: Atom): string {
  if (a instanceof Uuid) return 'u' + a.id;
  if (a instanceof NamedUuid) return 'n' + a.name;
  return (typeof a)[0] + String(a);
}

export function atomEquals(a: Atom, b: Atom): boolean {
  return a === b || atomKey(a) === atomKey(b);
}

/** Deep datum equality: sets compare without order, maps by key. */
export function valueEquals(a: Value | undefined, b: Value | undefined): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined) return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    const x = Array.isArray(a) ? a : [a as Atom];
    const y = Array.isArray(b) ? b : [b as Atom];
    if (x.length !== y.length) return false;
    if (x.length === 1) return atomEquals(x[0]!, y[0]!);
    const keys = new Set(x.map(atomKey));
    return y.every((e) => keys.has(atomKey(e)));
  }
  if (a instanceof Map || b instanceof Map) {
    if (!(a instanceof Map) || !(b instanceof Map) || a.size !== b.size) return false;
    const ka = mapByKey(a);
    for (const [k, v] of b) {
      const e = ka.get(atomKey(k));
      if (e === undefined || !atomEquals(e, v)) return false;
    }
    return true;
  }
  return atomEquals(a, b);
}

function mapByKey(m: OvsMap): Map<string, Atom> {
  const r = new Map<string, Atom>();
  for (const [k, v] of m) r.set(atomKey(k), v);
  return r;
}

export function rowEquals(a: Row, b: Row): boolean {
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((k) => k in b && valueEquals(a[k], b[k]));
}

/** Looks a key up in a map datum by value (works for Uuid keys, which are objects). */
export function mapGet(m: OvsMap, key: Atom): Atom | undefined {
  if (!(key instanceof Uuid || key instanceof NamedUuid)) {
    const v = m.get(key);
    if (v !== undefined) return v;
  }
  const k = atomKey(key);
  for (const [mk, v] of m) if (atomKey(mk) === k) return v;
  return undefined;
}

/** The single element of an optional (0..1) column, or undefined when empty. */
export function optional<T extends Atom = Atom>(v: Value | undefined): T | undefined {
  if (v === undefined) return undefined;
  if (Array.isArray(v)) return v[0] as T | undefined;
  if (v instanceof Map) return undefined;
  return v as T;
}

/** A string-to-string map column as a plain record (non-string entries are skipped). */
export function stringMap(v: Value | undefined): Record<string, string> {
  const r: Record<string, string> = {};
  if (v instanceof Map) for (const [k, x] of v) if (typeof k === 'string' && typeof x === 'string') r[k] = x;
  return r;
}
