/**
 * The north–south invariants of an imported topology document (issue 14): provider segments unique, router gateways
 * on a provider network of the document with a usable address of one of its subnets, floating IPs on a provider
 * network with a usable address, and their association consistent (the port's fixed IP, a router path).
 */
import { conflict, invalid, type ModelError, type Problems } from './errors.js';
import { cidrContains, ipToInt, isHostOf, type Cidr } from '../net/addr.js';
import { describeSegment } from './segments.js';
import type { FloatingIp, Network, Port, Router, Subnet } from './types.js';
import type { Entry } from './topology-check.js';

export interface NsDoc {
  networks: Entry<Network>[];
  /** Subnets whose own fields are sound, by id, with their parsed CIDR. */
  subnets: Map<string, { s: Subnet; c: Cidr }>;
  ports: Entry<Port>[];
  routers: Entry<Router>[];
  fips: Entry<FloatingIp>[];
  claimIp: (net: string, ip: string, field: string, label: string) => void;
  claimMac: (net: string, mac: string, field: string, label: string) => void;
}

export function checkNorthSouth(p: Problems, d: NsDoc): void {
  const nets = new Map(d.networks.map((e) => [e.obj.id, e.obj]));
  const segs = new Map<string, string>();
  for (const e of d.networks) {
    const seg = e.obj.provider;
    if (!seg) continue;
    const k = `${seg.physnet}/${seg.vlan ?? 'flat'}`;
    const first = segs.get(k);
    if (first !== undefined) p.add(conflict(`${e.at}.provider`, `${e.label}: ${describeSegment(seg)} is also used by ${first}`));
    else segs.set(k, e.label);
  }
  const bad = (e: ModelError): false => {
    p.add(e);
    return false;
  };
  /** An address of a provider network: true when usable there, else false with the problem recorded. */
  const place = (netId: string, ip: string, subnetId: string | undefined, at: string, lbl: string): boolean => {
    const net = nets.get(netId);
    if (!net) return bad(invalid(`${at}.networkId`, `${lbl}: network ${netId} is not in the document`));
    if (!net.provider) return bad(invalid(`${at}.networkId`, `${lbl}: network ${net.name} is not a provider network`));
    const n = ipToInt(ip);
    const sub = [...d.subnets.values()].find(
      (x) => x.s.networkId === netId && (subnetId === undefined ? cidrContains(x.c, n) : x.s.id === subnetId),
    );
    if (!sub) return bad(invalid(`${at}.ip`, `${lbl}: ${ip} is not in a subnet of network ${net.name} in the document`));
    if (!isHostOf(sub.c, n) || ip === sub.s.gatewayIp)
      return bad(invalid(`${at}.ip`, `${lbl}: ${ip} is not a usable host address of ${sub.s.cidr}`));
    return true;
  };
  const routers = new Map(d.routers.map((e) => [e.obj.id, e.obj]));
  for (const e of d.routers) {
    const g = e.obj.gateway;
    if (!g) continue;
    const at = `${e.at}.gateway`;
    if (e.obj.interfaces.some((i) => i.networkId === g.networkId))
      p.add(conflict(`${at}.networkId`, `${e.label}: has both an interface and its gateway on network ${g.networkId}`));
    if (!place(g.networkId, g.ip, g.subnetId, at, e.label)) continue;
    d.claimIp(g.networkId, g.ip, `${at}.ip`, e.label);
    d.claimMac(g.networkId, g.mac, `${at}.mac`, e.label);
  }
  const ports = new Map(d.ports.map((e) => [e.obj.id, e.obj]));
  const pairs = new Set<string>();
  for (const e of d.fips) {
    const f = e.obj;
    const lbl = `floating IP ${f.ip}`;
    if (place(f.networkId, f.ip, undefined, e.at, lbl)) {
      d.claimIp(f.networkId, f.ip, `${e.at}.ip`, lbl);
      d.claimMac(f.networkId, f.mac, `${e.at}.mac`, lbl);
    }
    if (f.portId === undefined) continue;
    const port = ports.get(f.portId);
    const fixed = port?.fixedIps.find((x) => x.ip === f.fixedIp);
    if (!port || port.networkId !== f.portNetworkId || !fixed) {
      p.add(invalid(`${e.at}.portId`, `${lbl}: port ${f.portId} with fixed IP ${f.fixedIp} is not in the document`));
      continue;
    }
    if (pairs.has(`${port.id}/${f.fixedIp}`))
      p.add(conflict(`${e.at}.portId`, `${lbl}: port ${port.name} (${f.fixedIp}) has two floating IPs`));
    pairs.add(`${port.id}/${f.fixedIp}`);
    const r = routers.get(f.routerId!);
    if (!r || r.gateway?.networkId !== f.networkId || !r.interfaces.some((i) => i.subnetId === fixed.subnetId))
      p.add(invalid(`${e.at}.routerId`, `${lbl}: router ${f.routerId} is not a router path from port ${port.name} to its network`));
  }
}
