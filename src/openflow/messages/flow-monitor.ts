/**
 * ONF's flow monitor for OpenFlow 1.3 (experimenter multipart 1870; Open vSwitch ≥ 3.1 speaks it on OF1.3
 * connections): the request's monitors and the reply's flow updates, after the multipart header and the
 * experimenter header (ONF_VENDOR_ID, ONF_FLOW_MONITOR). Layouts: Open vSwitch's include/openflow/openflow-1.3.h
 * (onf_flow_monitor_request, onf_flow_update_full, onf_flow_update_abbrev).
 */
import { readInstructions, writeInstructions } from '../instructions.js';
import { readMatch, writeMatch } from '../oxm.js';
import type { Reader } from '../reader.js';
import type { FlowUpdate, MultipartRequestBody } from '../types.js';
import type { Writer } from '../writer.js';

type Monitor = Extract<MultipartRequestBody, { kind: 'flow_monitor' }>['monitors'][number];

const EVENTS = ['added', 'deleted', 'modified'] as const;
const EVENT_NUM = { added: 0, deleted: 1, modified: 2, abbrev: 3 } as const;
/** onf_flow_monitor_request and onf_flow_update_full before their match. */
const REQUEST_FIXED = 16;
const UPDATE_FIXED = 24;
const ABBREV_LEN = 8;

/** The ofp_match's own length (without its padding), which both structures repeat as match_len. */
const matchLength = (r: Reader, at: number): number => r.buf.readUInt16BE(at + 2);

export function readMonitors(r: Reader): Monitor[] {
  const out: Monitor[] = [];
  while (r.remaining() > 0) {
    r.need(REQUEST_FIXED, 'flow monitor request');
    const id = r.u32(),
      flags = r.u16(),
      matchLenAt = r.pos,
      matchLen = r.u16(),
      outPort = r.u32(),
      tableId = r.u8();
    r.pad(3); // zeros: Open vSwitch refuses other values; decoded liberally here
    const matchAt = r.pos;
    const match = readMatch(r);
    if (matchLength(r, matchAt) !== matchLen) r.fail(`flow monitor match_len ${matchLen} is not its match's length`, matchLenAt);
    out.push({ id, flags, outPort, tableId, match });
  }
  return out;
}

export function writeMonitors(w: Writer, monitors: readonly Monitor[]): void {
  for (const m of monitors) {
    w.u32(m.id);
    w.u16(m.flags);
    const matchLenAt = w.pos;
    w.u16(0);
    w.u32(m.outPort);
    w.u8(m.tableId);
    w.zero(3);
    const matchAt = w.pos;
    writeMatch(w, m.match);
    w.patch16(matchLenAt, w.buf.readUInt16BE(matchAt + 2));
  }
}

export function readFlowUpdates(r: Reader): FlowUpdate[] {
  const out: FlowUpdate[] = [];
  while (r.remaining() > 0) {
    const start = r.pos;
    r.need(4, 'flow update header');
    const length = r.buf.readUInt16BE(start);
    const event = r.buf.readUInt16BE(start + 2);
    if (length % 8 !== 0) r.fail(`flow update length ${length} is not a multiple of 8`, start);
    if (event === EVENT_NUM.abbrev) {
      if (length !== ABBREV_LEN) r.fail(`abbreviated flow update of length ${length}, not ${ABBREV_LEN}`, start);
      r.pad(4);
      out.push({ event: 'abbrev', xid: r.u32() });
      continue;
    }
    const name = EVENTS[event];
    if (name === undefined) r.fail(`unknown flow update event ${event}`, start + 2);
    if (length < UPDATE_FIXED) r.fail(`flow update length ${length} < ${UPDATE_FIXED}`, start);
    const s = r.sub(length, 'flow update');
    s.pad(4);
    const reason = s.u16(),
      priority = s.u16(),
      idleTimeout = s.u16(),
      hardTimeout = s.u16(),
      matchLenAt = s.pos,
      matchLen = s.u16(),
      tableId = s.u8();
    s.pad(1);
    const cookie = s.u64();
    const matchAt = s.pos;
    const match = readMatch(s);
    if (matchLength(s, matchAt) !== matchLen) s.fail(`flow update match_len ${matchLen} is not its match's length`, matchLenAt);
    const instructions = readInstructions(s, s.remaining());
    out.push({ event: name!, reason, priority, idleTimeout, hardTimeout, tableId, cookie, match, instructions });
  }
  return out;
}

export function writeFlowUpdates(w: Writer, updates: readonly FlowUpdate[]): void {
  for (const u of updates) {
    const start = w.pos;
    if (u.event === 'abbrev') {
      w.u16(ABBREV_LEN);
      w.u16(EVENT_NUM.abbrev);
      w.u32(u.xid);
      continue;
    }
    w.u16(0);
    w.u16(EVENT_NUM[u.event]);
    w.u16(u.reason);
    w.u16(u.priority);
    w.u16(u.idleTimeout);
    w.u16(u.hardTimeout);
    const matchLenAt = w.pos;
    w.u16(0);
    w.u8(u.tableId);
    w.zero(1);
    w.u64(u.cookie);
    const matchAt = w.pos;
    writeMatch(w, u.match);
    w.patch16(matchLenAt, w.buf.readUInt16BE(matchAt + 2));
    writeInstructions(w, u.instructions);
    w.finish(start, 0);
  }
}
