/**
 * Cuts an OpenFlow byte stream into whole messages using the header's 16-bit length (bytes 2–3). Handles
 * messages split across chunks and many messages in one chunk; whole messages inside a chunk are handed out as
 * views without copying. Memory is bounded: at most one partial message (< 64 KiB) is held.
 */
import { OfFramingError } from './errors.js';

export const OFP_HEADER_LEN = 8;

export class Framer {
  /** Bytes of an incomplete message carried over from earlier chunks. */
  private partial: Buffer | undefined;
  /** Stream offset of the next message to be emitted, for error reports. */
  private streamOffset = 0;

  /**
   * Feeds one chunk; calls onMessage for every complete message, in order. Throws OfFramingError if a header
   * announces a length below 8 (the stream cannot be resynchronised; the caller drops the connection).
   */
  push(chunk: Buffer, onMessage: (msg: Buffer) => void): void {
    let buf = chunk;
    if (this.partial) {
      // Complete only the carried message (< 64 KiB) from the chunk, then continue inside the chunk itself,
      // so a large chunk is never re-copied.
      let p = this.partial;
      let used = 0;
      if (p.length < OFP_HEADER_LEN) {
        used = Math.min(OFP_HEADER_LEN - p.length, chunk.length);
        p = Buffer.concat([p, chunk.subarray(0, used)]);
        if (p.length < OFP_HEADER_LEN) {
          this.partial = p;
          return;
        }
      }
      const len = this.lengthOf(p, 0);
      const take = Math.min(len - p.length, chunk.length - used);
      if (take > 0) p = Buffer.concat([p, chunk.subarray(used, used + take)]);
      used += take;
      if (p.length < len) {
        this.partial = p;
        return;
      }
      this.partial = undefined;
      this.streamOffset += len;
      onMessage(p);
      buf = chunk.subarray(used);
    }
    let pos = 0;
    const end = buf.length;
    while (end - pos >= OFP_HEADER_LEN) {
      const len = this.lengthOf(buf, pos);
      if (end - pos < len) break;
      const msg = buf.subarray(pos, pos + len);
      pos += len;
      this.streamOffset += len;
      onMessage(msg);
    }
    // Copy the tail: the chunk may be large and we only need a few bytes of it.
    if (pos < end) this.partial = Buffer.from(buf.subarray(pos));
  }

  /** Bytes held for an incomplete message. */
  get buffered(): number {
    return this.partial?.length ?? 0;
  }

  /** `pos` is where a message starts; streamOffset is that message's offset in the stream. */
  private lengthOf(buf: Buffer, pos: number): number {
    const len = buf.readUInt16BE(pos + 2);
    if (len < OFP_HEADER_LEN) throw new OfFramingError(this.streamOffset + 2, `message length ${len} < 8`);
    return len;
  }
}
