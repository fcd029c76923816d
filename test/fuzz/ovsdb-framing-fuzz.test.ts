import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { OvsdbError } from '../../src/ovsdb/errors.js';
import { JsonStreamScanner } from '../../src/ovsdb/framing.js';

const RUNS = Number(process.env.WYVERN_FUZZ_RUNS ?? 20_000);

/** Valid JSON-RPC-looking messages, to mutate. */
const message = fc
  .record({
    id: fc.oneof(fc.integer(), fc.string(), fc.constant(null)),
    method: fc.string(),
    params: fc.array(fc.jsonValue(), { maxLength: 4 }),
  })
  .map((m) => Buffer.from(JSON.stringify(m)));

/**
 * The OVSDB stream scanner reads bytes from a socket: whatever arrives, it returns messages or throws its
 * typed framing error — never anything else, never hangs, never buffers past its limit.
 */
describe('OVSDB stream framing fuzz', () => {
  const feed = (chunks: Buffer[], limit?: number) => {
    const s = new JsonStreamScanner(limit);
    try {
      for (const c of chunks) s.push(c);
    } catch (e) {
      if (!(e instanceof OvsdbError)) throw e;
    }
  };

  it('random bytes in random chunks: only OvsdbError escapes', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 16 }), (chunks) => {
        feed(chunks.map((c) => Buffer.from(c)));
      }),
      { numRuns: RUNS },
    );
  });

  it('mutated valid messages split anywhere: only OvsdbError escapes, and unmutated ones decode intact', () => {
    fc.assert(
      fc.property(
        message,
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
        fc.nat(),
        (msg, flips, cut) => {
          const m = Buffer.from(msg);
          for (const [at, v] of flips) if (m.length > 0) m[at % m.length] = v;
          const k = m.length === 0 ? 0 : cut % m.length;
          feed([m.subarray(0, k), m.subarray(k)]);
          if (flips.length === 0) {
            const s = new JsonStreamScanner();
            const out = [...s.push(msg.subarray(0, k)), ...s.push(msg.subarray(k))];
            expect(out).toEqual([JSON.parse(msg.toString())]);
          }
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('whole texts, several in one chunk, pieces of one, whitespace between: each decodes once, in order', () => {
    // A chunk that is exactly one text is parsed without the scan; any other goes through it. Mixed freely, the
    // two paths must agree on what was sent, and leave the scanner where the next chunk expects it.
    const text = fc.oneof(
      message,
      fc.jsonValue().map((v) => Buffer.from(JSON.stringify([v]))),
    );
    const space = fc.constantFrom('', '', ' ', '\n', ' \r\n\t');
    fc.assert(
      fc.property(fc.array(fc.tuple(text, space), { minLength: 1, maxLength: 8 }), fc.array(fc.nat(), { maxLength: 6 }), (texts, cuts) => {
        const stream = Buffer.concat(texts.flatMap(([t, ws]) => [t, Buffer.from(ws)]));
        // Chunk boundaries: at every text's end, and at some random places besides.
        const ends = new Set<number>();
        let at = 0;
        for (const [t, ws] of texts) {
          at += t.length;
          ends.add(at);
          at += ws.length;
        }
        for (const c of cuts) ends.add(c % (stream.length + 1));
        const bounds = [0, ...[...ends].sort((a, b) => a - b), stream.length];
        const s = new JsonStreamScanner();
        const out: unknown[] = [];
        for (let i = 1; i < bounds.length; i++) out.push(...s.push(stream.subarray(bounds[i - 1], bounds[i])));
        expect(out).toEqual(texts.map(([t]) => JSON.parse(t.toString())));
        expect(s.pending).toBe(false);
      }),
      { numRuns: RUNS / 4 },
    );
  });

  it('an endless string is cut off at the message size limit', () => {
    const s = new JsonStreamScanner(1024);
    s.push(Buffer.from('{"a":"'));
    expect(() => {
      for (let i = 0; i < 100; i++) s.push(Buffer.alloc(64, 0x61));
    }).toThrow(OvsdbError);
  });
});
