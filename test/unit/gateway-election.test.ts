/**
 * Gateway chassis election (issue 14) on the memory store with an injected clock and timers: the highest-priority
 * live candidate takes the key on its lease, lower ranks back off, a crash frees it at lease expiry, a planned
 * restart keeps it (moved onto the new lease), no preemption, release when no longer a candidate.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { GatewayElection, type ElectionTimers } from '../../src/agent/gateway-election.js';
import { Election } from '../../src/agent/election.js';
import { centerRaces, gatewayRaces, rankCenters, siteGatewayRaces } from '../../src/agent/races.js';
import { centerKey, gatewayKey, siteGatewayKey } from '../../src/model/keys.js';
import type { Network, Router } from '../../src/model/types.js';
import { createMemoryStore, type MemoryStore } from '../../src/store/index.js';
import type { Lease, Store } from '../../src/store/types.js';
import { TopologyView } from '../../src/view/topology-view.js';
import pino from 'pino';

const R1 = '11111111-1111-4111-8111-111111111111';
const logger = pino({ level: process.env.GW_LOG ?? 'silent' });
let now = 1_000_000;
let store: MemoryStore;

class ManualTimers implements ElectionTimers {
  private seq = 0;
  readonly pending = new Map<number, { at: number; fn: () => void }>();
  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.seq;
    this.pending.set(id, { at: now + ms, fn });
    return id;
  }
  clearTimeout(h: unknown): void {
    this.pending.delete(h as number);
  }
  now(): number {
    return now;
  }
  /** Advances the clock, firing due timers. */
  advance(ms: number): void {
    now += ms;
    for (const [id, t] of [...this.pending])
      if (t.at <= now) {
        this.pending.delete(id);
        t.fn();
      }
  }
}

const router = (chassis: string[] | undefined): Router => ({
  id: R1,
  name: 'r1',
  routerKey: 7,
  mac: '02:aa:00:00:00:01',
  mode: 'proactive',
  interfaces: [],
  routes: [],
  ...(chassis ? { gateway: { networkId: 'ext', subnetId: 'ext-s', ip: '203.0.113.10', mac: '02:ee:00:00:00:01', chassis } } : {}),
});

/** The gateway's provider network `ext` on physnet1, as a view holds it. */
const extNetwork = () => ({
  network: { id: R1, name: 'ext', tunnelKey: 9, mtu: 1500, provider: { physnet: 'physnet1' } },
  subnets: new Map(),
  ports: new Map(),
});

interface Member {
  name: string;
  session: Store;
  lease: Lease;
  view: TopologyView;
  election: GatewayElection;
  timers: ManualTimers;
}

const members: Member[] = [];

async function member(name: string, chassis: string[], live: string[], standDown?: () => string | undefined): Promise<Member> {
  const session = store.connect();
  const lease = await session.grantLease(10, { keepAlive: false });
  const view = new TopologyView(name, 'vxlan');
  view.routers.set(R1, router(chassis));
  for (const c of live) view.chassis.set(c, { name: c, tunnelIp: '172.31.9.1', encaps: ['vxlan'], version: 't' });
  const timers = new ManualTimers();
  const election = new GatewayElection({
    store: session,
    view,
    leaseId: () => lease.id,
    logger,
    timers,
    backoffMs: 500,
    ...(standDown ? { standDown } : {}),
  });
  const m = { name, session, lease, view, election, timers };
  members.push(m);
  return m;
}

async function holder(): Promise<{ chassis: string; lease: string | undefined } | undefined> {
  const kv = await store.get(gatewayKey(R1));
  return kv && { chassis: (JSON.parse(kv.value) as { chassis: string }).chassis, lease: kv.lease };
}

/** Lets async work started by timers finish. */
const settle = () => new Promise((r) => setTimeout(r, 5));

/**
 * hv1 (a), holding the key, becomes unfit by `goDown` with its lease alive: it releases at once; hv2 (b, rank 1, hv1
 * still looking live) takes it after its backoff; while down hv1 takes nothing, even first in rank with the key gone;
 * fit again by `comeBack`, it is a candidate again, non-preemptive: hv2 keeps it.
 */
async function standsDownAndBack(a: Member, b: Member, goDown: () => void, comeBack: () => void): Promise<void> {
  goDown();
  await a.election.reconcile();
  expect(await holder()).toBeUndefined();
  expect(a.election.activeRouters()).toEqual([]);
  await b.election.reconcile();
  b.timers.advance(500);
  await settle();
  expect(await holder()).toEqual({ chassis: 'hv2', lease: b.lease.id });
  await store.delete(gatewayKey(R1));
  await a.election.reconcile();
  a.timers.advance(5_000);
  await settle();
  expect(await holder()).toBeUndefined();
  await b.election.reconcile();
  b.timers.advance(500);
  await settle();
  expect(await holder()).toEqual({ chassis: 'hv2', lease: b.lease.id });
  comeBack();
  await a.election.reconcile();
  expect(await holder()).toEqual({ chassis: 'hv2', lease: b.lease.id });
  expect(a.election.activeRouters()).toEqual([]);
}

beforeEach(() => {
  store = createMemoryStore({ clock: { now: () => now }, leaseCheckMs: 0 });
});
afterEach(async () => {
  for (const m of members.splice(0)) await m.election.stop();
  await store.close();
});

describe('gateway election', () => {
  it('only a chassis reaching the gateway physnet takes part: a candidate without its patch port waits, peers without it are skipped', async () => {
    const ext = extNetwork();
    const a = await member('hv1', ['hv1', 'hv2'], ['hv1', 'hv2']);
    const b = await member('hv2', ['hv1', 'hv2'], ['hv1', 'hv2']);
    for (const m of [a, b]) m.view.networks.set('ext', ext);
    // hv1 has no patch port for physnet1 yet: it does not take the gateway.
    await a.election.reconcile();
    expect(await holder()).toBeUndefined();
    // hv2 has it, and hv1 does not publish physnet1: hv2 is the first eligible live candidate.
    b.view.physnetOfports.set('physnet1', 5);
    await b.election.reconcile();
    expect(await holder()).toEqual({ chassis: 'hv2', lease: b.lease.id });
    // hv1 gets its patch port: no preemption.
    a.view.physnetOfports.set('physnet1', 5);
    await a.election.reconcile();
    expect(await holder()).toEqual({ chassis: 'hv2', lease: b.lease.id });
  });

  it("a holder whose physnet's uplinks are all down releases the gateway at once and takes none; back up, no preemption", async () => {
    const ext = extNetwork();
    const live = ['hv1', 'hv2'];
    const a = await member('hv1', live, live);
    const b = await member('hv2', live, live);
    for (const m of [a, b]) {
      m.view.networks.set('ext', ext);
      m.view.physnetOfports.set('physnet1', 5);
      for (const c of live) m.view.chassis.set(c, { ...m.view.chassis.get(c)!, physnets: ['physnet1'] });
    }
    await a.election.reconcile();
    expect(await holder()).toEqual({ chassis: 'hv1', lease: a.lease.id });
    // hv1's uplink cable is pulled: its agent, lease and datapath are fine.
    await standsDownAndBack(
      a,
      b,
      () => a.view.physnetsDown.add('physnet1'),
      () => a.view.physnetsDown.delete('physnet1'),
    );
  });

  it('a peer that publishes its uplink down (chassis record uplinksDown) is not ranked: the next candidate takes the key at once', async () => {
    const ext = extNetwork();
    const live = ['hv1', 'hv2'];
    const b = await member('hv2', live, live);
    b.view.networks.set('ext', ext);
    b.view.physnetOfports.set('physnet1', 5);
    for (const c of live) b.view.chassis.set(c, { ...b.view.chassis.get(c)!, physnets: ['physnet1'] });
    b.view.chassis.set('hv1', { ...b.view.chassis.get('hv1')!, uplinksDown: ['physnet1'] });
    // hv1 ranks first but says its uplink is dead: hv2 is the first candidate, no backoff.
    await b.election.reconcile();
    expect(await holder()).toEqual({ chassis: 'hv2', lease: b.lease.id });
    expect(b.timers.pending.size).toBe(0);
  });

  it('the highest-priority live candidate takes the key on its lease; the next one backs off and finds it taken', async () => {
    const a = await member('hv1', ['hv1', 'hv2'], ['hv1', 'hv2']);
    const b = await member('hv2', ['hv1', 'hv2'], ['hv1', 'hv2']);
    await b.election.reconcile();
    expect(await holder()).toBeUndefined(); // hv2 is rank 1: it waits
    expect(b.timers.pending.size).toBe(1);
    await a.election.reconcile();
    expect(await holder()).toEqual({ chassis: 'hv1', lease: a.lease.id });
    expect(a.election.activeRouters()).toEqual([R1]);
    b.timers.advance(500);
    await settle();
    expect(await holder()).toEqual({ chassis: 'hv1', lease: a.lease.id });
  });

  it('a dead higher-ranked candidate does not block: a live lower one takes it at once, or after its backoff if the dead one still looks live', async () => {
    // hv1 is listed first but not live (no chassis key): hv2 is rank 0 among live candidates.
    const b = await member('hv2', ['hv1', 'hv2'], ['hv2']);
    await b.election.reconcile();
    expect(await holder()).toEqual({ chassis: 'hv2', lease: b.lease.id });
    await store.delete(gatewayKey(R1));
    // hv1 still looks live to hv3 (its chassis key not yet gone): hv3 waits its backoff, then takes it.
    const c = await member('hv3', ['hv1', 'hv3'], ['hv1', 'hv3']);
    await c.election.reconcile();
    expect(await holder()).toBeUndefined();
    c.timers.advance(499);
    await settle();
    expect(await holder()).toBeUndefined();
    c.timers.advance(1);
    await settle();
    expect(await holder()).toEqual({ chassis: 'hv3', lease: c.lease.id });
  });

  it('a crash frees the key when the lease expires and the standby takes it; the recovered chassis does not preempt', async () => {
    const a = await member('hv1', ['hv1', 'hv2'], ['hv1', 'hv2']);
    const b = await member('hv2', ['hv1', 'hv2'], ['hv1', 'hv2']);
    await a.election.reconcile();
    await b.election.reconcile();
    // hv1 crashes: no keep-alive, the lease expires after its TTL (its chassis key goes with it).
    await a.election.stop();
    now += 10_001;
    await b.lease.keepAliveOnce();
    await store.expireLeases();
    expect(await holder()).toBeUndefined();
    b.view.chassis.delete('hv1');
    await b.election.reconcile();
    expect(await holder()).toEqual({ chassis: 'hv2', lease: b.lease.id });
    // hv1 comes back with a new lease: hv2 keeps the gateway (no preemption, no second outage).
    const a2 = await member('hv1', ['hv1', 'hv2'], ['hv1', 'hv2']);
    await a2.election.reconcile();
    expect(await holder()).toEqual({ chassis: 'hv2', lease: b.lease.id });
    expect(a2.election.activeRouters()).toEqual([]);
  });

  it('a holder whose datapath is down stands down at once (lease still alive); the standby takes over; back up, no preemption', async () => {
    let down: string | undefined;
    const a = await member('hv1', ['hv1', 'hv2'], ['hv1', 'hv2'], () => down);
    const b = await member('hv2', ['hv1', 'hv2'], ['hv1', 'hv2']);
    await a.election.reconcile();
    await b.election.reconcile();
    expect(await holder()).toEqual({ chassis: 'hv1', lease: a.lease.id });
    // ovs-vswitchd dies on hv1; its agent and lease live on.
    await standsDownAndBack(
      a,
      b,
      () => (down = 'OpenFlow session down for 3000 ms'),
      () => (down = undefined),
    );
  });

  it('a planned restart keeps the key: the new agent moves it onto its new lease before the old one expires', async () => {
    const a = await member('hv1', ['hv1', 'hv2'], ['hv1', 'hv2']);
    const b = await member('hv2', ['hv1', 'hv2'], ['hv1', 'hv2']);
    await a.election.reconcile();
    const rev = (await store.get(gatewayKey(R1)))!.createRevision;
    await a.election.stop(); // SIGTERM: the lease is left to expire, not revoked
    const a2 = await member('hv1', ['hv1', 'hv2'], ['hv1', 'hv2']);
    await a2.election.reconcile();
    expect(a2.election.lastError).toBeUndefined();
    expect(await holder()).toEqual({ chassis: 'hv1', lease: a2.lease.id });
    now += 10_001;
    await a2.lease.keepAliveOnce();
    await store.expireLeases(); // the old lease expires: the key is on the new one now
    expect(await holder()).toEqual({ chassis: 'hv1', lease: a2.lease.id });
    // Never deleted in between: the same key history (created once).
    expect((await store.get(gatewayKey(R1)))!.createRevision).toBe(rev);
    await b.election.reconcile();
    expect(await holder()).toEqual({ chassis: 'hv1', lease: a2.lease.id });
  });

  it('a chassis removed from the candidates, or the gateway cleared, releases the key to the next candidate', async () => {
    const a = await member('hv1', ['hv1', 'hv2'], ['hv1', 'hv2']);
    const b = await member('hv2', ['hv1', 'hv2'], ['hv1', 'hv2']);
    await a.election.reconcile();
    for (const m of [a, b]) m.view.routers.set(R1, router(['hv2']));
    await b.election.reconcile();
    expect(await holder()).toEqual({ chassis: 'hv1', lease: a.lease.id }); // hv1 releases, not hv2 taking
    await a.election.reconcile();
    expect(await holder()).toBeUndefined();
    expect(a.election.activeRouters()).toEqual([]);
    await b.election.reconcile();
    expect(await holder()).toEqual({ chassis: 'hv2', lease: b.lease.id });
    for (const m of [a, b]) m.view.routers.set(R1, router(undefined));
    await b.election.reconcile();
    expect(await holder()).toBeUndefined();
    // A deleted router too.
    for (const m of [a, b]) m.view.routers.set(R1, router(['hv1']));
    await a.election.reconcile();
    expect(await holder()).toEqual({ chassis: 'hv1', lease: a.lease.id });
    a.view.routers.delete(R1);
    await a.election.reconcile();
    expect(await holder()).toBeUndefined();
  });
});

/*
 * The same Election runs star centers and site gateways (issue 16): only the candidates differ.
 */
const N1 = '21111111-1111-4111-8111-111111111111';

const starNet = (topology: 'star' | 'mesh', hosts: string[], centers?: string[]) => ({
  network: {
    id: N1,
    name: 'n1',
    tunnelKey: 5,
    mtu: 1450,
    ...(topology === 'star' ? { topology } : {}),
    ...(centers ? { centers } : {}),
  } as Network,
  subnets: new Map(),
  ports: new Map(
    hosts.map((h, i) => {
      const id = `2222222${i}-1111-4111-8111-111111111111`;
      return [
        id,
        {
          port: {
            id,
            name: `p${i}`,
            networkId: N1,
            mac: '02:00:00:00:00:01',
            fixedIps: [],
            portSecurity: false,
            allowedAddressPairs: [],
            portKey: i + 1,
            securityGroups: [],
          },
          binding: { chassis: h, updatedAt: 't' },
        },
      ];
    }),
  ),
});

interface AnyMember {
  name: string;
  session: Store;
  lease: Lease;
  view: TopologyView;
  election: Election;
  timers: ManualTimers;
}
const anyMembers: AnyMember[] = [];
afterEach(async () => {
  for (const m of anyMembers.splice(0)) await m.election.stop();
});

async function starMember(
  name: string,
  hosts: string[],
  live: string[],
  centers?: string[],
  site = 'default',
  enabled?: () => boolean,
): Promise<AnyMember> {
  const session = store.connect();
  const lease = await session.grantLease(10, { keepAlive: false });
  const view = new TopologyView(name, 'vxlan');
  view.site = site;
  view.networks.set(N1, starNet('star', hosts, centers));
  for (const c of live) view.chassis.set(c, { name: c, tunnelIp: '172.31.9.1', encaps: ['vxlan'], version: 't', site });
  const timers = new ManualTimers();
  const election = new Election({
    store: session,
    chassis: name,
    kinds: [gatewayRaces(view), centerRaces(view, enabled), siteGatewayRaces(view, enabled)],
    leaseId: () => lease.id,
    logger,
    timers,
    backoffMs: 500,
  });
  const m = { name, session, lease, view, election, timers };
  anyMembers.push(m);
  return m;
}

async function holderOf(key: string): Promise<string | undefined> {
  const kv = await store.get(key);
  return kv && (JSON.parse(kv.value) as { chassis: string }).chassis;
}

describe('star center election (the same Election)', () => {
  it('ranks live hosting chassis: the live preferred ones first (hosting or not yet), then the rest by name; dead ones out', () => {
    const view = new TopologyView('hv1', 'vxlan');
    for (const c of ['hv1', 'hv2', 'hv3', 'hv4']) view.chassis.set(c, { name: c, tunnelIp: '1.1.1.1', encaps: ['vxlan'], version: 't' });
    expect(rankCenters(view, starNet('star', ['hv4', 'hv2', 'hv3', 'hv1']))).toEqual(['hv1', 'hv2', 'hv3', 'hv4']);
    expect(rankCenters(view, starNet('star', ['hv4', 'hv2', 'hv3', 'hv1'], ['hv3', 'hv9', 'hv2']))).toEqual(['hv3', 'hv2', 'hv1', 'hv4']);
    view.chassis.delete('hv3');
    expect(rankCenters(view, starNet('star', ['hv4', 'hv2', 'hv3'], ['hv3']))).toEqual(['hv2', 'hv4']);
    // hv4 preferred, live, no port bound yet: it ranks first, so hosting hv1 waits its backoff (a grace for hv4).
    expect(rankCenters(view, starNet('star', ['hv1', 'hv2'], ['hv4']))).toEqual(['hv4', 'hv1', 'hv2']);
  });

  it('a live preferred chassis not hosting yet never takes the center itself; a hosting one takes it after its backoff', async () => {
    const a = await starMember('hv1', ['hv1'], ['hv1', 'hv2'], ['hv2']);
    const b = await starMember('hv2', ['hv1'], ['hv1', 'hv2'], ['hv2']);
    await b.election.reconcile();
    await a.election.reconcile();
    expect(await holderOf(centerKey(N1))).toBeUndefined();
    a.timers.advance(500);
    await settle();
    expect(await holderOf(centerKey(N1))).toBe('hv1');
  });

  it('the first ranked host takes the center; the next backs off; crash → the next takes it; no preemption on return', async () => {
    const hosts = ['hv1', 'hv2', 'hv3'];
    const a = await starMember('hv1', hosts, hosts);
    const b = await starMember('hv2', hosts, hosts);
    await b.election.reconcile();
    expect(await holderOf(centerKey(N1))).toBeUndefined();
    expect(b.timers.pending.size).toBe(1);
    await a.election.reconcile();
    expect(await holderOf(centerKey(N1))).toBe('hv1');
    expect(a.election.active('center')).toEqual([N1]);
    b.timers.advance(500);
    await settle();
    expect(await holderOf(centerKey(N1))).toBe('hv1');
    // hv1 crashes: its lease expires, hv2 (now first live) takes the center at once.
    await a.election.stop();
    now += 10_001;
    await b.lease.keepAliveOnce();
    await store.expireLeases();
    b.view.chassis.delete('hv1');
    await b.election.reconcile();
    expect(await holderOf(centerKey(N1))).toBe('hv2');
    const a2 = await starMember('hv1', hosts, hosts);
    await a2.election.reconcile();
    expect(await holderOf(centerKey(N1))).toBe('hv2');
  });

  it('the center preference decides; a planned restart keeps the center on the new lease', async () => {
    const hosts = ['hv1', 'hv2', 'hv3'];
    const c = await starMember('hv3', hosts, hosts, ['hv3']);
    await c.election.reconcile();
    expect(await holderOf(centerKey(N1))).toBe('hv3');
    const rev = (await store.get(centerKey(N1)))!.createRevision;
    await c.election.stop();
    const c2 = await starMember('hv3', hosts, hosts, ['hv3']);
    await c2.election.reconcile();
    expect((await store.get(centerKey(N1)))!.lease).toBe(c2.lease.id);
    expect((await store.get(centerKey(N1)))!.createRevision).toBe(rev);
  });

  it('a standby that sees another holder in its view reads nothing on a tick; once the holder is gone it acts', async () => {
    const a = await starMember('hv1', ['hv1', 'hv2'], ['hv1', 'hv2']);
    const b = await starMember('hv2', ['hv1', 'hv2'], ['hv1', 'hv2']);
    await a.election.reconcile();
    b.view.centers.set(N1, { networkId: N1, chassis: 'hv1', since: 't' });
    const range = vi.spyOn(b.session, 'range');
    await b.election.reconcile();
    expect(range).not.toHaveBeenCalled();
    b.view.centers.delete(N1);
    await b.election.reconcile();
    expect(range).toHaveBeenCalled();
  });

  it('a restarting holder whose networks are not loaded yet (not enabled) neither releases nor takes; then keeps it', async () => {
    const a = await starMember('hv1', ['hv1', 'hv2'], ['hv1', 'hv2']);
    await a.election.reconcile();
    const rev = (await store.get(centerKey(N1)))!.createRevision;
    await a.election.stop();
    let ready = false;
    const a2 = await starMember('hv1', ['hv1', 'hv2'], ['hv1', 'hv2'], undefined, 'default', () => ready);
    // Lazy sync has not loaded n1 yet: the view shows the center held here, but no race.
    a2.view.networks.clear();
    a2.view.centers.set(N1, { networkId: N1, chassis: 'hv1', since: 't' });
    await a2.election.reconcile();
    expect((await store.get(centerKey(N1)))!.lease).toBe(a.lease.id);
    ready = true;
    a2.view.networks.set(N1, starNet('star', ['hv1', 'hv2']));
    await a2.election.reconcile();
    const kv = (await store.get(centerKey(N1)))!;
    expect([kv.lease, kv.createRevision]).toEqual([a2.lease.id, rev]);
  });

  it('the last local port leaving releases the center; a switch to mesh releases it; a mesh network has none', async () => {
    const a = await starMember('hv1', ['hv1', 'hv2'], ['hv1', 'hv2']);
    const b = await starMember('hv2', ['hv1', 'hv2'], ['hv1', 'hv2']);
    await a.election.reconcile();
    expect(await holderOf(centerKey(N1))).toBe('hv1');
    // hv1's last port of the network leaves (its binding is gone): it releases, hv2 takes it.
    for (const m of [a, b]) m.view.networks.set(N1, starNet('star', ['hv2']));
    await a.election.reconcile();
    expect(await holderOf(centerKey(N1))).toBeUndefined();
    expect(a.election.active('center')).toEqual([]);
    await b.election.reconcile();
    expect(await holderOf(centerKey(N1))).toBe('hv2');
    // Switched to mesh: the holder deletes the key, nobody takes it.
    for (const m of [a, b]) m.view.networks.set(N1, starNet('mesh', ['hv1', 'hv2']));
    await b.election.reconcile();
    await a.election.reconcile();
    expect(await holderOf(centerKey(N1))).toBeUndefined();
  });
});

describe('site gateway election (the same Election)', () => {
  it("only the site's live candidates registered in that site take part, in the Site record's order", async () => {
    const a = await starMember('hv1', [], ['hv1', 'hv2'], undefined, 'paris');
    const b = await starMember('hv2', [], ['hv1', 'hv2'], undefined, 'paris');
    // No Site record: no gateway (nobody takes part).
    await a.election.reconcile();
    expect(await holderOf(siteGatewayKey('paris'))).toBeUndefined();
    for (const m of [a, b]) m.view.sites.set('paris', { name: 'paris', gatewayCandidates: ['hv2', 'hv1'] });
    await a.election.reconcile();
    expect(await holderOf(siteGatewayKey('paris'))).toBeUndefined(); // hv1 is rank 1: it waits
    await b.election.reconcile();
    expect(await holderOf(siteGatewayKey('paris'))).toBe('hv2');
    // A candidate registered in another site is skipped: hv2 seen in lyon makes hv1 the first of paris.
    await b.election.stop();
    now += 10_001;
    await a.lease.keepAliveOnce();
    await store.expireLeases();
    a.view.chassis.set('hv2', { name: 'hv2', tunnelIp: '1.1.1.2', encaps: ['vxlan'], version: 't', site: 'lyon' });
    await a.election.reconcile();
    expect(await holderOf(siteGatewayKey('paris'))).toBe('hv1');
    // Candidates cleared: the holder releases.
    a.view.sites.delete('paris');
    await a.election.reconcile();
    expect(await holderOf(siteGatewayKey('paris'))).toBeUndefined();
  });

  it('a chassis of another site never takes part, even when listed', async () => {
    const a = await starMember('hv1', [], ['hv1'], undefined, 'lyon');
    a.view.sites.set('paris', { name: 'paris', gatewayCandidates: ['hv1'] });
    await a.election.reconcile();
    expect(await holderOf(siteGatewayKey('paris'))).toBeUndefined();
  });
});
