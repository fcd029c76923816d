import type { Action } from '../../openflow/index.js';
import { OFPVID_PRESENT } from '../../openflow/constants.js';
import type { AppTables, DesiredFlow } from '../../pipeline/tables.js';
import { throughIngressAcl, type NetworkState, type TopologyView } from '../../view/index.js';
import type { App } from '../platform.js';
import { portMeter } from '../qos.js';

const MULTICAST_BIT = '01:00:00:00:00:00';

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
    // Another chassis's port: out the physnet's patch port (a provider network), or the tunnel of the encapsulation
    // chosen for that chassis — none yet (OVS has not numbered it): no egress flow. Never back where it came from.
    const out = net.network.provider ? physnetOutputs(view, net) : tunnelOutput(view.tunnelOfports.get(loc.encap), key, loc.tunnelIp);
    if (out === undefined) return [lookup];
    const flag = outsideFlag(tables, net);
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
    /** Remote chassis with ports here → its tunnel IP and the tunnel port (encap) used towards it. */
    const remoteChassis = new Map<string, { ip: string; ofport: number }>();

    for (const { ps, loc } of view.placedPorts(net)) {
      const p = ps.port;
      if (loc.kind === 'local') {
        if (throughIngressAcl(p))
          localOutputs.push(
            { type: 'set_field', field: dstPort, value: p.portKey },
            { type: 'resubmit', table: tables.id('acl_ingress_ct') },
          );
        else localOutputs.push({ type: 'output', port: loc.ofport });
      } else if (loc.kind === 'remote' && !provider) {
        const tunnel = view.tunnelOfports.get(loc.encap);
        if (tunnel !== undefined) remoteChassis.set(loc.chassis, { ip: loc.tunnelIp, ofport: tunnel });
      }
    }

    // Replicated to the other chassis: once out the physical network (its switch floods it), or by tunnel to each.
    const outside: Action[] = provider ? (physnetOutputs(view, net) ?? []) : [];
    if (!provider && remoteChassis.size > 0) {
      outside.push({ type: 'set_field', field: 'tun_id', value: key });
      for (const ch of [...remoteChassis.keys()].sort()) {
        const { ip, ofport } = remoteChassis.get(ch)!;
        outside.push({ type: 'set_field', field: 'tun_ipv4_dst', value: ip });
        outside.push({ type: 'output', port: ofport });
      }
    }
    const flag = outsideFlag(tables, net);
    const fromOutside = { field: flag.field, value: flag.mask, mask: flag.mask };
    const flood = (priority: number, match: DesiredFlow['match']) => {
      flows.push(lookup.flow({ priority: priority + 1, match: [...match, fromOutside], actions: localOutputs, object: key }));
      flows.push(lookup.flow({ priority, match, actions: [...localOutputs, ...outside], object: key }));
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

function tunnelOutput(tunnel: number | undefined, key: bigint, ip: string): Action[] | undefined {
  if (tunnel === undefined) return undefined;
  return [
    { type: 'set_field', field: 'tun_id', value: key },
    { type: 'set_field', field: 'tun_ipv4_dst', value: ip },
    { type: 'output', port: tunnel },
  ];
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
