/**
 * The L3 PACKET_IN handler and its reactive owners, without a switch: ICMP for router addresses, TTL
 * expiry, unreachable codes, the transient flow a reactive router declares (and the re-injected packet), static
 * routes with longest prefix, and which topology changes drop a router's reactive owner.
 */
import { describe, expect, it } from 'vitest';
import type { PacketIn } from '../../src/apps/platform.js';
import { TopologyView, type NetworkState } from '../../src/view/topology-view.js';
import { l3App, L3_PRIORITY } from '../../src/apps/l3/index.js';
import {
  l3PacketInHandler,
  REACTIVE_IDLE_SECONDS,
  REACTIVE_OBJECT_FLAG,
  reactiveObject,
  reactiveOwner,
  ReactiveOwners,
  type L3Counters,
} from '../../src/apps/l3/reactive.js';
import { resolveRoute } from '../../src/view/routes.js';
import type { Port, Router } from '../../src/model/types.js';
import type { OfMessage, PacketOut } from '../../src/openflow/index.js';
import { buildUdpIpv4Frame, parseFrame, ICMP_DEST_UNREACHABLE, ICMP_ECHO_REPLY, ICMP_TIME_EXCEEDED } from '../../src/packet/index.js';
import { writeEthernet, ETHERTYPE_IPV4 } from '../../src/packet/ethernet.js';
import { finishIcmpChecksum } from '../../src/packet/icmp.js';
import { IPPROTO_ICMP, writeIpv4Header } from '../../src/packet/ipv4.js';
import { loadPipeline } from '../../src/pipeline/pipeline.js';
import { PipelineTables } from '../../src/pipeline/tables.js';

const tables = new PipelineTables(loadPipeline());
const l3 = tables.forApp('l3');
const VM_MAC = '02:00:00:00:01:0a';
const IFACE1 = '02:aa:00:00:01:01';
const IFACE2 = '02:aa:00:00:02:01';

function port(id: string, net: string, ip: string, mac: string, key: number): Port {
  return {
    id,
    name: id,
    networkId: net,
    mac,
    fixedIps: [{ subnetId: `${net}s`, ip }],
    portSecurity: true,
    allowedAddressPairs: [],
    securityGroups: [],
    portKey: key,
  };
}

function network(id: string, key: number, cidr: string, ports: Port[]): NetworkState {
  return {
    network: { id, name: id, tunnelKey: key, mtu: 1450 },
    subnets: new Map([
      [
        `${id}s`,
        {
          id: `${id}s`,
          name: `${id}s`,
          networkId: id,
          cidr,
          gatewayIp: cidr.replace(/0\/24$/, '1'),
          enableDhcp: false,
          dnsServers: [],
          hostRoutes: [],
          leaseTime: 3600,
          dhcpOptions: [],
        },
      ],
    ]),
    ports: new Map(ports.map((p) => [p.id, { port: p, binding: { chassis: 'hv1', updatedAt: '' } }])),
  };
}

function makeView(mode: 'proactive' | 'reactive'): TopologyView {
  const v = new TopologyView('hv1', 'vxlan');
  v.tunnelOfport = 10;
  v.networks.set('n1', network('n1', 1, '10.1.0.0/24', [port('a', 'n1', '10.1.0.10', VM_MAC, 1)]));
  v.networks.set(
    'n2',
    network('n2', 2, '10.2.0.0/24', [
      port('b', 'n2', '10.2.0.10', '02:00:00:00:02:0a', 2),
      port('gw', 'n2', '10.2.0.5', '02:00:00:00:02:05', 3),
    ]),
  );
  const r: Router = {
    id: 'r1',
    name: 'r1',
    routerKey: 7,
    mac: '02:aa:00:00:00:01',
    mode,
    interfaces: [
      { subnetId: 'n1s', networkId: 'n1', ip: '10.1.0.1', mac: IFACE1 },
      { subnetId: 'n2s', networkId: 'n2', ip: '10.2.0.1', mac: IFACE2 },
    ],
    routes: [],
  };
  v.routers.set('r1', r);
  return v;
}

function udp(dst: string, ttl = 64, dstMac = IFACE1): Buffer {
  return buildUdpIpv4Frame({
    srcMac: VM_MAC,
    dstMac,
    src: '10.1.0.10',
    dst,
    ttl,
    srcPort: 4000,
    dstPort: 9,
    payload: Buffer.from('hello'),
  });
}

function echoRequest(dst: string, ttl = 64): Buffer {
  const data = Buffer.from('0123456789abcdef');
  const b = Buffer.alloc(14 + 20 + 8 + data.length);
  const ipOff = writeEthernet(b, 0, IFACE1, VM_MAC, ETHERTYPE_IPV4);
  const off = writeIpv4Header(b, ipOff, { src: '10.1.0.10', dst, protocol: IPPROTO_ICMP, ttl }, 8 + data.length);
  b[off] = 8; // echo request
  b.writeUInt16BE(0x1234, off + 4);
  b.writeUInt16BE(1, off + 6);
  data.copy(b, off + 8);
  finishIcmpChecksum(b, off, b.length);
  return b;
}

/** A PACKET_IN as the dispatcher hands it over: the opcode says which l3 flow sent it. */
function pin(buf: Buffer, opcode = 'l3_route_miss', networkKey = 1n): PacketIn {
  return { opcode, table: 'l3_router', inPort: 5, networkKey, frame: parseFrame(buf), cookie: 0n };
}

const counters = (): L3Counters => ({ echoReplies: 0, timeExceeded: 0, unreachable: 0, reactiveFlows: 0 });

function onlyPacketOut(msgs: OfMessage[] | undefined): PacketOut {
  expect(msgs).toHaveLength(1);
  const m = msgs![0]!;
  expect(m.type).toBe('PACKET_OUT');
  return m as PacketOut;
}

describe('l3 PACKET_IN: ICMP for router addresses', () => {
  it('answers an echo to the gateway, and to the router address on the far subnet, from that address', () => {
    const c = counters();
    const h = l3PacketInHandler(makeView('proactive'), l3, c);
    for (const ip of ['10.1.0.1', '10.2.0.1']) {
      const out = onlyPacketOut(h(pin(echoRequest(ip), 'l3_router_address'))?.messages);
      expect(out.actions).toEqual([{ type: 'output', port: 5 }]);
      const f = parseFrame(out.data);
      expect(f.eth.src).toBe(IFACE1);
      expect(f.eth.dst).toBe(VM_MAC);
      expect(f.ipv4!.src).toBe(ip);
      expect(f.ipv4!.dst).toBe('10.1.0.10');
      expect(f.icmp!.type).toBe(ICMP_ECHO_REPLY);
    }
    expect(c.echoReplies).toBe(2);
  });

  it('TTL 1 towards a routed destination: time exceeded from the ingress interface, quoting the packet', () => {
    const c = counters();
    const out = onlyPacketOut(l3PacketInHandler(makeView('reactive'), l3, c)(pin(udp('10.2.0.10', 1), 'l3_ttl_expired'))?.messages);
    const f = parseFrame(out.data);
    expect(f.ipv4!.src).toBe('10.1.0.1');
    expect(f.icmp!.type).toBe(ICMP_TIME_EXCEEDED);
    expect(f.icmp!.code).toBe(0);
    expect(c.timeExceeded).toBe(1);
  });

  it('no route: host unreachable inside an attached subnet, net unreachable elsewhere', () => {
    const h = l3PacketInHandler(makeView('reactive'), l3, counters());
    for (const [dst, code] of [
      ['10.2.0.99', 1],
      ['10.5.0.10', 0],
    ] as const) {
      const f = parseFrame(onlyPacketOut(h(pin(udp(dst)))?.messages).data);
      expect(f.icmp!.type, dst).toBe(ICMP_DEST_UNREACHABLE);
      expect(f.icmp!.code, dst).toBe(code);
      expect(f.ipv4!.src).toBe('10.1.0.1');
    }
  });

  it('ignores packets not addressed to a router MAC, and networks it does not know', () => {
    const h = l3PacketInHandler(makeView('reactive'), l3, counters());
    expect(h(pin(udp('10.2.0.10', 64, '02:00:00:00:09:09')))).toBeUndefined();
    expect(h(pin(udp('10.2.0.10'), 'l3_route_miss', 99n))).toBeUndefined();
  });
});

describe('l3 PACKET_IN: reactive routing', () => {
  it('declares a per-destination transient flow under the router reactive owner, then re-injects the packet', () => {
    const c = counters();
    const buf = udp('10.2.0.10');
    const r = l3PacketInHandler(makeView('reactive'), l3, c)(pin(buf));
    // Only the packet is sent by the handler's caller; the flow goes through the flow manager under its owner.
    expect(r?.messages).toHaveLength(1);
    expect(r?.transient?.owner).toBe(reactiveOwner('r1'));
    expect(r?.transient?.flows).toHaveLength(1);
    const fm = r!.transient!.flows[0]!;
    const po = r!.messages[0] as PacketOut;
    expect(() => tables.check(fm)).not.toThrow();
    expect(fm.tableId).toBe(tables.id('l3_router'));
    expect(fm.priority).toBe(L3_PRIORITY.reactive);
    expect(fm.priority).toBeLessThan(L3_PRIORITY.host);
    expect(fm.idleTimeout).toBe(REACTIVE_IDLE_SECONDS);
    expect(tables.decodeCookie(fm.cookie)).toEqual({ app: 'l3', object: reactiveObject(7) });
    expect(fm.match).toContainEqual({ field: 'ipv4_dst', value: '10.2.0.10' });
    expect(fm.match).toContainEqual({ field: 'eth_dst', value: IFACE1 });
    const apply = fm.instructions.find((i) => i.type === 'apply_actions') as { actions: unknown[] };
    expect(apply.actions).toEqual([
      { type: 'dec_nw_ttl' },
      { type: 'set_field', field: 'eth_src', value: IFACE2 },
      { type: 'set_field', field: 'eth_dst', value: '02:00:00:00:02:0a' },
    ]);
    expect(fm.instructions).toContainEqual({ type: 'write_metadata', metadata: 2n, mask: 0xffffffffffffffffn });
    // The first packet is not lost: it goes back into the pipeline as if from its port, after the flow.
    expect(po.type).toBe('PACKET_OUT');
    expect(po.inPort).toBe(5);
    expect(po.actions).toEqual([{ type: 'output', port: 'table' }]);
    expect(po.data.equals(buf)).toBe(true);
    expect(c.reactiveFlows).toBe(1);
  });

  it('static routes: longest prefix wins; the flow is per destination and rewrites to the next hop', () => {
    const v = makeView('reactive');
    const r = v.routers.get('r1')!;
    r.routes = [
      { cidr: '10.9.0.0/16', nexthop: '10.2.0.10' },
      { cidr: '10.9.1.0/24', nexthop: '10.2.0.5' },
    ];
    expect(resolveRoute(v, r, '10.9.1.7')?.ip).toBe('10.2.0.5');
    expect(resolveRoute(v, r, '10.9.2.7')?.ip).toBe('10.2.0.10');
    expect(resolveRoute(v, r, '10.8.0.1')).toBeUndefined();
    const fm = l3PacketInHandler(v, l3, counters())(pin(udp('10.9.1.7')))!.transient!.flows[0]!;
    expect(fm.match).toContainEqual({ field: 'ipv4_dst', value: '10.9.1.7' });
    const apply = fm.instructions.find((i) => i.type === 'apply_actions') as { actions: { value?: string }[] };
    expect(apply.actions[2]!.value).toBe('02:00:00:00:02:05');
  });

  it('proactive flows never carry the reactive cookie flag and sit at or above the host priority', () => {
    const v = makeView('proactive');
    const flows = l3App.networkFlows!(l3, v, v.networks.get('n1')!);
    const host = flows.filter((f) => f.match.some((m) => m.field === 'ipv4_dst' && (m as { value: string }).value === '10.2.0.10'));
    expect(host).toHaveLength(1);
    expect(host[0]!.priority).toBe(L3_PRIORITY.host);
    expect(host[0]!.idleTimeout).toBe(0);
    for (const f of flows) expect(tables.decodeCookie(f.cookie).object & REACTIVE_OBJECT_FLAG).toBe(0n);
  });
});

describe('reactive owners follow the topology', () => {
  /** A view where r1's reactive flows were computed (the handler asked for r1's owner). */
  const setup = () => {
    const v = makeView('reactive');
    const owners = new ReactiveOwners();
    const r = l3PacketInHandler(v, l3, counters(), owners)(pin(udp('10.2.0.10')));
    expect(r?.transient?.owner).toBe(reactiveOwner('r1'));
    return { v, owners };
  };
  const net = (id: string) => ({ networks: new Set([id]), all: false });
  const all = { networks: new Set<string>(), all: true };

  it('an unrelated change drops nothing: another network, or a chassis (routers unchanged)', () => {
    const { v, owners } = setup();
    expect(owners.stale(v, net('n9'))).toEqual([]);
    expect(owners.stale(v, all)).toEqual([]);
  });

  it('a change on a network the router is attached to drops its owner, once', () => {
    const { v, owners } = setup();
    v.networks.get('n2')!.ports.delete('b');
    expect(owners.stale(v, net('n2'))).toEqual([reactiveOwner('r1')]);
    expect(owners.stale(v, net('n2'))).toEqual([]); // nothing of r1 left to drop until it declares again
  });

  it('the router replaced (a route added, the mode switched, an interface detached) or deleted drops its owner', () => {
    const change = (f: (v: ReturnType<typeof makeView>) => void) => {
      const { v, owners } = setup();
      f(v);
      expect(owners.stale(v, all)).toEqual([reactiveOwner('r1')]);
    };
    change((v) => v.routers.set('r1', { ...v.routers.get('r1')!, routes: [{ cidr: '10.9.0.0/16', nexthop: '10.2.0.5' }] }));
    change((v) => v.routers.set('r1', { ...v.routers.get('r1')!, mode: 'proactive' }));
    change((v) => v.routers.set('r1', { ...v.routers.get('r1')!, interfaces: v.routers.get('r1')!.interfaces.slice(0, 1) }));
    change((v) => v.routers.delete('r1'));
  });
});
