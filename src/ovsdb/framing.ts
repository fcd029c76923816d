import { OvsdbError } from './errors.js';

/**
 * Incremental splitter of a byte stream into top-level JSON texts (OVSDB sends JSON-RPC objects
 * back to back with no delimiter). It tracks nesting depth and string/escape state byte by byte
 * and keeps its place across chunks, so every byte is examined once no matter how the stream is
 * split; each complete text is parsed exactly once. Structural characters are ASCII, and UTF-8
 * continuation bytes are >= 0x80, so scanning bytes (not characters) is safe.
 *
 * A chunk that begins between texts and ends with a closing bracket is most often exactly one text (ovsdb-server
 * writes each reply and update whole, and a read takes up to 64 KiB): it is given to JSON.parse first, and scanned
 * only if that fails (the one case where bytes go through JSON.parse twice). The byte-by-byte scan runs in V8's interpreter until the loop is hot, ~0.1 µs a byte: the
 * schema (16 KB) and the first replies cost a fresh agent's start 2–4 ms of scanning on this machine, and 0.7–1 ms
 * this way, nearly all of it JSON.parse, which every text needs anyway (docs/footprint.md, twenty-sixth session).
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
    const whole = this.depth === 0 ? this.wholeText(chunk) : undefined;
    if (whole !== undefined) {
      this.consumed += chunk.length;
      return [whole];
    }
    const out: unknown[] = [];
    let start = 0; // start of the current text within chunk (0 while continuing a partial one)
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i]!;
      if (this.depth === 0) {
        if (isSpace(c)) {
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

  /**
   * The value of `chunk` if it holds exactly one JSON text (an object or an array, whitespace around it allowed),
   * else undefined: several texts, a partial one, or bad bytes, which the scan then splits or reports.
   */
  private wholeText(chunk: Buffer): unknown {
    let first = 0;
    let last = chunk.length - 1;
    while (first <= last && isSpace(chunk[first]!)) first++;
    while (last >= first && isSpace(chunk[last]!)) last--;
    if (first > last || (chunk[first] !== 0x7b && chunk[first] !== 0x5b) || (chunk[last] !== 0x7d && chunk[last] !== 0x5d))
      return undefined;
    if (last - first + 1 > this.maxMessageBytes) return undefined;
    try {
      return JSON.parse(chunk.toString('utf8', first, last + 1));
    } catch {
      return undefined;
    }
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

/** JSON's whitespace: space, line feed, carriage return, tab. */
function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}
