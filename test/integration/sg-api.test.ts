/**
 * Security groups end to end on real etcd: the API server over the store and the built `wyvern` CLI as a process.
 * Groups and rules through the CLI (human and --json output, usage errors, API refusals), ports joining groups
 * with rate limits, the membership index in etcd following every port change, delete refused in use and forced,
 * rejected requests writing nothing, and joins racing a forced delete on etcd leaving no dangling reference.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../../src/api/client.js';
import { startApiServer, type ApiServer } from '../../src/api/server.js';
import { decodeSgMember, sgMembersPrefix, type Port, type SecurityGroup, type SgRule } from '../../src/model/index.js';
import { openStore } from '../../src/store/index.js';
import type { Store } from '../../src/store/types.js';
import { wyvern } from '../helpers/cli.js';
import { startEtcd, type EtcdCluster } from '../helpers/etcd.js';

let etcd: EtcdCluster;
let store: Store;
let server: ApiServer;
let dir: string;
let api: string[];
let c: ApiClient;

beforeAll(async () => {
  etcd = await startEtcd();
  store = await openStore(etcd.url);
  dir = await mkdtemp(join(tmpdir(), 'wyvern-sg-'));
  server = await startApiServer({ store, listen: `unix:${join(dir, 'api.sock')}` });
  api = ['--api', server.url];
  c = new ApiClient(server.url);
});
afterAll(async () => {
  await server?.close();
  await store?.close();
  await etcd?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function members(groupId: string): Promise<Record<string, string[]>> {
  const { kvs } = await store.range(sgMembersPrefix(groupId));
  return Object.fromEntries(kvs.map((kv) => [decodeSgMember(kv.value).portId, decodeSgMember(kv.value).addresses]));
}

const cli = async (...args: string[]) => {
  const r = await wyvern([...args, ...api]);
  return r;
};

describe('security groups over etcd through the API and the built CLI', () => {
  let web: SecurityGroup;

  it('sg create / list / show, rules added with every flag form, duplicates and bad flags refused', async () => {
    let r = await cli('sg', 'create', 'web', '--description', 'web servers', '--json');
    expect(r.code, r.stderr).toBe(0);
    web = JSON.parse(r.stdout) as SecurityGroup;
    expect(web.rules).toEqual([{ id: expect.any(String), ruleKey: expect.any(Number), direction: 'egress', protocol: 'any' }]);
    r = await cli('sg', 'create', 'db');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/created security group db/);

    r = await cli(
      'sg',
      'rule',
      'add',
      'web',
      '--direction',
      'ingress',
      '--proto',
      'tcp',
      '--port',
      '8000-8100',
      '--remote-cidr',
      '10.0.0.0/8',
      '--json',
    );
    expect(r.code, r.stderr).toBe(0);
    const http = JSON.parse(r.stdout) as SgRule;
    expect(http).toMatchObject({ direction: 'ingress', protocol: 'tcp', portMin: 8000, portMax: 8100, remoteCidr: '10.0.0.0/8' });
    r = await cli('sg', 'rule', 'add', 'web', '--direction', 'ingress', '--proto', 'icmp', '--icmp-type', '8/0');
    expect(r.code, r.stderr).toBe(0);
    r = await cli('sg', 'rule', 'add', 'web', '--direction', 'ingress', '--proto', '47', '--remote-group', 'db');
    expect(r.code, r.stderr).toBe(0);
    r = await cli('sg', 'rule', 'add', 'web', '--direction', 'ingress', '--proto', '6', '--port', '22');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/ingress\s+tcp\s+22\s+any/);

    // An overlapping duplicate: 409 naming the existing rule.
    r = await cli('sg', 'rule', 'add', 'web', '--direction', 'ingress', '--proto', 'tcp', '--port', '8080', '--remote-cidr', '10.0.0.0/8');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(http.id);
    expect(r.stderr).toMatch(/HTTP 409 CONFLICT/);
    // API refusals (exit 1, field named) and usage errors (exit 2).
    r = await cli('sg', 'rule', 'add', 'web', '--direction', 'ingress', '--proto', 'icmp', '--port', '80');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/field: portMin/);
    r = await cli('sg', 'rule', 'add', 'web', '--direction', 'ingress', '--remote-cidr', '10.0.0.1/8');
    expect(r.stderr).toMatch(/host bits/);
    r = await cli('sg', 'rule', 'add', 'web', '--direction', 'ingress', '--remote-group', 'ghost');
    expect(r.stderr).toMatch(/field: remoteGroup/);
    r = await cli('sg', 'rule', 'add', 'web', '--proto', 'tcp');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--direction is required/);
    r = await cli('sg', 'rule', 'add', 'web', '--direction', 'ingress', '--port', '80-x');
    expect(r.code).toBe(2);
    r = await cli('sg', 'rule', 'add', 'web', '--direction', 'ingress', '--remote-cidr', '10.0.0.0/8', '--remote-group', 'db');
    expect(r.code).toBe(2);

    r = await cli('sg', 'list');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^NAME\s+ID\s+RULES\s+DESCRIPTION/);
    expect(r.stdout).toMatch(/web\s+\S+\s+5\s+web servers/);
    r = await cli('sg', 'show', 'web');
    expect(r.stdout).toMatch(/group db/);
    expect(r.stdout).toMatch(/type 8\/0/);
    r = await cli('sg', 'rule', 'list', 'web', '--json');
    expect((JSON.parse(r.stdout) as SgRule[]).map((x) => x.protocol)).toEqual(['any', 'tcp', 'icmp', 47, 'tcp']);
    r = await cli('sg', 'rule', 'delete', 'web', http.id);
    expect(r.code, r.stderr).toBe(0);
    expect((await c.call<SgRule[]>('GET', '/v1/security-groups/web/rules')).map((x) => x.id)).not.toContain(http.id);
  });

  it('ports join groups with rate limits; the members in etcd follow create, update and address changes', async () => {
    await c.call('POST', '/v1/networks', { name: 'blue' });
    await c.call('POST', '/v1/subnets', { name: 'blue-a', network: 'blue', cidr: '10.0.0.0/24' });
    let r = await cli(
      'port',
      'create',
      'vm1',
      '--network',
      'blue',
      '--sg',
      'web',
      '--sg',
      'db',
      '--sg',
      'web',
      '--ingress-rate',
      '1000',
      '--egress-rate',
      '2000',
      '--egress-burst',
      '200',
      '--json',
    );
    expect(r.code, r.stderr).toBe(0);
    const vm1 = JSON.parse(r.stdout) as Port;
    const db = await c.call<SecurityGroup>('GET', '/v1/security-groups/db');
    expect(vm1.securityGroups).toEqual([web.id, db.id]);
    expect(vm1.qos).toEqual({ ingressRateKbps: 1000, egressRateKbps: 2000, egressBurstKb: 200 });
    expect(await members(web.id)).toEqual({ [vm1.id]: ['10.0.0.2'] });

    r = await cli('port', 'update', 'vm1', '--allowed-address', '10.0.0.128/25', '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(await members(db.id)).toEqual({ [vm1.id]: ['10.0.0.2', '10.0.0.128/25'] });
    r = await cli('port', 'update', 'vm1', '--sg', 'db', '--no-qos', '--json');
    expect(r.code, r.stderr).toBe(0);
    const u = JSON.parse(r.stdout) as Port;
    expect(u.securityGroups).toEqual([db.id]);
    expect(u.qos).toBeUndefined();
    expect(u.allowedAddressPairs).toEqual([{ ip: '10.0.0.128/25' }]);
    expect(await members(web.id)).toEqual({});
    r = await cli('port', 'update', 'vm1', '--ingress-rate', '500', '--ingress-burst', '50');
    expect(r.code, r.stderr).toBe(0);
    expect((await c.call<Port>('GET', '/v1/ports/vm1')).qos).toEqual({ ingressRateKbps: 500, ingressBurstKb: 50 });
    r = await cli('port', 'update', 'vm1', '--no-sg');
    expect(r.code, r.stderr).toBe(0);
    expect(await members(db.id)).toEqual({});
    // Usage errors: a burst without its rate, --sg with --no-sg, a rate that is not a number.
    expect((await cli('port', 'update', 'vm1', '--egress-burst', '5')).code).toBe(2);
    expect((await cli('port', 'update', 'vm1', '--sg', 'db', '--no-sg')).code).toBe(2);
    expect((await cli('port', 'update', 'vm1', '--ingress-rate', 'fast')).code).toBe(2);
    r = await cli('port', 'update', 'vm1', '--sg', 'ghost');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/field: securityGroups\[0\]/);
    r = await cli('port', 'update', 'vm1', '--egress-rate', '100000001');
    expect(r.stderr).toMatch(/field: qos.egressRateKbps/);
  });

  it('a rejected request writes nothing to etcd', async () => {
    const rev = await store.currentRevision();
    const before = (await store.range('/wyvern/v1/')).kvs;
    const bad: [string, string, unknown, number][] = [
      ['POST', '/v1/security-groups', { name: 'web' }, 409],
      ['POST', '/v1/security-groups', { name: 'x', extra: 1 }, 400],
      ['POST', '/v1/security-groups/web/rules', { direction: 'egress' }, 409],
      ['POST', '/v1/security-groups/web/rules', { direction: 'ingress', protocol: 'tcp', portMin: 9, portMax: 8 }, 400],
      ['POST', '/v1/security-groups/nope/rules', { direction: 'ingress' }, 404],
      ['DELETE', '/v1/security-groups/web/rules/00000000-0000-4000-8000-000000000000', undefined, 404],
      ['POST', '/v1/ports', { name: 'vmx', network: 'blue', securityGroups: ['ghost'] }, 400],
      ['POST', '/v1/ports', { name: 'vmx', network: 'blue', qos: { ingressBurstKb: 5 } }, 400],
      ['PATCH', '/v1/ports/vm1', { securityGroups: 'web' }, 400],
      ['DELETE', '/v1/security-groups/web?force=maybe', undefined, 400],
    ];
    for (const [method, path, body, status] of bad) {
      const r = await c.raw(method, path, body);
      expect(r.status, `${method} ${path}`).toBe(status);
      expect(r.body).toMatchObject({ error: { code: expect.any(String), message: expect.any(String) } });
    }
    expect(await store.currentRevision()).toBe(rev);
    expect((await store.range('/wyvern/v1/')).kvs).toEqual(before);
  });

  it('delete is refused while in use, naming the users; --force removes every reference', async () => {
    await cli('port', 'update', 'vm1', '--sg', 'db');
    let r = await cli('sg', 'delete', 'db');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/ports vm1 are in it/);
    expect(r.stderr).toMatch(/rules of security groups web name it as remote/);
    r = await cli('sg', 'delete', 'db', '--force');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/removed from ports: vm1/);
    expect(r.stdout).toMatch(/rules removed: web\//);
    expect((await c.call<Port>('GET', '/v1/ports/vm1')).securityGroups).toEqual([]);
    expect((await c.call<SgRule[]>('GET', '/v1/security-groups/web/rules')).some((x) => x.remoteGroupId !== undefined)).toBe(false);
    expect((await c.raw('GET', '/v1/security-groups/db')).status).toBe(404);
  });

  it('ports joining from several networks while the group is force-deleted: no dangling reference on etcd', async () => {
    const others = await Promise.all([0, 1].map(() => openStore(etcd.url)));
    const servers = await Promise.all(others.map((s, i) => startApiServer({ store: s, listen: `unix:${join(dir, `api${i}.sock`)}` })));
    try {
      const clients = [c, ...servers.map((s) => new ApiClient(s.url))];
      const g = await c.call<SecurityGroup>('POST', '/v1/security-groups', { name: 'race' });
      for (const n of ['n1', 'n2', 'n3']) {
        await c.call('POST', '/v1/networks', { name: n });
        await c.call('POST', '/v1/subnets', { name: `${n}-a`, network: n, cidr: '10.9.0.0/24' });
      }
      const joins = Array.from({ length: 18 }, (_, i) =>
        clients[i % 3]!.raw('POST', '/v1/ports', { name: `race${i}`, network: `n${(i % 3) + 1}`, securityGroups: ['race'] }),
      );
      const del = (async () => {
        await new Promise((res) => setTimeout(res, 20));
        return clients[1]!.raw('DELETE', '/v1/security-groups/race?force=true');
      })();
      const results = await Promise.all([...joins, del]);
      expect(results.at(-1)!.status).toBe(200);
      for (const r of results.slice(0, -1)) expect([201, 400]).toContain(r.status);
      const ports = (await c.call<Port[]>('GET', '/v1/ports')).filter((p) => p.name.startsWith('race'));
      expect(ports.filter((p) => p.securityGroups.includes(g.id))).toEqual([]);
      expect(await members(g.id)).toEqual({});
      expect((await store.range('/wyvern/v1/guard/sg/')).kvs.filter((kv) => kv.key.endsWith(g.id))).toEqual([]);
    } finally {
      await Promise.all(servers.map((s) => s.close()));
      await Promise.all(others.map((s) => s.close()));
    }
  });
});
