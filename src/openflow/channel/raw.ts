/**
 * The few messages the channel handles below the codec, straight on the wire bytes: HELLO (whose version may
 * not be 1.3 before negotiation), echo (hot keepalive path) and the HELLO_FAILED error.
 */
import { decodeMessage } from '../index.js';

export const OF13 = 4;
const T_HELLO = 0;
const T_ERROR = 1;
const T_ECHO_REQUEST = 2;
const T_ECHO_REPLY = 3;
const HELLO_ELEM_VERSIONBITMAP = 1;

export const RAW = { HELLO: T_HELLO, ERROR: T_ERROR, ECHO_REQUEST: T_ECHO_REQUEST, ECHO_REPLY: T_ECHO_REPLY } as const;

export function msgType(msg: Buffer): number {
  return msg[1]!;
}

export function msgXid(msg: Buffer): number {
  return msg.readUInt32BE(4);
}

/** HELLO announcing OpenFlow 1.3 only, with a version bitmap element (OF1.3 §7.5.1). */
export function helloBytes(xid: number): Buffer {
  const b = Buffer.alloc(16);
  b[0] = OF13;
  b[1] = T_HELLO;
  b.writeUInt16BE(16, 2);
  b.writeUInt32BE(xid >>> 0, 4);
  b.writeUInt16BE(HELLO_ELEM_VERSIONBITMAP, 8);
  b.writeUInt16BE(8, 10);
  b.writeUInt32BE(1 << OF13, 12);
  return b;
}

/**
 * The version both sides speak, given the peer's HELLO: the highest common bit of the bitmaps when the peer
 * sent one, else min(our version, the peer's header version) (OF1.3 §6.3.1). Returns undefined if that is not
 * OpenFlow 1.3, the only version we speak.
 */
export function negotiate(peerHello: Buffer): number | undefined {
  const headerVersion = peerHello[0]!;
  let pos = 8;
  const end = peerHello.length;
  while (end - pos >= 4) {
    const type = peerHello.readUInt16BE(pos);
    const len = peerHello.readUInt16BE(pos + 2);
    if (len < 4 || pos + len > end) break;
    if (type === HELLO_ELEM_VERSIONBITMAP) {
      // Bit n of word w means version 32w + n; we only need version 4, in the first word.
      const first = len >= 8 ? peerHello.readUInt32BE(pos + 4) : 0;
      return (first & (1 << OF13)) !== 0 ? OF13 : undefined;
    }
    pos += (len + 7) & ~7;
  }
  return Math.min(OF13, headerVersion) === OF13 ? OF13 : undefined;
}

/** OFPET_HELLO_FAILED / OFPHFC_INCOMPATIBLE with a readable explanation, as the spec asks. */
export function helloFailedBytes(xid: number, text: string): Buffer {
  const data = Buffer.from(text, 'ascii');
  const b = Buffer.alloc(12 + data.length);
  b[0] = OF13;
  b[1] = T_ERROR;
  b.writeUInt16BE(b.length, 2);
  b.writeUInt32BE(xid >>> 0, 4);
  b.writeUInt16BE(0, 8); // OFPET_HELLO_FAILED
  b.writeUInt16BE(0, 10); // OFPHFC_INCOMPATIBLE
  data.copy(b, 12);
  return b;
}

export function echoRequestBytes(xid: number): Buffer {
  const b = Buffer.alloc(8);
  b[0] = OF13;
  b[1] = T_ECHO_REQUEST;
  b.writeUInt16BE(8, 2);
  b.writeUInt32BE(xid >>> 0, 4);
  return b;
}

/** The reply to an ECHO_REQUEST: same xid and payload, type changed. */
export function echoReplyFor(req: Buffer): Buffer {
  const b = Buffer.from(req);
  b[0] = OF13;
  b[1] = T_ECHO_REPLY;
  return b;
}

/** A peer's ERROR during negotiation (e.g. OFPHFC_INCOMPATIBLE), readable for the close reason. */
export function describeError(frame: Buffer): string {
  try {
    const m = decodeMessage(frame);
    if (m.type === 'ERROR') return `ERROR ${m.codeName}${m.data.length ? ` (${m.data.toString('latin1').replace(/[^ -~]/g, '.')})` : ''}`;
  } catch {
    // fall through
  }
  return 'an undecodable ERROR';
}
