import type { Action } from '../../openflow/index.js';
import { OFPVID_PRESENT } from '../../openflow/constants.js';
import type { DesiredFlow } from '../../pipeline/tables.js';
import { writeNetwork, type App } from '../platform.js';
import { portMeter } from '../qos.js';
import { portSecurityFlows } from './port-security.js';

/**
 * Classifier: a packet from a local VIF gets its network (metadata) and source port (src_port register);
 * a packet from the tunnel port gets its network from the tunnel key and the from-tunnel flag, and skips
 * the source-side tables (the sending hypervisor already ran them). Port security (anti-spoofing, see
 * port-security.ts): a port with it on may only send from its own MACs and addresses, and never as a DHCP server.
 */
export const classifierApp: App = {
  name: 'classifier',
  localPortsOnly: true,
  tables: ['classifier', 'port_security'],
  create: () => ({}),
  /** A local port: its packets get the network and the source port, metered if limited, then port security. */
  portFlows(tables, _view, net, ps, loc) {
    if (loc.kind !== 'local') return [];
    const p = ps.port;
    const setSrc: Action[] = [{ type: 'set_field', field: tables.reg('src_port'), value: p.portKey }];
    // The port's VM -> switch limit (see networkMeters) meters everything the VM sends, before any other table.
    const meter = portMeter(tables, 'port_ingress', loc.ofport, p.qos, 'ingress');
    return [
      tables.table('classifier').flow({
        priority: 100,
        match: [{ field: 'in_port', value: loc.ofport }],
        ...(meter ? { meter: meter.meterId } : {}),
        actions: setSrc,
        writeMetadata: writeNetwork(tables, BigInt(net.network.tunnelKey)),
        goto: 'port_security',
        object: p.portKey,
      }),
      ...portSecurityFlows(tables, p),
    ];
  },
  /** Packets from outside the host: the physical network's (a provider network) or the tunnels'. */
  networkFlows(tables, view, net) {
    const classifier = tables.table('classifier');
    const key = BigInt(net.network.tunnelKey);
    const fromTunnel = tables.flag('from_tunnel');
    const flows: DesiredFlow[] = [];

    // A provider network's packets come in from its physnet's patch port (untagged, or with its VLAN tag, popped
    // here), marked from_physnet: delivered to local ports only. They skip the source-side tables as tunnel
    // traffic does, so no responder here answers ARP or DHCP from the physical network (the VM itself, or the
    // outside, answers: one reply on the wire). A provider network never uses a tunnel.
    const provider = net.network.provider;
    if (provider) {
      const phys = view.physnetOfport(net);
      if (phys !== undefined) {
        const fromPhysnet = tables.flag('from_physnet');
        const vlan = provider.vlan;
        flows.push(
          classifier.flow({
            priority: 100,
            match: [
              { field: 'in_port', value: phys },
              // vlan_vid is 13 bits: OFPVID_PRESENT | VID matches the tag exactly (any PCP); 0 = untagged.
              { field: 'vlan_vid', value: vlan === undefined ? 0 : OFPVID_PRESENT | vlan },
            ],
            actions: [
              ...(vlan === undefined ? [] : [{ type: 'pop_vlan' } as const]),
              { type: 'set_field', field: fromPhysnet.field, value: fromPhysnet.mask },
            ],
            writeMetadata: writeNetwork(tables, key),
            // Through nat_ingress (ARP for NAT addresses, un-NAT of FIPs and SNAT replies); the rest misses to l2_lookup.
            goto: 'nat_ingress',
            object: key,
          }),
        );
      }
      return flows;
    }

    // One per tunnel port: each peer sends with the encapsulation it chose, so packets come in on any of them.
    for (const tunnel of view.tunnelInPorts()) {
      flows.push(
        classifier.flow({
          priority: 100,
          match: [
            { field: 'in_port', value: tunnel },
            { field: 'tun_id', value: key },
          ],
          // The flags register is zero when a packet enters the pipeline: setting the whole field sets just this bit.
          actions: [{ type: 'set_field', field: fromTunnel.field, value: fromTunnel.mask }],
          writeMetadata: writeNetwork(tables, key),
          // Through nat_ingress (SNAT requests for a gateway active here; everything else misses to l2_lookup).
          goto: 'nat_ingress',
          object: key,
        }),
      );
    }
    return flows;
  },
  /**
   * One meter per local port with a VM -> switch limit (Port.qos.ingressRateKbps), used by its classifier flow.
   * A meter and not OVS ingress policing: on the userspace datapath with veth VIFs policing is a tc ingress qdisc,
   * which this kernel refuses (no cls_basic) and which AF_PACKET, how OVS reads a veth, would bypass anyway.
   */
  networkMeters(tables, view, net) {
    return view.placedPorts(net).flatMap(({ ps, loc }) => {
      const m = loc.kind === 'local' ? portMeter(tables, 'port_ingress', loc.ofport, ps.port.qos, 'ingress') : undefined;
      return m ? [m] : [];
    });
  },
};
