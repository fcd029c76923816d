/**
 * Addresses, at the bottom of the import graph (the OpenFlow codec, the packet library and the model use it):
 * IPv4 (dotted quad ⇄ unsigned 32-bit number, CIDR arithmetic), IPv6 (text ⇄ 128-bit bigint, RFC 5952 text),
 * family-generic address and CIDR parsing, and MAC text ⇄ bytes.
 *
 * Text is read strictly: IPv4 octets are 0..255 in decimal without leading zeros ("010.0.0.1" is refused:
 * some stacks read it as octal), IPv6 has no zone ("%eth0"). Parsers return undefined on bad input; the few
 * functions that throw (for input already validated) throw AddressError.
 */

/** A malformed address where a valid one was required. */
export class AddressError extends Error {
  override readonly name = 'AddressError';
  constructor(
    readonly kind: 'IPv4' | 'IPv6' | 'CIDR' | 'MAC',
    readonly input: unknown,
  ) {
    super(`bad ${kind} ${JSON.stringify(input)}`);
  }
}

// ---------------------------------------------------------------------------------------------- IPv4

/** Dotted quad → unsigned 32-bit number; undefined unless exactly four decimal octets without leading zeros. */
export function parseIpv4(s: string): number | undefined {
  if (typeof s !== 'string') return undefined;
  // Hand-rolled: this runs for every address of every packet built, and split/Number cost ~10× more.
  let v = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      if (digits === 1 && part === 0) return undefined; // a leading zero
      part = part * 10 + (c - 48);
      if (++digits > 3 || part > 255) return undefined;
    } else if (c === 46 && digits > 0 && dots < 3) {
      v = v * 256 + part;
      part = 0;
      digits = 0;
      dots++;
    } else return undefined;
  }
  if (dots !== 3 || digits === 0) return undefined;
  return (v * 256 + part) >>> 0;
}

export function isIpv4(s: unknown): s is string {
  return typeof s === 'string' && parseIpv4(s) !== undefined;
}

/** parseIpv4 for an address already validated; throws AddressError otherwise. */
export function ipToInt(ip: string): number {
  const v = parseIpv4(ip);
  if (v === undefined) throw new AddressError('IPv4', ip);
  return v;
}

export function intToIp(v: number): string {
  return `${(v >>> 24) & 255}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}

/** The 4 bytes at `off` as a dotted quad. */
export function readIpv4(buf: Buffer, off = 0): string {
  return `${buf[off]}.${buf[off + 1]}.${buf[off + 2]}.${buf[off + 3]}`;
}

/** Writes a dotted quad at `off`; throws AddressError on a bad string. */
export function writeIpv4(buf: Buffer, off: number, ip: string): void {
  writeU32(buf, off, ipToInt(ip));
}

/** Big-endian, without Buffer's range checks (the hot path of every address written). */
function writeU32(buf: Buffer, off: number, v: number): void {
  buf[off] = v >>> 24;
  buf[off + 1] = (v >>> 16) & 255;
  buf[off + 2] = (v >>> 8) & 255;
  buf[off + 3] = v & 255;
}

/** The IPv4 netmask of a prefix length 0..32 as a number (maskOf(24) = 0xffffff00). */
export function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

export const ZERO_IP = '0.0.0.0';
export const BROADCAST_IP = '255.255.255.255';

// ---------------------------------------------------------------------------------------------- IPv4 CIDR

/** An IPv4 prefix: the network address (host bits zero) as a number, and its length. */
export interface Cidr {
  network: number;
  prefix: number;
}

/**
 * "a.b.c.d/n" (n 0..32, one or two digits) → address and prefix, host bits kept as given (a caller decides
 * whether set host bits are an error); undefined if malformed.
 */
export function parseCidr(s: string): { ip: number; prefix: number } | undefined {
  if (typeof s !== 'string') return undefined;
  const slash = s.indexOf('/');
  if (slash < 0) return undefined;
  const len = s.slice(slash + 1);
  if (!/^\d{1,2}$/.test(len)) return undefined;
  const prefix = Number(len);
  const ip = parseIpv4(s.slice(0, slash));
  if (ip === undefined || prefix > 32) return undefined;
  return { ip, prefix };
}

/** A CIDR already validated, host bits cleared; throws AddressError if malformed. */
export function toCidr(s: string): Cidr {
  const c = parseCidr(s);
  if (!c) throw new AddressError('CIDR', s);
  return { network: (c.ip & maskOf(c.prefix)) >>> 0, prefix: c.prefix };
}

export function cidrToString(c: Cidr): string {
  return `${intToIp(c.network)}/${c.prefix}`;
}

export function broadcastOf(c: Cidr): number {
  return (c.network | ~maskOf(c.prefix)) >>> 0;
}

export function cidrContains(c: Cidr, ip: number): boolean {
  return (ip & maskOf(c.prefix)) >>> 0 === c.network;
}

export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  const p = Math.min(a.prefix, b.prefix);
  return (a.network & maskOf(p)) >>> 0 === (b.network & maskOf(p)) >>> 0;
}

/** A usable host address: inside the prefix and neither its network nor its broadcast address. */
export function isHostOf(c: Cidr, ip: number): boolean {
  return cidrContains(c, ip) && ip !== c.network && ip !== broadcastOf(c);
}

// ---------------------------------------------------------------------------------------------- IPv6

const V6_GROUP = /^[0-9a-fA-F]{1,4}$/;

/**
 * IPv6 text (full, compressed "::", or with a dotted IPv4 tail such as "::ffff:192.0.2.1") → 128-bit value;
 * undefined if malformed (zones, a second "::", more than 8 groups, groups of 5+ digits…).
 */
export function parseIpv6(s: string): bigint | undefined {
  if (typeof s !== 'string' || s.length < 2 || s.length > 45) return undefined;
  let str = s;
  let tail: number | undefined;
  const lastColon = str.lastIndexOf(':');
  if (lastColon < 0) return undefined;
  if (str.indexOf('.', lastColon) >= 0) {
    tail = parseIpv4(str.slice(lastColon + 1));
    if (tail === undefined) return undefined;
    str = `${str.slice(0, lastColon + 1)}0:0`;
  }
  const halves = str.split('::');
  if (halves.length > 2) return undefined;
  const groups = (h: string): number[] | undefined => {
    if (h === '') return [];
    const r: number[] = [];
    for (const g of h.split(':')) {
      if (!V6_GROUP.test(g)) return undefined;
      r.push(parseInt(g, 16));
    }
    return r;
  };
  const a = groups(halves[0]!);
  const b = halves.length === 2 ? groups(halves[1]!) : [];
  if (!a || !b) return undefined;
  if (halves.length === 1 ? a.length !== 8 : a.length + b.length > 7) return undefined;
  const all = [...a, ...new Array<number>(8 - a.length - b.length).fill(0), ...b];
  let v = 0n;
  for (const g of all) v = (v << 16n) | BigInt(g);
  if (tail !== undefined) v = (v & ~0xffffffffn) | BigInt(tail);
  return v;
}

export function isIpv6(s: unknown): s is string {
  return typeof s === 'string' && parseIpv6(s) !== undefined;
}

/**
 * RFC 5952 text: lower case, no leading zeros, the longest run (two or more, the first of equals) of zero
 * groups as "::". IPv4-mapped and IPv4-compatible addresses end in dotted form, as glibc's inet_ntop (and so
 * ovs-ofctl) prints them.
 */
export function formatIpv6(v: bigint): string {
  const g: number[] = [];
  for (let i = 7; i >= 0; i--) g.push(Number((v >> BigInt(16 * i)) & 0xffffn));
  let bestS = -1;
  let bestL = 0;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestL) {
      bestS = i;
      bestL = j - i;
    }
    i = j;
  }
  const hex = (a: number[]): string => a.map((x) => x.toString(16)).join(':');
  if (bestS === 0 && (bestL === 6 || (bestL === 5 && g[5] === 0xffff))) {
    const v4 = intToIp(Number(v & 0xffffffffn));
    return bestL === 6 ? `::${v4}` : `::ffff:${v4}`;
  }
  if (bestL < 2) return hex(g);
  return `${hex(g.slice(0, bestS))}::${hex(g.slice(bestS + bestL))}`;
}

/** The 16 bytes at `off` as RFC 5952 text. */
export function readIpv6(buf: Buffer, off = 0): string {
  return formatIpv6((buf.readBigUInt64BE(off) << 64n) | buf.readBigUInt64BE(off + 8));
}

/** Writes a 128-bit address at `off`. */
export function writeIpv6(buf: Buffer, off: number, v: bigint): void {
  buf.writeBigUInt64BE(v >> 64n, off);
  buf.writeBigUInt64BE(v & 0xffffffffffffffffn, off + 8);
}

// ---------------------------------------------------------------------------------------------- either family

export type IpFamily = 4 | 6;

export interface IpAddress {
  family: IpFamily;
  /** 32 or 128 bits. */
  value: bigint;
}

/** An IP prefix of either family; `network` has its host bits zero. */
export interface IpCidr {
  family: IpFamily;
  network: bigint;
  prefix: number;
}

const BITS: Record<IpFamily, number> = { 4: 32, 6: 128 };

export function parseIp(s: string): IpAddress | undefined {
  const v4 = parseIpv4(s);
  if (v4 !== undefined) return { family: 4, value: BigInt(v4) };
  const v6 = parseIpv6(s);
  return v6 === undefined ? undefined : { family: 6, value: v6 };
}

export function formatIp(a: IpAddress): string {
  return a.family === 4 ? intToIp(Number(a.value)) : formatIpv6(a.value);
}

function mask(family: IpFamily, prefix: number): bigint {
  const bits = BITS[family];
  return ((1n << BigInt(bits)) - 1n) ^ ((1n << BigInt(bits - prefix)) - 1n);
}

/**
 * "ADDR/LEN" of either family (LEN 0..32 or 0..128, decimal without leading zeros for IPv6; IPv4 as parseCidr).
 * With `strict`, set host bits make it undefined; otherwise they are cleared.
 */
export function parseIpCidr(s: string, opts: { strict?: boolean } = {}): IpCidr | undefined {
  if (typeof s !== 'string') return undefined;
  const slash = s.lastIndexOf('/');
  if (slash < 0) return undefined;
  const a = parseIp(s.slice(0, slash));
  const len = s.slice(slash + 1);
  if (!a || !(a.family === 4 ? /^\d{1,2}$/ : /^(0|[1-9]\d{0,2})$/).test(len)) return undefined;
  const prefix = Number(len);
  if (prefix > BITS[a.family]) return undefined;
  const network = a.value & mask(a.family, prefix);
  if (opts.strict && network !== a.value) return undefined;
  return { family: a.family, network, prefix };
}

export function formatIpCidr(c: IpCidr): string {
  return `${formatIp({ family: c.family, value: c.network })}/${c.prefix}`;
}

/** Whether `a` lies in `c` (never across families). */
export function ipCidrContains(c: IpCidr, a: IpAddress): boolean {
  return c.family === a.family && (a.value & mask(c.family, c.prefix)) === c.network;
}

// ---------------------------------------------------------------------------------------------- MAC

// Lookup table for MAC formatting: a constant, built once (not mutable state).
const HEX2: readonly string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** The 6 bytes at `off` as a lower-case colon-separated MAC. */
export function macToString(buf: Buffer, off = 0): string {
  return `${HEX2[buf[off]!]}:${HEX2[buf[off + 1]!]}:${HEX2[buf[off + 2]!]}:${HEX2[buf[off + 3]!]}:${HEX2[buf[off + 4]!]}:${HEX2[buf[off + 5]!]}`;
}

function hexVal(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/**
 * Writes "aa:bb:cc:dd:ee:ff" (or "aa-bb-…", any case) at `off`; false if malformed (the 6 bytes are then
 * partly written: one pass, as this runs for every MAC of every flow and packet encoded).
 */
export function tryWriteMac(buf: Buffer, off: number, mac: string): boolean {
  if (typeof mac !== 'string' || mac.length !== 17) return false;
  const sep = mac.charCodeAt(2);
  if (sep !== 58 && sep !== 45) return false;
  for (let i = 0; i < 6; i++) {
    const hi = hexVal(mac.charCodeAt(i * 3));
    const lo = hexVal(mac.charCodeAt(i * 3 + 1));
    if (hi < 0 || lo < 0 || (i < 5 && mac.charCodeAt(i * 3 + 2) !== sep)) return false;
    buf[off + i] = (hi << 4) | lo;
  }
  return true;
}

/** tryWriteMac for a MAC already validated; throws AddressError otherwise. */
export function writeMac(buf: Buffer, off: number, mac: string): void {
  if (!tryWriteMac(buf, off, mac)) throw new AddressError('MAC', mac);
}

export function macToBuffer(mac: string): Buffer {
  const b = Buffer.alloc(6);
  writeMac(b, 0, mac);
  return b;
}

export const BROADCAST_MAC = 'ff:ff:ff:ff:ff:ff';
