import type { Action, Instruction, Match, MatchField } from '../openflow/index.js';

/**
 * Shared, frozen copies of the small objects flows are made of. A host with 1,000 ports keeps ~14,000 flows, and
 * most of their match fields and actions are one of a few thousand distinct values (a network's metadata, a
 * port's key and MAC, "go to table X"): each distinct value is kept once instead of once per flow. Arrays are
 * copied at their length (a pushed array keeps spare capacity, ~100 bytes a flow).
 *
 * Only plain objects whose own values are all primitives (strings, numbers, bigints, booleans, byte arrays) are shared;
 * anything nested (learn, ct with actions) is kept as built. Everything handed out is frozen — the object an app
 * built, the first time its content is seen: a shared object that one flow changed would change the others (in
 * strict mode, which ESM is, writing to it throws).
 * The key of an object is its exact content (keys in order, each value with its type), so only objects that are
 * equal in every respect are shared. Past `limit` distinct values the table starts over: objects handed out stay
 * valid, only later flows stop sharing with earlier ones (ports long gone are not kept alive).
 */
export class FlowInterner {
  private readonly objects = new Map<string, object>();
  /**
   * The common match field, `{field, value}` with a primitive value, by field then value: no key text to keep
   * (a Map tells 1, 1n and '1' apart, as it must).
   */
  private readonly fields = new Map<string, Map<unknown, MatchField>>();
  private fieldCount = 0;
  /**
   * Objects `{type, a}` and `{type, a, b}` with primitive values (output, resubmit, set_field, goto_table…), by
   * type, then each key and value in order: looked up without building a key text. A network's flood flow lists
   * an output per local port and is rebuilt on every change of the network, so a burst of 1,000 ports looked up
   * ~1,000 texts per change. Maps tell 1, 1n and '1' apart, as the text keys do.
   */
  private readonly pairs = new Map<string, Map<string, Map<unknown, object>>>();
  private readonly triples = new Map<string, Map<string, Map<unknown, Map<string, Map<unknown, object>>>>>();
  private taggedCount = 0;
  private readonly cookies = new Map<bigint, bigint>();

  constructor(private readonly limit = 200_000) {}

  get size(): number {
    return this.objects.size + this.cookies.size + this.fieldCount + this.taggedCount;
  }

  match(match: Match): Match {
    const out = new Array<MatchField>(match.length);
    for (let i = 0; i < match.length; i++) out[i] = this.field(match[i]!);
    return Object.freeze(out) as Match;
  }

  actions(actions: readonly Action[]): Action[] {
    const out = new Array<Action>(actions.length);
    for (let i = 0; i < actions.length; i++) out[i] = this.flat(actions[i]!);
    return Object.freeze(out) as Action[];
  }

  private field(f: MatchField): MatchField {
    const { field, value } = f as { field?: unknown; value?: unknown };
    if (typeof field !== 'string' || !isPrimitive(value) || !onlyFieldValue(f)) return this.flat(f);
    let byValue = this.fields.get(field);
    const had = byValue?.get(value);
    if (had !== undefined) return had;
    if (this.fieldCount >= this.limit) {
      this.fields.clear();
      this.fieldCount = 0;
      byValue = undefined;
    }
    if (byValue === undefined) this.fields.set(field, (byValue = new Map()));
    byValue.set(value, Object.freeze(f));
    this.fieldCount++;
    return f;
  }

  /** An instruction without nested actions (goto_table, write_metadata, meter, clear_actions), shared. */
  instruction<T extends Instruction>(ins: T): T {
    return this.flat(ins);
  }

  /** Instructions at their length; a list of shared instructions only (a plain "go to X") is itself shared. */
  instructions(list: Instruction[]): Instruction[] {
    let key: string[] | undefined = [];
    for (const ins of list) {
      const k = ins.type === 'apply_actions' || ins.type === 'write_actions' ? undefined : this.keyOf(ins);
      if (k === undefined) {
        key = undefined;
        break;
      }
      key.push(k);
    }
    if (key === undefined) return Object.freeze(list.slice()) as Instruction[];
    return this.shared(['[', ...key].join('\u0001'), () => Object.freeze(list.map((i) => this.flat(i)))) as Instruction[];
  }

  cookie(c: bigint): bigint {
    const had = this.cookies.get(c);
    if (had !== undefined) return had;
    if (this.cookies.size >= this.limit) this.cookies.clear();
    this.cookies.set(c, c);
    return c;
  }

  /** The shared frozen copy of an object of primitives; anything else as it is. */
  private flat<T extends object>(o: T): T {
    const tagged = this.tagged(o);
    if (tagged !== undefined) return tagged as T;
    const key = this.keyOf(o);
    if (key === undefined) return o;
    // The first object of its content is the one kept, frozen where it is: a copy ({...o}) gets a map (hidden class)
    // of its own once frozen, ~150 bytes an object, more than sharing saves.
    return this.shared(key, () => Object.freeze(o)) as T;
  }

  private shared(key: string, make: () => object): object {
    const had = this.objects.get(key);
    if (had !== undefined) return had;
    if (this.objects.size >= this.limit) this.objects.clear();
    const o = make();
    this.objects.set(key, o);
    return o;
  }

  /**
   * The shared object for `{type, a}` or `{type, a, b}` (type a string, the other values primitives, keys in that
   * order), the first of its content frozen and kept; undefined for any other object (keyOf's text then).
   */
  private tagged(o: object): object | undefined {
    if (Array.isArray(o) || Object.getPrototypeOf(o) !== Object.prototype) return undefined;
    let n = 0;
    let k1: string | undefined;
    let k2: string | undefined;
    for (const k in o) {
      if (!Object.hasOwn(o, k)) continue;
      if (n === 0 && k !== 'type') return undefined;
      if (n === 1) k1 = k;
      else if (n === 2) k2 = k;
      else if (n > 2) return undefined;
      n++;
    }
    const r = o as Record<string, unknown>;
    const type = r.type;
    if (typeof type !== 'string' || k1 === undefined || !isPrimitive(r[k1]) || (k2 !== undefined && !isPrimitive(r[k2]))) return undefined;
    if (this.taggedCount >= this.limit) {
      this.pairs.clear();
      this.triples.clear();
      this.taggedCount = 0;
    }
    let byValue: Map<unknown, object>;
    let v: unknown;
    if (k2 === undefined) {
      let byKey = this.pairs.get(type);
      if (byKey === undefined) this.pairs.set(type, (byKey = new Map()));
      let m = byKey.get(k1);
      if (m === undefined) byKey.set(k1, (m = new Map()));
      byValue = m;
      v = r[k1];
    } else {
      let byKey = this.triples.get(type);
      if (byKey === undefined) this.triples.set(type, (byKey = new Map()));
      let byV1 = byKey.get(k1);
      if (byV1 === undefined) byKey.set(k1, (byV1 = new Map()));
      let byK2 = byV1.get(r[k1]);
      if (byK2 === undefined) byV1.set(r[k1], (byK2 = new Map()));
      let m = byK2.get(k2);
      if (m === undefined) byK2.set(k2, (m = new Map()));
      byValue = m;
      v = r[k2];
    }
    const had = byValue.get(v);
    if (had !== undefined) return had;
    byValue.set(v, Object.freeze(o));
    this.taggedCount++;
    return o;
  }

  /** The exact content of an object whose own values are primitives or byte arrays; undefined for anything else. */
  private keyOf(o: object): string | undefined {
    if (Array.isArray(o) || Object.getPrototypeOf(o) !== Object.prototype) return undefined;
    const parts: string[] = [];
    for (const k in o) {
      if (!Object.hasOwn(o, k)) continue;
      const v = (o as Record<string, unknown>)[k];
      let t: string;
      switch (typeof v) {
        case 'string':
          // Length first: no string value can make two different objects' keys equal.
          t = `s${v.length}:${v}`;
          break;
        case 'number':
          t = `n${v}`;
          break;
        case 'bigint':
          t = `b${v}`;
          break;
        case 'boolean':
          t = v ? 'T' : 'F';
          break;
        case 'undefined':
          t = 'u';
          break;
        default:
          // A Buffer and a Uint8Array with the same bytes are different objects to the codec: typed apart.
          if (Buffer.isBuffer(v)) t = `B${v.toString('hex')}`;
          else return undefined;
      }
      parts.push(k, t);
    }
    return parts.join('\u0000');
  }
}

function isPrimitive(v: unknown): boolean {
  const t = typeof v;
  return t === 'string' || t === 'number' || t === 'bigint' || t === 'boolean';
}

/** A plain object with exactly the own keys field and value. */
function onlyFieldValue(f: object): boolean {
  if (Object.getPrototypeOf(f) !== Object.prototype) return false;
  let n = 0;
  for (const k in f) {
    if (!Object.hasOwn(f, k)) continue;
    if (k !== 'field' && k !== 'value') return false;
    n++;
  }
  return n === 2;
}
