/**
 * Store outage through the API, against a real etcd member that is killed and restarted: every route
 * that needs the store, read or write, rides the outage out for WRITE_OUTAGE_MS and then answers 503 UNAVAILABLE
 * with a body naming the store (never 500, whichever error the etcd client raises — connection refused, deadline,
 * or its circuit breaker being open), and the same requests work again once etcd is back. Reads asked while the
 * member restarts answer 200, not 503.
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

  // Two rounds: the first calls fail on the connection, later ones on the client's open circuit breaker. Every request,
  // read or write (imports too), rides an outage out for 10 s from its arrival (cas.ts WRITE_OUTAGE_MS) before it
  // answers 503.
  for (let round = 1; round <= 2; round++) {
    const reqs = requests(round).filter(([method]) => round === 1 || method === 'GET');
    const answers = await Promise.all(
      reqs.map(async ([method, path, body]) => {
        const t0 = Date.now();
        const r = await c.raw(method, path, body);
        return { r, ms: Date.now() - t0 };
      }),
    );
    reqs.forEach(([method, path], i) => {
      expectUnavailable(answers[i]!.r, `round ${round}: ${method} ${path}`);
      expect(answers[i]!.ms, `round ${round}: ${method} ${path} waited for the store`).toBeGreaterThanOrEqual(WRITE_OUTAGE_MS - 1_000);
    });
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

it('etcd restarted under reads (down 2 s): every read asked meanwhile answers 200, none 503', async () => {
  const reads = ['/v1', '/v1/networks', '/v1/networks/blue', '/v1/subnets', '/v1/ports', '/v1/routers', '/v1/chassis', '/v1/topology'];
  await etcd!.members[0]!.kill();
  const asked = reads.map((path) => c.raw('GET', path));
  await new Promise((res) => setTimeout(res, 2_000));
  const more = reads.map((path) => c.raw('GET', path));
  await etcd!.members[0]!.restart();
  const answers = await Promise.all([...asked, ...more]);
  answers.forEach((r, i) => expect(r.status, `GET ${reads[i % reads.length]}: ${JSON.stringify(r.body)}`).toBe(200));
  const blue = answers[2]!.body as { name: string };
  expect(blue.name).toBe('blue');
}, 60_000);
