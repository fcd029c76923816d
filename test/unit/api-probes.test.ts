/** /healthz, /readyz and /metrics on the standalone API (memory store): who may read them and what they say. */
import { EventEmitter } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { ApiClient } from '../../src/api/client.js';
import { startApiServer, type ApiServer } from '../../src/api/server.js';
import { Agent } from '../../src/agent/agent.js';
import { loadAgentConfig } from '../../src/agent/config.js';
import { openStore, PrefixSubscription } from '../../src/store/index.js';
import type { Store } from '../../src/store/types.js';
import { silentLogger } from '../../src/util/log.js';
import { Scrape } from '../helpers/prom.js';

let server: ApiServer | undefined;
let store: Store | undefined;
afterEach(async () => {
  await server?.close();
  await store?.close().catch(() => undefined);
  server = store = undefined;
});

async function get(url: string, path: string, token?: string): Promise<{ status: number; type: string | null; text: string }> {
  const r = await fetch(`${url}${path}`, token ? { headers: { authorization: `Bearer ${token}` } } : {});
  return { status: r.status, type: r.headers.get('content-type'), text: await r.text() };
}

describe('standalone API probes and metrics', () => {
  it('without a token: healthz ok, readyz follows the store, metrics parse as Prometheus text', async () => {
    store = await openStore('memory:');
    server = await startApiServer({ store, listen: '127.0.0.1:0' });
    expect(await get(server.url, '/healthz')).toEqual({ status: 200, type: 'text/plain; charset=utf-8', text: 'ok\n' });
    expect((await get(server.url, '/readyz')).status).toBe(200);
    await new ApiClient(server.url).raw('POST', '/v1/networks', { name: 'blue' });
    const m = await get(server.url, '/metrics');
    expect(m.status).toBe(200);
    expect(m.type).toMatch(/^text\/plain; version=0\.0\.4/);
    const s = new Scrape(m.text);
    expect(s.family('wyvern_build_info').type).toBe('GAUGE');
    expect(s.family('wyvern_build_info').metrics[0]!.labels).toEqual({ version: '0.1.0', role: 'api' });
    expect(s.family('process_start_time_seconds').type).toBe('GAUGE');
    expect(s.family('wyvern_api_requests_total').type).toBe('COUNTER');
    expect(s.value('wyvern_api_requests_total', { method: 'POST', route: '/v1/networks', code: '201' })).toBe(1);
    expect(s.value('wyvern_api_requests_total', { method: 'GET', route: '/healthz', code: '200' })).toBe(1);
    expect(s.family('wyvern_api_request_duration_seconds').type).toBe('HISTOGRAM');
    // The store gone: not ready, still alive.
    await store.close();
    expect(await get(server.url, '/readyz')).toMatchObject({ status: 503, text: 'not ready\n' });
    expect((await get(server.url, '/healthz')).status).toBe(200);
  });

  it('every answer carries one Date header (RFC 9110 IMF-fixdate; two would be joined and fail the pattern), now', async () => {
    store = await openStore('memory:');
    server = await startApiServer({ store, listen: '127.0.0.1:0' });
    for (const [method, path] of [
      ['GET', '/healthz'],
      ['GET', '/v1/networks'],
      ['GET', '/v1/nothing'],
      ['POST', '/v1/networks'],
    ]) {
      const before = Math.floor(Date.now() / 1000) * 1000;
      const r = await fetch(`${server.url}${path}`, { method, ...(method === 'POST' ? { body: '{' } : {}) });
      const date = r.headers.get('date');
      expect(date, `${method} ${path}`).toMatch(
        /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d GMT$/,
      );
      expect(Date.parse(date!)).toBeGreaterThanOrEqual(before);
      expect(Date.parse(date!)).toBeLessThanOrEqual(Date.now());
      await r.text();
    }
  });

  it('with a token: the probes answer anyone and say nothing; /metrics and the API need the token', async () => {
    store = await openStore('memory:');
    server = await startApiServer({ store, listen: 'tcp:127.0.0.1:0', token: 's3cret' });
    expect(await get(server.url, '/healthz')).toMatchObject({ status: 200, text: 'ok\n' });
    expect(await get(server.url, '/readyz')).toMatchObject({ status: 200, text: 'ok\n' });
    expect((await get(server.url, '/metrics')).status).toBe(401);
    expect((await get(server.url, '/v1/networks')).status).toBe(401);
    expect((await get(server.url, '/metrics', 'wrong')).status).toBe(401);
    const m = await get(server.url, '/metrics', 's3cret');
    expect(m.status).toBe(200);
    // Refused requests are counted too, before any route is matched (which would tell what exists).
    const s = new Scrape(m.text);
    expect(s.value('wyvern_api_requests_total', { method: 'GET', route: 'unmatched', code: '401' })).toBe(3);
    expect(s.value('wyvern_api_requests_total', { method: 'GET', route: '/readyz', code: '200' })).toBe(1);
  });

  it('an agent not started yet: every metric family is there with its type, and it is not ready', async () => {
    const agent = new Agent(loadAgentConfig(['--tunnel-ip', '192.0.2.1'], {}, 'hv1'), silentLogger);
    expect(agent.probeReady()).toBe(false);
    const s = new Scrape(await (await agent.metrics.load()).metrics());
    const types: Record<string, string> = {
      wyvern_flows: 'GAUGE',
      wyvern_bundle_apply_seconds: 'HISTOGRAM',
      wyvern_port_install_seconds: 'HISTOGRAM',
      wyvern_store_watch_lag_seconds: 'HISTOGRAM',
      wyvern_packet_in_total: 'COUNTER',
      wyvern_dhcp_replies_total: 'COUNTER',
      wyvern_dhcp_drops_total: 'COUNTER',
      wyvern_store_reconnects_total: 'COUNTER',
      wyvern_store_watch_events_total: 'COUNTER',
      wyvern_store_connected: 'GAUGE',
      wyvern_ovsdb_connected: 'GAUGE',
      wyvern_openflow_connected: 'GAUGE',
      wyvern_openflow_sessions_total: 'COUNTER',
      wyvern_chassis_seen: 'GAUGE',
      wyvern_ready: 'GAUGE',
      wyvern_build_info: 'GAUGE',
    };
    for (const [name, type] of Object.entries(types)) expect(s.family(name).type, name).toBe(type);
    expect(s.value('wyvern_ready')).toBe(0);
    expect(s.value('wyvern_chassis_seen')).toBe(0);
    expect(s.family('wyvern_build_info').metrics[0]!.labels).toEqual({ version: '0.1.0', role: 'agent' });
  });
});

describe('agent metrics fed as things happen', () => {
  it('store watch lag: a write through the instrumented store is timed until its watch brings it back', async () => {
    const agent = new Agent(loadAgentConfig(['--tunnel-ip', '192.0.2.1'], {}, 'hv1'), silentLogger);
    store = await openStore('memory:');
    const timed = agent.metrics.instrumentStore(store);
    expect(timed.url).toBe(store.url);
    const sub = new PrefixSubscription(timed);
    const flows = new EventEmitter();
    const health = new EventEmitter();
    agent.metrics.follow({ flows, health, subscription: sub });
    await sub.add('/x/');
    const rev = await timed.put('/x/a', '1');
    await timed.txn([], [{ op: 'put', key: '/y/unwatched', value: '1' }]);
    await timed.delete('/x/a');
    await new Promise((r) => setTimeout(r, 20));
    flows.emit('bundleApplied', { seconds: 0.002, messages: 3 });
    health.emit('up', 1000);
    agent.metrics.portInstalled(0.05);
    const s = new Scrape(await (await agent.metrics.load()).metrics());
    expect(rev).toBeGreaterThan(0);
    expect(s.count('wyvern_store_watch_lag_seconds')).toBe(2); // the put and the delete; /y/ is not watched
    expect(s.value('wyvern_store_watch_events_total', { type: 'snapshot' })).toBe(1);
    expect(s.value('wyvern_store_watch_events_total', { type: 'put' })).toBe(1);
    expect(s.value('wyvern_store_watch_events_total', { type: 'delete' })).toBe(1);
    expect(s.count('wyvern_bundle_apply_seconds')).toBe(1);
    expect(s.value('wyvern_store_reconnects_total')).toBe(1);
    expect(s.count('wyvern_port_install_seconds')).toBe(1);
    await sub.close();
  });
});
