/**
 * Protocol Buffers wire format: a writer and a reader cursor over Buffer, nothing schema-aware.
 *
 * int64 fields come in two flavours: revisions and counts are decoded as a JS number, and a value beyond
 * 2^53 is a decode error rather than a silently rounded revision; lease ids are random 63-bit numbers that do
 * exceed 2^53, so they are read and written as decimal strings through bigint, never through a lossy Number.
 */

export class ProtoDecodeError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(`protobuf decode error at byte ${offset}: ${message}`);
    this.name = 'ProtoDecodeError';
  }
}

export const enum WireType {
  Varint = 0,
  Fixed64 = 1,
  Bytes = 2,
  StartGroup = 3,
  EndGroup = 4,
  Fixed32 = 5,
}

/** A bytes field's content: bytes, or a string written as UTF-8 (keys and values: no intermediate Buffer). */
export type Bytes = Buffer | Uint8Array | string;

export class ProtoWriter {
  private buf: Buffer;
  pos = 0;

  constructor(size = 256) {
    this.buf = Buffer.allocUnsafe(size);
  }

  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  /** A non-negative integer up to 2^53. */
  varint(v: number): void {
    this.room(10);
    while (v > 0x7f) {
      this.buf[this.pos++] = (v % 128) | 0x80;
      v = Math.floor(v / 128);
    }
    this.buf[this.pos++] = v;
  }

  /** Any int64/uint64 as its 64-bit two's complement (a negative int64 takes ten bytes, as protobuf says). */
  varint64(v: bigint): void {
    let u = BigInt.asUintN(64, v);
    this.room(10);
    while (u > 0x7fn) {
      this.buf[this.pos++] = Number(u & 0x7fn) | 0x80;
      u >>= 7n;
    }
    this.buf[this.pos++] = Number(u);
  }

  tag(field: number, wt: WireType): void {
    this.varint(field * 8 + wt);
  }

  /** int64 field holding a number (revision, TTL); omitted when 0, as proto3 does. */
  int64(field: number, v: number | undefined): void {
    if (!v) return;
    this.tag(field, WireType.Varint);
    if (v > 0 && Number.isSafeInteger(v)) this.varint(v);
    else this.varint64(BigInt(Math.trunc(v)));
  }

  /** int64 field holding a decimal string or bigint (lease id); omitted when 0. */
  int64s(field: number, v: string | bigint | undefined): void {
    if (v === undefined || v === '' || v === '0' || v === 0n) return;
    this.tag(field, WireType.Varint);
    this.varint64(BigInt(v));
  }

  bool(field: number, v: boolean | undefined): void {
    if (!v) return;
    this.tag(field, WireType.Varint);
    this.varint(1);
  }

  enumv(field: number, v: number | undefined): void {
    if (!v) return;
    this.tag(field, WireType.Varint);
    this.varint(v);
  }

  /** A bytes field; omitted when empty unless `always` (a oneof member set to the empty value). */
  bytes(field: number, v: Bytes | undefined, always = false): void {
    if (v === undefined || (v.length === 0 && !always)) return;
    if (typeof v === 'string') {
      this.tag(field, WireType.Bytes);
      const n = Buffer.byteLength(v);
      this.varint(n);
      this.room(n);
      this.pos += this.buf.write(v, this.pos, n, 'utf8');
      return;
    }
    this.tag(field, WireType.Bytes);
    this.varint(v.length);
    this.room(v.length);
    this.buf.set(v, this.pos);
    this.pos += v.length;
  }

  /** A string field (UTF-8), omitted when empty. */
  string(field: number, v: string | undefined): void {
    this.bytes(field, v);
  }

  /**
   * An embedded message (always written, even when empty: a oneof member or a repeated element is present
   * by being there). One byte is reserved for the length and the body moved when it needs more.
   */
  message(field: number, body: (w: ProtoWriter) => void): void {
    this.tag(field, WireType.Bytes);
    this.room(1);
    const at = this.pos++;
    body(this);
    const len = this.pos - at - 1;
    if (len < 0x80) {
      this.buf[at] = len;
      return;
    }
    let extra = 0;
    for (let l = len; l > 0x7f; l = Math.floor(l / 128)) extra++;
    this.room(extra);
    this.buf.copy(this.buf, at + 1 + extra, at + 1, this.pos);
    const end = this.pos + extra;
    this.pos = at;
    this.varint(len);
    this.pos = end;
  }

  /** The encoded bytes (a view; the writer must not be reused after). */
  finish(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}

export class ProtoReader {
  pos: number;

  constructor(
    readonly buf: Buffer,
    start = 0,
    readonly end = buf.length,
  ) {
    this.pos = start;
  }

  get done(): boolean {
    return this.pos >= this.end;
  }

  private fail(msg: string): never {
    throw new ProtoDecodeError(msg, this.pos);
  }

  /** A varint that must fit a safe integer (lengths, tags, revisions, enums, bools). */
  varint(): number {
    let v = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) this.fail('truncated varint');
      const b = this.buf[this.pos++]!;
      v += (b & 0x7f) * mul;
      if (b < 0x80) {
        if (v > Number.MAX_SAFE_INTEGER) this.fail('integer beyond 2^53 where a revision or length was expected');
        return v;
      }
      mul *= 128;
    }
    return this.fail('varint longer than 10 bytes');
  }

  /** A varint as its unsigned 64-bit value. */
  varint64(): bigint {
    let lo = 0;
    let hi = 0;
    let shift = 0;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) this.fail('truncated varint');
      const b = this.buf[this.pos++]!;
      if (shift < 28) lo += (b & 0x7f) * 2 ** shift;
      else if (shift === 28) {
        lo += (b & 0x0f) * 2 ** 28;
        hi += (b & 0x7f) >> 4;
      } else hi += (b & 0x7f) * 2 ** (shift - 32);
      shift += 7;
      if (b < 0x80) return BigInt.asUintN(64, (BigInt(hi) << 32n) + BigInt(lo));
    }
    return this.fail('varint longer than 10 bytes');
  }

  /** int64 as a safe number; a negative int64 (ten bytes) is read exactly when it fits. */
  int64(): number {
    const start = this.pos;
    // Fast path: nine bytes or fewer without a sign are non-negative and under 2^63.
    let n = 0;
    for (let i = 0; i < 10 && this.pos + i < this.end; i++) {
      if (this.buf[this.pos + i]! < 0x80) {
        n = i + 1;
        break;
      }
    }
    if (n > 0 && n < 8) return this.varint();
    const v = BigInt.asIntN(64, this.varint64());
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) {
      throw new ProtoDecodeError('int64 beyond 2^53 where a revision was expected', start);
    }
    return Number(v);
  }

  /** int64 as a decimal string (lease ids). */
  int64s(): string {
    return String(BigInt.asIntN(64, this.varint64()));
  }

  /** uint64 as a decimal string (cluster and member ids). */
  uint64s(): string {
    return String(this.varint64());
  }

  bool(): boolean {
    return this.varint64() !== 0n;
  }

  /** Length-delimited field: returns [start, end) of its body and moves past it. */
  delimited(): [number, number] {
    const len = this.varint();
    const start = this.pos;
    if (len > this.end - start) this.fail(`length ${len} runs past the end of the message`);
    this.pos = start + len;
    return [start, start + len];
  }

  /** A copy, so a decoded key or value does not pin the whole gRPC frame. */
  bytes(): Buffer {
    const [s, e] = this.delimited();
    return Buffer.from(this.buf.subarray(s, e));
  }

  string(): string {
    const [s, e] = this.delimited();
    return this.buf.toString('utf8', s, e);
  }

  /** A reader over an embedded message. */
  sub(): ProtoReader {
    const [s, e] = this.delimited();
    return new ProtoReader(this.buf, s, e);
  }

  /** The next field's [number, wire type]. */
  tag(): [number, WireType] {
    const t = this.varint();
    const field = Math.floor(t / 8);
    if (field === 0) this.fail('field number 0');
    return [field, (t & 7) as WireType];
  }

  /** Skips a field we do not use, of any wire type (groups included). */
  skip(wt: WireType, field = 0): void {
    switch (wt) {
      case WireType.Varint:
        this.varint64();
        return;
      case WireType.Fixed64:
        this.advance(8);
        return;
      case WireType.Fixed32:
        this.advance(4);
        return;
      case WireType.Bytes:
        this.delimited();
        return;
      case WireType.StartGroup:
        for (;;) {
          const [f, w] = this.tag();
          if (w === WireType.EndGroup) {
            if (f !== field) this.fail(`group ${field} closed by end of group ${f}`);
            return;
          }
          this.skip(w, f);
        }
      default:
        this.fail(`wire type ${wt as number} not allowed here`);
    }
  }

  private advance(n: number): void {
    if (this.pos + n > this.end) this.fail('truncated fixed-width field');
    this.pos += n;
  }

  /** Checks the wire type of a known field (a mismatch is a corrupt or foreign message). */
  expect(wt: WireType, want: WireType, field: number): void {
    if (wt !== want) this.fail(`field ${field} has wire type ${wt}, expected ${want}`);
  }
}
