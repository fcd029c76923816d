/** PACKET_IN and PACKET_OUT. */
import { portFromWire, portToWire, readActions, writeActions } from '../actions.js';
import { readMatch, writeMatch } from '../oxm.js';
import type { Reader } from '../reader.js';
import type { PacketIn, PacketOut } from '../types.js';
import type { Writer } from '../writer.js';

export function readPacketIn(r: Reader, xid: number): PacketIn {
  const bufferId = r.u32(),
    totalLen = r.u16(),
    reason = r.u8(),
    tableId = r.u8(),
    cookie = r.u64();
  const match = readMatch(r);
  r.pad(2);
  return { type: 'PACKET_IN', xid, bufferId, totalLen, reason, tableId, cookie, match, data: r.copy(r.remaining()) };
}

export function writePacketIn(w: Writer, m: PacketIn): void {
  w.u32(m.bufferId);
  w.u16(m.totalLen);
  w.u8(m.reason);
  w.u8(m.tableId);
  w.u64(m.cookie);
  writeMatch(w, m.match);
  w.zero(2);
  w.bytes(m.data);
}

export function readPacketOut(r: Reader, xid: number): PacketOut {
  const bufferId = r.u32(),
    inPort = portFromWire(r.u32()),
    actionsLen = r.u16();
  r.pad(6);
  const actions = readActions(r, actionsLen);
  return { type: 'PACKET_OUT', xid, bufferId, inPort, actions, data: r.copy(r.remaining()) };
}

export function writePacketOut(w: Writer, m: PacketOut): void {
  w.u32(m.bufferId);
  w.u32(portToWire(m.inPort));
  const lenAt = w.pos;
  w.u16(0);
  w.zero(6);
  const start = w.pos;
  writeActions(w, m.actions);
  w.patch16(lenAt, w.pos - start);
  w.bytes(m.data);
}
