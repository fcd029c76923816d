import type { Action } from '../../openflow/index.js';
import { OFPVID_PRESENT } from '../../openflow/constants.js';
import type { AppTables, DesiredFlow } from '../../pipeline/tables.js';
import { throughIngressAcl, type NetworkState, type TopologyView } from '../../view/index.js';
import { floodPlan, isRelay, nextHop, type Peer } from '../../view/overlay-paths.js';
import type { App } from '../platform.js';
import { portMeter } from '../qos.js';

const MULTICAST_BIT = '01:00:00:00:00:00';
/**
 * in_port = 0: lets a relayed packet leave by the tunnel port it came in on (OpenFlow never outputs to the in_port).
 * A Nicira load into NXM_OF_IN_PORT, as OVN does: OVS refuses an OXM set_field of in_port to 0 (not a valid OF1.3
 * port number), while the 16-bit NXM field takes it.
 */
const CLEAR_IN_PORT: Action = { type: 'reg_load', dst: 'in_port_nxm', ofs: 0, nBits: 16, value: 0n };

/**
 * L2: destination MAC → destination port (local ofport, or the tunnel to the chassis that hosts it — for a
 * provider network the local patch port to its physical network instead, never a tunnel).
 * Broadcast, multicast and unknown unicast are replicated to every local port of the network and once to
 * each remote chassis with ports in it (a provider network: once out the physical network, whose switch floods
 * it). OpenFlow never outputs a packet back to its ingress port, and a packet that came from a tunnel (or the
 * physical network) is only delivered locally: never tunnel to tunnel.
 * Unicast goes through the ingress ACL tables (acl_ingress_ct misses to egress for ports without a firewall); a
 * flood copy to a local port whose delivery needs the ingress pipeline (a firewalled port, or one with an egress
 * rate limit metered in egress) is resubmitted there with the port in dst_port instead of being output directly.
 */
export const l2App: App = {
  name: 'l2',
  tables: ['l2_lookup', 'egress'],
  create: () => ({}),
  /** A port's unicast: its MAC → its port key, and that port key → its ofport, the tunnel or the physnet. */
  portFlows(tables, view, net, ps, loc) {
    const p = ps.port;
    if (loc.kind === 'unknown') return [];
    const key = BigInt(net.network.tunnelKey);
    const dstPort = tables.reg('dst_port');
    const lookup = tables.table('l2_lookup').flow({
      priority: 100,
      match: [
        { field: tables.reg('network'), value: key },
        { field: 'eth_dst', value: p.mac.toLowerCase() },
      ],
      actions: [{ type: 'set_field', field: dstPort, value: p.portKey }],
      goto: 'acl_ingress_ct',
      object: p.portKey,
    });
    const egress = tables.table('egress');
    if (loc.kind === 'local') {
      // The port's switch -> VM limit (see networkMeters) meters what this flow delivers (flood copies included:
      // throughIngressAcl sends them here).
      const meter = portMeter(tables, 'port_egress', loc.ofport, p.qos, 'egress');
      return [
        lookup,
        egress.flow({
          priority: 100,
          match: [{ field: dstPort, value: p.portKey }],
          ...(meter ? { meter: meter.meterId } : {}),
          actions: [{ type: 'output', port: loc.ofport }],
          object: p.portKey,
        }),
      ];
    }
    // Another chassis's port: out the physnet's patch port (a provider network), or the tunnel towards its next hop
    // (overlay-paths: the chassis itself in a mesh, the star's hub, or a site gateway) — none yet (no hub or
    // gateway elected, no common encapsulation, or OVS has not numbered the tunnel): no egress flow.
    const flag = outsideFlag(tables, net);
    if (net.network.provider) {
      const out = physnetOutputs(view, net);
      if (out === undefined) return [lookup];
      return [
        lookup,
        egress.flow({
          priority: 100,
          match: [
            { field: dstPort, value: p.portKey },
            { field: flag.field, value: 0, mask: flag.mask },
          ],
          actions: out,
          object: p.portKey,
        }),
      ];
    }
    // No path (no common encapsulation with the next hop, no hub or gateway elected): no lookup either, as for an
    // unknown port — its MAC is unknown unicast here, flooded where floods go (overlayProblems says why).
    const hop = nextHop(view, net, loc.chassis);
    if (hop.kind !== 'hop') return [];
    const tunnel = view.tunnelOfports.get(hop.encap);
    if (tunnel === undefined) return [lookup];
    // A relay (star hub, site gateway) forwards what came from a tunnel too, tunnel to tunnel: the packet leaves
    // by the port it came in on (one flow-based port per encapsulation), which OpenFlow refuses unless in_port is
    // cleared first. Every other host never sends a tunnel's packet back into a tunnel.
    const relay = isRelay(view, net);
    return [
      lookup,
      egress.flow({
        priority: 100,
        match: [{ field: dstPort, value: p.portKey }, ...(relay ? [] : [{ field: flag.field, value: 0, mask: flag.mask }])],
        actions: tunnelOutputs(key, [hop], tunnel, relay, view),
        object: p.portKey,
      }),
    ];
  },
  /** Broadcast, multicast and unknown unicast: every local port, and once each remote chassis with ports here. */
  networkFlows(tables, view, net) {
    const lookup = tables.table('l2_lookup');
    const key = BigInt(net.network.tunnelKey);
    const metadata = { field: tables.reg('network'), value: key };
    const dstPort = tables.reg('dst_port');
    const provider = net.network.provider;
    const flows: DesiredFlow[] = [];
    const localOutputs: Action[] = [];

    for (const { ps, loc } of view.placedPorts(net)) {
      const p = ps.port;
      if (loc.kind !== 'local') continue;
      if (throughIngressAcl(p))
        localOutputs.push(
          { type: 'set_field', field: dstPort, value: p.portKey },
          { type: 'resubmit', table: tables.id('acl_ingress_ct') },
        );
      else localOutputs.push({ type: 'output', port: loc.ofport });
    }

    // Replicated to the other chassis: once out the physical network (its switch floods it), or by tunnel to each
    // peer of the flood plan (overlay-paths: every chassis of a mesh, a star's hub, other sites' gateways).
    const plan = provider ? undefined : floodPlan(view, net);
    const outside: Action[] = provider ? (physnetOutputs(view, net) ?? []) : tunnelOutputs(key, plan!.own, undefined, false, view);
    const flag = outsideFlag(tables, net);
    const fromOutside = { field: flag.field, value: flag.mask, mask: flag.mask };
    const flood = (priority: number, match: DesiredFlow['match']) => {
      flows.push(lookup.flow({ priority: priority + 1, match: [...match, fromOutside], actions: localOutputs, object: key }));
      flows.push(lookup.flow({ priority, match, actions: [...localOutputs, ...outside], object: key }));
      // A relay passes a flood from a tunnel on to the segments it did not come from, recognised by its source.
      for (const [src, peers] of plan?.relay ?? []) {
        const relayed = tunnelOutputs(key, peers, undefined, true, view);
        if (relayed.length === 0) continue;
        flows.push(
          lookup.flow({
            priority: priority + 2,
            match: [...match, fromOutside, { field: 'tun_ipv4_src', value: src }],
            actions: [...localOutputs, ...relayed],
            object: key,
          }),
        );
      }
    };
    // Broadcast and multicast, then unknown unicast: both replicated.
    flood(50, [metadata, { field: 'eth_dst', value: MULTICAST_BIT, mask: MULTICAST_BIT }]);
    flood(10, [metadata]);
    return flows;
  },
  /** One meter per local port with a switch -> VM limit (Port.qos.egressRateKbps), used by its egress flow. */
  networkMeters(tables, view, net) {
    return view.placedPorts(net).flatMap(({ ps, loc }) => {
      const m = loc.kind === 'local' ? portMeter(tables, 'port_egress', loc.ofport, ps.port.qos, 'egress') : undefined;
      return m ? [m] : [];
    });
  },
};

/** The flag of packets that came from outside this host: the physical network's, or a tunnel's. */
function outsideFlag(tables: AppTables, net: NetworkState): { field: string; mask: number | bigint } {
  return tables.flag(net.network.provider ? 'from_physnet' : 'from_tunnel');
}

/**
 * The tunnel key, then per peer its tunnel IP and an output to the tunnel port of the encapsulation chosen for it
 * (`tunnel` when already known); peers whose tunnel port OVS has not numbered yet are left out. `relay`: in_port
 * cleared first, so a packet from a tunnel may leave by that same port.
 */
function tunnelOutputs(key: bigint, peers: readonly Peer[], tunnel: number | undefined, relay: boolean, view: TopologyView): Action[] {
  const out: Action[] = [];
  for (const peer of peers) {
    const port = tunnel ?? view.tunnelOfports.get(peer.encap);
    if (port === undefined) continue;
    out.push({ type: 'set_field', field: 'tun_ipv4_dst', value: peer.tunnelIp }, { type: 'output', port });
  }
  if (out.length === 0) return [];
  return [{ type: 'set_field', field: 'tun_id', value: key }, ...(relay ? [CLEAR_IN_PORT] : []), ...out];
}

/**
 * Out a provider network's physnet patch port: tagged with its VLAN (TPID 0x8100, PCP 0), or untagged for a flat
 * one; undefined while this chassis has no patch port for it.
 */
function physnetOutputs(view: TopologyView, net: NetworkState): Action[] | undefined {
  const phys = view.physnetOfport(net);
  const vlan = net.network.provider?.vlan;
  if (phys === undefined) return undefined;
  const tag: Action[] =
    vlan === undefined
      ? []
      : [
          { type: 'push_vlan', ethertype: 0x8100 },
          { type: 'set_field', field: 'vlan_vid', value: OFPVID_PRESENT | vlan },
        ];
  return [...tag, { type: 'output', port: phys }];
}
