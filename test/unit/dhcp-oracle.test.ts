// DHCP against real clients and tshark: captured udhcpc/dhclient/dnsmasq traffic (test/fixtures/dhcp, made
// by capture.sh) must parse, and wyvern's replies to those real requests must dissect cleanly.
import { describe, expect, it } from 'vitest';
import { handleDhcp, type DhcpDecision } from '../../src/apps/dhcp/index.js';
import { DHCP_TYPE, OPT, decodeClasslessRoutes, parseFrame, udpChecksumValid } from '../../src/packet/index.js';
import { baseCtx, clientFrame, dhcpOptions, dissect, fixtureFrames, type Layers } from '../fixtures/dhcp/helpers.js';

function frameOf(d: DhcpDecision): Buffer {
  if (d.action !== 'reply') throw new Error(`expected reply, got ${d.counter}: ${d.reason}`);
  return d.frame;
}

/** Every DHCP option code tshark saw, including those nested under option 52 (overload areas). */
function allOptionCodes(node: unknown, out: number[] = []): number[] {
  if (Array.isArray(node)) node.forEach((n) => allOptionCodes(n, out));
  else if (node && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      if (k === 'dhcp.option.type') out.push(...([] as string[]).concat(v as string).map(Number));
      else allOptionCodes(v, out);
    }
  }
  return out;
}

describe('captured real clients parse', () => {
  const udhcpc = fixtureFrames('udhcpc.pcap').map((b) => parseFrame(b));
  const dhclient = fixtureFrames('dhclient.pcap').map((b) => parseFrame(b));

  it('busybox udhcpc DISCOVER/REQUEST and dnsmasq OFFER/ACK', () => {
    const types = udhcpc.map((f) => f.dhcp!.messageType);
    expect(types).toEqual([1, 1, 2, 2, 3, 5]);
    const disc = udhcpc[0]!.dhcp!;
    expect(disc).toMatchObject({ op: 1, htype: 1, hlen: 6, chaddr: '02:00:00:00:00:42', ciaddr: '0.0.0.0' });
    expect(disc.parameterRequestList).toEqual(expect.arrayContaining([1, 3, 6, 26, 121]));
    expect(disc.maxMessageSize).toBeGreaterThanOrEqual(576);
    const req = udhcpc[4]!.dhcp!;
    expect(req).toMatchObject({ serverId: '10.77.0.1', requestedIp: '10.77.0.54' });
    const ack = udhcpc[5]!.dhcp!;
    expect(ack.yiaddr).toBe('10.77.0.54');
    expect(decodeClasslessRoutes(ack.options.get(OPT.classlessRoutes)!)).toEqual([
      { destination: '10.99.0.0/16', router: '10.77.0.1' },
      { destination: '0.0.0.0/0', router: '10.77.0.1' },
    ]);
    // IP checksums are always real; UDP ones only from the clients (raw sockets). dnsmasq's replies were
    // captured before veth TX checksum offload filled them in.
    for (const f of udhcpc) expect(f.ipv4!.checksumValid).toBe(true);
    for (const f of udhcpc.filter((x) => x.dhcp!.op === 1)) expect(udpChecksumValid(f.buf, f.ipv4!, f.udp!)).toBe(true);
  });

  it('ISC dhclient DISCOVER and SELECTING REQUEST', () => {
    expect(dhclient.map((f) => f.dhcp!.messageType)).toEqual([1, 2, 3, 5]);
    expect(dhclient[0]!.dhcp!.parameterRequestList).toEqual(expect.arrayContaining([1, 3, 6, 15, 26, 121]));
    expect(dhclient[2]!.dhcp!).toMatchObject({ serverId: '10.77.0.1', requestedIp: '10.77.0.54', ciaddr: '0.0.0.0' });
  });

  it('our parser agrees with tshark on every captured frame', () => {
    const raw = [...fixtureFrames('udhcpc.pcap'), ...fixtureFrames('dhclient.pcap')];
    const ts = dissect(raw);
    raw.forEach((b, i) => {
      const ours = parseFrame(b).dhcp!;
      const theirs = ts[i]!.dhcp as Layers;
      expect(Number(theirs['dhcp.id'])).toBe(ours.xid);
      expect(theirs['dhcp.hw.mac_addr']).toBe(ours.chaddr);
      expect(theirs['dhcp.ip.your']).toBe(ours.yiaddr);
      const codes = [...dhcpOptions(ts[i]!).keys()].filter((c) => c !== 0 && c !== 255);
      expect(codes.sort((a, z) => a - z)).toEqual([...ours.options.keys()].sort((a, z) => a - z));
    });
  });
});

describe('replies to real client requests, dissected by tshark', () => {
  const ctx = baseCtx({ network: { mtu: 1500, encapsulation: 'geneve' } });

  it('udhcpc and dhclient DISCOVER → OFFER, REQUEST → ACK with every requested option', () => {
    const reqs = [...fixtureFrames('udhcpc.pcap'), ...fixtureFrames('dhclient.pcap')].filter((b) => {
      const t = parseFrame(b).dhcp!.messageType;
      return t === DHCP_TYPE.DISCOVER || t === DHCP_TYPE.REQUEST;
    });
    const decisions = reqs.map((b) => handleDhcp(b, ctx, 0));
    expect(decisions.map((d) => (d.action === 'reply' ? `${d.kind}/${d.state}` : d.counter))).toEqual([
      'OFFER/INIT',
      'OFFER/INIT',
      'ACK/SELECTING',
      'OFFER/INIT',
      'ACK/SELECTING',
    ]);
    const ts = dissect(decisions.map(frameOf));
    ts.forEach((l, i) => {
      expect(l.ip['ip.checksum.status']).toBe('1');
      expect(l.udp['udp.checksum.status']).toBe('1');
      expect(l.dhcp['dhcp.ip.your']).toBe('10.77.0.54');
      expect(l.dhcp['dhcp.id']).toBe(`0x${parseFrame(reqs[i]!).dhcp!.xid.toString(16).padStart(8, '0')}`);
      const o = dhcpOptions(l);
      expect(o.get(53)!['dhcp.option.dhcp']).toBe(i === 2 || i === 4 ? '5' : '2');
      expect(o.get(54)!['dhcp.option.dhcp_server_id']).toBe('10.77.0.1');
      expect(o.get(51)!['dhcp.option.ip_address_lease_time']).toBe('3600');
      expect(o.get(1)!['dhcp.option.subnet_mask']).toBe('255.255.255.0');
      expect(o.get(3)!['dhcp.option.router']).toBe('10.77.0.1');
      expect(o.get(6)!['dhcp.option.domain_name_server']).toEqual(['10.77.0.2', '8.8.8.8']);
      expect(o.get(26)!['dhcp.option.interface_mtu']).toBe('1442');
      expect(o.get(121)!['dhcp.option.classless_static_route']).toEqual(['10:0a:63:0a:4d:00:fe', '00:0a:4d:00:01']);
      // 12 hostname only to clients asking for it (dhclient does; udhcpc's default list does not)
      const asked = parseFrame(reqs[i]!).dhcp!.parameterRequestList!;
      expect(o.has(12)).toBe(asked.includes(12));
      if (asked.includes(12)) expect(o.get(12)!['dhcp.option.hostname']).toBe('vm1');
      if (asked.includes(15)) expect(o.get(15)!['dhcp.option.domain_name']).toBe('example.org');
    });
  });

  it('NAK for a wrong requested address dissects as NAK, broadcast', () => {
    const nak = frameOf(handleDhcp(clientFrame({ type: DHCP_TYPE.REQUEST, requestedIp: '10.77.0.99' }), ctx, 0));
    const [l] = dissect([nak]);
    expect(dhcpOptions(l!).get(53)!['dhcp.option.dhcp']).toBe('6');
    expect(l!.ip['ip.dst']).toBe('255.255.255.255');
    expect(l!.udp['udp.checksum.status']).toBe('1');
  });

  it('an overloaded reply is understood by tshark (options found in the file/sname areas)', () => {
    const big = baseCtx();
    big.subnet = {
      ...big.subnet,
      hostRoutes: Array.from({ length: 30 }, (_, i) => ({ destination: `172.16.${i}.0/24`, nexthop: '10.77.0.254' })),
    };
    const f = frameOf(handleDhcp(clientFrame({ type: DHCP_TYPE.DISCOVER, prl: [1, 3, 6, 121, 15, 12, 26, 28] }), big, 0));
    expect(parseFrame(f).ipv4!.totalLength).toBeLessThanOrEqual(576);
    const [l] = dissect([f]);
    const codes = allOptionCodes(l!.dhcp);
    for (const c of [53, 52, 54, 51, 1, 3, 6, 121, 15, 12, 26, 28]) expect(codes).toContain(c);
    expect(l!.udp['udp.checksum.status']).toBe('1');
  });
});
