/**
 * Golden: flows written by wyvern into a real Open vSwitch (userspace datapath) and read back print identically
 * three ways — formatFlow(our FLOW_MOD), formatFlow(our decode of OVS's flow-stats reply) and
 * `ovs-ofctl -O OpenFlow13 dump-flows` (statistics stripped). Needs root and openvswitch-switch; fails if missing.
 */
import { randomBytes } from 'node:crypto';
import { createConnection, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  decodeMessage,
  encodeMessage,
  flowMod,
  formatFlow,
  hello,
  type FlowMod,
  type FlowStats,
  type OfMessage,
} from '../../src/openflow/index.js';
import { startOvsHost, type OvsHost } from '../../src/sandbox/index.js';

/** Minimal OpenFlow conversation over the bridge's mgmt socket (the real channel lives in openflow/channel). */
class RawConn {
  private buf = Buffer.alloc(0);
  private readonly waiting: Array<(m: OfMessage) => boolean> = [];
  readonly received: OfMessage[] = [];
  readonly mismatches: string[] = [];
  constructor(private readonly sock: Socket) {
    sock.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      while (this.buf.length >= 8 && this.buf.length >= this.buf.readUInt16BE(2)) {
        const len = this.buf.readUInt16BE(2);
        const bytes = this.buf.subarray(0, len);
        const m = decodeMessage(bytes);
        // Everything OVS sends must re-encode to exactly its bytes.
        if (!encodeMessage(m).equals(bytes)) this.mismatches.push(bytes.toString('hex'));
        this.buf = this.buf.subarray(len);
        this.received.push(m);
        for (let i = this.waiting.length - 1; i >= 0; i--) if (this.waiting[i]!(m)) this.waiting.splice(i, 1);
      }
    });
  }
  static open(path: string): Promise<RawConn> {
    return new Promise((resolve, reject) => {
      const s = createConnection(path, () => resolve(new RawConn(s)));
      s.once('error', reject);
    });
  }
  send(m: OfMessage): void {
    this.sock.write(encodeMessage(m));
  }
  waitFor(pred: (m: OfMessage) => boolean, ms = 10_000): Promise<OfMessage> {
    const hit = this.received.find(pred);
    if (hit) return Promise.resolve(hit);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('timeout waiting for OpenFlow reply')), ms);
      this.waiting.push((m) => {
        if (!pred(m)) return false;
        clearTimeout(t);
        resolve(m);
        return true;
      });
    });
  }
  close(): void {
    this.sock.destroy();
  }
}

const m = (field: string, value: unknown, mask?: unknown): FlowMod['match'][number] =>
  (mask === undefined ? { field, value } : { field, value, mask }) as FlowMod['match'][number];
let cookie = 0x100n;
const flow = (p: Partial<FlowMod>): FlowMod => flowMod({ cookie: cookie++, priority: 100, ...p });

const FLOWS: FlowMod[] = [
  flow({
    tableId: 0,
    match: [m('in_port', 1)],
    instructions: [
      {
        type: 'apply_actions',
        actions: [
          { type: 'set_field', field: 'reg6', value: 5 },
          { type: 'set_field', field: 'metadata', value: 0x10n },
        ],
      },
      { type: 'goto_table', tableId: 10 },
    ],
  }),
  flow({
    tableId: 10,
    priority: 50,
    match: [m('metadata', 0x10n), m('eth_dst', '02:00:00:00:00:01')],
    instructions: [
      {
        type: 'apply_actions',
        actions: [
          { type: 'set_field', field: 'reg7', value: 3 },
          { type: 'output', port: 2 },
        ],
      },
    ],
  }),
  flow({
    tableId: 10,
    match: [m('eth_type', 0x800), m('ipv4_dst', '10.0.0.0', '255.255.255.0'), m('in_port', 3), m('metadata', 7n)],
    instructions: [
      {
        type: 'apply_actions',
        actions: [
          { type: 'set_field', field: 'eth_dst', value: '02:00:00:00:00:09' },
          { type: 'output', port: 5 },
        ],
      },
      { type: 'goto_table', tableId: 20 },
    ],
  }),
  flow({
    tableId: 20,
    idleTimeout: 30,
    hardTimeout: 60,
    match: [m('eth_type', 0x806), m('arp_op', 1), m('arp_tpa', '10.0.0.1')],
    instructions: [
      {
        type: 'apply_actions',
        actions: [
          { type: 'reg_move', src: 'eth_src', dst: 'eth_dst', nBits: 48, srcOfs: 0, dstOfs: 0 },
          { type: 'set_field', field: 'eth_src', value: '02:00:00:00:00:fe' },
          { type: 'set_field', field: 'arp_op', value: 2 },
          { type: 'output', port: 'in_port' },
        ],
      },
    ],
  }),
  flow({
    tableId: 30,
    match: [m('eth_type', 0x800), m('ct_state', 0, 0x20)],
    instructions: [
      { type: 'apply_actions', actions: [{ type: 'ct', flags: 0, zoneSrc: 'reg6', zone: 15, recircTable: 31, alg: 0, actions: [] }] },
    ],
  }),
  flow({
    tableId: 31,
    match: [m('eth_type', 0x800), m('ct_state', 0x21, 0x21)],
    instructions: [
      {
        type: 'apply_actions',
        actions: [
          { type: 'ct', flags: 1, zone: 5, recircTable: 255, alg: 0, actions: [{ type: 'set_field', field: 'ct_mark', value: 1 }] },
          { type: 'resubmit', table: 40 },
        ],
      },
    ],
  }),
  flow({
    tableId: 32,
    match: [m('eth_type', 0x800), m('ip_proto', 6), m('tcp_dst', 80)],
    instructions: [
      {
        type: 'apply_actions',
        actions: [
          {
            type: 'ct',
            flags: 1,
            zone: 1,
            recircTable: 255,
            alg: 0,
            actions: [{ type: 'nat', flags: 2, ipv4Min: '10.0.0.5', protoMin: 8080 }],
          },
        ],
      },
    ],
  }),
  flow({
    tableId: 40,
    match: [m('eth_type', 0x800), m('ipv4_src', '10.0.0.1')],
    instructions: [{ type: 'apply_actions', actions: [{ type: 'conjunction', id: 7, clause: 1, nClauses: 2 }] }],
  }),
  flow({
    tableId: 40,
    match: [m('conj_id', 7), m('eth_type', 0x800)],
    instructions: [{ type: 'apply_actions', actions: [{ type: 'output', port: 4 }] }],
  }),
  flow({
    tableId: 50,
    priority: 0,
    match: [],
    instructions: [{ type: 'apply_actions', actions: [{ type: 'controller', maxLen: 0xffff, userdata: Buffer.from([0, 0, 0, 1]) }] }],
  }),
  flow({
    tableId: 51,
    match: [m('reg0', 0x10, 0xf0), m('reg15', 1), m('pkt_mark', 9), m('ct_zone', 4), m('ct_mark', 1, 1)],
    instructions: [{ type: 'apply_actions', actions: [{ type: 'output', port: 'controller', maxLen: 128 }] }],
  }),
  flow({
    tableId: 52,
    match: [m('tun_id', 0x64n), m('tun_ipv4_src', '172.31.9.1')],
    instructions: [
      {
        type: 'apply_actions',
        actions: [
          { type: 'set_field', field: 'tun_ipv4_dst', value: '172.31.9.2' },
          { type: 'set_field', field: 'tun_id', value: 0x65n },
          { type: 'output', port: 7 },
        ],
      },
    ],
  }),
  flow({
    tableId: 53,
    match: [m('eth_type', 0x86dd), m('ipv6_dst', 'fe80::', 'ffff:ffff:ffff:ffff::'), m('ip_proto', 58), m('icmpv6_type', 135)],
    instructions: [{ type: 'apply_actions', actions: [{ type: 'output', port: 'normal' }] }],
  }),
  flow({
    tableId: 54,
    match: [m('vlan_vid', 0x1000 | 10)],
    instructions: [{ type: 'apply_actions', actions: [{ type: 'pop_vlan' }, { type: 'output', port: 'flood' }] }],
  }),
  flow({
    tableId: 55,
    match: [m('in_port', 2)],
    instructions: [
      {
        type: 'apply_actions',
        actions: [
          { type: 'push_vlan', ethertype: 0x8100 },
          { type: 'set_field', field: 'vlan_vid', value: 0x1000 | 5 },
          { type: 'output', port: 1 },
        ],
      },
    ],
  }),
  flow({
    tableId: 56,
    match: [m('eth_type', 0x800)],
    instructions: [
      {
        type: 'apply_actions',
        actions: [{ type: 'dec_ttl' }, { type: 'note', data: Buffer.from('wyvern') }, { type: 'group', groupId: 1 }],
      },
    ],
  }),
  flow({
    tableId: 57,
    match: [],
    instructions: [
      { type: 'write_metadata', metadata: 0x5n, mask: 0xffn },
      { type: 'goto_table', tableId: 58 },
    ],
  }),
  flow({
    tableId: 58,
    flags: 1,
    match: [m('xreg1', 0x200000001n)],
    instructions: [
      {
        type: 'apply_actions',
        actions: [{ type: 'resubmit', port: 3, table: 60 }, { type: 'ct_clear' }, { type: 'output', port: 'local' }],
      },
    ],
  }),
  flow({
    tableId: 59,
    match: [m('eth_type', 0x800), m('ip_proto', 17), m('udp_dst', 67)],
    instructions: [
      {
        type: 'apply_actions',
        actions: [
          {
            type: 'learn',
            idleTimeout: 10,
            hardTimeout: 0,
            priority: 5,
            cookie: 0x99n,
            flags: 0,
            tableId: 61,
            finIdleTimeout: 0,
            finHardTimeout: 0,
            specs: [
              { kind: 'match', nBits: 48, src: { field: 'eth_src', ofs: 0 }, dst: { field: 'eth_dst', ofs: 0 } },
              { kind: 'load', nBits: 32, src: { field: 'reg6', ofs: 0 }, dst: { field: 'reg7', ofs: 0 } },
            ],
          },
          { type: 'output', port: 'controller', maxLen: 0xffff },
        ],
      },
    ],
  }),
];

const strip = (line: string): string => line.trim().replace(/(duration|n_packets|n_bytes|idle_age|hard_age)=[^,]*, /g, '');

describe('dump-flows golden against real OVS', () => {
  let host: OvsHost | undefined;
  let conn: RawConn | undefined;
  const ovsLines = new Map<string, string>();
  const stats: FlowStats[] = [];

  beforeAll(async () => {
    host = await startOvsHost({ name: `wgold${randomBytes(3).toString('hex')}` });
    // Group 1 exists so the flow that outputs to it is accepted.
    await host.ofctl(['-O', 'OpenFlow13', 'add-group', host.mgmtSock(), 'group_id=1,type=all,bucket=output:1']);
    conn = await RawConn.open(host.mgmtSock());
    conn.send(hello(1));
    await conn.waitFor((x) => x.type === 'HELLO');
    FLOWS.forEach((f, i) => conn!.send({ ...f, xid: 100 + i }));
    conn.send({ type: 'BARRIER_REQUEST', xid: 99 });
    await conn.waitFor((x) => x.type === 'BARRIER_REPLY' && x.xid === 99);
    const errors = conn.received.filter((x) => x.type === 'ERROR');
    expect(errors.map((e) => e.type === 'ERROR' && `${e.xid} ${e.errTypeName}/${e.codeName}`)).toEqual([]);
    conn.send({
      type: 'MULTIPART_REQUEST',
      xid: 98,
      flags: 0,
      body: { kind: 'flow', tableId: 0xff, outPort: 0xffffffff, outGroup: 0xffffffff, cookie: 0n, cookieMask: 0n, match: [] },
    });
    await conn.waitFor((x) => x.type === 'MULTIPART_REPLY' && x.xid === 98 && (x.flags & 1) === 0);
    for (const r of conn.received) if (r.type === 'MULTIPART_REPLY' && r.xid === 98 && r.body.kind === 'flow') stats.push(...r.body.flows);
    const dump = await host.ofctl(['-O', 'OpenFlow13', 'dump-flows', host.mgmtSock()]);
    for (const line of dump.split('\n')) {
      const c = /cookie=(0x[0-9a-f]+)/.exec(line);
      if (c) ovsLines.set(c[1]!, strip(line));
    }
  }, 120_000);

  afterAll(async () => {
    conn?.close();
    await host?.destroy();
  });

  it('OVS installed every flow', () => {
    expect(ovsLines.size).toBe(FLOWS.length);
    expect(stats.length).toBe(FLOWS.length);
  });

  it('PACKET_IN (standard) and NX_PACKET_IN2 from OVS decode fully, and re-encode byte for byte', async () => {
    const frame = Buffer.from('ffffffffffff020000000001080600010800060400010200000000010a0000010000000000000a000002', 'hex');
    const out = (xid: number): OfMessage => ({
      type: 'PACKET_OUT',
      xid,
      bufferId: 0xffffffff,
      inPort: 'controller',
      actions: [
        { type: 'set_field', field: 'reg6', value: 0x42 },
        { type: 'resubmit', table: 50 },
      ],
      data: frame,
    });
    // Connections to the mgmt socket are "service" connections: OVS sends them no async messages until asked.
    conn!.send({ type: 'SET_ASYNC', xid: 199, packetInMask: [0x3f, 0x3f], portStatusMask: [7, 7], flowRemovedMask: [0xf, 0xf] });
    conn!.send(out(200));
    const pin = await conn!.waitFor((x) => x.type === 'PACKET_IN' && x.cookie === 0x109n);
    expect(pin).toMatchObject({ type: 'PACKET_IN', tableId: 50, totalLen: frame.length, data: frame });
    expect((pin as Extract<OfMessage, { type: 'PACKET_IN' }>).match).toContainEqual({ field: 'reg6', value: 0x42 });
    conn!.send({ type: 'NX_SET_PACKET_IN_FORMAT', xid: 201, format: 2 });
    conn!.send(out(202));
    const pin2 = await conn!.waitFor((x) => x.type === 'NX_PACKET_IN2' || x.type === 'EXPERIMENTER');
    expect(pin2).toMatchObject({ type: 'NX_PACKET_IN2', tableId: 50, cookie: 0x109n, packet: frame, userdata: Buffer.from([0, 0, 0, 1]) });
    expect((pin2 as Extract<OfMessage, { type: 'NX_PACKET_IN2' }>).match).toContainEqual({ field: 'reg6', value: 0x42 });
    expect(conn!.received.filter((x) => x.type === 'ERROR')).toEqual([]);
  });

  it('OVS replies to every request kind decode to their modelled form', async () => {
    const reqs: OfMessage[] = [
      { type: 'FEATURES_REQUEST', xid: 300 },
      { type: 'GET_CONFIG_REQUEST', xid: 301 },
      { type: 'ROLE_REQUEST', xid: 302, role: 0, generationId: 0n },
      { type: 'GET_ASYNC_REQUEST', xid: 303 },
      { type: 'ECHO_REQUEST', xid: 304, data: Buffer.from('ping') },
      ...(['desc', 'table', 'port_desc', 'group_desc'] as const).map((kind, i): OfMessage => ({
        type: 'MULTIPART_REQUEST',
        xid: 310 + i,
        flags: 0,
        body: { kind },
      })),
      {
        type: 'MULTIPART_REQUEST',
        xid: 320,
        flags: 0,
        body: { kind: 'aggregate', tableId: 0xff, outPort: 0xffffffff, outGroup: 0xffffffff, cookie: 0n, cookieMask: 0n, match: [] },
      },
      { type: 'MULTIPART_REQUEST', xid: 321, flags: 0, body: { kind: 'port_stats', portNo: 0xffffffff } },
      { type: 'MULTIPART_REQUEST', xid: 322, flags: 0, body: { kind: 'group', groupId: 0xfffffffc } },
      { type: 'METER_MOD', xid: 323, command: 0, flags: 1 | 8, meterId: 1, bands: [{ type: 'drop', rate: 1000, burstSize: 0 }] },
      { type: 'MULTIPART_REQUEST', xid: 324, flags: 0, body: { kind: 'meter_config', meterId: 0xffffffff } },
      { type: 'MULTIPART_REQUEST', xid: 325, flags: 0, body: { kind: 'meter', meterId: 0xffffffff } },
    ];
    for (const r of reqs) conn!.send(r);
    conn!.send({ type: 'BARRIER_REQUEST', xid: 399 });
    await conn!.waitFor((x) => x.type === 'BARRIER_REPLY' && x.xid === 399);
    const reply = (xid: number): OfMessage | undefined => conn!.received.find((x) => x.xid === xid && x.type !== 'HELLO');
    expect(reply(300)).toMatchObject({ type: 'FEATURES_REPLY', nTables: 254 });
    expect(reply(301)).toMatchObject({ type: 'GET_CONFIG_REPLY' });
    expect(reply(302)).toMatchObject({ type: 'ROLE_REPLY' });
    expect(reply(303)).toMatchObject({ type: 'GET_ASYNC_REPLY' });
    expect(reply(304)).toEqual({ type: 'ECHO_REPLY', xid: 304, data: Buffer.from('ping') });
    expect(reply(310)).toMatchObject({ type: 'MULTIPART_REPLY', body: { kind: 'desc', mfrDesc: 'Nicira, Inc.' } });
    expect(reply(311)).toMatchObject({ type: 'MULTIPART_REPLY', body: { kind: 'table' } });
    const ports = reply(312) as Extract<OfMessage, { type: 'MULTIPART_REPLY' }>;
    expect(ports.body.kind === 'port_desc' && ports.body.ports.map((p) => p.name)).toContain('br-int');
    expect(reply(313)).toMatchObject({ type: 'MULTIPART_REPLY', body: { kind: 'group_desc', groups: [{ groupId: 1 }] } });
    expect(reply(320)).toMatchObject({ type: 'MULTIPART_REPLY', body: { kind: 'aggregate', flowCount: FLOWS.length } });
    expect(reply(321)).toMatchObject({ type: 'MULTIPART_REPLY', body: { kind: 'port_stats' } });
    expect(reply(322)).toMatchObject({ type: 'MULTIPART_REPLY', body: { kind: 'group', groups: [{ groupId: 1 }] } });
    expect(reply(323)).toBeUndefined(); // METER_MOD accepted: no ERROR
    expect(reply(324)).toMatchObject({ type: 'MULTIPART_REPLY', body: { kind: 'meter_config', meters: [{ meterId: 1 }] } });
    expect(reply(325)).toMatchObject({ type: 'MULTIPART_REPLY', body: { kind: 'meter', meters: [{ meterId: 1 }] } });
    // Adding a port produces a PORT_STATUS (async messages were enabled above).
    await host!.vsctl(['add-port', 'br-int', 'wgp0', '--', 'set', 'Interface', 'wgp0', 'type=internal']);
    const ps = await conn!.waitFor((x) => x.type === 'PORT_STATUS' && x.port.name === 'wgp0');
    expect(ps).toMatchObject({ type: 'PORT_STATUS', reason: 0 });
  });

  for (const f of FLOWS) {
    const key = `0x${f.cookie.toString(16)}`;
    it(`flow ${key}: formatFlow(FLOW_MOD) == dump-flows`, () => {
      expect(formatFlow(f)).toBe(ovsLines.get(key));
    });
    it(`flow ${key}: formatFlow(decoded flow stats) == dump-flows`, () => {
      const s = stats.find((x) => x.cookie === f.cookie);
      expect(s).toBeDefined();
      expect(formatFlow(s!)).toBe(ovsLines.get(key));
    });
  }

  it('every message OVS sent re-encoded byte for byte', () => {
    expect(conn!.mismatches).toEqual([]);
  });
});
