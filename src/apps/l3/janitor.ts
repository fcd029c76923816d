import { flowMod, type OfMessage } from '../../openflow/index.js';
import type { AppTables } from '../../pipeline/tables.js';
import { ALL_ONES_64 } from '../platform.js';
import { routersOn, type TopologyView } from '../../view/index.js';

/**
 * Flows a PACKET_IN installs carry this bit in their cookie's object key, so they can be removed as a group
 * (one masked delete) without touching the router's proactive flows, which the flow manager owns.
 */
export const REACTIVE_OBJECT_FLAG = 1n << 47n;

export function reactiveObject(routerKey: number): bigint {
  return BigInt(routerKey) | REACTIVE_OBJECT_FLAG;
}

/** What a router's reactive flows were computed from: its own config and the addresses behind it. */
export function routerSignature(view: TopologyView, routerId: string): string | undefined {
  const r = view.routers.get(routerId);
  if (!r) return undefined;
  const parts: string[] = [r.mode, String(r.routerKey), JSON.stringify(r.interfaces), JSON.stringify(r.routes)];
  for (const i of r.interfaces) {
    const net = view.networks.get(i.networkId);
    if (!net) {
      parts.push(`${i.networkId}:-`);
      continue;
    }
    const subnet = net.subnets.get(i.subnetId);
    parts.push(`${i.networkId}:${net.network.tunnelKey}:${subnet?.cidr ?? '-'}`);
    // Where a port lives does not matter (the flow hands over to l2_lookup); its addresses do.
    const addrs: string[] = [];
    for (const { port } of net.ports.values())
      for (const f of port.fixedIps) if (f.subnetId === i.subnetId) addrs.push(`${f.ip}=${port.mac.toLowerCase()}`);
    parts.push(addrs.sort().join(','));
  }
  return parts.join('|');
}

/**
 * Reactive flows live until idle, so traffic can keep a flow alive after what it was computed from is gone
 * (a subnet detached, a port deleted or re-addressed, a route removed, the mode switched). The janitor
 * remembers each router's signature and, when the view changes it, deletes that router's reactive flows:
 * the next packet goes to the agent again and meets the current topology.
 */
export class ReactiveFlowJanitor {
  private readonly signatures = new Map<string, { routerKey: number; sig: string }>();
  private readonly dirty = new Set<string>();
  private all = false;
  private scheduled = false;

  constructor(
    private readonly view: TopologyView,
    private readonly tables: AppTables,
    private readonly send: (msgs: OfMessage[]) => void,
  ) {}

  /** Notes a view change; a burst of them is swept once, after the current tick. */
  viewChanged(change: { networks: Set<string>; all: boolean }): void {
    if (change.all) this.all = true;
    else for (const n of change.networks) for (const { router } of routersOn(this.view, n)) this.dirty.add(router.id);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      const msgs = this.sweep();
      if (msgs.length > 0) this.send(msgs);
    });
  }

  /** Compares the routers marked dirty (or all) with their last signature; returns the deletes to send. */
  sweep(): OfMessage[] {
    const ids = this.all ? new Set([...this.signatures.keys(), ...this.view.routers.keys()]) : new Set(this.dirty);
    this.all = false;
    this.dirty.clear();
    const out: OfMessage[] = [];
    for (const id of ids) {
      const before = this.signatures.get(id);
      const sig = routerSignature(this.view, id);
      if (sig === undefined) this.signatures.delete(id);
      else this.signatures.set(id, { routerKey: this.view.routers.get(id)!.routerKey, sig });
      // A router seen for the first time has no flows of ours to distrust yet.
      if (before && before.sig !== sig) out.push(this.deleteReactive(before.routerKey));
    }
    return out;
  }

  /** One masked delete: every flow in l3_router whose cookie says "reactive flow of this router". */
  deleteReactive(routerKey: number): OfMessage {
    const probe = this.tables.table('l3_router').flow({ priority: 0, match: [], object: reactiveObject(routerKey) });
    return flowMod({ command: 'delete', tableId: probe.tableId, cookie: probe.cookie, cookieMask: ALL_ONES_64 });
  }
}
