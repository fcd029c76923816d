import { fold, pseudoHeaderSum, sum16 } from './checksum.js';
import { PacketError, need } from './errors.js';
import { IPPROTO_UDP, type Ipv4Header } from './ipv4.js';

export const UDP_HEADER_LEN = 8;

export interface UdpHeader {
  srcPort: number;
  dstPort: number;
  length: number;
  /** 0 means the sender computed none (allowed for UDP over IPv4). */
  checksum: number;
  offset: number;
  payloadOffset: number;
  payloadEnd: number;
}

/**
 * Parses a UDP header in [off, end). With `whole` false (first fragment) the length field may exceed
 * what is present, so it is not checked against `end`.
 */
export function parseUdp(buf: Buffer, off: number, end: number, whole: boolean): UdpHeader {
  need('udp', off, UDP_HEADER_LEN, end, 'header');
  const length = buf.readUInt16BE(off + 4);
  if (length < UDP_HEADER_LEN) throw new PacketError('udp', 'bad_length', off + 4, `length ${length} < 8`);
  if (whole && off + length > end) throw new PacketError('udp', 'truncated', off + 4, `length ${length}, have ${end - off}`);
  return {
    srcPort: buf.readUInt16BE(off),
    dstPort: buf.readUInt16BE(off + 2),
    length,
    checksum: buf.readUInt16BE(off + 6),
    offset: off,
    payloadOffset: off + UDP_HEADER_LEN,
    payloadEnd: whole ? off + length : end,
  };
}

/** Verifies the UDP checksum with the IPv4 pseudo-header; a zero checksum ("none") counts as valid. */
export function udpChecksumValid(buf: Buffer, ip: Ipv4Header, udp: UdpHeader): boolean {
  if (udp.checksum === 0) return true;
  const s = pseudoHeaderSum(buf, ip.offset + 12, ip.offset + 16, IPPROTO_UDP, udp.length);
  return fold(sum16(buf, udp.offset, udp.offset + udp.length, s)) === 0;
}

/** Writes the UDP checksum for a datagram whose IPv4 header is at ipOff and UDP header at udpOff. */
export function finishUdpChecksum(buf: Buffer, ipOff: number, udpOff: number, udpLength: number): void {
  buf.writeUInt16BE(0, udpOff + 6);
  const s = pseudoHeaderSum(buf, ipOff + 12, ipOff + 16, IPPROTO_UDP, udpLength);
  const c = fold(sum16(buf, udpOff, udpOff + udpLength, s));
  // RFC 768: a computed 0 is sent as all ones, since 0 means "no checksum".
  buf.writeUInt16BE(c === 0 ? 0xffff : c, udpOff + 6);
}

export interface TcpHeader {
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  headerLength: number;
  /** The 9 flag bits (NS..FIN). */
  flags: number;
  offset: number;
}

export const TCP_FLAGS = { fin: 0x01, syn: 0x02, rst: 0x04, psh: 0x08, ack: 0x10, urg: 0x20 } as const;

export function parseTcp(buf: Buffer, off: number, end: number): TcpHeader {
  need('tcp', off, 20, end, 'header');
  const word = buf.readUInt16BE(off + 12);
  const headerLength = (word >> 12) * 4;
  if (headerLength < 20) throw new PacketError('tcp', 'bad_header_length', off + 12, `data offset ${headerLength}`);
  return {
    srcPort: buf.readUInt16BE(off),
    dstPort: buf.readUInt16BE(off + 2),
    seq: buf.readUInt32BE(off + 4),
    ack: buf.readUInt32BE(off + 8),
    headerLength,
    flags: word & 0x01ff,
    offset: off,
  };
}
