import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../../src/api/client.js';
import { startApiServer, type ApiServer } from '../../src/api/server.js';
import { createMemoryStore } from '../../src/store/index.js';
import type { Store } from '../../src/store/types.js';

const RUNS = Number(process.env.WYVERN_FUZZ_RUNS ?? 2000);

/**
 * Bad input always gets a clear error and loses nothing: random bodies against every create endpoint (and the port update)
 * answer 2xx or 4xx with an error body naming a code — never 500 — and a rejected request writes nothing.
 */
describe('northbound API fuzz', () => {
  let store: Store;
  let api: ApiServer;
  let client: ApiClient;

  beforeAll(async () => {
    store = createMemoryStore();
    api = await startApiServer({ store, listen: 'tcp:127.0.0.1:0' });
    client = new ApiClient(api.url);
    await client.call('POST', '/v1/networks', { name: 'net' });
    await client.call('POST', '/v1/subnets', { name: 'sub', network: 'net', cidr: '10.0.0.0/24' });
    await client.call('POST', '/v1/routers', { name: 'r' });
    await client.call('POST', '/v1/ports', { name: 'fz', network: 'net' });
  });

  afterAll(async () => {
    await api?.close();
    await store?.close();
  });

  const body = fc.oneof(
    fc.jsonValue(),
    fc.record(
      {
        name: fc.oneof(fc.string(), fc.integer(), fc.constant('net')),
        network: fc.oneof(fc.string(), fc.constant('net')),
        cidr: fc.oneof(fc.string(), fc.constant('10.0.0.0/24'), fc.constant('10.1.0.0/33')),
        mac: fc.oneof(fc.string(), fc.constant('02:00:00:00:00:01')),
        fixedIps: fc.oneof(fc.jsonValue(), fc.constant([{ ip: '10.0.0.500' }])),
        mtu: fc.oneof(fc.integer(), fc.string()),
        mode: fc.string(),
        subnet: fc.oneof(fc.string(), fc.constant('sub')),
        nexthop: fc.string(),
        portSecurity: fc.oneof(fc.boolean(), fc.jsonValue()),
        allowedAddressPairs: fc.oneof(
          fc.jsonValue(),
          fc.array(
            fc.record(
              { ip: fc.oneof(fc.string(), fc.constantFrom('10.0.0.100', '10.0.0.0/30', '0.0.0.0/0', '10.0.0.1/7')), mac: fc.string() },
              { requiredKeys: [] },
            ),
          ),
        ),
      },
      { requiredKeys: [] },
    ),
  );
  const path = fc.constantFrom(
    '/v1/networks',
    '/v1/subnets',
    '/v1/ports',
    '/v1/routers',
    '/v1/routers/r/interfaces',
    '/v1/routers/r/routes',
    '/v1/topology',
    '/v1/ports/fz',
  );

  it('never answers 500; every error names a code; rejected requests write nothing', async () => {
    await fc.assert(
      fc.asyncProperty(path, body, async (p, b) => {
        const before = await store.currentRevision();
        const res = await client.raw(p === '/v1/topology' ? 'PUT' : p === '/v1/ports/fz' ? 'PATCH' : 'POST', p, b);
        expect(res.status).toBeLessThan(500);
        if (res.status >= 400) {
          expect((res.body as { error?: { code?: string } }).error?.code).toMatch(/^[A-Z_]+$/);
          expect(await store.currentRevision()).toBe(before);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('malformed JSON and wrong content types are clear 4xx errors', async () => {
    for (const text of ['{', '{"name":', '\u0000', 'null', '[]', '"x"']) {
      const res = await client.raw('POST', '/v1/networks', text, { 'content-type': 'application/json' });
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(500);
    }
    const res = await client.raw('POST', '/v1/networks', 'name=x', { 'content-type': 'application/x-www-form-urlencoded' });
    expect(res.status).toBe(415);
  });
});
