/**
 * The lazy index of routers and floating IPs (issue 17; the key layout in keys.ts).
 *
 * Routers, floating IPs and gateway leases used to be watched by every agent: one router change reached every
 * hypervisor, and each held every router. Now each router is indexed under the networks it touches (its
 * interfaces' and its gateway's) and under the chassis that are its gateway candidates, and each associated FIP
 * under its port's network. An agent watching a network reads the index with it and watches only those routers
 * and FIPs, each by its own key.
 *
 * The API's writers read a network's routers and FIPs through the same index (read.ts snapshotNet; FIPs also under
 * `fips-on/<network>/`, outside every agent's watch), not every router and FIP in the store.
 *
 * Every writer of a router or FIP puts the index in the same transaction (routerIndexOps, fipIndexOps: only what
 * changed, so a route added to a router wakes nobody watching its networks). Routers and FIPs written before the
 * index existed are indexed once per store by ensureLazyIndex, which each agent runs at start.
 */
import { inPieces, type KeyValue, type Store, type TxnOp } from '../store/types.js';
import { decodeFloatingIp, decodeRouter } from './codec.js';
import { FIPS_PREFIX, fipOnKey, fipRefKey, gatewayOfKey, LAZY_INDEX_KEY, ROUTERS_PREFIX, routerRefKey } from './keys.js';
import type { FloatingIp, Router } from './types.js';
import { isoTime } from '../util/time.js';

/** The index keys a router needs: one per network it touches, one per gateway candidate chassis. */
export function routerIndexKeys(r: Router | undefined): Set<string> {
  const out = new Set<string>();
  if (!r) return out;
  for (const i of r.interfaces) out.add(routerRefKey(i.networkId, r.id));
  if (r.gateway) {
    out.add(routerRefKey(r.gateway.networkId, r.id));
    for (const c of r.gateway.chassis) out.add(gatewayOfKey(c, r.id));
  }
  return out;
}

/**
 * The index keys an FIP needs: under its (provider) network for the API's writers there, and under its port's network
 * while associated (the chassis hosting the port NATs it; agents watch only this one).
 */
export function fipIndexKeys(f: FloatingIp | undefined): Set<string> {
  const out = new Set<string>();
  if (!f) return out;
  out.add(fipOnKey(f.networkId, f.id));
  if (f.portNetworkId !== undefined && f.portId !== undefined) out.add(fipRefKey(f.portNetworkId, f.id));
  return out;
}

function diff(before: Set<string>, after: Set<string>, id: string): TxnOp[] {
  const ops: TxnOp[] = [];
  for (const k of before) if (!after.has(k)) ops.push({ op: 'delete', key: k });
  for (const k of after) if (!before.has(k)) ops.push({ op: 'put', key: k, value: id });
  return ops;
}

/** The index writes of a router going from `before` to `after` (undefined: created / deleted). */
export function routerIndexOps(before: Router | undefined, after: Router | undefined): TxnOp[] {
  return diff(routerIndexKeys(before), routerIndexKeys(after), (after ?? before)?.id ?? '');
}

/** The index writes of an FIP going from `before` to `after` (undefined: created / deleted). */
export function fipIndexOps(before: FloatingIp | undefined, after: FloatingIp | undefined): TxnOp[] {
  return diff(fipIndexKeys(before), fipIndexKeys(after), (after ?? before)?.id ?? '');
}

/**
 * Puts the whole index of one object, guarded by its revision. When the object changed since it was read, it is read
 * again and indexed as it is now: the writer that changed it wrote only the index keys its change moved.
 */
async function indexOne(store: Store, first: KeyValue, keys: (value: string) => Set<string>): Promise<void> {
  let kv: KeyValue | undefined = first;
  for (let attempt = 0; kv && attempt < 100; attempt++) {
    let want: Set<string>;
    try {
      want = keys(kv.value);
    } catch {
      return; // a document this version cannot read: nothing to index
    }
    if (want.size === 0) return;
    const id = idOf(kv.key);
    const puts = [...want].map((key): TxnOp => ({ op: 'put', key, value: id }));
    // In pieces a store takes, each guarded by the same revision.
    let held = true;
    for (const piece of inPieces(puts)) if (held) held = (await store.txn([{ key: kv.key, modRevision: kv.modRevision }], piece)).succeeded;
    if (held) return;
    kv = await store.get(kv.key);
  }
}

/** How long a claim to write the index may stand before another agent takes it over (its writer died). */
const CLAIM_STALE_MS = 30_000;

interface IndexState {
  state: 'writing' | 'done';
  by: string;
  at: string;
}

/** LAZY_INDEX_KEY's value; undefined when absent or unreadable (as if never written). */
function indexState(value: string | undefined): IndexState | undefined {
  if (value === undefined) return undefined;
  try {
    return JSON.parse(value) as IndexState;
  } catch {
    return undefined;
  }
}

/** Whether LAZY_INDEX_KEY's value says every router and FIP is indexed. */
export function indexComplete(value: string | undefined): boolean {
  return indexState(value)?.state === 'done';
}

/**
 * Indexes every router and FIP made before the index existed, once per store: the first agent to start claims the
 * work (a create-only put of LAZY_INDEX_KEY), writes each object's whole index guarded by its revision (indexOne),
 * and marks it done; the others see the claim and go on. A claim left by a writer that died is taken over after
 * CLAIM_STALE_MS (a slow writer taken over only means the same keys written twice). Returns what this call did.
 *
 * Writers that predate the index and still run (an API process not yet upgraded) write routers and FIPs without it:
 * upgrade every process that serves the API before relying on lazy sync of routers (docs/scale.md).
 */
export async function ensureLazyIndex(store: Store, by: string, now = Date.now): Promise<'present' | 'written' | 'claimed-elsewhere'> {
  const cur = await store.get(LAZY_INDEX_KEY);
  const state = indexState(cur?.value);
  if (state?.state === 'done') return 'present';
  if (state?.state === 'writing' && now() - Date.parse(state.at) < CLAIM_STALE_MS) return 'claimed-elsewhere';
  const claim: IndexState = { state: 'writing', by, at: isoTime(now()) };
  const won = await store.txn(
    [{ key: LAZY_INDEX_KEY, modRevision: cur?.modRevision ?? 0 }],
    [{ op: 'put', key: LAZY_INDEX_KEY, value: JSON.stringify(claim) }],
  );
  if (!won.succeeded) return 'claimed-elsewhere';
  await indexEach(store, await indexedObjects(store));
  const done: IndexState = { state: 'done', by, at: isoTime(now()) };
  await store.put(LAZY_INDEX_KEY, JSON.stringify(done));
  return 'written';
}

/**
 * Finds every router and FIP whose index keys are not all in the store and writes their whole index (indexOne, guarded
 * by the object's revision); returns their ids. The index is complete only if every writer keeps it: an API process
 * of a version before it (in a rolling upgrade, agents of the old version serve the API too) writes routers and FIPs
 * without it, and lazy agents then never hear of them. One agent runs this now and then (agent/lazy-index.ts) so
 * such an object is found within that period. Keys that name an object no longer there (left by such a writer) are
 * left alone: they only make an agent watch a key that holds nothing for it.
 */
export async function auditLazyIndex(store: Store): Promise<string[]> {
  const work: (Indexable & { want: string[] })[] = [];
  for (const o of await indexedObjects(store)) {
    try {
      work.push({ ...o, want: [...o.keys(o.kv.value)] });
    } catch {
      // a document this version cannot read: nothing to index
    }
  }
  const present = new Set<string>();
  const wanted = work.flatMap((w) => w.want.map((key) => ({ key })));
  for (const piece of inPieces(wanted)) for (const r of (await store.read(piece)).results) for (const kv of r) present.add(kv.key);
  const incomplete = work.filter((w) => w.want.some((k) => !present.has(k)));
  await indexEach(store, incomplete);
  return incomplete.map((w) => idOf(w.kv.key));
}

/** A router or FIP as stored, with the index keys its document calls for. */
interface Indexable {
  kv: KeyValue;
  keys: (value: string) => Set<string>;
}

/** Every router and FIP in the store. */
async function indexedObjects(store: Store): Promise<Indexable[]> {
  const [routers, fips] = await Promise.all([store.range(ROUTERS_PREFIX), store.range(FIPS_PREFIX)]);
  return [
    ...routers.kvs.map((kv) => ({ kv, keys: (v: string) => routerIndexKeys(decodeRouter(v)) })),
    ...fips.kvs.map((kv) => ({ kv, keys: (v: string) => fipIndexKeys(decodeFloatingIp(v)) })),
  ];
}

/** Writes each object's whole index (indexOne), 16 objects at a time. */
async function indexEach(store: Store, objects: readonly Indexable[]): Promise<void> {
  for (let i = 0; i < objects.length; i += 16) await Promise.all(objects.slice(i, i + 16).map((o) => indexOne(store, o.kv, o.keys)));
}

/** The id of a router or FIP: the last part of its key. */
const idOf = (key: string): string => key.slice(key.lastIndexOf('/') + 1);
