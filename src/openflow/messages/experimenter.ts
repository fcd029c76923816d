/**
 * Experimenter messages: the ONF bundle extension (as OVS accepts it in OpenFlow 1.3) and the Nicira messages
 * the agent uses (set packet-in format, packet-in2). Other experimenters stay generic EXPERIMENTER messages.
 */
import { NX_VENDOR_ID, ONF_VENDOR_ID } from '../constants.js';
import { readOxm, writeOxm } from '../oxm.js';
import type { Reader } from '../reader.js';
import type { BundleControlType, Match, MessageOf, NxPacketIn2, OfMessage } from '../types.js';
import { Writer } from '../writer.js';

export const ONF_ET_BUNDLE_CONTROL = 2300;
export const ONF_ET_BUNDLE_ADD = 2301;
export const NXT_SET_PACKET_IN_FORMAT = 16;
export const NXT_PACKET_IN2 = 30;

const CONTROL_TYPES: BundleControlType[] = [
  'open_request',
  'open_reply',
  'close_request',
  'close_reply',
  'commit_request',
  'commit_reply',
  'discard_request',
  'discard_reply',
];

type DecodeNested = (buf: Buffer, start: number, end: number) => OfMessage;
type EncodeNested = (w: Writer, m: OfMessage) => void;

export function readExperimenter(r: Reader, xid: number, decodeNested: DecodeNested): OfMessage {
  const start = r.pos;
  const experimenter = r.u32(),
    expType = r.u32();
  if (experimenter === ONF_VENDOR_ID && expType === ONF_ET_BUNDLE_CONTROL) {
    const bundleId = r.u32();
    const ctAt = r.pos;
    const controlType = CONTROL_TYPES[r.u16()];
    if (!controlType) r.fail('unknown bundle control type', ctAt);
    const flags = r.u16();
    const m: MessageOf<'BUNDLE_CONTROL'> = { type: 'BUNDLE_CONTROL', xid, bundleId, controlType, flags };
    if (r.remaining() > 0) m.properties = r.copy(r.remaining());
    return m;
  }
  if (experimenter === ONF_VENDOR_ID && expType === ONF_ET_BUNDLE_ADD) {
    const bundleId = r.u32();
    r.pad(2);
    const flags = r.u16();
    r.need(8, 'bundled message header');
    const innerLen = r.buf.readUInt16BE(r.pos + 2);
    if (innerLen < 8) r.fail(`bundled message length ${innerLen}`, r.pos + 2);
    r.need(innerLen, 'bundled message');
    const message = decodeNested(r.buf, r.pos, r.pos + innerLen);
    r.pos += innerLen;
    const m: MessageOf<'BUNDLE_ADD'> = { type: 'BUNDLE_ADD', xid, bundleId, flags, message };
    if (r.remaining() > 0) m.properties = r.copy(r.remaining());
    return m;
  }
  if (experimenter === NX_VENDOR_ID && expType === NXT_SET_PACKET_IN_FORMAT && r.remaining() === 4) {
    return { type: 'NX_SET_PACKET_IN_FORMAT', xid, format: r.u32() };
  }
  if (experimenter === NX_VENDOR_ID && expType === NXT_PACKET_IN2) {
    const pin = tryPacketIn2(r, xid);
    if (pin) return pin;
  }
  r.pos = start + 8;
  return { type: 'EXPERIMENTER', xid, experimenter, expType, data: r.copy(r.remaining()) };
}

/** Decodes NXT_PACKET_IN2 properties; undefined (→ generic EXPERIMENTER) when the bytes would not re-encode. */
function tryPacketIn2(r: Reader, xid: number): NxPacketIn2 | undefined {
  const bodyStart = r.pos;
  const m: NxPacketIn2 = { type: 'NX_PACKET_IN2', xid, packet: Buffer.alloc(0), tableId: 0, cookie: 0n, reason: 0, match: [] };
  try {
    while (r.remaining() > 0) {
      const at = r.pos;
      const type = r.u16(),
        len = r.u16();
      if (len < 4) return undefined;
      const p = r.sub(len - 4, 'packet_in2 property');
      r.pad(Math.min(((len + 7) & ~7) - len, r.remaining()));
      switch (type) {
        case 0:
          m.packet = p.copy(p.remaining());
          break;
        case 1:
          m.fullLen = p.u32();
          break;
        case 2:
          m.bufferId = p.u32();
          break;
        case 3:
          m.tableId = p.u8();
          break;
        case 4:
          p.pad(4);
          m.cookie = p.u64();
          break;
        case 5:
          m.reason = p.u8();
          break;
        case 6: {
          const match: Match = [];
          while (p.remaining() > 0) match.push(readOxm(p));
          m.match = match;
          break;
        }
        case 7:
          m.userdata = p.copy(p.remaining());
          break;
        case 8:
          m.continuation = p.copy(p.remaining());
          break;
        default:
          return undefined;
      }
      if (p.remaining() !== 0) r.fail('packet_in2 property too long', at);
    }
    const w = new Writer(r.end - bodyStart + 16);
    writePacketIn2Body(w, m);
    return w.result().equals(r.buf.subarray(bodyStart, r.end)) ? m : undefined;
  } catch {
    return undefined;
  }
}

function prop(w: Writer, type: number, body: () => void): void {
  const at = w.pos;
  w.u16(type);
  w.u16(0);
  body();
  w.finish(at);
  w.align8(at);
}

function writePacketIn2Body(w: Writer, m: NxPacketIn2): void {
  prop(w, 0, () => w.bytes(m.packet));
  if (m.fullLen !== undefined) prop(w, 1, () => w.u32(m.fullLen!));
  if (m.bufferId !== undefined) prop(w, 2, () => w.u32(m.bufferId!));
  prop(w, 3, () => w.u8(m.tableId));
  prop(w, 4, () => {
    w.zero(4);
    w.u64(m.cookie);
  });
  prop(w, 5, () => w.u8(m.reason));
  prop(w, 6, () => {
    for (const f of m.match) writeOxm(w, f);
  });
  if (m.userdata) prop(w, 7, () => w.bytes(m.userdata!));
  if (m.continuation) prop(w, 8, () => w.bytes(m.continuation!));
}

/** Writes the experimenter body (after the OpenFlow header) of the messages above. */
export function writeExperimenter(w: Writer, m: OfMessage, encodeNested: EncodeNested): void {
  switch (m.type) {
    case 'BUNDLE_CONTROL':
      w.u32(ONF_VENDOR_ID);
      w.u32(ONF_ET_BUNDLE_CONTROL);
      w.u32(m.bundleId);
      w.u16(CONTROL_TYPES.indexOf(m.controlType));
      w.u16(m.flags);
      if (m.properties) w.bytes(m.properties);
      return;
    case 'BUNDLE_ADD':
      w.u32(ONF_VENDOR_ID);
      w.u32(ONF_ET_BUNDLE_ADD);
      w.u32(m.bundleId);
      w.zero(2);
      w.u16(m.flags);
      encodeNested(w, m.message);
      if (m.properties) w.bytes(m.properties);
      return;
    case 'NX_SET_PACKET_IN_FORMAT':
      w.u32(NX_VENDOR_ID);
      w.u32(NXT_SET_PACKET_IN_FORMAT);
      w.u32(m.format);
      return;
    case 'NX_PACKET_IN2':
      w.u32(NX_VENDOR_ID);
      w.u32(NXT_PACKET_IN2);
      writePacketIn2Body(w, m);
      return;
    case 'EXPERIMENTER':
      w.u32(m.experimenter);
      w.u32(m.expType);
      w.bytes(m.data);
      return;
    default:
      throw new TypeError(`not an experimenter message: ${m.type}`);
  }
}
