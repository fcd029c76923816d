// Oracle: frames built by src/packet are written to a pcap by our own writer and dissected by tshark with
// checksum verification on. Fails (does not skip) when tshark is missing.
import { describe, expect, it } from 'vitest';
import {
  ETHERTYPE_IPV4,
  IPPROTO_ICMP,
  buildArpReply,
  buildArpRequest,
  buildIcmpEchoReply,
  buildIcmpError,
  buildUdpIpv4Frame,
  finishIcmpChecksum,
  parseFrame,
  writeEthernet,
  writeIpv4Header,
} from '../../src/packet/index.js';
import { dissect } from '../fixtures/dhcp/helpers.js';

const VM = '02:00:00:00:00:0a';
const RTR = '02:00:00:00:00:01';

function echoRequest(data: Buffer, vlan?: number): Buffer {
  const vlans = vlan ? [{ tpid: 0x8100, pcp: 0, dei: false, vid: vlan }] : [];
  const b = Buffer.alloc(14 + 4 * vlans.length + 28 + data.length);
  const ip = writeEthernet(b, 0, RTR, VM, ETHERTYPE_IPV4, vlans);
  const off = writeIpv4Header(b, ip, { src: '10.1.0.5', dst: '10.1.0.1', protocol: IPPROTO_ICMP, id: 4242 }, 8 + data.length);
  b[off] = 8;
  b.writeUInt32BE(0xbeef0003, off + 4);
  data.copy(b, off + 8);
  finishIcmpChecksum(b, off, b.length);
  return b;
}

describe('tshark oracle: ARP, ICMP, UDP builders', () => {
  it('ARP reply and request', () => {
    const req = buildArpRequest(VM, '10.1.0.5', '10.1.0.1');
    const rep = buildArpReply({ srcMac: RTR, srcIp: '10.1.0.1', dstMac: VM, dstIp: '10.1.0.5' });
    const [a, b] = dissect([req, rep]);
    expect(a!.arp).toMatchObject({
      'arp.opcode': '1',
      'arp.src.hw_mac': VM,
      'arp.src.proto_ipv4': '10.1.0.5',
      'arp.dst.proto_ipv4': '10.1.0.1',
    });
    expect(a!.eth['eth.dst']).toBe('ff:ff:ff:ff:ff:ff');
    expect(b!.arp).toMatchObject({
      'arp.opcode': '2',
      'arp.src.hw_mac': RTR,
      'arp.src.proto_ipv4': '10.1.0.1',
      'arp.dst.hw_mac': VM,
      'arp.dst.proto_ipv4': '10.1.0.5',
    });
    expect(b!.eth).toMatchObject({ 'eth.dst': VM, 'eth.src': RTR });
  });

  it('ICMP echo reply (plain and VLAN-tagged, odd data length): checksums good, id/seq echoed', () => {
    const r1 = buildIcmpEchoReply(echoRequest(Buffer.from('ping-data-odd')), RTR, '10.1.0.1');
    const r2 = buildIcmpEchoReply(parseFrame(echoRequest(Buffer.alloc(1000, 0xa5), 7)), RTR, '10.1.0.1');
    for (const l of dissect([r1, r2])) {
      expect(l.ip['ip.checksum.status']).toBe('1');
      expect(l.ip).toMatchObject({ 'ip.src': '10.1.0.1', 'ip.dst': '10.1.0.5', 'ip.proto': '1' });
      expect(l.icmp).toMatchObject({
        'icmp.type': '0',
        'icmp.code': '0',
        'icmp.checksum.status': '1',
        'icmp.ident': '48879',
        'icmp.seq': '3',
      });
    }
    expect(dissect([r2])[0]!.vlan['vlan.id']).toBe('7');
  });

  it('time exceeded and unreachable quote the original header + 8 bytes, checksums good', () => {
    const probe = buildUdpIpv4Frame({
      srcMac: VM,
      dstMac: RTR,
      src: '10.1.0.5',
      dst: '10.2.0.9',
      srcPort: 4444,
      dstPort: 33434,
      payload: Buffer.from('traceroute-probe-payload'),
      ttl: 1,
    });
    const te = buildIcmpError(11, 0, probe, RTR, '10.1.0.1')!;
    const un = buildIcmpError(3, 1, probe, RTR, '10.1.0.1')!;
    const fn = buildIcmpError(3, 4, probe, RTR, '10.1.0.1', { nextHopMtu: 1450 })!;
    const [a, b, c] = dissect([te, un, fn]);
    expect(a!.ip).toMatchObject({ 'ip.src': '10.1.0.1', 'ip.dst': '10.1.0.5', 'ip.checksum.status': '1' });
    expect(a!.icmp).toMatchObject({ 'icmp.type': '11', 'icmp.code': '0', 'icmp.checksum.status': '1' });
    expect(a!.icmp.ip).toMatchObject({ 'ip.src': '10.1.0.5', 'ip.dst': '10.2.0.9', 'ip.ttl': '1', 'ip.checksum.status': '1' });
    expect(a!.icmp.udp).toMatchObject({ 'udp.srcport': '4444', 'udp.dstport': '33434' });
    expect(b!.icmp).toMatchObject({ 'icmp.type': '3', 'icmp.code': '1', 'icmp.checksum.status': '1' });
    expect(c!.icmp).toMatchObject({ 'icmp.type': '3', 'icmp.code': '4', 'icmp.mtu': '1450', 'icmp.checksum.status': '1' });
    // exactly IP header + 8 bytes quoted
    expect(parseFrame(te).ipv4!.totalLength).toBe(20 + 8 + 20 + 8);
  });

  it('UDP frame: IP and UDP checksums good (incl. a payload whose checksum folds to 0)', () => {
    const frames = [
      buildUdpIpv4Frame({
        srcMac: VM,
        dstMac: RTR,
        src: '10.1.0.5',
        dst: '10.2.0.9',
        srcPort: 5353,
        dstPort: 53,
        payload: Buffer.from('abc'),
      }),
      buildUdpIpv4Frame({
        srcMac: VM,
        dstMac: RTR,
        src: '192.168.1.1',
        dst: '192.168.1.2',
        srcPort: 1,
        dstPort: 2,
        payload: Buffer.alloc(301, 0xff),
        ttl: 3,
        df: true,
        id: 999,
      }),
    ];
    for (const l of dissect(frames)) {
      expect(l.ip['ip.checksum.status']).toBe('1');
      expect(l.udp['udp.checksum.status']).toBe('1');
    }
  });
});
