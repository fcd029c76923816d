/**
 * Disaster recovery: export the configuration (networks, subnets, ports, routers) as one JSON
 * document read at a single store revision, and import it back idempotently with the same ids.
 * Chassis and bindings are live state owned by agents and are not part of the document.
 */
import type { Compare, Store, TxnOp } from '../store/types.js';
import {
  decodeNetwork, decodePort, decodeRouter, decodeSubnet, encodeNetwork, encodePort, encodeRouter, encodeSubnet,
} from './codec.js';
import { conflict, invalid } from './errors.js';
import { broadcastOf, cidrContains, cidrsOverlap, ipToInt, parseSubnetCidr } from './ipam.js';
import { allocKey, guardKey, nameKey, networkKey, parseKey, portKey, ROOT, routerKey, subnetKey } from './keys.js';
import { encodeClaim } from './read.js';
import type { Network, Port, Router, Subnet, TopologyDocument } from './types.js';
import { asObject } from './validate.js';

const byId = <T extends { id: string }>(a: T, b: T): number => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/** The snapshot and the store revision it was read at (one range = one revision). */
export async function exportTopologyAt(store: Store): Promise<{ doc: TopologyDocument; revision: number }> {
  const { kvs, revision } = await store.range(ROOT);
  const doc: TopologyDocument = { format: 'wyvern-topology', version: 1, networks: [], subnets: [], ports: [], routers: [] };
  for (const kv of kvs) {
    const k = parseKey(kv.key);
    if (k?.kind === 'network') doc.networks.push(decodeNetwork(kv.value));
    else if (k?.kind === 'subnet') doc.subnets.push(decodeSubnet(kv.value));
    else if (k?.kind === 'port') doc.ports.push(decodePort(kv.value));
    else if (k?.kind === 'router') doc.routers.push(decodeRouter(kv.value));
  }
  // Sorted by id so two exports of the same state are byte-identical whatever the driver's key order.
  doc.networks.sort(byId); doc.subnets.sort(byId); doc.ports.sort(byId); doc.routers.sort(byId);
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

function arr(o: Record<string, unknown>, k: string): unknown[] {
  const v = o[k] ?? [];
  if (!Array.isArray(v)) throw invalid(k, `${k} must be an array`);
  return v;
}

export function parseDocument(raw: unknown): TopologyDocument {
  const o = asObject(raw, 'document');
  if (o.format !== 'wyvern-topology') throw invalid('format', 'format must be "wyvern-topology" (is this a wyvern export?)');
  if (o.version !== 1) throw invalid('version', `unsupported document version ${JSON.stringify(o.version)} (expected 1)`);
  return {
    format: 'wyvern-topology', version: 1,
    networks: arr(o, 'networks').map((x, i) => decodeNetwork(x, `networks[${i}]`)),
    subnets: arr(o, 'subnets').map((x, i) => decodeSubnet(x, `subnets[${i}]`)),
    ports: arr(o, 'ports').map((x, i) => decodePort(x, `ports[${i}]`)),
    routers: arr(o, 'routers').map((x, i) => decodeRouter(x, `routers[${i}]`)),
  };
}

function unique<T>(items: T[], key: (t: T) => string | number, what: string, field: string): void {
  const seen = new Set<string | number>();
  items.forEach((t, i) => {
    const k = key(t);
    if (seen.has(k)) throw invalid(`${field}[${i}]`, `duplicate ${what} ${k} in document`);
    seen.add(k);
  });
}

/** The model's invariants, checked over a whole document. */
export function checkDocument(doc: TopologyDocument): void {
  for (const [list, f] of [[doc.networks, 'networks'], [doc.subnets, 'subnets'], [doc.ports, 'ports'], [doc.routers, 'routers']] as const) {
    unique<{ id: string; name: string }>(list, (x) => x.id, 'id', f);
    unique<{ id: string; name: string }>(list, (x) => x.name, 'name', f);
  }
  unique(doc.networks, (n) => n.tunnelKey, 'tunnelKey', 'networks');
  unique(doc.ports, (p) => p.portKey, 'portKey', 'ports');
  unique(doc.routers, (r) => r.routerKey, 'routerKey', 'routers');
  const nets = new Map(doc.networks.map((n) => [n.id, n]));
  const subs = new Map(doc.subnets.map((s) => [s.id, s]));
  const ipsByNet = new Map<string, Set<string>>();
  const macsByNet = new Map<string, Set<string>>();
  const claim = (m: Map<string, Set<string>>, net: string, v: string, field: string, what: string): void => {
    const set = m.get(net) ?? new Set<string>();
    if (set.has(v)) throw conflict(field, `duplicate ${what} ${v} in network ${nets.get(net)?.name ?? net}`);
    set.add(v); m.set(net, set);
  };
  doc.subnets.forEach((s, i) => {
    if (!nets.has(s.networkId)) throw invalid(`subnets[${i}].networkId`, `subnet ${s.name}: network ${s.networkId} is not in the document`);
    const c = parseSubnetCidr(s.cidr, `subnets[${i}].cidr`);
    for (const o of doc.subnets.slice(0, i)) {
      if (o.networkId === s.networkId && cidrsOverlap(c, parseSubnetCidr(o.cidr))) throw conflict(`subnets[${i}].cidr`, `subnet ${s.name} overlaps ${o.name}`);
    }
    if (!cidrContains(c, ipToInt(s.gatewayIp))) throw invalid(`subnets[${i}].gatewayIp`, `gateway ${s.gatewayIp} is outside ${s.cidr}`);
  });
  doc.ports.forEach((p, i) => {
    if (!nets.has(p.networkId)) throw invalid(`ports[${i}].networkId`, `port ${p.name}: network ${p.networkId} is not in the document`);
    claim(macsByNet, p.networkId, p.mac, `ports[${i}].mac`, 'MAC');
    p.fixedIps.forEach((f, j) => {
      const s = subs.get(f.subnetId);
      const at = `ports[${i}].fixedIps[${j}]`;
      if (!s || s.networkId !== p.networkId) throw invalid(`${at}.subnetId`, `port ${p.name}: subnet ${f.subnetId} is not in its network`);
      const c = parseSubnetCidr(s.cidr); const n = ipToInt(f.ip);
      if (!cidrContains(c, n) || n === c.network || n === broadcastOf(c)) throw invalid(`${at}.ip`, `port ${p.name}: ${f.ip} is not a host of ${s.cidr}`);
      claim(ipsByNet, p.networkId, f.ip, `${at}.ip`, 'IP');
    });
  });
  doc.routers.forEach((r, i) => {
    r.interfaces.forEach((itf, j) => {
      const s = subs.get(itf.subnetId);
      const at = `routers[${i}].interfaces[${j}]`;
      if (!s || s.networkId !== itf.networkId) throw invalid(`${at}.subnetId`, `router ${r.name}: subnet ${itf.subnetId} is not in the document`);
      if (!cidrContains(parseSubnetCidr(s.cidr), ipToInt(itf.ip))) throw invalid(`${at}.ip`, `router ${r.name}: ${itf.ip} is outside ${s.cidr}`);
      claim(ipsByNet, itf.networkId, itf.ip, `${at}.ip`, 'IP');
      claim(macsByNet, itf.networkId, itf.mac, `${at}.mac`, 'MAC');
    });
    r.routes.forEach((rt, j) => {
      const ok = r.interfaces.some((itf) => { const s = subs.get(itf.subnetId); return s && cidrContains(parseSubnetCidr(s.cidr), ipToInt(rt.nexthop)); });
      if (!ok) throw invalid(`routers[${i}].routes[${j}].nexthop`, `router ${r.name}: nexthop ${rt.nexthop} is not in an attached subnet`);
    });
  });
}

/** etcd refuses transactions above --max-txn-ops (128 by default): large imports go in chunks. */
const CHUNK = 100;

/**
 * Writes every object of `doc` that is not already stored. Identical objects are skipped (a
 * re-import writes nothing); an object, name or key allocation that exists with different
 * content is a CONFLICT and nothing is written. Each chunk's compares require its keys to be
 * still absent, so a concurrent writer cannot be overwritten.
 */
export async function importTopology(store: Store, raw: unknown): Promise<ImportResult> {
  const doc = parseDocument(raw);
  checkDocument(doc);
  const want = new Map<string, { value: string; what: string; exact: boolean }>();
  const add = (key: string, value: string, what: string, exact = true): void => { want.set(key, { value, what, exact }); };
  for (const n of doc.networks) {
    add(networkKey(n.id), encodeNetwork(n), `network ${n.name}`);
    add(nameKey('network', n.name), encodeClaim({ id: n.id }), `network name ${n.name}`);
    add(allocKey('tunnel-key', n.tunnelKey), `network/${n.id}`, `tunnel key ${n.tunnelKey}`);
    add(guardKey(n.id), 'import', 'guard', false);
  }
  for (const s of doc.subnets) {
    add(subnetKey(s.networkId, s.id), encodeSubnet(s), `subnet ${s.name}`);
    add(nameKey('subnet', s.name), encodeClaim({ id: s.id, networkId: s.networkId }), `subnet name ${s.name}`);
  }
  for (const p of doc.ports) {
    add(portKey(p.networkId, p.id), encodePort(p), `port ${p.name}`);
    add(nameKey('port', p.name), encodeClaim({ id: p.id, networkId: p.networkId }), `port name ${p.name}`);
    add(allocKey('port-key', p.portKey), `port/${p.id}`, `port key ${p.portKey}`);
  }
  for (const r of doc.routers) {
    add(routerKey(r.id), encodeRouter(r), `router ${r.name}`);
    add(nameKey('router', r.name), encodeClaim({ id: r.id }), `router name ${r.name}`);
    add(allocKey('router-key', r.routerKey), `router/${r.id}`, `router key ${r.routerKey}`);
  }
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
    throw conflict(undefined, `import conflicts with the store (nothing written): ${conflicts.slice(0, 10).join('; ')}` +
      (conflicts.length > 10 ? `; and ${conflicts.length - 10} more` : ''));
  }
  let rev = revision;
  for (let i = 0; i < puts.length; i += CHUNK) {
    const chunk = puts.slice(i, i + CHUNK);
    const compares: Compare[] = chunk.map((p) => ({ key: p.key, modRevision: 0 }));
    const ops: TxnOp[] = chunk.map((p) => ({ op: 'put', key: p.key, value: p.value }));
    const r = await store.txn(compares, ops);
    if (!r.succeeded) throw conflict(undefined, `import raced with another writer after ${i} of ${puts.length} keys; re-run the import`);
    rev = r.revision;
  }
  return { written: puts.length, unchanged, revision: rev };
}
