/**
 * A port's fixed IPs: the requested ones checked against its network's subnets and the addresses already taken,
 * and the missing ones allocated (one from the first subnet when nothing is asked).
 */
import { broadcastOf, cidrContains, ipToInt, type Cidr } from '../net/addr.js';
import { allocateIp, parseSubnetCidr } from './addr-rules.js';
import { conflict, invalid } from './errors.js';
import { ipOwners, type NetState } from './read.js';
import type { Network } from './types.js';

/** Who holds which address: a map, or a view over several (port-create.ts). */
export type Owners = Pick<ReadonlyMap<string, string>, 'has' | 'get'>;

export interface AssignOptions {
  /** Who holds each address now (default: ipOwners(st)); a port creation adds the claims it read. */
  owners?: Owners;
  /** Turns an owner as `owners` holds it into words ("port web1"); default: as is. */
  describe?: (owner: string) => string;
  /** Chooses a free address of a subnet instead of the lowest free one (several creations in flight: port-create.ts). */
  pick?: (c: Cidr, gateway: string, taken: { has(ip: string): boolean }, subnetId: string) => string | undefined;
}

/** Validates requested fixed IPs and allocates the missing ones (default: one from the first subnet). */
export function assignIps(
  req: { subnet?: string; ip?: string }[] | undefined,
  st: NetState,
  net: Network,
  opts: AssignOptions = {},
): { subnetId: string; ip: string }[] {
  const subnets = st.subnets.map((s) => ({ s: s.obj, c: parseSubnetCidr(s.obj.cidr) }));
  const wanted = req ?? (subnets.length > 0 ? [{ subnet: subnets[0]!.s.id }] : []);
  const owners = opts.owners ?? ipOwners(st);
  // The addresses of this request, over the owners (not a copy of them: a network may hold thousands).
  const mine = new Set<string>();
  const taken = { has: (ip: string): boolean => mine.has(ip) || owners.has(ip) };
  const describe = opts.describe ?? ((o: string) => o);
  const out: { subnetId: string; ip: string }[] = [];
  // Explicit addresses first, so an allocated one never takes an address requested later in the list.
  const order = wanted.map((w, i) => ({ w, i })).sort((a, b) => Number(b.w.ip !== undefined) - Number(a.w.ip !== undefined));
  const res: ({ subnetId: string; ip: string } | undefined)[] = new Array(wanted.length);
  for (const { w, i } of order) {
    const f = `fixedIps[${i}]`;
    let sub = w.subnet === undefined ? undefined : subnets.find((x) => x.s.id === w.subnet || x.s.name === w.subnet);
    if (w.subnet !== undefined && !sub) throw invalid(`${f}.subnet`, `${f}.subnet: subnet ${w.subnet} not found in network ${net.name}`);
    if (w.ip !== undefined) {
      const n = ipToInt(w.ip);
      sub ??= subnets.find((x) => cidrContains(x.c, n));
      if (!sub) throw invalid(`${f}.ip`, `IP ${w.ip} is outside every subnet of network ${net.name}`);
      if (!cidrContains(sub.c, n)) throw invalid(`${f}.ip`, `IP ${w.ip} is outside subnet ${sub.s.name} (${sub.s.cidr})`);
      if (n === sub.c.network || n === broadcastOf(sub.c))
        throw invalid(`${f}.ip`, `IP ${w.ip} is the network or broadcast address of ${sub.s.cidr}`);
      if (w.ip === sub.s.gatewayIp) throw conflict(`${f}.ip`, `IP ${w.ip} is the gateway of subnet ${sub.s.name}`);
      if (taken.has(w.ip)) {
        const o = owners.get(w.ip);
        throw conflict(`${f}.ip`, `IP ${w.ip} is already used by ${o === undefined ? 'this request' : describe(o)}`);
      }
      mine.add(w.ip);
      res[i] = { subnetId: sub.s.id, ip: w.ip };
    } else {
      const s = sub!;
      const ip = opts.pick ? opts.pick(s.c, s.s.gatewayIp, taken, s.s.id) : allocateIp(s.c, s.s.gatewayIp, taken);
      if (ip === undefined) throw conflict(`${f}.subnet`, `no free address in subnet ${s.s.name} (${s.s.cidr})`);
      mine.add(ip);
      res[i] = { subnetId: s.s.id, ip };
    }
  }
  for (const r of res) out.push(r!);
  return out;
}

/**
 * One address on a (provider) network for a router gateway or a floating IP: `ip` checked like a port's fixed IP
 * (inside a subnet, not its network, broadcast or gateway address, not used), or else the lowest free address of
 * the first subnet that has one (`pick` chooses otherwise: a floating IP after a lost race picks at random). `owners` is
 * who holds each address now (ipOwners, less the requester's own).
 */
export function assignOneIp(
  ip: string | undefined,
  st: NetState,
  net: Network,
  owners: ReadonlyMap<string, string>,
  field = 'ip',
  pick: (c: Cidr, gateway: string, taken: { has(ip: string): boolean }) => string | undefined = allocateIp,
): { subnetId: string; ip: string } {
  const subnets = st.subnets.map((s) => ({ s: s.obj, c: parseSubnetCidr(s.obj.cidr) }));
  if (subnets.length === 0) throw conflict('network', `network ${net.name} has no subnets: create one first`);
  if (ip === undefined) {
    for (const { s, c } of subnets) {
      const free = pick(c, s.gatewayIp, owners);
      if (free !== undefined) return { subnetId: s.id, ip: free };
    }
    throw conflict('network', `network ${net.name} has no free address in any subnet`);
  }
  const n = ipToInt(ip);
  const sub = subnets.find((x) => cidrContains(x.c, n));
  if (!sub) throw invalid(field, `IP ${ip} is outside every subnet of network ${net.name} (${subnets.map((x) => x.s.cidr).join(', ')})`);
  if (n === sub.c.network || n === broadcastOf(sub.c))
    throw invalid(field, `IP ${ip} is the network or broadcast address of ${sub.s.cidr}`);
  if (ip === sub.s.gatewayIp) throw conflict(field, `IP ${ip} is the gateway of subnet ${sub.s.name}`);
  const owner = owners.get(ip);
  if (owner !== undefined) throw conflict(field, `IP ${ip} is already used by ${owner}`);
  return { subnetId: sub.s.id, ip };
}
