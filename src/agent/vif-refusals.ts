/**
 * VIFs this agent refuses to bind (issue 15): the hypervisor's attached-mac is not the port's MAC, so the VM would
 * send from an address its port does not own (port security drops it, DHCP answers nobody). A refusal is logged
 * once per change (not on every event that re-evaluates it) and listed in `wyvern agent status` (`refusedVifs`);
 * it ends when the VIF's attached-mac or the port (re-created with the right MAC) is fixed, or the VIF goes.
 */
import type { Logger } from '../util/log.js';
import { compareText } from '../util/order.js';

export interface RefusedVif {
  /** The OVS interface. */
  iface: string;
  /** Its external_ids:iface-id (a port name or id). */
  ifaceId: string;
  /** The port it names, by name. */
  port: string;
  portId: string;
  reason: string;
}

export class VifRefusals {
  private readonly byRef = new Map<string, RefusedVif>();

  constructor(private readonly logger: Logger) {}

  /** Records a refusal; logs it when it is new or its reason changed. */
  refuse(ref: string, r: RefusedVif): void {
    const prev = this.byRef.get(ref);
    this.byRef.set(ref, r);
    if (prev?.reason === r.reason && prev.iface === r.iface) return;
    this.logger.warn({ iface: r.iface, ifaceId: r.ifaceId, port: r.port, reason: r.reason }, 'VIF not bound: ' + r.reason);
  }

  /** The VIF is bound, unplugged, or its port gone: no longer refused. */
  clear(ref: string): void {
    const prev = this.byRef.get(ref);
    if (!prev) return;
    this.byRef.delete(ref);
    this.logger.info({ iface: prev.iface, ifaceId: prev.ifaceId, port: prev.port }, 'VIF no longer refused');
  }

  has(ref: string): boolean {
    return this.byRef.has(ref);
  }

  list(): RefusedVif[] {
    return [...this.byRef.values()].sort((a, b) => compareText(a.iface, b.iface));
  }
}
