import type { Action } from '../../openflow/index.js';
import type { DesiredFlow } from '../../pipeline/tables.js';
import { throughIngressAcl } from '../../view/index.js';
import type { App } from '../platform.js';
import { portMeter } from '../qos.js';
import { OFPVID_PRESENT } from '../../openflow/constants.js';

const MULTICAST_BIT = '01:00:00:00:00:00';

/**
 * L2: destination MAC → destination port (local ofport or the tunnel to the chassis that hosts it).
 * Broadcast, multicast and unknown unicast are replicated to every local port of the network and once to
 * each remote chassis with ports in it. OpenFlow never outputs a packet back to its ingress port, and a
 * packet that came from a tunnel is only delivered locally: never tunnel to tunnel.
 * Unicast goes through the ingress ACL tables (acl_ingress_ct misses to egress for ports without a firewall); a
 * flood copy to a local port whose delivery needs the ingress pipeline (a firewalled port, or one with an egress
 * rate limit metered in egress) is resubmitted there with the port in dst_port instead of being output directly.
 */
export const l2App: App = {
  name: 'l2',
  tables: ['l2_lookup', 'egress'],
  create: () => ({}),
  networkFlows(tables, view, net) {
    const lookup = tables.table('l2_lookup');
    const egress = tables.table('egress');
    const key = BigInt(net.network.tunnelKey);
    const metadata = { field: tables.reg('network'), value: key };
    const dstPort = tables.reg('dst_port');
    // A provider network's packets come from (and leave through) its physnet's patch port, never a tunnel.
    const provider = net.network.provider;
    const phys = view.physnetOfport(net);
    const flag = tables.flag(provider ? 'from_physnet' : 'from_tunnel');
    /** Out the physnet: tagged with the network's VLAN (TPID 0x8100, PCP 0) for a VLAN network, untagged for flat. */
    const physOutputs: Action[] =
      phys === undefined
        ? []
        : [
            ...(provider?.vlan === undefined
              ? []
              : ([
                  { type: 'push_vlan', ethertype: 0x8100 },
                  { type: 'set_field', field: 'vlan_vid', value: OFPVID_PRESENT | provider.vlan },
                ] as Action[])),
            { type: 'output', port: phys },
          ];
    const flows: DesiredFlow[] = [];
    const localOutputs: Action[] = [];
    /** Remote chassis with ports here → its tunnel IP and the tunnel port (encap) used towards it. */
    const remoteChassis = new Map<string, { ip: string; ofport: number }>();

    for (const { ps, loc } of view.placedPorts(net)) {
      const p = ps.port;
      if (loc.kind === 'unknown') continue;
      flows.push(
        lookup.flow({
          priority: 100,
          match: [metadata, { field: 'eth_dst', value: p.mac.toLowerCase() }],
          actions: [{ type: 'set_field', field: dstPort, value: p.portKey }],
          goto: 'acl_ingress_ct',
          object: p.portKey,
        }),
      );
      if (loc.kind === 'local') {
        if (throughIngressAcl(p))
          localOutputs.push(
            { type: 'set_field', field: dstPort, value: p.portKey },
            { type: 'resubmit', table: tables.id('acl_ingress_ct') },
          );
        else localOutputs.push({ type: 'output', port: loc.ofport });
        // The port's switch -> VM limit (see networkMeters) meters what this flow delivers (flood copies included:
        // throughIngressAcl sends them here).
        const meter = portMeter(tables, 'port_egress', loc.ofport, p.qos, 'egress');
        flows.push(
          egress.flow({
            priority: 100,
            match: [{ field: dstPort, value: p.portKey }],
            ...(meter ? { meter: meter.meterId } : {}),
            actions: [{ type: 'output', port: loc.ofport }],
            object: p.portKey,
          }),
        );
      } else if (provider) {
        // Another chassis's port on the physical network: out the local patch port (unless it came from there).
        if (phys === undefined) continue;
        flows.push(
          egress.flow({
            priority: 100,
            match: [
              { field: dstPort, value: p.portKey },
              { field: flag.field, value: 0, mask: flag.mask },
            ],
            actions: physOutputs,
            object: p.portKey,
          }),
        );
      } else {
        // The tunnel port of the encapsulation chosen for that chassis (none yet: no flow until OVS numbers it).
        const tunnel = view.tunnelOfports.get(loc.encap);
        if (tunnel === undefined) continue;
        remoteChassis.set(loc.chassis, { ip: loc.tunnelIp, ofport: tunnel });
        flows.push(
          egress.flow({
            priority: 100,
            match: [
              { field: dstPort, value: p.portKey },
              { field: flag.field, value: 0, mask: flag.mask },
            ],
            actions: [
              { type: 'set_field', field: 'tun_id', value: key },
              { type: 'set_field', field: 'tun_ipv4_dst', value: loc.tunnelIp },
              { type: 'output', port: tunnel },
            ],
            object: p.portKey,
          }),
        );
      }
    }

    const tunnelOutputs: Action[] = [];
    if (remoteChassis.size > 0) {
      tunnelOutputs.push({ type: 'set_field', field: 'tun_id', value: key });
      for (const ch of [...remoteChassis.keys()].sort()) {
        const { ip, ofport } = remoteChassis.get(ch)!;
        tunnelOutputs.push({ type: 'set_field', field: 'tun_ipv4_dst', value: ip });
        tunnelOutputs.push({ type: 'output', port: ofport });
      }
    }
    const fromTunnel = { field: flag.field, value: flag.mask, mask: flag.mask };
    const flood = (priority: number, match: DesiredFlow['match']) => {
      flows.push(lookup.flow({ priority: priority + 1, match: [...match, fromTunnel], actions: localOutputs, object: key }));
      // Replicated to the other chassis: by tunnel, or once out the physical network (whose switch floods it).
      const outside = provider ? physOutputs : tunnelOutputs;
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
