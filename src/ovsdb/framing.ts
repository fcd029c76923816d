import { OvsdbError } from './errors.js';

/**
 * Incremental splitter of a byte stream into top-level JSON texts (OVSDB sends JSON-RPC objects
 * back to back with no delimiter). It tracks nesting depth and string/escape state byte by byte
 * and keeps its place across chunks, so every byte is examined once no matter how the stream is
 * split; each complete text is parsed exactly once. Structural characters are ASCII, and UTF-8
 * continuation bytes are >= 0x80, so scanning bytes (not characters) is safe.
 */
export class JsonStreamScanner {
  /** Bytes of the text in progress that arrived in earlier chunks (already scanned). */
  private partial: Buffer[] = [];
  private partialBytes = 0;
  private depth = 0;
  private inString = false;
  private escaped = false;
  /** Total bytes fed before the current chunk (for error offsets). */
  private consumed = 0;

  constructor(private readonly maxMessageBytes = 64 * 1024 * 1024) {}

  /** Feeds a chunk; returns the values of every JSON text it completes, in order. */
  push(chunk: Buffer): unknown[] {
    const out: unknown[] = [];
    let start = 0; // start of the current text within chunk (0 while continuing a partial one)
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i]!;
      if (this.depth === 0) {
        if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) {
          start = i + 1;
          continue;
        }
        if (c !== 0x7b && c !== 0x5b) {
          throw new OvsdbError('framing', `unexpected byte 0x${c.toString(16)} between JSON texts`, {
            offset: this.consumed + i,
          });
        }
        start = i;
        this.depth = 1;
        continue;
      }
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (c === 0x5c) this.escaped = true;
        else if (c === 0x22) this.inString = false;
        continue;
      }
      if (c === 0x22) this.inString = true;
      else if (c === 0x7b || c === 0x5b) this.depth++;
      else if (c === 0x7d || c === 0x5d) {
        if (--this.depth === 0) {
          out.push(this.parse(chunk, start, i + 1));
          start = i + 1;
        }
      }
    }
    if (this.depth > 0 && start < chunk.length) {
      this.partial.push(chunk.subarray(start));
      this.partialBytes += chunk.length - start;
      if (this.partialBytes > this.maxMessageBytes) {
        throw new OvsdbError('framing', `message exceeds ${this.maxMessageBytes} bytes`, { offset: this.consumed });
      }
    }
    this.consumed += chunk.length;
    return out;
  }

  private parse(chunk: Buffer, start: number, end: number): unknown {
    let text: string;
    if (this.partial.length === 0) text = chunk.toString('utf8', start, end);
    else {
      this.partial.push(chunk.subarray(start, end));
      text = Buffer.concat(this.partial).toString('utf8');
      this.partial = [];
      this.partialBytes = 0;
    }
    try {
      return JSON.parse(text);
    } catch (e) {
      throw new OvsdbError('framing', `invalid JSON text: ${(e as Error).message}`, { offset: this.consumed + start });
    }
  }

  /** True when a partial text is buffered (a stream that ends here was cut mid-message). */
  get pending(): boolean {
    return this.depth > 0;
  }
}
