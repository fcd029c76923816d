import { dhcpServerMac, type TopologyView } from '../../view/index.js';
import type { Logger } from '../../util/log.js';
import { packetOut, type App, type PacketIn, type PacketInResult } from '../platform.js';
import { DhcpReplyMemo } from './reply-memo.js';
import { bulkiestEncap } from './options.js';
import { handleDhcp } from './server.js';
import type { Encapsulation } from './types.js';

const ETH_IP = 0x0800;
const UDP = 17;

/**
 * DHCP: requests from local VMs whose port has an address on a DHCP-enabled subnet go to the agent, which
 * answers from the logical port (no pool). Requests on DHCP-off subnets pass through the pipeline like any
 * broadcast, so a tenant's own server answers.
 */
/** A provider network's frames leave through a physical bridge, untagged or tagged: no tunnel overhead. */
function providerEncapsulation(p: { vlan?: number } | undefined): 'vlan' | 'flat' | undefined {
  if (!p) return undefined;
  return p.vlan === undefined ? 'flat' : 'vlan';
}

export const dhcpApp: App = {
  name: 'dhcp',
  localPortsOnly: true,
  tables: ['dhcp'],
  create(ctx) {
    const counters: DhcpCounters = { replies: {}, drops: {}, replayed: 0 };
    // VM MTUs must fit the bulkiest encapsulation this chassis may use towards some peer.
    const handler = dhcpPacketInHandler(ctx.view, bulkiestEncap(ctx.config.encaps), ctx.logger, counters, ctx.now);
    return {
      packetIn: { dhcp_request: handler },
      counters,
      metrics: [
        {
          name: 'replies_total',
          help: 'DHCP replies sent, by message type',
          type: 'counter',
          label: 'type',
          values: () => counters.replies,
        },
        {
          name: 'drops_total',
          help: 'DHCP requests not answered, by reason',
          type: 'counter',
          label: 'reason',
          values: () => counters.drops,
        },
      ],
    };
  },
  /** A local port with an address on a DHCP-enabled subnet: its requests go to the agent. */
  portFlows(tables, _view, net, ps, loc) {
    if (loc.kind !== 'local') return [];
    const served = ps.port.fixedIps.some((f) => net.subnets.get(f.subnetId)?.enableDhcp);
    if (!served) return [];
    return [
      tables.table('dhcp').flow({
        priority: 100,
        match: [
          { field: tables.reg('src_port'), value: ps.port.portKey },
          { field: 'eth_type', value: ETH_IP },
          { field: 'ip_proto', value: UDP },
          { field: 'udp_src', value: 68 },
          { field: 'udp_dst', value: 67 },
        ],
        actions: [tables.toController('dhcp_request')],
        object: ps.port.portKey,
      }),
    ];
  },
};

export interface DhcpCounters {
  replies: Record<string, number>;
  drops: Record<string, number>;
  /** Replies (also counted in `replies`) answered from the memo of replies already built. */
  replayed: number;
}

/** The PACKET_IN side: finds the VM's logical port by its ofport and lets the RFC 2131 core answer. */
export function dhcpPacketInHandler(
  view: TopologyView,
  encap: Encapsulation,
  logger: Logger,
  counters: DhcpCounters,
  now: () => number = Date.now,
) {
  // Subnet id -> derived server MAC, owned by this handler (bounded by the subnets this host has served).
  const derivedMacs = new Map<string, string>();
  const memo = new DhcpReplyMemo();
  return (pin: PacketIn): PacketInResult | undefined => {
    const found = view.portByOfport(pin.inPort);
    if (!found) {
      counters.drops.unknown_port = (counters.drops.unknown_port ?? 0) + 1;
      return undefined;
    }
    const { net, ps } = found;
    const fixed = ps.port.fixedIps.find((f) => net.subnets.get(f.subnetId)?.enableDhcp);
    const subnet = fixed && net.subnets.get(fixed.subnetId);
    if (!fixed || !subnet) return undefined;
    const serverMac = dhcpServerMac(view, net, subnet, derivedMacs);
    // Everything the reply is computed from (records by identity: the view replaces them when they change).
    const inputs = [ps.port, subnet, net.network, serverMac];
    const { decision, replayed } = memo.answer(pin.inPort, pin.frame, inputs, () =>
      handleDhcp(
        pin.frame,
        {
          port: { name: ps.port.name, mac: ps.port.mac, ip: fixed.ip },
          subnet,
          network: { mtu: net.network.mtu, encapsulation: providerEncapsulation(net.network.provider) ?? encap },
          server: { mac: serverMac },
          logger,
        },
        now(),
      ),
    );
    if (replayed) counters.replayed++;
    if (decision.action === 'drop') {
      counters.drops[decision.counter] = (counters.drops[decision.counter] ?? 0) + 1;
      if (decision.counter === 'release' || decision.counter === 'decline')
        logger.info({ port: ps.port.name, reason: decision.reason }, `DHCP ${decision.counter}`);
      return undefined;
    }
    counters.replies[decision.kind] = (counters.replies[decision.kind] ?? 0) + 1;
    return { messages: [packetOut(pin.inPort, decision.frame)] };
  };
}
