/**
 * Store outage through the API, against a real etcd member that is killed and restarted: every route
 * that needs the store answers 503 UNAVAILABLE with a body naming the store (never 500, whichever
 * error the etcd client raises — connection refused, deadline, or its circuit breaker being open;
 * writes after riding the outage out for WRITE_OUTAGE_MS), and the same requests work again once
 * etcd is back.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ApiClient, type ApiResponse } from '../../src/api/client.js';
import { startApiServer, type ApiServer } from '../../src/api/server.js';
import { WRITE_OUTAGE_MS } from '../../src/model/cas.js';
import { openStore } from '../../src/store/index.js';
import type { Store } from '../../src/store/types.js';
import { startEtcd, type EtcdCluster } from '../helpers/etcd.js';

let etcd: EtcdCluster | undefined;
let store: Store | undefined;
let server: ApiServer | undefined;
let c: ApiClient;

beforeAll(async () => {
  etcd = await startEtcd({ members: 1 });
  store = await openStore(etcd.url);
  server = await startApiServer({ store, listen: 'tcp:127.0.0.1:0' });
  c = new ApiClient(server.url);
}, 60_000);
afterAll(async () => {
  await server?.close();
  await store?.close();
  await etcd?.stop();
});

const topologyDoc = { format: 'wyvern-topology', version: 1, networks: [], subnets: [], ports: [], routers: [] };

/** The requests of the outage: reads, a create and an import (each a fresh name so a success is a real write). */
const requests = (n: number): [string, string, unknown?][] => [
  ['GET', '/v1'],
  ['GET', '/v1/networks'],
  ['GET', '/v1/networks/blue'],
  ['POST', '/v1/networks', { name: `during-${n}` }],
  ['POST', '/v1/subnets', { name: `s-${n}`, network: 'blue', cidr: `10.${n}.0.0/24` }],
  ['PUT', '/v1/topology', topologyDoc],
];

function expectUnavailable(r: ApiResponse, what: string): void {
  expect(r.status, `${what}: ${JSON.stringify(r.body)}`).toBe(503);
  const e = (r.body as { error: { code: string; message: string } }).error;
  expect(e.code, what).toBe('UNAVAILABLE');
  expect(e.message, what).toMatch(/^store unavailable: .*etcd unreachable/);
}

it('store down: GET, POST and PUT /v1/topology answer 503 naming the store; back up: they work again', async () => {
  expect((await c.raw('POST', '/v1/networks', { name: 'blue' })).status).toBe(201);
  await etcd!.members[0]!.kill();

  // Several rounds: the first calls fail on the connection, later ones on the client's open circuit breaker. Writes
  // (imports too) ride an outage out for 10 s from their arrival (cas.ts WRITE_OUTAGE_MS) before they answer 503: the
  // first round's go at once, the later rounds ask the reads, which answer at the store's first failure.
  for (let round = 1; round <= 4; round++) {
    const reqs = requests(round).filter(([method]) => round === 1 || method === 'GET');
    const t0 = Date.now();
    const answers = await Promise.all(reqs.map(([method, path, body]) => c.raw(method, path, body)));
    reqs.forEach(([method, path], i) => expectUnavailable(answers[i]!, `round ${round}: ${method} ${path}`));
    if (round === 1) expect(Date.now() - t0, 'the writes waited for the store').toBeGreaterThanOrEqual(WRITE_OUTAGE_MS - 1_000);
  }

  await etcd!.members[0]!.restart();
  // The client's breaker half-opens after a few seconds: poll until the store answers again.
  const t0 = Date.now();
  let r = await c.raw('GET', '/v1');
  while (r.status !== 200 && Date.now() - t0 < 30_000) {
    expect(r.status).toBe(503);
    await new Promise((res) => setTimeout(res, 250));
    r = await c.raw('GET', '/v1');
  }
  expect(r.status).toBe(200);
  expect((await c.raw('POST', '/v1/networks', { name: 'after' })).status).toBe(201);
  expect((await c.raw('POST', '/v1/subnets', { name: 's-after', network: 'blue', cidr: '10.99.0.0/24' })).status).toBe(201);
  expect((await c.raw('PUT', '/v1/topology', topologyDoc)).status).toBe(200);
  // Nothing tried during the outage was written.
  const names = ((await c.call('GET', '/v1/networks')) as { name: string }[]).map((n) => n.name).sort();
  expect(names).toEqual(['after', 'blue']);
}, 120_000);
