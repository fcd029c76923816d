import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { JsonStreamScanner } from '../../src/ovsdb/framing.js';
import { OvsdbError } from '../../src/ovsdb/errors.js';

const msgs = [
  { id: 1, method: 'echo', params: ['a}b{', 'q"uo\\"te', '\\'] },
  { id: null, method: 'update2', params: ['m', { T: { u: { modify: { s: '{[]}"' } } } }] },
  { result: ['Open_vSwitch', 'ünïcödé ✓ 🦎'], error: null, id: 7 },
  [1, 2, { x: '}' }],
];
const stream = Buffer.from(msgs.map((m) => JSON.stringify(m)).join(' \n'));

function feed(chunks: Buffer[]): unknown[] {
  const s = new JsonStreamScanner();
  const out: unknown[] = [];
  for (const c of chunks) out.push(...s.push(c));
  expect(s.pending).toBe(false);
  return out;
}

describe('ovsdb JSON stream framing', () => {
  it('parses concatenated messages from one chunk', () => {
    expect(feed([stream])).toEqual(msgs);
  });

  it('parses messages split at every byte boundary', () => {
    for (let i = 0; i <= stream.length; i++) {
      expect(feed([stream.subarray(0, i), stream.subarray(i)])).toEqual(msgs);
    }
  });

  it('ends a string only at a quote after an even run of backslashes, wherever the chunks split it', () => {
    // Runs of 0 to 5 backslashes before a quote, inside and at the end of strings, keys included.
    const tricky = [
      { 'k\\': 'a\\"b', q: '\\\\"', r: '\\\\\\', s: '"}{][' },
      ['\\', '\\\\', '\\\\\\', '"', '\\"', 'x\\\\"y', ''],
      { long: `${'\\'.repeat(41)}"${'\\'.repeat(40)}` },
    ];
    const buf = Buffer.from(tricky.map((m) => JSON.stringify(m)).join(''));
    for (let i = 0; i <= buf.length; i++) {
      expect(feed([buf.subarray(0, i), buf.subarray(i)])).toEqual(tricky);
      for (let j = i; j <= Math.min(buf.length, i + 3); j++)
        expect(feed([buf.subarray(0, i), buf.subarray(i, j), buf.subarray(j)])).toEqual(tricky);
    }
    expect(feed([...buf].map((b) => Buffer.from([b])))).toEqual(tricky);
  });

  it('parses a stream fed one byte at a time (multi-byte UTF-8 split too)', () => {
    const chunks = [...stream].map((b) => Buffer.from([b]));
    expect(feed(chunks)).toEqual(msgs);
  });

  it('parses random splits of random JSON objects', () => {
    fc.assert(
      fc.property(
        fc.array(fc.dictionary(fc.string(), fc.jsonValue()), { minLength: 1, maxLength: 5 }),
        fc.array(fc.nat(), { maxLength: 8 }),
        (objs, cuts) => {
          const buf = Buffer.from(objs.map((o) => JSON.stringify(o)).join(''));
          const points = [...new Set(cuts.map((c) => c % (buf.length + 1)))].sort((a, b) => a - b);
          const chunks: Buffer[] = [];
          let prev = 0;
          for (const p of points) {
            chunks.push(buf.subarray(prev, p));
            prev = p;
          }
          chunks.push(buf.subarray(prev));
          expect(feed(chunks)).toEqual(JSON.parse(JSON.stringify(objs)));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('reports garbage between texts with its offset', () => {
    const s = new JsonStreamScanner();
    s.push(Buffer.from('{"a":1} '));
    try {
      s.push(Buffer.from(' x'));
      expect.fail('should throw');
    } catch (e) {
      expect(e).toBeInstanceOf(OvsdbError);
      expect((e as OvsdbError).code).toBe('framing');
      expect((e as OvsdbError).extra.offset).toBe(9);
    }
  });

  it('reports invalid JSON inside balanced braces', () => {
    const s = new JsonStreamScanner();
    expect(() => s.push(Buffer.from('{"a":}'))).toThrow(OvsdbError);
  });

  it('keeps a partial message pending', () => {
    const s = new JsonStreamScanner();
    expect(s.push(Buffer.from('{"a":"}'))).toEqual([]);
    expect(s.pending).toBe(true);
    expect(s.push(Buffer.from('"}'))).toEqual([{ a: '}' }]);
  });
});
