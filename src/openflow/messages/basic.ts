/** Symmetric and switch-config messages: HELLO, ERROR, ECHO, FEATURES, CONFIG, ROLE, ASYNC, PORT_STATUS. */
import { errorCodeName, errorTypeName } from '../error-names.js';
import type { Reader } from '../reader.js';
import type { HelloElement, MessageOf, OfMessage, Port } from '../types.js';
import { macToString, writeMac } from '../values.js';
import type { Writer } from '../writer.js';

export function readHello(r: Reader, xid: number, version: number): OfMessage {
  const elements: HelloElement[] = [];
  while (r.remaining() > 0) {
    const at = r.pos;
    const type = r.u16(),
      len = r.u16();
    if (len < 4) r.fail(`bad hello element length ${len}`, at + 2);
    const body = r.sub(len - 4, 'hello element');
    // Elements are padded to 8 bytes; unpadded ones are rejected so re-encoding stays byte-exact.
    r.pad(((len + 7) & ~7) - len);
    if (type === 1 && (len - 4) % 4 === 0) {
      const bitmaps: number[] = [];
      while (body.remaining() > 0) bitmaps.push(body.u32());
      elements.push({ type: 'versionbitmap', bitmaps });
    } else {
      elements.push({ type: 'unknown', elemType: type, data: Buffer.from(body.rest()) });
    }
  }
  return version === 4 ? { type: 'HELLO', xid, elements } : { type: 'HELLO', xid, version, elements };
}

export function writeHello(w: Writer, m: MessageOf<'HELLO'>): void {
  for (const e of m.elements) {
    const at = w.pos;
    if (e.type === 'versionbitmap') {
      w.u16(1);
      w.u16(0);
      for (const b of e.bitmaps) w.u32(b);
    } else {
      w.u16(e.elemType);
      w.u16(0);
      w.bytes(e.data);
    }
    w.finish(at);
    w.align8(at);
  }
}

/** Versions announced by a HELLO's bitmap (empty when the peer sent none). */
export function helloVersions(m: MessageOf<'HELLO'>): number[] {
  const out: number[] = [];
  for (const e of m.elements) {
    if (e.type !== 'versionbitmap') continue;
    e.bitmaps.forEach((word, i) => {
      for (let b = 0; b < 32; b++) if ((word >>> b) & 1) out.push(i * 32 + b);
    });
  }
  return out;
}

export function readError(r: Reader, xid: number): OfMessage {
  const errType = r.u16(),
    code = r.u16();
  if (errType === 0xffff) {
    const experimenter = r.u32();
    return {
      type: 'ERROR',
      xid,
      errType,
      code,
      experimenter,
      errTypeName: errorTypeName(errType),
      codeName: errorCodeName(errType, code, experimenter),
      data: r.copy(r.remaining()),
    };
  }
  return {
    type: 'ERROR',
    xid,
    errType,
    code,
    errTypeName: errorTypeName(errType),
    codeName: errorCodeName(errType, code),
    data: r.copy(r.remaining()),
  };
}

export function writeError(w: Writer, m: MessageOf<'ERROR'>): void {
  w.u16(m.errType);
  w.u16(m.code);
  if (m.errType === 0xffff) w.u32(m.experimenter ?? 0);
  w.bytes(m.data);
}

export function readFeaturesReply(r: Reader, xid: number): OfMessage {
  const datapathId = r.u64(),
    nBuffers = r.u32(),
    nTables = r.u8(),
    auxiliaryId = r.u8();
  r.pad(2);
  const capabilities = r.u32(),
    reserved = r.u32();
  return { type: 'FEATURES_REPLY', xid, datapathId, nBuffers, nTables, auxiliaryId, capabilities, reserved };
}

export function writeFeaturesReply(w: Writer, m: MessageOf<'FEATURES_REPLY'>): void {
  w.u64(m.datapathId);
  w.u32(m.nBuffers);
  w.u8(m.nTables);
  w.u8(m.auxiliaryId);
  w.zero(2);
  w.u32(m.capabilities);
  w.u32(m.reserved);
}

export function readRole(r: Reader, xid: number, type: 'ROLE_REQUEST' | 'ROLE_REPLY'): OfMessage {
  const role = r.u32();
  r.pad(4);
  return { type, xid, role, generationId: r.u64() };
}

export function readAsync(r: Reader, xid: number, type: 'GET_ASYNC_REPLY' | 'SET_ASYNC'): OfMessage {
  return { type, xid, packetInMask: [r.u32(), r.u32()], portStatusMask: [r.u32(), r.u32()], flowRemovedMask: [r.u32(), r.u32()] };
}

export function writeAsync(w: Writer, m: MessageOf<'GET_ASYNC_REPLY' | 'SET_ASYNC'>): void {
  for (const pair of [m.packetInMask, m.portStatusMask, m.flowRemovedMask]) {
    w.u32(pair[0]);
    w.u32(pair[1]);
  }
}

export function readPort(r: Reader): Port {
  const portNo = r.u32();
  r.pad(4);
  const hwAddr = macToString(r.bytes(6), 0);
  r.pad(2);
  const name = r.str(16);
  return {
    portNo,
    hwAddr,
    name,
    config: r.u32(),
    state: r.u32(),
    curr: r.u32(),
    advertised: r.u32(),
    supported: r.u32(),
    peer: r.u32(),
    currSpeed: r.u32(),
    maxSpeed: r.u32(),
  };
}

export function writePort(w: Writer, p: Port): void {
  w.u32(p.portNo);
  w.zero(4);
  w.ensure(6);
  writeMac(w.buf, w.pos, p.hwAddr, { name: 'hw_addr' });
  w.pos += 6;
  w.zero(2);
  w.str(p.name, 16);
  for (const v of [p.config, p.state, p.curr, p.advertised, p.supported, p.peer, p.currSpeed, p.maxSpeed]) w.u32(v);
}
