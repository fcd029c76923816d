/**
 * Conditional writes over HTTP (RFC 9110): an object's reply carries its revision as a strong ETag, and a write to
 * it with If-Match is made only while the object is still at that revision (412 Precondition Failed otherwise,
 * nothing written). On the in-memory store, an embedded level store and a real etcd; then on etcd, several API servers
 * racing with one ETag, the ETag after the API and the store restart, and a conditional write through an etcd outage.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient, type ApiResponse } from '../../src/api/client.js';
import { startApiServer, type ApiServer } from '../../src/api/server.js';
import { openStore } from '../../src/store/index.js';
import type { Store } from '../../src/store/types.js';
import { startEtcd, type EtcdCluster } from '../helpers/etcd.js';

let etcd: EtcdCluster;
let levelDir: string;
beforeAll(async () => {
  etcd = await startEtcd();
  levelDir = await mkdtemp(join(tmpdir(), 'wyvern-if-match-'));
});
afterAll(async () => {
  await etcd?.stop();
  if (levelDir) await rm(levelDir, { recursive: true, force: true });
});

const etagOf = (r: ApiResponse): string => {
  const t = r.headers.etag;
  if (typeof t !== 'string') throw new Error(`no ETag on ${r.status} ${JSON.stringify(r.body)}`);
  return t;
};
const errorOf = (r: ApiResponse) => (r.body as { error: { code: string; field?: string; message: string } }).error;

async function withApi<T>(storeUrl: string, work: (c: ApiClient, store: Store) => Promise<T>): Promise<T> {
  const store = await openStore(storeUrl);
  const server: ApiServer = await startApiServer({ store, listen: 'tcp:127.0.0.1:0' });
  try {
    return await work(new ApiClient(server.url), store);
  } finally {
    await server.close();
    await store.close();
  }
}

const STORES = () => ['memory:', `level:${levelDir}/http`, etcd.url];

describe.each([0, 1, 2])('ETag and If-Match over HTTP (store %i: memory, level, etcd)', (i) => {
  it('objects carry their revision as a strong ETag; lists carry none; a write moves it', () =>
    withApi(STORES()[i]!, async (c) => {
      const net = await c.raw('POST', '/v1/networks', { name: `e${i}` });
      expect(net.status).toBe(201);
      expect(etagOf(net)).toMatch(/^"[1-9][0-9]*"$/);
      expect(etagOf(await c.raw('GET', `/v1/networks/e${i}`))).toBe(etagOf(net));
      expect((await c.raw('GET', '/v1/networks')).headers.etag).toBeUndefined();
      await c.call('POST', '/v1/subnets', { name: `e${i}-s`, network: `e${i}`, cidr: '10.0.0.0/24' });
      const p = await c.raw('POST', '/v1/ports', { name: `e${i}-vm`, network: `e${i}` });
      expect(etagOf(await c.raw('GET', `/v1/ports/e${i}-vm`))).toBe(etagOf(p));
      const q = await c.raw('PATCH', `/v1/ports/e${i}-vm`, { portSecurity: false }, { 'if-match': etagOf(p) });
      expect(q.status).toBe(200);
      expect(etagOf(q)).not.toBe(etagOf(p));
      expect(etagOf(await c.raw('GET', `/v1/ports/e${i}-vm`))).toBe(etagOf(q));
      // A GET's If-None-Match is not evaluated (no 304): the object is sent.
      expect((await c.raw('GET', `/v1/ports/e${i}-vm`, undefined, { 'if-none-match': etagOf(q) })).status).toBe(200);
    }));

  it('a stale ETag: 412 PRECONDITION_FAILED naming both revisions, nothing written; the current one, *, or a list holding it: made', () =>
    withApi(STORES()[i]!, async (c) => {
      await c.call('POST', '/v1/networks', { name: `s${i}` });
      await c.call('POST', '/v1/subnets', { name: `s${i}-s`, network: `s${i}`, cidr: '10.0.0.0/24' });
      const old = etagOf(await c.raw('POST', '/v1/ports', { name: `s${i}-vm`, network: `s${i}` }));
      const cur = etagOf(await c.raw('PATCH', `/v1/ports/s${i}-vm`, { portSecurity: false }));
      const before = await c.raw('GET', `/v1/ports/s${i}-vm`);
      const r = await c.raw('PATCH', `/v1/ports/s${i}-vm`, { portSecurity: true }, { 'if-match': old });
      expect(r.status).toBe(412);
      expect(errorOf(r).code).toBe('PRECONDITION_FAILED');
      expect(errorOf(r).message).toContain(`port s${i}-vm is at revision ${cur.slice(1, -1)}, not the one If-Match names (${old})`);
      expect((await c.raw('DELETE', `/v1/ports/s${i}-vm`, undefined, { 'if-match': old })).status).toBe(412);
      // Weak tags never match (If-Match compares strongly), nor tags that are not ours.
      for (const tag of [`W/${cur}`, '"abc"', '"0"'])
        expect((await c.raw('PATCH', `/v1/ports/s${i}-vm`, { portSecurity: true }, { 'if-match': tag })).status).toBe(412);
      const after = await c.raw('GET', `/v1/ports/s${i}-vm`);
      expect(after.body).toEqual(before.body);
      expect(etagOf(after)).toBe(cur);
      const listed = await c.raw('PATCH', `/v1/ports/s${i}-vm`, { portSecurity: true }, { 'if-match': `${old}, ${cur}` });
      expect(listed.status).toBe(200);
      const any = await c.raw('PATCH', `/v1/ports/s${i}-vm`, { portSecurity: false }, { 'if-match': '*' });
      expect(any.status).toBe(200);
      expect((await c.raw('DELETE', `/v1/ports/s${i}-vm`, undefined, { 'if-match': etagOf(any) })).status).toBe(200);
    }));

  it('bad conditions are refused (400) before anything is written; 404 and 400 come before 412', () =>
    withApi(STORES()[i]!, async (c, store) => {
      await c.call('POST', '/v1/networks', { name: `b${i}` });
      await c.call('POST', '/v1/subnets', { name: `b${i}-s`, network: `b${i}`, cidr: '10.0.0.0/24' });
      const etag = etagOf(await c.raw('POST', '/v1/ports', { name: `b${i}-vm`, network: `b${i}` }));
      const dump = async () => (await store.range('/')).kvs.map((kv) => [kv.key, kv.value, kv.modRevision]);
      const before = await dump();
      const bad: [string, string, unknown, Record<string, string>, string][] = [
        ['PATCH', `/v1/ports/b${i}-vm`, { portSecurity: false }, { 'if-match': etag.slice(1, -1) }, 'If-Match'],
        ['PATCH', `/v1/ports/b${i}-vm`, { portSecurity: false }, { 'if-match': `*, ${etag}` }, 'If-Match'],
        ['PATCH', `/v1/ports/b${i}-vm`, { portSecurity: false }, { 'if-match': `${etag},` }, 'If-Match'],
        ['PATCH', `/v1/ports/b${i}-vm`, { portSecurity: false }, { 'if-none-match': '*' }, 'If-None-Match'],
        ['DELETE', `/v1/ports/b${i}-vm`, undefined, { 'if-unmodified-since': 'Mon, 07 Dec 2026 00:00:00 GMT' }, 'If-Unmodified-Since'],
        // Creations and imports take no condition: one would be ignored, so it is refused.
        ['POST', '/v1/ports', { name: `b${i}-x`, network: `b${i}` }, { 'if-match': etag }, 'If-Match'],
        ['POST', '/v1/networks', { name: `b${i}-n` }, { 'if-match': '*' }, 'If-Match'],
        ['PUT', '/v1/topology', { version: 1 }, { 'if-match': etag }, 'If-Match'],
      ];
      for (const [method, path, body, headers, field] of bad) {
        const r = await c.raw(method, path, body, headers);
        expect([method, path, r.status]).toEqual([method, path, 400]);
        expect(errorOf(r)).toMatchObject({ code: 'INVALID', field });
      }
      expect(await dump()).toEqual(before);
      // A missing object is a 404, a bad body a 400, whatever the condition.
      expect((await c.raw('PATCH', `/v1/ports/b${i}-nope`, { portSecurity: false }, { 'if-match': '"1"' })).status).toBe(404);
      expect((await c.raw('PATCH', `/v1/ports/b${i}-vm`, { portSecurity: 'no' }, { 'if-match': '"1"' })).status).toBe(400);
    }));

  it("sub-resources are conditional on their object: a router's interfaces and routes, a group's rules", () =>
    withApi(STORES()[i]!, async (c) => {
      await c.call('POST', '/v1/networks', { name: `r${i}` });
      await c.call('POST', '/v1/subnets', { name: `r${i}-s`, network: `r${i}`, cidr: '10.0.0.0/24' });
      const r0 = etagOf(await c.raw('POST', '/v1/routers', { name: `r${i}-r` }));
      const r1 = await c.raw('POST', `/v1/routers/r${i}-r/interfaces`, { subnet: `r${i}-s` }, { 'if-match': r0 });
      expect(r1.status).toBe(201);
      const stale = await c.raw('POST', `/v1/routers/r${i}-r/routes`, { cidr: '192.168.0.0/24', nexthop: '10.0.0.5' }, { 'if-match': r0 });
      expect(stale.status).toBe(412);
      expect((await c.raw('GET', `/v1/routers/r${i}-r`)).body).toMatchObject({ routes: [] });
      const r2 = await c.raw(
        'POST',
        `/v1/routers/r${i}-r/routes`,
        { cidr: '192.168.0.0/24', nexthop: '10.0.0.5' },
        { 'if-match': etagOf(r1) },
      );
      expect(r2.status).toBe(201);
      expect(etagOf(await c.raw('GET', `/v1/routers/r${i}-r`))).toBe(etagOf(r2));
      expect((await c.raw('PATCH', `/v1/routers/r${i}-r`, { mode: 'reactive' }, { 'if-match': etagOf(r1) })).status).toBe(412);

      const g0 = etagOf(await c.raw('POST', '/v1/security-groups', { name: `g${i}` }));
      const rule = await c.raw(
        'POST',
        `/v1/security-groups/g${i}/rules`,
        { direction: 'ingress', protocol: 'tcp', portMin: 22, portMax: 22 },
        { 'if-match': g0 },
      );
      expect(rule.status).toBe(201);
      expect(etagOf(await c.raw('GET', `/v1/security-groups/g${i}`))).toBe(etagOf(rule));
      expect(etagOf(await c.raw('GET', `/v1/security-groups/g${i}/rules`))).toBe(etagOf(rule));
      const id = (rule.body as { id: string }).id;
      expect((await c.raw('DELETE', `/v1/security-groups/g${i}/rules/${id}`, undefined, { 'if-match': g0 })).status).toBe(412);
      expect((await c.raw('DELETE', `/v1/security-groups/g${i}`, undefined, { 'if-match': g0 })).status).toBe(412);
      expect((await c.raw('GET', `/v1/security-groups/g${i}/rules`)).body).toHaveLength(2);
    }));
});

describe('conditional writes on etcd', () => {
  it('three API servers, twelve PATCHes of one port with one ETag: exactly one is made, the others 412; without it all are made', async () => {
    const stores = await Promise.all([0, 1, 2].map(() => openStore(etcd.url)));
    const servers = await Promise.all(stores.map((store) => startApiServer({ store, listen: 'tcp:127.0.0.1:0' })));
    try {
      const cs = servers.map((s) => new ApiClient(s.url));
      await cs[0]!.call('POST', '/v1/networks', { name: 'race' });
      await cs[0]!.call('POST', '/v1/subnets', { name: 'race-s', network: 'race', cidr: '10.9.0.0/24' });
      const etag = etagOf(await cs[0]!.raw('POST', '/v1/ports', { name: 'contested', network: 'race' }));
      const pair = (k: number) => [{ ip: `10.9.1.${k}` }];
      const rs = await Promise.all(
        Array.from({ length: 12 }, (_, k) =>
          cs[k % 3]!.raw('PATCH', '/v1/ports/contested', { allowedAddressPairs: pair(k) }, { 'if-match': etag }),
        ),
      );
      const made = rs.flatMap((r, k) => (r.status === 200 ? [k] : []));
      expect(made).toHaveLength(1);
      expect(rs.filter((r) => r.status === 412)).toHaveLength(11);
      const now = await cs[1]!.raw('GET', '/v1/ports/contested');
      expect((now.body as { allowedAddressPairs: unknown }).allowedAddressPairs).toEqual(pair(made[0]!));
      expect(etagOf(now)).toBe(etagOf(rs[made[0]!]!));
      // Unconditional, every one is made on top of the one before.
      const all = await Promise.all(
        Array.from({ length: 12 }, (_, k) => cs[k % 3]!.raw('PATCH', '/v1/ports/contested', { allowedAddressPairs: pair(20 + k) })),
      );
      expect(all.map((r) => r.status)).toEqual(Array(12).fill(200));
    } finally {
      await Promise.all(servers.map((s) => s.close()));
      await Promise.all(stores.map((s) => s.close()));
    }
  });

  it('an ETag outlives the API and the store: taken before a restart, it holds after (level and etcd)', async () => {
    for (const url of [`level:${levelDir}/restart`, etcd.url]) {
      const etag = await withApi(url, async (c) => {
        await c.call('POST', '/v1/networks', { name: 'kept' });
        await c.call('POST', '/v1/subnets', { name: 'kept-s', network: 'kept', cidr: '10.7.0.0/24' });
        return etagOf(await c.raw('POST', '/v1/ports', { name: 'kept-vm', network: 'kept' }));
      });
      await withApi(url, async (c) => {
        expect(etagOf(await c.raw('GET', '/v1/ports/kept-vm'))).toBe(etag);
        const r = await c.raw('PATCH', '/v1/ports/kept-vm', { portSecurity: false }, { 'if-match': etag });
        expect([url, r.status]).toEqual([url, 200]);
        expect((await c.raw('PATCH', '/v1/ports/kept-vm', { portSecurity: true }, { 'if-match': etag })).status).toBe(412);
        await c.call('DELETE', '/v1/ports/kept-vm');
        await c.call('DELETE', '/v1/subnets/kept-s');
        await c.call('DELETE', '/v1/networks/kept');
      });
    }
  });

  it('etcd down for 2 s under a conditional PATCH: it rides the outage out and is made once, then the old ETag is refused', () =>
    withApi(etcd.url, async (c) => {
      await c.call('POST', '/v1/networks', { name: 'out' });
      await c.call('POST', '/v1/subnets', { name: 'out-s', network: 'out', cidr: '10.6.0.0/24' });
      const etag = etagOf(await c.raw('POST', '/v1/ports', { name: 'out-vm', network: 'out' }));
      await etcd.members[0]!.kill();
      const pending = c.raw('PATCH', '/v1/ports/out-vm', { portSecurity: false }, { 'if-match': etag });
      await new Promise((r) => setTimeout(r, 2_000));
      await etcd.members[0]!.restart();
      const r = await pending;
      expect(r.status).toBe(200);
      expect((r.body as { portSecurity: boolean }).portSecurity).toBe(false);
      expect((await c.raw('PATCH', '/v1/ports/out-vm', { portSecurity: true }, { 'if-match': etag })).status).toBe(412);
      expect(etagOf(await c.raw('GET', '/v1/ports/out-vm'))).toBe(etagOf(r));
    }));
});
