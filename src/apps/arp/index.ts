import type { Action } from '../../openflow/index.js';
import type { DesiredFlow } from '../../pipeline/tables.js';
import type { App } from '../platform.js';
import { dhcpOnlyGateways, dhcpServerMac, routersOn } from '../../view/index.js';

const ETH_ARP = 0x0806;
const ARP_REQUEST = 1;

/** Turns an ARP request into the reply for `ip` at `mac`, sent back out of the port it came in on. */
export function arpReplyActions(mac: string, ip: string): Action[] {
  return [
    { type: 'reg_move', src: 'eth_src', dst: 'eth_dst', nBits: 48, srcOfs: 0, dstOfs: 0 },
    { type: 'set_field', field: 'eth_src', value: mac },
    { type: 'set_field', field: 'arp_op', value: 2 },
    { type: 'reg_move', src: 'arp_sha', dst: 'arp_tha', nBits: 48, srcOfs: 0, dstOfs: 0 },
    { type: 'set_field', field: 'arp_sha', value: mac },
    { type: 'reg_move', src: 'arp_spa', dst: 'arp_tpa', nBits: 32, srcOfs: 0, dstOfs: 0 },
    { type: 'set_field', field: 'arp_spa', value: ip },
    { type: 'output', port: 'in_port' },
  ];
}

/**
 * ARP responder: every known address of the network (local or remote port, bound or not) is answered
 * on the asking VM's own hypervisor, so ARP for known addresses never crosses a tunnel. A port asking for
 * its own address (duplicate-address probe) is not answered, or it would see a conflict.
 */
export const arpApp: App = {
  name: 'arp',
  tables: ['arp_responder'],
  create: () => ({}),
  networkFlows(tables, view, net) {
    const t = tables.table('arp_responder');
    const metadata = { field: tables.reg('network'), value: BigInt(net.network.tunnelKey) };
    const flows: DesiredFlow[] = [];
    const ports = [...net.ports.values()].sort((a, b) => a.port.portKey - b.port.portKey);
    for (const { port } of ports) {
      for (const { ip } of port.fixedIps) {
        const base = [
          metadata,
          { field: 'eth_type', value: ETH_ARP },
          { field: 'arp_op', value: ARP_REQUEST },
          { field: 'arp_tpa', value: ip },
        ];
        flows.push(t.flow({ priority: 100, match: base, actions: arpReplyActions(port.mac.toLowerCase(), ip), object: port.portKey }));
        flows.push(
          t.flow({
            priority: 110,
            match: [...base, { field: tables.reg('src_port'), value: port.portKey }],
            goto: 'l3_router',
            object: port.portKey,
          }),
        );
      }
    }
    // Router interfaces on this network answer for their gateway addresses.
    for (const { router, iface } of routersOn(view, net.network.id)) {
      const match = [
        metadata,
        { field: 'eth_type', value: ETH_ARP },
        { field: 'arp_op', value: ARP_REQUEST },
        { field: 'arp_tpa', value: iface.ip },
      ];
      flows.push(t.flow({ priority: 100, match, actions: arpReplyActions(iface.mac.toLowerCase(), iface.ip), object: router.routerKey }));
    }
    // On a DHCP subnet with no router, the DHCP server's address (the gateway) answers ARP so that
    // unicast renewals reach it.
    for (const subnet of dhcpOnlyGateways(view, net)) {
      const match = [
        metadata,
        { field: 'eth_type', value: ETH_ARP },
        { field: 'arp_op', value: ARP_REQUEST },
        { field: 'arp_tpa', value: subnet.gatewayIp },
      ];
      flows.push(t.flow({ priority: 90, match, actions: arpReplyActions(dhcpServerMac(view, net, subnet), subnet.gatewayIp), object: net.network.tunnelKey }));
    }
    return flows;
  },
};
