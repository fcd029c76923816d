/** IPv4 address and CIDR arithmetic, and fixed-IP allocation from a subnet. */
import { invalid } from './errors.js';

export interface Cidr {
  /** Network address as an unsigned 32-bit integer. */
  network: number;
  prefix: number;
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

export function isIpv4(s: string): boolean {
  return typeof s === 'string' && IPV4.test(s);
}

export function ipToInt(ip: string): number {
  const p = ip.split('.').map(Number);
  return ((p[0]! << 24) >>> 0) + (p[1]! << 16) + (p[2]! << 8) + p[3]!;
}

export function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** Parses "a.b.c.d/n"; undefined if malformed. Host bits are kept as given (see parseNetworkCidr). */
export function parseCidr(s: string): { ip: number; prefix: number } | undefined {
  if (typeof s !== 'string') return undefined;
  const m = /^([^/]+)\/(\d{1,2})$/.exec(s);
  if (!m || !isIpv4(m[1]!)) return undefined;
  const prefix = Number(m[2]);
  if (prefix > 32) return undefined;
  return { ip: ipToInt(m[1]!), prefix };
}

/** A subnet CIDR: valid, host bits zero, prefix 8..30 (room for a gateway and hosts). */
export function parseSubnetCidr(s: unknown, field = 'cidr'): Cidr {
  const c = typeof s === 'string' ? parseCidr(s) : undefined;
  if (!c) throw invalid(field, `invalid CIDR ${JSON.stringify(s)}: expected IPv4 a.b.c.d/n`);
  const network = (c.ip & maskOf(c.prefix)) >>> 0;
  if (network !== c.ip) {
    throw invalid(field, `invalid CIDR ${s}: host bits are set (did you mean ${intToIp(network)}/${c.prefix}?)`);
  }
  if (c.prefix < 8 || c.prefix > 30) throw invalid(field, `invalid CIDR ${s}: prefix length must be 8..30`);
  return { network, prefix: c.prefix };
}

/** A route destination: valid CIDR with host bits zero, any prefix 0..32. */
export function parseRouteCidr(s: unknown, field: string): Cidr {
  const c = typeof s === 'string' ? parseCidr(s) : undefined;
  if (!c) throw invalid(field, `invalid CIDR ${JSON.stringify(s)}: expected IPv4 a.b.c.d/n`);
  const network = (c.ip & maskOf(c.prefix)) >>> 0;
  if (network !== c.ip) {
    throw invalid(field, `invalid CIDR ${s}: host bits are set (did you mean ${intToIp(network)}/${c.prefix}?)`);
  }
  return { network, prefix: c.prefix };
}

export function cidrToString(c: Cidr): string {
  return `${intToIp(c.network)}/${c.prefix}`;
}

export function broadcastOf(c: Cidr): number {
  return (c.network | ~maskOf(c.prefix)) >>> 0;
}

export function cidrContains(c: Cidr, ip: number): boolean {
  return ((ip & maskOf(c.prefix)) >>> 0) === c.network;
}

export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  const p = Math.min(a.prefix, b.prefix);
  return ((a.network & maskOf(p)) >>> 0) === ((b.network & maskOf(p)) >>> 0);
}

/** A usable host address: inside the subnet and neither its network nor broadcast address. */
export function isHostOf(c: Cidr, ip: number): boolean {
  return cidrContains(c, ip) && ip !== c.network && ip !== broadcastOf(c);
}

export function firstHost(c: Cidr): number {
  return c.network + 1;
}

/**
 * The lowest free host address of a subnet, skipping network, broadcast, gateway and `used`
 * (addresses as dotted strings); undefined when the subnet is full.
 */
export function allocateIp(c: Cidr, gateway: string, used: ReadonlySet<string>): string | undefined {
  const gw = ipToInt(gateway);
  const last = broadcastOf(c);
  for (let n = c.network + 1; n < last; n++) {
    if (n === gw) continue;
    const ip = intToIp(n);
    if (!used.has(ip)) return ip;
  }
  return undefined;
}
