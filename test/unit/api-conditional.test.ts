/** If-Match as the API reads it (RFC 9110 §13.1.1, §8.8.3), and the ETag it sends. */
import { describe, expect, it } from 'vitest';
import { parseIfMatch, refuseIgnoredConditions, tagged } from '../../src/api/conditional.js';
import { etag, revisionOfEtag } from '../../src/api/etag.js';
import { ApiError } from '../../src/api/http.js';
import { withRevision } from '../../src/model/precondition.js';

const refusal = (f: () => unknown): ApiError => {
  try {
    f();
  } catch (e) {
    if (e instanceof ApiError) return e;
    throw e;
  }
  throw new Error('not refused');
};

describe('parseIfMatch', () => {
  it('reads *, one tag, a list (also split over several header lines), and keeps what was sent for messages', () => {
    expect(parseIfMatch(undefined)).toBeUndefined();
    expect(parseIfMatch('*')).toEqual({ any: true });
    expect(parseIfMatch(' * ')).toEqual({ any: true });
    expect(parseIfMatch('"17"')).toEqual({ revisions: [17], text: '"17"' });
    expect(parseIfMatch('"17", "18" ,"19"')).toEqual({ revisions: [17, 18, 19], text: '"17", "18" ,"19"' });
    expect(parseIfMatch(['"17"', '"18"'])).toEqual({ revisions: [17, 18], text: '"17", "18"' });
  });

  it('tags that are well-formed but name no revision of ours match nothing (a 412, not a 400)', () => {
    for (const h of ['W/"17"', '"abc"', '"0"', '"017"', '""', '"1e3"', '"99999999999999999"'])
      expect(parseIfMatch(h), h).toEqual({ revisions: [], text: h });
    expect(parseIfMatch('W/"17", "18"')).toEqual({ revisions: [18], text: 'W/"17", "18"' });
  });

  it('malformed values are refused, naming the header and what it should be', () => {
    for (const h of ['17', "'17'", '"17', '17"', '"1 7"', 'w/"17"', '"17",', ',"17"', '"17" "18"', '*, "17"', '**', '', ' ']) {
      const e = refusal(() => parseIfMatch(h));
      expect([h, e.status, e.code, e.field]).toEqual([h, 400, 'INVALID', 'If-Match']);
      expect(e.message).toContain('give * or the ETag of the object as read');
    }
  });

  it('never throws anything but a 400 on arbitrary input', () => {
    const chars = ['"', ',', ' ', '*', 'W', '/', '1', '0', 'a', '\t', '\x7f', 'é'];
    for (let i = 0; i < 5_000; i++) {
      let h = '';
      for (let n = Math.floor(Math.random() * 12); n > 0; n--) h += chars[Math.floor(Math.random() * chars.length)];
      try {
        const c = parseIfMatch(h);
        if (c && 'revisions' in c) for (const r of c.revisions) expect(Number.isSafeInteger(r) && r > 0).toBe(true);
      } catch (e) {
        expect(e).toBeInstanceOf(ApiError);
        expect((e as ApiError).status).toBe(400);
      }
    }
  });
});

describe('ETag out, and conditions refused where they would be ignored', () => {
  it('a reply carries the ETag of a body with a revision, none otherwise', () => {
    expect(etag(42)).toBe('"42"');
    expect(revisionOfEtag(etag(42))).toBe(42);
    for (const t of ['W/"42"', '42', '"042"', '"4a"', '""', '"', '"42']) expect([t, revisionOfEtag(t)]).toEqual([t, undefined]);
    expect(tagged(200, withRevision({ a: 1 }, 42))).toEqual({ status: 200, body: { a: 1 }, headers: { etag: '"42"' } });
    expect(tagged(201, [1, 2])).toEqual({ status: 201, body: [1, 2] });
    expect(tagged(200, { ...withRevision({ a: 1 }, 42) })).toEqual({ status: 200, body: { a: 1 } }); // a copy is not at it
  });

  it('If-Match where a route takes none, and If-None-Match or If-Unmodified-Since on any write: 400', () => {
    expect(() => refuseIgnoredConditions({}, 'POST /v1/ports', false)).not.toThrow();
    expect(() => refuseIgnoredConditions({ 'if-match': '"1"' }, 'PATCH /v1/ports/{port}', true)).not.toThrow();
    expect(refusal(() => refuseIgnoredConditions({ 'if-match': '"1"' }, 'POST /v1/ports', false))).toMatchObject({
      status: 400,
      field: 'If-Match',
      message: expect.stringContaining('If-Match is not supported on POST /v1/ports'),
    });
    expect(refusal(() => refuseIgnoredConditions({ 'if-none-match': '*' }, 'PATCH /v1/ports/{port}', true))).toMatchObject({
      status: 400,
      field: 'If-None-Match',
    });
    expect(refusal(() => refuseIgnoredConditions({ 'if-unmodified-since': 'x' }, 'POST /v1/ports', false))).toMatchObject({
      status: 400,
      field: 'If-Unmodified-Since',
    });
  });
});
