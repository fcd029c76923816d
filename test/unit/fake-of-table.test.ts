/** The test switch that answers "where does this packet go?": its OpenFlow semantics, checked on hand-made flows. */
import { describe, expect, it } from 'vitest';
import type { Action, Instruction, Match } from '../../src/openflow/index.js';
import { FakeOFTable, type TableFlow } from '../helpers/fake-of-table.js';

const flow = (tableId: number, priority: number, match: Match, actions: Action[] = [], more: Instruction[] = []): TableFlow => ({
  tableId,
  priority,
  match,
  instructions: [...(actions.length ? [{ type: 'apply_actions' as const, actions }] : []), ...more],
});
const goto = (tableId: number): Instruction => ({ type: 'goto_table', tableId });
const A = '02:00:00:00:00:0a';
const B = '02:00:00:00:00:0b';

describe('FakeOFTable', () => {
  it('takes the highest-priority match; masks; a miss drops', () => {
    const t = new FakeOFTable([
      flow(0, 10, [], [{ type: 'output', port: 9 }]),
      flow(0, 100, [{ field: 'eth_dst', value: B }], [{ type: 'output', port: 2 }]),
      flow(0, 50, [{ field: 'eth_dst', value: '01:00:00:00:00:00', mask: '01:00:00:00:00:00' }], [{ type: 'output', port: 'flood' }]),
      flow(
        0,
        60,
        [
          { field: 'ipv4_dst', value: '10.0.0.0', mask: '255.255.255.0' },
          { field: 'eth_type', value: 0x800 },
        ],
        [{ type: 'output', port: 3 }],
      ),
    ]);
    expect(t.ports({ in_port: 1, eth_dst: B })).toEqual([2]);
    expect(t.ports({ in_port: 1, eth_dst: 'ff:ff:ff:ff:ff:ff' })).toEqual(['flood']);
    expect(t.ports({ in_port: 1, eth_dst: A, eth_type: 0x800, ipv4_dst: '10.0.0.77' })).toEqual([3]);
    expect(t.ports({ in_port: 1, eth_dst: A, eth_type: 0x800, ipv4_dst: '10.0.1.77' })).toEqual([9]);
    expect(new FakeOFTable([flow(0, 1, [{ field: 'in_port', value: 5 }], [{ type: 'output', port: 2 }])]).ports({ in_port: 1 })).toEqual(
      [],
    );
  });

  it('follows goto_table with metadata and registers; the packet leaves as modified', () => {
    const t = new FakeOFTable([
      flow(
        0,
        100,
        [{ field: 'in_port', value: 1 }],
        [{ type: 'set_field', field: 'reg6', value: 7 }],
        [{ type: 'write_metadata', metadata: 0x5n, mask: 0xffn }, goto(20)],
      ),
      flow(
        20,
        100,
        [
          { field: 'metadata', value: 5n },
          { field: 'reg6', value: 7 },
        ],
        [
          { type: 'set_field', field: 'tun_id', value: 5n },
          { type: 'set_field', field: 'tun_ipv4_dst', value: '172.31.0.2' },
          { type: 'reg_load', dst: 'reg0', ofs: 4, nBits: 4, value: 0xan },
          { type: 'reg_move', src: 'eth_src', dst: 'eth_dst', nBits: 48, srcOfs: 0, dstOfs: 0 },
          { type: 'output', port: 10 },
        ],
      ),
    ]);
    const [out, ...rest] = t.outputs({ in_port: 1, eth_src: A, eth_dst: B });
    expect(rest).toEqual([]);
    expect(out).toEqual({
      port: 10,
      packet: { in_port: 1, eth_src: A, eth_dst: A, metadata: 5, reg6: 7, reg0: 0xa0, tun_id: 5, tun_ipv4_dst: '172.31.0.2' },
    });
    expect(t.isOutput({ in_port: 1, eth_src: A }, 10, { tun_id: 5, tun_dst: '172.31.0.2' })).toBe(true);
    expect(t.isOutput({ in_port: 1, eth_src: A }, 10, { tun_id: 6 })).toBe(false);
    expect(t.trace({ in_port: 1 }).path.map((p) => p.tableId)).toEqual([0, 20]);
    expect(() => new FakeOFTable([flow(0, 1, [], [], [goto(0)])]).trace({ in_port: 1 })).toThrow(/forward/);
  });

  it('never outputs to the in_port unless asked for in_port; outputs see the packet as it was then', () => {
    const t = new FakeOFTable([
      flow(
        0,
        1,
        [],
        [
          { type: 'output', port: 1 },
          { type: 'output', port: 2 },
          { type: 'push_vlan', ethertype: 0x8100 },
          { type: 'set_field', field: 'vlan_vid', value: 0x1000 | 42 },
          { type: 'output', port: 3 },
          { type: 'pop_vlan' },
          { type: 'output', port: 'in_port' },
        ],
      ),
    ]);
    const outs = t.outputs({ in_port: 1, eth_dst: B });
    expect(outs.map((o) => [o.port, o.packet.vlan_vid])).toEqual([
      [2, undefined],
      [3, 0x1000 | 42],
      [1, undefined],
    ]);
  });

  it('resubmits (to a table, as from a port), with the in_port restored after', () => {
    const t = new FakeOFTable([
      flow(
        0,
        1,
        [{ field: 'in_port', value: 1 }],
        [
          { type: 'resubmit', table: 3, port: 7 },
          { type: 'output', port: 'controller', maxLen: 0 },
        ],
      ),
      flow(
        3,
        1,
        [{ field: 'in_port', value: 7 }],
        [
          { type: 'set_field', field: 'reg1', value: 1 },
          { type: 'output', port: 4 },
        ],
      ),
    ]);
    expect(t.outputs({ in_port: 1 }).map((o) => [o.port, o.packet.in_port, o.packet.reg1])).toEqual([
      [4, 7, 1],
      ['controller', 1, 1],
    ]);
    const loop = new FakeOFTable([flow(0, 1, [], [{ type: 'resubmit', table: 0 }])]);
    expect(() => loop.trace({ in_port: 1 })).toThrow(/depth/);
  });

  it('runs groups: all buckets on copies, indirect the one', () => {
    const t = new FakeOFTable(
      [
        flow(
          0,
          1,
          [],
          [
            { type: 'group', groupId: 1 },
            { type: 'group', groupId: 2 },
          ],
        ),
      ],
      [
        {
          groupId: 1,
          groupType: 'all',
          buckets: [
            {
              actions: [
                { type: 'set_field', field: 'tun_id', value: 1n },
                { type: 'output', port: 10 },
              ],
            },
            { actions: [{ type: 'output', port: 11 }] },
          ],
        },
        { groupId: 2, groupType: 2, buckets: [{ actions: [{ type: 'output', port: 12 }] }] },
      ],
    );
    expect(t.outputs({ in_port: 1 }).map((o) => [o.port, o.packet.tun_id])).toEqual([
      [10, 1],
      [11, undefined],
      [12, undefined],
    ]);
  });

  it('decrements the TTL; an expiring one stops the packet (dec_ttl: to the controller)', () => {
    const t = (a: Action) => new FakeOFTable([flow(0, 1, [], [a, { type: 'output', port: 2 }])]);
    expect(
      t({ type: 'dec_nw_ttl' })
        .outputs({ in_port: 1, ip_ttl: 64 })
        .map((o) => o.packet.ip_ttl),
    ).toEqual([63]);
    expect(t({ type: 'dec_nw_ttl' }).outputs({ in_port: 1, ip_ttl: 1 })).toEqual([]);
    expect(
      t({ type: 'dec_ttl' })
        .outputs({ in_port: 1, ip_ttl: 1 })
        .map((o) => [o.port, o.reason]),
    ).toEqual([['controller', 'invalid_ttl']]);
  });

  it('runs the action set at the end of the pipeline; clear_actions empties it', () => {
    const t = new FakeOFTable([
      flow(
        0,
        1,
        [],
        [],
        [
          {
            type: 'write_actions',
            actions: [
              { type: 'output', port: 5 },
              { type: 'set_field', field: 'reg2', value: 3 },
            ],
          },
          goto(1),
        ],
      ),
      flow(1, 1, [{ field: 'in_port', value: 1 }], [], [{ type: 'clear_actions' }]),
      flow(1, 0, []),
    ]);
    expect(t.outputs({ in_port: 2 }).map((o) => [o.port, o.packet.reg2])).toEqual([[5, 3]]);
    expect(t.outputs({ in_port: 1 })).toEqual([]);
  });

  it('conjunctive matches: every clause of an id must match, then the conj_id flow runs; one clause is not enough', () => {
    const conj = (id: number, clause: number, n: number): Action => ({ type: 'conjunction', id, clause, nClauses: n });
    const t = new FakeOFTable([
      flow(0, 10, [{ field: 'in_port', value: 1 }], [conj(7, 1, 2)]),
      flow(
        0,
        10,
        [
          { field: 'eth_type', value: 0x800 },
          { field: 'ipv4_src', value: '10.0.0.1' },
        ],
        [conj(7, 2, 2)],
      ),
      flow(0, 10, [{ field: 'conj_id', value: 7 }], [{ type: 'output', port: 9 }]),
    ]);
    expect(t.ports({ in_port: 1, eth_type: 0x800, ipv4_src: '10.0.0.1' })).toEqual([9]);
    expect(t.ports({ in_port: 2, eth_type: 0x800, ipv4_src: '10.0.0.1' })).toEqual([]);
    expect(t.ports({ in_port: 1, eth_type: 0x800, ipv4_src: '10.0.0.2' })).toEqual([]);
  });

  it('conntrack: ct(table) tracks in a zone, ct(commit) creates the connection; its reply is +est+rpl', () => {
    const ct = (commit: boolean, recirc: number): Action => ({
      type: 'ct',
      flags: commit ? 1 : 0,
      zone: 5,
      recircTable: recirc,
      alg: 0,
      actions: [],
    });
    const t = new FakeOFTable([
      flow(0, 1, [], [ct(false, 1)]),
      flow(1, 10, [{ field: 'ct_state', value: 0x21, mask: 0x21 }], [ct(true, 255), { type: 'output', port: 2 }]),
      flow(1, 10, [{ field: 'ct_state', value: 0x2a, mask: 0x2a }], [{ type: 'output', port: 3 }]),
    ]);
    const pkt = { in_port: 1, eth_type: 0x800, ipv4_src: '10.0.0.1', ipv4_dst: '10.0.0.2', ip_proto: 17, udp_src: 1000, udp_dst: 53 };
    const reply = { ...pkt, ipv4_src: '10.0.0.2', ipv4_dst: '10.0.0.1', udp_src: 53, udp_dst: 1000 };
    expect(t.ports(pkt)).toEqual([2]); // new: committed
    expect(t.ports(reply)).toEqual([3]); // +est+rpl
    expect(t.ports(pkt)).toEqual([]); // +est, original direction: no flow here
    expect(t.ports({ ...pkt, udp_src: 1001 })).toEqual([2]); // another connection is new
  });

  it('refuses what it cannot answer for: ties at one priority, unsupported actions, packets without in_port', () => {
    const tie = new FakeOFTable([
      flow(0, 5, [{ field: 'in_port', value: 1 }], [{ type: 'output', port: 2 }]),
      flow(0, 5, [{ field: 'eth_type', value: 0x800 }], [{ type: 'output', port: 3 }]),
    ]);
    expect(() => tie.trace({ in_port: 1, eth_type: 0x800 })).toThrow(/two matching flows/);
    // A tie between flows that do the very same thing is no choice at all.
    const same = new FakeOFTable([flow(0, 5, [{ field: 'in_port', value: 1 }]), flow(0, 5, [{ field: 'eth_type', value: 0x800 }])]);
    expect(same.outputs({ in_port: 1, eth_type: 0x800 })).toEqual([]);
    expect(() => new FakeOFTable([flow(0, 1, [], [{ type: 'ct_clear' }])]).trace({ in_port: 1 })).toThrow(/unsupported action ct_clear/);
    expect(() => new FakeOFTable([]).trace({ eth_dst: A })).toThrow(/in_port/);
  });
});

describe('FakeSwitch.table()', () => {
  it('runs packets through what was installed, groups included', async () => {
    const { FakeSwitch } = await import('../helpers/fake-switch.js');
    const sw = new FakeSwitch();
    sw.connect();
    const base = {
      xid: 0,
      cookie: 0n,
      cookieMask: 0n,
      idleTimeout: 0,
      hardTimeout: 0,
      bufferId: 0xffffffff,
      outPort: 0xffffffff,
      outGroup: 0xffffffff,
      flags: 0,
    };
    await sw.bundle([
      {
        type: 'GROUP_MOD',
        xid: 0,
        command: 0,
        groupType: 0,
        groupId: 7,
        buckets: [
          { weight: 0, watchPort: 0xffffffff, watchGroup: 0xffffffff, actions: [{ type: 'output', port: 2 }] },
          { weight: 0, watchPort: 0xffffffff, watchGroup: 0xffffffff, actions: [{ type: 'output', port: 3 }] },
        ],
      },
      {
        type: 'FLOW_MOD',
        ...base,
        tableId: 0,
        command: 'add',
        priority: 10,
        match: [{ field: 'in_port', value: 1 }],
        instructions: [{ type: 'apply_actions', actions: [{ type: 'group', groupId: 7 }] }],
      },
    ]);
    expect(sw.table().ports({ in_port: 1 })).toEqual([2, 3]);
    await sw.send({ type: 'GROUP_MOD', xid: 0, command: 2, groupType: 0, groupId: 7, buckets: [] });
    expect(() => sw.table().ports({ in_port: 1 })).toThrow(/no group 7/);
  });
});
