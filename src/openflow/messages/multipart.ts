/** MULTIPART_REQUEST / MULTIPART_REPLY bodies. Types the codec does not model stay opaque (kind 'unknown'). */
import { readMatch, writeMatch } from '../oxm.js';
import { OfpDecodeError } from '../errors.js';
import type { Reader } from '../reader.js';
import type {
  FlowStats,
  GroupDesc,
  GroupStats,
  MeterConfig,
  MeterStats,
  MultipartReplyBody,
  MultipartRequestBody,
  OfMessage,
  Port,
  PortStats,
  TableStats,
} from '../types.js';
import type { Writer } from '../writer.js';
import { readPort, writePort } from './basic.js';
import { readFlowStats, writeFlowStats } from './flow.js';
import { readBands, readBuckets, writeBands, writeBuckets } from './mods.js';
import { readFlowUpdates, readMonitors, writeFlowUpdates, writeMonitors } from './flow-monitor.js';
import { ONF_FLOW_MONITOR, ONF_VENDOR_ID, OFPMP_EXPERIMENTER } from '../constants.js';

export const OFPMP = {
  DESC: 0,
  FLOW: 1,
  AGGREGATE: 2,
  TABLE: 3,
  PORT_STATS: 4,
  QUEUE: 5,
  GROUP: 6,
  GROUP_DESC: 7,
  GROUP_FEATURES: 8,
  METER: 9,
  METER_CONFIG: 10,
  METER_FEATURES: 11,
  TABLE_FEATURES: 12,
  PORT_DESC: 13,
} as const;

const KIND_NUM: Record<string, number> = {
  desc: 0,
  flow: 1,
  aggregate: 2,
  table: 3,
  port_stats: 4,
  group: 6,
  group_desc: 7,
  meter: 9,
  meter_config: 10,
  port_desc: 13,
  flow_monitor: OFPMP_EXPERIMENTER,
};

/** Whether an OFPMP_EXPERIMENTER body is ONF's flow monitor (its experimenter header is then skipped). */
function isFlowMonitor(r: Reader): boolean {
  if (r.remaining() < 8 || r.buf.readUInt32BE(r.pos) !== ONF_VENDOR_ID || r.buf.readUInt32BE(r.pos + 4) !== ONF_FLOW_MONITOR) return false;
  r.pad(8);
  return true;
}

/**
 * An OFPMP_EXPERIMENTER request: ONF's flow monitor when it reads as one, else opaque. A switch never sends
 * requests; other implementations lay this one out differently (os-ken's vector, which Open vSwitch cannot decode
 * either), and a request is decoded only to be shown or relayed, so one that does not read is kept as bytes.
 */
function readExperimenterRequest(r: Reader, mpType: number): MultipartRequestBody {
  const start = r.pos;
  if (isFlowMonitor(r)) {
    try {
      return { kind: 'flow_monitor', monitors: readMonitors(r.sub(r.remaining(), 'flow monitor request')) };
    } catch (err) {
      if (!(err instanceof OfpDecodeError)) throw err;
      r.pos = start;
    }
  }
  return { kind: 'unknown', mpType, data: r.copy(r.remaining()) };
}

function writeFlowMonitorHeader(w: Writer): void {
  w.u32(ONF_VENDOR_ID);
  w.u32(ONF_FLOW_MONITOR);
}

export function readMultipartRequest(r: Reader, xid: number): OfMessage {
  const mpType = r.u16(),
    flags = r.u16();
  r.pad(4);
  let body: MultipartRequestBody;
  switch (mpType) {
    case OFPMP.DESC:
    case OFPMP.TABLE:
    case OFPMP.PORT_DESC:
    case OFPMP.GROUP_DESC:
      if (r.remaining() !== 0) r.fail('unexpected multipart request body');
      body = { kind: mpType === 0 ? 'desc' : mpType === 3 ? 'table' : mpType === 13 ? 'port_desc' : 'group_desc' };
      break;
    case OFPMP.FLOW:
    case OFPMP.AGGREGATE: {
      const tableId = r.u8();
      r.pad(3);
      const outPort = r.u32(),
        outGroup = r.u32();
      r.pad(4);
      const cookie = r.u64(),
        cookieMask = r.u64(),
        match = readMatch(r);
      body = { kind: mpType === 1 ? 'flow' : 'aggregate', tableId, outPort, outGroup, cookie, cookieMask, match };
      break;
    }
    case OFPMP.PORT_STATS:
      body = { kind: 'port_stats', portNo: r.u32() };
      r.pad(4);
      break;
    case OFPMP.GROUP:
      body = { kind: 'group', groupId: r.u32() };
      r.pad(4);
      break;
    case OFPMP.METER:
    case OFPMP.METER_CONFIG:
      body = { kind: mpType === 9 ? 'meter' : 'meter_config', meterId: r.u32() };
      r.pad(4);
      break;
    case OFPMP_EXPERIMENTER:
      body = readExperimenterRequest(r, mpType);
      break;
    default:
      body = { kind: 'unknown', mpType, data: r.copy(r.remaining()) };
  }
  if (r.remaining() !== 0) r.fail('trailing bytes in multipart request');
  return { type: 'MULTIPART_REQUEST', xid, flags, body };
}

export function writeMultipartRequest(w: Writer, flags: number, b: MultipartRequestBody): void {
  w.u16(b.kind === 'unknown' ? b.mpType : KIND_NUM[b.kind]!);
  w.u16(flags);
  w.zero(4);
  switch (b.kind) {
    case 'flow':
    case 'aggregate':
      w.u8(b.tableId);
      w.zero(3);
      w.u32(b.outPort);
      w.u32(b.outGroup);
      w.zero(4);
      w.u64(b.cookie);
      w.u64(b.cookieMask);
      writeMatch(w, b.match);
      break;
    case 'port_stats':
      w.u32(b.portNo);
      w.zero(4);
      break;
    case 'group':
      w.u32(b.groupId);
      w.zero(4);
      break;
    case 'meter':
    case 'meter_config':
      w.u32(b.meterId);
      w.zero(4);
      break;
    case 'flow_monitor':
      writeFlowMonitorHeader(w);
      writeMonitors(w, b.monitors);
      break;
    case 'unknown':
      w.bytes(b.data);
      break;
    default:
      break;
  }
}

function list<T>(r: Reader, read: (r: Reader) => T): T[] {
  const out: T[] = [];
  while (r.remaining() > 0) out.push(read(r));
  return out;
}

function lengthPrefixed<T>(r: Reader, min: number, lenAt: number, read: (s: Reader, start: number) => T): T {
  const start = r.pos;
  r.need(lenAt + 2, 'multipart entry');
  const len = r.buf.readUInt16BE(start + lenAt);
  if (len < min) r.fail(`multipart entry length ${len} < ${min}`, start + lenAt);
  const s = r.sub(len, 'multipart entry');
  return read(s, start);
}

function readTableStats(r: Reader): TableStats {
  const tableId = r.u8();
  r.pad(3);
  return { tableId, activeCount: r.u32(), lookupCount: r.u64(), matchedCount: r.u64() };
}

function readPortStats(r: Reader): PortStats {
  const portNo = r.u32();
  r.pad(4);
  return {
    portNo,
    rxPackets: r.u64(),
    txPackets: r.u64(),
    rxBytes: r.u64(),
    txBytes: r.u64(),
    rxDropped: r.u64(),
    txDropped: r.u64(),
    rxErrors: r.u64(),
    txErrors: r.u64(),
    rxFrameErr: r.u64(),
    rxOverErr: r.u64(),
    rxCrcErr: r.u64(),
    collisions: r.u64(),
    durationSec: r.u32(),
    durationNsec: r.u32(),
  };
}

const PORT_STATS_U64 = [
  'rxPackets',
  'txPackets',
  'rxBytes',
  'txBytes',
  'rxDropped',
  'txDropped',
  'rxErrors',
  'txErrors',
  'rxFrameErr',
  'rxOverErr',
  'rxCrcErr',
  'collisions',
] as const;

function readGroupStats(r: Reader): GroupStats {
  return lengthPrefixed(r, 40, 0, (s, start) => {
    s.pos = start + 2;
    s.pad(2);
    const groupId = s.u32(),
      refCount = s.u32();
    s.pad(4);
    const packetCount = s.u64(),
      byteCount = s.u64(),
      durationSec = s.u32(),
      durationNsec = s.u32();
    const buckets = list(s, (b) => ({ packetCount: b.u64(), byteCount: b.u64() }));
    return { groupId, refCount, packetCount, byteCount, durationSec, durationNsec, buckets };
  });
}

function readGroupDesc(r: Reader): GroupDesc {
  return lengthPrefixed(r, 8, 0, (s, start) => {
    s.pos = start + 2;
    const groupType = s.u8();
    s.pad(1);
    const groupId = s.u32();
    return { groupType, groupId, buckets: readBuckets(s, s.remaining()) };
  });
}

function readMeterStats(r: Reader): MeterStats {
  return lengthPrefixed(r, 40, 4, (s, start) => {
    const meterId = s.u32();
    s.pos = start + 6;
    s.pad(6);
    const flowCount = s.u32(),
      packetInCount = s.u64(),
      byteInCount = s.u64(),
      durationSec = s.u32();
    const durationNsec = s.u32();
    const bands = list(s, (b) => ({ packetCount: b.u64(), byteCount: b.u64() }));
    return { meterId, flowCount, packetInCount, byteInCount, durationSec, durationNsec, bands };
  });
}

function readMeterConfig(r: Reader): MeterConfig {
  return lengthPrefixed(r, 8, 0, (s, start) => {
    s.pos = start + 2;
    const flags = s.u16(),
      meterId = s.u32();
    return { flags, meterId, bands: readBands(s, s.remaining()) };
  });
}

export function readMultipartReply(r: Reader, xid: number): OfMessage {
  const mpType = r.u16(),
    flags = r.u16();
  r.pad(4);
  let body: MultipartReplyBody;
  switch (mpType) {
    case OFPMP.DESC:
      body = { kind: 'desc', mfrDesc: r.str(256), hwDesc: r.str(256), swDesc: r.str(256), serialNum: r.str(32), dpDesc: r.str(256) };
      break;
    case OFPMP.FLOW:
      body = { kind: 'flow', flows: list(r, readFlowStats) };
      break;
    case OFPMP.AGGREGATE: {
      const packetCount = r.u64(),
        byteCount = r.u64(),
        flowCount = r.u32();
      r.pad(4);
      body = { kind: 'aggregate', packetCount, byteCount, flowCount };
      break;
    }
    case OFPMP.TABLE:
      body = { kind: 'table', tables: list(r, readTableStats) };
      break;
    case OFPMP.PORT_STATS:
      body = { kind: 'port_stats', ports: list(r, readPortStats) };
      break;
    case OFPMP.PORT_DESC:
      body = { kind: 'port_desc', ports: list(r, readPort) };
      break;
    case OFPMP.GROUP:
      body = { kind: 'group', groups: list(r, readGroupStats) };
      break;
    case OFPMP.GROUP_DESC:
      body = { kind: 'group_desc', groups: list(r, readGroupDesc) };
      break;
    case OFPMP.METER:
      body = { kind: 'meter', meters: list(r, readMeterStats) };
      break;
    case OFPMP.METER_CONFIG:
      body = { kind: 'meter_config', meters: list(r, readMeterConfig) };
      break;
    case OFPMP_EXPERIMENTER:
      if (isFlowMonitor(r)) {
        body = { kind: 'flow_monitor', updates: readFlowUpdates(r) };
        break;
      }
      body = { kind: 'unknown', mpType, data: r.copy(r.remaining()) };
      break;
    default:
      body = { kind: 'unknown', mpType, data: r.copy(r.remaining()) };
  }
  if (r.remaining() !== 0) r.fail('trailing bytes in multipart reply');
  return { type: 'MULTIPART_REPLY', xid, flags, body };
}

export function writeMultipartReply(w: Writer, flags: number, b: MultipartReplyBody): void {
  w.u16(b.kind === 'unknown' ? b.mpType : KIND_NUM[b.kind]!);
  w.u16(flags);
  w.zero(4);
  switch (b.kind) {
    case 'desc':
      w.str(b.mfrDesc, 256);
      w.str(b.hwDesc, 256);
      w.str(b.swDesc, 256);
      w.str(b.serialNum, 32);
      w.str(b.dpDesc, 256);
      break;
    case 'flow':
      for (const f of b.flows) writeFlowStats(w, f as FlowStats);
      break;
    case 'aggregate':
      w.u64(b.packetCount);
      w.u64(b.byteCount);
      w.u32(b.flowCount);
      w.zero(4);
      break;
    case 'table':
      for (const t of b.tables) {
        w.u8(t.tableId);
        w.zero(3);
        w.u32(t.activeCount);
        w.u64(t.lookupCount);
        w.u64(t.matchedCount);
      }
      break;
    case 'port_stats':
      for (const p of b.ports) {
        w.u32(p.portNo);
        w.zero(4);
        for (const k of PORT_STATS_U64) w.u64(p[k]);
        w.u32(p.durationSec);
        w.u32(p.durationNsec);
      }
      break;
    case 'port_desc':
      for (const p of b.ports) writePort(w, p as Port);
      break;
    case 'group':
      for (const g of b.groups) {
        const at = w.pos;
        w.u16(0);
        w.zero(2);
        w.u32(g.groupId);
        w.u32(g.refCount);
        w.zero(4);
        w.u64(g.packetCount);
        w.u64(g.byteCount);
        w.u32(g.durationSec);
        w.u32(g.durationNsec);
        for (const bs of g.buckets) {
          w.u64(bs.packetCount);
          w.u64(bs.byteCount);
        }
        w.finish(at, 0);
      }
      break;
    case 'group_desc':
      for (const g of b.groups) {
        const at = w.pos;
        w.u16(0);
        w.u8(g.groupType);
        w.zero(1);
        w.u32(g.groupId);
        writeBuckets(w, g.buckets);
        w.finish(at, 0);
      }
      break;
    case 'meter':
      for (const m of b.meters) {
        const at = w.pos;
        w.u32(m.meterId);
        w.u16(0);
        w.zero(6);
        w.u32(m.flowCount);
        w.u64(m.packetInCount);
        w.u64(m.byteInCount);
        w.u32(m.durationSec);
        w.u32(m.durationNsec);
        for (const bs of m.bands) {
          w.u64(bs.packetCount);
          w.u64(bs.byteCount);
        }
        w.finish(at, 4);
      }
      break;
    case 'meter_config':
      for (const m of b.meters) {
        const at = w.pos;
        w.u16(0);
        w.u16(m.flags);
        w.u32(m.meterId);
        writeBands(w, m.bands);
        w.finish(at, 0);
      }
      break;
    case 'flow_monitor':
      writeFlowMonitorHeader(w);
      writeFlowUpdates(w, b.updates);
      break;
    case 'unknown':
      w.bytes(b.data);
      break;
  }
}
