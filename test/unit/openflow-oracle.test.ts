/**
 * Oracle: every message, instruction, action and match-field kind wyvern encodes is fed (as hex) to
 * `ovs-ofctl ofp-print`, and Open vSwitch's decode must print exactly the expected text. Each case is also
 * checked to decode back to bytes identical to what we sent.
 * Not here because OVS 3.1 rejects them (the codec still round-trips them, see the conformance test):
 * in_phy_port, ipv6_exthdr, copy_ttl_in/out, push/pop_pbb, and EXPERIMENTER messages of unknown vendors.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  decodeMessage,
  encodeMessage,
  flowMod,
  hello,
  ONF_FLOW_MONITOR,
  ONF_VENDOR_ID,
  ONFFMF,
  ONFT_FLOW_MONITOR_PAUSED,
  ONFT_FLOW_MONITOR_RESUMED,
  type Action,
  type Instruction,
  type Match,
  type OfMessage,
} from '../../src/openflow/index.js';

const fm = (match: Match, actions: Action[] = [], extra: Instruction[] = []): OfMessage =>
  flowMod({
    tableId: 1,
    priority: 100,
    match,
    instructions: [...extra, ...(actions.length ? [{ type: 'apply_actions' as const, actions }] : [])],
  });
const m = (field: string, value: unknown, mask?: unknown): Match[number] =>
  (mask === undefined ? { field, value } : { field, value, mask }) as Match[number];
const ip = [m('eth_type', 0x800)];
const ip6 = [m('eth_type', 0x86dd)];
const tcp = [...ip, m('ip_proto', 6)];
const arp = [m('eth_type', 0x806)];
const port = {
  portNo: 7,
  hwAddr: '02:00:00:00:00:07',
  name: 'vif7',
  config: 0,
  state: 4,
  curr: 0x2820,
  advertised: 0,
  supported: 0,
  peer: 0,
  currSpeed: 10000000,
  maxSpeed: 0,
};
const frame = Buffer.from('ffffffffffff020000000001080600010800060400010200000000010a0000010000000000000a000002', 'hex');

const matchCases: Array<[string, Match]> = [
  ['in_port', [m('in_port', 5)]],
  ['metadata masked', [m('metadata', 0x1234n, 0xffffn)]],
  ['eth_dst/src', [m('eth_dst', 'aa:bb:cc:dd:ee:ff'), m('eth_src', '02:00:00:00:00:00', 'ff:ff:ff:00:00:00')]],
  ['eth_type', [m('eth_type', 0x88cc)]],
  ['vlan_vid + pcp', [m('vlan_vid', 0x1000 | 10), m('vlan_pcp', 3)]],
  ['ip dscp ecn proto', [...ip, m('ip_dscp', 46), m('ip_ecn', 1), m('ip_proto', 17)]],
  ['ipv4 masked', [...ip, m('ipv4_src', '10.1.0.0', '255.255.0.0'), m('ipv4_dst', '192.168.1.1')]],
  ['tcp ports', [...tcp, m('tcp_src', 1000), m('tcp_dst', 80)]],
  ['udp ports', [...ip, m('ip_proto', 17), m('udp_src', 68), m('udp_dst', 67)]],
  ['sctp ports', [...ip, m('ip_proto', 132), m('sctp_src', 5), m('sctp_dst', 6)]],
  ['icmpv4', [...ip, m('ip_proto', 1), m('icmpv4_type', 8), m('icmpv4_code', 0)]],
  [
    'arp',
    [
      ...arp,
      m('arp_op', 1),
      m('arp_spa', '10.0.0.1'),
      m('arp_tpa', '10.0.0.2'),
      m('arp_sha', '02:00:00:00:00:01'),
      m('arp_tha', '00:00:00:00:00:00'),
    ],
  ],
  ['ipv6', [...ip6, m('ipv6_src', '2001:db8::1'), m('ipv6_dst', 'fe80::', 'ffff:ffff:ffff:ffff::'), m('ipv6_flabel', 5)]],
  [
    'icmpv6 nd',
    [
      ...ip6,
      m('ip_proto', 58),
      m('icmpv6_type', 135),
      m('icmpv6_code', 0),
      m('ipv6_nd_target', 'fe80::1'),
      m('ipv6_nd_sll', '02:00:00:00:00:01'),
    ],
  ],
  ['nd tll', [...ip6, m('ip_proto', 58), m('icmpv6_type', 136), m('icmpv6_code', 0), m('ipv6_nd_tll', '02:00:00:00:00:02')]],
  ['mpls', [m('eth_type', 0x8847), m('mpls_label', 100), m('mpls_tc', 3), m('mpls_bos', 1)]],
  ['tun_id masked', [m('tun_id', 0x64n, 0xffffn)]],
  ['registers', [m('reg0', 1), m('reg6', 0x10, 0xf0), m('reg15', 0xffffffff)]],
  ['xreg', [m('xreg3', 0x100000001n)]],
  ['tunnel ipv4', [m('tun_ipv4_src', '172.31.9.1'), m('tun_ipv4_dst', '172.31.9.2')]],
  ['conntrack', [m('ct_state', 0x22, 0x22), m('ct_zone', 5), m('ct_mark', 1, 1), m('ct_label', 0x10n, 0xf0n)]],
  ['pkt_mark conj_id', [m('pkt_mark', 7), m('conj_id', 9)]],
  ['ip ttl frag', [...ip, m('ip_ttl', 1), m('ip_frag', 1, 1)]],
  ['nxm duplicates', [m('eth_dst_nxm', '02:00:00:00:00:09'), m('in_port_nxm', 3)]],
  ['tcp_flags nxm', [...tcp, m('tcp_flags_nxm', 2, 0xfff)]],
  ['recirc dp_hash', [m('recirc_id', 5), m('dp_hash', 1, 0xf)]],
  ['ct tuple', [...ip, m('ct_state', 0x21, 0x21), m('ct_nw_proto', 6), m('ct_nw_src', '10.0.0.1'), m('ct_tp_dst', 80)]],
];

const actionCases: Array<[string, Action[], Match?]> = [
  [
    'output ports',
    [
      { type: 'output', port: 3 },
      { type: 'output', port: 'in_port' },
      { type: 'output', port: 'local' },
    ],
  ],
  [
    'output reserved',
    [
      { type: 'output', port: 'normal' },
      { type: 'output', port: 'flood' },
      { type: 'output', port: 'all' },
    ],
  ],
  ['output controller', [{ type: 'output', port: 'controller', maxLen: 128 }]],
  ['output table', [{ type: 'output', port: 'table' }]],
  ['group', [{ type: 'group', groupId: 5 }]],
  [
    'set_field',
    [
      { type: 'set_field', field: 'eth_dst', value: '02:00:00:00:00:01' },
      { type: 'set_field', field: 'ipv4_dst', value: '10.0.0.9' },
    ],
    ip,
  ],
  [
    'set_field reg/metadata',
    [
      { type: 'set_field', field: 'reg7', value: 4 },
      { type: 'set_field', field: 'metadata', value: 9n },
      { type: 'set_field', field: 'tun_id', value: 0x99n },
    ],
  ],
  ['set_field masked', [{ type: 'set_field', field: 'reg0', value: 0x10, mask: 0xf0 }]],
  [
    'vlan push/pop',
    [{ type: 'push_vlan', ethertype: 0x8100 }, { type: 'set_field', field: 'vlan_vid', value: 0x1000 | 5 }, { type: 'pop_vlan' }],
  ],
  [
    'mpls',
    [
      { type: 'push_mpls', ethertype: 0x8847 },
      { type: 'set_mpls_ttl', ttl: 9 },
      { type: 'dec_mpls_ttl' },
      { type: 'pop_mpls', ethertype: 0x800 },
    ],
    ip,
  ],
  ['ttl', [{ type: 'set_nw_ttl', ttl: 5 }, { type: 'dec_nw_ttl' }], ip],
  ['set_queue', [{ type: 'set_queue', queueId: 3 }, { type: 'pop_queue' }]],
  [
    'resubmit',
    [
      { type: 'resubmit', port: 4 },
      { type: 'resubmit', table: 7 },
      { type: 'resubmit', port: 'in_port', table: 2 },
    ],
  ],
  ['resubmit ct', [{ type: 'resubmit', table: 9, ct: true }], [...ip, m('ct_state', 0x20, 0x30)]],
  [
    'reg_move',
    [
      { type: 'reg_move', src: 'reg0', dst: 'reg1', nBits: 16, srcOfs: 0, dstOfs: 16 },
      { type: 'reg_move', src: 'eth_src', dst: 'eth_dst', nBits: 48, srcOfs: 0, dstOfs: 0 },
    ],
  ],
  [
    'reg_load',
    [
      { type: 'reg_load', dst: 'reg5', ofs: 0, nBits: 32, value: 0x1234n },
      { type: 'reg_load', dst: 'metadata', ofs: 32, nBits: 8, value: 3n },
    ],
  ],
  [
    'set_tunnel',
    [
      { type: 'set_tunnel', tunId: 5n },
      { type: 'set_tunnel', tunId: 0x100000000n },
    ],
  ],
  ['note', [{ type: 'note', data: Buffer.from([1, 2, 3]) }]],
  [
    'output_reg',
    [
      { type: 'output_reg', src: 'reg7', ofs: 0, nBits: 32, maxLen: 0 },
      { type: 'output_reg', src: 'reg6', ofs: 0, nBits: 16, maxLen: 0, v2: true },
    ],
  ],
  [
    'learn',
    [
      {
        type: 'learn',
        idleTimeout: 10,
        hardTimeout: 20,
        priority: 5,
        cookie: 0x99n,
        flags: 0,
        tableId: 9,
        finIdleTimeout: 0,
        finHardTimeout: 0,
        specs: [
          { kind: 'match', nBits: 48, src: { field: 'eth_src', ofs: 0 }, dst: { field: 'eth_dst', ofs: 0 } },
          { kind: 'match', nBits: 16, src: { value: Buffer.from([0x08, 0x00]) }, dst: { field: 'eth_type', ofs: 0 } },
          { kind: 'load', nBits: 32, src: { field: 'reg6', ofs: 0 }, dst: { field: 'reg7', ofs: 0 } },
          { kind: 'output', nBits: 32, src: { field: 'in_port', ofs: 0 } },
        ],
      },
    ],
  ],
  ['exit', [{ type: 'exit' }]],
  ['dec_ttl', [{ type: 'dec_ttl' }, { type: 'dec_ttl', controllerIds: [1, 2] }], ip],
  ['fin_timeout', [{ type: 'fin_timeout', idleTimeout: 5, hardTimeout: 10 }], tcp],
  [
    'controller v1',
    [
      { type: 'controller', maxLen: 128, reason: 1, controllerId: 0 },
      { type: 'controller', maxLen: 64, controllerId: 3, reason: 0 },
    ],
  ],
  ['controller2', [{ type: 'controller', maxLen: 1024, userdata: Buffer.from([1, 2, 3, 4, 5]), pause: true }]],
  [
    'stack',
    [
      { type: 'stack_push', field: 'reg0', ofs: 0, nBits: 32 },
      { type: 'stack_pop', field: 'reg1', ofs: 0, nBits: 16 },
    ],
  ],
  ['sample', [{ type: 'sample', probability: 100, collectorSetId: 1, obsDomainId: 2, obsPointId: 3 }]],
  ['sample2', [{ type: 'sample', probability: 100, collectorSetId: 1, obsDomainId: 2, obsPointId: 3, samplingPort: 5 }]],
  ['sample3', [{ type: 'sample', probability: 100, collectorSetId: 1, obsDomainId: 2, obsPointId: 3, samplingPort: 5, direction: 1 }]],
  ['conjunction', [{ type: 'conjunction', id: 0xabcd, clause: 2, nClauses: 3 }]],
  ['ct commit zone', [{ type: 'ct', flags: 1, zone: 5, recircTable: 255, alg: 0, actions: [] }], ip],
  ['ct zone reg', [{ type: 'ct', flags: 0, zoneSrc: 'reg6', zone: (0 << 6) | 15, recircTable: 7, alg: 0, actions: [] }], ip],
  [
    'ct nested',
    [
      {
        type: 'ct',
        flags: 1,
        zone: 1,
        recircTable: 255,
        alg: 0,
        actions: [
          { type: 'set_field', field: 'ct_mark', value: 1 },
          { type: 'set_field', field: 'ct_label', value: 0x5n },
        ],
      },
    ],
    ip,
  ],
  [
    'ct nat',
    [
      {
        type: 'ct',
        flags: 1,
        zone: 1,
        recircTable: 255,
        alg: 0,
        actions: [{ type: 'nat', flags: 1, ipv4Min: '10.0.0.1', ipv4Max: '10.0.0.9', protoMin: 1000, protoMax: 2000 }],
      },
    ],
    tcp,
  ],
  [
    'ct nat v6',
    [
      {
        type: 'ct',
        flags: 1,
        zone: 0,
        recircTable: 255,
        alg: 0,
        actions: [{ type: 'nat', flags: 2, ipv6Min: 'fd00::1', ipv6Max: 'fd00::9' }],
      },
    ],
    ip6,
  ],
  ['ct recirc nat', [{ type: 'ct', flags: 0, zone: 0, recircTable: 4, alg: 0, actions: [{ type: 'nat', flags: 0 }] }], ip],
  ['ct_clear', [{ type: 'ct_clear' }]],
  ['output_trunc', [{ type: 'output_trunc', port: 2, maxLen: 100 }]],
];

const instructionCases: Array<[string, Instruction[]]> = [
  ['goto_table', [{ type: 'goto_table', tableId: 4 }]],
  [
    'write_metadata',
    [
      { type: 'write_metadata', metadata: 0x10n, mask: 0xffn },
      { type: 'goto_table', tableId: 2 },
    ],
  ],
  ['write_actions', [{ type: 'write_actions', actions: [{ type: 'output', port: 2 }] }]],
  ['clear_actions', [{ type: 'clear_actions' }]],
  [
    'meter',
    [
      { type: 'meter', meterId: 3 },
      { type: 'apply_actions', actions: [{ type: 'output', port: 1 }] },
    ],
  ],
];

const messageCases: Array<[string, OfMessage]> = [
  ['HELLO', hello(1, [1, 4])],
  ['ERROR', { type: 'ERROR', xid: 2, errType: 5, code: 2, errTypeName: '', codeName: '', data: Buffer.from('0414000800000002', 'hex') }],
  ['ECHO_REQUEST', { type: 'ECHO_REQUEST', xid: 3, data: Buffer.from('hi') }],
  ['ECHO_REPLY', { type: 'ECHO_REPLY', xid: 3, data: Buffer.alloc(0) }],
  ['FEATURES_REQUEST', { type: 'FEATURES_REQUEST', xid: 5 }],
  [
    'FEATURES_REPLY',
    { type: 'FEATURES_REPLY', xid: 5, datapathId: 0xabcdn, nBuffers: 0, nTables: 254, auxiliaryId: 0, capabilities: 0x4f, reserved: 0 },
  ],
  ['GET_CONFIG_REQUEST', { type: 'GET_CONFIG_REQUEST', xid: 6 }],
  ['GET_CONFIG_REPLY', { type: 'GET_CONFIG_REPLY', xid: 6, flags: 0, missSendLen: 128 }],
  ['SET_CONFIG', { type: 'SET_CONFIG', xid: 7, flags: 0, missSendLen: 0xffff }],
  [
    'PACKET_IN',
    {
      type: 'PACKET_IN',
      xid: 0,
      bufferId: 0xffffffff,
      totalLen: frame.length,
      reason: 1,
      tableId: 3,
      cookie: 0x5n,
      match: [m('in_port', 2), m('metadata', 7n), m('reg6', 4)],
      data: frame,
    },
  ],
  [
    'FLOW_REMOVED',
    {
      type: 'FLOW_REMOVED',
      xid: 0,
      cookie: 0x7n,
      priority: 10,
      reason: 0,
      tableId: 2,
      durationSec: 3,
      durationNsec: 0,
      idleTimeout: 5,
      hardTimeout: 0,
      packetCount: 10n,
      byteCount: 600n,
      match: [m('in_port', 1)],
    },
  ],
  ['PORT_STATUS', { type: 'PORT_STATUS', xid: 0, reason: 0, port }],
  [
    'PACKET_OUT',
    { type: 'PACKET_OUT', xid: 8, bufferId: 0xffffffff, inPort: 'controller', actions: [{ type: 'output', port: 'table' }], data: frame },
  ],
  [
    'FLOW_MOD modify_strict',
    flowMod({
      command: 'modify_strict',
      tableId: 2,
      priority: 7,
      cookie: 0x11n,
      cookieMask: 0xffn,
      flags: 1 | 2 | 4,
      idleTimeout: 9,
      hardTimeout: 30,
      match: [m('in_port', 3)],
      instructions: [{ type: 'apply_actions', actions: [] }],
    }),
  ],
  ['FLOW_MOD delete', flowMod({ command: 'delete', tableId: 255, cookie: 0x10000n, cookieMask: 0xffff0000n, outPort: 3 })],
  ['FLOW_MOD delete_strict', flowMod({ command: 'delete_strict', tableId: 4, priority: 5, match: [m('reg0', 1)], flags: 8 | 16 })],
  [
    'FLOW_MOD modify',
    flowMod({ command: 'modify', tableId: 4, match: [m('reg0', 1)], instructions: [{ type: 'goto_table', tableId: 9 }] }),
  ],
  [
    'GROUP_MOD',
    {
      type: 'GROUP_MOD',
      xid: 9,
      command: 0,
      groupType: 1,
      groupId: 7,
      buckets: [
        { weight: 1, watchPort: 0xffffffff, watchGroup: 0xffffffff, actions: [{ type: 'output', port: 1 }] },
        { weight: 2, watchPort: 0xffffffff, watchGroup: 0xffffffff, actions: [{ type: 'output', port: 2 }] },
      ],
    },
  ],
  ['PORT_MOD', { type: 'PORT_MOD', xid: 10, portNo: 7, hwAddr: '02:00:00:00:00:07', config: 1, mask: 1, advertise: 0 }],
  ['TABLE_MOD', { type: 'TABLE_MOD', xid: 11, tableId: 3, config: 3 }],
  ['MP desc req', { type: 'MULTIPART_REQUEST', xid: 12, flags: 0, body: { kind: 'desc' } }],
  [
    'MP flow req',
    {
      type: 'MULTIPART_REQUEST',
      xid: 12,
      flags: 0,
      body: {
        kind: 'flow',
        tableId: 255,
        outPort: 0xffffffff,
        outGroup: 0xffffffff,
        cookie: 0x10n,
        cookieMask: 0xf0n,
        match: [m('in_port', 1)],
      },
    },
  ],
  [
    'MP aggregate req',
    {
      type: 'MULTIPART_REQUEST',
      xid: 12,
      flags: 0,
      body: { kind: 'aggregate', tableId: 1, outPort: 0xffffffff, outGroup: 0xffffffff, cookie: 0n, cookieMask: 0n, match: [] },
    },
  ],
  ['MP table req', { type: 'MULTIPART_REQUEST', xid: 12, flags: 0, body: { kind: 'table' } }],
  ['MP port_stats req', { type: 'MULTIPART_REQUEST', xid: 12, flags: 0, body: { kind: 'port_stats', portNo: 0xffffffff } }],
  ['MP port_desc req', { type: 'MULTIPART_REQUEST', xid: 12, flags: 0, body: { kind: 'port_desc' } }],
  ['MP group req', { type: 'MULTIPART_REQUEST', xid: 12, flags: 0, body: { kind: 'group', groupId: 0xfffffffc } }],
  ['MP group_desc req', { type: 'MULTIPART_REQUEST', xid: 12, flags: 0, body: { kind: 'group_desc' } }],
  ['MP meter req', { type: 'MULTIPART_REQUEST', xid: 12, flags: 0, body: { kind: 'meter', meterId: 0xffffffff } }],
  ['MP meter_config req', { type: 'MULTIPART_REQUEST', xid: 12, flags: 0, body: { kind: 'meter_config', meterId: 1 } }],
  [
    'MP desc reply',
    {
      type: 'MULTIPART_REPLY',
      xid: 12,
      flags: 0,
      body: { kind: 'desc', mfrDesc: 'wyvern', hwDesc: 'hw', swDesc: 'sw', serialNum: 'sn', dpDesc: 'br-int' },
    },
  ],
  [
    'MP flow reply',
    {
      type: 'MULTIPART_REPLY',
      xid: 12,
      flags: 1,
      body: {
        kind: 'flow',
        flows: [
          {
            tableId: 3,
            durationSec: 1,
            durationNsec: 500000000,
            priority: 100,
            idleTimeout: 0,
            hardTimeout: 0,
            flags: 0,
            cookie: 0x42n,
            packetCount: 2n,
            byteCount: 120n,
            match: [m('in_port', 1), m('eth_dst', '02:00:00:00:00:01')],
            instructions: [
              { type: 'apply_actions', actions: [{ type: 'output', port: 2 }] },
              { type: 'goto_table', tableId: 4 },
            ],
          },
        ],
      },
    },
  ],
  [
    'MP aggregate reply',
    { type: 'MULTIPART_REPLY', xid: 12, flags: 0, body: { kind: 'aggregate', packetCount: 5n, byteCount: 300n, flowCount: 2 } },
  ],
  [
    'MP table reply',
    {
      type: 'MULTIPART_REPLY',
      xid: 12,
      flags: 0,
      body: { kind: 'table', tables: [{ tableId: 0, activeCount: 4, lookupCount: 10n, matchedCount: 8n }] },
    },
  ],
  [
    'MP port_stats reply',
    {
      type: 'MULTIPART_REPLY',
      xid: 12,
      flags: 0,
      body: {
        kind: 'port_stats',
        ports: [
          {
            portNo: 1,
            rxPackets: 1n,
            txPackets: 2n,
            rxBytes: 3n,
            txBytes: 4n,
            rxDropped: 5n,
            txDropped: 6n,
            rxErrors: 7n,
            txErrors: 8n,
            rxFrameErr: 9n,
            rxOverErr: 10n,
            rxCrcErr: 11n,
            collisions: 12n,
            durationSec: 13,
            durationNsec: 0,
          },
        ],
      },
    },
  ],
  ['MP port_desc reply', { type: 'MULTIPART_REPLY', xid: 12, flags: 0, body: { kind: 'port_desc', ports: [port] } }],
  [
    'MP group reply',
    {
      type: 'MULTIPART_REPLY',
      xid: 12,
      flags: 0,
      body: {
        kind: 'group',
        groups: [
          {
            groupId: 7,
            refCount: 1,
            packetCount: 3n,
            byteCount: 180n,
            durationSec: 2,
            durationNsec: 0,
            buckets: [{ packetCount: 3n, byteCount: 180n }],
          },
        ],
      },
    },
  ],
  [
    'MP group_desc reply',
    {
      type: 'MULTIPART_REPLY',
      xid: 12,
      flags: 0,
      body: {
        kind: 'group_desc',
        groups: [
          {
            groupType: 0,
            groupId: 7,
            buckets: [{ weight: 0, watchPort: 0xffffffff, watchGroup: 0xffffffff, actions: [{ type: 'output', port: 3 }] }],
          },
        ],
      },
    },
  ],
  [
    'MP meter reply',
    {
      type: 'MULTIPART_REPLY',
      xid: 12,
      flags: 0,
      body: {
        kind: 'meter',
        meters: [
          {
            meterId: 1,
            flowCount: 2,
            packetInCount: 10n,
            byteInCount: 600n,
            durationSec: 5,
            durationNsec: 0,
            bands: [{ packetCount: 1n, byteCount: 60n }],
          },
        ],
      },
    },
  ],
  [
    'MP meter_config reply',
    {
      type: 'MULTIPART_REPLY',
      xid: 12,
      flags: 0,
      body: { kind: 'meter_config', meters: [{ flags: 1 | 8, meterId: 1, bands: [{ type: 'drop', rate: 1000, burstSize: 100 }] }] },
    },
  ],
  ['BARRIER_REQUEST', { type: 'BARRIER_REQUEST', xid: 13 }],
  ['BARRIER_REPLY', { type: 'BARRIER_REPLY', xid: 13 }],
  ['ROLE_REQUEST', { type: 'ROLE_REQUEST', xid: 14, role: 2, generationId: 5n }],
  ['ROLE_REPLY', { type: 'ROLE_REPLY', xid: 14, role: 2, generationId: 5n }],
  ['GET_ASYNC_REQUEST', { type: 'GET_ASYNC_REQUEST', xid: 15 }],
  ['GET_ASYNC_REPLY', { type: 'GET_ASYNC_REPLY', xid: 15, packetInMask: [3, 1], portStatusMask: [7, 0], flowRemovedMask: [15, 0] }],
  ['SET_ASYNC', { type: 'SET_ASYNC', xid: 16, packetInMask: [3, 1], portStatusMask: [7, 0], flowRemovedMask: [15, 0] }],
  [
    'METER_MOD',
    {
      type: 'METER_MOD',
      xid: 17,
      command: 0,
      flags: 1 | 4,
      meterId: 1,
      bands: [
        { type: 'drop', rate: 1000, burstSize: 100 },
        { type: 'dscp_remark', rate: 2000, burstSize: 0, precLevel: 1 },
      ],
    },
  ],
  ['BUNDLE_CONTROL open', { type: 'BUNDLE_CONTROL', xid: 18, bundleId: 1, controlType: 'open_request', flags: 1 }],
  ['BUNDLE_CONTROL commit', { type: 'BUNDLE_CONTROL', xid: 19, bundleId: 1, controlType: 'commit_request', flags: 3 }],
  ['BUNDLE_CONTROL discard reply', { type: 'BUNDLE_CONTROL', xid: 19, bundleId: 1, controlType: 'discard_reply', flags: 0 }],
  [
    'BUNDLE_ADD',
    {
      type: 'BUNDLE_ADD',
      xid: 20,
      bundleId: 1,
      flags: 1,
      message: flowMod({ xid: 20, tableId: 2, priority: 9, match: [m('reg6', 1)], instructions: [{ type: 'goto_table', tableId: 3 }] }),
    },
  ],
  [
    'MP flow_monitor req',
    {
      type: 'MULTIPART_REQUEST',
      xid: 12,
      flags: 0,
      body: {
        kind: 'flow_monitor',
        monitors: [
          { id: 1, flags: ONFFMF.ADD | ONFFMF.DELETE | ONFFMF.MODIFY, outPort: 0xffffffff, tableId: 0xff, match: [] },
          { id: 7, flags: 0x3f, outPort: 3, tableId: 5, match: [m('in_port', 5), m('eth_type', 0x800)] },
        ],
      },
    },
  ],
  [
    'MP flow_monitor reply',
    {
      type: 'MULTIPART_REPLY',
      xid: 0,
      flags: 0,
      body: {
        kind: 'flow_monitor',
        updates: [
          {
            event: 'added',
            reason: 0,
            priority: 100,
            idleTimeout: 0,
            hardTimeout: 0,
            tableId: 3,
            cookie: 0x10n,
            match: [m('in_port', 5)],
            instructions: [{ type: 'goto_table', tableId: 4 }],
          },
          {
            event: 'deleted',
            reason: 2,
            priority: 100,
            idleTimeout: 30,
            hardTimeout: 0,
            tableId: 3,
            cookie: 0x10n,
            match: [m('in_port', 5)],
            instructions: [],
          },
          {
            event: 'modified',
            reason: 0,
            priority: 7,
            idleTimeout: 0,
            hardTimeout: 60,
            tableId: 0,
            cookie: 0xffn,
            match: [],
            instructions: [{ type: 'apply_actions', actions: [{ type: 'output', port: 2 }] }],
          },
          { event: 'abbrev', xid: 0x1234 },
        ],
      },
    },
  ],
  [
    'ONF flow monitor cancel',
    { type: 'EXPERIMENTER', xid: 3, experimenter: ONF_VENDOR_ID, expType: ONF_FLOW_MONITOR, data: Buffer.from([0, 0, 0, 7]) },
  ],
  [
    'ONF flow monitor paused',
    { type: 'EXPERIMENTER', xid: 0, experimenter: ONF_VENDOR_ID, expType: ONFT_FLOW_MONITOR_PAUSED, data: Buffer.alloc(0) },
  ],
  [
    'ONF flow monitor resumed',
    { type: 'EXPERIMENTER', xid: 0, experimenter: ONF_VENDOR_ID, expType: ONFT_FLOW_MONITOR_RESUMED, data: Buffer.alloc(0) },
  ],
  ['NX_SET_PACKET_IN_FORMAT', { type: 'NX_SET_PACKET_IN_FORMAT', xid: 21, format: 2 }],
  [
    'NX_PACKET_IN2',
    {
      type: 'NX_PACKET_IN2',
      xid: 0,
      packet: frame,
      tableId: 3,
      cookie: 0x9n,
      reason: 1,
      match: [m('in_port', 2), m('reg6', 4)],
      userdata: Buffer.from([1, 2, 3]),
    },
  ],
];

const cases: Array<[string, OfMessage]> = [
  ...matchCases.map(([n, match]): [string, OfMessage] => [`match ${n}`, fm(match, [{ type: 'output', port: 1 }])]),
  ...actionCases.map(([n, actions, match]): [string, OfMessage] => [`action ${n}`, fm(match ?? [], actions)]),
  ...instructionCases.map(([n, ins]): [string, OfMessage] => [`instruction ${n}`, fm([], [], ins)]),
  ...messageCases.map(([n, msg]): [string, OfMessage] => [`message ${n}`, msg]),
];

function ofpPrint(hex: string): string {
  return execFileSync('ovs-ofctl', ['ofp-print', hex], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

/** What OVS 3.1's ofp-print printed for each case, reviewed by hand when recorded (WYVERN_ORACLE_RECORD=file). */
const EXPECTED: Record<string, string> = {
  'match in_port': 'OFPT_FLOW_MOD (OF1.3) (xid=0x0): ADD table:1 priority=100,in_port=5 actions=output:1',
  'match metadata masked': 'OFPT_FLOW_MOD (OF1.3) (xid=0x0): ADD table:1 priority=100,metadata=0x1234/0xffff actions=output:1',
  'match eth_dst/src':
    'OFPT_FLOW_MOD (OF1.3) (xid=0x0): ADD table:1 priority=100,dl_src=02:00:00:00:00:00/ff:ff:ff:00:00:00,dl_dst=aa:bb:cc:dd:ee:ff actions=output:1',
  'match eth_type': 'OFPT_FLOW_MOD (OF1.3) (xid=0x0): ADD table:1 priority=100,dl_type=0x88cc actions=output:1',
  'match vlan_vid + pcp': 'OFPT_FLOW_MOD (OF1.3) (xid=0x0): ADD table:1 priority=100,dl_vlan=10,dl_vlan_pcp=3 actions=output:1',
  'match ip dscp ecn proto': 'OFPT_FLOW_MOD (OF1.3) (xid=0x0): ADD table:1 priority=100,udp,nw_tos=184,nw_ecn=1 actions=output:1',
  'match ipv4 masked':
    'OFPT_FLOW_MOD (OF1.3) (xid=0x0): ADD table:1 priority=100,ip,nw_src=10.1.0.0/16,nw_dst=192.168.1.1 actions=output:1',
  'match tcp ports': 'OFPT_FLOW_MOD (OF1.3) (xid=0x0): ADD table:1 priority=100,tcp,tp_src=1000,tp_dst=80 actions=output:1',
  'match udp ports': 'OFPT_FLOW_MOD (OF1.3) (xid=0x0): ADD table:1 priority=100,udp,tp_src=68,tp_dst=67 actions=output:1',
  'match sctp ports': 'OFPT_FLOW_MOD (OF1.3) (xid=0x0): ADD table:1 priority=100,sctp,tp_src=5,tp_dst=6 actions=output:1',
  'match icmpv4': 'OFPT_FLOW_MOD (OF1.3) (xid=0x0): ADD table:1 priority=100,icmp,icmp_type=8,icmp_code=0 actions=output:1',
  'match arp':
    'OFPT_FLOW_MOD (OF1.3) (xid=0x0): ADD table:1 priority=100,arp,arp_spa=10.0.0.1,arp_tpa=10.0.0.2,arp_op=1,arp_sha=02:00:00:00:00:01,arp_tha=00:00:00:00:00:00 actions=output:1',
  'match ipv6':
    'OFPT_FLOW_MOD (OF1.3) (xid=0x0): ADD table:1 priority=100,ipv6,ipv6_src=2001:db8::1,ipv6_dst=fe80::/64,ipv6_label=0x00005 actions=output:1',
  'match icmpv6 nd':
    'OFPT_FLOW_MOD (OF1.3) (xid=0x0): ADD table:1 priority=100,icmp6,icmp_type=135,icmp_code=0,nd_target=fe80::1,nd_sll=02:00:00:00:00:01 actions=output:1',
  'match nd tll':
    'OFPT_FLOW_MOD (OF1.3) (xid=0x0): ADD table:1 priority=100,icmp6,icmp_type=136,icmp_code=0,nd_tll=02:00:00:00:00:02 actions=output:1',
  'match mpls': 'OFPT_FLOW_MOD (OF1.3) (xid=0x0): ADD table:1 priority=100,mpls,mpls_label=100,mpls_tc=3,mpls_bos=1 actions=output:1',
  'match tun_id masked': 'OFPT_FLOW_MOD (OF1.3) (xid=0x0): ADD table:1 priority=100,tun_id=0x64/0xffff actions=output:1',
  'match registers': 'OFPT_FLOW_MOD (OF1.3) (xid=0x0): ADD table:1 priority=100,reg0=0x1,reg6=0x10/0xf0,reg15=0xffffffff actions=output:1',
  'match xreg': 'OFPT_FLOW_MOD (OF1.3) (xid=0x0): ADD table:1 priority=100,reg6=0x1,reg7=0x1 actions=output:1',
  'match tunnel ipv4': 'OFPT_FLOW_MOD (OF1.3) (xid=0x0): ADD table:1 priority=100,tun_src=172.31.9.1,tun_dst=172.31.9.2 actions=output:1',
  'match conntrack':
    'OFPT_FLOW_MOD (OF1.3) (xid=0x0): ADD table:1 priority=100,ct_state=+est+trk,ct_zone=5,ct_mark=0x1/0x1,ct_label=0x10/0xf0 actions=output:1',
  'match pkt_mark conj_id': 'OFPT_FLOW_MOD (OF1.3) (xid=0x0): ADD table:1 priority=100,pkt_mark=0x7,conj_id=9 actions=output:1',
  'match ip ttl frag': 'OFPT_FLOW_MOD (OF1.3) (xid=0x0): ADD table:1 priority=100,ip,nw_ttl=1,nw_frag=yes actions=output:1',
  'match nxm duplicates': 'OFPT_FLOW_MOD (OF1.3) (xid=0x0): ADD table:1 priority=100,in_port=3,dl_dst=02:00:00:00:00:09 actions=output:1',
  'match tcp_flags nxm': 'OFPT_FLOW_MOD (OF1.3) (xid=0x0): ADD table:1 priority=100,tcp,tcp_flags=syn actions=output:1',
  'match recirc dp_hash': 'OFPT_FLOW_MOD (OF1.3) (xid=0x0): ADD table:1 priority=100,recirc_id=0x5,dp_hash=0x1/0xf actions=output:1',
  'match ct tuple':
    'OFPT_FLOW_MOD (OF1.3) (xid=0x0): ADD table:1 priority=100,ct_state=+new+trk,ct_nw_src=10.0.0.1,ct_nw_proto=6,ct_tp_dst=80,ip actions=output:1',
  'action output ports': 'OFPT_FLOW_MOD (OF1.3) (xid=0x0): ADD table:1 priority=100 actions=output:3,IN_PORT,LOCAL',
  'action output reserved': 'OFPT_FLOW_MOD (OF1.3) (xid=0x0): ADD table:1 priority=100 actions=NORMAL,FLOOD,ALL',
  'action output controller': 'OFPT_FLOW_MOD (OF1.3) (xid=0x0): ADD table:1 priority=100 actions=CONTROLLER:128',
  'action output table': 'OFPT_FLOW_MOD (OF1.3) (xid=0x0): ADD table:1 priority=100 actions=TABLE',
  'action group': 'OFPT_FLOW_MOD (OF1.3) (xid=0x0): ADD table:1 priority=100 actions=group:5',
  'action set_field':
    'OFPT_FLOW_MOD (OF1.3) (xid=0x0): ADD table:1 priority=100,ip actions=set_field:02:00:00:00:00:01->eth_dst,set_field:10.0.0.9->ip_dst',
  'action set_field reg/metadata':
    'OFPT_FLOW_MOD (OF1.3) (xid=0x0): ADD table:1 priority=100 actions=set_field:0x4->reg7,set_field:0x9->metadata,set_field:0x99->tun_id',
  'action set_field masked': 'OFPT_FLOW_MOD (OF1.3) (xid=0x0): ADD table:1 priority=100 actions=set_field:0x10/0xf0->reg0',
  'action vlan push/pop':
    'OFPT_FLOW_MOD (OF1.3) (xid=0x0): ADD table:1 priority=100 actions=push_vlan:0x8100,set_field:4101->vlan_vid,pop_vlan',
  'action mpls':
    'OFPT_FLOW_MOD (OF1.3) (xid=0x0): ADD table:1 priority=100,ip actions=push_mpls:0x8847,set_mpls_ttl(9),dec_mpls_ttl,pop_mpls:0x0800',
  'action ttl': 'OFPT_FLOW_MOD (OF1.3) (xid=0x0): ADD table:1 priority=100,ip actions=mod_nw_ttl:5,dec_ttl',
  'action set_queue': 'OFPT_FLOW_MOD (OF1.3) (xid=0x0): ADD table:1 priority=100 actions=set_queue:3,pop_queue',
  'action resubmit': 'OFPT_FLOW_MOD (OF1.3) (xid=0x0): ADD table:1 priority=100 actions=resubmit:4,resubmit(,7),resubmit(,2)',
  'action resubmit ct': 'OFPT_FLOW_MOD (OF1.3) (xid=0x0): ADD table:1 priority=100,ct_state=-inv+trk,ip actions=resubmit(,9,ct)',
  'action reg_move':
    'OFPT_FLOW_MOD (OF1.3) (xid=0x0): ADD table:1 priority=100 actions=move:NXM_NX_REG0[0..15]->NXM_NX_REG1[16..31],move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[]',
  'action reg_load':
    'OFPT_FLOW_MOD (OF1.3) (xid=0x0): ADD table:1 priority=100 actions=load:0x1234->NXM_NX_REG5[],load:0x3->OXM_OF_METADATA[32..39]',
  'action set_tunnel': 'OFPT_FLOW_MOD (OF1.3) (xid=0x0): ADD table:1 priority=100 actions=set_tunnel:0x5,set_tunnel64:0x100000000',
  'action note': 'OFPT_FLOW_MOD (OF1.3) (xid=0x0): ADD table:1 priority=100 actions=note:01.02.03.00.00.00',
  'action output_reg': 'OFPT_FLOW_MOD (OF1.3) (xid=0x0): ADD table:1 priority=100 actions=output:NXM_NX_REG7[],output:NXM_NX_REG6[0..15]',
  'action learn':
    'OFPT_FLOW_MOD (OF1.3) (xid=0x0): ADD table:1 priority=100 actions=learn(table=9,idle_timeout=10,hard_timeout=20,priority=5,cookie=0x99,NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],eth_type=0x800,load:NXM_NX_REG6[]->NXM_NX_REG7[],output:OXM_OF_IN_PORT[])',
  'action exit': 'OFPT_FLOW_MOD (OF1.3) (xid=0x0): ADD table:1 priority=100 actions=exit',
  'action dec_ttl': 'OFPT_FLOW_MOD (OF1.3) (xid=0x0): ADD table:1 priority=100,ip actions=dec_ttl,dec_ttl(1,2)',
  'action fin_timeout': 'OFPT_FLOW_MOD (OF1.3) (xid=0x0): ADD table:1 priority=100,tcp actions=fin_timeout(idle_timeout=5,hard_timeout=10)',
  'action controller v1':
    'OFPT_FLOW_MOD (OF1.3) (xid=0x0): ADD table:1 priority=100 actions=CONTROLLER:128,controller(reason=no_match,max_len=64,id=3)',
  'action controller2':
    'OFPT_FLOW_MOD (OF1.3) (xid=0x0): ADD table:1 priority=100 actions=controller(max_len=1024,userdata=01.02.03.04.05,pause)',
  'action stack': 'OFPT_FLOW_MOD (OF1.3) (xid=0x0): ADD table:1 priority=100 actions=push:NXM_NX_REG0[],pop:NXM_NX_REG1[0..15]',
  'action sample':
    'OFPT_FLOW_MOD (OF1.3) (xid=0x0): ADD table:1 priority=100 actions=sample(probability=100,collector_set_id=1,obs_domain_id=2,obs_point_id=3)',
  'action sample2':
    'OFPT_FLOW_MOD (OF1.3) (xid=0x0): ADD table:1 priority=100 actions=sample(probability=100,collector_set_id=1,obs_domain_id=2,obs_point_id=3,sampling_port=5)',
  'action sample3':
    'OFPT_FLOW_MOD (OF1.3) (xid=0x0): ADD table:1 priority=100 actions=sample(probability=100,collector_set_id=1,obs_domain_id=2,obs_point_id=3,sampling_port=5,ingress)',
  'action conjunction': 'OFPT_FLOW_MOD (OF1.3) (xid=0x0): ADD table:1 priority=100 actions=conjunction(43981,2/3)',
  'action ct commit zone': 'OFPT_FLOW_MOD (OF1.3) (xid=0x0): ADD table:1 priority=100,ip actions=ct(commit,zone=5)',
  'action ct zone reg': 'OFPT_FLOW_MOD (OF1.3) (xid=0x0): ADD table:1 priority=100,ip actions=ct(table=7,zone=NXM_NX_REG6[0..15])',
  'action ct nested':
    'OFPT_FLOW_MOD (OF1.3) (xid=0x0): ADD table:1 priority=100,ip actions=ct(commit,zone=1,exec(set_field:0x1->ct_mark,set_field:0x5->ct_label))',
  'action ct nat':
    'OFPT_FLOW_MOD (OF1.3) (xid=0x0): ADD table:1 priority=100,tcp actions=ct(commit,zone=1,nat(src=10.0.0.1-10.0.0.9:1000-2000))',
  'action ct nat v6': 'OFPT_FLOW_MOD (OF1.3) (xid=0x0): ADD table:1 priority=100,ipv6 actions=ct(commit,nat(dst=fd00::1-fd00::9))',
  'action ct recirc nat': 'OFPT_FLOW_MOD (OF1.3) (xid=0x0): ADD table:1 priority=100,ip actions=ct(table=4,nat)',
  'action ct_clear': 'OFPT_FLOW_MOD (OF1.3) (xid=0x0): ADD table:1 priority=100 actions=ct_clear',
  'action output_trunc': 'OFPT_FLOW_MOD (OF1.3) (xid=0x0): ADD table:1 priority=100 actions=output(port=2,max_len=100)',
  'instruction goto_table': 'OFPT_FLOW_MOD (OF1.3) (xid=0x0): ADD table:1 priority=100 actions=goto_table:4',
  'instruction write_metadata': 'OFPT_FLOW_MOD (OF1.3) (xid=0x0): ADD table:1 priority=100 actions=write_metadata:0x10/0xff,goto_table:2',
  'instruction write_actions': 'OFPT_FLOW_MOD (OF1.3) (xid=0x0): ADD table:1 priority=100 actions=write_actions(output:2)',
  'instruction clear_actions': 'OFPT_FLOW_MOD (OF1.3) (xid=0x0): ADD table:1 priority=100 actions=clear_actions',
  'instruction meter': 'OFPT_FLOW_MOD (OF1.3) (xid=0x0): ADD table:1 priority=100 actions=meter:3,output:1',
  'message HELLO': 'OFPT_HELLO (OF1.3) (xid=0x1):\n version bitmap: 0x01, 0x04',
  'message ERROR': 'OFPT_ERROR (OF1.3) (xid=0x2): OFPFMFC_BAD_TABLE_ID\nOFPT_BARRIER_REQUEST (OF1.3) (xid=0x2):',
  'message ECHO_REQUEST':
    'OFPT_ECHO_REQUEST (OF1.3) (xid=0x3): 2 bytes of payload\n00000000  68 69                                           |hi              |',
  'message ECHO_REPLY': 'OFPT_ECHO_REPLY (OF1.3) (xid=0x3): 0 bytes of payload',
  'message FEATURES_REQUEST': 'OFPT_FEATURES_REQUEST (OF1.3) (xid=0x5):',
  'message FEATURES_REPLY':
    'OFPT_FEATURES_REPLY (OF1.3) (xid=0x5): dpid:000000000000abcd\nn_tables:254, n_buffers:0\ncapabilities: FLOW_STATS TABLE_STATS PORT_STATS GROUP_STATS QUEUE_STATS',
  'message GET_CONFIG_REQUEST': 'OFPT_GET_CONFIG_REQUEST (OF1.3) (xid=0x6):',
  'message GET_CONFIG_REPLY': 'OFPT_GET_CONFIG_REPLY (OF1.3) (xid=0x6): frags=normal miss_send_len=128',
  'message SET_CONFIG': 'OFPT_SET_CONFIG (OF1.3) (xid=0x7): frags=normal miss_send_len=65535',
  'message PACKET_IN':
    'OFPT_PACKET_IN (OF1.3) (xid=0x0): table_id=3 cookie=0x5 total_len=42 reg6=0x4,metadata=0x7,in_port=2 (via action) data_len=42 (unbuffered)\narp,vlan_tci=0x0000,dl_src=02:00:00:00:00:01,dl_dst=ff:ff:ff:ff:ff:ff,arp_spa=10.0.0.1,arp_tpa=10.0.0.2,arp_op=1,arp_sha=02:00:00:00:00:01,arp_tha=00:00:00:00:00:00',
  'message FLOW_REMOVED':
    'OFPT_FLOW_REMOVED (OF1.3) (xid=0x0): priority=10,in_port=1 reason=idle table_id=2 cookie:0x7 duration3s idle5 pkts10 bytes600',
  'message PORT_STATUS':
    'OFPT_PORT_STATUS (OF1.3) (xid=0x0): ADD: 7(vif7): addr:02:00:00:00:00:07\n     config:     0\n     state:      LIVE\n     current:    1GB-FD COPPER AUTO_NEG\n     speed: 10000 Mbps now, 0 Mbps max',
  'message PACKET_OUT':
    'OFPT_PACKET_OUT (OF1.3) (xid=0x8): in_port=CONTROLLER actions=TABLE data_len=42\narp,vlan_tci=0x0000,dl_src=02:00:00:00:00:01,dl_dst=ff:ff:ff:ff:ff:ff,arp_spa=10.0.0.1,arp_tpa=10.0.0.2,arp_op=1,arp_sha=02:00:00:00:00:01,arp_tha=00:00:00:00:00:00',
  'message FLOW_MOD modify_strict':
    'OFPT_FLOW_MOD (OF1.3) (xid=0x0): MOD_STRICT table:2 priority=7,in_port=3 cookie:0x11/0xff idle:9 hard:30 send_flow_rem check_overlap reset_counts actions=drop',
  'message FLOW_MOD delete': 'OFPT_FLOW_MOD (OF1.3) (xid=0x0): DEL table:255 cookie:0x10000/0xffff0000 out_port:3 actions=drop',
  'message FLOW_MOD delete_strict':
    'OFPT_FLOW_MOD (OF1.3) (xid=0x0): DEL_STRICT table:4 priority=5,reg0=0x1 no_packet_counts no_byte_counts actions=drop',
  'message FLOW_MOD modify': 'OFPT_FLOW_MOD (OF1.3) (xid=0x0): MOD table:4 reg0=0x1 actions=goto_table:9',
  'message GROUP_MOD':
    'OFPT_GROUP_MOD (OF1.3) (xid=0x9):\n ADD group_id=7,type=select,bucket=actions=output:1,bucket=weight:2,actions=output:2',
  'message PORT_MOD':
    'OFPT_PORT_MOD (OF1.3) (xid=0xa): port: 7: addr:02:00:00:00:00:07\n     config: PORT_DOWN\n     mask:   PORT_DOWN\n     advertise: UNCHANGED',
  'message TABLE_MOD': 'OFPT_TABLE_MOD (OF1.3) (xid=0xb): table_id=3',
  'message MP desc req': 'OFPST_DESC request (OF1.3) (xid=0xc):',
  'message MP flow req': 'OFPST_FLOW request (OF1.3) (xid=0xc): in_port=1',
  'message MP aggregate req': 'OFPST_AGGREGATE request (OF1.3) (xid=0xc): table=1',
  'message MP table req': 'OFPST_TABLE request (OF1.3) (xid=0xc):',
  'message MP port_stats req': 'OFPST_PORT request (OF1.3) (xid=0xc): port_no=ANY',
  'message MP port_desc req': 'OFPST_PORT_DESC request (OF1.3) (xid=0xc): port=ANY',
  'message MP group req': 'OFPST_GROUP request (OF1.3) (xid=0xc): group_id=ALL',
  'message MP group_desc req': 'OFPST_GROUP_DESC request (OF1.3) (xid=0xc): group_id=ALL',
  'message MP meter req': 'OFPST_METER request (OF1.3) (xid=0xc): meter=all',
  'message MP meter_config req': 'OFPST_METER_CONFIG request (OF1.3) (xid=0xc): meter=1',
  'message MP desc reply':
    'OFPST_DESC reply (OF1.3) (xid=0xc):\nManufacturer: wyvern\nHardware: hw\nSoftware: sw\nSerial Num: sn\nDP Description: br-int',
  'message MP flow reply':
    'OFPST_FLOW reply (OF1.3) (xid=0xc): flags=[more]\n cookie=0x42, duration=1.500s, table=3, n_packets=2, n_bytes=120, priority=100,in_port=1,dl_dst=02:00:00:00:00:01 actions=output:2,goto_table:4',
  'message MP aggregate reply': 'OFPST_AGGREGATE reply (OF1.3) (xid=0xc): packet_count=5 byte_count=300 flow_count=2',
  'message MP table reply': 'OFPST_TABLE reply (OF1.3) (xid=0xc):\n  table 0:\n    active=4, lookup=10, matched=8',
  'message MP port_stats reply':
    'OFPST_PORT reply (OF1.3) (xid=0xc): 1 ports\n  port  1: rx pkts=1, bytes=3, drop=5, errs=7, frame=9, over=10, crc=11\n           tx pkts=2, bytes=4, drop=6, errs=8, coll=12\n           duration=13s',
  'message MP port_desc reply':
    'OFPST_PORT_DESC reply (OF1.3) (xid=0xc):\n 7(vif7): addr:02:00:00:00:00:07\n     config:     0\n     state:      LIVE\n     current:    1GB-FD COPPER AUTO_NEG\n     speed: 10000 Mbps now, 0 Mbps max',
  'message MP group reply':
    'OFPST_GROUP reply (OF1.3) (xid=0xc):\n group_id=7,duration=2s,ref_count=1,packet_count=3,byte_count=180,bucket0:packet_count=3,byte_count=180',
  'message MP group_desc reply': 'OFPST_GROUP_DESC reply (OF1.3) (xid=0xc):\n group_id=7,type=all,bucket=actions=output:3',
  'message MP meter reply':
    'OFPST_METER reply (OF1.3) (xid=0xc):\nmeter:1 flow_count:2 packet_in_count:10 byte_in_count:600 duration:5s bands:\n0: packet_count:1 byte_count:60',
  'message MP meter_config reply': 'OFPST_METER_CONFIG reply (OF1.3) (xid=0xc):\nmeter=1 kbps stats bands=\ntype=drop rate=1000',
  'message BARRIER_REQUEST': 'OFPT_BARRIER_REQUEST (OF1.3) (xid=0xd):',
  'message BARRIER_REPLY': 'OFPT_BARRIER_REPLY (OF1.3) (xid=0xd):',
  'message ROLE_REQUEST': 'OFPT_ROLE_REQUEST (OF1.3) (xid=0xe): role=primary generation_id=5',
  'message ROLE_REPLY': 'OFPT_ROLE_REPLY (OF1.3) (xid=0xe): role=primary generation_id=5',
  'message GET_ASYNC_REQUEST': 'OFPT_GET_ASYNC_REQUEST (OF1.3) (xid=0xf):',
  'message GET_ASYNC_REPLY':
    'OFPT_GET_ASYNC_REPLY (OF1.3) (xid=0xf):\n primary:\n       PACKET_IN: no_match action\n     PORT_STATUS: add delete modify\n    FLOW_REMOVED: idle hard delete group_delete\n     ROLE_STATUS: (off)\n    TABLE_STATUS: (off)\n  REQUESTFORWARD: (off)\n\n secondary:\n       PACKET_IN: no_match\n     PORT_STATUS: (off)\n    FLOW_REMOVED: (off)\n     ROLE_STATUS: (off)\n    TABLE_STATUS: (off)\n  REQUESTFORWARD: (off)',
  'message SET_ASYNC':
    'OFPT_SET_ASYNC (OF1.3) (xid=0x10):\n primary:\n       PACKET_IN: no_match action\n     PORT_STATUS: add delete modify\n    FLOW_REMOVED: idle hard delete group_delete\n     ROLE_STATUS: (off)\n    TABLE_STATUS: (off)\n  REQUESTFORWARD: (off)\n\n secondary:\n       PACKET_IN: no_match\n     PORT_STATUS: (off)\n    FLOW_REMOVED: (off)\n     ROLE_STATUS: (off)\n    TABLE_STATUS: (off)\n  REQUESTFORWARD: (off)',
  'message METER_MOD':
    'OFPT_METER_MOD (OF1.3) (xid=0x11): ADD meter=1 kbps burst bands=\ntype=drop rate=1000 burst_size=100\ntype=dscp_remark rate=2000 burst_size=0 prec_level=1',
  'message BUNDLE_CONTROL open': 'ONFT_BUNDLE_CONTROL (OF1.3) (xid=0x12):\n bundle_id=0x1 type=OPEN_REQUEST flags=atomic',
  'message BUNDLE_CONTROL commit': 'ONFT_BUNDLE_CONTROL (OF1.3) (xid=0x13):\n bundle_id=0x1 type=COMMIT_REQUEST flags=atomic ordered',
  'message BUNDLE_CONTROL discard reply': 'ONFT_BUNDLE_CONTROL (OF1.3) (xid=0x13):\n bundle_id=0x1 type=DISCARD_REPLY flags=0',
  'message BUNDLE_ADD':
    'ONFT_BUNDLE_ADD_MESSAGE (OF1.3) (xid=0x14):\n bundle_id=0x1 flags=atomic\nOFPT_FLOW_MOD (OF1.3) (xid=0x14): ADD table:2 priority=9,reg6=0x1 actions=goto_table:3',
  'message MP flow_monitor req':
    'ONFST_FLOW_MONITOR request (OF1.3) (xid=0xc):\n id=1 flags=add,delete,modify\n id=7 flags=initial,add,delete,modify,actions,own out_port=3 table=5 ip,in_port=5',
  'message MP flow_monitor reply':
    'ONFST_FLOW_MONITOR reply (OF1.3) (xid=0x0):\n event=ADDED table=3 cookie=0x10 in_port=5 actions=goto_table:4\n event=DELETED reason=delete table=3 idle_timeout=30 cookie=0x10 in_port=5\n event=MODIFIED table=0 hard_timeout=60 cookie=0xff actions=output:2\n event=ABBREV xid=0x1234',
  'message ONF flow monitor cancel': 'ONFT_FLOW_MONITOR_CANCEL (OF1.3) (xid=0x3): id=7',
  'message ONF flow monitor paused': 'ONFT_FLOW_MONITOR_PAUSED (OF1.3) (xid=0x0):',
  'message ONF flow monitor resumed': 'ONFT_FLOW_MONITOR_RESUMED (OF1.3) (xid=0x0):',
  'message NX_SET_PACKET_IN_FORMAT': 'NXT_SET_PACKET_IN_FORMAT (OF1.3) (xid=0x15): format=nxt_packet_in2',
  'message NX_PACKET_IN2':
    'NXT_PACKET_IN2 (OF1.3) (xid=0x0): table_id=3 cookie=0x9 total_len=42 reg6=0x4,in_port=2 (via action) data_len=42 (unbuffered)\n userdata=01.02.03\narp,vlan_tci=0x0000,dl_src=02:00:00:00:00:01,dl_dst=ff:ff:ff:ff:ff:ff,arp_spa=10.0.0.1,arp_tpa=10.0.0.2,arp_op=1,arp_sha=02:00:00:00:00:01,arp_tha=00:00:00:00:00:00',
};

describe('ovs-ofctl ofp-print oracle', () => {
  it('ovs-ofctl is installed', () => {
    expect(execFileSync('ovs-ofctl', ['--version'], { encoding: 'utf8' })).toMatch(/Open vSwitch/);
  });
  const actual: Record<string, string> = {};
  for (const [name, msg] of cases) {
    it(name, () => {
      const bytes = encodeMessage(msg);
      expect(encodeMessage(decodeMessage(bytes)).equals(bytes), 'round trip').toBe(true);
      const printed = ofpPrint(bytes.toString('hex'));
      actual[name] = printed;
      expect(printed).not.toMatch(/decode error|\*\*\*/);
      if (process.env.WYVERN_ORACLE_RECORD) return;
      expect(printed).toBe(EXPECTED[name]);
    });
  }
  // Recording the oracle's output is a maintenance step, not a test: it exists only when asked for.
  if (process.env.WYVERN_ORACLE_RECORD) {
    it('records', () => {
      writeFileSync(process.env.WYVERN_ORACLE_RECORD!, JSON.stringify(actual, null, 1));
    });
  }
});
