/**
 * Group commit for port creations (issue 17): the transactions an API server is asked for in one turn of the event
 * loop go to the store as one transaction, so that a thousand concurrent creations cost the store client (gRPC,
 * protobuf: most of an API server's CPU) tens of round trips instead of a thousand.
 *
 * Each transaction keeps its own compares in the combined one, so the combined one commits only if every one of them
 * would have committed alone, and all its writes land at one revision: what each was guaranteed alone still holds.
 * Transactions touching a key another one of the batch writes or compares go to a later batch (they might decide
 * each other), except blind puts of one key that no member compares (the guards every creation puts): one put of it
 * serves them all. Compares several members share word for word (the network record, its structure guard, its
 * name: every creation in the network compares them) are sent once: the combined transaction's condition is the
 * conjunction of its members', and a conjunction holds a repeated term once.
 *
 * When a combined transaction fails, some member's compare failed, but etcd does not say which: one read of every
 * key the batch compared tells. The members whose compares fail on it fail (a lost race: they plan again, as if
 * their own transaction had failed); the others go again together, still each with all its compares. Were that
 * second combined transaction to fail too, its members are sent alone, exactly as if never batched. A lost race
 * thus costs a batch one read and one transaction, not one transaction per member (three API servers filling one
 * subnet lose a few races per hundred creations, each of which used to re-send a whole batch member by member).
 */
import type { Compare, KeyValue, Store, TxnOp, TxnResult } from '../store/types.js';
import { compareHolds, MAX_TXN_OPS as MAX_OPS, StoreError } from '../store/types.js';

interface Member {
  compares: Compare[];
  /** compareId() of each compare, computed once. */
  ids: string[];
  ops: TxnOp[];
  resolve(r: TxnResult): void;
  reject(e: unknown): void;
}

interface Batch {
  members: Member[];
  /** The distinct compares of the members (an identical compare is sent once). */
  compares: Compare[];
  /** Each compare of `compares` as compareId() spells it. */
  compareIds: Set<string>;
  /** Key → the put or delete of it (blind shared puts: the last value). */
  writes: Map<string, TxnOp>;
  /** Keys compared by a member. */
  compared: Set<string>;
  /** Keys only blind-put (by one or more members): shareable. */
  blind: Set<string>;
  /**
   * A member found no room in it (the store's limits): later members, alike in size (creations in one network),
   * go to later batches without being checked against it. A thousand creations in one turn fill dozens of batches,
   * and checking each against every full one before was most of the batcher's time.
   */
  full: boolean;
}

const opKey = (op: TxnOp): string => (op.op === 'deletePrefix' ? `\0prefix:${op.prefix}` : op.key);

/** A compare spelled as one string: two compares are the same condition exactly when their ids are equal. */
const compareId = (c: Compare): string =>
  'modRevision' in c ? `${c.key}\0r${c.modRevision}` : 'exists' in c ? `${c.key}\0e` : `${c.key}\0v${c.value}`;

/**
 * Combined transactions one batcher has in flight at once. While that many are, the creations that arrive join the
 * batches waiting, which grow: creations arriving spread out (one connection each, as a load generator or a
 * provisioning script sends them) are sent a few per transaction otherwise, and every transaction costs etcd and the
 * API server (docs/northbound-writes.md, sixteenth session). A burst's batches go MAX_IN_FLIGHT at a time.
 */
export const MAX_IN_FLIGHT = 4;

export class TxnBatcher {
  private pending: Batch[] = [];
  private scheduled = false;
  private inFlight = 0;

  /**
   * @param isBlind whether a put of this key is a blind guard put that members may share (no member compares it).
   */
  constructor(
    private readonly store: Store,
    private readonly isBlind: (key: string) => boolean,
  ) {}

  txn = (compares: Compare[], ops: TxnOp[]): Promise<TxnResult> =>
    new Promise((resolve, reject) => {
      const m: Member = { compares, ids: compares.map(compareId), ops, resolve, reject };
      // A member with prefix deletes, or too big to share, goes alone.
      if (ops.some((o) => o.op === 'deletePrefix') || compares.length > MAX_OPS / 2 || ops.length > MAX_OPS / 2) {
        void this.alone(m);
        return;
      }
      let b: Batch | undefined;
      for (const x of this.pending) {
        if (x.full) continue;
        const f = fits(x, m, this.isBlind);
        if (f === 'yes') {
          b = x;
          break;
        }
        if (f === 'no room') x.full = true;
      }
      add(b ?? this.open(), m, this.isBlind);
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });

  private open(): Batch {
    const b = this.batch();
    this.pending.push(b);
    return b;
  }

  private batch(): Batch {
    return { members: [], compares: [], compareIds: new Set(), writes: new Map(), compared: new Set(), blind: new Set(), full: false };
  }

  private flush(): void {
    this.scheduled = false;
    while (this.pending.length > 0 && this.inFlight < MAX_IN_FLIGHT) {
      const b = this.pending.shift()!;
      this.inFlight++;
      void this.send(b).finally(() => this.sent());
    }
  }

  /** A combined transaction is answered: the batches waiting go (a turn later, so that what arrives now joins them). */
  private sent(): void {
    this.inFlight--;
    if (this.pending.length > 0 && !this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  private alone(m: Member): Promise<void> {
    return this.store.txn(m.compares, m.ops).then(m.resolve, (e: unknown) => {
      m.reject(e);
      this.unreachable(e);
    });
  }

  /**
   * The store unreachable: every batch waiting for its turn fails now. Sent, it would wait for the ones in flight to
   * fail first, then fail the same way: a burst during an outage would take a call deadline per MAX_IN_FLIGHT
   * batches to be told.
   */
  private unreachable(e: unknown): void {
    if (!(e instanceof StoreError) || e.code !== 'UNAVAILABLE') return;
    const waiting = this.pending;
    this.pending = [];
    for (const w of waiting) for (const m of w.members) m.reject(e);
  }

  /** `again`: the batch is the survivors of a failed one (a second failure sends each member alone). */
  private async send(b: Batch, again = false): Promise<void> {
    if (b.members.length === 1) return this.alone(b.members[0]!);
    let r: TxnResult;
    try {
      r = await this.store.txn(b.compares, [...b.writes.values()]);
    } catch (e) {
      // Refused as a whole (e.g. a limit of the store): each alone decides. Otherwise every member fails.
      if (e instanceof StoreError && e.code === 'INVALID') for (const m of b.members) void this.alone(m);
      else for (const m of b.members) m.reject(e);
      this.unreachable(e);
      return;
    }
    if (r.succeeded) for (const m of b.members) m.resolve(r);
    else if (again) for (const m of b.members) void this.alone(m);
    else await this.sortOut(b);
  }

  /** A failed batch: which members' compares fail now (they fail), and the others again together. */
  private async sortOut(b: Batch): Promise<void> {
    const keys = [...new Set(b.compares.map((c) => c.key))];
    let now: Map<string, KeyValue>;
    let revision: number;
    try {
      const r = await this.store.read(keys.map((key) => ({ key })));
      revision = r.revision;
      now = new Map(r.results.flatMap((kvs) => kvs.map((kv): [string, KeyValue] => [kv.key, kv])));
    } catch {
      // The read failed: decide as before, member by member.
      for (const m of b.members) void this.alone(m);
      return;
    }
    const rest: Batch = this.batch();
    for (const m of b.members) {
      if (m.compares.every((c) => compareHolds(c, now.get(c.key)))) add(rest, m, this.isBlind);
      else m.resolve({ succeeded: false, revision });
    }
    if (rest.members.length > 0) await this.send(rest, true);
  }
}

/**
 * Whether `m` can join `b`: 'yes'; 'conflict' when it would decide (or be decided by) another member; 'no room'
 * beyond the store's limits.
 */
function fits(b: Batch, m: Member, isBlind: (key: string) => boolean): 'yes' | 'conflict' | 'no room' {
  let newCompares = 0;
  for (let i = 0; i < m.compares.length; i++) {
    if (b.writes.has(m.compares[i]!.key)) return 'conflict';
    if (!b.compareIds.has(m.ids[i]!)) newCompares++;
  }
  if (b.compares.length + newCompares > MAX_OPS) return 'no room';
  let newWrites = 0;
  for (const op of m.ops) {
    const k = opKey(op);
    const shared = op.op === 'put' && isBlind(k) && b.blind.has(k);
    if (shared) continue;
    if (b.writes.has(k) || b.compared.has(k)) return 'conflict';
    newWrites++;
  }
  return b.writes.size + newWrites <= MAX_OPS ? 'yes' : 'no room';
}

function add(b: Batch, m: Member, isBlind: (key: string) => boolean): void {
  b.members.push(m);
  for (let i = 0; i < m.compares.length; i++) {
    const id = m.ids[i]!;
    if (b.compareIds.has(id)) continue;
    b.compareIds.add(id);
    b.compares.push(m.compares[i]!);
    b.compared.add(m.compares[i]!.key);
  }
  for (const op of m.ops) {
    const k = opKey(op);
    b.writes.set(k, op);
    if (op.op === 'put' && isBlind(k) && !b.compared.has(k)) b.blind.add(k);
    else b.blind.delete(k);
  }
}
