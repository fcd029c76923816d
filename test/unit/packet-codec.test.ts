import { describe, expect, it } from 'vitest';
import {
  ARP_REQUEST,
  DHCP_TYPE,
  OPT,
  PacketError,
  buildArpReply,
  buildArpReplyFor,
  buildArpRequest,
  buildDhcp,
  buildIcmpEchoReply,
  buildIcmpError,
  buildUdpIpv4Frame,
  decodeClasslessRoutes,
  encodeClasslessRoutes,
  internetChecksum,
  layoutOptions,
  optU8,
  parseFrame,
  readPcap,
  tryParseFrame,
  udpChecksumValid,
  writeEthernet,
  writeIpv4Header,
  writePcap,
  ETHERTYPE_IPV4,
  IPPROTO_ICMP,
  IPPROTO_TCP,
  finishIcmpChecksum,
} from '../../src/packet/index.js';

const A = '02:00:00:00:00:0a';
const B = '02:00:00:00:00:0b';

function icmpEcho(opts: { ttl?: number; data?: Buffer; dst?: string; ethDst?: string; frag?: number } = {}): Buffer {
  const data = opts.data ?? Buffer.from('abcdefgh0123456789');
  const b = Buffer.alloc(14 + 20 + 8 + data.length);
  const ip = writeEthernet(b, 0, opts.ethDst ?? B, A, ETHERTYPE_IPV4);
  const off = writeIpv4Header(
    b,
    ip,
    { src: '10.1.0.5', dst: opts.dst ?? '10.2.0.7', protocol: IPPROTO_ICMP, ttl: opts.ttl ?? 64, id: 77 },
    8 + data.length,
  );
  if (opts.frag) {
    b.writeUInt16BE(opts.frag, ip + 6);
    b.writeUInt16BE(0, ip + 10);
    b.writeUInt16BE(internetChecksum(b, ip, ip + 20), ip + 10);
  }
  b[off] = 8;
  b.writeUInt16BE(0x1234, off + 4);
  b.writeUInt16BE(9, off + 6);
  data.copy(b, off + 8);
  finishIcmpChecksum(b, off, b.length);
  return b;
}

function expectPacketError(fn: () => unknown, layer: string, code: string, offset?: number): PacketError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(PacketError);
    const pe = e as PacketError;
    expect([pe.layer, pe.code]).toEqual([layer, code]);
    if (offset !== undefined) expect(pe.offset).toBe(offset);
    return pe;
  }
  throw new Error('expected a PacketError');
}

describe('Ethernet / VLAN', () => {
  it('parses one and two VLAN tags and rejects three', () => {
    const f = buildArpRequest(A, '10.0.0.1', '10.0.0.2', [
      { tpid: 0x88a8, pcp: 0, dei: false, vid: 100 },
      { tpid: 0x8100, pcp: 5, dei: true, vid: 4094 },
    ]);
    const p = parseFrame(f);
    expect(p.eth.vlans).toEqual([
      { tpid: 0x88a8, pcp: 0, dei: false, vid: 100 },
      { tpid: 0x8100, pcp: 5, dei: true, vid: 4094 },
    ]);
    expect(p.arp!.targetIp).toBe('10.0.0.2');
    const three = Buffer.concat([f.subarray(0, 12), Buffer.from('8100000a', 'hex'), f.subarray(12)]);
    expectPacketError(() => parseFrame(three), 'vlan', 'bad_value', 20);
  });
  it('short frames are truncated at offset 0', () => {
    expectPacketError(() => parseFrame(Buffer.alloc(13)), 'ethernet', 'truncated', 0);
  });
  it('unknown ethertypes stop decoding without error', () => {
    const b = Buffer.alloc(60);
    writeEthernet(b, 0, B, A, 0x86dd);
    const p = parseFrame(b);
    expect(p.eth.etherType).toBe(0x86dd);
    expect(p.ipv4).toBeUndefined();
  });
});

describe('ARP', () => {
  it('builds a reply for a request (padded to 60 bytes)', () => {
    const req = parseFrame(buildArpRequest(A, '10.0.0.5', '10.0.0.1'));
    expect(req.arp!.op).toBe(ARP_REQUEST);
    expect(req.eth.dst).toBe('ff:ff:ff:ff:ff:ff');
    const rep = buildArpReplyFor(req, B);
    expect(rep.length).toBe(60);
    const p = parseFrame(rep);
    expect(p.eth).toMatchObject({ dst: A, src: B });
    expect(p.arp).toEqual({ op: 2, senderMac: B, senderIp: '10.0.0.1', targetMac: A, targetIp: '10.0.0.5' });
  });
  it('rejects non-Ethernet/IPv4 ARP and truncated ARP', () => {
    const f = buildArpReply({ srcMac: A, srcIp: '1.1.1.1', dstMac: B, dstIp: '2.2.2.2' });
    const bad = Buffer.from(f);
    bad.writeUInt16BE(6, 14);
    expectPacketError(() => parseFrame(bad), 'arp', 'bad_value', 14);
    expectPacketError(() => parseFrame(f.subarray(0, 30)), 'arp', 'truncated', 14);
  });
});

describe('IPv4', () => {
  it('reports header fields, checksum, options length and fragment flags', () => {
    const f = icmpEcho();
    const p = parseFrame(f);
    expect(p.ipv4).toMatchObject({
      headerLength: 20,
      optionsLength: 0,
      ttl: 64,
      protocol: 1,
      src: '10.1.0.5',
      dst: '10.2.0.7',
      id: 77,
      checksumValid: true,
      df: false,
      mf: false,
      fragmentOffset: 0,
    });
    const bad = Buffer.from(f);
    bad[14 + 8] = 1; // TTL changed without fixing the checksum
    expect(parseFrame(bad).ipv4!.checksumValid).toBe(false);
    const mf = parseFrame(icmpEcho({ frag: 0x2000 }));
    expect(mf.ipv4!.mf).toBe(true);
    expect(mf.icmp!.checksumValid).toBeUndefined();
    const later = parseFrame(icmpEcho({ frag: 0x4000 | 3 }));
    expect(later.ipv4).toMatchObject({ df: true, mf: false, fragmentOffset: 24 });
    expect(later.icmp).toBeUndefined();
  });
  it('handles IP options (IHL 6) and Ethernet padding beyond total length', () => {
    const inner = icmpEcho();
    const ipHdr = inner.subarray(14, 34);
    const withOpt = Buffer.concat([inner.subarray(0, 14), ipHdr, Buffer.from([1, 1, 1, 0]), inner.subarray(34), Buffer.alloc(10)]);
    withOpt[14] = 0x46;
    withOpt.writeUInt16BE(inner.length - 14 + 4, 16);
    withOpt.writeUInt16BE(0, 24);
    withOpt.writeUInt16BE(internetChecksum(withOpt, 14, 38), 24);
    const p = parseFrame(withOpt);
    expect(p.ipv4).toMatchObject({ headerLength: 24, optionsLength: 4, checksumValid: true });
    expect(p.icmp!.checksumValid).toBe(true);
    expect(p.ipv4!.payloadEnd).toBe(withOpt.length - 10);
  });
  it('rejects bad version, IHL < 5 and lengths, with offsets', () => {
    const f = icmpEcho();
    const v6 = Buffer.from(f);
    v6[14] = 0x65;
    expectPacketError(() => parseFrame(v6), 'ipv4', 'bad_version', 14);
    const ihl = Buffer.from(f);
    ihl[14] = 0x44;
    expectPacketError(() => parseFrame(ihl), 'ipv4', 'bad_header_length', 14);
    const long = Buffer.from(f);
    long.writeUInt16BE(2000, 16);
    expectPacketError(() => parseFrame(long), 'ipv4', 'truncated', 16);
    const short = Buffer.from(f);
    short.writeUInt16BE(10, 16);
    expectPacketError(() => parseFrame(short), 'ipv4', 'bad_length', 16);
  });
});

describe('ICMP builders', () => {
  it('echo reply swaps addresses and keeps id, seq and data', () => {
    const req = icmpEcho({ data: Buffer.from('x'.repeat(100)) });
    const p = parseFrame(buildIcmpEchoReply(req, B, '10.2.0.1'));
    expect(p.eth).toMatchObject({ src: B, dst: A });
    expect(p.ipv4).toMatchObject({ src: '10.2.0.1', dst: '10.1.0.5', checksumValid: true });
    expect(p.icmp).toMatchObject({ type: 0, code: 0, id: 0x1234, seq: 9, checksumValid: true });
    expect(p.buf.subarray(p.icmp!.dataOffset, p.icmp!.end).toString()).toBe('x'.repeat(100));
    expect(() => buildIcmpEchoReply(buildArpRequest(A, '1.1.1.1', '1.1.1.2'), B, '1.1.1.2')).toThrow(PacketError);
  });
  it('errors quote the original IP header + 8 bytes and go back to the sender', () => {
    const orig = icmpEcho({ ttl: 1 });
    const p = parseFrame(buildIcmpError(11, 0, orig, B, '10.1.0.1')!);
    expect(p.ipv4).toMatchObject({ src: '10.1.0.1', dst: '10.1.0.5', protocol: 1 });
    expect(p.icmp).toMatchObject({ type: 11, code: 0, checksumValid: true });
    const quoted = p.buf.subarray(p.icmp!.dataOffset, p.icmp!.end);
    expect(quoted.equals(orig.subarray(14, 14 + 28))).toBe(true);
    const u = parseFrame(buildIcmpError(3, 4, orig, B, '10.1.0.1', { nextHopMtu: 1450 })!);
    expect(u.icmp!.rest).toBe(1450);
  });
  it('no errors about ICMP errors, broadcasts, multicasts or non-first fragments', () => {
    const err = buildIcmpError(3, 1, icmpEcho(), B, '10.1.0.1')!;
    expect(buildIcmpError(3, 1, err, B, '10.1.0.1')).toBeNull();
    expect(buildIcmpError(3, 1, icmpEcho({ ethDst: 'ff:ff:ff:ff:ff:ff' }), B, '10.1.0.1')).toBeNull();
    expect(buildIcmpError(3, 1, icmpEcho({ dst: '224.0.0.5' }), B, '10.1.0.1')).toBeNull();
    expect(buildIcmpError(11, 0, icmpEcho({ frag: 3 }), B, '10.1.0.1')).toBeNull();
    expect(buildIcmpError(11, 0, icmpEcho({ frag: 0x2000 }), B, '10.1.0.1')).not.toBeNull();
  });
});

describe('UDP / TCP', () => {
  it('UDP checksum with pseudo-header; 0 means none; corruption detected', () => {
    const f = buildUdpIpv4Frame({
      srcMac: A,
      dstMac: B,
      src: '10.0.0.1',
      dst: '10.0.0.2',
      srcPort: 5000,
      dstPort: 53,
      payload: Buffer.from('hello world!'),
    });
    const p = parseFrame(f);
    expect(p.udp).toMatchObject({ srcPort: 5000, dstPort: 53, length: 20 });
    expect(udpChecksumValid(f, p.ipv4!, p.udp!)).toBe(true);
    const bad = Buffer.from(f);
    bad[14 + 20 + 8] ^= 1;
    expect(udpChecksumValid(bad, p.ipv4!, p.udp!)).toBe(false);
    const none = buildUdpIpv4Frame({
      srcMac: A,
      dstMac: B,
      src: '10.0.0.1',
      dst: '10.0.0.2',
      srcPort: 1,
      dstPort: 2,
      payload: Buffer.alloc(3),
      checksum: false,
    });
    const q = parseFrame(none);
    expect(q.udp!.checksum).toBe(0);
    expect(udpChecksumValid(none, q.ipv4!, q.udp!)).toBe(true);
    const lenBad = Buffer.from(f);
    lenBad.writeUInt16BE(4, 14 + 20 + 4);
    expectPacketError(() => parseFrame(lenBad), 'udp', 'bad_length', 38);
  });
  it('TCP ports and flags', () => {
    const b = Buffer.alloc(14 + 20 + 20);
    const ip = writeEthernet(b, 0, B, A, ETHERTYPE_IPV4);
    const off = writeIpv4Header(b, ip, { src: '1.1.1.1', dst: '2.2.2.2', protocol: IPPROTO_TCP }, 20);
    b.writeUInt16BE(43210, off);
    b.writeUInt16BE(443, off + 2);
    b.writeUInt16BE((5 << 12) | 0x02, off + 12);
    expect(parseFrame(b).tcp).toMatchObject({ srcPort: 43210, dstPort: 443, flags: 2, headerLength: 20 });
  });
});

describe('DHCP options', () => {
  it('RFC 3442 routes round-trip, including /0, /32 and odd widths', () => {
    const routes = [
      { destination: '0.0.0.0/0', router: '10.0.0.1' },
      { destination: '10.0.0.0/8', router: '10.0.0.2' },
      { destination: '10.128.0.0/9', router: '10.0.0.3' },
      { destination: '192.168.7.1/32', router: '10.0.0.4' },
      { destination: '172.16.0.0/12', router: '0.0.0.0' },
    ];
    const v = encodeClasslessRoutes(routes);
    expect(v.subarray(0, 5).toString('hex')).toBe('000a000001');
    expect(decodeClasslessRoutes(v)).toEqual(routes);
    expect(encodeClasslessRoutes([{ destination: '10.1.2.3/24', router: '1.1.1.1' }]).toString('hex')).toBe('180a010201010101');
    expectPacketError(() => decodeClasslessRoutes(Buffer.from([33, 1, 1, 1, 1, 1, 1, 1, 1])), 'dhcp', 'bad_option', 0);
    expectPacketError(() => decodeClasslessRoutes(Buffer.from([24, 10, 0, 0, 1, 1])), 'dhcp', 'bad_option', 0);
  });

  it('long options are split into ≤255-byte instances and concatenated back (RFC 3396)', () => {
    const long = Buffer.alloc(600, 7);
    const built = buildDhcp({
      op: 2,
      xid: 1,
      chaddr: A,
      options: [
        [53, optU8(2)],
        [OPT.dns, long.subarray(0, 8)],
        [224, long],
      ],
      maxLength: 1400,
    });
    const b = built.payload;
    const frame = buildUdpIpv4Frame({ srcMac: A, dstMac: B, src: '1.1.1.1', dst: '2.2.2.2', srcPort: 67, dstPort: 68, payload: b });
    const d = parseFrame(frame).dhcp!;
    expect(d.options.get(224)!.equals(long)).toBe(true);
    expect(d.overload).toBe(0);
    // three instances of 224 in the options field
    let n = 0;
    for (let p = 240; p < b.length && b[p] !== 255; p += 2 + b[p + 1]!) if (b[p] === 224) n++;
    expect(n).toBe(3);
  });

  it('overload: options spill into file then sname, option 52 right after 53', () => {
    const opts: Array<[number, Buffer]> = [[53, optU8(5)]];
    for (let c = 200; c < 211; c++) opts.push([c, Buffer.alloc(40, c)]);
    const lay = layoutOptions(opts, 308);
    expect(lay.overload).toBe(3);
    expect(lay.main.subarray(0, 6).toString('hex')).toBe('350105340103');
    expect(lay.file!.length).toBeLessThanOrEqual(128);
    expect(lay.sname!.length).toBeLessThanOrEqual(64);
    const built = buildDhcp({ op: 2, xid: 9, chaddr: A, options: opts });
    expect(built.payload.length).toBeLessThanOrEqual(548);
    expect(built.dropped).toEqual([]);
    expect(buildDhcp({ op: 2, xid: 9, chaddr: A, options: [...opts, [211, Buffer.alloc(40)]] }).dropped).toEqual([211]);
    const frame = buildUdpIpv4Frame({
      srcMac: A,
      dstMac: B,
      src: '1.1.1.1',
      dst: '2.2.2.2',
      srcPort: 67,
      dstPort: 68,
      payload: built.payload,
    });
    const d = parseFrame(frame).dhcp!;
    expect(d.overload).toBe(3);
    expect(d.sname).toBe('');
    expect(d.file).toBe('');
    for (let c = 200; c < 211; c++) expect(d.options.get(c)!.equals(Buffer.alloc(40, c))).toBe(true);
    expect(d.messageType).toBe(DHCP_TYPE.ACK);
  });

  it('bad cookie, option running past the end, bad 52/53 lengths → dhcpError (not thrown), with offsets', () => {
    const ok = buildUdpIpv4Frame({
      srcMac: A,
      dstMac: B,
      src: '0.0.0.0',
      dst: '255.255.255.255',
      srcPort: 68,
      dstPort: 67,
      payload: buildDhcp({ op: 1, xid: 1, chaddr: A, options: [[53, optU8(1)]] }).payload,
    });
    const base = 14 + 20 + 8;
    const dhcpErr = (b: Buffer, code: string, offset: number): void => {
      const f = parseFrame(b);
      expect(f.dhcp).toBeUndefined();
      expect(f.udp).toBeDefined();
      expect(f.dhcpError).toBeInstanceOf(PacketError);
      expect([f.dhcpError!.layer, f.dhcpError!.code, f.dhcpError!.offset]).toEqual(['dhcp', code, offset]);
    };
    const cookie = Buffer.from(ok);
    cookie[base + 236] = 0;
    dhcpErr(cookie, 'bad_magic', base + 236);
    const over = Buffer.from(ok);
    over[base + 240 + 1] = 200; // 53's length
    dhcpErr(over, 'bad_option', base + 240);
    const mt = Buffer.from(ok);
    mt.write('3502', base + 240, 'hex');
    dhcpErr(mt, 'bad_option', base + 240);
    const ov = Buffer.from(ok);
    ov.write('340109ff', base + 243, 'hex');
    dhcpErr(ov, 'bad_option', base + 240);
    const short = buildUdpIpv4Frame({
      srcMac: A,
      dstMac: B,
      src: '0.0.0.0',
      dst: '255.255.255.255',
      srcPort: 68,
      dstPort: 67,
      payload: Buffer.alloc(100),
    });
    dhcpErr(short, 'truncated', base);
    // L3 truncation still throws
    expect(tryParseFrame(ok.subarray(0, base + 200))).toBeInstanceOf(PacketError);
    // parse options can skip DHCP entirely
    expect(parseFrame(cookie, { dhcp: false }).dhcpError).toBeUndefined();
  });
});

describe('pcap', () => {
  it('round-trips frames', () => {
    const frames = [icmpEcho(), buildArpRequest(A, '1.1.1.1', '1.1.1.2')];
    const back = readPcap(writePcap(frames));
    expect(back.map((r) => r.data)).toEqual(frames);
    expect(() => readPcap(Buffer.alloc(30))).toThrow(PacketError);
  });
});
