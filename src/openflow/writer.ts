import { OFP_VERSION } from './constants.js';

const U64_MAX = 0xffffffffffffffffn;

/** Big-endian u32 without Buffer's slower argument validation; still rejects non-u32 values. */
export function writeU32(b: Buffer, p: number, v: number): void {
  if (v >>> 0 !== v) throw new RangeError(`u32 out of range: ${v}`);
  b[p] = v >>> 24;
  b[p + 1] = v >>> 16;
  b[p + 2] = v >>> 8;
  b[p + 3] = v;
}

/** Big-endian u64 from a bigint (or safe integer); rejects values outside 0..2^64-1. */
export function writeU64(b: Buffer, p: number, v: bigint | number): void {
  let hi: number, lo: number;
  // Number(v) is exact up to 2^53, so 0 <= n <= 2^32-1 holds exactly when v is in that range: one conversion
  // instead of bigint comparisons for the common small cookies and metadata.
  const n = typeof v === 'number' ? v : Number(v);
  if (n >= 0 && n <= 0xffffffff && (typeof v === 'bigint' || Number.isInteger(n))) {
    hi = 0;
    lo = n;
  } else if (typeof v === 'number') {
    if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`u64 out of range: ${v}`);
    hi = Math.floor(v / 0x100000000);
    lo = v >>> 0;
  } else {
    if (v < 0n || v > U64_MAX) throw new RangeError(`u64 out of range: ${v}`);
    hi = Number(v >> 32n);
    lo = Number(v & 0xffffffffn);
  }
  writeU32(b, p, hi);
  writeU32(b, p + 4, lo);
}

/**
 * Growable big-endian writer. Encoders write the OpenFlow header with a placeholder length via
 * `header()` and back-patch it with `finish()`; nested messages (bundle add) reuse the same writer.
 */
export class Writer {
  buf: Buffer;
  pos = 0;

  constructor(capacity = 256) {
    this.buf = Buffer.allocUnsafe(capacity);
  }

  ensure(n: number): void {
    if (this.pos + n > this.buf.length) {
      const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
      this.buf.copy(next, 0, 0, this.pos);
      this.buf = next;
    }
  }

  u8(v: number): void {
    if ((v & 0xff) !== v) throw new RangeError(`u8 out of range: ${v}`);
    if (this.pos + 1 > this.buf.length) this.ensure(1);
    this.buf[this.pos++] = v;
  }

  u16(v: number): void {
    if ((v & 0xffff) !== v) throw new RangeError(`u16 out of range: ${v}`);
    if (this.pos + 2 > this.buf.length) this.ensure(2);
    const b = this.buf,
      p = this.pos;
    b[p] = v >>> 8;
    b[p + 1] = v;
    this.pos = p + 2;
  }

  u32(v: number): void {
    if (this.pos + 4 > this.buf.length) this.ensure(4);
    writeU32(this.buf, this.pos, v);
    this.pos += 4;
  }

  u64(v: bigint | number): void {
    if (this.pos + 8 > this.buf.length) this.ensure(8);
    writeU64(this.buf, this.pos, v);
    this.pos += 8;
  }

  zero(n: number): void {
    if (this.pos + n > this.buf.length) this.ensure(n);
    const b = this.buf;
    const p = this.pos;
    for (let i = 0; i < n; i++) b[p + i] = 0;
    this.pos = p + n;
  }

  bytes(src: Uint8Array): void {
    this.ensure(src.length);
    this.buf.set(src, this.pos);
    this.pos += src.length;
  }

  /** NUL-padded fixed-size UTF-8 string (truncated to n bytes). */
  str(s: string, n: number): void {
    this.ensure(n);
    const len = this.buf.write(s, this.pos, n, 'utf8');
    this.pos += len;
    this.zero(n - len);
  }

  /** Pads with zeros from `start` up to the next multiple of 8. */
  align8(start: number): void {
    const rem = (this.pos - start) & 7;
    if (rem !== 0) this.zero(8 - rem);
  }

  patch16(at: number, v: number): void {
    this.buf.writeUInt16BE(v, at);
  }

  /** Writes an OpenFlow header with a zero length; returns its offset for finish(). */
  header(type: number, xid: number, version = OFP_VERSION): number {
    const at = this.pos;
    this.ensure(8);
    const b = this.buf;
    b[at] = version;
    b[at + 1] = type;
    b[at + 2] = 0;
    b[at + 3] = 0;
    writeU32(b, at + 4, xid);
    this.pos = at + 8;
    return at;
  }

  /** Back-patches the 16-bit length of the message (or TLV) starting at `at`. */
  finish(at: number, lenOffset = 2): void {
    const len = this.pos - at;
    if (len > 0xffff) throw new RangeError(`OpenFlow structure too long: ${len} bytes`);
    this.buf[at + lenOffset] = len >>> 8;
    this.buf[at + lenOffset + 1] = len;
  }

  result(): Buffer {
    return this.pos === this.buf.length ? this.buf : this.buf.subarray(0, this.pos);
  }
}
