import { macToString, writeMac } from '../net/addr.js';
import { PacketError, need } from './errors.js';

export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_ARP = 0x0806;
export const ETHERTYPE_VLAN = 0x8100;
export const ETHERTYPE_QINQ = 0x88a8;
export const ETH_HEADER_LEN = 14;
/** Minimum Ethernet frame without FCS; shorter frames are padded with zeros when built. */
export const ETH_MIN_FRAME = 60;

export interface VlanTag {
  tpid: number;
  pcp: number;
  dei: boolean;
  vid: number;
}

export interface EthernetHeader {
  dst: string;
  src: string;
  /** Ethertype after any VLAN tags (values < 0x600 are 802.3 lengths, reported as is). */
  etherType: number;
  /** Outermost first; at most two (802.1ad + 802.1Q). */
  vlans: VlanTag[];
  /** Offset of the L3 header in the frame. */
  payloadOffset: number;
}

const MAX_TAGS = 2;

export function parseEthernet(buf: Buffer, off = 0): EthernetHeader {
  need('ethernet', off, ETH_HEADER_LEN, buf.length, 'header');
  const dst = macToString(buf, off);
  const src = macToString(buf, off + 6);
  let p = off + 12;
  let etherType = buf.readUInt16BE(p);
  const vlans: VlanTag[] = [];
  while (etherType === ETHERTYPE_VLAN || etherType === ETHERTYPE_QINQ) {
    if (vlans.length === MAX_TAGS) throw new PacketError('vlan', 'bad_value', p, 'more than two VLAN tags');
    need('vlan', p, 6, buf.length, 'VLAN tag');
    const tci = buf.readUInt16BE(p + 2);
    vlans.push({ tpid: etherType, pcp: tci >> 13, dei: (tci & 0x1000) !== 0, vid: tci & 0x0fff });
    p += 4;
    etherType = buf.readUInt16BE(p);
  }
  return { dst, src, etherType, vlans, payloadOffset: p + 2 };
}

export function ethernetHeaderLength(vlans: readonly VlanTag[] = []): number {
  return ETH_HEADER_LEN + 4 * vlans.length;
}

/** Writes dst, src, VLAN tags and the ethertype at off; returns the offset of the L3 header. */
export function writeEthernet(
  buf: Buffer,
  off: number,
  dst: string,
  src: string,
  etherType: number,
  vlans: readonly VlanTag[] = [],
): number {
  writeMac(buf, off, dst);
  writeMac(buf, off + 6, src);
  let p = off + 12;
  for (const v of vlans) {
    buf.writeUInt16BE(v.tpid, p);
    buf.writeUInt16BE(((v.pcp & 7) << 13) | (v.dei ? 0x1000 : 0) | (v.vid & 0x0fff), p + 2);
    p += 4;
  }
  buf.writeUInt16BE(etherType, p);
  return p + 2;
}
