/**
 * Split brain between gateway chassis (agent/gateway-fence.ts): a gratuitous ARP for the gateway IP from the physnet
 * reaches the agent of the chassis active for it (not its ARP answer); the agent fences the gateway off only while
 * the store cannot confirm its lease, and the store's next copy of the key lifts the fence.
 */
import { describe, expect, it } from 'vitest';
import { FlowComputer } from '../../src/agent/compute.js';
import { GatewayFence } from '../../src/agent/gateway-fence.js';
import { APPS } from '../../src/apps/index.js';
import { natApp } from '../../src/apps/nat/index.js';
import { DEFEND_INTERVAL_MS } from '../../src/apps/nat/conflicts.js';
import type { GatewayConflict, GatewayConflictOutcome, PacketIn } from '../../src/apps/platform.js';
import { FlowManager } from '../../src/flows/manager.js';
import { decodeMessage, encodeMessage } from '../../src/openflow/index.js';
import { gatewayKey } from '../../src/model/keys.js';
import { buildArpRequest, parseFrame } from '../../src/packet/index.js';
import { loadPipeline } from '../../src/pipeline/pipeline.js';
import { PipelineTables } from '../../src/pipeline/tables.js';
import { silentLogger } from '../../src/util/log.js';
import { activeGatewayChassis } from '../../src/view/index.js';
import { TopologySync, type ViewChange } from '../../src/view/topology-sync.js';
import type { TopologyView } from '../../src/view/topology-view.js';
import { FakeOFTable, type PacketSpec } from '../helpers/fake-of-table.js';
import { FakeSwitch } from '../helpers/fake-switch.js';
import { GW, IDS, IFACE_MAC, MAC, natView, OUTSIDE_ROUTER, PATCH, TUNNEL } from '../helpers/nat-topology.js';

const tables = new PipelineTables(loadPipeline());
const switchOf = (view: TopologyView) =>
  new FakeOFTable(new FlowComputer(tables, APPS, view, new FlowManager(new FakeSwitch())).fullRecompute());
const CONFLICT = Buffer.from([0, tables.opcode('nat_gateway_conflict').id]);
const OTHER_HOST_MAC = '02:99:00:00:00:03';

/** An ARP from the physnet with `spa` as its sender: a gratuitous ARP (request, spa == tpa) by default. */
const arpFromPhysnet = (spa: string, more: PacketSpec = {}): PacketSpec => ({
  in_port: PATCH,
  eth_src: OTHER_HOST_MAC,
  eth_dst: 'ff:ff:ff:ff:ff:ff',
  eth_type: 0x0806,
  arp_op: 1,
  arp_sha: OTHER_HOST_MAC,
  arp_spa: spa,
  arp_tpa: spa,
  ...more,
});
const arpRequestForGw: PacketSpec = {
  ...arpFromPhysnet(OUTSIDE_ROUTER.ip),
  eth_src: OUTSIDE_ROUTER.mac,
  arp_sha: OUTSIDE_ROUTER.mac,
  arp_tpa: GW.ip,
};
const vm3ToOutside: PacketSpec = {
  in_port: 3,
  eth_src: MAC(3),
  eth_dst: IFACE_MAC,
  eth_type: 0x0800,
  ip_proto: 1,
  icmp_type: 8,
  ipv4_src: '10.1.0.13',
  ipv4_dst: '198.51.100.7',
  ip_ttl: 64,
};

function conflictPin(spa: string, networkKey = 100n): PacketIn {
  const frame = buildArpRequest(OTHER_HOST_MAC, spa, spa, []);
  return { opcode: 'nat_gateway_conflict', table: 'nat_ingress', inPort: PATCH, networkKey, frame: parseFrame(frame), cookie: 0n };
}

function natRuntime(view: TopologyView, outcome: GatewayConflictOutcome = 'none', clock = { t: 0 }) {
  const seen: GatewayConflict[] = [];
  const rt = natApp.create({
    view,
    tables: tables.forApp('nat'),
    logger: silentLogger,
    config: { encaps: ['vxlan'] },
    now: () => clock.t,
    roles: { gatewayConflict: (c) => (seen.push(c), outcome) },
  });
  return {
    seen,
    handle: rt.packetIn!.nat_gateway_conflict!,
    counters: rt.counters as { gatewayConflicts: number; gatewayDefences: number },
  };
}

function fenceOf(view: TopologyView, confirmed: boolean, stored?: { chassis: string; lease: string }) {
  let changes = 0;
  const fence = new GatewayFence({
    view,
    logger: silentLogger,
    leaseConfirmed: () => confirmed,
    leaseId: () => 'lease-a',
    readGateway: async () => stored,
    changed: () => changes++,
    now: () => 0,
  });
  return { fence, changes: () => changes, confirm: () => void (confirmed = true) };
}

const syncOf = (view: TopologyView) =>
  new TopologySync(view, { add: () => undefined, remove: () => undefined, prefixes: () => [] }, silentLogger, false);
const conflict = (ip = GW.ip): GatewayConflict => ({
  routerId: IDS.r1,
  ip,
  ethSrc: OTHER_HOST_MAC,
  senderMac: OTHER_HOST_MAC,
  networkId: IDS.ext,
});

describe('gateway conflicts on the physnet (split brain)', () => {
  it('an ARP sent as the gateway IP goes to the agent on the active chassis, above the ARP answer; other ARPs as before', () => {
    const sw = switchOf(natView({ active: 'hv1' }));
    for (const op of [1, 2]) {
      const out = sw.outputs(arpFromPhysnet(GW.ip, { arp_op: op }));
      expect(out.map((o) => [o.port, o.userdata])).toEqual([['controller', CONFLICT]]);
    }
    // The upstream router asking for the gateway is still answered.
    expect(sw.outputs(arpRequestForGw).map((o) => [o.port, o.packet.arp_op, o.packet.arp_spa])).toEqual([[PATCH, 2, GW.ip]]);
    // A VLAN provider network: the tagged announcement too.
    const tagged = switchOf(natView({ active: 'hv1', vlan: 42 })).outputs({ ...arpFromPhysnet(GW.ip), vlan_vid: 42 | 0x1000 });
    expect(tagged.map((o) => [o.port, o.userdata])).toEqual([['controller', CONFLICT]]);
    // On a chassis where the gateway is not active, nothing goes to the agent for it.
    expect(
      switchOf(natView({ active: 'hv2' }))
        .outputs(arpFromPhysnet(GW.ip))
        .filter((o) => o.port === 'controller'),
    ).toEqual([]);
  });

  it('the NAT app reports a conflict for a gateway active here only', () => {
    const here = natRuntime(natView({ active: 'hv1' }));
    expect(here.handle(conflictPin(GW.ip))).toBeUndefined();
    expect(here.seen).toEqual([{ routerId: IDS.r1, ip: GW.ip, ethSrc: OTHER_HOST_MAC, senderMac: OTHER_HOST_MAC, networkId: IDS.ext }]);
    expect(here.counters.gatewayConflicts).toBe(1);
    // Another address, another network, or a gateway that moved away meanwhile: nothing.
    here.handle(conflictPin(OUTSIDE_ROUTER.ip));
    here.handle(conflictPin(GW.ip, 1n));
    const elsewhere = natRuntime(natView({ active: 'hv2' }));
    elsewhere.handle(conflictPin(GW.ip));
    expect(here.seen).toHaveLength(1);
    expect(elsewhere.seen).toEqual([]);
  });

  it('a gateway the store confirms here is defended with a gratuitous ARP, at most once per DEFEND_INTERVAL_MS', () => {
    const clock = { t: 0 };
    const kept = natRuntime(natView({ active: 'hv1' }), 'kept', clock);
    const garp = (r: ReturnType<typeof kept.handle>) =>
      (r?.messages ?? []).map((m) => {
        const out = decodeMessage(encodeMessage(m)) as unknown as { actions: { port: number }[]; data: Buffer };
        const f = parseFrame(out.data);
        return {
          port: out.actions[0]!.port,
          ethSrc: f.eth.src,
          op: f.arp?.op,
          spa: f.arp?.senderIp,
          tpa: f.arp?.targetIp,
          sha: f.arp?.senderMac,
        };
      });
    const defended = { port: PATCH, ethSrc: GW.mac, op: 1, spa: GW.ip, tpa: GW.ip, sha: GW.mac };
    expect(garp(kept.handle(conflictPin(GW.ip)))).toEqual([defended]);
    clock.t = DEFEND_INTERVAL_MS - 1;
    expect(garp(kept.handle(conflictPin(GW.ip)))).toEqual([]);
    clock.t = DEFEND_INTERVAL_MS;
    expect(garp(kept.handle(conflictPin(GW.ip)))).toEqual([defended]);
    expect(kept.counters).toMatchObject({ gatewayConflicts: 3, gatewayDefences: 2 });
    // On a VLAN provider network the defence leaves tagged, as the gateway's other packets do.
    const tagged = natRuntime(natView({ active: 'hv1', vlan: 42 }), 'kept').handle(conflictPin(GW.ip))!.messages[0]!;
    const frame = parseFrame((decodeMessage(encodeMessage(tagged)) as unknown as { data: Buffer }).data);
    expect(frame.eth.vlans.map((v) => v.vid)).toEqual([42]);
    expect(frame.arp).toMatchObject({ senderIp: GW.ip, targetIp: GW.ip });
    // Fenced (the store cannot confirm us): nothing is sent.
    expect(natRuntime(natView({ active: 'hv1' }), 'fenced').handle(conflictPin(GW.ip))).toBeUndefined();
  });

  it('while the store confirms our lease the gateway is kept: an address conflict upstream, not a takeover', () => {
    const view = natView({ active: 'hv1' });
    const { fence, changes } = fenceOf(view, true);
    expect(fence.conflict(conflict())).toBe('kept');
    expect(activeGatewayChassis(view, IDS.r1)).toBe('hv1');
    expect(fence.counters).toEqual({ fenced: 0, kept: 1 });
    expect(fence.status()).toEqual([]);
    expect(changes()).toBe(0);
  });

  it('while it cannot, the gateway is fenced off: no ARP answers, no SNAT here, and what the VMs send is dropped', () => {
    const view = natView({ active: 'hv1' });
    const { fence, changes } = fenceOf(view, false);
    expect(fence.conflict(conflict())).toBe('fenced');
    expect(activeGatewayChassis(view, IDS.r1)).toBeUndefined();
    expect(changes()).toBe(1);
    expect(fence.status()).toEqual([{ router: IDS.r1, ip: GW.ip, announcedBy: OTHER_HOST_MAC, since: new Date(0).toISOString() }]);
    const sw = switchOf(view);
    expect(sw.outputs(arpRequestForGw)).toEqual([]);
    expect(sw.outputs(vm3ToOutside)).toEqual([]);
    expect(sw.outputs(arpFromPhysnet(GW.ip)).filter((o) => o.port === 'controller')).toEqual([]);
    // Seen again: fenced once.
    expect(fence.conflict(conflict())).toBe('fenced');
    expect(fence.counters.fenced).toBe(1);
    expect(changes()).toBe(1);
  });

  it('a false alarm (fenced while a late probe left the lease unconfirmed) is lifted once the store has the key on our lease', async () => {
    for (const [stored, lifted] of [
      [{ chassis: 'hv1', lease: 'lease-a' }, true],
      [{ chassis: 'hv1', lease: 'lease-old' }, false], // our old lease: it lapsed, a takeover may follow
      [{ chassis: 'hv2', lease: 'lease-b' }, false], // taken over: the watch brings it
      [undefined, false],
    ] as const) {
      const view = natView({ active: 'hv1' });
      const { fence, changes, confirm } = fenceOf(view, false, stored);
      fence.conflict(conflict());
      await fence.recheck(); // still unconfirmed: nothing read
      expect(activeGatewayChassis(view, IDS.r1)).toBeUndefined();
      confirm();
      await fence.recheck();
      expect(activeGatewayChassis(view, IDS.r1)).toBe(lifted ? 'hv1' : undefined);
      expect(changes()).toBe(lifted ? 2 : 1);
    }
  });

  it('a conflict for a gateway this chassis does not hold changes nothing', () => {
    const view = natView({ active: 'hv2' });
    const { fence, changes } = fenceOf(view, false);
    expect(fence.conflict(conflict())).toBe('none');
    expect(activeGatewayChassis(view, IDS.r1)).toBe('hv2');
    expect(fence.counters).toEqual({ fenced: 0, kept: 0 });
    expect(changes()).toBe(0);
  });

  it("the store's copy of the key lifts the fence, whoever it names: the flows follow the store again", () => {
    for (const holder of ['hv1', 'hv2']) {
      const view = natView({ active: 'hv1' });
      const sync = syncOf(view);
      let notified = 0;
      sync.on('change', (c: ViewChange) => void (c.all && notified++));
      fenceOf(view, false).fence.conflict(conflict());
      expect(activeGatewayChassis(view, IDS.r1)).toBeUndefined();
      // The resync when the store answers again: the same lease (our lease survived), or the chassis that took over.
      sync.applyPut(gatewayKey(IDS.r1), JSON.stringify({ routerId: IDS.r1, chassis: holder, since: '2026-01-01T00:00:00Z' }));
      expect(view.gatewayFences.size).toBe(0);
      expect(activeGatewayChassis(view, IDS.r1)).toBe(holder);
      expect(notified).toBeGreaterThan(0);
      const sw = switchOf(view);
      const out = sw.outputs(vm3ToOutside);
      // Active here: SNATed to the gateway IP (then to the agent: no next hop learned in this view); else tunnelled.
      if (holder === 'hv1') expect(out.map((o) => [o.port, o.packet.ipv4_src])).toEqual([['controller', GW.ip]]);
      else expect(out.map((o) => o.port)).toEqual([TUNNEL]);
    }
  });

  it("the on-disk cache's copy of the key (a prefix re-added while the store is away) does not lift the fence", () => {
    const view = natView({ active: 'hv1' });
    const sync = syncOf(view);
    fenceOf(view, false).fence.conflict(conflict());
    const kv = {
      key: gatewayKey(IDS.r1),
      value: JSON.stringify({ routerId: IDS.r1, chassis: 'hv1', since: 'cached' }),
      createRevision: 0,
      modRevision: 0,
    };
    sync.applySnapshot(gatewayKey(IDS.r1), [kv], { cached: true });
    expect(view.gateways.get(IDS.r1)?.since).toBe('cached');
    expect(activeGatewayChassis(view, IDS.r1)).toBeUndefined();
    // The store's own read of it does.
    sync.applySnapshot(gatewayKey(IDS.r1), [{ ...kv, modRevision: 9 }]);
    expect(activeGatewayChassis(view, IDS.r1)).toBe('hv1');
  });

  it('the key deleted from the store lifts the fence too', () => {
    const view = natView({ active: 'hv1' });
    const sync = syncOf(view);
    fenceOf(view, false).fence.conflict(conflict());
    sync.applyDelete(gatewayKey(IDS.r1));
    expect(view.gatewayFences.size).toBe(0);
    expect(view.gateways.has(IDS.r1)).toBe(false);
  });
});
