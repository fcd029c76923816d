import { readIpv4, writeIpv4 } from '../net/addr.js';
import { internetChecksum } from './checksum.js';
import { PacketError, need } from './errors.js';

export const IPPROTO_ICMP = 1;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPV4_HEADER_LEN = 20;

export interface Ipv4Header {
  /** Offset of the IPv4 header in the frame. */
  offset: number;
  headerLength: number;
  /** Bytes of IP options (headerLength − 20). */
  optionsLength: number;
  tos: number;
  totalLength: number;
  id: number;
  df: boolean;
  mf: boolean;
  /** In bytes (the header field × 8). */
  fragmentOffset: number;
  ttl: number;
  protocol: number;
  checksum: number;
  checksumValid: boolean;
  src: string;
  dst: string;
  payloadOffset: number;
  /** End of the IP datagram in the frame (Ethernet padding beyond it is ignored). */
  payloadEnd: number;
}

export function parseIpv4(buf: Buffer, off: number): Ipv4Header {
  need('ipv4', off, IPV4_HEADER_LEN, buf.length, 'header');
  const vihl = buf[off]!;
  if (vihl >> 4 !== 4) throw new PacketError('ipv4', 'bad_version', off, `version ${vihl >> 4}`);
  const headerLength = (vihl & 0x0f) * 4;
  if (headerLength < IPV4_HEADER_LEN) throw new PacketError('ipv4', 'bad_header_length', off, `IHL ${headerLength}`);
  need('ipv4', off, headerLength, buf.length, 'header with options');
  const totalLength = buf.readUInt16BE(off + 2);
  if (totalLength < headerLength)
    throw new PacketError('ipv4', 'bad_length', off + 2, `total length ${totalLength} < header ${headerLength}`);
  if (off + totalLength > buf.length) {
    throw new PacketError('ipv4', 'truncated', off + 2, `total length ${totalLength}, have ${buf.length - off}`);
  }
  const frag = buf.readUInt16BE(off + 6);
  return {
    offset: off,
    headerLength,
    optionsLength: headerLength - IPV4_HEADER_LEN,
    tos: buf[off + 1]!,
    totalLength,
    id: buf.readUInt16BE(off + 4),
    df: (frag & 0x4000) !== 0,
    mf: (frag & 0x2000) !== 0,
    fragmentOffset: (frag & 0x1fff) * 8,
    ttl: buf[off + 8]!,
    protocol: buf[off + 9]!,
    checksum: buf.readUInt16BE(off + 10),
    checksumValid: internetChecksum(buf, off, off + headerLength) === 0,
    src: readIpv4(buf, off + 12),
    dst: readIpv4(buf, off + 16),
    payloadOffset: off + headerLength,
    payloadEnd: off + totalLength,
  };
}

/** True when this datagram is a fragment (so L4 beyond the first fragment's header is not available). */
export function isFragment(ip: Ipv4Header): boolean {
  return ip.mf || ip.fragmentOffset !== 0;
}

export interface Ipv4Fields {
  src: string;
  dst: string;
  protocol: number;
  ttl?: number;
  tos?: number;
  id?: number;
  df?: boolean;
}

/** Writes a 20-byte header (no options) with its checksum; returns the payload offset. */
export function writeIpv4Header(buf: Buffer, off: number, f: Ipv4Fields, payloadLength: number): number {
  const total = IPV4_HEADER_LEN + payloadLength;
  if (total > 0xffff) throw new PacketError('build', 'too_big', off, `IPv4 datagram of ${total} bytes`);
  buf[off] = 0x45;
  buf[off + 1] = f.tos ?? 0;
  buf.writeUInt16BE(total, off + 2);
  buf.writeUInt16BE(f.id ?? 0, off + 4);
  buf.writeUInt16BE(f.df ? 0x4000 : 0, off + 6);
  buf[off + 8] = f.ttl ?? 64;
  buf[off + 9] = f.protocol;
  buf.writeUInt16BE(0, off + 10);
  writeIpv4(buf, off + 12, f.src);
  writeIpv4(buf, off + 16, f.dst);
  buf.writeUInt16BE(internetChecksum(buf, off, off + IPV4_HEADER_LEN), off + 10);
  return off + IPV4_HEADER_LEN;
}
