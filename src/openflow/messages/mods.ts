/** GROUP_MOD, PORT_MOD, TABLE_MOD, METER_MOD and the bucket / meter-band structures they carry. */
import { readActions, writeActions } from '../actions.js';
import type { Reader } from '../reader.js';
import type { Bucket, MessageOf, MeterBand, OfMessage } from '../types.js';
import { macToString, writeMac } from '../values.js';
import type { Writer } from '../writer.js';

export function readBuckets(r: Reader, len: number): Bucket[] {
  const s = r.sub(len, 'buckets');
  const out: Bucket[] = [];
  while (s.remaining() > 0) {
    const at = s.pos;
    const blen = s.u16();
    if (blen < 16) s.fail(`bucket length ${blen} < 16`, at);
    s.pos = at;
    const b = s.sub(blen, 'bucket');
    b.pos = at + 2;
    const weight = b.u16(),
      watchPort = b.u32(),
      watchGroup = b.u32();
    b.pad(4);
    out.push({ weight, watchPort, watchGroup, actions: readActions(b, b.remaining()) });
  }
  return out;
}

export function writeBuckets(w: Writer, buckets: readonly Bucket[]): void {
  for (const b of buckets) {
    const at = w.pos;
    w.u16(0);
    w.u16(b.weight);
    w.u32(b.watchPort);
    w.u32(b.watchGroup);
    w.zero(4);
    writeActions(w, b.actions);
    w.finish(at, 0);
  }
}

export function readGroupMod(r: Reader, xid: number): OfMessage {
  const command = r.u16(),
    groupType = r.u8();
  r.pad(1);
  const groupId = r.u32();
  return { type: 'GROUP_MOD', xid, command, groupType, groupId, buckets: readBuckets(r, r.remaining()) };
}

export function writeGroupMod(w: Writer, m: MessageOf<'GROUP_MOD'>): void {
  w.u16(m.command);
  w.u8(m.groupType);
  w.zero(1);
  w.u32(m.groupId);
  writeBuckets(w, m.buckets);
}

export function readPortMod(r: Reader, xid: number): OfMessage {
  const portNo = r.u32();
  r.pad(4);
  const hwAddr = macToString(r.bytes(6), 0);
  r.pad(2);
  const config = r.u32(),
    mask = r.u32(),
    advertise = r.u32();
  r.pad(4);
  return { type: 'PORT_MOD', xid, portNo, hwAddr, config, mask, advertise };
}

export function writePortMod(w: Writer, m: MessageOf<'PORT_MOD'>): void {
  w.u32(m.portNo);
  w.zero(4);
  w.ensure(6);
  writeMac(w.buf, w.pos, m.hwAddr, { name: 'hw_addr' });
  w.pos += 6;
  w.zero(2);
  w.u32(m.config);
  w.u32(m.mask);
  w.u32(m.advertise);
  w.zero(4);
}

export function readTableMod(r: Reader, xid: number): OfMessage {
  const tableId = r.u8();
  r.pad(3);
  return { type: 'TABLE_MOD', xid, tableId, config: r.u32() };
}

export function readBands(r: Reader, len: number): MeterBand[] {
  const s = r.sub(len, 'meter bands');
  const out: MeterBand[] = [];
  while (s.remaining() > 0) {
    const at = s.pos;
    const type = s.u16(),
      blen = s.u16();
    if (blen < 12) s.fail(`meter band length ${blen} < 12`, at + 2);
    s.pos = at;
    const b = s.sub(blen, 'meter band');
    b.pos = at + 4;
    const rate = b.u32(),
      burstSize = b.u32();
    if (type === 1 && blen === 16) {
      b.pad(4);
      out.push({ type: 'drop', rate, burstSize });
    } else if (type === 2 && blen === 16) {
      const precLevel = b.u8();
      b.pad(3);
      out.push({ type: 'dscp_remark', rate, burstSize, precLevel });
    } else out.push({ type: 'unknown', bandType: type, rate, burstSize, data: Buffer.from(b.rest()) });
  }
  return out;
}

export function writeBands(w: Writer, bands: readonly MeterBand[]): void {
  for (const b of bands) {
    const at = w.pos;
    w.u16(b.type === 'drop' ? 1 : b.type === 'dscp_remark' ? 2 : b.bandType);
    w.u16(0);
    w.u32(b.rate);
    w.u32(b.burstSize);
    if (b.type === 'drop') w.zero(4);
    else if (b.type === 'dscp_remark') {
      w.u8(b.precLevel);
      w.zero(3);
    } else w.bytes(b.data);
    w.finish(at);
  }
}

export function readMeterMod(r: Reader, xid: number): OfMessage {
  const command = r.u16(),
    flags = r.u16(),
    meterId = r.u32();
  return { type: 'METER_MOD', xid, command, flags, meterId, bands: readBands(r, r.remaining()) };
}

export function writeMeterMod(w: Writer, m: MessageOf<'METER_MOD'>): void {
  w.u16(m.command);
  w.u16(m.flags);
  w.u32(m.meterId);
  writeBands(w, m.bands);
}
