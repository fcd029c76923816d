/**
 * Validation of an imported topology document. Every object goes through the same parse functions
 * as the API's create requests (validate.ts), then through the invariants that span objects
 * (uniqueness, references, addresses inside their subnet). Every problem is collected, each naming
 * the object and its field, so a refused file can be fixed in one round; nothing is written unless
 * the whole document is clean.
 */
import { decodeFloatingIp, decodeNetwork, decodePort, decodeRouter, decodeSecurityGroup, decodeSite, decodeSubnet } from './codec.js';
import { conflict, invalid, Problems } from './errors.js';
import { cidrContains, cidrsOverlap, ipToInt, isHostOf, type Cidr } from '../net/addr.js';
import { parseSubnetCidr } from './addr-rules.js';
import type { FloatingIp, Network, Port, Router, SecurityGroup, Site, Subnet, TopologyDocument } from './types.js';
import { checkNorthSouth } from './topology-check-ns.js';
import { parseSecurityGroupInput, parseSgRuleInput, rulesOverlap } from './sg-validate.js';
import {
  asObject,
  parseInterfaceInput,
  parseNetworkInput,
  parsePortInput,
  parseRouteInput,
  parseRouterInput,
  parseSubnetInput,
} from './validate.js';

function arr(o: Record<string, unknown>, k: string): unknown[] {
  const v = o[k] ?? [];
  if (!Array.isArray(v)) throw invalid(k, `${k} must be an array`);
  return v;
}

/** "subnet \"blue-a\"" (or "subnets[3]" when the entry has no usable name), for messages. */
function label(kind: string, list: string, i: number, raw: unknown): string {
  const name = typeof raw === 'object' && raw !== null ? (raw as { name?: unknown }).name : undefined;
  return typeof name === 'string' ? `${kind} ${JSON.stringify(name)}` : `${list}[${i}]`;
}

export interface Entry<T> {
  obj: T;
  i: number;
  at: string;
  label: string;
}

/**
 * Decodes one list of the document, then runs the create rules on each object. Returns the objects
 * that passed both (those that failed are reported and left out of the cross-object checks, so one
 * fault is not reported again as a dangling reference).
 */
function checkList<T>(
  p: Problems,
  o: Record<string, unknown>,
  list: string,
  kind: string,
  decode: (v: unknown, at: string) => T,
  rules: (t: T, e: Entry<T>) => void,
): { ok: Entry<T>[]; all: Entry<T>[] } {
  const ok: Entry<T>[] = [];
  const all: Entry<T>[] = [];
  (p.run(() => arr(o, list)) ?? []).forEach((raw, i) => {
    const at = `${list}[${i}]`;
    const lbl = label(kind, list, i, raw);
    const obj = p.run(() => decode(raw, at), '', lbl);
    if (obj === undefined) return;
    const e = { obj, i, at, label: lbl };
    all.push(e);
    const before = p.list.length;
    p.run(() => rules(obj, e), `${at}.`, lbl);
    if (p.list.length === before) ok.push(e);
  });
  return { ok, all };
}

function networkRules(n: Network): void {
  parseNetworkInput({ name: n.name, mtu: n.mtu, ...(n.provider ? { provider: n.provider } : {}) });
}

function subnetRules(s: Subnet): void {
  parseSubnetInput({
    name: s.name,
    network: s.networkId,
    cidr: s.cidr,
    gatewayIp: s.gatewayIp,
    enableDhcp: s.enableDhcp,
    dnsServers: s.dnsServers,
    ...(s.domain !== undefined ? { domain: s.domain } : {}),
    hostRoutes: s.hostRoutes,
    leaseTime: s.leaseTime,
    dhcpOptions: s.dhcpOptions,
  });
}

function portRules(x: Port): void {
  parsePortInput({
    name: x.name,
    network: x.networkId,
    mac: x.mac,
    portSecurity: x.portSecurity,
    allowedAddressPairs: x.allowedAddressPairs,
    fixedIps: x.fixedIps.map((f) => ({ subnet: f.subnetId, ip: f.ip })),
    securityGroups: x.securityGroups,
    ...(x.qos !== undefined ? { qos: x.qos } : {}),
  });
  const twice = x.securityGroups.find((g, i) => x.securityGroups.indexOf(g) !== i);
  if (twice !== undefined) throw invalid('securityGroups', `security group ${twice} is listed twice`);
}

function securityGroupRules(g: SecurityGroup): void {
  const p = new Problems();
  p.run(() => parseSecurityGroupInput({ name: g.name, description: g.description }));
  g.rules.forEach((r, j) => {
    const { id: _id, ruleKey: _key, remoteGroupId, ...shape } = r;
    p.run(() => parseSgRuleInput({ ...shape, ...(remoteGroupId !== undefined ? { remoteGroup: remoteGroupId } : {}) }), `rules[${j}].`);
    const dup = g.rules.slice(0, j).find((o) => rulesOverlap(o, r));
    if (dup) p.add(conflict(`rules[${j}]`, `rule ${r.id} overlaps rule ${dup.id}`));
  });
  p.throwIfAny('security group');
}

function routerRules(r: Router): void {
  const p = new Problems();
  p.run(() => parseRouterInput({ name: r.name, mode: r.mode }));
  r.interfaces.forEach((itf, j) => p.run(() => parseInterfaceInput({ subnet: itf.subnetId, ip: itf.ip }), `interfaces[${j}].`));
  r.routes.forEach((rt, j) => p.run(() => parseRouteInput({ cidr: rt.cidr, nexthop: rt.nexthop }), `routes[${j}].`));
  p.throwIfAny('router');
}

function unique<T>(p: Problems, items: Entry<T>[], key: (t: T) => string | number, what: string): void {
  const seen = new Map<string | number, string>();
  for (const e of items) {
    const k = key(e.obj);
    const first = seen.get(k);
    if (first !== undefined) p.add(invalid(`${e.at}`, `${e.label}: duplicate ${what} ${k} in document (also ${first})`));
    else seen.set(k, e.label);
  }
}

/**
 * Parses and validates a whole document; throws one ModelError listing every problem (see
 * Problems), or returns the typed document.
 */
export function checkTopologyDocument(raw: unknown): TopologyDocument {
  const o = asObject(raw, 'document');
  if (o.format !== 'wyvern-topology') throw invalid('format', 'format must be "wyvern-topology" (is this a wyvern export?)');
  if (o.version !== 1) throw invalid('version', `unsupported document version ${JSON.stringify(o.version)} (expected 1)`);
  const p = new Problems();
  const nets = checkList(p, o, 'networks', 'network', decodeNetwork, networkRules);
  const subs = checkList(p, o, 'subnets', 'subnet', decodeSubnet, subnetRules);
  const ports = checkList(p, o, 'ports', 'port', decodePort, portRules);
  const routers = checkList(p, o, 'routers', 'router', decodeRouter, routerRules);
  // Absent in documents written before security groups.
  const sgs = checkList(p, o, 'securityGroups', 'security group', decodeSecurityGroup, securityGroupRules);
  // Absent in documents written before floating IPs.
  const fips = checkList(p, o, 'floatingIps', 'floating IP', decodeFloatingIp, (f: FloatingIp) => void f);
  // Absent in documents written before sites. A site's candidates are chassis names: chassis are live state, not
  // in the document, so only their form is checked (as `site gateway set` accepts a chassis not registered yet).
  const sites = checkList(p, o, 'sites', 'site', decodeSite, (s: Site) => void s);

  for (const l of [nets.all, subs.all, ports.all, routers.all, sgs.all] as Entry<{ id: string; name: string }>[][]) {
    unique(p, l, (x) => x.id, 'id');
    unique(p, l, (x) => x.name, 'name');
  }
  unique(p, nets.all, (n) => n.tunnelKey, 'tunnelKey');
  unique(p, ports.all, (x) => x.portKey, 'portKey');
  unique(p, routers.all, (r) => r.routerKey, 'routerKey');
  unique(p, sgs.all, (g) => g.groupKey, 'groupKey');
  unique(p, fips.all, (f) => f.id, 'id');
  unique(p, sites.all, (s) => s.name, 'name');
  const rules = sgs.all.flatMap((e) => e.obj.rules.map((r, j) => ({ ...e, obj: r, at: `${e.at}.rules[${j}]` })));
  unique(p, rules, (r) => r.id, 'rule id');
  unique(p, rules, (r) => r.ruleKey, 'ruleKey');
  const sgIds = new Set(sgs.all.map((e) => e.obj.id));
  for (const r of rules) {
    if (r.obj.remoteGroupId !== undefined && !sgIds.has(r.obj.remoteGroupId))
      p.add(invalid(`${r.at}.remoteGroupId`, `${r.label}: security group ${r.obj.remoteGroupId} is not in the document`));
  }
  for (const e of ports.all) {
    e.obj.securityGroups.forEach((g, j) => {
      if (!sgIds.has(g)) p.add(invalid(`${e.at}.securityGroups[${j}]`, `${e.label}: security group ${g} is not in the document`));
    });
  }

  const netIds = new Set(nets.all.map((e) => e.obj.id));
  const netName = (id: string): string => nets.all.find((e) => e.obj.id === id)?.obj.name ?? id;
  // Subnets whose own fields are sound, with their parsed CIDR; the others were reported already.
  const good = new Map<string, { s: Subnet; c: Cidr }>(subs.ok.map((e) => [e.obj.id, { s: e.obj, c: parseSubnetCidr(e.obj.cidr) }]));
  const known = new Set(subs.all.map((e) => e.obj.id));
  const ipsByNet = new Map<string, Set<string>>();
  const macsByNet = new Map<string, Set<string>>();
  const claim = (m: Map<string, Set<string>>, net: string, v: string, field: string, lbl: string, what: string): void => {
    const set = m.get(net) ?? new Set<string>();
    if (set.has(v)) p.add(conflict(field, `${lbl}: duplicate ${what} ${v} in network ${netName(net)}`));
    set.add(v);
    m.set(net, set);
  };

  subs.ok.forEach((e, k) => {
    const s = e.obj;
    if (!netIds.has(s.networkId)) p.add(invalid(`${e.at}.networkId`, `${e.label}: network ${s.networkId} is not in the document`));
    const c = good.get(s.id)!.c;
    for (const other of subs.ok.slice(0, k)) {
      if (other.obj.networkId === s.networkId && cidrsOverlap(c, good.get(other.obj.id)!.c)) {
        p.add(conflict(`${e.at}.cidr`, `${e.label}: ${s.cidr} overlaps subnet ${other.obj.name} (${other.obj.cidr})`));
      }
    }
  });

  for (const e of ports.ok) {
    const x = e.obj;
    if (!netIds.has(x.networkId)) p.add(invalid(`${e.at}.networkId`, `${e.label}: network ${x.networkId} is not in the document`));
    claim(macsByNet, x.networkId, x.mac, `${e.at}.mac`, e.label, 'MAC');
    x.fixedIps.forEach((f, j) => {
      const at = `${e.at}.fixedIps[${j}]`;
      const g = good.get(f.subnetId);
      if (!g) {
        if (!known.has(f.subnetId)) p.add(invalid(`${at}.subnetId`, `${e.label}: subnet ${f.subnetId} is not in the document`));
        return;
      }
      if (g.s.networkId !== x.networkId) {
        p.add(invalid(`${at}.subnetId`, `${e.label}: subnet ${g.s.name} is not in the port's network`));
        return;
      }
      if (!isHostOf(g.c, ipToInt(f.ip))) {
        p.add(invalid(`${at}.ip`, `${e.label}: ${f.ip} is not a usable host address of ${g.s.cidr}`));
        return;
      }
      if (f.ip === g.s.gatewayIp) {
        p.add(conflict(`${at}.ip`, `${e.label}: ${f.ip} is the gateway of subnet ${g.s.name}`));
        return;
      }
      claim(ipsByNet, x.networkId, f.ip, `${at}.ip`, e.label, 'IP');
    });
  }

  for (const e of routers.ok) {
    const r = e.obj;
    const attached: Cidr[] = [];
    r.interfaces.forEach((itf, j) => {
      const at = `${e.at}.interfaces[${j}]`;
      const g = good.get(itf.subnetId);
      if (!g) {
        if (!known.has(itf.subnetId)) p.add(invalid(`${at}.subnetId`, `${e.label}: subnet ${itf.subnetId} is not in the document`));
        return;
      }
      if (g.s.networkId !== itf.networkId) {
        p.add(invalid(`${at}.networkId`, `${e.label}: subnet ${g.s.name} is not in network ${itf.networkId}`));
        return;
      }
      if (!isHostOf(g.c, ipToInt(itf.ip))) {
        p.add(invalid(`${at}.ip`, `${e.label}: ${itf.ip} is not a usable host address of ${g.s.cidr}`));
        return;
      }
      claim(ipsByNet, itf.networkId, itf.ip, `${at}.ip`, e.label, 'IP');
      claim(macsByNet, itf.networkId, itf.mac, `${at}.mac`, e.label, 'MAC');
      attached.push(g.c);
    });
    r.routes.forEach((rt, j) => {
      const at = `${e.at}.routes[${j}].nexthop`;
      const nh = ipToInt(rt.nexthop);
      if (!attached.some((c) => cidrContains(c, nh))) p.add(invalid(at, `${e.label}: nexthop ${rt.nexthop} is not in an attached subnet`));
      else if (r.interfaces.some((itf) => itf.ip === rt.nexthop))
        p.add(invalid(at, `${e.label}: nexthop ${rt.nexthop} is the router's own address`));
    });
  }
  checkNorthSouth(p, {
    networks: nets.all,
    subnets: good,
    ports: ports.all,
    routers: routers.ok,
    fips: fips.all,
    claimIp: (net, ip, field, lbl) => claim(ipsByNet, net, ip, field, lbl, 'IP'),
    claimMac: (net, mac, field, lbl) => claim(macsByNet, net, mac, field, lbl, 'MAC'),
  });
  p.throwIfAny('topology document (nothing written)');
  return {
    format: 'wyvern-topology',
    version: 1,
    networks: nets.all.map((e) => e.obj),
    subnets: subs.all.map((e) => e.obj),
    ports: ports.all.map((e) => e.obj),
    routers: routers.all.map((e) => e.obj),
    securityGroups: sgs.all.map((e) => e.obj),
    floatingIps: fips.all.map((e) => e.obj),
    sites: sites.all.map((e) => e.obj),
  };
}
