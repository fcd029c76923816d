/**
 * The per-interface "installed" state machine (after OVN's if-status.c): a VIF whose port's flows are part of a
 * desired flow version gets `external_ids:wyvern-installed=true` once that version is on the switch, all VIFs
 * ready together in one OVSDB transaction, and each port's timing is logged ('port installed').
 */
import type { OvsdbClient } from '../ovsdb/index.js';
import { markInstalledMany } from '../ovsdb/vswitch.js';
import type { Logger } from '../util/log.js';

/** A local port whose flows may be computed (the binding manager's localPorts()). */
export interface LocalPort {
  name: string;
  portId: string;
  networkId: string;
}

export class InstalledMarks {
  private readonly marked = new Set<string>();
  /** VIF name → desired flow version that first included its port's flows. */
  private readonly pending = new Map<string, number>();
  /** VIF name → when its plug was seen and its flows computed (performance.now()), for the 'port installed' log. */
  private readonly times = new Map<string, { port: string | undefined; seen: number; computed?: number }>();

  constructor(
    private readonly ovsdb: () => OvsdbClient,
    private readonly logger: Logger,
    /** Told, for each port marked, the seconds from its plug to its mark (the port install latency metric). */
    private readonly onInstalled?: (seconds: number) => void,
  ) {}

  /** A VIF was plugged (timing starts). */
  plugged(iface: string, port: string | undefined): void {
    this.times.set(iface, { port, seen: performance.now() });
  }

  /** A VIF went away: it is marked again if it comes back. */
  forget(iface: string): void {
    this.marked.delete(iface);
    this.pending.delete(iface);
    this.times.delete(iface);
  }

  /**
   * Ports whose flows are part of `version` get their mark once that version is on the switch. `iface(port)`
   * names a port's local VIF; `hasFlows(port)` says whether its network is in the view with the port.
   */
  computed(
    version: number,
    ports: readonly LocalPort[],
    iface: (port: string) => string | undefined,
    hasFlows: (p: LocalPort) => boolean,
  ): void {
    for (const p of ports) {
      const name = iface(p.name);
      if (!name || this.marked.has(name) || this.pending.has(name) || !hasFlows(p)) continue;
      this.pending.set(name, version);
      const t = this.times.get(name);
      if (t) t.computed = performance.now();
    }
  }

  /** Marks the VIFs whose flows are on the switch (`appliedVersion`), in one transaction. */
  async applied(appliedVersion: number): Promise<void> {
    const ready: string[] = [];
    for (const [iface, version] of this.pending) {
      if (appliedVersion < version) continue;
      this.pending.delete(iface);
      this.marked.add(iface);
      ready.push(iface);
    }
    if (ready.length === 0) return;
    const onSwitch = performance.now();
    let missing: Set<string>;
    try {
      missing = new Set(await markInstalledMany(this.ovsdb(), ready, true));
    } catch (err) {
      for (const iface of ready) this.marked.delete(iface);
      this.logger.warn({ err, ifaces: ready }, 'could not set wyvern-installed');
      return;
    }
    const marked = performance.now();
    for (const iface of ready) {
      if (missing.has(iface)) {
        this.marked.delete(iface);
        continue;
      }
      // How long each step took since the VIF was seen: the operator's view of a slow port.
      const t = this.times.get(iface);
      this.times.delete(iface);
      const since = (x: number | undefined) => (t && x !== undefined ? Math.round((x - t.seen) * 10) / 10 : undefined);
      if (t) this.onInstalled?.((marked - t.seen) / 1000);
      this.logger.info(
        { iface, port: t?.port, ms: t && { computed: since(t.computed), onSwitch: since(onSwitch), marked: since(marked) } },
        'port installed',
      );
    }
  }
}
