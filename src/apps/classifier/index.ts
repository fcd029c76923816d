import type { Action } from '../../openflow/index.js';
import type { DesiredFlow } from '../../pipeline/tables.js';
import { writeNetwork, type App } from '../platform.js';
import { portSecurityFlows } from './port-security.js';

/**
 * Classifier: a packet from a local VIF gets its network (metadata) and source port (src_port register);
 * a packet from the tunnel port gets its network from the tunnel key and the from-tunnel flag, and skips
 * the source-side tables (the sending hypervisor already ran them). Port security (anti-spoofing, see
 * port-security.ts): a port with it on may only send from its own MACs and addresses, and never as a DHCP server.
 */
export const classifierApp: App = {
  name: 'classifier',
  tables: ['classifier', 'port_security'],
  create: () => ({}),
  networkFlows(tables, view, net) {
    const classifier = tables.table('classifier');
    const key = BigInt(net.network.tunnelKey);
    const fromTunnel = tables.flag('from_tunnel');
    const flows: DesiredFlow[] = [];

    for (const { ps, loc } of view.placedPorts(net)) {
      if (loc.kind !== 'local') continue;
      const p = ps.port;
      const setSrc: Action[] = [{ type: 'set_field', field: tables.reg('src_port'), value: p.portKey }];
      flows.push(
        classifier.flow({
          priority: 100,
          match: [{ field: 'in_port', value: loc.ofport }],
          actions: setSrc,
          writeMetadata: writeNetwork(tables, key),
          goto: 'port_security',
          object: p.portKey,
        }),
      );
      flows.push(...portSecurityFlows(tables, p));
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
          goto: 'l2_lookup',
          object: key,
        }),
      );
    }
    return flows;
  },
};
