/** The decoded shape of every OpenFlow 1.3 message wyvern speaks. 64-bit quantities are bigint. */
import type { ReservedPortName } from './constants.js';

export type FieldValue = number | bigint | string | Buffer;

/** A known field, named as ovs-ofctl names it (NXM duplicates of OXM fields carry an `_nxm` suffix). */
export type FieldName = string;

export interface KnownMatchField {
  field: FieldName;
  value: FieldValue;
  mask?: FieldValue;
}

/** A field the codec does not know: kept opaque and re-encoded byte for byte. */
export interface UnknownMatchField {
  field: 'unknown';
  class: number;
  fieldNum: number;
  hasMask: boolean;
  /** Payload after the 4-byte OXM header (value, then mask when hasMask; experimenter id included). */
  raw: Buffer;
  /** Absent: lets code read `m.value` on any MatchField without narrowing first. */
  value?: undefined;
  mask?: undefined;
}

export type MatchField = KnownMatchField | UnknownMatchField;
export type Match = MatchField[];

export type PortRef = number | ReservedPortName;

/** A field referenced by NXM header in Nicira actions (reg_move, reg_load, learn, stack, output_reg). */
export type FieldRef = FieldName;

export type Action =
  | { type: 'output'; port: PortRef; maxLen?: number }
  | { type: 'copy_ttl_out' }
  | { type: 'copy_ttl_in' }
  | { type: 'set_mpls_ttl'; ttl: number }
  | { type: 'dec_mpls_ttl' }
  | { type: 'push_vlan'; ethertype: number }
  | { type: 'pop_vlan' }
  | { type: 'push_mpls'; ethertype: number }
  | { type: 'pop_mpls'; ethertype: number }
  | { type: 'push_pbb'; ethertype: number }
  | { type: 'pop_pbb' }
  | { type: 'set_queue'; queueId: number }
  | { type: 'group'; groupId: number }
  | { type: 'set_nw_ttl'; ttl: number }
  | { type: 'dec_nw_ttl' }
  | { type: 'set_field'; field: FieldName; value: FieldValue; mask?: FieldValue }
  // Nicira extensions
  | { type: 'resubmit'; port?: PortRef; table?: number; ct?: boolean }
  | { type: 'reg_move'; src: FieldRef; dst: FieldRef; nBits: number; srcOfs: number; dstOfs: number }
  | { type: 'reg_load'; dst: FieldRef; ofs: number; nBits: number; value: bigint }
  | { type: 'set_tunnel'; tunId: bigint; wide?: boolean }
  | { type: 'pop_queue' }
  | { type: 'note'; data: Buffer }
  | { type: 'output_reg'; src: FieldRef; ofs: number; nBits: number; maxLen: number; v2?: boolean }
  | ({ type: 'learn' } & LearnAction)
  | { type: 'exit' }
  | { type: 'dec_ttl'; controllerIds?: number[] }
  | { type: 'fin_timeout'; idleTimeout: number; hardTimeout: number }
  | { type: 'controller'; maxLen: number; reason?: number; controllerId?: number; userdata?: Buffer; pause?: boolean; v2?: boolean }
  | { type: 'stack_push'; field: FieldRef; ofs: number; nBits: number }
  | { type: 'stack_pop'; field: FieldRef; ofs: number; nBits: number }
  | {
      type: 'sample';
      probability: number;
      collectorSetId: number;
      obsDomainId: number;
      obsPointId: number;
      samplingPort?: number;
      direction?: number;
    }
  /** `clause` is 1-based as in ovs-ofctl's conjunction(id, clause/nClauses); the wire carries clause-1. */
  | { type: 'conjunction'; id: number; clause: number; nClauses: number }
  | CtAction
  | NatAction
  | { type: 'output_trunc'; port: PortRef; maxLen: number }
  | { type: 'ct_clear' }
  /** Anything else: the whole action (header included), re-encoded unchanged. */
  | { type: 'unknown'; raw: Buffer };

export interface CtAction {
  type: 'ct';
  /** NX_CT_F_COMMIT = 1, NX_CT_F_FORCE = 2 */
  flags: number;
  /** Field the zone is loaded from; absent = immediate `zone`. */
  zoneSrc?: FieldRef;
  /** Immediate zone, or (with zoneSrc) the ofs_nbits encoding (ofs << 6 | nBits - 1). */
  zone: number;
  /** 255 = no recirculation. */
  recircTable: number;
  alg: number;
  actions: Action[];
}

export interface NatAction {
  type: 'nat';
  /** NX_NAT_F_SRC 1, DST 2, PERSISTENT 4, PROTO_HASH 8, PROTO_RANDOM 16 */
  flags: number;
  ipv4Min?: string;
  ipv4Max?: string;
  ipv6Min?: string;
  ipv6Max?: string;
  protoMin?: number;
  protoMax?: number;
}

export interface LearnAction {
  idleTimeout: number;
  hardTimeout: number;
  priority: number;
  cookie: bigint;
  flags: number;
  tableId: number;
  finIdleTimeout: number;
  finHardTimeout: number;
  specs: LearnSpec[];
}

export type LearnSrc = { field: FieldRef; ofs: number } | { value: Buffer };
export interface LearnSpec {
  kind: 'match' | 'load' | 'output';
  nBits: number;
  src: LearnSrc;
  dst?: { field: FieldRef; ofs: number };
}

export type Instruction =
  | { type: 'goto_table'; tableId: number }
  | { type: 'write_metadata'; metadata: bigint; mask: bigint }
  | { type: 'write_actions'; actions: Action[] }
  | { type: 'apply_actions'; actions: Action[] }
  | { type: 'clear_actions' }
  | { type: 'meter'; meterId: number }
  | { type: 'unknown'; raw: Buffer };

export type FlowModCommand = 'add' | 'modify' | 'modify_strict' | 'delete' | 'delete_strict';

export interface FlowMod {
  type: 'FLOW_MOD';
  xid: number;
  cookie: bigint;
  cookieMask: bigint;
  tableId: number;
  command: FlowModCommand;
  idleTimeout: number;
  hardTimeout: number;
  priority: number;
  bufferId: number;
  outPort: number;
  outGroup: number;
  flags: number;
  match: Match;
  instructions: Instruction[];
}

export interface FlowStats {
  tableId: number;
  durationSec: number;
  durationNsec: number;
  priority: number;
  idleTimeout: number;
  hardTimeout: number;
  flags: number;
  cookie: bigint;
  packetCount: bigint;
  byteCount: bigint;
  match: Match;
  instructions: Instruction[];
}

export interface Port {
  portNo: number;
  hwAddr: string;
  name: string;
  config: number;
  state: number;
  curr: number;
  advertised: number;
  supported: number;
  peer: number;
  currSpeed: number;
  maxSpeed: number;
}

export interface Bucket {
  weight: number;
  watchPort: number;
  watchGroup: number;
  actions: Action[];
}

export type MeterBand =
  | { type: 'drop'; rate: number; burstSize: number }
  | { type: 'dscp_remark'; rate: number; burstSize: number; precLevel: number }
  | { type: 'unknown'; bandType: number; rate: number; burstSize: number; data: Buffer };

export type HelloElement = { type: 'versionbitmap'; bitmaps: number[] } | { type: 'unknown'; elemType: number; data: Buffer };

export interface ErrorMsg {
  type: 'ERROR';
  xid: number;
  errType: number;
  code: number;
  errTypeName: string;
  codeName: string;
  /** Experimenter id when errType is 0xffff (code is then the experimenter's exp_type). */
  experimenter?: number;
  /** Usually the start of the offending request. */
  data: Buffer;
}

export interface PacketIn {
  type: 'PACKET_IN';
  xid: number;
  bufferId: number;
  totalLen: number;
  reason: number;
  tableId: number;
  cookie: bigint;
  match: Match;
  data: Buffer;
}

export interface PacketOut {
  type: 'PACKET_OUT';
  xid: number;
  bufferId: number;
  inPort: PortRef;
  actions: Action[];
  data: Buffer;
}

export type MultipartRequestBody =
  | { kind: 'desc' }
  | { kind: 'table' }
  | { kind: 'port_desc' }
  | { kind: 'group_desc' }
  | { kind: 'flow' | 'aggregate'; tableId: number; outPort: number; outGroup: number; cookie: bigint; cookieMask: bigint; match: Match }
  | { kind: 'port_stats'; portNo: number }
  | { kind: 'group'; groupId: number }
  | { kind: 'meter' | 'meter_config'; meterId: number }
  /** ONF's OpenFlow 1.3 flow monitor, one or more (ONFFMF flags; tableId 0xff and outPort ANY: every flow). */
  | { kind: 'flow_monitor'; monitors: Array<{ id: number; flags: number; outPort: number; tableId: number; match: Match }> }
  | { kind: 'unknown'; mpType: number; data: Buffer };

/**
 * One change a flow monitor reports: a flow added, deleted (with its OFPRR reason) or modified, in full; or 'abbrev',
 * this connection's own changes (the xid of the message that made them).
 */
export type FlowUpdate =
  | {
      event: 'added' | 'deleted' | 'modified';
      reason: number;
      priority: number;
      idleTimeout: number;
      hardTimeout: number;
      tableId: number;
      cookie: bigint;
      match: Match;
      /** Empty unless the monitor asked for them (ONFFMF.ACTIONS) and the flow was not deleted. */
      instructions: Instruction[];
    }
  | { event: 'abbrev'; xid: number };

export interface TableStats {
  tableId: number;
  activeCount: number;
  lookupCount: bigint;
  matchedCount: bigint;
}
export interface PortStats {
  portNo: number;
  rxPackets: bigint;
  txPackets: bigint;
  rxBytes: bigint;
  txBytes: bigint;
  rxDropped: bigint;
  txDropped: bigint;
  rxErrors: bigint;
  txErrors: bigint;
  rxFrameErr: bigint;
  rxOverErr: bigint;
  rxCrcErr: bigint;
  collisions: bigint;
  durationSec: number;
  durationNsec: number;
}
export interface GroupStats {
  groupId: number;
  refCount: number;
  packetCount: bigint;
  byteCount: bigint;
  durationSec: number;
  durationNsec: number;
  buckets: Array<{ packetCount: bigint; byteCount: bigint }>;
}
export interface GroupDesc {
  groupType: number;
  groupId: number;
  buckets: Bucket[];
}
export interface MeterStats {
  meterId: number;
  flowCount: number;
  packetInCount: bigint;
  byteInCount: bigint;
  durationSec: number;
  durationNsec: number;
  bands: Array<{ packetCount: bigint; byteCount: bigint }>;
}
export interface MeterConfig {
  flags: number;
  meterId: number;
  bands: MeterBand[];
}

export type MultipartReplyBody =
  | { kind: 'desc'; mfrDesc: string; hwDesc: string; swDesc: string; serialNum: string; dpDesc: string }
  | { kind: 'flow'; flows: FlowStats[] }
  | { kind: 'aggregate'; packetCount: bigint; byteCount: bigint; flowCount: number }
  | { kind: 'table'; tables: TableStats[] }
  | { kind: 'port_stats'; ports: PortStats[] }
  | { kind: 'port_desc'; ports: Port[] }
  | { kind: 'group'; groups: GroupStats[] }
  | { kind: 'group_desc'; groups: GroupDesc[] }
  | { kind: 'meter'; meters: MeterStats[] }
  | { kind: 'meter_config'; meters: MeterConfig[] }
  | { kind: 'flow_monitor'; updates: FlowUpdate[] }
  | { kind: 'unknown'; mpType: number; data: Buffer };

export type BundleControlType =
  'open_request' | 'open_reply' | 'close_request' | 'close_reply' | 'commit_request' | 'commit_reply' | 'discard_request' | 'discard_reply';

export type OfMessage =
  | { type: 'HELLO'; xid: number; version?: number; elements: HelloElement[] }
  | ErrorMsg
  | { type: 'ECHO_REQUEST' | 'ECHO_REPLY'; xid: number; data: Buffer }
  | { type: 'EXPERIMENTER'; xid: number; experimenter: number; expType: number; data: Buffer }
  | { type: 'FEATURES_REQUEST' | 'GET_CONFIG_REQUEST' | 'BARRIER_REQUEST' | 'BARRIER_REPLY' | 'GET_ASYNC_REQUEST'; xid: number }
  | {
      type: 'FEATURES_REPLY';
      xid: number;
      datapathId: bigint;
      nBuffers: number;
      nTables: number;
      auxiliaryId: number;
      capabilities: number;
      reserved: number;
    }
  | { type: 'GET_CONFIG_REPLY' | 'SET_CONFIG'; xid: number; flags: number; missSendLen: number }
  | PacketIn
  | {
      type: 'FLOW_REMOVED';
      xid: number;
      cookie: bigint;
      priority: number;
      reason: number;
      tableId: number;
      durationSec: number;
      durationNsec: number;
      idleTimeout: number;
      hardTimeout: number;
      packetCount: bigint;
      byteCount: bigint;
      match: Match;
    }
  | { type: 'PORT_STATUS'; xid: number; reason: number; port: Port }
  | PacketOut
  | FlowMod
  | { type: 'GROUP_MOD'; xid: number; command: number; groupType: number; groupId: number; buckets: Bucket[] }
  | { type: 'PORT_MOD'; xid: number; portNo: number; hwAddr: string; config: number; mask: number; advertise: number }
  | { type: 'TABLE_MOD'; xid: number; tableId: number; config: number }
  | { type: 'MULTIPART_REQUEST'; xid: number; flags: number; body: MultipartRequestBody }
  | { type: 'MULTIPART_REPLY'; xid: number; flags: number; body: MultipartReplyBody }
  | { type: 'ROLE_REQUEST' | 'ROLE_REPLY'; xid: number; role: number; generationId: bigint }
  | {
      type: 'GET_ASYNC_REPLY' | 'SET_ASYNC';
      xid: number;
      packetInMask: [number, number];
      portStatusMask: [number, number];
      flowRemovedMask: [number, number];
    }
  | { type: 'METER_MOD'; xid: number; command: number; flags: number; meterId: number; bands: MeterBand[] }
  | { type: 'BUNDLE_CONTROL'; xid: number; bundleId: number; controlType: BundleControlType; flags: number; properties?: Buffer }
  | { type: 'BUNDLE_ADD'; xid: number; bundleId: number; flags: number; message: OfMessage; properties?: Buffer }
  | { type: 'NX_SET_PACKET_IN_FORMAT'; xid: number; format: number }
  | NxPacketIn2
  /** A message type the codec does not model (or a non-1.3 version): kept as bytes after the header. */
  | { type: 'UNKNOWN'; xid: number; version: number; msgType: number; body: Buffer };

export interface NxPacketIn2 {
  type: 'NX_PACKET_IN2';
  xid: number;
  packet: Buffer;
  fullLen?: number;
  bufferId?: number;
  tableId: number;
  cookie: bigint;
  reason: number;
  match: Match;
  userdata?: Buffer;
  continuation?: Buffer;
}

export type OfMessageType = OfMessage['type'];
export type MessageOf<T extends OfMessageType> = Extract<OfMessage, { type: T }>;
