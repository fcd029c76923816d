import { describe, expect, it } from 'vitest';
import {
  AddressError,
  broadcastOf,
  cidrContains,
  cidrsOverlap,
  cidrToString,
  formatIp,
  formatIpCidr,
  formatIpv6,
  intToIp,
  ipCidrContains,
  ipToInt,
  isHostOf,
  isIpv4,
  isIpv6,
  macToBuffer,
  macToString,
  maskOf,
  parseCidr,
  parseIp,
  parseIpCidr,
  parseIpv4,
  parseIpv6,
  readIpv4,
  readIpv6,
  toCidr,
  tryWriteMac,
  writeIpv4,
  writeIpv6,
} from '../../src/net/addr.js';
import { allocateIp, parseRouteCidr, parseSubnetCidr } from '../../src/model/addr-rules.js';
import { ModelError } from '../../src/model/errors.js';

describe('IPv4', () => {
  it('reads dotted quads exactly', () => {
    expect(parseIpv4('0.0.0.0')).toBe(0);
    expect(parseIpv4('255.255.255.255')).toBe(0xffffffff);
    expect(parseIpv4('10.1.2.3')).toBe(0x0a010203);
    expect(ipToInt('192.0.2.10')).toBe(0xc000020a);
    expect(intToIp(0xc000020a)).toBe('192.0.2.10');
  });

  it('refuses leading zeros, out-of-range octets and anything but four decimal octets', () => {
    for (const bad of [
      '010.0.0.1',
      '10.00.0.1',
      '10.0.0.01',
      '00.0.0.0',
      '256.0.0.1',
      '1.2.3',
      '1.2.3.4.5',
      '1..2.3',
      '.1.2.3',
      '1.2.3.',
      '1.2.3.4 ',
      ' 1.2.3.4',
      '0x0a.0.0.1',
      '1.2.3.-4',
      '',
      '1234.1.1.1',
      '1.2.3.4/32',
      '::1',
    ]) {
      expect(parseIpv4(bad), bad).toBeUndefined();
      expect(isIpv4(bad), bad).toBe(false);
    }
    expect(isIpv4(42)).toBe(false);
    expect(() => ipToInt('010.0.0.1')).toThrow(AddressError);
  });

  it('reads and writes bytes', () => {
    const b = Buffer.alloc(6);
    writeIpv4(b, 1, '172.31.0.2');
    expect(b.toString('hex')).toBe('00ac1f000200');
    expect(readIpv4(b, 1)).toBe('172.31.0.2');
    expect(() => writeIpv4(b, 0, '1.2.3.256')).toThrow(AddressError);
  });
});

describe('IPv4 CIDR', () => {
  it('parses a.b.c.d/n keeping host bits, /0 to /32', () => {
    expect(parseCidr('10.1.2.3/16')).toEqual({ ip: 0x0a010203, prefix: 16 });
    expect(parseCidr('0.0.0.0/0')).toEqual({ ip: 0, prefix: 0 });
    expect(parseCidr('192.0.2.7/32')).toEqual({ ip: 0xc0000207, prefix: 32 });
    // As before the merge: a one- or two-digit length, so "/08" still reads as 8.
    expect(parseCidr('10.0.0.0/08')).toEqual({ ip: 0x0a000000, prefix: 8 });
    for (const bad of [
      '10.0.0.0',
      '10.0.0.0/',
      '10.0.0.0/33',
      '10.0.0.0/123',
      '010.0.0.0/8',
      '10.0.0.0/8/8',
      '10.0.0.0/-1',
      '10.0.0.0/ 8',
    ]) {
      expect(parseCidr(bad), bad).toBeUndefined();
    }
  });

  it('toCidr clears host bits; masks, broadcast, containment, overlap', () => {
    const c = toCidr('10.1.2.3/16');
    expect(c).toEqual({ network: 0x0a010000, prefix: 16 });
    expect(cidrToString(c)).toBe('10.1.0.0/16');
    expect(() => toCidr('10.1.2.3')).toThrow(AddressError);
    expect(maskOf(0)).toBe(0);
    expect(maskOf(24)).toBe(0xffffff00);
    expect(maskOf(32)).toBe(0xffffffff);
    expect(intToIp(broadcastOf(c))).toBe('10.1.255.255');
    const all = toCidr('0.0.0.0/0');
    expect(cidrContains(all, ipToInt('255.255.255.255'))).toBe(true);
    expect(intToIp(broadcastOf(all))).toBe('255.255.255.255');
    const host = toCidr('192.0.2.7/32');
    expect(cidrContains(host, ipToInt('192.0.2.7'))).toBe(true);
    expect(cidrContains(host, ipToInt('192.0.2.8'))).toBe(false);
    expect(cidrsOverlap(toCidr('10.0.0.0/8'), toCidr('10.200.0.0/16'))).toBe(true);
    expect(cidrsOverlap(toCidr('10.0.0.0/24'), toCidr('10.0.1.0/24'))).toBe(false);
    const s = toCidr('10.0.0.0/24');
    expect([isHostOf(s, ipToInt('10.0.0.0')), isHostOf(s, ipToInt('10.0.0.1')), isHostOf(s, ipToInt('10.0.0.255'))]).toEqual([
      false,
      true,
      false,
    ]);
  });

  it('model rules on top: subnet and route CIDRs, allocation (messages unchanged)', () => {
    expect(parseSubnetCidr('10.0.0.0/24')).toEqual({ network: 0x0a000000, prefix: 24 });
    expect(() => parseSubnetCidr('10.0.0.1/24')).toThrow(/host bits are set \(did you mean 10\.0\.0\.0\/24\?\)/);
    expect(() => parseSubnetCidr('10.0.0.0/31')).toThrow(/prefix length must be 8\.\.30/);
    expect(() => parseSubnetCidr('010.0.0.0/24')).toThrow(ModelError);
    expect(() => parseSubnetCidr('nope')).toThrow('invalid CIDR "nope": expected IPv4 a.b.c.d/n');
    expect(parseRouteCidr('0.0.0.0/0', 'cidr')).toEqual({ network: 0, prefix: 0 });
    expect(parseRouteCidr('192.0.2.1/32', 'cidr')).toEqual({ network: 0xc0000201, prefix: 32 });
    const c = toCidr('10.0.0.0/30');
    expect(allocateIp(c, '10.0.0.1', new Set())).toBe('10.0.0.2');
    expect(allocateIp(c, '10.0.0.1', new Set(['10.0.0.2']))).toBeUndefined();
  });
});

describe('IPv6', () => {
  const v6 = (s: string) => formatIpv6(parseIpv6(s)!);

  it('parses full, compressed and IPv4-tailed forms', () => {
    expect(parseIpv6('::')).toBe(0n);
    expect(parseIpv6('::1')).toBe(1n);
    expect(parseIpv6('2001:db8::1')).toBe(0x20010db8000000000000000000000001n);
    expect(parseIpv6('2001:0DB8:0000:0000:0000:0000:0000:0001')).toBe(0x20010db8000000000000000000000001n);
    expect(parseIpv6('1:2:3:4:5:6:7::')).toBe(0x00010002000300040005000600070000n);
    expect(parseIpv6('::2:3:4:5:6:7:8')).toBe(0x00000002000300040005000600070008n);
    expect(parseIpv6('::ffff:192.0.2.1')).toBe(0xffffc0000201n);
    expect(parseIpv6('64:ff9b::10.0.0.1')).toBe(0x0064ff9b00000000000000000a000001n);
  });

  it('refuses malformed text', () => {
    for (const bad of [
      '',
      ':',
      ':::',
      '1::2::3',
      '1:2:3:4:5:6:7:8:9',
      '1:2:3:4:5:6:7',
      '12345::',
      'g::1',
      ':1:2:3:4:5:6:7:8',
      '1:2:3:4:5:6:7:8:',
      'fe80::1%eth0',
      '::ffff:010.0.0.1',
      '::ffff:1.2.3',
      '1.2.3.4',
      '1:2:3:4:5:6:7:1.2.3.4',
      '::1 ',
    ]) {
      expect(parseIpv6(bad), bad).toBeUndefined();
      expect(isIpv6(bad), bad).toBe(false);
    }
  });

  it('formats as RFC 5952: lower case, longest zero run compressed (first on a tie), never a single group', () => {
    expect(v6('2001:0DB8:0000:0000:0000:FF00:0042:8329')).toBe('2001:db8::ff00:42:8329');
    expect(v6('2001:db8:0:0:1:0:0:1')).toBe('2001:db8::1:0:0:1');
    expect(v6('1:0:0:2:0:0:0:3')).toBe('1:0:0:2::3');
    expect(v6('2001:db8:0:1:1:1:1:1')).toBe('2001:db8:0:1:1:1:1:1');
    expect(v6('0:0:0:0:0:0:0:0')).toBe('::');
    expect(v6('0:0:0:0:0:0:0:1')).toBe('::1');
    expect(v6('fe80:0:0:0:0:0:0:0')).toBe('fe80::');
    // IPv4-mapped and -compatible end in dotted form, as inet_ntop (and so ovs-ofctl) prints them.
    expect(v6('0:0:0:0:0:ffff:c000:201')).toBe('::ffff:192.0.2.1');
    expect(v6('::c000:201')).toBe('::192.0.2.1');
  });

  it('reads and writes 16 bytes', () => {
    const b = Buffer.alloc(18);
    writeIpv6(b, 1, parseIpv6('2001:db8::1')!);
    expect(b.subarray(1, 17).toString('hex')).toBe('20010db8000000000000000000000001');
    expect(readIpv6(b, 1)).toBe('2001:db8::1');
  });
});

describe('either family', () => {
  it('parses and formats addresses and CIDRs of both families, contains never across families', () => {
    expect(parseIp('10.0.0.1')).toEqual({ family: 4, value: 0x0a000001n });
    expect(parseIp('2001:db8::1')).toEqual({ family: 6, value: 0x20010db8000000000000000000000001n });
    expect(parseIp('010.0.0.1')).toBeUndefined();
    expect(formatIp(parseIp('2001:DB8::0:1')!)).toBe('2001:db8::1');
    const v6 = parseIpCidr('2001:db8::1/64')!;
    expect(formatIpCidr(v6)).toBe('2001:db8::/64');
    expect(parseIpCidr('2001:db8::1/64', { strict: true })).toBeUndefined();
    expect(parseIpCidr('::/0')).toEqual({ family: 6, network: 0n, prefix: 0 });
    expect(parseIpCidr('::1/128')).toEqual({ family: 6, network: 1n, prefix: 128 });
    expect(parseIpCidr('::1/129')).toBeUndefined();
    expect(parseIpCidr('::1/064')).toBeUndefined();
    expect(parseIpCidr('10.0.0.5/24')).toEqual({ family: 4, network: 0x0a000000n, prefix: 24 });
    expect(ipCidrContains(v6, parseIp('2001:db8::ffff')!)).toBe(true);
    expect(ipCidrContains(v6, parseIp('2001:db9::1')!)).toBe(false);
    expect(ipCidrContains(parseIpCidr('0.0.0.0/0')!, parseIp('::1')!)).toBe(false);
    expect(ipCidrContains(parseIpCidr('::/0')!, parseIp('::1')!)).toBe(true);
  });
});

describe('MAC', () => {
  it('reads and writes, any case, colons or dashes', () => {
    expect(macToBuffer('02:AA:bb:00:00:01').toString('hex')).toBe('02aabb000001');
    expect(macToBuffer('02-aa-bb-00-00-01').toString('hex')).toBe('02aabb000001');
    expect(macToString(Buffer.from('0002aabb000001', 'hex'), 1)).toBe('02:aa:bb:00:00:01');
    const b = Buffer.alloc(6);
    for (const bad of ['02:aa:bb:00:00', '02:aa:bb:00:00:0g', '02:aa-bb:00:00:01', '02aabb000001', '02:aa:bb:00:00:01:']) {
      expect(tryWriteMac(b, 0, bad), bad).toBe(false);
      expect(() => macToBuffer(bad)).toThrow(AddressError);
    }
  });
});

describe('API listen addresses (on the address module)', () => {
  it('loopback needs no token: 127/8, ::1 in any spelling, localhost; not 0.0.0.0, ::, or malformed quads', async () => {
    const { isLoopback } = await import('../../src/api/listen.js');
    for (const h of ['127.0.0.1', '127.9.9.9', '::1', '0:0:0:0:0:0:0:1', 'localhost']) expect(isLoopback(h), h).toBe(true);
    for (const h of ['0.0.0.0', '::', '10.0.0.1', '127.0.0.300', '127.000.0.1', '::2', 'example.com']) expect(isLoopback(h), h).toBe(false);
  });
});
