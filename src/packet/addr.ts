import { PacketError } from './errors.js';

// Lookup table for MAC formatting: a constant, built once (not mutable state).
const HEX2: readonly string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** Formats 6 bytes at `off` as a lowercase colon-separated MAC. */
export function macToString(buf: Buffer, off = 0): string {
  return `${HEX2[buf[off]!]}:${HEX2[buf[off + 1]!]}:${HEX2[buf[off + 2]!]}:${HEX2[buf[off + 3]!]}:${HEX2[buf[off + 4]!]}:${HEX2[buf[off + 5]!]}`;
}

/** Writes a MAC ("aa:bb:cc:dd:ee:ff" or "aa-bb-…", any case) into buf at off. Throws PacketError on a bad string. */
export function writeMac(buf: Buffer, off: number, mac: string): void {
  if (mac.length !== 17) throw new PacketError('build', 'bad_value', off, `bad MAC ${JSON.stringify(mac)}`);
  for (let i = 0; i < 6; i++) {
    const hi = hexVal(mac.charCodeAt(i * 3));
    const lo = hexVal(mac.charCodeAt(i * 3 + 1));
    if (hi < 0 || lo < 0) throw new PacketError('build', 'bad_value', off, `bad MAC ${JSON.stringify(mac)}`);
    buf[off + i] = (hi << 4) | lo;
  }
}

function hexVal(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

export function macToBuffer(mac: string): Buffer {
  const b = Buffer.alloc(6);
  writeMac(b, 0, mac);
  return b;
}

/** Formats the 4 bytes at `off` as dotted-quad IPv4. */
export function ipToString(buf: Buffer, off = 0): string {
  return `${buf[off]}.${buf[off + 1]}.${buf[off + 2]}.${buf[off + 3]}`;
}

/** Parses dotted-quad IPv4 into an unsigned 32-bit number. Throws PacketError on a bad string. */
export function ipToInt(ip: string): number {
  // Hand-rolled: this runs for every address of every reply built, and split/Number cost ~10× more.
  let v = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < ip.length; i++) {
    const c = ip.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      part = part * 10 + (c - 48);
      if (++digits > 3 || part > 255) return badIp(ip);
    } else if (c === 46 && digits > 0 && dots < 3) {
      v = v * 256 + part;
      part = 0;
      digits = 0;
      dots++;
    } else return badIp(ip);
  }
  if (dots !== 3 || digits === 0) return badIp(ip);
  return (v * 256 + part) >>> 0;
}

function badIp(ip: string): never {
  throw new PacketError('build', 'bad_value', 0, `bad IPv4 ${JSON.stringify(ip)}`);
}

export function intToIp(v: number): string {
  return `${(v >>> 24) & 255}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}

export function writeIp(buf: Buffer, off: number, ip: string): void {
  buf.writeUInt32BE(ipToInt(ip), off);
}

export function isValidIp(ip: string): boolean {
  try {
    ipToInt(ip);
    return true;
  } catch {
    return false;
  }
}

export interface Cidr {
  network: number;
  prefix: number;
  mask: number;
}

/** Parses "10.0.0.0/24" (host bits are cleared). Throws PacketError on a bad string. */
export function parseCidr(cidr: string): Cidr {
  const slash = cidr.indexOf('/');
  const prefix = slash < 0 ? 32 : Number(cidr.slice(slash + 1));
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > 32) {
    throw new PacketError('build', 'bad_value', 0, `bad CIDR ${JSON.stringify(cidr)}`);
  }
  const mask = prefixToMask(prefix);
  const network = (ipToInt(slash < 0 ? cidr : cidr.slice(0, slash)) & mask) >>> 0;
  return { network, prefix, mask };
}

export function prefixToMask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

export const BROADCAST_MAC = 'ff:ff:ff:ff:ff:ff';
export const ZERO_IP = '0.0.0.0';
export const BROADCAST_IP = '255.255.255.255';
