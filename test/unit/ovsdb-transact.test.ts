import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OvsdbClient } from '../../src/ovsdb/client.js';
import { NamedUuid, Uuid, optional } from '../../src/ovsdb/datum.js';
import { OvsdbError } from '../../src/ovsdb/errors.js';
import { startOvsdbServer, type OvsdbTestServer } from '../helpers/ovsdb-server.js';

// A small schema of our own that exercises every atomic type and set/map/optional shapes.
const schema = {
  name: 'Test',
  version: '1.0.0',
  tables: {
    Parent: {
      isRoot: true,
      indexes: [['name']],
      columns: {
        name: { type: 'string' },
        count: { type: 'integer' },
        ratio: { type: 'real' },
        flag: { type: 'boolean' },
        opt: { type: { key: 'integer', min: 0, max: 1 } },
        tags: { type: { key: 'string', min: 0, max: 'unlimited' } },
        opts: { type: { key: 'string', value: 'string', min: 0, max: 'unlimited' } },
        kids: { type: { key: { type: 'uuid', refTable: 'Child' }, min: 0, max: 'unlimited' } },
        colour: { type: { key: { type: 'string', enum: ['set', ['red', 'green']] }, min: 0, max: 1 } },
      },
    },
    Child: { columns: { label: { type: 'string' } } },
  },
};

let srv: OvsdbTestServer;
let c: OvsdbClient;
const DB = 'Test';

beforeAll(async () => {
  srv = await startOvsdbServer({ schema, prefix: 'wyvern-ovsdb-tx-' });
  c = await OvsdbClient.connect(srv.endpoint, { reconnect: false });
});
afterAll(async () => {
  await c?.close();
  await srv?.destroy();
});

async function txError(p: Promise<unknown>): Promise<OvsdbError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(OvsdbError);
    return e as OvsdbError;
  }
  throw new Error('expected an OvsdbError');
}

describe('ovsdb transact against a real ovsdb-server', () => {
  it('lists databases, fetches the schema, echoes', async () => {
    expect(await c.listDbs()).toContain('Test');
    const s = await c.getSchema(DB);
    expect(s.tables.Parent!.columns.kids!.type.key.refTable).toBe('Child');
    expect(await c.echo('hi', 1)).toEqual(['hi', 1]);
  });

  it('insert with named-uuid references a row inserted in the same transaction', async () => {
    const r = await c.transact(DB, [
      { op: 'insert', table: 'Child', row: { label: 'k1' }, uuidName: 'kid' },
      {
        op: 'insert',
        table: 'Parent',
        row: {
          name: 'p1',
          count: 1,
          ratio: 0.5,
          flag: true,
          tags: ['a', 'b'],
          opts: { x: '1' },
          kids: [new NamedUuid('kid')],
          colour: 'red',
        },
      },
    ]);
    expect(r[0]!.uuid).toBeInstanceOf(Uuid);
    expect(r[1]!.uuid).toBeInstanceOf(Uuid);
    const [sel] = await c.transact(DB, [{ op: 'select', table: 'Parent', where: [['name', '==', 'p1']] }]);
    const row = sel!.rows![0]!;
    expect((row.kids as Uuid[])[0]!.equals(r[0]!.uuid)).toBe(true);
    expect(row.tags).toEqual(expect.arrayContaining(['a', 'b']));
    expect(row.opts).toEqual(new Map([['x', '1']]));
    expect(row.opt).toEqual([]);
    expect(row.colour).toEqual(['red']);
    expect(row.ratio).toBe(0.5);
    expect((row._uuid as Uuid).equals(r[1]!.uuid)).toBe(true);
  });

  it('strings with braces, quotes, backslashes and non-ASCII survive the round trip', async () => {
    const nasty = 'a}b{"c\\"]d[\u00e9🦎\n' + '}'.repeat(100) + '{'.repeat(3);
    await c.transact(DB, [{ op: 'insert', table: 'Parent', row: { name: 'strings', tags: [nasty, '{'], opts: { [nasty]: nasty } } }]);
    const [s] = await c.transact(DB, [{ op: 'select', table: 'Parent', where: [['name', '==', 'strings']], columns: ['tags', 'opts'] }]);
    expect([...(s!.rows![0]!.tags as string[])].sort()).toEqual([nasty, '{'].sort());
    expect(s!.rows![0]!.opts).toEqual(new Map([[nasty, nasty]]));
    await c.transact(DB, [{ op: 'delete', table: 'Parent', where: [['name', '==', 'strings']] }]);
  });

  it('select with columns and conditions', async () => {
    const [s] = await c.transact(DB, [
      {
        op: 'select',
        table: 'Parent',
        where: [
          ['tags', 'includes', ['a']],
          ['count', '>=', 1],
        ],
        columns: ['name', 'count'],
      },
    ]);
    expect(s!.rows).toEqual([{ name: 'p1', count: 1 }]);
  });

  it('update and mutate (arithmetic, set insert, map delete by key then insert)', async () => {
    const r = await c.transact(DB, [
      { op: 'update', table: 'Parent', where: [['name', '==', 'p1']], row: { flag: false, opt: [7] } },
      {
        op: 'mutate',
        table: 'Parent',
        where: [['name', '==', 'p1']],
        mutations: [
          ['count', '+=', 41],
          ['tags', 'insert', ['c']],
          ['tags', 'delete', ['a']],
          ['opts', 'delete', ['x']],
          ['opts', 'insert', { x: '2', y: '3' }],
        ],
      },
      { op: 'select', table: 'Parent', where: [['name', '==', 'p1']], columns: ['flag', 'opt', 'count', 'tags', 'opts'] },
    ]);
    expect(r[0]!.count).toBe(1);
    expect(r[1]!.count).toBe(1);
    const row = r[2]!.rows![0]!;
    expect(row.flag).toBe(false);
    expect(optional(row.opt)).toBe(7);
    expect(row.count).toBe(42);
    expect([...(row.tags as string[])].sort()).toEqual(['b', 'c']);
    expect(row.opts).toEqual(
      new Map([
        ['x', '2'],
        ['y', '3'],
      ]),
    );
  });

  it('wait succeeds when rows match and times out when they do not', async () => {
    await c.transact(DB, [
      { op: 'wait', table: 'Parent', where: [['name', '==', 'p1']], columns: ['count'], until: '==', rows: [{ count: 42 }], timeout: 0 },
    ]);
    const e = await txError(
      c.transact(DB, [
        { op: 'comment', comment: 'first op' },
        { op: 'wait', table: 'Parent', where: [['name', '==', 'p1']], columns: ['count'], until: '==', rows: [{ count: 1 }], timeout: 0 },
      ]),
    );
    expect(e.code).toBe('transaction');
    expect(e.extra.opIndex).toBe(1);
    expect(e.extra.op).toBe('wait');
    expect(e.extra.error).toBe('timed out');
  });

  it('a blocked wait can be cancelled', async () => {
    const ac = new AbortController();
    const p = c.transact(DB, [{ op: 'wait', table: 'Parent', where: [], columns: ['name'], until: '==', rows: [], timeout: 60_000 }], {
      signal: ac.signal,
    });
    setTimeout(() => ac.abort(), 100);
    const e = await txError(p);
    expect(e.message).toMatch(/cancel/);
  });

  it('commit (durable and not), comment', async () => {
    const r = await c.transact(DB, [
      { op: 'comment', comment: 'wyvern test' },
      { op: 'insert', table: 'Parent', row: { name: 'p2' } },
      { op: 'commit', durable: false },
    ]);
    expect(r).toHaveLength(3);
    await c.transact(DB, [{ op: 'commit', durable: true }]);
  });

  it('abort rolls back and reports the failing index', async () => {
    const e = await txError(c.transact(DB, [{ op: 'insert', table: 'Parent', row: { name: 'p3' } }, { op: 'abort' }]));
    expect(e.extra.opIndex).toBe(1);
    expect(e.extra.error).toBe('aborted');
    const [s] = await c.transact(DB, [{ op: 'select', table: 'Parent', where: [['name', '==', 'p3']] }]);
    expect(s!.rows).toEqual([]);
  });

  it('delete returns the count', async () => {
    const [d] = await c.transact(DB, [{ op: 'delete', table: 'Parent', where: [['name', '==', 'p2']] }]);
    expect(d!.count).toBe(1);
  });

  it('assert passes for the lock owner and fails for others', async () => {
    expect(await c.lock('wyvern_lock')).toBe(true);
    await c.transact(DB, [{ op: 'assert', lock: 'wyvern_lock' }]);
    const other = await OvsdbClient.connect(srv.endpoint, { reconnect: false });
    try {
      const e = await txError(other.transact(DB, [{ op: 'assert', lock: 'wyvern_lock' }]));
      expect(e.extra.error).toBe('not owner');
    } finally {
      await other.close();
    }
    await c.unlock('wyvern_lock');
  });

  it('server-side constraint errors name the op (index uniqueness)', async () => {
    const e = await txError(c.transact(DB, [{ op: 'insert', table: 'Parent', row: { name: 'p1' } }]));
    expect(e.extra.error).toBe('constraint violation');
    expect(e.extra.opIndex).toBeDefined();
  });

  it('commit-time errors (after the last op) are reported too', async () => {
    const e = await txError(
      c.transact(DB, [
        { op: 'insert', table: 'Parent', row: { name: 'dangling', kids: [new Uuid('550e8400-e29b-41d4-a716-446655440000')] } },
      ]),
    );
    expect(e.extra.error).toBe('referential integrity violation');
    expect(e.extra.opIndex).toBe(1); // one past the ops: the commit itself
  });

  it('schema violations are refused before sending', async () => {
    const e = await txError(
      c.transact(DB, [
        { op: 'comment', comment: 'ok' },
        { op: 'insert', table: 'Parent', row: { colour: 'blue' } },
      ]),
    );
    expect(e.code).toBe('schema');
    expect(e.extra.opIndex).toBe(1);
    const e2 = await txError(c.transact(DB, [{ op: 'update', table: 'Parent', where: [], row: { count: 1.5 } }]));
    expect(e2.message).toMatch(/Parent.count: expected integer/);
  });
});
