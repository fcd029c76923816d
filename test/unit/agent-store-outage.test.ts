/**
 * The agent's parts that carry it through store outages, against the memory store behind a switch that makes
 * every call fail as an unreachable etcd does: the on-disk topology cache, a subscription falling back on it,
 * the chassis registration converging, bindings written once the store answers, and the store health probe.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BindingManager } from '../../src/agent/binding.js';
import { ChassisRegistration } from '../../src/agent/chassis-registration.js';
import { StoreHealth } from '../../src/agent/store-health.js';
import { TopologyCache } from '../../src/agent/topology-cache.js';
import { TopologyView } from '../../src/view/topology-view.js';
import { deleteChassis } from '../../src/model/chassis.js';
import { bindingKey, chassisKey, nameKey } from '../../src/model/keys.js';
import { Topology } from '../../src/model/repo.js';
import { createMemoryStore, PrefixSubscription, StoreError, type SubscriptionEvent } from '../../src/store/index.js';
import type { Store } from '../../src/store/types.js';
import { silentLogger } from '../../src/util/log.js';
import { followStore } from '../helpers/follow-store.js';

const dir = mkdtempSync(join(tmpdir(), 'wv-outage-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const until = async (what: string, f: () => boolean | Promise<boolean>, ms = 3000) => {
  const t0 = Date.now();
  while (!(await f())) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
};

/** A store whose every call fails with UNAVAILABLE while `down` (watches are left alone). */
function flaky(inner: Store): Store & { down: boolean } {
  const s = { down: false } as Store & { down: boolean };
  const fail = () => Promise.reject(new StoreError('etcd unreachable: connect ECONNREFUSED', 'UNAVAILABLE'));
  for (const m of ['get', 'range', 'read', 'put', 'delete', 'txn', 'grantLease', 'currentRevision'] as const) {
    (s as unknown as Record<string, unknown>)[m] = (...args: unknown[]) =>
      s.down ? fail() : (inner[m] as (...a: unknown[]) => Promise<unknown>).apply(inner, args);
  }
  Object.assign(s, { url: inner.url, watch: inner.watch.bind(inner), close: () => inner.close() });
  return s;
}

const P1 = '0b7e8f2a-1c3d-4e5f-8a9b-0c1d2e3f4a5b';
const N1 = '1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d';
const NET = `/wyvern/v1/net/${N1}/`;
const kv = (key: string, value: string) => ({ key, value, createRevision: 1, modRevision: 1 });

describe('TopologyCache', () => {
  it('follows the subscription, writes atomically (0600), reloads, and answers a port name from cached ports', async () => {
    const path = join(dir, 'c1', 'cache.json');
    const watched = ['/wyvern/v1/chassis/', NET];
    const cache = new TopologyCache(path, 'hv1', silentLogger, () => watched, 1);
    const port = {
      id: P1,
      name: 'vm1',
      networkId: N1,
      mac: '02:00:00:00:00:01',
      fixedIps: [],
      portSecurity: true,
      allowedAddressPairs: [],
      portKey: 7,
    };
    cache.apply({ type: 'snapshot', prefix: '/wyvern/v1/chassis/', kvs: [kv('/wyvern/v1/chassis/hv2', '{"x":1}')], revision: 3 });
    cache.apply({ type: 'snapshot', prefix: NET, kvs: [kv(`${NET}ports/${P1}`, JSON.stringify(port))], revision: 3 });
    cache.apply({ type: 'put', prefix: '/wyvern/v1/chassis/', kv: kv('/wyvern/v1/chassis/hv3', '{"x":3}'), revision: 4 });
    cache.apply({ type: 'delete', prefix: '/wyvern/v1/chassis/', key: '/wyvern/v1/chassis/hv2', revision: 5 });
    // A prefix no longer watched is not saved.
    cache.apply({ type: 'snapshot', prefix: '/wyvern/v1/net/gone/', kvs: [kv('/wyvern/v1/net/gone/ports/x', '{}')], revision: 5 });
    await cache.flush();
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const again = new TopologyCache(path, 'hv1', silentLogger, () => watched);
    expect(again.loadedFrom).toBeDefined();
    expect(again.get('/wyvern/v1/chassis/')?.map((x) => x.key)).toEqual(['/wyvern/v1/chassis/hv3']);
    expect(again.get('/wyvern/v1/net/gone/')).toBeUndefined();
    const name = again.get(nameKey('port', 'vm1'));
    expect(name?.map((x) => JSON.parse(x.value))).toEqual([{ id: P1, networkId: N1 }]);
    expect(again.get(nameKey('port', 'nobody'))).toBeUndefined();
  });

  it('writes lines of JSON, one per prefix and per entry, and reads them back (2,000 entries, several pieces)', async () => {
    const path = join(dir, 'c3', 'cache.json');
    const watched = ['/a/', '/empty/', NET];
    const cache = new TopologyCache(path, 'hv1', silentLogger, () => watched, 1);
    // Values with quotes, backslashes, newlines, control and non-ASCII characters, ~130 KB each prefix.
    const kvs = (prefix: string) =>
      Array.from({ length: 1000 }, (_, i) => kv(`${prefix}k${i}`, JSON.stringify({ i, s: `"\\\n\u0001é${'x'.repeat(i % 97)}` })));
    cache.apply({ type: 'snapshot', prefix: '/a/', kvs: kvs('/a/'), revision: 1 });
    cache.apply({ type: 'snapshot', prefix: '/empty/', kvs: [], revision: 1 });
    cache.apply({ type: 'snapshot', prefix: NET, kvs: kvs(NET), revision: 1 });
    await cache.flush();
    const [head, ...lines] = readFileSync(path, 'utf8').split('\n');
    expect(JSON.parse(head!)).toEqual({ format: 2, chassis: 'hv1', savedAt: expect.any(String) });
    expect(lines.at(-1)).toBe('');
    expect(lines.slice(0, -1).map((l) => JSON.parse(l) as unknown)).toEqual(
      ['/a/', '/empty/', NET].flatMap((p) => [[p], ...(p === '/empty/' ? [] : kvs(p).map((x) => [p, x.key, x.value]))]),
    );
    const again = new TopologyCache(path, 'hv1', silentLogger, () => watched);
    expect(again.get('/a/')).toHaveLength(1000);
    expect(again.get('/empty/')).toEqual([]);
    expect(again.get(NET)?.[999]?.value).toBe(kvs(NET)[999]!.value);
  });

  it('keeps only the changes in memory: each save copies the previous file with them, reads come from the file', async () => {
    const path = join(dir, 'c5', 'cache.json');
    let watched = ['/a/', '/b/', '/c/'];
    const cache = new TopologyCache(path, 'hv1', silentLogger, () => watched, 1);
    const read = (c: TopologyCache, p: string) => Object.fromEntries((c.get(p) ?? []).map((x) => [x.key, x.value]));
    cache.apply({ type: 'snapshot', prefix: '/a/', kvs: [kv('/a/1', 'one'), kv('/a/2', 'two'), kv('/a/3', 'three')], revision: 1 });
    cache.apply({ type: 'snapshot', prefix: '/b/', kvs: [kv('/b/1', 'b1')], revision: 1 });
    cache.apply({ type: 'snapshot', prefix: '/c/', kvs: [kv('/c/1', 'c1')], revision: 1 });
    await cache.flush();
    // Second save: a put over a key, a new key, a deletion, a whole new snapshot of /b/, and /c/ no longer watched.
    cache.apply({ type: 'put', prefix: '/a/', kv: kv('/a/2', 'TWO'), revision: 2 });
    cache.apply({ type: 'put', prefix: '/a/', kv: kv('/a/4', 'four'), revision: 2 });
    cache.apply({ type: 'delete', prefix: '/a/', key: '/a/3', revision: 3 });
    cache.apply({ type: 'resync', prefix: '/b/', kvs: [kv('/b/2', 'b2')], revision: 4 });
    // Before the save, reads see the changes over the file.
    expect(read(cache, '/a/')).toEqual({ '/a/1': 'one', '/a/2': 'TWO', '/a/4': 'four' });
    expect(read(cache, '/b/')).toEqual({ '/b/2': 'b2' });
    watched = ['/a/', '/b/'];
    await cache.flush();
    const lines = readFileSync(path, 'utf8').trim().split('\n').slice(1);
    expect(lines.map((l) => JSON.parse(l) as unknown)).toEqual([
      ['/a/'],
      ['/a/', '/a/1', 'one'],
      ['/b/'],
      ['/a/', '/a/2', 'TWO'],
      ['/a/', '/a/4', 'four'],
      ['/b/', '/b/2', 'b2'],
    ]);
    const again = new TopologyCache(path, 'hv1', silentLogger, () => watched);
    expect(read(again, '/a/')).toEqual({ '/a/1': 'one', '/a/2': 'TWO', '/a/4': 'four' });
    expect(read(again, '/b/')).toEqual({ '/b/2': 'b2' });
    expect(again.get('/c/')).toBeUndefined();
    // Nothing of the contents is held after a save: what the file says (someone else rewrote it) is what a read answers.
    writeFileSync(path, `${JSON.stringify({ format: 2, chassis: 'hv1', savedAt: 'x' })}\n["/a/"]\n["/a/","/a/9","nine"]\n`);
    expect(read(cache, '/a/')).toEqual({ '/a/9': 'nine' });
    expect(cache.get('/b/')).toBeUndefined();
  });

  it('a read while a save is writing sees the changes it writes', async () => {
    const path = join(dir, 'c9', 'cache.json');
    const cache = new TopologyCache(path, 'hv1', silentLogger, () => ['/a/'], 1);
    cache.apply({ type: 'snapshot', prefix: '/a/', kvs: [kv('/a/1', 'one')], revision: 1 });
    await cache.flush();
    cache.apply({ type: 'put', prefix: '/a/', kv: kv('/a/2', 'two'), revision: 2 });
    const saved = cache.flush();
    for (let i = 0; i < 5; i++) await Promise.resolve(); // the save has begun, its first file operation not done
    expect(cache.get('/a/')?.map((x) => x.key)).toEqual(['/a/1', '/a/2']);
    await saved;
    expect(cache.get('/a/')?.map((x) => x.key)).toEqual(['/a/1', '/a/2']);
  });

  it('a file deleted under a running agent: a prefix is written again only whole (from its next snapshot)', async () => {
    const path = join(dir, 'c10', 'cache.json');
    const cache = new TopologyCache(path, 'hv1', silentLogger, () => ['/a/', '/b/'], 1);
    cache.apply({ type: 'snapshot', prefix: '/a/', kvs: [kv('/a/1', 'one'), kv('/a/2', 'two')], revision: 1 });
    cache.apply({ type: 'snapshot', prefix: '/b/', kvs: [kv('/b/1', 'b1')], revision: 1 });
    await cache.flush();
    rmSync(path);
    cache.apply({ type: 'put', prefix: '/a/', kv: kv('/a/3', 'three'), revision: 2 });
    // Not the whole of /a/: neither read nor written as if it were.
    expect(cache.get('/a/')).toBeUndefined();
    await cache.flush();
    expect(new TopologyCache(path, 'hv1', silentLogger, () => []).get('/a/')).toBeUndefined();
    cache.apply({ type: 'resync', prefix: '/b/', kvs: [kv('/b/2', 'b2')], revision: 3 });
    await cache.flush();
    const again = new TopologyCache(path, 'hv1', silentLogger, () => []);
    expect(again.get('/a/')).toBeUndefined();
    expect(again.get('/b/')?.map((x) => x.key)).toEqual(['/b/2']);
  });

  it('a save that fails keeps its changes for the next one', async () => {
    const parent = join(dir, 'c6');
    const path = join(parent, 'sub', 'cache.json');
    mkdirSync(parent, { recursive: true });
    writeFileSync(join(parent, 'sub'), 'a file where the directory should be');
    const cache = new TopologyCache(path, 'hv1', silentLogger, () => ['/a/'], 1);
    cache.apply({ type: 'snapshot', prefix: '/a/', kvs: [kv('/a/1', 'one')], revision: 1 });
    await cache.flush();
    expect(existsSync(path)).toBe(false);
    rmSync(join(parent, 'sub'));
    cache.apply({ type: 'put', prefix: '/a/', kv: kv('/a/2', 'two'), revision: 2 });
    await cache.flush();
    const again = new TopologyCache(path, 'hv1', silentLogger, () => ['/a/']);
    expect(again.get('/a/')?.map((x) => [x.key, x.value])).toEqual([
      ['/a/1', 'one'],
      ['/a/2', 'two'],
    ]);
  });

  it('reads a format 1 file (earlier versions) and writes format 2 at the next save, keeping its contents', async () => {
    const path = join(dir, 'c7.json');
    const prefixes = { '/a/': [['/a/1', 'one']], '/b/': [['/b/1', 'b1']], '/empty/': [] };
    writeFileSync(path, JSON.stringify({ format: 1, chassis: 'hv1', savedAt: '2026-01-01T00:00:00.000Z', prefixes }));
    const cache = new TopologyCache(path, 'hv1', silentLogger, () => ['/a/', '/b/', '/empty/'], 1);
    expect(cache.loadedFrom).toBe('2026-01-01T00:00:00.000Z');
    expect(cache.get('/a/')?.map((x) => x.value)).toEqual(['one']);
    cache.apply({ type: 'put', prefix: '/b/', kv: kv('/b/2', 'b2'), revision: 2 });
    await cache.flush();
    const text = readFileSync(path, 'utf8');
    expect(JSON.parse(text.split('\n')[0]!)).toMatchObject({ format: 2 });
    const again = new TopologyCache(path, 'hv1', silentLogger, () => []);
    expect(again.get('/a/')?.map((x) => x.value)).toEqual(['one']);
    expect(again.get('/b/')?.map((x) => x.value)).toEqual(['b1', 'b2']);
    expect(again.get('/empty/')).toEqual([]);
  });

  it('a file whose last line has no newline: the next save starts its own lines on lines of their own', async () => {
    const path = join(dir, 'c11.json');
    writeFileSync(path, `${JSON.stringify({ format: 2, chassis: 'hv1', savedAt: 'x' })}\n["/a/"]\n["/a/","/a/1","one"]`);
    const cache = new TopologyCache(path, 'hv1', silentLogger, () => ['/a/'], 1);
    cache.apply({ type: 'put', prefix: '/a/', kv: kv('/a/2', 'two'), revision: 2 });
    await cache.flush();
    expect(readFileSync(path, 'utf8').endsWith('["/a/","/a/1","one"]\n["/a/","/a/2","two"]\n')).toBe(true);
    expect(new TopologyCache(path, 'hv1', silentLogger, () => []).get('/a/')?.map((x) => x.value)).toEqual(['one', 'two']);
  });

  it('a line that cannot be read ends what is kept of the file: the lines before it stay', async () => {
    const path = join(dir, 'c8.json');
    const head = JSON.stringify({ format: 2, chassis: 'hv1', savedAt: 'x' });
    writeFileSync(path, `${head}\n["/a/"]\n["/a/","/a/1","one"]\n["/a/","/a/2"\n["/a/","/a/3","three"]\n`);
    // A start reads the header only (a restarted host's start does not parse the file); parsed whole at the first
    // read, the file is not usable (as any unreadable file): nothing is answered from it…
    const warnings: string[] = [];
    const logger = { ...silentLogger, warn: (_: unknown, msg: string) => void warnings.push(msg) } as unknown as typeof silentLogger;
    const c = new TopologyCache(path, 'hv1', logger, () => ['/a/']);
    expect(c.loadedFrom).toBe('x');
    expect(warnings).toEqual([]);
    expect(c.get('/a/')).toBeUndefined();
    expect(warnings).toEqual(['ignoring an unreadable topology cache']);
    // …and when the file turns bad after it was read, a save keeps the lines before the bad one.
    writeFileSync(path, `${head}\n["/a/"]\n["/a/","/a/1","one"]\n`);
    const cache = new TopologyCache(path, 'hv1', silentLogger, () => ['/a/'], 1);
    writeFileSync(path, `${head}\n["/a/"]\n["/a/","/a/1","one"]\n["/a/","/a/2"\n["/a/","/a/3","three"]\n`);
    cache.apply({ type: 'put', prefix: '/a/', kv: kv('/a/4', 'four'), revision: 2 });
    await cache.flush();
    expect(new TopologyCache(path, 'hv1', silentLogger, () => ['/a/']).get('/a/')?.map((x) => x.key)).toEqual(['/a/1', '/a/4']);
  });

  it('a cache written before lazy sync of routers (whole lists) answers one router’s, lease’s or FIP’s key from them', () => {
    const path = join(dir, 'c4.json');
    const R = '0c000000-0000-4000-8000-000000000001';
    const prefixes = {
      '/wyvern/v1/routers/': [[`/wyvern/v1/routers/${R}`, '{"r":1}']],
      '/wyvern/v1/gateways/': [],
      '/wyvern/v1/fips/': [['/wyvern/v1/fips/f1', '{"f":1}']],
    };
    writeFileSync(path, JSON.stringify({ format: 1, chassis: 'hv1', savedAt: 'x', prefixes }));
    const c = new TopologyCache(path, 'hv1', silentLogger, () => []);
    expect(c.get(`/wyvern/v1/routers/${R}`)?.map((x) => x.value)).toEqual(['{"r":1}']);
    expect(c.get('/wyvern/v1/fips/f1')?.map((x) => x.value)).toEqual(['{"f":1}']);
    // Not cached: absent (never undefined, which would hold the cached start back).
    expect(c.get(`/wyvern/v1/gateways/${R}`)).toEqual([]);
    expect(c.get('/wyvern/v1/routers/other')).toEqual([]);
  });

  it("ignores another chassis's cache and an unreadable file", () => {
    const path = join(dir, 'c2.json');
    writeFileSync(path, JSON.stringify({ format: 1, chassis: 'hv9', savedAt: 'x', prefixes: { '/p/': [['/p/a', '1']] } }));
    expect(new TopologyCache(path, 'hv1', silentLogger, () => []).get('/p/')).toBeUndefined();
    writeFileSync(path, '{"format":1,');
    const c = new TopologyCache(path, 'hv1', silentLogger, () => []);
    expect(c.loadedFrom).toBeUndefined();
    expect(readFileSync(path, 'utf8')).toBe('{"format":1,'); // left for the operator to look at, not overwritten yet
  });
});

describe('PrefixSubscription during an outage', () => {
  it('emits the cached contents when the store does not answer, then the store truth as a resync', async () => {
    const inner = createMemoryStore();
    await inner.put('/p/a', 'store');
    const store = flaky(inner);
    store.down = true;
    const events: SubscriptionEvent[] = [];
    const sub = new PrefixSubscription(store, {
      retryMs: 10,
      retryMaxMs: 20,
      background: true,
      fallback: (p) => (p === '/p/' ? [{ key: '/p/old', value: 'cached', createRevision: 0, modRevision: 0 }] : undefined),
    });
    sub.on('event', (e: SubscriptionEvent) => events.push(e));
    await sub.add('/p/');
    expect(events).toEqual([
      expect.objectContaining({ type: 'snapshot', cached: true, kvs: [expect.objectContaining({ key: '/p/old' })] }),
    ]);
    expect(sub.loaded()).toBe(true);
    store.down = false;
    await until('the resync', () => events.length === 2);
    expect(events[1]).toMatchObject({ type: 'resync', kvs: [{ key: '/p/a', value: 'store' }] });
    await inner.put('/p/b', 'live');
    await until('the watch', () => events.length === 3);
    await sub.close();
  });

  it('a store that answers nothing until its deadline: once one read failed, prefixes added next start from the cache at once', async () => {
    const inner = createMemoryStore();
    await inner.put('/p/a', 'store');
    await inner.put('/q/a', 'store');
    const DEADLINE = 300;
    let blackHole = true;
    // Reads fail only at their deadline, as against a partition that drops packets (not a refused connection).
    const store = Object.assign(Object.create(inner) as Store, {
      range: (prefix: string) =>
        blackHole
          ? new Promise((_, reject) =>
              setTimeout(() => reject(new StoreError('etcd unreachable: deadline exceeded', 'UNAVAILABLE')), DEADLINE),
            )
          : inner.range(prefix),
    });
    const cache = (p: string) => [{ key: `${p}old`, value: 'cached', createRevision: 0, modRevision: 0 }];
    const events: SubscriptionEvent[] = [];
    const sub = new PrefixSubscription(store, { retryMs: 50, retryMaxMs: 50, background: true, fallback: cache });
    sub.on('event', (e: SubscriptionEvent) => events.push(e));
    let t = Date.now();
    await sub.add('/p/');
    expect(Date.now() - t).toBeGreaterThanOrEqual(DEADLINE - 5);
    // The next level of lazy sync: no second deadline.
    t = Date.now();
    await sub.add('/q/');
    expect(Date.now() - t).toBeLessThan(DEADLINE / 2);
    expect(events.map((e) => [e.type, e.prefix, 'cached' in e])).toEqual([
      ['snapshot', '/p/', true],
      ['snapshot', '/q/', true],
    ]);
    // The store answers: each prefix gets the store's truth as a resync.
    blackHole = false;
    await until('both resyncs', () => events.filter((e) => e.type === 'resync').length === 2);
    expect(
      events
        .filter((e) => e.type === 'resync')
        .map((e) => e.prefix)
        .sort(),
    ).toEqual(['/p/', '/q/']);
    // With the store answering, a new prefix is read from it, not from the cache.
    await inner.put('/r/a', 'store');
    await sub.add('/r/');
    expect(events.at(-1)).toMatchObject({ type: 'snapshot', prefix: '/r/', kvs: [{ key: '/r/a' }] });
    expect(events.at(-1)).not.toHaveProperty('cached');
    await sub.close();
  });

  it('with nothing cached, add() still resolves and the snapshot comes when the store answers', async () => {
    const inner = createMemoryStore();
    const store = flaky(inner);
    store.down = true;
    const sub = new PrefixSubscription(store, { retryMs: 10, retryMaxMs: 20, background: true });
    const events: SubscriptionEvent[] = [];
    sub.on('event', (e: SubscriptionEvent) => events.push(e));
    await sub.add('/q/');
    expect(sub.loaded()).toBe(false);
    let loaded = false;
    void sub.whenLoaded().then(() => (loaded = true));
    await new Promise((r) => setTimeout(r, 50));
    expect(loaded).toBe(false);
    store.down = false;
    await until('the first snapshot', () => loaded);
    expect(events[0]).toMatchObject({ type: 'snapshot', prefix: '/q/' });
    await sub.close();
  });
});

describe('ChassisRegistration', () => {
  const doc = () => ({ name: 'hv1', tunnelIp: '192.0.2.1', encaps: ['vxlan'], version: 't' });

  it('registers, registers again when the key is deleted or the lease lost, and retries once the store answers', async () => {
    const inner = createMemoryStore({ leaseCheckMs: 10 });
    const store = flaky(inner);
    const failures: unknown[] = [];
    const reg = new ChassisRegistration(store, doc, 1, silentLogger, (e) => failures.push(e));
    await reg.ensure('start');
    const first = reg.leaseId!;
    expect((await inner.get(chassisKey('hv1')))?.lease).toBe(first);
    await inner.delete(chassisKey('hv1'));
    await reg.verify();
    expect((await inner.get(chassisKey('hv1')))?.lease).toBe(first); // same live lease, key written again
    // The lease vanishes behind the agent's back (expired during an outage): its keep-alive reports it lost.
    await (inner as unknown as { engine: { revokeLease(id: string): Promise<void> } }).engine.revokeLease(first);
    await until(
      'a new lease after the old was lost',
      async () => (await inner.get(chassisKey('hv1')))?.lease !== undefined && reg.leaseId !== first,
    );
    store.down = true;
    await inner.delete(chassisKey('hv1'));
    await reg.ensure('key gone');
    expect(failures.length).toBeGreaterThan(0);
    expect(reg.lastError).toMatch(/unreachable/);
    store.down = false;
    await reg.verify();
    expect(await inner.get(chassisKey('hv1'))).toBeDefined();
    await reg.stop({ withdraw: true });
    expect(await inner.get(chassisKey('hv1'))).toBeUndefined();
  });

  it('with a presence TTL longer than the TTL: the chassis key on a lease of its own, the roles on the short one', async () => {
    const inner = createMemoryStore({ leaseCheckMs: 10 });
    const engine = (inner as unknown as { engine: { revokeLease(id: string): Promise<void> } }).engine;
    const reg = new ChassisRegistration(inner, doc, 2, silentLogger, () => undefined, { probeKeepsAlive: true, presenceTtlSeconds: 30 });
    await reg.ensure('start');
    const roles = reg.leaseId!;
    const presence = reg.chassisLeaseId!;
    expect(roles).not.toBe(presence);
    expect((await inner.get(chassisKey('hv1')))?.lease).toBe(presence);
    // The roles' lease lapses (a partition longer than the TTL): a new one is taken; the chassis key never moves.
    await engine.revokeLease(roles);
    await reg.probe();
    await until('a new roles lease', () => reg.leaseId !== undefined && reg.leaseId !== roles);
    expect(reg.chassisLeaseId).toBe(presence);
    expect((await inner.get(chassisKey('hv1')))?.lease).toBe(presence);
    // The presence lease lapses too (a partition longer than the presence TTL): the key goes onto a new one.
    await engine.revokeLease(presence);
    await until('the key back on a new presence lease', async () => {
      await reg.probe();
      const kv = await inner.get(chassisKey('hv1'));
      return kv?.lease !== undefined && kv.lease !== presence && kv.lease === reg.chassisLeaseId;
    });
    // A decommission revokes both.
    const [r, p] = [reg.leaseId!, reg.chassisLeaseId!];
    await reg.stop({ withdraw: true });
    expect(await inner.get(chassisKey('hv1'))).toBeUndefined();
    await expect(inner.put('/x', 'y', { lease: r })).rejects.toThrow();
    await expect(inner.put('/x', 'y', { lease: p })).rejects.toThrow();
  });

  it('a presence TTL equal to the TTL (or unset) keeps one lease for both', async () => {
    const inner = createMemoryStore();
    for (const presenceTtlSeconds of [undefined, 5]) {
      const reg = new ChassisRegistration(inner, doc, 5, silentLogger, () => undefined, {
        probeKeepsAlive: true,
        ...(presenceTtlSeconds ? { presenceTtlSeconds } : {}),
      });
      await reg.ensure('start');
      expect(reg.chassisLeaseId).toBe(reg.leaseId);
      expect((await inner.get(chassisKey('hv1')))?.lease).toBe(reg.leaseId);
      await reg.stop({ withdraw: true });
    }
  });

  it('the store vouches for the lease while a keep-alive answered within 3/4 of the TTL (gateway fencing reads it)', async () => {
    const reg = new ChassisRegistration(createMemoryStore(), doc, 2, silentLogger, () => undefined, { probeKeepsAlive: true });
    expect(reg.leaseConfirmed()).toBe(false); // no lease yet
    await reg.ensure('start');
    // A monotonic clock (performance.now()): a wall-clock step changes nothing.
    const t0 = performance.now();
    expect(reg.leaseConfirmed(t0)).toBe(true);
    expect(reg.leaseConfirmed(t0 + 1_300)).toBe(true); // one probe (TTL/3) late: still
    expect(reg.leaseConfirmed(t0 + 1_600)).toBe(false); // past 3/4 of the TTL with no answer
    await reg.probe();
    expect(reg.leaseConfirmed(performance.now() + 1_300)).toBe(true);
    await reg.stop({ withdraw: false });
  });

  it("a read without the key counts as its loss only if made after the key's last write, and never during a write", async () => {
    const store = createMemoryStore();
    const reg = new ChassisRegistration(store, doc, 30, silentLogger, () => undefined);
    const before = (await store.range('/')).revision;
    const writing = reg.ensure('start');
    // The start's watch reads beside the registration: its read, whatever its revision, is no news meanwhile.
    expect(reg.goneAt(before)).toBe(false);
    expect(reg.goneAt(before + 100)).toBe(false);
    await writing;
    const written = (await store.get(chassisKey('hv1')))!.modRevision;
    expect(reg.goneAt(before)).toBe(false); // read before the key was written: stale
    expect(reg.goneAt(written - 1)).toBe(false);
    expect(reg.goneAt(written)).toBe(true);
    expect(reg.goneAt(await store.delete(chassisKey('hv1')))).toBe(true); // a deletion after the write is the key's loss
    await reg.stop({ withdraw: true });
  });

  it('a running agent does not undo a decommission: it stays retired; a new start commissions again', async () => {
    const store = createMemoryStore();
    const reg = new ChassisRegistration(store, doc, 30, silentLogger, () => undefined);
    await reg.ensure('start');
    await deleteChassis(store, 'hv1', { force: true });
    await reg.ensure('chassis key gone');
    expect(reg.retired).toBeDefined();
    expect(await store.get(chassisKey('hv1'))).toBeUndefined();
    const restarted = new ChassisRegistration(store, doc, 30, silentLogger, () => undefined);
    await restarted.ensure('start');
    expect(restarted.retired).toBeUndefined();
    expect(await store.get(chassisKey('hv1'))).toBeDefined();
  });
});

/** A memory store holding network n with port vm1, and hv1's empty view. */
async function oneVm() {
  const inner = createMemoryStore();
  const topo = new Topology(inner);
  const net = (await topo.createNetwork({ name: 'n' })) as { id: string };
  const port = (await topo.createPort({ name: 'vm1', network: 'n' })) as { id: string };
  return { inner, net, port, view: new TopologyView('hv1', 'vxlan') };
}

describe('BindingManager during an outage', () => {
  it('while the store health says the store is down, a binding is not even tried: no wait for a deadline; written when it is back', async () => {
    const { inner, net, port, view } = await oneVm();
    const { sub, sync } = followStore(view, inner);
    let down = true;
    let txns = 0;
    // A store that would hang: any write tried while it is down fails the test.
    const store = Object.assign(Object.create(inner) as Store, {
      txn: (...a: Parameters<Store['txn']>) => (down ? Promise.reject(new Error('tried while down')) : (txns++, inner.txn(...a))),
    });
    const errors: unknown[] = [];
    const bindings = new BindingManager(store, view, sync, sub, silentLogger, {
      onStoreError: (e) => errors.push(e),
      storeDown: () => down,
    });
    await sync.want(net.id, 'seed');
    await bindings.plugged({ name: 'tap1', ofport: 5, ifaceId: 'vm1' });
    expect(bindings.unsyncedPorts()).toEqual(['vm1']);
    expect(errors).toEqual([]);
    down = false;
    await bindings.checkAll();
    expect(txns).toBeGreaterThan(0);
    expect(JSON.parse((await inner.get(bindingKey(net.id, port.id)))!.value).chassis).toBe('hv1');
    expect(bindings.unsyncedPorts()).toEqual([]);
    await sub.close();
  });

  it('a binding that could not be written is written once the store answers; a deletion likewise', async () => {
    const { inner, net, port, view } = await oneVm();
    const store = flaky(inner);
    const { sub, sync } = followStore(view, store);
    const errors: unknown[] = [];
    const bindings = new BindingManager(store, view, sync, sub, silentLogger, { onStoreError: (e) => errors.push(e) });
    await sync.want(net.id, 'seed'); // the network is in the view (as from the cache)
    store.down = true;
    await bindings.plugged({ name: 'tap1', ofport: 5, ifaceId: 'vm1' });
    expect(bindings.unsyncedPorts()).toEqual(['vm1']);
    expect(bindings.boundPorts()).toEqual([]);
    expect(errors.length).toBeGreaterThan(0);
    expect(await inner.get(bindingKey(net.id, port.id))).toBeUndefined();
    store.down = false;
    await bindings.checkAll();
    expect(JSON.parse((await inner.get(bindingKey(net.id, port.id)))!.value).chassis).toBe('hv1');
    expect(bindings.boundPorts().map((p) => p.name)).toEqual(['vm1']);
    // Unplugged during an outage: the binding goes once the store answers.
    store.down = true;
    await bindings.unplugged({ name: 'tap1', ofport: 5, ifaceId: 'vm1' });
    expect(bindings.pendingWrites).toBe(true);
    store.down = false;
    await bindings.retryUnsynced();
    expect(await inner.get(bindingKey(net.id, port.id))).toBeUndefined();
    expect(bindings.pendingWrites).toBe(false);
    await sub.close();
  });
});

describe('StoreHealth', () => {
  it('reports one outage (down), its end (up) and ticks while connected', async () => {
    let ok = true;
    const health = new StoreHealth(() => (ok ? Promise.resolve() : Promise.reject(new Error('refused'))), silentLogger, {
      intervalMs: 10,
      retryMinMs: 5,
      retryMaxMs: 10,
    });
    const seen: string[] = [];
    for (const e of ['up', 'down']) health.on(e, () => seen.push(e));
    let ticks = 0;
    health.on('tick', () => ticks++);
    await health.start();
    await until('ticks', () => ticks >= 2);
    ok = false;
    health.report(new Error('a write failed'));
    await until('down', () => !health.isConnected);
    expect(health.describe()).toMatchObject({ state: 'disconnected', lastError: 'refused' });
    await new Promise((r) => setTimeout(r, 50));
    ok = true;
    await until('up', () => health.isConnected);
    health.stop();
    expect(seen).toEqual(['down', 'up']);
  });
});
