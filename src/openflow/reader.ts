import { OfpDecodeError } from './errors.js';

/**
 * Bounds-checked big-endian cursor over one message. Every read checks the declared end first, so a
 * truncated or lying length becomes an OfpDecodeError carrying the byte offset — never a RangeError and
 * never an allocation larger than the input.
 */
export class Reader {
  readonly buf: Buffer;
  pos: number;
  end: number;
  /** Offset of buf[0] within the outermost message, so nested decoders report absolute offsets. */
  readonly base: number;

  constructor(buf: Buffer, pos = 0, end = buf.length, base = 0) {
    this.buf = buf;
    this.pos = pos;
    this.end = end;
    this.base = base;
  }

  fail(reason: string, at = this.pos): never {
    throw new OfpDecodeError(this.base + at, reason);
  }

  need(n: number, what: string): void {
    if (n < 0 || this.pos + n > this.end) this.fail(`truncated ${what}: need ${n} bytes, have ${this.end - this.pos}`);
  }

  remaining(): number {
    return this.end - this.pos;
  }

  u8(): number {
    if (this.pos + 1 > this.end) this.fail('truncated u8');
    return this.buf[this.pos++]!;
  }

  u16(): number {
    const p = this.pos;
    if (p + 2 > this.end) this.fail('truncated u16');
    this.pos = p + 2;
    return (this.buf[p]! << 8) | this.buf[p + 1]!;
  }

  u32(): number {
    const p = this.pos;
    if (p + 4 > this.end) this.fail('truncated u32');
    this.pos = p + 4;
    const b = this.buf;
    return b[p]! * 0x1000000 + ((b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!);
  }

  u64(): bigint {
    const p = this.pos;
    if (p + 8 > this.end) this.fail('truncated u64');
    this.pos = p + 8;
    const b = this.buf;
    const hi = b[p]! * 0x1000000 + ((b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!);
    const lo = b[p + 4]! * 0x1000000 + ((b[p + 5]! << 16) | (b[p + 6]! << 8) | b[p + 7]!);
    // Most cookies/metadata fit in 32 bits; BigInt(lo) alone is several times cheaper than the shift/or.
    return hi === 0 ? BigInt(lo) : (BigInt(hi) << 32n) | BigInt(lo);
  }

  /** A view (no copy) of the next n bytes. */
  bytes(n: number, what = 'bytes'): Buffer {
    this.need(n, what);
    const p = this.pos;
    this.pos = p + n;
    return this.buf.subarray(p, p + n);
  }

  /** A copy of the next n bytes, for data that outlives the receive buffer. */
  copy(n: number, what = 'bytes'): Buffer {
    return Buffer.from(this.bytes(n, what));
  }

  rest(): Buffer {
    const p = this.pos;
    this.pos = this.end;
    return this.buf.subarray(p, this.end);
  }

  /**
   * Skips padding whatever its content: OpenFlow says pad bytes are zero, but switches do not all write
   * zeros and OVS ignores them, so rejecting them would refuse messages every other peer accepts (the
   * encoder always writes zeros, so decode→encode is exact up to pad bytes).
   */
  pad(n: number): void {
    this.need(n, 'padding');
    this.pos += n;
  }

  /** A reader over the next n bytes (advancing this one past them). */
  sub(n: number, what: string): Reader {
    this.need(n, what);
    const r = new Reader(this.buf, this.pos, this.pos + n, this.base);
    this.pos += n;
    return r;
  }

  /** Fixed-size NUL-padded UTF-8 string; invalid UTF-8 is rejected so decode→encode stays byte-exact. */
  str(n: number): string {
    this.need(n, 'string');
    const b = this.buf;
    const start = this.pos;
    const e = start + n;
    let z = start;
    while (z < e && b[z] !== 0) z++;
    for (let i = z; i < e; i++) if (b[i] !== 0) this.fail('bytes after string terminator', i);
    this.pos = e;
    const s = b.toString('utf8', start, z);
    // Invalid sequences decode to U+FFFD; re-encoding then differs from the wire bytes.
    if (s.includes('\ufffd') && !Buffer.from(s, 'utf8').equals(b.subarray(start, z))) {
      this.fail('string is not valid UTF-8', start);
    }
    return s;
  }
}
