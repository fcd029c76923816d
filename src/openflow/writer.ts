import { OFP_VERSION } from './constants.js';

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
    this.ensure(1);
    this.buf[this.pos++] = v;
  }

  u16(v: number): void {
    this.ensure(2);
    this.buf.writeUInt16BE(v, this.pos);
    this.pos += 2;
  }

  u32(v: number): void {
    this.ensure(4);
    this.buf.writeUInt32BE(v, this.pos);
    this.pos += 4;
  }

  u64(v: bigint | number): void {
    this.ensure(8);
    this.buf.writeBigUInt64BE(typeof v === 'bigint' ? v : BigInt(v), this.pos);
    this.pos += 8;
  }

  zero(n: number): void {
    this.ensure(n);
    const b = this.buf;
    for (let i = 0; i < n; i++) b[this.pos + i] = 0;
    this.pos += n;
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
    b.writeUInt32BE(xid >>> 0, at + 4);
    this.pos = at + 8;
    return at;
  }

  /** Back-patches the 16-bit length of the message (or TLV) starting at `at`. */
  finish(at: number, lenOffset = 2): void {
    const len = this.pos - at;
    if (len > 0xffff) throw new RangeError(`OpenFlow structure too long: ${len} bytes`);
    this.buf.writeUInt16BE(len, at + lenOffset);
  }

  result(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}
