import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/index.js';
import type { Store } from '../../src/store/types.js';
import { API_LISTEN_BACKLOG, startApiServer, type ApiServer } from '../../src/api/server.js';
import { ApiClient } from '../../src/api/client.js';

// Default: memory and an embedded level store in a unique temp dir; add etcd://… via WYVERN_API_TEST_STORES.
const LEVEL_DIR = join(tmpdir(), `wyvern-api-level-${process.pid}-${Math.random().toString(36).slice(2)}`);
const STORES: string[] = (process.env.WYVERN_API_TEST_STORES ?? `memory: level:${LEVEL_DIR}`).split(' ').filter(Boolean);
afterAll(async () => {
  await rm(LEVEL_DIR, { recursive: true, force: true });
});

for (const storeUrl of STORES) {
  describe(`API over ${storeUrl}`, () => {
    let store: Store;
    let server: ApiServer;
    let c: ApiClient;
    beforeAll(async () => {
      store = await openStore(storeUrl);
      server = await startApiServer({ store, listen: 'tcp:127.0.0.1:0' });
      c = new ApiClient(server.url);
    });
    afterAll(async () => {
      await server?.close();
      await store?.close();
    });

    it('creates, shows by name and id, lists and deletes with the right status codes', async () => {
      let r = await c.raw('POST', '/v1/networks', { name: 'blue' });
      expect(r.status).toBe(201);
      const net = r.body as { id: string; tunnelKey: number };
      expect((await c.raw('GET', `/v1/networks/${net.id}`)).body).toEqual(net);
      expect((await c.raw('GET', '/v1/networks/blue')).body).toEqual(net);
      r = await c.raw('POST', '/v1/subnets', { name: 'blue-a', network: 'blue', cidr: '10.0.0.0/24' });
      expect(r.status).toBe(201);
      r = await c.raw('POST', '/v1/ports', { name: 'vm1', network: 'blue' });
      expect(r.status).toBe(201);
      expect((await c.raw('GET', '/v1/ports?network=blue')).body).toHaveLength(1);
      r = await c.raw('POST', '/v1/routers', { name: 'r1' });
      expect(r.status).toBe(201);
      r = await c.raw('POST', '/v1/routers/r1/interfaces', { subnet: 'blue-a' });
      expect(r.status).toBe(201);
      r = await c.raw('POST', '/v1/routers/r1/routes', { cidr: '172.16.0.0/12', nexthop: '10.0.0.7' });
      expect(r.status).toBe(201);
      r = await c.raw('DELETE', `/v1/routers/r1/routes/${encodeURIComponent('172.16.0.0/12')}`);
      expect(r.status).toBe(200);
      expect((r.body as { routes: unknown[] }).routes).toEqual([]);
      r = await c.raw('PATCH', '/v1/routers/r1', { mode: 'reactive' });
      expect((r.body as { mode: string }).mode).toBe('reactive');
      expect((await c.raw('DELETE', '/v1/networks/blue')).status).toBe(409);
      expect((await c.raw('DELETE', '/v1/routers/r1/interfaces/blue-a')).status).toBe(200);
      expect((await c.raw('DELETE', '/v1/ports/vm1')).status).toBe(200);
      expect((await c.raw('DELETE', '/v1/subnets/blue-a')).status).toBe(200);
      expect((await c.raw('DELETE', '/v1/routers/r1')).status).toBe(200);
      expect((await c.raw('DELETE', '/v1/networks/blue')).status).toBe(200);
      expect((await c.raw('GET', '/v1/networks')).body).toEqual([]);
    });

    it('error bodies name the code, field and reason', async () => {
      await c.call('POST', '/v1/networks', { name: 'green' });
      let r = await c.raw('POST', '/v1/subnets', { name: 'g', network: 'green', cidr: '10.0.0.0/99' });
      expect(r.status).toBe(400);
      expect(r.body).toEqual({ error: { code: 'INVALID', field: 'cidr', message: expect.stringMatching(/invalid CIDR/) } });
      r = await c.raw('POST', '/v1/networks', { name: 'green' });
      expect(r.status).toBe(409);
      expect(r.body).toMatchObject({ error: { code: 'CONFLICT', field: 'name' } });
      r = await c.raw('GET', '/v1/networks/nope');
      expect(r.status).toBe(404);
      expect(r.body).toMatchObject({ error: { code: 'NOT_FOUND', message: 'network nope not found' } });
      r = await c.raw('GET', '/v1/nothing');
      expect(r.status).toBe(404);
      r = await c.raw('PUT', '/v1/networks');
      expect(r.status).toBe(405);
      expect(r.headers.allow).toBe('GET, POST');
      r = await c.raw('POST', '/v1/networks', 'name=x', { 'content-type': 'application/x-www-form-urlencoded' });
      expect(r.status).toBe(415);
      r = await c.raw('POST', '/v1/networks', '{"name":', { 'content-type': 'application/json' });
      expect(r.status).toBe(400);
      expect(r.body).toMatchObject({ error: { code: 'INVALID', field: 'body' } });
      r = await c.raw('POST', '/v1/networks');
      expect(r.status).toBe(400);
      r = await c.raw('PUT', '/v1/topology', { format: 'wyvern-topology', version: 1, networks: [], pad: 'x'.repeat(9 * 1024 * 1024) });
      expect(r.status).toBe(413);
      expect(r.body).toMatchObject({ error: { code: 'PAYLOAD_TOO_LARGE' } });
      r = await c.raw('GET', '/v1/subnets?netwrk=x');
      expect(r.status).toBe(400);
      await c.call('DELETE', '/v1/networks/green');
    });

    it('a rejected request changes nothing in the store', async () => {
      await c.call('POST', '/v1/networks', { name: 'n1' });
      await c.call('POST', '/v1/subnets', { name: 's1', network: 'n1', cidr: '10.2.0.0/24' });
      const before = await store.range('/wyvern/v1/');
      const rev = await store.currentRevision();
      for (const body of [
        { name: 'p', network: 'n1', fixedIps: [{ ip: '10.3.0.1' }] },
        { name: 'p', network: 'n1', mac: 'ff:ff:ff:ff:ff:ff' },
        { name: 'p', network: 'zz' },
      ]) {
        expect((await c.raw('POST', '/v1/ports', body)).status).toBe(400);
      }
      expect((await c.raw('POST', '/v1/subnets', { name: 's2', network: 'n1', cidr: '10.2.0.0/16' })).status).toBe(409);
      expect(await store.currentRevision()).toBe(rev);
      expect((await store.range('/wyvern/v1/')).kvs).toEqual(before.kvs);
      await c.call('DELETE', '/v1/subnets/s1');
      await c.call('DELETE', '/v1/networks/n1');
    });

    it('topology export / import round trip through the API', async () => {
      await c.call('POST', '/v1/networks', { name: 'a' });
      await c.call('POST', '/v1/subnets', { name: 'a1', network: 'a', cidr: '10.5.0.0/24' });
      await c.call('POST', '/v1/ports', { name: 'pa', network: 'a' });
      const ex = await c.raw('GET', '/v1/topology');
      expect(Number(ex.headers['x-wyvern-revision'])).toBeGreaterThan(0);
      const again = await c.raw('PUT', '/v1/topology', ex.body);
      expect(again.body).toMatchObject({ written: 0 });
      await c.call('DELETE', '/v1/ports/pa');
      const back = await c.raw('PUT', '/v1/topology', ex.body);
      expect(back.status).toBe(200);
      // the port, its name and id claims, its port key, its address and MAC claims (issue 17)
      expect((back.body as { written: number }).written).toBe(6);
      expect((await c.raw('GET', '/v1/topology')).body).toEqual(ex.body);
    });

    it('PUT /v1/topology refuses a bad file whole: 400 with every problem (object and field), store unchanged', async () => {
      await c.call('POST', '/v1/networks', { name: 'imp-keep' });
      const before = await store.range('/wyvern/v1/');
      const NET = '11111111-1111-4111-8111-111111111111';
      const SUB = '22222222-2222-4222-8222-222222222222';
      const doc = {
        format: 'wyvern-topology',
        version: 1,
        networks: [{ id: NET, name: '../../evil/net\u{1F409}', tunnelKey: 16_000_001, mtu: 1450 }],
        subnets: [
          {
            id: SUB,
            name: 'imp-sub',
            networkId: NET,
            cidr: '10.78.0.0/24',
            gatewayIp: '10.78.0.0',
            enableDhcp: true,
            dnsServers: [],
            hostRoutes: [],
            leaseTime: 1,
            dhcpOptions: [
              { code: 53, value: '05' },
              { code: 54, value: '0a4e0001' },
            ],
          },
          {
            id: '33333333-3333-4333-8333-333333333333',
            name: 'imp-mc',
            networkId: NET,
            cidr: '224.0.0.0/24',
            gatewayIp: '224.0.0.1',
            enableDhcp: true,
            dnsServers: [],
            hostRoutes: [],
            leaseTime: 600,
            dhcpOptions: [],
          },
        ],
        ports: [
          {
            id: '44444444-4444-4444-8444-444444444444',
            name: 'vm\nx',
            networkId: NET,
            mac: '02:00:00:00:78:01',
            fixedIps: [{ subnetId: SUB, ip: '10.78.0.5' }],
            portSecurity: true,
            allowedAddressPairs: [{ ip: 'not-an-ip' }, { ip: '0.0.0.0/0' }],
            portKey: 4_000_000_001,
          },
        ],
        routers: [],
      };
      const r = await c.raw('PUT', '/v1/topology', doc);
      expect(r.status).toBe(400);
      const err = (r.body as { error: { code: string; problems: { field: string; message: string }[] } }).error;
      expect(err.code).toBe('INVALID');
      expect(err.problems.map((p) => p.field)).toEqual([
        'networks[0].name',
        'subnets[0].gatewayIp',
        'subnets[0].leaseTime',
        'subnets[0].dhcpOptions[0].code',
        'subnets[0].dhcpOptions[1].code',
        'subnets[1].cidr',
        'ports[0].name',
        'ports[0].allowedAddressPairs[0].ip',
        'ports[0].allowedAddressPairs[1].ip',
      ]);
      expect(err.problems[1]!.message).toMatch(/^subnet "imp-sub": gateway 10\.78\.0\.0 is the network address/);
      expect((await store.range('/wyvern/v1/')).kvs).toEqual(before.kvs);
      expect((await c.call<{ name: string }[]>('GET', '/v1/networks')).map((n) => n.name)).not.toContain('../../evil/net\u{1F409}');
      await c.call('DELETE', '/v1/networks/imp-keep');
    });

    it('PATCH /v1/ports/{port}: 200 with the updated port; 400 listing every problem and writing nothing; 404', async () => {
      await c.call('POST', '/v1/networks', { name: 'patchnet' });
      await c.call('POST', '/v1/subnets', { name: 'patchnet-a', network: 'patchnet', cidr: '10.9.0.0/24' });
      const p = await c.call<{ id: string; portKey: number }>('POST', '/v1/ports', { name: 'pp', network: 'patchnet' });
      let r = await c.raw('PATCH', '/v1/ports/pp', { allowedAddressPairs: [{ ip: '10.9.0.100', mac: '02:00:00:00:00:AA' }] });
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({
        id: p.id,
        portKey: p.portKey,
        portSecurity: true,
        allowedAddressPairs: [{ ip: '10.9.0.100', mac: '02:00:00:00:00:aa' }],
      });
      r = await c.raw('PATCH', `/v1/ports/${p.id}`, { portSecurity: false });
      expect(r.body).toMatchObject({ portSecurity: false, allowedAddressPairs: [{ ip: '10.9.0.100' }] });
      expect((await c.raw('GET', '/v1/ports/pp')).body).toEqual(r.body);
      const rev = await store.currentRevision();
      const before = (await c.raw('GET', '/v1/ports/pp')).body;
      for (const [body, field] of [
        [{}, undefined],
        [{ colour: 'red' }, 'colour'],
        [{ portSecurity: 'off' }, 'portSecurity'],
        [{ allowedAddressPairs: [{ ip: '0.0.0.0/0' }] }, 'allowedAddressPairs[0].ip'],
        [{ allowedAddressPairs: [{ ip: '10.9.0.0/4' }] }, 'allowedAddressPairs[0].ip'],
      ] as [unknown, string | undefined][]) {
        r = await c.raw('PATCH', '/v1/ports/pp', body);
        expect(r.status, JSON.stringify(body)).toBe(400);
        expect(r.body).toMatchObject({ error: { code: 'INVALID', ...(field !== undefined ? { field } : {}) } });
      }
      r = await c.raw('PATCH', '/v1/ports/pp', {
        portSecurity: 3,
        allowedAddressPairs: [{ ip: 'x' }, { ip: '10.9.0.5', mac: 'y' }],
        name: 'q',
      });
      expect(r.status).toBe(400);
      const problems = (r.body as { error: { problems: { field: string }[] } }).error.problems;
      expect(problems.map((x) => x.field).sort()).toEqual([
        'allowedAddressPairs[0].ip',
        'allowedAddressPairs[1].mac',
        'name',
        'portSecurity',
      ]);
      expect((await c.raw('PATCH', '/v1/ports/pp')).status).toBe(400); // no body at all
      expect(await store.currentRevision()).toBe(rev);
      expect((await c.raw('GET', '/v1/ports/pp')).body).toEqual(before);
      r = await c.raw('PATCH', '/v1/ports/ghost', { portSecurity: true });
      expect(r.status).toBe(404);
      expect(r.body).toMatchObject({ error: { code: 'NOT_FOUND' } });
      await c.call('DELETE', '/v1/ports/pp');
      await c.call('DELETE', '/v1/subnets/patchnet-a');
      await c.call('DELETE', '/v1/networks/patchnet');
    });

    it('20 parallel port creations over HTTP get distinct addresses', async () => {
      await c.call('POST', '/v1/networks', { name: 'par' });
      await c.call('POST', '/v1/subnets', { name: 'par-s', network: 'par', cidr: '10.9.0.0/24' });
      const ports = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          c.call<{ fixedIps: { ip: string }[]; mac: string; portKey: number }>('POST', '/v1/ports', { name: `par${i}`, network: 'par' }),
        ),
      );
      expect(new Set(ports.map((p) => p.fixedIps[0]!.ip)).size).toBe(20);
      expect(new Set(ports.map((p) => p.mac)).size).toBe(20);
      expect(new Set(ports.map((p) => p.portKey)).size).toBe(20);
    });
  });
}

describe('API server', () => {
  let store: Store;
  let dir: string;
  beforeAll(async () => {
    store = await openStore('memory:');
    dir = await mkdtemp(join(tmpdir(), 'wyvern-api-'));
  });
  afterAll(async () => {
    await store?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('serves over a unix socket', async () => {
    const sock = join(dir, 'api.sock');
    const s = await startApiServer({ store, listen: `unix:${sock}` });
    try {
      expect(s.url).toBe(`unix:${sock}`);
      const c = new ApiClient(s.url);
      expect((await c.raw('POST', '/v1/networks', { name: 'sock' })).status).toBe(201);
      expect((await c.call<{ name: string }[]>('GET', '/v1/networks')).map((n) => n.name)).toContain('sock');
    } finally {
      await s.close();
    }
  });

  it('queues a burst of 1,000 concurrent connections without dropping SYNs (listen backlog, tcp and unix)', async () => {
    // Node's default backlog (511) overflowed under such a burst: Linux drops the SYNs it has no room for and each
    // such client waits for its retransmission, 1 s later. A listening socket's Send-Q in ss is its backlog.
    const somaxconn = Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8'));
    const want = Math.min(API_LISTEN_BACKLOG, somaxconn);
    expect(want).toBeGreaterThan(1000);
    const sock = join(dir, 'burst.sock');
    for (const listen of ['tcp:127.0.0.1:0', `unix:${sock}`]) {
      const s = await startApiServer({ store, listen });
      try {
        const filter = listen.startsWith('unix') ? ['-Hlx', 'src', sock] : ['-Hltn', 'sport', '=', `:${new URL(s.url).port}`];
        const line = execFileSync('ss', filter, { encoding: 'utf8' }).trim();
        // State Recv-Q Send-Q Local Peer (tcp: no Netid column with -t; unix: u_str first)
        const cols = line.split(/\s+/);
        const sendQ = Number(cols[listen.startsWith('unix') ? 3 : 2]);
        expect(sendQ, line).toBe(want);
        // And the burst itself: 1,000 clients at once, each on its own connection, all answered.
        const c = new ApiClient(s.url);
        const rs = await Promise.all(Array.from({ length: 1000 }, () => c.raw('GET', '/v1/networks')));
        expect(rs.filter((r) => r.status === 200)).toHaveLength(1000);
      } finally {
        await s.close();
      }
    }
  });

  it('refuses to listen off-loopback without a token; requires it when set', async () => {
    await expect(startApiServer({ store, listen: 'tcp:0.0.0.0:0' })).rejects.toThrow(/without a token/);
    const s = await startApiServer({ store, listen: 'tcp:0.0.0.0:0', token: 's3cret' });
    try {
      const port = new URL(s.url).port;
      const anon = new ApiClient(`http://127.0.0.1:${port}`);
      const r = await anon.raw('GET', '/v1/networks');
      expect(r.status).toBe(401);
      expect(r.body).toMatchObject({ error: { code: 'UNAUTHORIZED' } });
      expect((await new ApiClient(`http://127.0.0.1:${port}`, 'wrong').raw('GET', '/v1/networks')).status).toBe(401);
      expect((await new ApiClient(`http://127.0.0.1:${port}`, 's3cret').raw('GET', '/v1/networks')).status).toBe(200);
    } finally {
      await s.close();
    }
  });

  it('lets the agent add routes; every built-in route is in docs/openapi.yaml', async () => {
    const s = await startApiServer({ store, listen: 'tcp:127.0.0.1:0' });
    try {
      s.route('GET', '/v1/agent/flows/{table}', (q) => ({ body: { table: q.params.table } }));
      expect(await new ApiClient(s.url).call('GET', '/v1/agent/flows/l2')).toEqual({ table: 'l2' });
      const doc = parseYaml(await readFile(new URL('../../docs/openapi.yaml', import.meta.url), 'utf8')) as {
        paths: Record<string, Record<string, unknown>>;
      };
      const missing = s.routes().filter((r) => !r.pattern.startsWith('/v1/agent/') && !doc.paths[r.pattern]?.[r.method.toLowerCase()]);
      expect(missing).toEqual([]);
      expect(s.routes().length).toBeGreaterThan(25);
    } finally {
      await s.close();
    }
  });
});
