/**
 * Issue 17's two agent-side scale fixes, unit by unit over the memory store: one-key watches (a chassis's key, not
 * the names it prefixes), which chassis a view names (ChassisReach), the sync's chassis records following that
 * interest (elections wait while one is read; a dropped one leaves the view), and the store probe that is the
 * lease's keep-alive (no read) yet still re-registers on a lost lease or a key on a foreign lease.
 */
import { describe, expect, it } from 'vitest';
import { ChassisRegistration } from '../../src/agent/chassis-registration.js';
import { chassisKey } from '../../src/model/keys.js';
import { createMemoryStore } from '../../src/store/memory.js';
import { PrefixSubscription, type SubscriptionEvent } from '../../src/store/subscription.js';
import type { Store } from '../../src/store/types.js';
import { silentLogger } from '../../src/util/log.js';
import { chassisOfInterest } from '../../src/view/chassis-reach.js';
import type { ViewChange } from '../../src/view/topology-sync.js';
import { TopologyView } from '../../src/view/topology-view.js';
import { followStore } from '../helpers/follow-store.js';

const until = async (what: string, f: () => boolean | Promise<boolean>, ms = 3000) => {
  const t0 = Date.now();
  while (!(await f())) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
};
const doc = (name: string, ip = '192.0.2.9') => JSON.stringify({ name, tunnelIp: ip, encaps: ['vxlan'], version: 't' });

describe('one-key subscription entries', () => {
  it('carry their key only: a longer key under the same prefix is dropped and counted', async () => {
    const s = createMemoryStore();
    await s.put(chassisKey('hv1'), doc('hv1'));
    await s.put(chassisKey('hv10'), doc('hv10'));
    const events: SubscriptionEvent[] = [];
    const sub = new PrefixSubscription(s, { onEvent: (e) => events.push(e) });
    await sub.add(chassisKey('hv1'), { exact: true });
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ type: 'snapshot', kvs: [{ key: chassisKey('hv1') }] });
    await s.put(chassisKey('hv10'), doc('hv10', '192.0.2.10'));
    await s.delete(chassisKey('hv11'));
    await s.put(chassisKey('hv1'), doc('hv1', '192.0.2.1'));
    await until('hv1 put', () => events.length === 2);
    expect(events[1]).toMatchObject({ type: 'put', kv: { key: chassisKey('hv1') } });
    expect(sub.foreignEvents).toBe(1);
    await sub.close();
  });
});

describe('chassisOfInterest', () => {
  it('names the hosts of watched networks, lease holders and fellow candidates, never the rest', () => {
    const v = new TopologyView('me', ['vxlan']);
    const net = { id: 'n1', name: 'n1', tunnelKey: 1, mtu: 1500, centers: ['pref'] };
    const port = (id: string) => ({ port: { id, name: id } as never, binding: { chassis: `host-${id}` } as never });
    v.networks.set('n1', {
      network: net,
      subnets: new Map(),
      ports: new Map([
        ['a', port('a')],
        ['b', port('b')],
      ]),
    });
    v.gateways.set('r1', { routerId: 'r1', chassis: 'gw', since: 't' });
    v.centers.set('n9', { networkId: 'n9', chassis: 'center', since: 't' });
    v.siteGateways.set('east', { site: 'east', chassis: 'east-gw', since: 't' });
    v.routers.set('r1', { id: 'r1', gateway: { chassis: ['me', 'gw2'] } } as never);
    v.routers.set('r2', { id: 'r2', gateway: { chassis: ['other-gw'] } } as never);
    v.sites.set('default', { name: 'default', gatewayCandidates: ['sg1', 'me'] });
    v.sites.set('west', { name: 'west', gatewayCandidates: ['west-c'] });
    expect([...chassisOfInterest(v)].sort()).toEqual(['center', 'east-gw', 'gw', 'gw2', 'host-a', 'host-b', 'me', 'pref', 'sg1']);
  });
});

describe('TopologySync chassis records (lazy)', () => {
  it('reads a wanted chassis (elections wait meanwhile), follows it, and forgets it when unwanted', async () => {
    const s = createMemoryStore();
    await s.put(chassisKey('me'), doc('me'));
    await s.put(chassisKey('peer'), doc('peer', '192.0.2.2'));
    await s.put(chassisKey('peer2'), doc('peer2'));
    await s.put(chassisKey('stranger'), doc('stranger'));
    const view = new TopologyView('me', ['vxlan']);
    const { sub, sync } = followStore(view, s);
    const changes: ViewChange[] = [];
    sync.on('change', (c: ViewChange) => changes.push(c));
    await sync.start();
    // Not the chassis list: its own key only.
    expect(sub.prefixes().filter((p) => p.startsWith('/wyvern/v1/chassis/'))).toEqual([chassisKey('me')]);
    await until('own record', () => view.chassis.has('me'));
    expect(sync.chassisSettled).toBe(true);
    const p = sync.wantChassis('peer');
    expect(sync.chassisSettled).toBe(false); // recorded at once: an election must not read "peer" as dead
    await p;
    expect(sync.chassisSettled).toBe(true);
    expect(view.chassis.get('peer')?.tunnelIp).toBe('192.0.2.2');
    expect([...view.chassis.keys()].sort()).toEqual(['me', 'peer']);
    // A wanted chassis that is not registered: settled all the same, and it changes the elections' inputs.
    changes.length = 0;
    await sync.wantChassis('ghost');
    expect(sync.chassisSettled).toBe(true);
    expect(changes.some((c) => c.chassis === 'ghost')).toBe(true);
    // Followed: its deletion is seen; an unwanted one's writes never enter.
    await s.delete(chassisKey('peer'));
    await until('peer gone', () => !view.chassis.has('peer'));
    await s.put(chassisKey('peer'), doc('peer', '192.0.2.22'));
    await until('peer back', () => view.chassis.get('peer')?.tunnelIp === '192.0.2.22');
    sync.applyPut(chassisKey('stranger'), doc('stranger'));
    expect(view.chassis.has('stranger')).toBe(false);
    // peer2 (a name peer prefixes) wanted too: a resync of peer's one key leaves peer2's record alone.
    await sync.wantChassis('peer2');
    sync.applySnapshot(chassisKey('peer'), [(await s.get(chassisKey('peer')))!]);
    expect(view.chassis.has('peer2')).toBe(true);
    await sync.unwantChassis('peer2');
    // Unwanted: the watch goes and so does the record (no stale peer).
    changes.length = 0;
    await sync.unwantChassis('peer');
    expect(view.chassis.has('peer')).toBe(false);
    expect(sub.prefixes()).not.toContain(chassisKey('peer'));
    expect(changes.some((c) => c.chassis === 'peer')).toBe(true);
    await sub.close();
  });
});

describe('ChassisRegistration.probe (the lease keep-alive is the store probe)', () => {
  it('keeps the lease alive without reading, re-registers on a lost lease and on a key on a foreign lease', async () => {
    const inner = createMemoryStore({ leaseCheckMs: 10 });
    let reads = 0;
    const store = new Proxy(inner, {
      get(t, k, r) {
        if (k === 'get' || k === 'range' || k === 'read') reads++;
        return Reflect.get(t, k, r);
      },
    }) as Store;
    const reg = new ChassisRegistration(
      store,
      () => JSON.parse(doc('hv1')),
      1,
      silentLogger,
      () => undefined,
      { probeKeepsAlive: true },
    );
    expect(reg.probeIntervalMs(2000)).toBeCloseTo(333, 0);
    // Before registering, the probe reads the key (nothing to keep alive).
    expect(await reg.probe()).toBeNull();
    await reg.ensure('start');
    const first = reg.leaseId!;
    reads = 0;
    // No background keep-alive: only the probe's keep-alives hold the 1 s lease, over 2 s.
    for (let i = 0; i < 7; i++) {
      expect(await reg.probe()).toBe('alive');
      await new Promise((r) => setTimeout(r, 300));
    }
    expect((await inner.get(chassisKey('hv1')))?.lease).toBe(first);
    expect(reads).toBe(0);
    // The lease vanishes behind the agent's back: the probe still says the store answers, and registers anew.
    await (inner as unknown as { engine: { revokeLease(id: string): Promise<void> } }).engine.revokeLease(first);
    expect(await reg.probe()).toBe('alive');
    await until(
      'a new lease',
      async () => reg.leaseId !== undefined && reg.leaseId !== first && (await inner.get(chassisKey('hv1'))) !== undefined,
    );
    // The key seen (through the watch) on a lease not ours: written again on ours.
    const second = reg.leaseId!;
    const foreign = await inner.grantLease(30);
    await inner.put(chassisKey('hv1'), doc('hv1'), { lease: foreign.id });
    reg.observe((await inner.get(chassisKey('hv1')))!);
    await until('key back on our lease', async () => (await inner.get(chassisKey('hv1')))?.lease === second);
    // Without a lease the store is never kept alive by itself: a stopped probe lets the key lapse.
    await new Promise((r) => setTimeout(r, 1500));
    expect(await inner.get(chassisKey('hv1'))).toBeUndefined();
    await foreign.revoke();
    await reg.stop();
  });
});
