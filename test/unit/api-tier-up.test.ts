/**
 * The API server counts every write request it serves towards the tier-up policy's return to V8's budget
 * (src/util/tier-up.ts: noteApiWrite), refused ones included, and no read or probe.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';

const noted = vi.hoisted(() => ({ writes: 0 }));
vi.mock('../../src/util/tier-up.js', async (original) => ({
  ...(await original<typeof import('../../src/util/tier-up.js')>()),
  noteApiWrite: () => void noted.writes++,
}));

import { startApiServer, type ApiServer } from '../../src/api/server.js';
import { openStore } from '../../src/store/index.js';
import type { Store } from '../../src/store/types.js';

let server: ApiServer | undefined;
let store: Store | undefined;
afterEach(async () => {
  await server?.close({ drainMs: 0 });
  await store?.close().catch(() => undefined);
});

describe('API writes and the tier-up policy', () => {
  it('every POST, PATCH, PUT and DELETE is noted once, answered or refused; GETs and probes are not', async () => {
    store = await openStore('memory:');
    server = await startApiServer({ store, listen: '127.0.0.1:0' });
    const call = async (method: string, path: string, body?: unknown): Promise<number> =>
      (
        await fetch(`${server!.url}${path}`, {
          method,
          ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
        })
      ).status;
    expect(await call('POST', '/v1/networks', { name: 'n1' })).toBe(201);
    expect(await call('GET', '/v1/networks')).toBe(200);
    expect(await call('GET', '/healthz')).toBe(200);
    expect(noted.writes).toBe(1);
    expect(await call('POST', '/v1/networks', { name: 7 })).toBe(400);
    expect(await call('PATCH', '/v1/ports/nope', {})).toBeGreaterThanOrEqual(400);
    expect(await call('PUT', '/v1/networks/n1', {})).toBeGreaterThanOrEqual(400);
    expect(await call('DELETE', '/v1/networks/n1')).toBe(200);
    expect(noted.writes).toBe(5);
  });
});
