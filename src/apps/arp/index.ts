import type { Action } from '../../openflow/index.js';
import type { AppTables, DesiredFlow } from '../../pipeline/tables.js';
import type { App } from '../platform.js';
import { answeredByNonPort, nonPortAddressesOn, type NetworkAddress, type NetworkState } from '../../view/index.js';

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
  /**
   * A port's fixed IPs (wherever the port is, bound or not), but not an address a router interface or the DHCP
   * server answers for: one flow per address, and theirs wins whatever order owners were computed in.
   */
  portFlows(tables, view, net, ps) {
    const p = ps.port;
    const mac = p.mac.toLowerCase();
    return p.fixedIps
      .filter(({ ip }) => !answeredByNonPort(view, net, ip))
      .flatMap(({ ip }) => answerFlows(tables, net, { ip, mac, kind: 'port', key: p.portKey }));
  },
  /** Router interfaces and DHCP-only gateways (the ports' own addresses are their port flows). */
  networkFlows(tables, view, net) {
    return (
      nonPortAddressesOn(view, net)
        // On a provider network the gateway is a router of the physical network, which answers for itself.
        .filter((a) => !(a.kind === 'dhcp' && net.network.provider))
        .flatMap((a) => answerFlows(tables, net, a))
    );
  },
};

function answerFlows(tables: AppTables, net: NetworkState, a: NetworkAddress): DesiredFlow[] {
  const t = tables.table('arp_responder');
  const match = [
    { field: tables.reg('network'), value: BigInt(net.network.tunnelKey) },
    { field: 'eth_type', value: ETH_ARP },
    { field: 'arp_op', value: ARP_REQUEST },
    { field: 'arp_tpa', value: a.ip },
  ];
  // The DHCP server answers for a gateway no router serves, so unicast renewals reach it; below ports and
  // routers, which own their addresses.
  const priority = a.kind === 'dhcp' ? 90 : 100;
  const flows = [t.flow({ priority, match, actions: arpReplyActions(a.mac, a.ip), object: a.key })];
  // A port asking for its own address (duplicate-address probe) is passed on, unanswered.
  if (a.kind === 'port')
    flows.push(
      t.flow({ priority: 110, match: [...match, { field: tables.reg('src_port'), value: a.key }], goto: 'l3_router', object: a.key }),
    );
  return flows;
}
