/** OpenFlow 1.3 wire constants used by the codec and by callers building messages. */

export const OFP_VERSION = 4;
export const OFP_HEADER_LEN = 8;

export const OFPT = {
  HELLO: 0,
  ERROR: 1,
  ECHO_REQUEST: 2,
  ECHO_REPLY: 3,
  EXPERIMENTER: 4,
  FEATURES_REQUEST: 5,
  FEATURES_REPLY: 6,
  GET_CONFIG_REQUEST: 7,
  GET_CONFIG_REPLY: 8,
  SET_CONFIG: 9,
  PACKET_IN: 10,
  FLOW_REMOVED: 11,
  PORT_STATUS: 12,
  PACKET_OUT: 13,
  FLOW_MOD: 14,
  GROUP_MOD: 15,
  PORT_MOD: 16,
  TABLE_MOD: 17,
  MULTIPART_REQUEST: 18,
  MULTIPART_REPLY: 19,
  BARRIER_REQUEST: 20,
  BARRIER_REPLY: 21,
  QUEUE_GET_CONFIG_REQUEST: 22,
  QUEUE_GET_CONFIG_REPLY: 23,
  ROLE_REQUEST: 24,
  ROLE_REPLY: 25,
  GET_ASYNC_REQUEST: 26,
  GET_ASYNC_REPLY: 27,
  SET_ASYNC: 28,
  METER_MOD: 29,
} as const;

/** Reserved port numbers (ofp_port_no). */
export const OFPP = {
  MAX: 0xffffff00,
  IN_PORT: 0xfffffff8,
  TABLE: 0xfffffff9,
  NORMAL: 0xfffffffa,
  FLOOD: 0xfffffffb,
  ALL: 0xfffffffc,
  CONTROLLER: 0xfffffffd,
  LOCAL: 0xfffffffe,
  ANY: 0xffffffff,
} as const;

export type ReservedPortName = 'in_port' | 'table' | 'normal' | 'flood' | 'all' | 'controller' | 'local' | 'any';

export const RESERVED_PORTS: Record<ReservedPortName, number> = {
  in_port: OFPP.IN_PORT,
  table: OFPP.TABLE,
  normal: OFPP.NORMAL,
  flood: OFPP.FLOOD,
  all: OFPP.ALL,
  controller: OFPP.CONTROLLER,
  local: OFPP.LOCAL,
  any: OFPP.ANY,
};

export const OFPG_ANY = 0xffffffff;
export const OFPG_ALL = 0xfffffffc;
export const OFP_NO_BUFFER = 0xffffffff;
export const OFPTT_ALL = 0xff;
export const OFPCML_NO_BUFFER = 0xffff;
export const OFP_DEFAULT_PRIORITY = 0x8000;

/** ofp_flow_mod_flags */
export const OFPFF = {
  SEND_FLOW_REM: 1,
  CHECK_OVERLAP: 2,
  RESET_COUNTS: 4,
  NO_PKT_COUNTS: 8,
  NO_BYT_COUNTS: 16,
} as const;

export const OFPMPF_REQ_MORE = 1;
export const OFPMPF_REPLY_MORE = 1;

export const NX_VENDOR_ID = 0x00002320;
export const ONF_VENDOR_ID = 0x4f4e4600;

/**
 * Flow monitoring in OpenFlow 1.3 (ONF's extension 1870, OpenFlow 1.4's flow monitor backported; Open vSwitch ≥ 3.1):
 * a multipart request of type OFPMP_EXPERIMENTER asks the switch to report changes to its flows; the updates come as
 * multipart replies of the same type, unsolicited (xid 0), and the switch pauses and resumes them with the two
 * experimenter messages below when its queue for this connection fills and drains.
 */
export const OFPMP_EXPERIMENTER = 0xffff;
export const ONF_FLOW_MONITOR = 1870;
export const ONFT_FLOW_MONITOR_PAUSED = 1871;
export const ONFT_FLOW_MONITOR_RESUMED = 1872;
/** `flags` of a flow monitor request: which changes to report, and what with. */
export const ONFFMF = {
  INITIAL: 1 << 0,
  ADD: 1 << 1,
  DELETE: 1 << 2,
  MODIFY: 1 << 3,
  /** Updates carry the flow's instructions. */
  ACTIONS: 1 << 4,
  /** This connection's own changes in full (otherwise one abbreviated update per batch of them). */
  OWN: 1 << 5,
} as const;

/** Converts an ofp port number to a reserved name when it is one (for printing and friendly decode). */
export function portNumber(port: number | ReservedPortName): number {
  return typeof port === 'number' ? port : RESERVED_PORTS[port];
}

/** OpenFlow 1.3 vlan_vid (13 bits): the "a tag is present" bit, ORed with the 12-bit VID. */
export const OFPVID_PRESENT = 0x1000;
