import { describe, expect, it } from 'vitest';
import { ApiError, Router } from '../../src/api/http.js';

const h = (name: string) => () => ({ status: 200, body: name });

describe('Router', () => {
  it('resolves fixed and parameter routes, the same on every call; other spellings of a fixed path too, not kept', () => {
    const r = new Router();
    r.add('GET', '/v1/ports', h('list'));
    r.add('POST', '/v1/ports', h('create'));
    r.add('GET', '/v1/ports/{port}', h('show'));
    for (let i = 0; i < 3; i++) {
      expect(r.resolve('POST', '/v1/ports').pattern).toBe('/v1/ports');
      expect(r.resolve('GET', '/v1/ports').params).toEqual({});
      expect(r.resolve('GET', '/v1/ports/a%2Fb')).toMatchObject({ pattern: '/v1/ports/{port}', params: { port: 'a/b' } });
    }
    // A path spelled otherwise resolves to the same route; only the exact pattern is remembered (bounded).
    for (let i = 0; i < 100; i++) expect(r.resolve('POST', `/v1/ports${'/'.repeat(i)}`).pattern).toBe('/v1/ports');
    expect(r.resolve('POST', '/v1/%70orts').pattern).toBe('/v1/ports');
    expect((r as unknown as { fixed: Map<string, unknown> }).fixed.size).toBe(2);
    // A params object handed out is the caller's: changing it does not change the next resolution.
    (r.resolve('GET', '/v1/ports').params as Record<string, string>).x = 'y';
    expect(r.resolve('GET', '/v1/ports').params).toEqual({});
  });

  it('405 with the allowed methods and 404 unchanged; a route added later is found', () => {
    const r = new Router();
    r.add('GET', '/v1/x', h('x'));
    expect(r.resolve('GET', '/v1/x').pattern).toBe('/v1/x');
    expect(() => r.resolve('DELETE', '/v1/x')).toThrow(expect.objectContaining({ status: 405, headers: { allow: 'GET' } }) as ApiError);
    expect(() => r.resolve('GET', '/v1/nope')).toThrow(expect.objectContaining({ status: 404 }) as ApiError);
    r.add('DELETE', '/v1/x', h('del'));
    expect(r.resolve('DELETE', '/v1/x').pattern).toBe('/v1/x');
  });
});
