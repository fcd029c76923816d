/** Field value conversions between wire bytes and the friendly forms (MAC / IPv4 / IPv6 text, bigint). */
import { OfpEncodeError } from './errors.js';
import type { FieldDef } from './fields.js';
import type { FieldValue } from './types.js';
import { writeU32, writeU64 } from './writer.js';

const HEX2: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

export function macToString(b: Buffer, o: number): string {
  return `${HEX2[b[o]!]}:${HEX2[b[o + 1]!]}:${HEX2[b[o + 2]!]}:${HEX2[b[o + 3]!]}:${HEX2[b[o + 4]!]}:${HEX2[b[o + 5]!]}`;
}

export function ipv4ToString(b: Buffer, o: number): string {
  return `${b[o]}.${b[o + 1]}.${b[o + 2]}.${b[o + 3]}`;
}

/** RFC 5952 canonical text: lower case, longest run (≥2) of zero groups compressed. */
export function ipv6ToString(b: Buffer, o: number): string {
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push((b[o + 2 * i]! << 8) | b[o + 2 * i + 1]!);
  let bestS = -1, bestL = 0;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestL) { bestS = i; bestL = j - i; }
    i = j;
  }
  const hex = (a: number[]): string => a.map((x) => x.toString(16)).join(':');
  if (bestL < 2) return hex(g);
  return `${hex(g.slice(0, bestS))}::${hex(g.slice(bestS + bestL))}`;
}

function hexVal(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

function bad(def: { name: string }, v: unknown): never {
  throw new OfpEncodeError(`bad value for ${def.name}: ${String(v)}`);
}

export function writeMac(dst: Buffer, o: number, v: FieldValue, def: { name: string }): void {
  if (typeof v === 'string') {
    if (v.length !== 17) bad(def, v);
    for (let i = 0; i < 6; i++) {
      const h = hexVal(v.charCodeAt(i * 3)), l = hexVal(v.charCodeAt(i * 3 + 1));
      if (h < 0 || l < 0 || (i < 5 && v.charCodeAt(i * 3 + 2) !== 58)) bad(def, v);
      dst[o + i] = (h << 4) | l;
    }
  } else if (Buffer.isBuffer(v) && v.length === 6) {
    v.copy(dst, o);
  } else if (typeof v === 'bigint' || typeof v === 'number') {
    const n = BigInt(v);
    for (let i = 0; i < 6; i++) dst[o + i] = Number((n >> BigInt(40 - 8 * i)) & 0xffn);
  } else bad(def, v);
}

export function writeIpv4(dst: Buffer, o: number, v: FieldValue, def: { name: string }): void {
  if (typeof v === 'string') {
    let part = 0, n = 0, digits = 0;
    for (let i = 0; i <= v.length; i++) {
      const c = i < v.length ? v.charCodeAt(i) : 46;
      if (c === 46) {
        if (digits === 0 || n > 255 || part > 3) bad(def, v);
        dst[o + part++] = n;
        n = 0;
        digits = 0;
      } else if (c >= 48 && c <= 57) {
        n = n * 10 + (c - 48);
        digits++;
      } else bad(def, v);
    }
    if (part !== 4) bad(def, v);
  } else if (typeof v === 'number') {
    dst.writeUInt32BE(v >>> 0, o);
  } else if (Buffer.isBuffer(v) && v.length === 4) {
    v.copy(dst, o);
  } else bad(def, v);
}

export function parseIpv6(s: string): Buffer | undefined {
  const out = Buffer.alloc(16);
  let str = s;
  let tail4: Buffer | undefined;
  const lastColon = str.lastIndexOf(':');
  if (str.includes('.', lastColon)) {
    tail4 = Buffer.alloc(4);
    try { writeIpv4(tail4, 0, str.slice(lastColon + 1), { name: 'ipv6' }); } catch { return undefined; }
    str = `${str.slice(0, lastColon + 1)}0:0`;
  }
  const halves = str.split('::');
  if (halves.length > 2) return undefined;
  const parse = (h: string): number[] | undefined => {
    if (h === '') return [];
    const r: number[] = [];
    for (const p of h.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(p)) return undefined;
      r.push(parseInt(p, 16));
    }
    return r;
  };
  const a = parse(halves[0]!);
  const b = halves.length === 2 ? parse(halves[1]!) : [];
  if (!a || !b) return undefined;
  const groups = halves.length === 2 ? [...a, ...new Array<number>(8 - a.length - b.length).fill(0), ...b] : a;
  if (groups.length !== 8 || (halves.length === 2 && a.length + b.length > 7)) return undefined;
  groups.forEach((g, i) => out.writeUInt16BE(g, 2 * i));
  if (tail4) tail4.copy(out, 12);
  return out;
}

export function writeIpv6(dst: Buffer, o: number, v: FieldValue, def: { name: string }): void {
  const b = typeof v === 'string' ? parseIpv6(v) : Buffer.isBuffer(v) && v.length === 16 ? v : undefined;
  if (!b) bad(def, v);
  b.copy(dst, o);
}

function writeUint(dst: Buffer, o: number, len: number, v: FieldValue, def: { name: string }): void {
  if (typeof v === 'number') {
    if (!Number.isInteger(v) || v < 0 || (len < 4 && v >= 2 ** (8 * len)) || v > 0xffffffff) bad(def, v);
    for (let i = len - 1; i >= 0; i--) { dst[o + i] = v & 0xff; v = Math.floor(v / 256); }
  } else if (typeof v === 'bigint') {
    if (v < 0n || v >= 1n << BigInt(8 * len)) bad(def, v);
    for (let i = len - 1; i >= 0; i--) { dst[o + i] = Number(v & 0xffn); v >>= 8n; }
  } else if (Buffer.isBuffer(v) && v.length === len) {
    v.copy(dst, o);
  } else bad(def, v);
}

/** Writes a field value (or mask) of def.len bytes at dst[o]. */
export function writeValue(dst: Buffer, o: number, def: FieldDef, v: FieldValue): void {
  switch (def.kind) {
    case 'num':
      // Fast paths for in-range integers; everything else goes through the checked writer.
      if (typeof v === 'number' && (v >>> 0) === v) {
        const len = def.len;
        if (len === 4) { writeU32(dst, o, v); return; }
        if (len === 2 && v <= 0xffff) { dst[o] = v >>> 8; dst[o + 1] = v; return; }
        if (len === 1 && v <= 0xff) { dst[o] = v; return; }
      }
      writeUint(dst, o, def.len, v, def);
      return;
    case 'big':
      if (typeof v === 'bigint' || typeof v === 'number') {
        try { writeU64(dst, o, v); } catch { bad(def, v); }
      } else writeUint(dst, o, 8, v, def);
      return;
    case 'mac': return writeMac(dst, o, v, def);
    case 'ipv4': return writeIpv4(dst, o, v, def);
    case 'ipv6': return writeIpv6(dst, o, v, def);
    case 'u128': return writeUint(dst, o, 16, typeof v === 'number' ? BigInt(v) : v, def);
    case 'bytes': return writeUint(dst, o, def.len, v, def);
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
      const hi = b.readUInt32BE(o), lo = b.readUInt32BE(o + 4);
      return hi === 0 ? BigInt(lo) : (BigInt(hi) << 32n) | BigInt(lo);
    }
    case 'mac': return macToString(b, o);
    case 'ipv4': return ipv4ToString(b, o);
    case 'ipv6': return ipv6ToString(b, o);
    case 'u128': return (b.readBigUInt64BE(o) << 64n) | b.readBigUInt64BE(o + 8);
    case 'bytes': return Buffer.from(b.subarray(o, o + def.len));
  }
}
