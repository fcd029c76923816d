/** Field value conversions between wire bytes and the friendly forms (MAC / IPv4 / IPv6 text, bigint). */
import { macToString, parseIpv4, parseIpv6, readIpv4, readIpv6, tryWriteMac, writeIpv6 as writeIpv6Bytes } from '../net/addr.js';
import { OfpEncodeError } from './errors.js';
import type { FieldDef } from './fields.js';
import type { FieldValue } from './types.js';
import { writeU32, writeU64 } from './writer.js';

export { macToString };

function bad(def: { name: string }, v: unknown): never {
  throw new OfpEncodeError(`bad value for ${def.name}: ${String(v)}`);
}

export function writeMac(dst: Buffer, o: number, v: FieldValue, def: { name: string }): void {
  if (typeof v === 'string') {
    if (!tryWriteMac(dst, o, v)) bad(def, v);
  } else if (Buffer.isBuffer(v) && v.length === 6) {
    v.copy(dst, o);
  } else if (typeof v === 'bigint' || typeof v === 'number') {
    const n = BigInt(v);
    for (let i = 0; i < 6; i++) dst[o + i] = Number((n >> BigInt(40 - 8 * i)) & 0xffn);
  } else bad(def, v);
}

export function writeIpv4(dst: Buffer, o: number, v: FieldValue, def: { name: string }): void {
  if (typeof v === 'string') {
    const n = parseIpv4(v);
    if (n === undefined) bad(def, v);
    dst[o] = n >>> 24;
    dst[o + 1] = (n >>> 16) & 255;
    dst[o + 2] = (n >>> 8) & 255;
    dst[o + 3] = n & 255;
  } else if (typeof v === 'number') {
    dst.writeUInt32BE(v >>> 0, o);
  } else if (Buffer.isBuffer(v) && v.length === 4) {
    v.copy(dst, o);
  } else bad(def, v);
}

export function writeIpv6(dst: Buffer, o: number, v: FieldValue, def: { name: string }): void {
  if (typeof v === 'string') {
    const n = parseIpv6(v);
    if (n === undefined) bad(def, v);
    writeIpv6Bytes(dst, o, n);
  } else if (Buffer.isBuffer(v) && v.length === 16) {
    v.copy(dst, o);
  } else bad(def, v);
}

function writeUint(dst: Buffer, o: number, len: number, v: FieldValue, def: { name: string }): void {
  if (typeof v === 'number') {
    if (!Number.isInteger(v) || v < 0 || (len < 4 && v >= 2 ** (8 * len)) || v > 0xffffffff) bad(def, v);
    for (let i = len - 1; i >= 0; i--) {
      dst[o + i] = v & 0xff;
      v = Math.floor(v / 256);
    }
  } else if (typeof v === 'bigint') {
    if (v < 0n || v >= 1n << BigInt(8 * len)) bad(def, v);
    for (let i = len - 1; i >= 0; i--) {
      dst[o + i] = Number(v & 0xffn);
      v >>= 8n;
    }
  } else if (Buffer.isBuffer(v) && v.length === len) {
    v.copy(dst, o);
  } else bad(def, v);
}

/** Writes a field value (or mask) of def.len bytes at dst[o]. */
export function writeValue(dst: Buffer, o: number, def: FieldDef, v: FieldValue): void {
  switch (def.kind) {
    case 'num':
      // Fast paths for in-range integers; everything else goes through the checked writer.
      if (typeof v === 'number' && v >>> 0 === v) {
        const len = def.len;
        if (len === 4) {
          writeU32(dst, o, v);
          return;
        }
        if (len === 2 && v <= 0xffff) {
          dst[o] = v >>> 8;
          dst[o + 1] = v;
          return;
        }
        if (len === 1 && v <= 0xff) {
          dst[o] = v;
          return;
        }
      }
      writeUint(dst, o, def.len, v, def);
      return;
    case 'big':
      if (typeof v === 'bigint' || typeof v === 'number') {
        try {
          writeU64(dst, o, v);
        } catch {
          bad(def, v);
        }
      } else writeUint(dst, o, 8, v, def);
      return;
    case 'mac':
      return writeMac(dst, o, v, def);
    case 'ipv4':
      return writeIpv4(dst, o, v, def);
    case 'ipv6':
      return writeIpv6(dst, o, v, def);
    case 'u128':
      return writeUint(dst, o, 16, typeof v === 'number' ? BigInt(v) : v, def);
    case 'bytes':
      return writeUint(dst, o, def.len, v, def);
  }
}

export function readValue(b: Buffer, o: number, def: FieldDef): FieldValue {
  switch (def.kind) {
    case 'num': {
      let n = 0;
      for (let i = 0; i < def.len; i++) n = n * 256 + b[o + i]!;
      return n;
    }
    case 'big': {
      const hi = b.readUInt32BE(o),
        lo = b.readUInt32BE(o + 4);
      return hi === 0 ? BigInt(lo) : (BigInt(hi) << 32n) | BigInt(lo);
    }
    case 'mac':
      return macToString(b, o);
    case 'ipv4':
      return readIpv4(b, o);
    case 'ipv6':
      return readIpv6(b, o);
    case 'u128':
      return (b.readBigUInt64BE(o) << 64n) | b.readBigUInt64BE(o + 8);
    case 'bytes':
      return Buffer.from(b.subarray(o, o + def.len));
  }
}
