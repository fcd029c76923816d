import { PacketError } from './errors.js';

// Lookup table for MAC formatting: a constant, built once (not mutable state).
const HEX2: readonly string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** Formats 6 bytes at `off` as a lowercase colon-separated MAC. */
export function macToString(buf: Buffer, off = 0): string {
  return `${HEX2[buf[off]!]}:${HEX2[buf[off + 1]!]}:${HEX2[buf[off + 2]!]}:${HEX2[buf[off + 3]!]}:${HEX2[buf[off + 4]!]}:${HEX2[buf[off + 5]!]}`;
}

/** Writes a MAC ("aa:bb:cc:dd:ee:ff" or "aa-bb-…") into buf at off. Throws PacketError on a bad string. */
export function writeMac(buf: Buffer, off: number, mac: string): void {
  if (mac.length !== 17) throw new PacketError('build', 'bad_value', off, `bad MAC ${JSON.stringify(mac)}`);
  for (let i = 0; i < 6; i++) {
    const v = parseInt(mac.slice(i * 3, i * 3 + 2), 16);
    if (Number.isNaN(v)) throw new PacketError('build', 'bad_value', off, `bad MAC ${JSON.stringify(mac)}`);
    buf[off + i] = v;
  }
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
  const parts = ip.split('.');
  if (parts.length !== 4) throw new PacketError('build', 'bad_value', 0, `bad IPv4 ${JSON.stringify(ip)}`);
  let v = 0;
  for (const p of parts) {
    const n = Number(p);
    if (p === '' || !Number.isInteger(n) || n < 0 || n > 255) {
      throw new PacketError('build', 'bad_value', 0, `bad IPv4 ${JSON.stringify(ip)}`);
    }
    v = v * 256 + n;
  }
  return v >>> 0;
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
