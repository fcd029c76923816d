/** decodeMessage / encodeMessage: the single entry points that dispatch on the OpenFlow header. */
import { markAsUntransferable } from 'node:worker_threads';
import { OFP_VERSION, OFPT } from './constants.js';
import { OfpDecodeError, OfpEncodeError } from './errors.js';
import {
  readAsync,
  readError,
  readFeaturesReply,
  readHello,
  readPort,
  readRole,
  writeAsync,
  writeError,
  writeFeaturesReply,
  writeHello,
  writePort,
} from './messages/basic.js';
import { readExperimenter, writeExperimenter } from './messages/experimenter.js';
import { readFlowMod, readFlowRemoved, writeFlowMod, writeFlowRemoved } from './messages/flow.js';
import { readGroupMod, readMeterMod, readPortMod, readTableMod, writeGroupMod, writeMeterMod, writePortMod } from './messages/mods.js';
import { readMultipartReply, readMultipartRequest, writeMultipartReply, writeMultipartRequest } from './messages/multipart.js';
import { readPacketIn, readPacketOut, writePacketIn, writePacketOut } from './messages/packet.js';
import { Reader } from './reader.js';
import type { OfMessage } from './types.js';
import { Writer } from './writer.js';

function empty(r: Reader): void {
  if (r.remaining() !== 0) r.fail('unexpected message body');
}

function decodeAt(buf: Buffer, start: number, end: number): OfMessage {
  if (end - start < 8) throw new OfpDecodeError(start, `message shorter than the 8-byte header`);
  const version = buf[start]!;
  const type = buf[start + 1]!;
  const length = buf.readUInt16BE(start + 2);
  const xid = buf.readUInt32BE(start + 4);
  if (length !== end - start) throw new OfpDecodeError(start + 2, `header length ${length} != ${end - start} bytes`);
  const r = new Reader(buf, start + 8, end);
  if (type === OFPT.HELLO) return readHello(r, xid, version);
  if (version !== OFP_VERSION) return { type: 'UNKNOWN', xid, version, msgType: type, body: r.copy(r.remaining()) };
  let m: OfMessage;
  switch (type) {
    case OFPT.ERROR:
      return readError(r, xid);
    case OFPT.ECHO_REQUEST:
      return { type: 'ECHO_REQUEST', xid, data: r.copy(r.remaining()) };
    case OFPT.ECHO_REPLY:
      return { type: 'ECHO_REPLY', xid, data: r.copy(r.remaining()) };
    case OFPT.EXPERIMENTER:
      return readExperimenter(r, xid, decodeAt);
    case OFPT.FEATURES_REQUEST:
      m = { type: 'FEATURES_REQUEST', xid };
      break;
    case OFPT.FEATURES_REPLY:
      m = readFeaturesReply(r, xid);
      break;
    case OFPT.GET_CONFIG_REQUEST:
      m = { type: 'GET_CONFIG_REQUEST', xid };
      break;
    case OFPT.GET_CONFIG_REPLY:
      m = { type: 'GET_CONFIG_REPLY', xid, flags: r.u16(), missSendLen: r.u16() };
      break;
    case OFPT.SET_CONFIG:
      m = { type: 'SET_CONFIG', xid, flags: r.u16(), missSendLen: r.u16() };
      break;
    case OFPT.PACKET_IN:
      return readPacketIn(r, xid);
    case OFPT.FLOW_REMOVED:
      return readFlowRemoved(r, xid);
    case OFPT.PORT_STATUS: {
      const reason = r.u8();
      r.pad(7);
      m = { type: 'PORT_STATUS', xid, reason, port: readPort(r) };
      break;
    }
    case OFPT.PACKET_OUT:
      return readPacketOut(r, xid);
    case OFPT.FLOW_MOD:
      return readFlowMod(r, xid);
    case OFPT.GROUP_MOD:
      return readGroupMod(r, xid);
    case OFPT.PORT_MOD:
      m = readPortMod(r, xid);
      break;
    case OFPT.TABLE_MOD:
      m = readTableMod(r, xid);
      break;
    case OFPT.MULTIPART_REQUEST:
      return readMultipartRequest(r, xid);
    case OFPT.MULTIPART_REPLY:
      return readMultipartReply(r, xid);
    case OFPT.BARRIER_REQUEST:
      m = { type: 'BARRIER_REQUEST', xid };
      break;
    case OFPT.BARRIER_REPLY:
      m = { type: 'BARRIER_REPLY', xid };
      break;
    case OFPT.ROLE_REQUEST:
      m = readRole(r, xid, 'ROLE_REQUEST');
      break;
    case OFPT.ROLE_REPLY:
      m = readRole(r, xid, 'ROLE_REPLY');
      break;
    case OFPT.GET_ASYNC_REQUEST:
      m = { type: 'GET_ASYNC_REQUEST', xid };
      break;
    case OFPT.GET_ASYNC_REPLY:
      m = readAsync(r, xid, 'GET_ASYNC_REPLY');
      break;
    case OFPT.SET_ASYNC:
      m = readAsync(r, xid, 'SET_ASYNC');
      break;
    case OFPT.METER_MOD:
      return readMeterMod(r, xid);
    default:
      return { type: 'UNKNOWN', xid, version, msgType: type, body: r.copy(r.remaining()) };
  }
  empty(r);
  return m;
}

/**
 * Decodes exactly one whole OpenFlow message. Throws OfpDecodeError (with the byte offset) on anything
 * malformed; no other exception escapes.
 */
export function decodeMessage(bytes: Uint8Array): OfMessage {
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  try {
    return decodeAt(buf, 0, buf.length);
  } catch (e) {
    if (e instanceof OfpDecodeError) throw e;
    // A bug in a decoder must still surface as the typed error the channel handles.
    throw new OfpDecodeError(0, `internal decoder error: ${(e as Error)?.message ?? String(e)}`);
  }
}

/** Message name → header type: OFPT's names, and the experimenter messages (bundles, Nicira) under type 4. */
const TYPE_NUM: Record<string, number> = {
  ...OFPT,
  BUNDLE_CONTROL: OFPT.EXPERIMENTER,
  BUNDLE_ADD: OFPT.EXPERIMENTER,
  NX_SET_PACKET_IN_FORMAT: OFPT.EXPERIMENTER,
  NX_PACKET_IN2: OFPT.EXPERIMENTER,
};

function encodeInto(w: Writer, m: OfMessage): void {
  if (m.type === 'FLOW_MOD') {
    // The agent's bulk message (one per flow in every bundle) skips the general dispatch below.
    const at = w.header(OFPT.FLOW_MOD, m.xid);
    writeFlowMod(w, m);
    w.finish(at);
    return;
  }
  const at =
    m.type === 'UNKNOWN'
      ? w.header(m.msgType, m.xid, m.version)
      : m.type === 'HELLO'
        ? w.header(0, m.xid, m.version ?? OFP_VERSION)
        : w.header(TYPE_NUM[m.type] ?? badType(m), m.xid);
  switch (m.type) {
    // Hot types first: the switch compares in order (FLOW_MOD is handled above).
    case 'PACKET_OUT':
      writePacketOut(w, m);
      break;
    case 'HELLO':
      writeHello(w, m);
      break;
    case 'ERROR':
      writeError(w, m);
      break;
    case 'ECHO_REQUEST':
    case 'ECHO_REPLY':
      w.bytes(m.data);
      break;
    case 'FEATURES_REQUEST':
    case 'GET_CONFIG_REQUEST':
    case 'BARRIER_REQUEST':
    case 'BARRIER_REPLY':
    case 'GET_ASYNC_REQUEST':
      break;
    case 'FEATURES_REPLY':
      writeFeaturesReply(w, m);
      break;
    case 'GET_CONFIG_REPLY':
    case 'SET_CONFIG':
      w.u16(m.flags);
      w.u16(m.missSendLen);
      break;
    case 'PACKET_IN':
      writePacketIn(w, m);
      break;
    case 'FLOW_REMOVED':
      writeFlowRemoved(w, m);
      break;
    case 'PORT_STATUS':
      w.u8(m.reason);
      w.zero(7);
      writePort(w, m.port);
      break;
    case 'GROUP_MOD':
      writeGroupMod(w, m);
      break;
    case 'PORT_MOD':
      writePortMod(w, m);
      break;
    case 'TABLE_MOD':
      w.u8(m.tableId);
      w.zero(3);
      w.u32(m.config);
      break;
    case 'MULTIPART_REQUEST':
      writeMultipartRequest(w, m.flags, m.body);
      break;
    case 'MULTIPART_REPLY':
      writeMultipartReply(w, m.flags, m.body);
      break;
    case 'ROLE_REQUEST':
    case 'ROLE_REPLY':
      w.u32(m.role);
      w.zero(4);
      w.u64(m.generationId);
      break;
    case 'GET_ASYNC_REPLY':
    case 'SET_ASYNC':
      writeAsync(w, m);
      break;
    case 'METER_MOD':
      writeMeterMod(w, m);
      break;
    case 'EXPERIMENTER':
    case 'BUNDLE_CONTROL':
    case 'BUNDLE_ADD':
    case 'NX_SET_PACKET_IN_FORMAT':
    case 'NX_PACKET_IN2':
      writeExperimenter(w, m, encodeInto);
      break;
    case 'UNKNOWN':
      w.bytes(m.body);
      break;
  }
  w.finish(at);
}

function badType(m: { type: string }): never {
  throw new TypeError(`cannot encode message type ${m.type}`);
}

/**
 * Encodes many messages back to back into one buffer (one allocation instead of one per message): what a
 * channel writes for a bundle or a burst of FLOW_MODs.
 */
export function encodeMessages(msgs: readonly OfMessage[]): Buffer {
  const w = new Writer(Math.max(256, msgs.length * 160));
  for (let i = 0; i < msgs.length; i++) {
    const start = w.pos;
    try {
      encodeInto(w, msgs[i]!);
    } catch (err) {
      throw encodeError(err, msgs[i]!, w.pos - start, i);
    }
  }
  return w.result();
}

/**
 * Every encoder failure leaves as one typed error, whatever the piece that threw (a range check in the
 * writer, an unknown action type …), naming the message and the offset reached, so a caller can set that one
 * message aside without knowing the codec's insides.
 */
function encodeError(err: unknown, m: OfMessage, where: number, index?: number): OfpEncodeError {
  const inner = m.type === 'BUNDLE_ADD' ? m.message : m;
  const what = inner.type === 'FLOW_MOD' ? `FLOW_MOD table ${inner.tableId} priority ${inner.priority}` : inner.type;
  if (err instanceof OfpEncodeError) {
    if (err.what !== undefined && err.where !== undefined) return err;
    return new OfpEncodeError(err.message, { what: err.what ?? what, where: err.where ?? where, cause: err.cause });
  }
  const msg = err instanceof Error ? err.message : String(err);
  return new OfpEncodeError(`cannot encode ${what}${index === undefined ? '' : ` (message #${index})`}: ${msg}`, {
    what,
    where,
    cause: err,
  });
}

/*
 * encodeMessage writes straight into a shared slab and returns a view of it, as Buffer.allocUnsafe does with
 * Node's 8 KiB pool: one view per message instead of a writer, a pooled buffer and a trimmed view of that. A view
 * keeps its slab alive, so the slab is small, and a message that outgrows the slab's headroom is copied out.
 * Like Node's pool, the slab cannot be transferred to a worker (that would detach every other view of it).
 */
const SLAB_BYTES = 16 * 1024;
const SLAB_HEADROOM = 1024;
let slab: Buffer;
/** slab.buffer, kept: views are made from it directly, as Buffer#subarray would re-read the accessors each time. */
let slabMemory: ArrayBuffer;
let slabPos: number;
renewSlab();
const slabWriter = new Writer(0);

function renewSlab(): void {
  slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
  slabMemory = slab.buffer as ArrayBuffer;
  markAsUntransferable(slabMemory);
  slabPos = 0;
}

/** Encodes one message as OpenFlow 1.3 (HELLO and UNKNOWN may carry another version). */
export function encodeMessage(msg: OfMessage): Buffer {
  if (SLAB_BYTES - slabPos < SLAB_HEADROOM) renewSlab();
  const w = slabWriter;
  const start = slabPos;
  w.buf = slab;
  w.pos = start;
  try {
    encodeInto(w, msg);
  } catch (err) {
    throw encodeError(err, msg, w.pos - start);
  }
  const end = w.pos;
  if (w.buf !== slab) return Buffer.from(w.buf.subarray(start, end)); // outgrew the slab: copy, keep nothing big
  slabPos = (end + 7) & ~7; // the next message starts 8-aligned, as pooled buffers do
  return Buffer.from(slabMemory, start, end - start);
}
