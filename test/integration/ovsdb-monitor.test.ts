import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { OvsdbClient } from '../../src/ovsdb/client.js';
import { MonitoredDb } from '../../src/ovsdb/monitor.js';
import { type Row, rowEquals, optional } from '../../src/ovsdb/datum.js';
import { startOvsdbServer, type OvsdbTestServer } from '../helpers/ovsdb-server.js';

let srv: OvsdbTestServer;
const clients: OvsdbClient[] = [];
const vsctl = (...args: string[]) => execFileSync('ovs-vsctl', [`--db=unix:${srv.sock}`, '--no-wait', ...args], { encoding: 'utf8' });

beforeAll(async () => {
  srv = await startOvsdbServer({ prefix: 'wyvern-ovsdb-mon-' });
  vsctl('init');
});
afterAll(async () => {
  for (const c of clients) await c.close();
  await srv?.destroy();
});

async function connect(): Promise<OvsdbClient> {
  const c = await OvsdbClient.connect(srv.endpoint, { reconnect: { minMs: 20, maxMs: 200 } });
  clients.push(c);
  return c;
}

type Ev = [string, string, string, ...unknown[]];
function record(m: MonitoredDb): Ev[] {
  const evs: Ev[] = [];
  m.on('rowAdded', (t, u, r) => evs.push(['added', t, u, r]));
  m.on('rowChanged', (t, u, o, n) => evs.push(['changed', t, u, o, n]));
  m.on('rowRemoved', (t, u, r) => evs.push(['removed', t, u, r]));
  m.on('resync', () => evs.push(['resync', '', '']));
  return evs;
}

function until(cond: () => boolean, ms = 5000): Promise<void> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const tick = () => {
      if (cond()) resolve();
      else if (Date.now() - t0 > ms) reject(new Error('condition not met in time'));
      else setTimeout(tick, 5);
    };
    tick();
  });
}

function snapshot(m: MonitoredDb, table: string): Map<string, Row> {
  return new Map(m.rows(table));
}

function sameReplica(a: Map<string, Row>, b: Map<string, Row>): boolean {
  if (a.size !== b.size) return false;
  for (const [u, r] of a) if (!b.has(u) || !rowEquals(r, b.get(u)!)) return false;
  return true;
}

describe('ovsdb monitor and replica', () => {
  it('follows inserts, modifications (sets, maps, optional) and deletes', async () => {
    const c = await connect();
    const m = await c.monitor('Open_vSwitch', { Bridge: ['name', 'external_ids', 'protocols', 'fail_mode'] });
    const evs = record(m);
    vsctl('add-br', 'brA', '--', 'set', 'Bridge', 'brA', 'datapath_type=netdev');
    await until(() => [...m.rows('Bridge').values()].some((r) => r.name === 'brA'));
    vsctl('set', 'Bridge', 'brA', 'external_ids:a=1', 'protocols=OpenFlow13,OpenFlow15', 'fail_mode=secure');
    await until(() => evs.some((e) => e[0] === 'changed' && optional((e[4] as Row).fail_mode) === 'secure'));
    const row = [...m.rows('Bridge').values()].find((r) => r.name === 'brA')!;
    expect(row.external_ids).toEqual(new Map([['a', '1']]));
    expect([...(row.protocols as string[])].sort()).toEqual(['OpenFlow13', 'OpenFlow15']);
    vsctl('set', 'Bridge', 'brA', 'external_ids:a=2', 'protocols=OpenFlow13');
    await until(() => [...m.rows('Bridge').values()].some((r) => (r.protocols as string[]).length === 1));
    const ch = evs.filter((e) => e[0] === 'changed').at(-1)!;
    expect((ch[3] as Row).external_ids).toEqual(new Map([['a', '1']]));
    expect((ch[4] as Row).external_ids).toEqual(new Map([['a', '2']]));
    vsctl('del-br', 'brA');
    await until(() => evs.some((e) => e[0] === 'removed'));
    expect(m.rows('Bridge').size).toBe(0);
    await m.close();
  });

  it('survives ovsdb-server being killed and restarted: resync with exactly the diff', async () => {
    const c = await connect();
    vsctl('add-br', 'keep', '--', 'add-br', 'gone', '--', 'add-br', 'edit');
    const m = await c.monitor('Open_vSwitch', { Bridge: ['name', 'external_ids'], Interface: ['name', 'external_ids'] });
    const evs = record(m);
    let disconnected = 0;
    c.on('disconnected', () => disconnected++);
    await srv.stop();
    await until(() => disconnected > 0);
    // Changes made while our client is away (by a separate server run, so the txn history is gone).
    await srv.start();
    vsctl('del-br', 'gone', '--', 'add-br', 'new', '--', 'set', 'Bridge', 'edit', 'external_ids:x=y');
    await srv.stop();
    const resyncs = () => evs.filter((e) => e[0] === 'resync').length;
    const before = resyncs();
    await srv.start();
    await until(() => resyncs() > before, 10_000);
    const key = (e: Ev) => `${e[0]}:${e[1]}:${(e[3] as Row | undefined)?.name ?? ''}`;
    const got = evs
      .filter((e) => e[0] !== 'resync')
      .map(key)
      .sort();
    // Each bridge has a Bridge row and an internal Interface row of the same name.
    expect(got).toEqual(
      ['removed:Bridge:gone', 'removed:Interface:gone', 'added:Bridge:new', 'added:Interface:new', 'changed:Bridge:edit'].sort(),
    );
    // The replica equals a fresh monitor's view.
    const fresh = await c.monitor('Open_vSwitch', { Bridge: ['name', 'external_ids'], Interface: ['name', 'external_ids'] });
    expect(sameReplica(snapshot(m, 'Bridge'), snapshot(fresh, 'Bridge'))).toBe(true);
    expect(sameReplica(snapshot(m, 'Interface'), snapshot(fresh, 'Interface'))).toBe(true);
    // And it keeps following changes afterwards.
    vsctl('set', 'Bridge', 'keep', 'external_ids:after=1');
    await until(() => [...m.rows('Bridge').values()].some((r) => (r.external_ids as Map<string, string>).get('after') === '1'));
    await m.close();
    await fresh.close();
  });

  it('resumes with monitor_cond_since on a clustered database (found: only the missed changes)', async () => {
    const cl = await startOvsdbServer({ prefix: 'wyvern-ovsdb-cl-', clustered: true });
    const c = await OvsdbClient.connect(cl.endpoint, { reconnect: { minMs: 200, maxMs: 400 } });
    clients.push(c);
    const vs = (...args: string[]) => execFileSync('ovs-vsctl', [`--db=unix:${cl.sock}`, '--no-wait', ...args], { encoding: 'utf8' });
    try {
      vs('init');
      // ovsdb-server answers with a full snapshot when the missed changes are large next to the
      // database, so give it some rows.
      vs(
        ...Array.from({ length: 30 }, (_, i) => ['--', 'add-br', `c${i + 1}`])
          .flat()
          .slice(1),
      );
      const m = await c.monitor('Open_vSwitch', { Bridge: ['name', 'external_ids'] });
      vs('add-br', 'd2'); // gives the replica a txn id that is in the server's history
      await until(() => m.rows('Bridge').size === 31);
      const evs = record(m);
      const resyncs: { found: boolean }[] = [];
      m.on('resync', (x: { found: boolean }) => resyncs.push(x));
      c.once('disconnected', () => vs('add-br', 'd3', '--', 'set', 'Bridge', 'c1', 'external_ids:k=v', '--', 'del-br', 'c2'));
      execFileSync('ovs-appctl', ['-t', `${cl.dir}/ovsdb.ctl`, 'ovsdb-server/reconnect']);
      await until(() => resyncs.length > 0 && [...m.rows('Bridge').values()].some((r) => r.name === 'd3'), 10_000);
      expect(resyncs[0]).toEqual({ found: true });
      const key = (e: Ev) => `${e[0]}:${(e[3] as Row | undefined)?.name ?? ''}`;
      expect(
        evs
          .filter((e) => e[0] !== 'resync')
          .map(key)
          .sort(),
      ).toEqual(['added:d3', 'changed:c1', 'removed:c2']);
      const fresh = await c.monitor('Open_vSwitch', { Bridge: ['name', 'external_ids'] });
      expect(sameReplica(snapshot(m, 'Bridge'), snapshot(fresh, 'Bridge'))).toBe(true);
      await m.close();
      await fresh.close();
    } finally {
      await c.close();
      await cl.destroy();
    }
  });

  it('monitor_cond with a where clause only replicates matching rows', async () => {
    const c = await connect();
    const m = await c.monitor('Open_vSwitch', { Bridge: { columns: ['name'], where: [['name', '==', 'keep']] } });
    expect([...m.rows('Bridge').values()].map((r) => r.name)).toEqual(['keep']);
    await m.close();
  });

  it('answers the server echo and its own probes keep an idle session up', async () => {
    // Probes every 500 ms for 2.5 s (five intervals): at 100 ms, a 100-ms stall of this worker's event loop under a
    // full CI run would drop the session without the server being at fault.
    const c = await OvsdbClient.connect(srv.endpoint, { reconnect: false, probeIntervalMs: 500 });
    clients.push(c);
    await new Promise((r) => setTimeout(r, 2_500));
    expect(c.connected).toBe(true);
    expect(await c.echo('x')).toEqual(['x']);
  });
});
