/**
 * Which IPv4 addresses a tenant may use: subnets, gateways, DNS servers and allowed address pairs
 * must be unicast. The blocks below are never routable to or from a VM's port, so a subnet there
 * would give VMs addresses (and a router) that cannot work, and a pair there would let a port
 * spoof addresses nobody owns.
 */
import { cidrsOverlap, intToIp, ipToInt, isIpv4, maskOf, parseCidr, type Cidr } from '../net/addr.js';
import { invalid } from './errors.js';

/** A subnet CIDR: valid, host bits zero, prefix 8..30 (room for a gateway and hosts). */
export function parseSubnetCidr(s: unknown, field = 'cidr'): Cidr {
  const c = parseRouteCidr(s, field);
  if (c.prefix < 8 || c.prefix > 30) throw invalid(field, `invalid CIDR ${String(s)}: prefix length must be 8..30`);
  return c;
}

/** A route destination: valid CIDR with host bits zero, any prefix 0..32. */
export function parseRouteCidr(s: unknown, field: string): Cidr {
  const c = typeof s === 'string' ? parseCidr(s) : undefined;
  if (!c) throw invalid(field, `invalid CIDR ${JSON.stringify(s)}: expected IPv4 a.b.c.d/n`);
  const network = (c.ip & maskOf(c.prefix)) >>> 0;
  if (network !== c.ip) {
    throw invalid(field, `invalid CIDR ${String(s)}: host bits are set (did you mean ${intToIp(network)}/${c.prefix}?)`);
  }
  return { network, prefix: c.prefix };
}

/**
 * The lowest free host address of a subnet, skipping network, broadcast, gateway and `used`
 * (addresses as dotted strings); undefined when the subnet is full.
 */
export function allocateIp(c: Cidr, gateway: string, used: { has(ip: string): boolean }): string | undefined {
  const gw = ipToInt(gateway);
  const last = (c.network | ~maskOf(c.prefix)) >>> 0;
  for (let n = c.network + 1; n < last; n++) {
    if (n === gw) continue;
    const ip = intToIp(n);
    if (!used.has(ip)) return ip;
  }
  return undefined;
}

interface Block {
  cidr: Cidr;
  what: string;
}

const block = (s: string, what: string): Block => {
  const c = parseCidr(s)!;
  return { cidr: { network: c.ip, prefix: c.prefix }, what };
};

const NOT_UNICAST: readonly Block[] = [
  block('0.0.0.0/8', '"this host on this network" (0.0.0.0/8, RFC 1122)'),
  block('127.0.0.0/8', 'loopback (127.0.0.0/8)'),
  block('224.0.0.0/4', 'multicast (224.0.0.0/4)'),
  block('240.0.0.0/4', 'reserved class E and the limited broadcast (240.0.0.0/4, 255.255.255.255)'),
];

/** The non-unicast block `c` overlaps, if any. */
export function nonUnicastBlock(c: Cidr): string | undefined {
  return NOT_UNICAST.find((b) => cidrsOverlap(b.cidr, c))?.what;
}

/** A subnet CIDR (see parseSubnetCidr) that is also unicast. */
export function checkUnicastSubnet(v: unknown, field = 'cidr'): Cidr {
  const c = parseSubnetCidr(v, field);
  const bad = nonUnicastBlock(c);
  if (bad) throw invalid(field, `invalid CIDR ${String(v)}: subnets must be unicast, not ${bad}`);
  return c;
}

/** A unicast IPv4 host address (not 0.0.0.0/8, loopback, multicast, class E or broadcast). */
export function checkUnicastIp(v: unknown, field: string): string {
  if (typeof v !== 'string' || !isIpv4(v)) throw invalid(field, `invalid IPv4 address ${JSON.stringify(v)} in ${field}`);
  const bad = nonUnicastBlock({ network: ipToInt(v), prefix: 32 });
  if (bad) throw invalid(field, `${field} ${v} is not a unicast address (it is ${bad})`);
  return v;
}

/** Shortest prefix an allowed address pair may cover: wider is "any source", i.e. port security off. */
export const MIN_PAIR_PREFIX = 8;

/**
 * An allowed address pair: a unicast IPv4 address, or a CIDR of prefix /8../32 with host bits zero
 * inside unicast space. 0.0.0.0/0 (any source) is refused: turn port security off for that instead.
 */
export function checkAddressPair(v: unknown, field: string): string {
  const accepted = `an allowed address pair is a unicast IPv4 address or a CIDR a.b.c.d/${MIN_PAIR_PREFIX}..32 with host bits zero`;
  if (typeof v !== 'string') throw invalid(field, `${field} must be a string: ${accepted}`);
  if (isIpv4(v)) return checkUnicastIp(v, field);
  const c = parseCidr(v);
  if (!c) throw invalid(field, `invalid ${field} ${JSON.stringify(v)}: ${accepted}`);
  if (c.prefix < MIN_PAIR_PREFIX) {
    throw invalid(field, `${field} ${v} is too wide (${accepted}; to allow any source, set portSecurity to false)`);
  }
  if ((c.ip & maskOf(c.prefix)) >>> 0 !== c.ip) {
    throw invalid(
      field,
      `invalid ${field} ${v}: host bits are set (did you mean ${intToIp((c.ip & maskOf(c.prefix)) >>> 0)}/${c.prefix}?)`,
    );
  }
  const cidr: Cidr = { network: c.ip, prefix: c.prefix };
  const bad = nonUnicastBlock(cidr);
  if (bad) throw invalid(field, `${field} ${v} is not unicast (it overlaps ${bad})`);
  return v;
}
