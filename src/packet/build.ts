import { BROADCAST_MAC } from '../net/addr.js';
import { ARP_LEN, ARP_REPLY, ARP_REQUEST, writeArp } from './arp.js';
import { PacketError } from './errors.js';
import { ETH_MIN_FRAME, ETHERTYPE_ARP, ETHERTYPE_IPV4, ethernetHeaderLength, writeEthernet, type VlanTag } from './ethernet.js';
import { parseFrame, type ParsedFrame } from './frame.js';
import { ICMP_ECHO_REPLY, ICMP_ECHO_REQUEST, ICMP_HEADER_LEN, finishIcmpChecksum, isIcmpError } from './icmp.js';
import { IPPROTO_ICMP, IPPROTO_UDP, IPV4_HEADER_LEN, writeIpv4Header, type Ipv4Fields } from './ipv4.js';
import { UDP_HEADER_LEN, finishUdpChecksum } from './l4.js';

/**
 * Allocates a frame of at least the Ethernet minimum (60 bytes without FCS). Bytes [0, len) are NOT
 * zeroed (pooled allocation, measurably cheaper per reply): every builder writes each of them; the padding
 * after len is zeroed here.
 */
function allocFrame(len: number): Buffer {
  const b = Buffer.allocUnsafe(Math.max(ETH_MIN_FRAME, len));
  if (b.length > len) b.fill(0, len);
  return b;
}

export interface ArpFields {
  op?: number;
  srcMac: string;
  srcIp: string;
  /** Ethernet and ARP target MAC. */
  dstMac: string;
  dstIp: string;
  vlans?: readonly VlanTag[];
}

/** Builds an ARP reply (or request with op=1): "srcIp is at srcMac", sent to dstMac. */
export function buildArpReply(a: ArpFields): Buffer {
  const vlans = a.vlans ?? [];
  const b = allocFrame(ethernetHeaderLength(vlans) + ARP_LEN);
  const p = writeEthernet(b, 0, a.dstMac, a.srcMac, ETHERTYPE_ARP, vlans);
  writeArp(b, p, { op: a.op ?? ARP_REPLY, senderMac: a.srcMac, senderIp: a.srcIp, targetMac: a.dstMac, targetIp: a.dstIp });
  return b;
}

/** Answers a parsed ARP request for its target IP with `answerMac` (VLAN tags preserved). */
export function buildArpReplyFor(request: ParsedFrame, answerMac: string): Buffer {
  const arp = request.arp;
  if (!arp || arp.op !== ARP_REQUEST) throw new PacketError('build', 'bad_value', 0, 'not an ARP request');
  return buildArpReply({ srcMac: answerMac, srcIp: arp.targetIp, dstMac: arp.senderMac, dstIp: arp.senderIp, vlans: request.eth.vlans });
}

/** Builds a broadcast ARP request asking who has `targetIp`. */
export function buildArpRequest(srcMac: string, srcIp: string, targetIp: string, vlans: readonly VlanTag[] = []): Buffer {
  const b = allocFrame(ethernetHeaderLength(vlans) + ARP_LEN);
  const p = writeEthernet(b, 0, BROADCAST_MAC, srcMac, ETHERTYPE_ARP, vlans);
  writeArp(b, p, { op: ARP_REQUEST, senderMac: srcMac, senderIp: srcIp, targetMac: '00:00:00:00:00:00', targetIp });
  return b;
}

export interface UdpFrameFields extends Omit<Ipv4Fields, 'protocol'> {
  srcMac: string;
  dstMac: string;
  srcPort: number;
  dstPort: number;
  payload: Buffer;
  vlans?: readonly VlanTag[];
  /** Compute the UDP checksum (default true); false sends 0 ("none"). */
  checksum?: boolean;
}

/** Builds Ethernet + IPv4 + UDP around `payload`, with IP and UDP checksums. */
export function buildUdpIpv4Frame(u: UdpFrameFields): Buffer {
  const vlans = u.vlans ?? [];
  const udpLen = UDP_HEADER_LEN + u.payload.length;
  const b = allocFrame(ethernetHeaderLength(vlans) + IPV4_HEADER_LEN + udpLen);
  const ipOff = writeEthernet(b, 0, u.dstMac, u.srcMac, ETHERTYPE_IPV4, vlans);
  const udpOff = writeIpv4Header(b, ipOff, { ...u, protocol: IPPROTO_UDP }, udpLen);
  if (udpLen > 0xffff) throw new PacketError('build', 'too_big', udpOff, `UDP datagram of ${udpLen} bytes`);
  b.writeUInt16BE(u.srcPort, udpOff);
  b.writeUInt16BE(u.dstPort, udpOff + 2);
  b.writeUInt16BE(udpLen, udpOff + 4);
  u.payload.copy(b, udpOff + UDP_HEADER_LEN);
  if (u.checksum !== false) finishUdpChecksum(b, ipOff, udpOff, udpLen);
  else b.writeUInt16BE(0, udpOff + 6);
  return b;
}

function asParsed(f: ParsedFrame | Buffer): ParsedFrame {
  return Buffer.isBuffer(f) ? parseFrame(f, { dhcp: false }) : f;
}

/** Builds an ICMP message frame: header (type, code, rest) + data, IPv4 TTL 64. */
function icmpFrame(
  dstMac: string,
  srcMac: string,
  vlans: readonly VlanTag[],
  ip: Omit<Ipv4Fields, 'protocol'>,
  type: number,
  code: number,
  rest: number,
  data: Buffer,
): Buffer {
  const icmpLen = ICMP_HEADER_LEN + data.length;
  const b = allocFrame(ethernetHeaderLength(vlans) + IPV4_HEADER_LEN + icmpLen);
  const ipOff = writeEthernet(b, 0, dstMac, srcMac, ETHERTYPE_IPV4, vlans);
  const off = writeIpv4Header(b, ipOff, { ...ip, protocol: IPPROTO_ICMP }, icmpLen);
  b[off] = type;
  b[off + 1] = code;
  b.writeUInt16BE(0, off + 2);
  b.writeUInt32BE(rest >>> 0, off + 4);
  data.copy(b, off + ICMP_HEADER_LEN);
  finishIcmpChecksum(b, off, off + icmpLen);
  return b;
}

/**
 * Answers an ICMP echo request (parsed or raw) from srcMac/srcIp: identifier, sequence and data are echoed,
 * the reply goes back to the requester's MAC and IP (VLAN tags preserved).
 */
export function buildIcmpEchoReply(req: ParsedFrame | Buffer, srcMac: string, srcIp: string): Buffer {
  const f = asParsed(req);
  const { ipv4, icmp } = f;
  if (!ipv4 || !icmp || icmp.type !== ICMP_ECHO_REQUEST || ipv4.mf) {
    throw new PacketError('build', 'bad_value', 0, 'not an unfragmented ICMP echo request');
  }
  const data = f.buf.subarray(icmp.dataOffset, icmp.end);
  return icmpFrame(f.eth.src, srcMac, f.eth.vlans, { src: srcIp, dst: ipv4.src, tos: ipv4.tos }, ICMP_ECHO_REPLY, 0, icmp.rest, data);
}

export interface IcmpErrorOptions {
  /** Next-hop MTU for type 3 code 4 (fragmentation needed). */
  nextHopMtu?: number;
}

/**
 * Builds an ICMP error (3 unreachable, 11 time exceeded, 12 parameter problem…) about `original`, quoting
 * its IP header + the first 8 payload bytes (RFC 792), sent from the router back to the original sender.
 * Returns null where RFC 1122 §3.2.2 / RFC 1812 §4.3.2.7 forbid an error: the original is an ICMP error, a
 * non-first fragment, or was sent from/to a broadcast/multicast/zero address.
 */
export function buildIcmpError(
  type: number,
  code: number,
  original: ParsedFrame | Buffer,
  routerMac: string,
  routerIp: string,
  opts: IcmpErrorOptions = {},
): Buffer | null {
  const f = asParsed(original);
  const ip = f.ipv4;
  if (!ip) throw new PacketError('build', 'bad_value', 0, 'original frame has no IPv4 header');
  if (ip.fragmentOffset !== 0) return null;
  if (f.icmp && isIcmpError(f.icmp.type)) return null;
  if (f.eth.dst === BROADCAST_MAC || (f.buf[0]! & 1) === 1) return null;
  const s0 = f.buf[ip.offset + 12]!;
  const d0 = f.buf[ip.offset + 16]!;
  if (ip.src === '0.0.0.0' || ip.src === '255.255.255.255' || s0 >= 224 || s0 === 127) return null;
  if (ip.dst === '255.255.255.255' || (d0 >= 224 && d0 < 240)) return null;
  const quoteEnd = Math.min(ip.payloadEnd, ip.payloadOffset + 8);
  const quoted = f.buf.subarray(ip.offset, quoteEnd);
  const rest = type === 3 && code === 4 ? (opts.nextHopMtu ?? 0) & 0xffff : 0;
  return icmpFrame(f.eth.src, routerMac, f.eth.vlans, { src: routerIp, dst: ip.src }, type, code, rest, quoted);
}
