import { describe, expect, it } from 'vitest';
import { handleDhcp, interfaceMtu, type DhcpDecision } from '../../src/apps/dhcp/index.js';
import { DHCP_TYPE, OPT, decodeClasslessRoutes, parseFrame, type ParsedFrame } from '../../src/packet/index.js';
import { PORT_MAC, SERVER_MAC, baseCtx, clientFrame } from '../fixtures/dhcp/helpers.js';
import type { Encap } from '../../src/model/types.js';

const T = DHCP_TYPE;
const ME = '10.77.0.54';
const GW = '10.77.0.1';

function reply(d: DhcpDecision): { f: ParsedFrame; kind: string; state: string } {
  if (d.action !== 'reply') throw new Error(`expected a reply, got drop ${d.counter}: ${d.reason}`);
  return { f: parseFrame(d.frame), kind: d.kind, state: d.state };
}
function dropOf(d: DhcpDecision): string {
  if (d.action !== 'drop') throw new Error(`expected a drop, got ${d.kind}`);
  return d.counter;
}

describe('handleDhcp: RFC 2131 message handling', () => {
  it('DISCOVER → OFFER with the port address and lease options', () => {
    const { f, kind, state } = reply(handleDhcp(clientFrame({ type: T.DISCOVER }), baseCtx(), 0));
    expect([kind, state]).toEqual(['OFFER', 'INIT']);
    const d = f.dhcp!;
    expect(d.op).toBe(2);
    expect(d.messageType).toBe(T.OFFER);
    expect(d.yiaddr).toBe(ME);
    expect(d.ciaddr).toBe('0.0.0.0');
    expect(d.xid).toBe(0x12345678);
    expect(d.chaddr).toBe(PORT_MAC);
    expect(d.serverId).toBe(GW);
    expect(d.options.get(OPT.leaseTime)!.readUInt32BE(0)).toBe(3600);
    expect(d.options.get(OPT.renewalTime)!.readUInt32BE(0)).toBe(1800);
    expect(d.options.get(OPT.rebindingTime)!.readUInt32BE(0)).toBe(3150);
    expect(f.eth.src).toBe(SERVER_MAC);
    expect(f.ipv4!.src).toBe(GW);
    expect(f.udp!.srcPort).toBe(67);
    expect(f.udp!.dstPort).toBe(68);
  });

  it('accepts an already parsed frame as well as a Buffer', () => {
    const buf = clientFrame({ type: T.DISCOVER });
    const a = handleDhcp(buf, baseCtx(), 0);
    const b = handleDhcp(parseFrame(buf), baseCtx(), 0);
    expect(a.action === 'reply' && b.action === 'reply' && a.frame.equals(b.frame)).toBe(true);
  });

  describe('REQUEST in SELECTING (server id present)', () => {
    it('ours and the port address → ACK', () => {
      const r = reply(handleDhcp(clientFrame({ type: T.REQUEST, serverId: GW, requestedIp: ME }), baseCtx(), 0));
      expect([r.kind, r.state]).toEqual(['ACK', 'SELECTING']);
      expect(r.f.dhcp!.yiaddr).toBe(ME);
      expect(r.f.dhcp!.messageType).toBe(T.ACK);
    });
    it('ours but another address → NAK, broadcast, no yiaddr/lease', () => {
      const r = reply(handleDhcp(clientFrame({ type: T.REQUEST, serverId: GW, requestedIp: '10.77.0.99' }), baseCtx(), 0));
      expect([r.kind, r.state]).toEqual(['NAK', 'SELECTING']);
      expect(r.f.dhcp!.messageType).toBe(T.NAK);
      expect(r.f.dhcp!.yiaddr).toBe('0.0.0.0');
      expect(r.f.dhcp!.options.has(OPT.leaseTime)).toBe(false);
      expect(r.f.dhcp!.serverId).toBe(GW);
      expect(r.f.ipv4!.dst).toBe('255.255.255.255');
      expect(r.f.eth.dst).toBe('ff:ff:ff:ff:ff:ff');
    });
    it('another server chosen → silently ignored', () => {
      expect(dropOf(handleDhcp(clientFrame({ type: T.REQUEST, serverId: '10.77.0.9', requestedIp: ME }), baseCtx(), 0))).toBe('ignored');
    });
  });

  describe('REQUEST in INIT-REBOOT (requested IP, no server id, no ciaddr)', () => {
    it('right address → ACK', () => {
      const r = reply(handleDhcp(clientFrame({ type: T.REQUEST, requestedIp: ME }), baseCtx(), 0));
      expect([r.kind, r.state]).toEqual(['ACK', 'INIT-REBOOT']);
    });
    it('wrong address (moved/stale lease) → NAK', () => {
      const r = reply(handleDhcp(clientFrame({ type: T.REQUEST, requestedIp: '192.168.1.5' }), baseCtx(), 0));
      expect([r.kind, r.state]).toEqual(['NAK', 'INIT-REBOOT']);
      expect(r.f.ipv4!.dst).toBe('255.255.255.255');
    });
    it('with ciaddr set is malformed', () => {
      expect(dropOf(handleDhcp(clientFrame({ type: T.REQUEST, requestedIp: ME, ciaddr: ME }), baseCtx(), 0))).toBe('malformed');
    });
  });

  describe('REQUEST in RENEWING (ciaddr, unicast) and REBINDING (ciaddr, broadcast)', () => {
    it('RENEWING with the port address → ACK unicast to ciaddr, ciaddr echoed', () => {
      const r = reply(handleDhcp(clientFrame({ type: T.REQUEST, ciaddr: ME, ipDst: GW, ethDst: SERVER_MAC }), baseCtx(), 0));
      expect([r.kind, r.state]).toEqual(['ACK', 'RENEWING']);
      expect(r.f.dhcp!.ciaddr).toBe(ME);
      expect(r.f.dhcp!.yiaddr).toBe(ME);
      expect(r.f.ipv4!.dst).toBe(ME);
      expect(r.f.eth.dst).toBe(PORT_MAC);
    });
    it('REBINDING with the port address → ACK unicast to ciaddr', () => {
      const r = reply(handleDhcp(clientFrame({ type: T.REQUEST, ciaddr: ME }), baseCtx(), 0));
      expect([r.kind, r.state]).toEqual(['ACK', 'REBINDING']);
      expect(r.f.ipv4!.dst).toBe(ME);
    });
    it('RENEWING a foreign address → NAK (broadcast)', () => {
      const r = reply(handleDhcp(clientFrame({ type: T.REQUEST, ciaddr: '10.77.0.77', ipDst: GW, ethDst: SERVER_MAC }), baseCtx(), 0));
      expect([r.kind, r.state]).toEqual(['NAK', 'RENEWING']);
      expect(r.f.ipv4!.dst).toBe('255.255.255.255');
    });
    it('REBINDING a foreign address → NAK', () => {
      const r = reply(handleDhcp(clientFrame({ type: T.REQUEST, ciaddr: '10.77.0.77' }), baseCtx(), 0));
      expect([r.kind, r.state]).toEqual(['NAK', 'REBINDING']);
    });
    it('REQUEST with neither server id, requested IP nor ciaddr is malformed', () => {
      expect(dropOf(handleDhcp(clientFrame({ type: T.REQUEST }), baseCtx(), 0))).toBe('malformed');
    });
  });

  it('INFORM → ACK without lease time and yiaddr, unicast to ciaddr', () => {
    const r = reply(handleDhcp(clientFrame({ type: T.INFORM, ciaddr: ME, ipDst: GW, prl: [1, 3, 6, 15] }), baseCtx(), 0));
    expect([r.kind, r.state]).toEqual(['ACK', 'INFORM']);
    const d = r.f.dhcp!;
    expect(d.yiaddr).toBe('0.0.0.0');
    expect(d.ciaddr).toBe(ME);
    for (const c of [OPT.leaseTime, OPT.renewalTime, OPT.rebindingTime]) expect(d.options.has(c)).toBe(false);
    expect(d.options.get(OPT.dns)!.length).toBe(8);
    expect(r.f.ipv4!.dst).toBe(ME);
  });

  it('RELEASE and DECLINE are dropped with their counters', () => {
    expect(dropOf(handleDhcp(clientFrame({ type: T.RELEASE, ciaddr: ME, serverId: GW }), baseCtx(), 0))).toBe('release');
    expect(dropOf(handleDhcp(clientFrame({ type: T.DECLINE, requestedIp: ME, serverId: GW }), baseCtx(), 0))).toBe('decline');
  });

  it('drops: other MAC, DHCP off, server messages, BOOTP, non-DHCP, garbage', () => {
    expect(dropOf(handleDhcp(clientFrame({ type: T.DISCOVER, mac: '02:00:00:00:00:99' }), baseCtx(), 0))).toBe('not_for_us');
    const off = baseCtx();
    off.subnet = { ...off.subnet, enableDhcp: false };
    expect(dropOf(handleDhcp(clientFrame({ type: T.DISCOVER }), off, 0))).toBe('not_for_us');
    expect(dropOf(handleDhcp(clientFrame({ type: T.OFFER }), baseCtx(), 0))).toBe('ignored');
    const bootp = clientFrame({ type: T.DISCOVER });
    // Turn option 53 into a pad-free unknown option 224: no message type left → plain BOOTP.
    bootp[14 + 20 + 8 + 240] = 224;
    expect(dropOf(handleDhcp(bootp, baseCtx(), 0))).toBe('ignored');
    expect(dropOf(handleDhcp(Buffer.alloc(10), baseCtx(), 0))).toBe('malformed');
    const cut = clientFrame({ type: T.DISCOVER }).subarray(0, 100);
    expect(dropOf(handleDhcp(cut, baseCtx(), 0))).toBe('malformed');
  });

  it('a subnet without gateway and no server ip cannot answer; with ctx.server.ip it can (no option 3)', () => {
    const ctx = baseCtx();
    ctx.subnet = { ...ctx.subnet, gatewayIp: '' };
    expect(dropOf(handleDhcp(clientFrame({ type: T.DISCOVER }), ctx, 0))).toBe('ignored');
    ctx.server = { mac: SERVER_MAC, ip: '10.77.0.3' };
    const r = reply(handleDhcp(clientFrame({ type: T.DISCOVER }), ctx, 0));
    expect(r.f.dhcp!.serverId).toBe('10.77.0.3');
    expect(r.f.dhcp!.options.has(OPT.router)).toBe(false);
    // 121 without a default route when there is no gateway
    expect(decodeClasslessRoutes(r.f.dhcp!.options.get(OPT.classlessRoutes)!)).toEqual([
      { destination: '10.99.0.0/16', router: '10.77.0.254' },
    ]);
  });
});

describe('handleDhcp: RFC 2131 §4.1 addressing', () => {
  it('no ciaddr, no broadcast flag → unicast to yiaddr / chaddr', () => {
    const r = reply(handleDhcp(clientFrame({ type: T.DISCOVER }), baseCtx(), 0));
    expect(r.f.ipv4!.dst).toBe(ME);
    expect(r.f.eth.dst).toBe(PORT_MAC);
    expect(r.f.dhcp!.broadcast).toBe(false);
  });
  it('broadcast flag → broadcast IP and MAC, flag kept', () => {
    const r = reply(handleDhcp(clientFrame({ type: T.DISCOVER, broadcast: true }), baseCtx(), 0));
    expect(r.f.ipv4!.dst).toBe('255.255.255.255');
    expect(r.f.eth.dst).toBe('ff:ff:ff:ff:ff:ff');
    expect(r.f.dhcp!.broadcast).toBe(true);
  });
  it('giaddr → to the relay, port 67, L2 to the relay; NAK via relay sets the broadcast bit', () => {
    const relayMac = '02:00:00:00:0e:01';
    const frame = clientFrame({ type: T.DISCOVER, giaddr: '10.77.0.250', ipSrc: '10.77.0.250', ipDst: GW, ethDst: SERVER_MAC });
    frame.write('02000000' + '0e01', 6, 'hex'); // the relay's MAC as L2 source
    const r = reply(handleDhcp(frame, baseCtx(), 0));
    expect(r.f.ipv4!.dst).toBe('10.77.0.250');
    expect(r.f.udp!.dstPort).toBe(67);
    expect(r.f.eth.dst).toBe(relayMac);
    expect(r.f.dhcp!.giaddr).toBe('10.77.0.250');
    const nakReq = clientFrame({ type: T.REQUEST, giaddr: '10.77.0.250', requestedIp: '1.2.3.4', ipSrc: '10.77.0.250', ipDst: GW });
    const n = reply(handleDhcp(nakReq, baseCtx(), 0));
    expect(n.kind).toBe('NAK');
    expect(n.f.ipv4!.dst).toBe('10.77.0.250');
    expect(n.f.dhcp!.broadcast).toBe(true);
  });
  it('NAK is broadcast even with ciaddr set', () => {
    const r = reply(handleDhcp(clientFrame({ type: T.REQUEST, ciaddr: '10.77.0.77', ipDst: GW }), baseCtx(), 0));
    expect(r.f.ipv4!.dst).toBe('255.255.255.255');
    expect(r.f.eth.dst).toBe('ff:ff:ff:ff:ff:ff');
  });
  it('VLAN tags of the request are kept on the reply', () => {
    const vlans = [{ tpid: 0x8100, pcp: 0, dei: false, vid: 42 }];
    const r = reply(handleDhcp(clientFrame({ type: T.DISCOVER, vlans }), baseCtx(), 0));
    expect(r.f.eth.vlans).toEqual(vlans);
  });
});

describe('handleDhcp: options', () => {
  const codes = (f: ParsedFrame): number[] => [...f.dhcp!.options.keys()];

  it('honours the parameter request list: requested + mandatory 53/54/51/58/59/1/3 only', () => {
    const r = reply(handleDhcp(clientFrame({ type: T.DISCOVER, prl: [1, 3, 6] }), baseCtx(), 0));
    expect(codes(r.f).sort((a, b) => a - b)).toEqual([1, 3, 6, 51, 53, 54, 58, 59]);
    const r2 = reply(handleDhcp(clientFrame({ type: T.DISCOVER, prl: [15, 12, 26, 28, 121, 249] }), baseCtx(), 0));
    expect(codes(r2.f).sort((a, b) => a - b)).toEqual([1, 3, 12, 15, 26, 28, 51, 53, 54, 58, 59, 121, 249]);
  });

  it('without a parameter request list sends everything it has (not 249)', () => {
    const r = reply(handleDhcp(clientFrame({ type: T.DISCOVER }), baseCtx(), 0));
    expect(codes(r.f).sort((a, b) => a - b)).toEqual([1, 3, 6, 12, 15, 26, 28, 51, 53, 54, 58, 59, 121]);
  });

  it('values: mask, router, DNS, hostname=port name, domain, MTU, broadcast, 121 with default route', () => {
    const d = reply(handleDhcp(clientFrame({ type: T.DISCOVER }), baseCtx(), 0)).f.dhcp!;
    const o = d.options;
    expect(o.get(1)!.toString('hex')).toBe('ffffff00');
    expect(o.get(3)!.toString('hex')).toBe('0a4d0001');
    expect(o.get(6)!.toString('hex')).toBe('0a4d000208080808');
    expect(o.get(12)!.toString()).toBe('vm1');
    expect(o.get(15)!.toString()).toBe('example.org');
    expect(o.get(26)!.readUInt16BE(0)).toBe(1450);
    expect(o.get(28)!.toString('hex')).toBe('0a4d00ff');
    expect(decodeClasslessRoutes(o.get(121)!)).toEqual([
      { destination: '10.99.0.0/16', router: '10.77.0.254' },
      { destination: '0.0.0.0/0', router: GW },
    ]);
  });

  it('no 121 when the subnet has no host routes (option 3 suffices)', () => {
    const ctx = baseCtx();
    ctx.subnet = { ...ctx.subnet, hostRoutes: [] };
    const d = reply(handleDhcp(clientFrame({ type: T.DISCOVER, prl: [1, 3, 121] }), ctx, 0)).f.dhcp!;
    expect(d.options.has(121)).toBe(false);
  });

  it('MTU = network MTU − encapsulation overhead (vxlan 50, geneve 58, gre 42, vlan 0, override)', () => {
    const mtu = (encapsulation: Encap | 'vlan', overhead?: number): number =>
      interfaceMtu(baseCtx({ network: { mtu: 1500, encapsulation, overhead } }));
    expect([mtu('vxlan'), mtu('geneve'), mtu('gre'), mtu('vlan'), mtu('geneve', 70)]).toEqual([1450, 1442, 1458, 1500, 1430]);
    const d = reply(
      handleDhcp(clientFrame({ type: T.DISCOVER, prl: [26] }), baseCtx({ network: { mtu: 9000, encapsulation: 'geneve' } }), 0),
    ).f.dhcp!;
    expect(d.options.get(26)!.readUInt16BE(0)).toBe(8942);
  });

  it('extra per-subnet options (hex or bytes) are sent when requested and override computed ones; protected codes are not', () => {
    const ctx = baseCtx();
    ctx.subnet = {
      ...ctx.subnet,
      dhcpOptions: [
        { code: 42, value: '0a4d0005' },
        { code: 15, value: Buffer.from('override.test') },
        { code: 51, value: '00000001' },
        { code: 252, value: Buffer.from('http://wpad/') },
      ],
    };
    const d = reply(handleDhcp(clientFrame({ type: T.DISCOVER, prl: [1, 3, 42, 15, 51] }), ctx, 0)).f.dhcp!;
    expect(d.options.get(42)!.toString('hex')).toBe('0a4d0005');
    expect(d.options.get(15)!.toString()).toBe('override.test');
    expect(d.options.get(51)!.readUInt32BE(0)).toBe(3600);
    expect(d.options.has(252)).toBe(false);
  });

  it('echoes the client identifier (RFC 6842)', () => {
    const cid = Buffer.from('01' + PORT_MAC.replace(/:/g, ''), 'hex');
    const d = reply(handleDhcp(clientFrame({ type: T.DISCOVER, extra: [[61, cid]] }), baseCtx(), 0)).f.dhcp!;
    expect(d.options.get(61)!.equals(cid)).toBe(true);
  });

  it('infinite lease: 51 = 0xffffffff and no T1/T2', () => {
    const ctx = baseCtx();
    ctx.subnet = { ...ctx.subnet, leaseTime: 0xffffffff };
    const d = reply(handleDhcp(clientFrame({ type: T.DISCOVER }), ctx, 0)).f.dhcp!;
    expect(d.options.get(51)!.readUInt32BE(0)).toBe(0xffffffff);
    expect(d.options.has(58) || d.options.has(59)).toBe(false);
  });
});

describe('handleDhcp: length limits and overload', () => {
  function bigCtx(routes: number, dns = 0) {
    const ctx = baseCtx();
    ctx.subnet = {
      ...ctx.subnet,
      dnsServers: Array.from({ length: Math.max(2, dns) }, (_, i) => `10.77.1.${i + 1}`),
      hostRoutes: Array.from({ length: routes }, (_, i) => ({
        destination: `172.${16 + (i >> 8)}.${i & 255}.0/24`,
        nexthop: '10.77.0.254',
      })),
    };
    return ctx;
  }
  const ipLen = (d: DhcpDecision): number => (d.action === 'reply' ? parseFrame(d.frame).ipv4!.totalLength : -1);

  it('replies never exceed 576 bytes of IP without option 57, overloading sname/file when needed', () => {
    // 30 /24 routes × 8 bytes = 240 bytes of 121 and of 249 — too much for the 308-byte options field.
    const d = handleDhcp(clientFrame({ type: T.DISCOVER, prl: [1, 3, 6, 121, 249, 15, 12] }), bigCtx(30), 0);
    const r = reply(d);
    expect(ipLen(d)).toBeLessThanOrEqual(576);
    expect(r.f.dhcp!.overload).toBeGreaterThan(0);
    expect(r.f.dhcp!.options.get(OPT.overload)).toBeDefined();
    // Everything still decodes, concatenated across areas per RFC 3396.
    expect(decodeClasslessRoutes(r.f.dhcp!.options.get(121)!)).toHaveLength(31);
    expect(r.f.dhcp!.messageType).toBe(T.OFFER);
  });

  it('a larger option 57 (within the MTU) avoids overload', () => {
    const d = handleDhcp(clientFrame({ type: T.DISCOVER, prl: [1, 3, 6, 121, 249], maxSize: 1400 }), bigCtx(30), 0);
    const r = reply(d);
    expect(r.f.dhcp!.overload).toBe(0);
    expect(ipLen(d)).toBeGreaterThan(576);
    expect(ipLen(d)).toBeLessThanOrEqual(1400);
  });

  it('option 57 larger than the interface MTU is capped at the MTU', () => {
    const d = handleDhcp(clientFrame({ type: T.DISCOVER, prl: [1, 3, 121], maxSize: 9000 }), bigCtx(200), 0);
    expect(ipLen(d)).toBeLessThanOrEqual(1450);
  });

  it('option 57 below 576 is treated as 576', () => {
    const d = handleDhcp(clientFrame({ type: T.DISCOVER, prl: [1, 3, 121], maxSize: 300 }), bigCtx(30), 0);
    expect(ipLen(d)).toBeLessThanOrEqual(576);
    expect(ipLen(d)).toBeGreaterThan(300);
  });

  it('options that fit nowhere are dropped (lowest priority first), mandatory ones survive', () => {
    const d = handleDhcp(clientFrame({ type: T.DISCOVER, prl: [1, 3, 121, 6] }), bigCtx(100), 0);
    expect(d.action === 'reply' && d.droppedOptions.includes(121)).toBe(true);
    const o = reply(d).f.dhcp!.options;
    for (const c of [53, 54, 51, 1, 3, 6]) expect(o.has(c)).toBe(true);
    expect(ipLen(d)).toBeLessThanOrEqual(576);
  });

  it('replies are at least the 300-byte BOOTP minimum', () => {
    const d = handleDhcp(clientFrame({ type: T.REQUEST, serverId: GW, requestedIp: '1.1.1.1' }), baseCtx(), 0);
    expect(reply(d).f.udp!.length - 8).toBeGreaterThanOrEqual(300);
  });
});

describe('handleDhcp: input forms and addressing guards', () => {
  it('a frame parsed with { dhcp: false } is decoded on demand', () => {
    const f = parseFrame(clientFrame({ type: T.DISCOVER }), { dhcp: false });
    expect(f.dhcp).toBeUndefined();
    expect(reply(handleDhcp(f, baseCtx(), 0)).kind).toBe('OFFER');
  });
  it('garbage on UDP 67 is malformed; requests unicast to another server are not for us', () => {
    const junk = clientFrame({ type: T.DISCOVER });
    junk.fill(0x41, 14 + 20 + 8 + 236, 14 + 20 + 8 + 240);
    expect(dropOf(handleDhcp(junk, baseCtx(), 0))).toBe('malformed');
    expect(dropOf(handleDhcp(parseFrame(junk), baseCtx(), 0))).toBe('malformed');
    expect(dropOf(handleDhcp(clientFrame({ type: T.REQUEST, ciaddr: ME, ipDst: '10.77.0.9' }), baseCtx(), 0))).toBe('not_for_us');
    // subnet-directed broadcast is accepted
    expect(reply(handleDhcp(clientFrame({ type: T.DISCOVER, ipDst: '10.77.0.255' }), baseCtx(), 0)).kind).toBe('OFFER');
  });
});
