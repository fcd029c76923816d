/**
 * PACKET_IN dispatch by opcode: a packet whose controller userdata carries opcode X reaches the handler of X's
 * owner, through the wire encoding OVS uses (NXT_PACKET_IN2); unknown or missing opcodes are counted and
 * dropped; per-port rate limiting still applies.
 */
import { describe, expect, it } from 'vitest';
import type { App, AppContext, PacketIn } from '../../src/apps/platform.js';
import { APPS } from '../../src/apps/index.js';
import { loadApps } from '../../src/apps/registry.js';
import { PacketInDispatcher } from '../../src/agent/packet-in.js';
import { decodeMessage, encodeMessage, type OfMessage } from '../../src/openflow/index.js';
import { buildUdpIpv4Frame } from '../../src/packet/index.js';
import { loadPipeline } from '../../src/pipeline/pipeline.js';
import { PipelineTables } from '../../src/pipeline/tables.js';
import { silentLogger } from '../../src/util/log.js';
import { TopologyView } from '../../src/view/index.js';

const tables = new PipelineTables(loadPipeline());
const frame = buildUdpIpv4Frame({
  srcMac: '02:00:00:00:00:01',
  dstMac: 'ff:ff:ff:ff:ff:ff',
  src: '0.0.0.0',
  dst: '255.255.255.255',
  srcPort: 68,
  dstPort: 67,
  payload: Buffer.from('x'),
});

/** The shipped apps, with every handler replaced by one that records what it was given. */
function recordingApps(seen: { app: string; pin: PacketIn }[]): App[] {
  return APPS.map((app) => ({
    ...app,
    create: (ctx: AppContext) => {
      const real = app.create(ctx);
      const packetIn = Object.fromEntries(
        Object.keys(real.packetIn ?? {}).map((op) => [op, (pin: PacketIn) => (seen.push({ app: app.name, pin }), { messages: [] })]),
      );
      return { ...real, packetIn };
    },
  }));
}

function dispatcher(seen: { app: string; pin: PacketIn }[], limits = { rate: 1000, burst: 1000 }) {
  const view = new TopologyView('hv1', 'vxlan');
  const apps = loadApps(tables, recordingApps(seen), (app) => ({
    view,
    tables: tables.forApp(app.name),
    logger: silentLogger,
    config: { encaps: ['vxlan'] },
    now: () => 0,
    roles: { gatewayConflict: () => 'none' },
  }));
  return new PacketInDispatcher(tables, apps.routes, silentLogger, limits);
}

/** A PACKET_IN as OVS sends it for a flow whose controller action carries `userdata`, through encode/decode. */
function packetIn2(userdata: Buffer | undefined, inPort = 3, table = 'dhcp'): OfMessage {
  const msg: OfMessage = {
    type: 'NX_PACKET_IN2',
    xid: 0,
    packet: frame,
    tableId: tables.id(table),
    cookie: 0n,
    reason: 1,
    match: [
      { field: 'in_port', value: inPort },
      { field: 'metadata', value: 7n },
    ],
    ...(userdata ? { userdata } : {}),
  };
  return decodeMessage(encodeMessage(msg));
}

const userdataOf = (opcode: string) => {
  const action = tables.forApp(tables.opcode(opcode).owner).toController(opcode);
  return (action as { userdata: Buffer }).userdata;
};

describe('packet-in dispatch by opcode', () => {
  it('each declared opcode reaches its owner app, told which opcode it is and the network register', () => {
    for (const def of Object.values(tables.pipeline.opcodes)) {
      const seen: { app: string; pin: PacketIn }[] = [];
      const d = dispatcher(seen);
      expect(d.handle(packetIn2(userdataOf(def.name)))).toEqual({ messages: [] });
      expect(seen).toHaveLength(1);
      expect(seen[0]!.app).toBe(def.owner);
      expect(seen[0]!.pin).toMatchObject({ opcode: def.name, inPort: 3, networkKey: 7n, table: 'dhcp' });
      expect(d.stats).toMatchObject({ received: 1, handled: 1, unknownOpcode: 0 });
    }
  });

  it('the table a packet left from does not decide: l3 opcode from the dhcp table still goes to l3', () => {
    const seen: { app: string; pin: PacketIn }[] = [];
    dispatcher(seen).handle(packetIn2(userdataOf('l3_route_miss'), 3, 'dhcp'));
    expect(seen.map((s) => s.app)).toEqual(['l3']);
  });

  it('an unknown opcode, no userdata, or a standard PACKET_IN is counted and dropped', () => {
    const seen: { app: string; pin: PacketIn }[] = [];
    const d = dispatcher(seen);
    expect(d.handle(packetIn2(Buffer.from([0x7f, 0x7f])))).toBeUndefined();
    expect(d.handle(packetIn2(Buffer.from([1])))).toBeUndefined();
    expect(d.handle(packetIn2(undefined))).toBeUndefined();
    expect(
      d.handle({
        type: 'PACKET_IN',
        xid: 0,
        bufferId: 0xffffffff,
        totalLen: frame.length,
        reason: 1,
        tableId: 20,
        cookie: 0n,
        match: [{ field: 'in_port', value: 3 }],
        data: frame,
      }),
    ).toBeUndefined();
    expect(seen).toEqual([]);
    expect(d.stats).toMatchObject({ received: 4, handled: 0, unknownOpcode: 4 });
  });

  it('keeps the per-port rate limit: a flooding port is cut off, another port still gets through', () => {
    const seen: { app: string; pin: PacketIn }[] = [];
    const d = dispatcher(seen, { rate: 1, burst: 2 });
    const ud = userdataOf('dhcp_request');
    for (let i = 0; i < 5; i++) d.handle(packetIn2(ud, 3));
    d.handle(packetIn2(ud, 4));
    expect(seen.map((s) => s.pin.inPort)).toEqual([3, 3, 4]);
    expect(d.stats).toMatchObject({ received: 6, handled: 3, rateLimited: 3 });
  });

  it('a malformed frame is counted, not thrown', () => {
    const seen: { app: string; pin: PacketIn }[] = [];
    const d = dispatcher(seen);
    const msg = packetIn2(userdataOf('dhcp_request')) as Extract<OfMessage, { type: 'NX_PACKET_IN2' }>;
    expect(d.handle({ ...msg, packet: Buffer.from([1, 2, 3]) })).toBeUndefined();
    expect(d.stats.malformed).toBe(1);
  });
});
