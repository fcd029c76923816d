/** The agent's patch ports to mapped bridges, against a real ovsdb-server (no ovs-vswitchd): made, kept, moved, removed. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OvsdbClient } from '../../src/ovsdb/client.js';
import { NamedUuid, stringMap, type Uuid, type Value } from '../../src/ovsdb/datum.js';
import { ensurePatchPorts } from '../../src/ovsdb/patch-ports.js';
import { OVS_DB, ensureBridge } from '../../src/ovsdb/vswitch.js';
import { startOvsdbServer, type OvsdbTestServer } from '../helpers/ovsdb-server.js';

let srv: OvsdbTestServer;
let c: OvsdbClient;

beforeAll(async () => {
  srv = await startOvsdbServer({ prefix: 'wyvern-ovsdb-patch-' });
  c = await OvsdbClient.connect(srv.endpoint, { reconnect: false });
  for (const name of ['br-int', 'br-ex', 'br-ex2']) await ensureBridge(c, { name, datapathType: 'netdev' });
});
afterAll(async () => {
  await c?.close();
  await srv?.destroy();
});

const set = (v: Value): Uuid[] => (Array.isArray(v) ? (v as Uuid[]) : [v as Uuid]);

/** bridge → its ports' names; and patch interface name → [peer, wyvern-physnet]. */
async function layout(): Promise<{ ports: Record<string, string[]>; patches: Record<string, [string?, string?]> }> {
  const [brs, ports, ifaces] = await c.transact(OVS_DB, [
    { op: 'select', table: 'Bridge', where: [], columns: ['name', 'ports'] },
    { op: 'select', table: 'Port', where: [], columns: ['_uuid', 'name'] },
    { op: 'select', table: 'Interface', where: [['type', '==', 'patch']], columns: ['name', 'options', 'external_ids'] },
  ]);
  const portName = new Map(ports!.rows!.map((p) => [(p._uuid as Uuid).id, p.name as string]));
  const out: Record<string, string[]> = {};
  for (const b of brs!.rows!)
    out[b.name as string] = set(b.ports as Value)
      .map((u) => portName.get(u.id)!)
      .sort();
  const patches: Record<string, [string?, string?]> = {};
  for (const i of ifaces!.rows!)
    patches[i.name as string] = [stringMap(i.options as Value).peer, stringMap(i.external_ids as Value)['wyvern-physnet']];
  return { ports: out, patches };
}

describe('ensurePatchPorts', () => {
  it('makes one marked pair per mapping whose bridge exists and reports the missing ones', async () => {
    const r = await ensurePatchPorts(c, 'br-int', { physnet1: 'br-ex', physnet2: 'br-gone' });
    expect([...r.ready]).toEqual([['physnet1', 'patch-br-int-to-physnet1']]);
    expect([...r.missingBridges]).toEqual([['physnet2', 'br-gone']]);
    const l = await layout();
    expect(l.ports['br-int']).toEqual(['br-int', 'patch-br-int-to-physnet1']);
    expect(l.ports['br-ex']).toEqual(['br-ex', 'patch-physnet1-to-br-int']);
    expect(l.patches).toEqual({
      'patch-br-int-to-physnet1': ['patch-physnet1-to-br-int', 'physnet1'],
      'patch-physnet1-to-br-int': ['patch-br-int-to-physnet1', 'physnet1'],
    });
  });

  it('is idempotent', async () => {
    const before = await layout();
    const r = await ensurePatchPorts(c, 'br-int', { physnet1: 'br-ex', physnet2: 'br-gone' });
    expect(r.removed).toEqual([]);
    expect(await layout()).toEqual(before);
  });

  it("moves a pair when the mapping's bridge changes, and leaves others' ports alone", async () => {
    // The operator's uplink on br-ex is not the agent's: it stays.
    const [br] = await c.transact(OVS_DB, [{ op: 'select', table: 'Bridge', where: [['name', '==', 'br-ex']], columns: ['_uuid'] }]);
    await c.transact(OVS_DB, [
      { op: 'insert', table: 'Interface', row: { name: 'uplink' }, uuidName: 'i' },
      { op: 'insert', table: 'Port', row: { name: 'uplink', interfaces: [new NamedUuid('i')] }, uuidName: 'p' },
      {
        op: 'mutate',
        table: 'Bridge',
        where: [['_uuid', '==', br!.rows![0]!._uuid as Uuid]],
        mutations: [['ports', 'insert', [new NamedUuid('p')]]],
      },
    ]);
    const r = await ensurePatchPorts(c, 'br-int', { physnet1: 'br-ex2' });
    expect([...r.ready]).toEqual([['physnet1', 'patch-br-int-to-physnet1']]);
    const l = await layout();
    expect(l.ports['br-ex']).toEqual(['br-ex', 'uplink']);
    expect(l.ports['br-ex2']).toEqual(['br-ex2', 'patch-physnet1-to-br-int']);
    expect(l.ports['br-int']).toEqual(['br-int', 'patch-br-int-to-physnet1']);
  }, 15_000);

  it('deletes the pairs of mappings that are gone', async () => {
    const r = await ensurePatchPorts(c, 'br-int', {});
    expect(r.removed.sort()).toEqual(['patch-br-int-to-physnet1', 'patch-physnet1-to-br-int']);
    const l = await layout();
    expect(l.ports).toEqual({ 'br-int': ['br-int'], 'br-ex': ['br-ex', 'uplink'], 'br-ex2': ['br-ex2'] });
    expect(l.patches).toEqual({});
  }, 15_000);
});
