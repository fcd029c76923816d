/**
 * Disaster recovery: export the configuration (networks, subnets, ports, routers, security groups, floating IPs, sites'
 * gateway candidates) as one JSON
 * document read at a single store revision, and import it back idempotently with the same ids.
 * Chassis and bindings are live state owned by agents and are not part of the document; neither are the
 * membership index of security groups nor the address and MAC claims of ports, floating IPs and router gateways (derived
 * from them: rebuilt on import).
 */
import { readInPieces, type Compare, type Store, type TxnOp } from '../store/types.js';
import { encodeFipClaim, encodeGatewayClaim, encodePortClaim } from './port-claims.js';
import {
  decodeFloatingIp,
  decodeNetwork,
  decodePort,
  decodeRouter,
  decodeSecurityGroup,
  decodeSite,
  decodeSubnet,
  encodeNetwork,
  encodePort,
  encodeFloatingIp,
  encodeRouter,
  encodeSecurityGroup,
  encodeSgMember,
  encodeSite,
  encodeSubnet,
} from './codec.js';
import { throughOutage, writeDeadline } from './cas.js';
import { conflict } from './errors.js';
import {
  allocKey,
  fipKey,
  guardKey,
  ipClaimKey,
  macClaimKey,
  nameKey,
  portIdKey,
  networkKey,
  parseKey,
  portKey,
  ROOT,
  routerKey,
  segmentKey,
  sgKey,
  sgMemberKey,
  siteKey,
  subnetKey,
} from './keys.js';
import { memberOf } from './sg-members.js';
import { fipIndexOps, routerIndexOps } from './lazy-index.js';
import { encodeClaim } from './read.js';
import { checkTopologyDocument } from './topology-check.js';
import type { TopologyDocument } from './types.js';

const byId = <T extends { id: string }>(a: T, b: T): number => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/** The snapshot and the store revision it was read at (one range = one revision). */
export async function exportTopologyAt(store: Store): Promise<{ doc: TopologyDocument; revision: number }> {
  const { kvs, revision } = await store.range(ROOT);
  const doc: TopologyDocument = {
    format: 'wyvern-topology',
    version: 1,
    networks: [],
    subnets: [],
    ports: [],
    routers: [],
    securityGroups: [],
    floatingIps: [],
    sites: [],
  };
  for (const kv of kvs) {
    const k = parseKey(kv.key);
    if (k?.kind === 'network') doc.networks.push(decodeNetwork(kv.value));
    else if (k?.kind === 'subnet') doc.subnets.push(decodeSubnet(kv.value));
    else if (k?.kind === 'port') doc.ports.push(decodePort(kv.value));
    else if (k?.kind === 'router') doc.routers.push(decodeRouter(kv.value));
    else if (k?.kind === 'security-group') doc.securityGroups!.push(decodeSecurityGroup(kv.value));
    else if (k?.kind === 'floating-ip') doc.floatingIps!.push(decodeFloatingIp(kv.value));
    else if (k?.kind === 'site') doc.sites!.push(decodeSite(kv.value));
  }
  // Sorted by id so two exports of the same state are byte-identical whatever the driver's key order.
  doc.networks.sort(byId);
  doc.subnets.sort(byId);
  doc.ports.sort(byId);
  doc.routers.sort(byId);
  doc.securityGroups!.sort(byId);
  doc.floatingIps!.sort(byId);
  doc.sites!.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { doc, revision };
}

export async function exportTopology(store: Store): Promise<TopologyDocument> {
  return (await exportTopologyAt(store)).doc;
}

export interface ImportResult {
  /** Keys written (0 on a re-import of the same document). */
  written: number;
  /** Objects already present with identical content. */
  unchanged: number;
  revision: number;
}

/** What an import writes: each key's value, what it is (for a conflict's message), and whether it must be exact. */
type Wanted = Map<string, { value: string; what: string; exact: boolean }>;

/** etcd refuses transactions above --max-txn-ops (128 by default): large imports go in chunks. */
const CHUNK = 100;

/**
 * Writes every object of `doc` that is not already stored. Identical objects are skipped (a
 * re-import writes nothing); an object, name or key allocation that exists with different
 * content is a CONFLICT and nothing is written. Each chunk's compares require its keys to be
 * still absent, so a concurrent writer cannot be overwritten.
 */
export async function importTopology(store: Store, raw: unknown): Promise<ImportResult> {
  const outageUntil = writeDeadline();
  // The same rules as the API's create requests, object by object, plus the cross-object invariants.
  const doc = checkTopologyDocument(raw);
  const want: Wanted = new Map();
  const add = (key: string, value: string, what: string, exact = true): void => {
    want.set(key, { value, what, exact });
  };
  for (const n of doc.networks) {
    add(networkKey(n.id), encodeNetwork(n), `network ${n.name}`);
    add(nameKey('network', n.name), encodeClaim({ id: n.id }), `network name ${n.name}`);
    add(allocKey('tunnel-key', n.tunnelKey), `network/${n.id}`, `tunnel key ${n.tunnelKey}`);
    add(guardKey(n.id), 'import', 'guard', false);
    if (n.provider)
      add(segmentKey(n.provider.physnet, n.provider.vlan), JSON.stringify({ networkId: n.id }), `provider segment of network ${n.name}`);
  }
  for (const s of doc.subnets) {
    add(subnetKey(s.networkId, s.id), encodeSubnet(s), `subnet ${s.name}`);
    add(nameKey('subnet', s.name), encodeClaim({ id: s.id, networkId: s.networkId }), `subnet name ${s.name}`);
  }
  for (const p of doc.ports) {
    add(portKey(p.networkId, p.id), encodePort(p), `port ${p.name}`);
    add(nameKey('port', p.name), encodeClaim({ id: p.id, networkId: p.networkId }), `port name ${p.name}`);
    add(portIdKey(p.id), encodeClaim({ id: p.id, networkId: p.networkId }), `port id ${p.id}`);
    add(allocKey('port-key', p.portKey), `port/${p.id}`, `port key ${p.portKey}`);
    // Its claims (port-claims.ts): another port's claim on the same address or MAC is a conflict.
    for (const f of p.fixedIps) add(ipClaimKey(p.networkId, f.ip), encodePortClaim(p), `address ${f.ip} of port ${p.name}`);
    add(macClaimKey(p.networkId, p.mac), encodePortClaim(p), `MAC ${p.mac} of port ${p.name}`);
    // Derived from the port: written when absent, never a conflict of its own (the port's document is).
    for (const g of p.securityGroups) add(sgMemberKey(g, p.id), encodeSgMember(memberOf(p)), `member ${p.name} of ${g}`, false);
  }
  for (const g of doc.securityGroups ?? []) {
    add(sgKey(g.id), encodeSecurityGroup(g), `security group ${g.name}`);
    add(nameKey('security-group', g.name), encodeClaim({ id: g.id }), `security group name ${g.name}`);
    add(allocKey('sg-key', g.groupKey), `security-group/${g.id}`, `security group key ${g.groupKey}`);
    for (const r of g.rules) add(allocKey('sg-rule-key', r.ruleKey), `sg-rule/${r.id}`, `security group rule key ${r.ruleKey}`);
  }
  for (const r of doc.routers) {
    add(routerKey(r.id), encodeRouter(r), `router ${r.name}`);
    add(nameKey('router', r.name), encodeClaim({ id: r.id }), `router name ${r.name}`);
    add(allocKey('router-key', r.routerKey), `router/${r.id}`, `router key ${r.routerKey}`);
    // Its lazy index (lazy-index.ts): derived, written when absent.
    for (const op of routerIndexOps(undefined, r)) if (op.op === 'put') add(op.key, op.value, `index of router ${r.name}`, false);
    // Its gateway's claims on the provider network (port-claims.ts claimGateway), as a FIP's.
    const gw = r.gateway;
    if (gw) {
      add(ipClaimKey(gw.networkId, gw.ip), encodeGatewayClaim(r), `address ${gw.ip} of the gateway of router ${r.name}`);
      add(macClaimKey(gw.networkId, gw.mac), encodeGatewayClaim(r), `MAC ${gw.mac} of the gateway of router ${r.name}`);
    }
  }
  for (const f of doc.floatingIps ?? []) {
    add(fipKey(f.id), encodeFloatingIp(f), `floating IP ${f.ip}`);
    // Its claims on the provider network (port-claims.ts), as a port's: a port or FIP holding either is a conflict.
    add(ipClaimKey(f.networkId, f.ip), encodeFipClaim(f), `address ${f.ip} of floating IP ${f.id}`);
    add(macClaimKey(f.networkId, f.mac), encodeFipClaim(f), `MAC ${f.mac} of floating IP ${f.ip}`);
    for (const op of fipIndexOps(undefined, f)) if (op.op === 'put') add(op.key, op.value, `index of floating IP ${f.ip}`, false);
  }
  for (const s of doc.sites ?? []) add(siteKey(s.name), encodeSite(s), `gateway candidates of site ${s.name}`);
  // A store that fails to answer: imported again from a new read, which finds what the pass before wrote (a chunk
  // whose answer was lost included) unchanged. `written` then counts only the last pass's writes.
  return throughOutage(() => importPass(store, want), outageUntil);
}

/** One read of the store and the writes of what `want` holds that it lacks; a CONFLICT when any differs. */
async function importPass(store: Store, want: Wanted): Promise<ImportResult> {
  const { kvs, revision } = await store.range(ROOT);
  const have = new Map(kvs.map((kv) => [kv.key, kv.value]));
  const conflicts: string[] = [];
  const puts: { key: string; value: string }[] = [];
  let unchanged = 0;
  for (const [key, w] of want) {
    const cur = have.get(key);
    if (cur === undefined) puts.push({ key, value: w.value });
    else if (cur === w.value) unchanged++;
    else if (w.exact) conflicts.push(`${w.what} differs from the stored one`);
  }
  if (conflicts.length > 0) {
    throw conflict(
      undefined,
      `import conflicts with the store (nothing written): ${conflicts.slice(0, 10).join('; ')}` +
        (conflicts.length > 10 ? `; and ${conflicts.length - 10} more` : ''),
    );
  }
  let rev = revision;
  let written = 0;
  for (let i = 0; i < puts.length; i += CHUNK) {
    const r = await writeChunk(store, want, puts.slice(i, i + CHUNK));
    written += r.written;
    unchanged += r.unchanged;
    rev = Math.max(rev, r.revision);
  }
  return { written, unchanged, revision: rev };
}

/**
 * Rounds a chunk goes through before the import gives up. A round is refused only when a key it would write exists
 * now, and that key is out of the next round (or stops the import), so a chunk takes at most one round per key; more
 * means keys are deleted and written again under the import.
 */
const CHUNK_ROUNDS = CHUNK + 1;

/**
 * Writes one chunk of an import's missing keys, each only if still absent. Refused, because some key was written
 * since the pass's read: the chunk's keys are read again, and those that hold what the import writes now (a chunk
 * of this import whose answer was lost, landing late; the same document imported beside it) count as unchanged, the
 * absent ones are written again; a key that holds something else is a writer racing the import (CONFLICT naming it,
 * nothing more written; what the chunks before wrote stays, and a re-run completes it).
 */
async function writeChunk(
  store: Store,
  want: Wanted,
  chunk: { key: string; value: string }[],
): Promise<{ written: number; unchanged: number; revision: number }> {
  let todo = chunk;
  let unchanged = 0;
  for (let round = 0; round < CHUNK_ROUNDS; round++) {
    const compares: Compare[] = todo.map((p) => ({ key: p.key, modRevision: 0 }));
    const ops: TxnOp[] = todo.map((p) => ({ op: 'put', key: p.key, value: p.value }));
    const r = await store.txn(compares, ops);
    if (r.succeeded) return { written: todo.length, unchanged, revision: r.revision };
    const now = (
      await readInPieces(
        store,
        todo.map((p) => ({ key: p.key })),
      )
    ).map((kvs) => kvs[0]?.value);
    const racing: string[] = [];
    const absent: typeof todo = [];
    todo.forEach((p, k) => {
      const cur = now[k];
      if (cur === undefined) absent.push(p);
      else if (cur === p.value || !want.get(p.key)!.exact) unchanged++;
      else racing.push(want.get(p.key)!.what);
    });
    if (racing.length > 0)
      throw conflict(
        undefined,
        `import raced with another writer: ${racing.slice(0, 5).join('; ')}${racing.length > 5 ? `; and ${racing.length - 5} more` : ''} ` +
          `written meanwhile with other contents (the keys of the chunks before stay imported; re-run the import to see every conflict)`,
      );
    if (absent.length === 0) return { written: 0, unchanged, revision: await store.currentRevision() };
    todo = absent;
  }
  throw conflict(undefined, `import raced with writers deleting and writing its keys again; re-run the import`);
}
