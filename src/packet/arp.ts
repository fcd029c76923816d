import { readIpv4, macToString, writeIpv4, writeMac } from '../net/addr.js';
import { PacketError, need } from './errors.js';

export const ARP_REQUEST = 1;
export const ARP_REPLY = 2;
export const ARP_LEN = 28;

export interface ArpPacket {
  op: number;
  senderMac: string;
  senderIp: string;
  targetMac: string;
  targetIp: string;
}

/** Parses Ethernet/IPv4 ARP (the only kind a VM port sends us); other hardware/protocol types are rejected. */
export function parseArp(buf: Buffer, off: number): ArpPacket {
  need('arp', off, ARP_LEN, buf.length, 'ARP body');
  const htype = buf.readUInt16BE(off);
  const ptype = buf.readUInt16BE(off + 2);
  if (htype !== 1 || ptype !== 0x0800 || buf[off + 4] !== 6 || buf[off + 5] !== 4) {
    throw new PacketError('arp', 'bad_value', off, `unsupported ARP htype=${htype} ptype=0x${ptype.toString(16)}`);
  }
  return {
    op: buf.readUInt16BE(off + 6),
    senderMac: macToString(buf, off + 8),
    senderIp: readIpv4(buf, off + 14),
    targetMac: macToString(buf, off + 18),
    targetIp: readIpv4(buf, off + 24),
  };
}

export function writeArp(buf: Buffer, off: number, a: ArpPacket): number {
  buf.writeUInt16BE(1, off);
  buf.writeUInt16BE(0x0800, off + 2);
  buf[off + 4] = 6;
  buf[off + 5] = 4;
  buf.writeUInt16BE(a.op, off + 6);
  writeMac(buf, off + 8, a.senderMac);
  writeIpv4(buf, off + 14, a.senderIp);
  writeMac(buf, off + 18, a.targetMac);
  writeIpv4(buf, off + 24, a.targetIp);
  return off + ARP_LEN;
}
