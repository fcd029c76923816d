import { internetChecksum } from './checksum.js';
import { need } from './errors.js';

export const ICMP_ECHO_REPLY = 0;
export const ICMP_DEST_UNREACHABLE = 3;
export const ICMP_ECHO_REQUEST = 8;
export const ICMP_TIME_EXCEEDED = 11;
export const ICMP_PARAMETER_PROBLEM = 12;
export const ICMP_HEADER_LEN = 8;

/** Destination-unreachable codes (RFC 792 / RFC 1812). */
export const ICMP_UNREACH = { net: 0, host: 1, protocol: 2, port: 3, fragNeeded: 4, adminProhibited: 13 } as const;
/** Time-exceeded codes. */
export const ICMP_TIME = { ttl: 0, reassembly: 1 } as const;

export interface IcmpPacket {
  type: number;
  code: number;
  checksum: number;
  /** undefined when the datagram is a fragment (the whole message is not here to verify). */
  checksumValid: boolean | undefined;
  /** Echo identifier/sequence (types 0 and 8). */
  id: number;
  seq: number;
  /** Bytes 4..7 of the header as one number (e.g. next-hop MTU for frag-needed). */
  rest: number;
  /** Offset of the data after the 8-byte header (the quoted datagram for error types). */
  dataOffset: number;
  end: number;
}

export function isIcmpError(type: number): boolean {
  return type === 3 || type === 4 || type === 5 || type === 11 || type === 12;
}

export function parseIcmp(buf: Buffer, off: number, end: number, wholeMessage: boolean): IcmpPacket {
  need('icmp', off, ICMP_HEADER_LEN, end, 'header');
  const rest = buf.readUInt32BE(off + 4);
  return {
    type: buf[off]!,
    code: buf[off + 1]!,
    checksum: buf.readUInt16BE(off + 2),
    checksumValid: wholeMessage ? internetChecksum(buf, off, end) === 0 : undefined,
    id: rest >>> 16,
    seq: rest & 0xffff,
    rest,
    dataOffset: off + ICMP_HEADER_LEN,
    end,
  };
}

/** Fills in the checksum of an ICMP message occupying buf[off, end). */
export function finishIcmpChecksum(buf: Buffer, off: number, end: number): void {
  buf.writeUInt16BE(0, off + 2);
  buf.writeUInt16BE(internetChecksum(buf, off, end), off + 2);
}
