/**
 * A burst of port creations through a real `wyvern api` process on a real etcd member, and a fault in the middle of
 * it — what an operator's provisioning script meets when the API is restarted under it or its store goes away:
 *
 * - a planned stop (SIGTERM, what systemd sends): the requests the server began are answered, and every other one is
 *   refused or reset before it began, so it was not made: a client can tell, for each of its creations, whether it
 *   happened (the store holds exactly the ports answered 201);
 * - a crash (SIGKILL): a creation cut in flight may or may not have happened, but whole or not at all — the store stays
 *   consistent (names, ids, port keys, address and MAC claims match the ports exactly) and sending the failed ones
 *   again to a restarted server makes every port once (409 "already exists" for those that were made);
 * - a store outage longer than a creation waits for its store (10 s): requests answer 503 naming the store, not 500,
 *   none is half-written, and once the store is back the failed ones sent again make every port once;
 * - a shorter one (etcd restarted), and the leader of a 3-member cluster killed: every creation rides it out and is
 *   made once (a commit left unanswered is looked for before the creation plans again); and so does every other kind
 *   of write, each answered as made, not 409 or 404 for its own change.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../../src/api/client.js';
import { getRetirement, registerChassis } from '../../src/model/chassis.js';
import { chassisKey, claimsPrefix, NET_PREFIX, namesPrefix, poolPrefix, portsPrefix } from '../../src/model/keys.js';
import { Topology } from '../../src/model/repo.js';
import type { TopologyDocument } from '../../src/model/types.js';
import { openStore } from '../../src/store/index.js';
import type { Lease, Store } from '../../src/store/types.js';
import { startEtcd, type EtcdCluster } from '../helpers/etcd.js';
import { cleanEnv, WYVERN_CLI } from '../helpers/cli.js';

let etcd: EtcdCluster;
let store: Store;

beforeAll(async () => {
  etcd = await startEtcd({ members: 1 });
  store = await openStore(etcd.url);
}, 60_000);
afterAll(async () => {
  await store?.close();
  await etcd?.stop();
});

interface Api {
  proc: ChildProcess;
  url: string;
  stderr: () => string;
}

async function startApi(storeUrl = etcd.url): Promise<Api> {
  const proc = spawn(process.execPath, [WYVERN_CLI, 'api', '--store', storeUrl, '--listen', 'tcp:127.0.0.1:0'], {
    env: cleanEnv({ WYVERN_LOG_LEVEL: 'warn' }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  proc.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    proc.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /listening on (\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    proc.on('exit', (code) => reject(new Error(`wyvern api exited ${code}: ${err}`)));
  });
  return { proc, url, stderr: () => err };
}

interface Outcome {
  name: string;
  /** The HTTP status, when the request was answered. */
  status?: number;
  body?: unknown;
  /** The connection's error, when it was not (refused, reset, hung up). */
  error?: string;
  /** Answered (or failed) after the fault began. */
  afterFault: boolean;
}

/** The outcomes not answered with one of `ok`, each as `name: status-or-error body` (an assertion's diff shows them). */
const failures = (outcomes: Outcome[], ok = [200, 201]): string[] =>
  outcomes
    .filter((o) => o.status === undefined || !ok.includes(o.status))
    .map((o) => `${o.name}: ${o.status ?? o.error} ${JSON.stringify(o.body)}`);

/** One request on a connection of its own (as concurrent clients, the CLI or a script make them). */
function send(url: string, method: string, path: string, body: unknown, faulted: () => boolean): Promise<Omit<Outcome, 'name'>> {
  const text = body === undefined ? '' : JSON.stringify(body);
  const u = new URL(url);
  return new Promise((resolve) => {
    const req = request(
      {
        host: u.hostname,
        port: u.port,
        path,
        method,
        agent: false,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) },
      },
      (res) => {
        let data = '';
        res.on('data', (c: Buffer) => (data += c.toString()));
        res.on('end', () =>
          resolve({ status: res.statusCode!, body: data ? (JSON.parse(data) as unknown) : undefined, afterFault: faulted() }),
        );
        res.on('error', (e) => resolve({ error: (e as NodeJS.ErrnoException).code ?? e.message, afterFault: faulted() }));
      },
    );
    req.on('error', (e) => resolve({ error: (e as NodeJS.ErrnoException).code ?? e.message, afterFault: faulted() }));
    req.end(text);
  });
}

interface Call {
  /** What the outcome is known by. */
  name: string;
  method: string;
  path: string;
  body?: unknown;
}

/** The calls sent at once; `fault` runs once `after` of them have been answered. */
async function wave(url: string, calls: Call[], after: number, fault: () => Promise<void> | void): Promise<Outcome[]> {
  let answered = 0;
  let faultAt: Promise<void> | undefined;
  let faulted = false;
  const outcomes = await Promise.all(
    calls.map(async (c) => {
      const o = await send(url, c.method, c.path, c.body, () => faulted);
      if (++answered === after) {
        faulted = true;
        faultAt = Promise.resolve(fault());
      }
      return { name: c.name, ...o };
    }),
  );
  await faultAt;
  return outcomes;
}

/** N creations at once in `network` (or with `deletes`, the deletions of the ports so named), as wave() sends them. */
function burst(
  url: string,
  network: string,
  n: number,
  after: number,
  fault: () => Promise<void> | void,
  deletes = false,
): Promise<Outcome[]> {
  const calls = Array.from({ length: n }, (_, i): Call => {
    const name = `${network}-${i}`;
    return deletes
      ? { name, method: 'DELETE', path: `/v1/ports/${name}` }
      : { name, method: 'POST', path: '/v1/ports', body: { name, network } };
  });
  return wave(url, calls, after, fault);
}

interface StoredPort {
  id: string;
  name: string;
  mac: string;
  portKey: number;
  fixedIps: { ip: string }[];
}

/**
 * The network's ports as stored, after checking that what makes ports unique matches them exactly: every port's name,
 * id and port key (cluster-wide: every network's ports) and its addresses and MAC (in its network) are claimed, and
 * nothing else is (no claim left by a creation cut half-way).
 */
async function consistentPorts(networkId: string, on = store): Promise<Map<string, StoredPort>> {
  const all = (await on.range(NET_PREFIX)).kvs.filter((kv) => kv.key.includes('/ports/')).map((kv) => JSON.parse(kv.value) as StoredPort);
  const ports = (await on.range(portsPrefix(networkId))).kvs.map((kv) => JSON.parse(kv.value) as StoredPort);
  const byName = new Map(ports.map((p) => [p.name, p]));
  expect(byName.size, 'port names are unique').toBe(ports.length);
  const last = (k: string) => k.slice(k.lastIndexOf('/') + 1);
  const sorted = (xs: (string | number)[]) => xs.map(String).sort();
  const names = (await on.range(namesPrefix('port'))).kvs.map((kv) => last(kv.key));
  expect(sorted(names), 'name and id claims').toEqual(sorted(all.flatMap((p) => [p.name, p.id])));
  const keys = (await on.range(poolPrefix('port-key'))).kvs.map((kv) => last(kv.key));
  expect(sorted(keys), 'port key allocations').toEqual(sorted(all.map((p) => p.portKey)));
  const ips = (await on.range(`${claimsPrefix(networkId)}ip/`)).kvs.map((kv) => last(kv.key));
  expect(sorted(ips), 'address claims').toEqual(sorted(ports.flatMap((p) => p.fixedIps.map((f) => f.ip))));
  const macs = (await on.range(`${claimsPrefix(networkId)}mac/`)).kvs.map((kv) => last(kv.key));
  expect(sorted(macs), 'MAC claims').toEqual(sorted(ports.map((p) => p.mac)));
  return byName;
}

async function makeNetwork(url: string, name: string, cidr: string): Promise<string> {
  const c = new ApiClient(url);
  const net = (await c.call('POST', '/v1/networks', { name })) as { id: string };
  await c.call('POST', '/v1/subnets', { name: `${name}-s`, network: name, cidr });
  return net.id;
}

/** Sends the creations that did not answer 201 again, one by one: each is made now, or was made before (409 on its name). */
async function retryFailed(url: string, network: string, outcomes: Outcome[]): Promise<void> {
  const c = new ApiClient(url);
  for (const o of outcomes.filter((x) => x.status !== 201)) {
    const r = await c.raw('POST', '/v1/ports', { name: o.name, network });
    expect([201, 409], `${o.name}: ${JSON.stringify(r.body)}`).toContain(r.status);
    if (r.status === 409) expect(JSON.stringify(r.body)).toContain(`a port named ${o.name} already exists`);
  }
}

/** The failed creations sent again to a new `wyvern api`: every port of the burst exists once. */
async function retryOnNewServer(network: string, netId: string, outcomes: Outcome[]): Promise<void> {
  const again = await startApi();
  try {
    await retryFailed(again.url, network, outcomes);
    expect((await consistentPorts(netId)).size).toBe(N);
  } finally {
    again.proc.kill('SIGTERM');
    await once(again.proc, 'exit');
  }
}

const N = 400;

/** The member of `cluster` that leads it now (its metrics say so). */
async function leaderOf(cluster: EtcdCluster): Promise<EtcdCluster['members'][number]> {
  const isLeader = async (url: string) => /^etcd_server_is_leader 1$/m.test(await (await fetch(`${url}/metrics`)).text());
  const flags = await Promise.all(cluster.members.map((m) => isLeader(m.clientUrl)));
  return cluster.members[flags.indexOf(true)]!;
}

/** A gateway chassis reaching physnet1 (registered on `lease`, as an agent's) and provider network `name` there. */
async function providerNetwork(c: ApiClient, on: Store, lease: Lease, name: string): Promise<void> {
  await registerChassis(on, { name: 'gw1', tunnelIp: '172.31.9.1', encaps: ['vxlan'], version: '0.1.0', physnets: ['physnet1'] }, lease);
  await c.call('POST', '/v1/networks', { name, provider: { physnet: 'physnet1' } });
  await c.call('POST', '/v1/subnets', { name: `${name}-s`, network: name, cidr: '198.51.100.0/24', enableDhcp: false });
}

/**
 * `n` topology documents, each a network of its own with a subnet and 5 ports, made in a memory store (tunnel keys
 * from 1,000 up, clear of the test's own networks).
 */
async function importDocs(n: number): Promise<TopologyDocument[]> {
  const mem = await openStore('memory:');
  const t = new Topology(mem);
  try {
    await Promise.all(Array.from({ length: 1_000 }, (_, i) => mem.put(`${poolPrefix('tunnel-key')}${i + 1}`, 'reserved')));
    const docs: TopologyDocument[] = [];
    for (let i = 0; i < n; i++) {
      const net = await t.createNetwork({ name: `imp${i}` });
      const sub = await t.createSubnet({ name: `imp${i}-s`, network: `imp${i}`, cidr: `10.91.${i}.0/24` });
      const ports = await Promise.all(Array.from({ length: 5 }, (_, j) => t.createPort({ name: `imp${i}-p${j}`, network: `imp${i}` })));
      docs.push({ format: 'wyvern-topology', version: 1, networks: [net], subnets: [sub], ports, routers: [] });
    }
    return docs;
  } finally {
    t.close();
    await mem.close();
  }
}

describe('a burst of port creations through wyvern api, and a fault in the middle of it', () => {
  it('SIGTERM: the requests begun are answered before the process exits; the others were not made', async () => {
    const api = await startApi();
    const netId = await makeNetwork(api.url, 'term', '10.60.0.0/22');
    const exited = once(api.proc, 'exit');
    let signalled = 0;
    const outcomes = await burst(api.url, 'term', N, 30, () => {
      signalled = Date.now();
      api.proc.kill('SIGTERM');
    });
    const [code] = (await exited) as [number | null];
    expect(code, api.stderr()).toBe(0);
    expect(signalled).toBeGreaterThan(0);
    const stored = await consistentPorts(netId);
    const created = outcomes.filter((o) => o.status === 201);
    // The drain answered creations begun before the signal (with many in flight, some finish after it).
    expect(created.filter((o) => o.afterFault).length).toBeGreaterThan(0);
    for (const o of outcomes) {
      if (o.status === 201) expect(stored.get(o.name)?.id, o.name).toBe((o.body as { id: string }).id);
      // Not answered, or answered otherwise: not made. (No request is left in doubt.)
      else expect(stored.has(o.name), `${o.name}: ${o.status ?? o.error} but stored`).toBe(false);
    }
    expect(stored.size).toBe(created.length);
    expect(
      outcomes.filter((o) => o.status !== undefined && o.status !== 201),
      'no other answer than 201',
    ).toEqual([]);
    await retryOnNewServer('term', netId, outcomes);
  }, 120_000);

  it('SIGKILL: the store stays consistent, and the failed creations sent again make every port once', async () => {
    const api = await startApi();
    const netId = await makeNetwork(api.url, 'kill', '10.61.0.0/22');
    const exited = once(api.proc, 'exit');
    const outcomes = await burst(api.url, 'kill', N, 30, () => void api.proc.kill('SIGKILL'));
    await exited;
    const stored = await consistentPorts(netId);
    for (const o of outcomes.filter((x) => x.status === 201)) expect(stored.get(o.name)?.id, o.name).toBe((o.body as { id: string }).id);
    expect(
      outcomes.some((o) => o.error !== undefined),
      'the kill cut requests',
    ).toBe(true);
    await retryOnNewServer('kill', netId, outcomes);
  }, 120_000);

  it('etcd down longer than a creation waits (10 s): they answer 503 naming the store, none half-written; back up, the failed ones sent again make every port once', async () => {
    const api = await startApi();
    try {
      const netId = await makeNetwork(api.url, 'outage', '10.62.0.0/22');
      const began = Date.now();
      const outcomes = await burst(api.url, 'outage', N, 30, () => etcd.members[0]!.kill());
      // Every creation answered within its wait (10 s from its arrival; those queued behind others fail at once).
      expect(Date.now() - began).toBeLessThan(25_000);
      const failed = outcomes.filter((o) => o.status !== 201);
      expect(failed.length, 'the outage failed creations').toBeGreaterThan(0);
      for (const o of failed) {
        expect(o.status, `${o.name}: ${o.error ?? JSON.stringify(o.body)}`).toBe(503);
        expect((o.body as { error: { code: string; message: string } }).error.message).toMatch(/^store unavailable: /);
      }
      await etcd.members[0]!.restart();
      const c = new ApiClient(api.url);
      const t0 = Date.now();
      while ((await c.raw('GET', '/v1/networks')).status !== 200) {
        expect(Date.now() - t0, 'the API answers again once etcd is back').toBeLessThan(30_000);
        await new Promise((r) => setTimeout(r, 250));
      }
      const stored = await consistentPorts(netId);
      for (const o of outcomes.filter((x) => x.status === 201)) expect(stored.get(o.name)?.id, o.name).toBe((o.body as { id: string }).id);
      await retryFailed(api.url, 'outage', outcomes);
      expect((await consistentPorts(netId)).size).toBe(N);
    } finally {
      api.proc.kill('SIGTERM');
      await once(api.proc, 'exit');
    }
  }, 120_000);

  it('etcd restarted under the burst (down 2 s): every creation, then every deletion, rides it out and is made once', async () => {
    const api = await startApi();
    try {
      const netId = await makeNetwork(api.url, 'blip', '10.64.0.0/22');
      const outcomes = await burst(api.url, 'blip', N, 30, async () => {
        await etcd.members[0]!.kill();
        await new Promise((r) => setTimeout(r, 2_000));
        await etcd.members[0]!.restart();
      });
      expect(failures(outcomes, [201])).toEqual([]);
      const stored = await consistentPorts(netId);
      expect(stored.size).toBe(N);
      for (const o of outcomes) expect(stored.get(o.name)?.id, o.name).toBe((o.body as { id: string }).id);
      // The same for deletions: none answers 503, nor 404 for a delete whose commit etcd made without saying so.
      const restart = async () => {
        await etcd.members[0]!.kill();
        await new Promise((r) => setTimeout(r, 2_000));
        await etcd.members[0]!.restart();
      };
      const deleted = await burst(api.url, 'blip', N, 30, restart, true);
      expect(failures(deleted, [200])).toEqual([]);
      for (const o of deleted) expect((o.body as { id: string }).id, o.name).toBe(stored.get(o.name)!.id);
      expect((await consistentPorts(netId)).size).toBe(0);
    } finally {
      api.proc.kill('SIGTERM');
      await once(api.proc, 'exit');
    }
  }, 120_000);

  it('the leader of a 3-member etcd cluster killed: every creation rides it out and is made once', async () => {
    const cluster = await startEtcd({ members: 3 });
    const s3 = await openStore(cluster.url);
    const api = await startApi(cluster.url);
    try {
      const netId = await makeNetwork(api.url, 'leader', '10.63.0.0/22');
      const leader = await leaderOf(cluster);
      const outcomes = await burst(api.url, 'leader', N, 30, () => leader.kill());
      // Transactions the dead leader held time out (5 s) while the others elect a new one: each creation looks for
      // its unanswered commit before planning again (made once, answered as made), none answers 503.
      expect(failures(outcomes, [201])).toEqual([]);
      const stored = await consistentPorts(netId, s3);
      expect(stored.size).toBe(N);
      for (const o of outcomes) expect(stored.get(o.name)?.id, o.name).toBe((o.body as { id: string }).id);
    } finally {
      api.proc.kill('SIGTERM');
      await once(api.proc, 'exit');
      await s3.close();
      await cluster.stop();
    }
  }, 120_000);

  it('etcd restarted under every other kind of write (interfaces, routes, gateways, modes, PATCHes, associations, sites, deletes, imports, chassis): each rides it out, none answered 503, nor 404 or 409 for its own change', async () => {
    const api = await startApi();
    const lease = await store.grantLease(120);
    try {
      const c = new ApiClient(api.url);
      await providerNetwork(c, store, lease, 'w-ext');
      const M = 30;
      const ids = await Promise.all(
        Array.from({ length: M }, async (_, i) => {
          await makeNetwork(api.url, `w${i}`, `10.90.${i}.0/24`);
          await c.call('POST', '/v1/routers', { name: `w${i}-r` });
          await c.call('POST', '/v1/security-groups', { name: `w${i}-g` });
          const rule = await c.call<{ id: string }>('POST', `/v1/security-groups/w${i}-g/rules`, {
            direction: 'ingress',
            protocol: 'tcp',
            portMin: 22,
            portMax: 22,
          });
          const port = await c.call<{ id: string }>('POST', '/v1/ports', { name: `w${i}-vm`, network: `w${i}` });
          const fip = await c.call<{ id: string }>('POST', '/v1/floating-ips', { network: 'w-ext' });
          return { rule: rule.id, port: port.id, fip: fip.id };
        }),
      );
      const restart = async () => {
        await etcd.members[0]!.kill();
        await etcd.members[0]!.restart();
      };
      /** The call `at(i)` names (a path, or a path and a body) for each i. */
      const each = (method: string, at: (i: number) => string | [string, unknown]): Call[] =>
        Array.from({ length: M }, (_, i) => {
          const [path, body] = [at(i)].flat() as [string, unknown?];
          return { name: `${method} ${path}`, method, path, body };
        });
      const waves: Call[][] = [
        each('POST', (i) => [`/v1/routers/w${i}-r/interfaces`, { subnet: `w${i}-s` }]),
        each('POST', (i) => [`/v1/routers/w${i}-r/routes`, { cidr: `192.168.${i}.0/24`, nexthop: `10.90.${i}.5` }]),
        each('PUT', (i) => [`/v1/routers/w${i}-r/gateway`, { network: 'w-ext' }]),
        each('PATCH', (i) => [`/v1/routers/w${i}-r`, { mode: 'reactive' }]),
        each('PATCH', (i) => [`/v1/ports/w${i}-vm`, { securityGroups: [`w${i}-g`] }]),
        each('PATCH', (i) => [`/v1/floating-ips/${ids[i]!.fip}`, { port: `w${i}-vm` }]),
        each('PATCH', (i) => [`/v1/networks/w${i}`, { topology: 'star' }]),
        each('PUT', (i) => [`/v1/sites/w${i}-site/gateway`, { chassis: ['gw9'] }]),
      ];
      const undo: Call[][] = [
        each('PATCH', (i) => [`/v1/floating-ips/${ids[i]!.fip}`, { port: null }]),
        each('DELETE', (i) => `/v1/routers/w${i}-r/routes/${encodeURIComponent(`192.168.${i}.0/24`)}`),
        each('DELETE', (i) => `/v1/routers/w${i}-r/gateway`),
        each('DELETE', (i) => `/v1/routers/w${i}-r/interfaces/w${i}-s`),
        each('DELETE', (i) => `/v1/security-groups/w${i}-g/rules/${ids[i]!.rule}`),
        each('DELETE', (i) => `/v1/floating-ips/${ids[i]!.fip}`),
        each('PATCH', (i) => [`/v1/ports/w${i}-vm`, { securityGroups: [] }]),
        each('DELETE', (i) => `/v1/security-groups/w${i}-g`),
        each('DELETE', (i) => `/v1/routers/w${i}-r`),
        each('DELETE', (i) => `/v1/sites/w${i}-site/gateway`),
      ];
      const ride = async (calls: Call[]) => {
        const out = await wave(api.url, calls, 3, restart);
        expect(failures(out)).toEqual([]);
        return out;
      };
      for (const w of waves) await ride(w);
      // Every change is held once, as asked.
      for (let i = 0; i < M; i++) {
        const r = await c.call<{ mode: string; interfaces: unknown[]; routes: unknown[]; gateway?: { networkId: string } }>(
          'GET',
          `/v1/routers/w${i}-r`,
        );
        expect(r).toMatchObject({ mode: 'reactive', routes: [{ cidr: `192.168.${i}.0/24`, nexthop: `10.90.${i}.5` }] });
        expect(r.interfaces).toHaveLength(1);
        expect(r.gateway).toBeDefined();
        expect(await c.call('GET', `/v1/floating-ips/${ids[i]!.fip}`)).toMatchObject({ portId: ids[i]!.port });
      }
      for (const w of undo) await ride(w);
      expect(await c.call('GET', '/v1/routers')).toEqual([]);
      expect(await c.call('GET', '/v1/floating-ips')).toEqual([]);
      expect(await c.call('GET', '/v1/security-groups')).toEqual([]);
      for (let i = 0; i < M; i++) {
        expect(await c.call('GET', `/v1/ports/w${i}-vm`)).toMatchObject({ securityGroups: [] });
        expect(await c.call('GET', `/v1/networks/w${i}`)).toMatchObject({ topology: 'star' });
      }
      // Imports too (each of its own networks, subnets and ports, as `wyvern topology import` sends them): imported
      // again from a new read after the store failed, each whole and once.
      const docs = await importDocs(M);
      const imported = await ride(docs.map((d, i) => ({ name: `import ${i}`, method: 'PUT', path: '/v1/topology', body: d })));
      for (const o of imported) expect((o.body as { written: number }).written, o.name).toBeGreaterThanOrEqual(0);
      for (const d of docs) for (const p of d.ports) expect(await c.call('GET', `/v1/ports/${p.name}`)).toEqual(p);
      // Chassis taken out of service (each registered on the lease, as an agent's): each deleted once, its tombstone left.
      for (let i = 0; i < M; i++)
        await registerChassis(store, { name: `w-hv${i}`, tunnelIp: `172.31.10.${i + 1}`, encaps: ['vxlan'], version: '0.1.0' }, lease);
      await ride(each('DELETE', (i) => `/v1/chassis/w-hv${i}`));
      for (let i = 0; i < M; i++) {
        expect(await store.get(chassisKey(`w-hv${i}`))).toBeUndefined();
        expect(await getRetirement(store, `w-hv${i}`)).toMatchObject({ name: `w-hv${i}`, bindingsRemoved: [] });
      }
      // Nothing the deleted objects held is left: the provider network's address and MAC claims, pool numbers.
      expect((await store.range(claimsPrefix((await c.call<{ id: string }>('GET', '/v1/networks/w-ext')).id))).kvs).toEqual([]);
      for (const pool of ['router-key', 'sg-key', 'sg-rule-key'] as const) expect((await store.range(poolPrefix(pool))).kvs).toEqual([]);
    } finally {
      await lease.revoke().catch(() => undefined);
      api.proc.kill('SIGTERM');
      await once(api.proc, 'exit');
    }
  }, 180_000);

  it('the leader of a 3-member etcd cluster killed under a mix of every other kind of write at once: each answered as made, once', async () => {
    const cluster = await startEtcd({ members: 3 });
    const s3 = await openStore(cluster.url);
    const lease = await s3.grantLease(120);
    const api = await startApi(cluster.url);
    try {
      const c = new ApiClient(api.url);
      await providerNetwork(c, s3, lease, 'l-ext');
      const M = 10;
      // Per i: router l{i}-r with an interface, a gateway and a route; a bare router l{i}-q; routers l{i}-z (to
      // delete) and l{i}-g (to get a gateway); port l{i}-vm with floating IP f (associated) and x (not); group l{i}-g
      // with a rule, group l{i}-y (to delete).
      const ids = await Promise.all(
        Array.from({ length: M }, async (_, i) => {
          await makeNetwork(api.url, `l${i}`, `10.92.${i}.0/24`);
          for (const r of ['r', 'q', 'z', 'g']) await c.call('POST', '/v1/routers', { name: `l${i}-${r}` });
          await c.call('POST', `/v1/routers/l${i}-r/interfaces`, { subnet: `l${i}-s` });
          await c.call('PUT', `/v1/routers/l${i}-r/gateway`, { network: 'l-ext' });
          await c.call('POST', `/v1/routers/l${i}-r/routes`, { cidr: `192.168.${i}.0/24`, nexthop: `10.92.${i}.5` });
          await c.call('POST', '/v1/ports', { name: `l${i}-vm`, network: `l${i}` });
          const f = await c.call<{ id: string }>('POST', '/v1/floating-ips', { network: 'l-ext', port: `l${i}-vm` });
          const x = await c.call<{ id: string }>('POST', '/v1/floating-ips', { network: 'l-ext' });
          await c.call('POST', '/v1/security-groups', { name: `l${i}-g` });
          await c.call('POST', '/v1/security-groups', { name: `l${i}-y` });
          const rule = await c.call<{ id: string }>('POST', `/v1/security-groups/l${i}-g/rules`, { direction: 'ingress', protocol: 'udp' });
          return { f: f.id, x: x.id, rule: rule.id };
        }),
      );
      const calls = ids.flatMap(({ f, x, rule }, i): Call[] =>
        (
          [
            ['POST', `/v1/routers/l${i}-q/interfaces`, { subnet: `l${i}-s`, ip: `10.92.${i}.250` }],
            ['DELETE', `/v1/routers/l${i}-r/routes/${encodeURIComponent(`192.168.${i}.0/24`)}`],
            ['PATCH', `/v1/routers/l${i}-r`, { mode: 'reactive' }],
            ['PUT', `/v1/routers/l${i}-g/gateway`, { network: 'l-ext' }],
            ['DELETE', `/v1/routers/l${i}-z`],
            ['PATCH', `/v1/ports/l${i}-vm`, { securityGroups: [`l${i}-g`] }],
            ['PATCH', `/v1/floating-ips/${f}`, { port: null }],
            ['DELETE', `/v1/floating-ips/${x}`],
            ['DELETE', `/v1/security-groups/l${i}-g/rules/${rule}`],
            ['DELETE', `/v1/security-groups/l${i}-y`],
            ['PATCH', `/v1/networks/l${i}`, { topology: 'star' }],
            ['PUT', `/v1/sites/l${i}-site/gateway`, { chassis: ['gw9'] }],
          ] as [string, string, unknown?][]
        ).map(([method, path, body]) => ({ name: `${method} ${path}`, method, path, body })),
      );
      const leader = await leaderOf(cluster);
      const out = await wave(api.url, calls, 3, () => leader.kill());
      expect(failures(out)).toEqual([]);
      const routers = await c.call<{ name: string; mode: string; routes: unknown[]; interfaces: unknown[]; gateway?: unknown }[]>(
        'GET',
        '/v1/routers',
      );
      const fips = await c.call<{ id: string; portId?: string }[]>('GET', '/v1/floating-ips');
      const groups = await c.call<{ name: string; rules: { id: string }[] }[]>('GET', '/v1/security-groups');
      for (let i = 0; i < M; i++) {
        const r = (n: string) => routers.find((x) => x.name === `l${i}-${n}`);
        expect(r('r')).toMatchObject({ mode: 'reactive', routes: [] });
        expect(r('q')?.interfaces).toHaveLength(1);
        expect(r('g')?.gateway).toBeDefined();
        expect(r('z')).toBeUndefined();
        expect(fips.find((x) => x.id === ids[i]!.f)?.portId).toBeUndefined();
        expect(fips.find((x) => x.id === ids[i]!.x)).toBeUndefined();
        expect(groups.find((x) => x.name === `l${i}-g`)?.rules.map((x) => x.id)).not.toContain(ids[i]!.rule);
        expect(groups.find((x) => x.name === `l${i}-y`)).toBeUndefined();
        expect(await c.call('GET', `/v1/ports/l${i}-vm`)).toMatchObject({ securityGroups: [expect.any(String)] });
        expect(await c.call('GET', `/v1/networks/l${i}`)).toMatchObject({ topology: 'star' });
        expect(await c.call('GET', `/v1/sites/l${i}-site`)).toMatchObject({ gatewayCandidates: ['gw9'] });
      }
    } finally {
      api.proc.kill('SIGTERM');
      await once(api.proc, 'exit');
      await lease.revoke().catch(() => undefined);
      await s3.close();
      await cluster.stop();
    }
  }, 120_000);
});
