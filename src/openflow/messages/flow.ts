/** FLOW_MOD, FLOW_REMOVED and the flow-stats entry they share a shape with. */
import { OfpDecodeError } from '../errors.js';
import { readInstructions, writeInstructions } from '../instructions.js';
import { readMatch, writeMatch } from '../oxm.js';
import type { Reader } from '../reader.js';
import type { FlowMod, FlowModCommand, FlowStats, MessageOf, OfMessage } from '../types.js';
import { writeU32, writeU64, type Writer } from '../writer.js';

const COMMANDS: FlowModCommand[] = ['add', 'modify', 'modify_strict', 'delete', 'delete_strict'];
const COMMAND_NUM: Record<FlowModCommand, number> = { add: 0, modify: 1, modify_strict: 2, delete: 3, delete_strict: 4 };

export function readFlowMod(r: Reader, xid: number): FlowMod {
  const cookie = r.u64(),
    cookieMask = r.u64(),
    tableId = r.u8();
  const cmdAt = r.pos;
  const command = COMMANDS[r.u8()];
  if (!command) throw new OfpDecodeError(cmdAt, 'unknown flow_mod command');
  const idleTimeout = r.u16(),
    hardTimeout = r.u16(),
    priority = r.u16(),
    bufferId = r.u32(),
    outPort = r.u32();
  const outGroup = r.u32(),
    flags = r.u16();
  r.pad(2);
  const match = readMatch(r);
  const instructions = readInstructions(r, r.remaining());
  return {
    type: 'FLOW_MOD',
    xid,
    cookie,
    cookieMask,
    tableId,
    command,
    idleTimeout,
    hardTimeout,
    priority,
    bufferId,
    outPort,
    outGroup,
    flags,
    match,
    instructions,
  };
}

function w16(b: Buffer, p: number, v: number): void {
  if (v >>> 16 !== 0) throw new RangeError(`u16 out of range: ${v}`);
  b[p] = v >>> 8;
  b[p + 1] = v;
}

export function writeFlowMod(w: Writer, m: FlowMod): void {
  w.ensure(40);
  const b = w.buf;
  let p = w.pos;
  writeU64(b, p, m.cookie);
  writeU64(b, p + 8, m.cookieMask);
  if ((m.tableId & 0xff) !== m.tableId) throw new RangeError(`table id out of range: ${m.tableId}`);
  b[p + 16] = m.tableId;
  const cmd = COMMAND_NUM[m.command];
  if (cmd === undefined) throw new TypeError(`unknown flow_mod command ${String(m.command)}`);
  b[p + 17] = cmd;
  w16(b, p + 18, m.idleTimeout);
  w16(b, p + 20, m.hardTimeout);
  w16(b, p + 22, m.priority);
  writeU32(b, p + 24, m.bufferId);
  writeU32(b, p + 28, m.outPort);
  writeU32(b, p + 32, m.outGroup);
  w16(b, p + 36, m.flags);
  b[p + 38] = 0;
  b[p + 39] = 0;
  p += 40;
  w.pos = p;
  writeMatch(w, m.match);
  writeInstructions(w, m.instructions);
}

export function readFlowRemoved(r: Reader, xid: number): OfMessage {
  const cookie = r.u64(),
    priority = r.u16(),
    reason = r.u8(),
    tableId = r.u8(),
    durationSec = r.u32();
  const durationNsec = r.u32(),
    idleTimeout = r.u16(),
    hardTimeout = r.u16(),
    packetCount = r.u64();
  const byteCount = r.u64();
  const match = readMatch(r);
  if (r.remaining() !== 0) r.fail('trailing bytes after flow_removed match');
  return {
    type: 'FLOW_REMOVED',
    xid,
    cookie,
    priority,
    reason,
    tableId,
    durationSec,
    durationNsec,
    idleTimeout,
    hardTimeout,
    packetCount,
    byteCount,
    match,
  };
}

export function writeFlowRemoved(w: Writer, m: MessageOf<'FLOW_REMOVED'>): void {
  w.u64(m.cookie);
  w.u16(m.priority);
  w.u8(m.reason);
  w.u8(m.tableId);
  w.u32(m.durationSec);
  w.u32(m.durationNsec);
  w.u16(m.idleTimeout);
  w.u16(m.hardTimeout);
  w.u64(m.packetCount);
  w.u64(m.byteCount);
  writeMatch(w, m.match);
}

export function readFlowStats(r: Reader): FlowStats {
  const start = r.pos;
  const length = r.u16();
  if (length < 56) r.fail(`flow stats length ${length} too short`, start);
  r.pos = start;
  const s = r.sub(length, 'flow stats');
  s.pos = start + 2;
  const tableId = s.u8();
  s.pad(1);
  const durationSec = s.u32(),
    durationNsec = s.u32(),
    priority = s.u16(),
    idleTimeout = s.u16();
  const hardTimeout = s.u16(),
    flags = s.u16();
  s.pad(4);
  const cookie = s.u64(),
    packetCount = s.u64(),
    byteCount = s.u64();
  const match = readMatch(s);
  const instructions = readInstructions(s, s.remaining());
  return {
    tableId,
    durationSec,
    durationNsec,
    priority,
    idleTimeout,
    hardTimeout,
    flags,
    cookie,
    packetCount,
    byteCount,
    match,
    instructions,
  };
}

export function writeFlowStats(w: Writer, f: FlowStats): void {
  const start = w.pos;
  w.u16(0);
  w.u8(f.tableId);
  w.zero(1);
  w.u32(f.durationSec);
  w.u32(f.durationNsec);
  w.u16(f.priority);
  w.u16(f.idleTimeout);
  w.u16(f.hardTimeout);
  w.u16(f.flags);
  w.zero(4);
  w.u64(f.cookie);
  w.u64(f.packetCount);
  w.u64(f.byteCount);
  writeMatch(w, f.match);
  writeInstructions(w, f.instructions);
  w.finish(start, 0);
}
