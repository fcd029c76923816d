import { parseArp, type ArpPacket } from './arp.js';
import { parseDhcp, DHCP_CLIENT_PORT, DHCP_SERVER_PORT, type DhcpMessage } from './dhcp.js';
import { ETHERTYPE_ARP, ETHERTYPE_IPV4, parseEthernet, type EthernetHeader } from './ethernet.js';
import { PacketError } from './errors.js';
import { parseIcmp, type IcmpPacket } from './icmp.js';
import { IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, isFragment, parseIpv4, type Ipv4Header } from './ipv4.js';
import { parseTcp, parseUdp, type TcpHeader, type UdpHeader } from './l4.js';

/** A decoded frame: each layer is present when the frame carries it. Offsets index `buf`. */
export interface ParsedFrame {
  buf: Buffer;
  eth: EthernetHeader;
  arp?: ArpPacket;
  ipv4?: Ipv4Header;
  icmp?: IcmpPacket;
  udp?: UdpHeader;
  tcp?: TcpHeader;
  dhcp?: DhcpMessage;
  /**
   * Set instead of `dhcp` when UDP 67/68 carries something that is not a valid DHCP message. Recorded, not
   * thrown, so handlers that only care about L2–L4 (routing the first packet of a flow) still get the frame.
   */
  dhcpError?: PacketError;
}

export interface ParseOptions {
  /** Decode DHCP on UDP 67/68 (default true). Off saves work for handlers that never look at it. */
  dhcp?: boolean;
}

/**
 * Parses an Ethernet frame as deep as wyvern understands it. Unknown ethertypes/protocols simply end the
 * decoding; an L2–L4 layer that is present but malformed throws PacketError (with its offset in `buf`); a
 * malformed DHCP payload is reported in `dhcpError` rather than thrown. Non-first
 * IPv4 fragments carry no L4; a first fragment gives L4 ports but no DHCP and no ICMP checksum verdict.
 */
export function parseFrame(buf: Buffer, opts: ParseOptions = {}): ParsedFrame {
  const eth = parseEthernet(buf, 0);
  const f: ParsedFrame = { buf, eth };
  if (eth.etherType === ETHERTYPE_ARP) {
    f.arp = parseArp(buf, eth.payloadOffset);
    return f;
  }
  if (eth.etherType !== ETHERTYPE_IPV4) return f;
  const ip = parseIpv4(buf, eth.payloadOffset);
  f.ipv4 = ip;
  if (ip.fragmentOffset !== 0) return f;
  const whole = !isFragment(ip);
  const start = ip.payloadOffset;
  const end = ip.payloadEnd;
  switch (ip.protocol) {
    case IPPROTO_ICMP:
      f.icmp = parseIcmp(buf, start, end, whole);
      break;
    case IPPROTO_TCP:
      f.tcp = parseTcp(buf, start, end);
      break;
    case IPPROTO_UDP: {
      const udp = parseUdp(buf, start, end, whole);
      f.udp = udp;
      if (whole && opts.dhcp !== false && isDhcpPorts(udp)) {
        try {
          f.dhcp = parseDhcp(buf, udp.payloadOffset, udp.payloadEnd);
        } catch (e) {
          if (!(e instanceof PacketError)) throw e;
          f.dhcpError = e;
        }
      }
      break;
    }
  }
  return f;
}

/** Clients send from 68, relays from 67, but test tools use any source port: the destination decides. */
function isDhcpPorts(u: UdpHeader): boolean {
  return u.dstPort === DHCP_SERVER_PORT || u.dstPort === DHCP_CLIENT_PORT;
}

/**
 * parseFrame that returns the PacketError instead of throwing it (any other error is a bug and rethrown).
 * A DHCP-level error stays in `dhcpError` of the returned frame.
 */
export function tryParseFrame(buf: Buffer, opts?: ParseOptions): ParsedFrame | PacketError {
  try {
    return parseFrame(buf, opts);
  } catch (e) {
    if (e instanceof PacketError) return e;
    throw e;
  }
}
