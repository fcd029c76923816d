/**
 * Lazy chassis watching (issue 17) on a real etcd, with the agent's own core (SimChassis: registration, lazy
 * sync, ChassisReach, every app, the flow manager on a switch double): a hypervisor watches the key of a chassis
 * only while its view names it. A chassis unrelated to it joining, binding ports of other networks and dying
 * delivers it no store event at all (counted at the subscription, including events of longer keys a one-key
 * watch drops); a chassis that starts hosting a port of one of its networks is read (its tunnel IP reaches the
 * flows), and dropped — record and watch — when its last such port goes; a related chassis's death is seen.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chassisKey } from '../../src/model/keys.js';
import { Topology } from '../../src/model/repo.js';
import { loadPipeline } from '../../src/pipeline/pipeline.js';
import { PipelineTables } from '../../src/pipeline/tables.js';
import { SimChassis } from '../../src/sim/sim-chassis.js';
import { openStore } from '../../src/store/index.js';
import type { Store } from '../../src/store/types.js';
import { startEtcd, type EtcdCluster } from '../helpers/etcd.js';

const tables = new PipelineTables(loadPipeline());

async function until(what: string, pred: () => boolean, timeoutMs = 15_000): Promise<void> {
  const t0 = Date.now();
  while (!pred()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('lazy chassis watching (real etcd)', () => {
  let etcd: EtcdCluster;
  let admin: Store;
  const stores: Store[] = [];
  const sims: SimChassis[] = [];
  const chassis = async (name: string, ip: string): Promise<SimChassis> => {
    const store = await openStore(etcd.url);
    stores.push(store);
    const c = new SimChassis({ name, tunnelIp: ip, store, tables, leaseTtlSeconds: 2 });
    sims.push(c);
    await c.start();
    return c;
  };
  /** A crash: watches and keep-alives stop with the connection; the key lapses with its lease (TTL 2 s). */
  const crash = async (c: SimChassis): Promise<void> => {
    await c.stop();
    await stores[sims.indexOf(c)]!.close();
  };
  const topo = () => new Topology(admin);

  beforeAll(async () => {
    etcd = await startEtcd();
    admin = await openStore(etcd.url);
    const t = topo();
    for (const [i, net] of ['blue', 'red'].entries()) {
      await t.createNetwork({ name: net });
      await t.createSubnet({ name: `${net}-s`, network: net, cidr: `10.${i}.0.0/24` });
    }
    for (const p of ['b1', 'b2', 'b3', 'r1', 'r2']) await t.createPort({ name: p, network: p.startsWith('b') ? 'blue' : 'red' });
  }, 60_000);

  afterAll(async () => {
    for (const c of sims) await c.stop().catch(() => undefined);
    for (const s of stores) await s.close().catch(() => undefined);
    await admin?.close();
    await etcd?.stop();
  });

  it('hears nothing of unrelated chassis, reads related ones, and forgets them when they stop being related', async () => {
    const me = await chassis('alpha', '192.0.2.1');
    const peer = await chassis('bravo', '192.0.2.2');
    await me.plug('b1');
    await peer.plug('b2');
    // Related: bravo hosts a port of blue, which alpha hosts too — alpha reads bravo's record (its tunnel IP).
    await until('alpha to know bravo', () => me.view.chassis.get('bravo')?.tunnelIp === '192.0.2.2');
    await until('bravo to know alpha', () => peer.view.chassis.has('alpha'));
    const blue = [...me.view.networks.values()].find((n) => n.network.name === 'blue')!;
    const b2 = [...blue.ports.values()].find((ps) => ps.port.name === 'b2')!;
    await until('b2 located on bravo', () => me.view.locate(blue, b2).kind === 'remote');
    expect(me.view.locate(blue, b2)).toMatchObject({ kind: 'remote', chassis: 'bravo', tunnelIp: '192.0.2.2' });
    // Flat: alpha watches its own key and bravo's, not the chassis list.
    expect(me.sync.watchedChassis()).toEqual(['alpha', 'bravo']);
    expect(me.subscription.prefixes()).not.toContain('/wyvern/v1/chassis/');

    // An unrelated chassis joins, binds a port of red, restarts its registration and dies: zero events here.
    const before = { me: me.events, peer: peer.events };
    const stranger = await chassis('charlie', '192.0.2.3');
    await stranger.plug('r1');
    await admin.delete(chassisKey('charlie')); // its key deleted: it registers again (a second put)
    await until('charlie registered again', () => stranger.view.chassis.has('charlie'));
    await crash(stranger);
    const gone = Date.now();
    while ((await admin.get(chassisKey('charlie'))) !== undefined && Date.now() - gone < 10_000)
      await new Promise((r) => setTimeout(r, 100));
    expect(await admin.get(chassisKey('charlie'))).toBeUndefined();
    await new Promise((r) => setTimeout(r, 300)); // any event would have arrived by now
    expect(me.events - before.me).toBe(0);
    expect(peer.events - before.peer).toBe(0);
    expect(me.subscription.foreignEvents).toBe(0);
    expect(me.view.chassis.has('charlie')).toBe(false);

    // A chassis named with another's name as prefix (bravo2 / bravo): its events reach alpha's one-key watch of bravo
    // on the wire (the Store contract has prefix watches only) but never its view.
    const prefixed = await chassis('bravo2', '192.0.2.4');
    await prefixed.plug('r2');
    await until('the prefix watch to hear bravo2', () => me.subscription.foreignEvents > 0);
    expect(me.view.chassis.has('bravo2')).toBe(false);
    await crash(prefixed);

    // delta starts hosting a port of blue: alpha and bravo read its record; when that port goes, they drop it.
    const delta = await chassis('delta', '192.0.2.5');
    await delta.plug('b3');
    await until('alpha to read delta', () => me.view.chassis.get('delta')?.tunnelIp === '192.0.2.5');
    await until('bravo to read delta', () => peer.view.chassis.has('delta'));
    await delta.unplug('b3');
    await until('alpha to drop delta', () => !me.view.chassis.has('delta') && !me.sync.watchedChassis().includes('delta'));
    expect(me.subscription.prefixes()).not.toContain(chassisKey('delta'));

    // A related chassis dies: seen and withdrawn (its lease lapses).
    await crash(peer);
    await until('alpha to see bravo gone', () => !me.view.chassis.has('bravo'), 10_000);
  }, 60_000);
});
