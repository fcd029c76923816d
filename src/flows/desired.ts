import type { Action, Instruction } from '../openflow/index.js';
import { BuiltFlow } from '../pipeline/built-flow.js';
import type { DesiredFlow } from '../pipeline/tables.js';
import { matchKey, sameData } from './canonical.js';

/**
 * Each flow's key, kept with the flow: flows are immutable once built, and one flow's key is wanted several times per
 * change (an app merging its own flows, the owner's diff, the switch diff). Per flow rather than per match, so the
 * text is kept once: the same string is the key of every map the flow is in. A flow an app built (BuiltFlow) has a
 * slot for it inside the object; any other (a copy, a flow read back from the switch) gets a property under a symbol,
 * not enumerable (spread copies, JSON and equality leave it out), and a frozen one (nothing in wyvern freezes flows)
 * an entry in a WeakMap, which costs ~75 bytes a flow (an ephemeron table).
 */
const KEY = Symbol('flowKey');
const frozenKeys = new WeakMap<object, string>();

/**
 * Identity of a flow on the switch: OpenFlow allows one flow per table, priority and match. Joined, not a template
 * literal: a flat string rather than a rope (see stable()), as it is kept as a map key for every flow.
 */
export function flowKey(f: { tableId: number; priority: number; match: DesiredFlow['match'] }): string {
  const o = f as { [KEY]?: string };
  let k = BuiltFlow.keyOf(f) ?? (Object.hasOwn(o, KEY) ? o[KEY] : frozenKeys.get(f));
  if (k !== undefined) return k;
  k = [f.tableId, f.priority, matchKey(f.match)].join('/');
  if (BuiltFlow.keep(f, k)) return k;
  if (Object.isExtensible(f)) Object.defineProperty(f, KEY, { value: k });
  else frozenKeys.set(f, k);
  return k;
}

/** A flow with an idle or hard timeout: put there for a while (reactive), forgotten when it expires. */
export function isTransient(f: { idleTimeout: number; hardTimeout: number }): boolean {
  return f.idleTimeout > 0 || f.hardTimeout > 0;
}

type Declared = Pick<DesiredFlow, 'cookie' | 'idleTimeout' | 'hardTimeout' | 'instructions'>;

/**
 * The same flow declared twice (an owner recomputed): equal cookie, timeouts and instructions, compared
 * structurally. Far cheaper than building both canonical signatures, and exact for what apps produce (the
 * same code builds the same structure); anything it calls different is still compared by signature later.
 */
export function sameDeclaration(a: Declared, b: Declared): boolean {
  return (
    a === b ||
    (a.cookie === b.cookie &&
      a.idleTimeout === b.idleTimeout &&
      a.hardTimeout === b.hardTimeout &&
      sameData(a.instructions, b.instructions))
  );
}

type Conjunction = Extract<Action, { type: 'conjunction' }>;

/** The conjunction actions of a flow whose only instruction applies conjunction actions and nothing else. */
function conjunctionsOnly(instructions: Instruction[]): Conjunction[] | undefined {
  if (instructions.length !== 1) return undefined;
  const [ins] = instructions;
  if (ins!.type !== 'apply_actions' || ins!.actions.length === 0) return undefined;
  return ins!.actions.every((a) => a.type === 'conjunction') ? (ins!.actions as Conjunction[]) : undefined;
}

/** One owner's claim on a key that another owner's flow already holds and OpenFlow cannot merge. */
export interface FlowConflict {
  key: string;
  /** The owner whose flow is on the switch (the first to declare the key). */
  kept: string;
  /** The owner whose flow is set aside until the conflict goes away. */
  setAside: string;
}

/** Arrays allocated at their length (a spread or push may leave spare capacity, kept as long as the owner). */
function owned(name: string, byKey: Map<string, DesiredFlow>): OwnedFlows {
  const keys = new Array<string>(byKey.size);
  const flows = new Array<DesiredFlow>(byKey.size);
  let i = 0;
  for (const [k, f] of byKey) {
    keys[i] = k;
    flows[i++] = f;
  }
  return { name, keys, flows };
}

/**
 * Desired flows per owner (an opaque key such as `l2/net:<id>`, `l3/reactive/<router>`), and the effective flow
 * per switch key. Two owners may declare the same key (table, priority, match): equal flows are shared; flows
 * whose only actions are conjunctions are merged into one flow carrying every conjunction (as OVN's ofctrl
 * does), since that is what OpenFlow allows; anything else is a conflict: the first owner keeps the key, the
 * later one is set aside and reported (never a silent last-wins).
 */
/**
 * One owner's flows: keys and flows in two arrays of exactly their length. A Map per owner cost ~600 bytes (its
 * hash table), and a host with 1,000 ports has ~4 owners a port of ~3.5 flows each; the arrays cost ~150.
 * `name` is the owner's name as first given, flattened, so the one string is shared by every key it claims.
 */
interface OwnedFlows {
  readonly name: string;
  readonly keys: string[];
  readonly flows: DesiredFlow[];
}

/**
 * A flat copy of a string built by concatenation (owner names are template literals: V8 keeps those as trees of
 * their pieces, ~100 bytes more per name, and the name is kept for as long as its owner has flows).
 */
function flat(s: string): string {
  return Buffer.from(s, 'utf8').toString('utf8');
}

/**
 * Desired flows per owner (an opaque key such as `l2/net:<id>`, `l3/reactive/<router>`), and the effective flow
 * per switch key. Two owners may declare the same key (table, priority, match): equal flows are shared; flows
 * whose only actions are conjunctions are merged into one flow carrying every conjunction (as OVN's ofctrl
 * does), since that is what OpenFlow allows; anything else is a conflict: the first owner keeps the key, the
 * later one is set aside and reported (never a silent last-wins).
 */
export class DesiredFlows {
  private readonly owners = new Map<string, OwnedFlows>();
  /**
   * key → its one owner, when only one declares it (nearly every flow; its flow is the effective one). Kept apart
   * from `claims` because a Map per key costs ~150 bytes, on every flow of the switch.
   */
  private readonly soleOwner = new Map<string, string>();
  /** key → owners that declare it, in the order they first did, for keys that two or more owners declare. */
  private readonly claims = new Map<string, Map<string, DesiredFlow>>();
  /** key → the flow to have on the switch (the one claim, a merge, or the first of conflicting claims). */
  private readonly effective = new Map<string, DesiredFlow>();
  /** key → owners set aside for it (a conflict), so each conflict is reported once. */
  private readonly conflicted = new Map<string, Set<string>>();
  /**
   * Keys whose effective flow was set or removed since the last takeChanged(): the flow manager diffs these
   * against the switch instead of every flow, so a change costs what changed, not what the host holds.
   */
  private changed = new Set<string>();
  /**
   * More keys changed than it is worth listing (more than twice the flows held: a manager not syncing for long —
   * no switch — while the topology churns): the next diff is a full one, and the list stops growing.
   */
  private changedAll = false;

  constructor(private readonly onConflict: (c: FlowConflict) => void = () => undefined) {}

  /** Replaces every flow of one owner. True if the effective flows may have changed. */
  set(owner: string, flows: readonly DesiredFlow[]): boolean {
    const prev = this.owners.get(owner);
    const name = prev?.name ?? flat(owner);
    // The previous flows by key, only for this call: index into prev's arrays, whose key strings are reused (the
    // same text kept once, whichever map holds it).
    const prevAt = prev ? new Map(prev.keys.map((k, i) => [k, i])) : undefined;
    const next = new Map<string, DesiredFlow>();
    let changed = false;
    for (const f of flows) {
      let key = flowKey(f);
      const at = prevAt?.get(key);
      if (at !== undefined) key = prev!.keys[at]!;
      const old = at !== undefined ? prev!.flows[at] : undefined;
      // An owner recomputes all its flows at once, and most come back unchanged: those keep their old object
      // (which the flow manager finds on the switch by identity) and their claim, so only what changed costs anything.
      if (old !== undefined && !next.has(key) && sameDeclaration(old, f)) {
        next.set(key, old);
        continue;
      }
      next.set(key, f);
      this.claim(key, name, f);
      changed = true;
    }
    if (prev) {
      for (const key of prev.keys) {
        if (next.has(key)) continue;
        this.unclaim(key, name);
        changed = true;
      }
    }
    if (next.size === 0) this.owners.delete(owner);
    else if (changed || prev === undefined) this.owners.set(name, owned(name, next));
    return changed;
  }

  /**
   * Adds flows to an owner, keeping the ones it has (transient flows arrive one packet-in at a time). Costs what is
   * added, not what the owner holds: a reactive router's owner holds a flow per destination, and rebuilding it for
   * each packet-in (as set() does) made n setups cost O(n²): 2,000 destinations added one at a time took 0.31 s,
   * 20,000 took 64 s; now 1–4 ms and 10–47 ms (fourteenth session, in process). The owner's arrays grow in place
   * here: their spare capacity is a few bytes per flow, on the owners that grow one flow at a time.
   */
  add(owner: string, flows: readonly DesiredFlow[]): boolean {
    const cur = this.owners.get(owner);
    if (cur === undefined) return this.set(owner, flows);
    let changed = false;
    for (const f of flows) {
      const key = flowKey(f);
      const old = this.declared(key, cur.name);
      if (old !== undefined && sameDeclaration(old, f)) continue;
      if (old === undefined) {
        cur.keys.push(key);
        cur.flows.push(f);
      } else cur.flows[cur.keys.indexOf(key)] = f;
      this.claim(key, cur.name, f);
      changed = true;
    }
    return changed;
  }

  /** The flow `owner` declares under `key`, if it does. */
  private declared(key: string, owner: string): DesiredFlow | undefined {
    if (this.soleOwner.get(key) === owner) return this.effective.get(key);
    return this.claims.get(key)?.get(owner);
  }

  /**
   * Forgets the transient flows under `key` (they expired on the switch, or someone else deleted them). True if any
   * was there.
   */
  forgetTransient(key: string): boolean {
    const sole = this.soleOwner.get(key);
    const byOwner: [string, DesiredFlow][] = sole !== undefined ? [[sole, this.effective.get(key)!]] : [...(this.claims.get(key) ?? [])];
    let forgot = false;
    for (const [owner, f] of byOwner) {
      if (!isTransient(f)) continue;
      const mine = this.owners.get(owner)!;
      const at = mine.keys.indexOf(key);
      if (mine.keys.length <= 1) this.owners.delete(owner);
      else if (at >= 0) {
        // The last entry takes its place (an owner's order means nothing): no copy of the owner's arrays per expiry.
        const last = mine.keys.length - 1;
        mine.keys[at] = mine.keys[last]!;
        mine.flows[at] = mine.flows[last]!;
        mine.keys.pop();
        mine.flows.pop();
      }
      this.unclaim(key, owner);
      forgot = true;
    }
    return forgot;
  }

  ownerNames(prefix = ''): string[] {
    return [...this.owners.keys()].filter((o) => o.startsWith(prefix));
  }

  /** The effective flows by key (one per key). */
  entries(): IterableIterator<[string, DesiredFlow]> {
    return this.effective.entries();
  }

  /** The effective flows without their keys (no [key, flow] pair made per flow). */
  values(): IterableIterator<DesiredFlow> {
    return this.effective.values();
  }

  get(key: string): DesiredFlow | undefined {
    return this.effective.get(key);
  }

  has(key: string): boolean {
    return this.effective.has(key);
  }

  get size(): number {
    return this.effective.size;
  }

  /**
   * The keys whose effective flow may differ from what it was at the previous call (set, replaced, merged or
   * removed), once: the caller owns the returned set and the next call starts a new one. 'all': too many to
   * list, compare every key.
   */
  takeChanged(): Set<string> | 'all' {
    const keys = this.changedAll ? 'all' : this.changed;
    this.changed = new Set();
    this.changedAll = false;
    return keys;
  }

  private noteChanged(key: string): void {
    if (this.changedAll) return;
    this.changed.add(key);
    if (this.changed.size > 2 * this.effective.size + 1024) {
      this.changedAll = true;
      this.changed = new Set();
    }
  }

  /** Owners currently set aside by a conflict, by key. */
  conflicts(): Map<string, string[]> {
    return new Map([...this.conflicted].map(([k, s]) => [k, [...s]]));
  }

  private claim(key: string, owner: string, f: DesiredFlow): void {
    let byOwner = this.claims.get(key);
    if (!byOwner) {
      const sole = this.soleOwner.get(key);
      if (sole === undefined || sole === owner) {
        // The common case (one owner per flow), on the path of every recomputed flow: no allocation.
        this.soleOwner.set(key, owner);
        this.effective.set(key, f);
        this.noteChanged(key);
        if (this.conflicted.size > 0) this.conflicted.delete(key);
        return;
      }
      // A second owner: the key's claims are kept in order from now on, the first owner first.
      this.soleOwner.delete(key);
      this.claims.set(key, (byOwner = new Map([[sole, this.effective.get(key)!]])));
    }
    // Map.set keeps an existing owner's place: an owner that changes its flow stays first if it was.
    byOwner.set(owner, f);
    this.resolve(key, byOwner);
  }

  private unclaim(key: string, owner: string): void {
    const sole = this.soleOwner.get(key);
    if (sole !== undefined) {
      if (sole !== owner) return;
      this.soleOwner.delete(key);
      this.effective.delete(key);
      this.noteChanged(key);
      this.conflicted.delete(key);
      return;
    }
    const byOwner = this.claims.get(key);
    if (!byOwner) return;
    byOwner.delete(owner);
    this.noteChanged(key);
    if (byOwner.size === 0) {
      this.claims.delete(key);
      this.effective.delete(key);
      this.conflicted.delete(key);
    } else if (byOwner.size === 1) {
      // One owner left: back to the compact form, its flow the effective one.
      const [[left, f]] = byOwner;
      this.claims.delete(key);
      this.soleOwner.set(key, left!);
      this.effective.set(key, f!);
      this.conflicted.delete(key);
    } else this.resolve(key, byOwner);
  }

  /** Recomputes the effective flow of a key that two or more owners claim. */
  private resolve(key: string, byOwner: Map<string, DesiredFlow>): void {
    this.noteChanged(key);
    const claims = [...byOwner];
    const [firstOwner, first] = claims[0]!;
    const merged = mergeConjunctions(claims.map(([, f]) => f));
    if (merged) {
      this.effective.set(key, merged);
      this.conflicted.delete(key);
      return;
    }
    // Not mergeable: the first owner keeps the key; each other owner whose flow differs is set aside.
    this.effective.set(key, first);
    const before = this.conflicted.get(key);
    const now = new Set<string>();
    for (const [owner, f] of claims.slice(1)) {
      if (sameDeclaration(first, f)) continue;
      now.add(owner);
      if (!before?.has(owner)) this.onConflict({ key, kept: firstOwner, setAside: owner });
    }
    if (now.size > 0) this.conflicted.set(key, now);
    else this.conflicted.delete(key);
  }
}

/**
 * One flow carrying every claim's conjunction actions, if every claim is a conjunction-only flow with the
 * same timeouts; the smallest cookie of the claims stays. Actions are sorted and deduplicated and the cookie is
 * the smallest, so the same claims give the same flow whatever their order (incremental == full recompute,
 * whichever owner declared first). Apps use it too, to merge equal-key flows of their own.
 */
export function mergeConjunctions(flows: readonly DesiredFlow[]): DesiredFlow | undefined {
  const first = flows[0]!;
  let cookie = first.cookie;
  const all = new Map<string, Conjunction>();
  for (const f of flows) {
    if (f.idleTimeout !== first.idleTimeout || f.hardTimeout !== first.hardTimeout) return undefined;
    const conj = conjunctionsOnly(f.instructions);
    if (!conj) return undefined;
    for (const c of conj) all.set(`${c.id}/${c.clause}/${c.nClauses}`, c);
    if (f.cookie < cookie) cookie = f.cookie;
  }
  const actions = [...all.values()].sort((a, b) => a.id - b.id || a.clause - b.clause || a.nClauses - b.nClauses);
  return { ...first, cookie, instructions: [{ type: 'apply_actions', actions }] };
}
