import { EventEmitter } from 'node:events';
import { bindPort, unbindPort } from '../model/chassis.js';
import { decodeBinding } from '../model/codec.js';
import { bindingKey, nameKey } from '../model/keys.js';
import { encodeClaim, findClaim } from '../model/read.js';
import { TxnBatcher } from '../model/txn-batch.js';
import { UUID_RE } from '../model/validate.js';
import type { Store } from '../store/types.js';
import type { Logger } from '../util/log.js';
import type { TopologySync } from '../view/topology-sync.js';
import { vifMismatch, type LocalVif, type TopologyView } from '../view/topology-view.js';
import { VifRefusals } from './vif-refusals.js';
import { compareText } from '../util/order.js';

/** A VIF as reported by OVSDB (the OVSDB client's VifWatcher events carry at least this). */
export interface VifEvent {
  name: string;
  ofport: number;
  ifaceId?: string;
  /** external_ids:attached-mac (libvirt and XAPI write it): a VIF whose MAC is not its port's is refused. */
  attachedMac?: string;
}

/**
 * The key a VIF's iface-id is known by: a port name as written, or a port id (a UUID: libvirt's interfaceid,
 * XAPI's VIF uuid) in lowercase, as ids are stored. Names never look like UUIDs, so one iface-id names at most
 * one port, and the id claim in the names index (keys.ts) resolves either form through the same key.
 */
export const ifaceRef = (ifaceId: string): string => (UUID_RE.test(ifaceId) ? ifaceId.toLowerCase() : ifaceId);

interface Resolved {
  portId: string;
  networkId: string;
}

/**
 * Binds VIFs to logical ports: a VIF whose iface-id is a port's name or id is bound to this chassis (binding in the
 * store), its network is watched, and unplug unbinds. A VIF whose port does not exist (yet, or any more) waits
 * on the port's name key and binds when a port of that name appears; a bound port's deletion is seen through
 * its network, which is watched anyway (portRemoved), so a bound port costs no watch of its own. A binding is
 * deleted only if it is still the one this agent wrote, so a VM that moved to another hypervisor keeps its new
 * binding.
 */
export class BindingManager extends EventEmitter {
  private readonly resolved = new Map<string, Resolved>();
  /** Port names whose name key this agent watches (VIFs waiting for their port), and the watch's start. */
  private readonly watchedNames = new Map<string, Promise<void> | void>();
  /** Port names whose first binding write is in flight: their flows may already be computed, not marked. */
  private readonly writing = new Set<string>();
  /** plugged() calls waiting to hear that their port's flows are asked for (the agent's start), by port name. */
  private readonly flowsAskedWaiters = new Map<string, (() => void)[]>();
  /**
   * Ports whose binding is not (known to be) in the store: a write failed (store unreachable). Bindings are
   * state to converge to: these are written again whenever the store answers (retryUnsynced, checkAll).
   */
  private readonly unsynced = new Set<string>();
  /** Bindings of released ports still to be deleted from the store ("network/port" → what to delete). */
  private readonly unbinding = new Map<string, { name: string; r: Resolved }>();
  /** VIFs whose port this chassis refuses to bind, with the reason (their network stays watched). */
  private readonly refused = new Map<string, { r: Resolved; reason: string }>();
  /** VIFs whose attached-mac is not their port's MAC: not bound (see vif-refusals.ts). */
  readonly refusals: VifRefusals;
  /**
   * The binding writes, group-committed: those made in one turn of the event loop (a host's VIFs at start, a
   * thousand VMs plugged at once) go to the store as one transaction each keeping its own guard (TxnBatcher).
   */
  private readonly bindingWrites: Pick<Store, 'txn'>;

  constructor(
    private readonly store: Store,
    private readonly view: TopologyView,
    private readonly sync: TopologySync,
    private readonly subscription: {
      add(prefix: string, opts?: { exact?: boolean }): Promise<void> | void;
      remove(prefix: string): Promise<void> | void;
      /** Whether every watched prefix `which` selects has had its snapshot (from the store or the cache). */
      loaded(which: (prefix: string) => boolean): boolean;
    },
    private readonly logger: Logger,
    private readonly opts: {
      /**
       * Awaited between asking for a port's flows ('changed') and announcing its binding: the agent waits for
       * the flows to be on the switch, so peers never tunnel to this host before it can deliver.
       */
      beforeAnnounce?: (name: string) => Promise<void>;
      /** A store call failed (the agent's store health probes at once and reports when it is back). */
      onStoreError?: (err: unknown) => void;
      /**
       * True while the store is known not to answer (the agent's store health): a binding is then left for the
       * store's return (checkAll) without a try — against a partition each try would only fail at its deadline,
       * holding up whoever waits for it (the agent's start waits for the first bindings).
       */
      storeDown?: () => boolean;
      /** False while this chassis is out of service (decommissioned): a binding would name a chassis peers dropped. */
      mayBind?: () => boolean;
      /**
       * Why this chassis must not bind a port of the network now (a provider network whose physnet it has no
       * bridge mapping for, or whose bridge is missing), or undefined. A refused port gets no flows and no
       * binding; it is listed (refusedPorts) and logged once per reason, and bound when recheckRefused finds
       * the reason gone.
       */
      refuse?: (networkId: string) => string | undefined;
    } = {},
  ) {
    super();
    this.bindingWrites = { txn: new TxnBatcher(store, () => false).txn };
    this.refusals = new VifRefusals(logger);
  }

  /** Ports bound here whose binding is in the store (a write in flight does not count yet). */
  boundPorts(): { name: string; portId: string; networkId: string; ofport: number }[] {
    return this.localPorts().filter((p) => !this.writing.has(p.name) && !this.unsynced.has(p.name));
  }

  /**
   * Every port resolved to a local VIF, including those whose binding write is still in flight: their flows
   * are computed, so they get their installed mark once those flows are on the switch.
   */
  localPorts(): { name: string; portId: string; networkId: string; ofport: number }[] {
    return [...this.resolved].map(([name, r]) => ({ name, ...r, ofport: this.view.vifs.get(name)?.ofport ?? -1 }));
  }

  portOf(name: string): Resolved | undefined {
    return this.resolved.get(name);
  }

  /**
   * Binds a plugged VIF (below). `flowsAsked` is called once nothing the port's flows need is missing: its network
   * is in the view and its flows are asked for, before its binding's write to the store; or the port will not get
   * flows (refused, not in the store, the store unreachable). The agent's start waits for that, not for the
   * writes: the first computation needs only the view, and the bindings' round trips to the store overlap with it.
   */
  async plugged(ev: VifEvent, flowsAsked?: () => void): Promise<void> {
    if (!ev.ifaceId || ev.ofport <= 0) return flowsAsked?.();
    const ref = ifaceRef(ev.ifaceId);
    if (!flowsAsked) return this.bind(ev, ref);
    const waiting = this.flowsAskedWaiters.get(ref);
    if (waiting) waiting.push(flowsAsked);
    else this.flowsAskedWaiters.set(ref, [flowsAsked]);
    try {
      await this.bind(ev, ref);
    } finally {
      this.flowsAskedFor(ref);
    }
  }

  /** The port's flows are computed ('changed'), and the plugged() calls waiting for that are told. */
  private askFlows(name: string, r: Resolved): void {
    this.emit('changed', r.networkId, r.portId);
    this.flowsAskedFor(name);
  }

  /** Calls (once) what a plugged() call for `name` waits to hear: its flows are asked for (or never will be). */
  private flowsAskedFor(name: string): void {
    const waiting = this.flowsAskedWaiters.get(name);
    this.flowsAskedWaiters.delete(name);
    for (const done of waiting ?? []) done();
  }

  private async bind(ev: VifEvent, ref: string): Promise<void> {
    const vif: LocalVif = { ifaceName: ev.name, ofport: ev.ofport, ifaceId: ref };
    if (ev.attachedMac) vif.attachedMac = ev.attachedMac.toLowerCase();
    const prev = this.view.vifs.get(ref);
    this.view.plugVif(vif);
    if (prev && prev.ifaceName !== ev.name) this.logger.warn({ port: ref, ifaces: [prev.ifaceName, ev.name] }, 'two VIFs claim one port');
    const r = this.resolved.get(ref);
    if (r) {
      // attached-mac changed to one that is not the port's: released, and waits for a fix.
      if (this.mismatch(ref, r)) return this.refuse(ref, r);
      this.refusals.clear(ref);
      // ofport changed (e.g. OVS restart): flows first (they only need the view), then the binding.
      this.askFlows(ref, r);
      await this.writeBinding(ref, r);
      return;
    }
    // Fast path: the port is already in the view (its network is watched for another local port), so
    // nothing needs to be read from the store before the flows are computed.
    const known = this.portInView(ref);
    if (known) {
      await this.resolve(ref, known);
      return;
    }
    await this.waitForPort(ref, ev.name);
  }

  /** Local VIFs whose port is not bound here, and why (agent status). */
  refusedPorts(): { port: string; portId: string; networkId: string; reason: string }[] {
    return [...this.refused].map(([port, { r, reason }]) => ({ port, ...r, reason })).sort((a, b) => compareText(a.port, b.port));
  }

  /** The reasons may be gone (a bridge mapping's patch port is ready now): refused ports are tried again. */
  async recheckRefused(): Promise<void> {
    for (const [name, { r, reason }] of [...this.refused]) {
      if (this.opts.refuse?.(r.networkId) === reason) continue;
      await this.resolve(name, r);
    }
    // And the other way: a bound port whose physnet became unusable (its mapped bridge deleted) is unbound and
    // listed, rather than left bound with no flows.
    for (const [name, r] of [...this.resolved]) {
      if (this.writing.has(name)) continue;
      const reason = this.opts.refuse?.(r.networkId);
      if (reason !== undefined) await this.refuseResolved(name, r, reason);
    }
  }

  /** Forgets a refusal (the VIF went, or its port); its network is no longer wanted for it. */
  private async dropRefusal(name: string): Promise<void> {
    const ref = this.refused.get(name);
    if (!ref) return;
    this.refused.delete(name);
    await this.sync.unwant(ref.r.networkId, name);
  }

  /** Ports bound here whose binding write has not reached the store yet. */
  unsyncedPorts(): string[] {
    return [...this.unsynced].sort();
  }

  /** Something is left to write or delete once the store answers. */
  get pendingWrites(): boolean {
    return this.unsynced.size > 0 || this.unbinding.size > 0;
  }

  /**
   * Watches the port's name until a port of that name exists, then binds it (the watch stops once bound). The
   * watch's snapshot — from the store, or from the agent's cache while the store is unreachable — resolves the port
   * (store-events.ts hands it to nameAppeared) and the watch carries every write after it: the snapshot is the one
   * read of the name (a thousand VMs plugged at once: a thousand reads, not two thousand).
   */
  private async waitForPort(name: string, iface?: string): Promise<void> {
    const key = nameKey('port', name);
    await this.watchName(name);
    if (!this.subscription.loaded((p) => p === key)) {
      // Store unreachable and nothing cached: the snapshot comes when the store answers, and binds the port then.
      this.logger.info({ port: name, iface }, 'VIF plugged while the store is unreachable; binding it when the store answers');
      return;
    }
    const r = this.resolved.get(name);
    if (r) {
      // Resolved by the snapshot: returns once the port's network is in the view (the start counts on it).
      await this.resolve(name, r);
      return;
    }
    // A port id without its claim: a port made before ids were claimed (keys.ts) is found by a scan.
    const legacy = UUID_RE.test(name) ? await findClaim(this.store, 'port', name).catch(() => undefined) : undefined;
    if (legacy) await this.nameAppeared(name, encodeClaim(legacy));
    else this.logger.info({ port: name, iface }, 'VIF plugged for a port that does not exist (yet)');
  }

  /**
   * A port in a watched network was deleted. If a VIF here is bound to it, it is released and waits for a
   * port of the same name (one created again, maybe in another network).
   */
  async portRemoved(ev: { networkId: string; portId: string; name: string }): Promise<void> {
    const ref = this.refused.get(ev.name);
    if (ref && ref.r.portId === ev.portId) {
      await this.dropRefusal(ev.name);
      if (this.view.vifs.has(ev.name)) await this.waitForPort(ev.name);
      return;
    }
    const r = this.resolved.get(ev.name);
    if (!r || r.portId !== ev.portId) return;
    await this.release(ev.name);
    if (this.view.vifs.has(ev.name)) await this.waitForPort(ev.name);
  }

  async unplugged(ev: VifEvent): Promise<void> {
    if (!ev.ifaceId) return;
    const ref = ifaceRef(ev.ifaceId);
    const vif = this.view.vifs.get(ref);
    if (vif && vif.ifaceName !== ev.name) return; // another VIF holds this port now
    this.view.unplugVif(ref);
    this.refusals.clear(ref);
    await this.unwatchName(ref);
    await this.dropRefusal(ref);
    await this.release(ref);
  }

  /** The port's name key was written (port created, or re-created under the same name). */
  async nameAppeared(name: string, value: string): Promise<void> {
    if (!this.view.vifs.has(name)) return;
    let ref: { id?: string; networkId?: string };
    try {
      ref = JSON.parse(value) as typeof ref;
    } catch {
      return;
    }
    if (!ref.id || !ref.networkId) return;
    await this.resolve(name, { portId: ref.id, networkId: ref.networkId });
  }

  /**
   * Binds a plugged VIF to its port. The local flows depend only on the VIF and the view, so they are
   * computed ('changed') as soon as the network is in the view; the installed mark means "this hypervisor's
   * flows for the port are on the switch" (as ovn-installed does) and does not wait for the store. The binding
   * is written once those flows are in (beforeAnnounce), and the port counts as bound (boundPorts) once the
   * write is done, when 'bound' fires.
   */
  private async resolve(name: string, r: Resolved): Promise<void> {
    const cur = this.resolved.get(name);
    if (cur && cur.portId === r.portId) {
      // Resolved already, maybe still reading its network: a caller (the agent's start-up) counts on the port's
      // network being in the view when this returns, and want() hands out the read in flight (whose failure the
      // first resolution reports).
      await this.sync.want(cur.networkId, name)?.catch(() => undefined);
      return;
    }
    if (cur) await this.release(name);
    const ref = this.refused.get(name);
    if (ref) {
      this.refused.delete(name);
      // The network stays wanted for this VIF if it is the same port's (want below adds the same reason).
      if (ref.r.networkId !== r.networkId) await this.sync.unwant(ref.r.networkId, name);
    }
    // Bound again before a deletion from an outage went through: that deletion must not erase this binding.
    this.unbinding.delete(`${r.networkId}/${r.portId}`);
    this.resolved.set(name, r);
    this.view.bound.set(name, r);
    // Only wait when the network still has to be read: a watched one is in the view now.
    const wanted = this.sync.want(r.networkId, name);
    if (wanted) await wanted;
    if (this.resolved.get(name) !== r) return; // released or re-resolved meanwhile
    const reason = this.opts.refuse?.(r.networkId);
    if (reason !== undefined) {
      await this.refuseResolved(name, r, reason);
      return;
    }
    // Checked without awaiting: the flows are asked for in the same turn as the VIF event (fast path).
    if (this.mismatch(name, r)) return this.refuse(name, r);
    this.refusals.clear(name);
    this.writing.add(name);
    this.askFlows(name, r);
    const t0 = performance.now();
    try {
      await this.opts.beforeAnnounce?.(name);
      if (this.resolved.get(name) !== r) return;
      if (!(await this.writeBinding(name, r))) {
        this.logger.warn({ port: name, network: r.networkId }, "port's flows are in; its binding is written when the store answers");
        return;
      }
    } finally {
      this.writing.delete(name);
    }
    const ms = Math.round((performance.now() - t0) * 10) / 10;
    this.logger.info({ port: name, network: r.networkId, ms }, 'port bound to this chassis');
    this.emit('bound', name, r.networkId);
    // Bound: from now on its network's watch reports its deletion; the name watch (if it waited) can go.
    if (this.resolved.get(name) === r) await this.unwatchName(name);
  }

  /**
   * Not bound here: no flows (the view does not place it), no binding (one left from before goes), said once per
   * reason. The network stays wanted for the VIF, so a change (recheckRefused) can bind it.
   */
  private async refuseResolved(name: string, r: Resolved, reason: string): Promise<void> {
    this.resolved.delete(name);
    this.unsynced.delete(name);
    this.view.bound.delete(name);
    const prev = this.refused.get(name);
    this.refused.set(name, { r, reason });
    if (prev?.reason !== reason) this.logger.warn({ port: name, network: r.networkId, reason }, 'port not bound to this chassis');
    this.emit('changed', r.networkId, r.portId);
    await this.removeBinding(name, r);
  }

  /** The port named `name` (or whose id it is) if a watched network holds it. */
  private portInView(name: string): Resolved | undefined {
    for (const net of this.view.networks.values()) {
      for (const ps of net.ports.values())
        if (ps.port.name === name || ps.port.id === name) return { portId: ps.port.id, networkId: ps.port.networkId };
    }
    return undefined;
  }

  /**
   * The VIF's attached-mac is not its port's MAC (read from the view, which holds the port's network once
   * resolving it): the VIF is released, recorded as refused, and waits on its port's key, so that a port
   * re-created with the right MAC binds it; a VIF whose attached-mac is fixed is plugged again (VifWatcher).
   * mismatch() checks (synchronously) and records the refusal; refuse() releases and watches.
   */
  private mismatch(name: string, r: Resolved): boolean {
    const vif = this.view.vifs.get(name);
    const port = this.view.networks.get(r.networkId)?.ports.get(r.portId)?.port;
    const reason = vif && port && vifMismatch(vif, port);
    if (reason) this.refusals.refuse(name, { iface: vif.ifaceName, ifaceId: name, port: port.name, portId: port.id, reason });
    return reason !== undefined;
  }

  private async refuse(name: string, r: Resolved): Promise<void> {
    if (this.resolved.get(name) === r) await this.release(name);
    await this.watchName(name);
  }

  /** The port was deleted: its VIF stays plugged but is no longer bound. */
  async nameRemoved(name: string): Promise<void> {
    await this.dropRefusal(name);
    this.refusals.clear(name);
    if (this.resolved.has(name)) await this.release(name);
  }

  /** Writes again the bindings whose last write failed, and deletes those whose deletion failed. */
  async retryUnsynced(): Promise<void> {
    for (const { name, r } of [...this.unbinding.values()]) if (!(await this.removeBinding(name, r))) return;
    for (const name of [...this.unsynced]) {
      const r = this.resolved.get(name);
      if (!r) {
        this.unsynced.delete(name);
        continue;
      }
      if (!(await this.writeBinding(name, r))) return; // still unreachable: the next 'up' or tick retries
      this.logger.info({ port: name, network: r.networkId }, 'port bound to this chassis (written after the store came back)');
      this.emit('bound', name, r.networkId);
      if (this.resolved.get(name) === r) await this.unwatchName(name);
    }
  }

  /**
   * After a store outage: every local binding is read back and written again where the store does not say
   * this chassis holds it (a write lost in the outage, or a binding changed meanwhile).
   */
  async checkAll(): Promise<void> {
    for (const [name, r] of [...this.resolved]) {
      if (this.writing.has(name)) continue;
      let kv;
      try {
        kv = await this.store.get(bindingKey(r.networkId, r.portId));
      } catch (err) {
        this.opts.onStoreError?.(err);
        return;
      }
      let holder: string | undefined;
      try {
        holder = kv ? decodeBinding(kv.value).chassis : undefined;
      } catch {
        holder = undefined;
      }
      if (holder !== this.view.chassisName) this.unsynced.add(name);
    }
    await this.retryUnsynced();
  }

  /** Writes the binding; false (and remembered for a retry) when the store could not take it. */
  private async writeBinding(name: string, r: Resolved): Promise<boolean> {
    if (this.opts.mayBind && !this.opts.mayBind()) {
      this.logger.warn({ port: name }, 'chassis out of service: binding not written (restart the agent to put it back)');
      return false;
    }
    if (this.opts.storeDown?.()) {
      this.unsynced.add(name);
      return false;
    }
    const vif = this.view.vifs.get(name);
    try {
      await bindPort(this.bindingWrites, r.networkId, r.portId, this.view.chassisName, vif?.ofport);
      this.unsynced.delete(name);
      return true;
    } catch (err) {
      if ((err as { code?: string }).code === 'NOT_FOUND') {
        // The port is gone: its network's watch reports the deletion, which releases the VIF.
        this.unsynced.delete(name);
        this.logger.info({ port: name }, 'port deleted before its binding was written');
        return false;
      }
      this.unsynced.add(name);
      this.logger.debug({ err, port: name }, 'could not write binding; retrying when the store answers');
      this.opts.onStoreError?.(err);
      return false;
    }
  }

  private async release(name: string): Promise<void> {
    const r = this.resolved.get(name);
    if (!r) return;
    this.resolved.delete(name);
    this.unsynced.delete(name);
    this.view.bound.delete(name);
    // Two VIFs may carry one port (one by name, one by id): the binding stays while the other holds it.
    if (![...this.resolved.values()].some((o) => o.portId === r.portId)) await this.removeBinding(name, r);
    this.logger.info({ port: name, network: r.networkId }, 'port unbound');
    await this.sync.unwant(r.networkId, name);
    this.emit('changed', r.networkId, r.portId);
  }

  /** Deletes the binding if this chassis still holds it (a VM that moved keeps its new one); retried on failure. */
  private async removeBinding(name: string, r: Resolved): Promise<boolean> {
    try {
      await unbindPort(this.store, r.networkId, r.portId, this.view.chassisName);
      this.unbinding.delete(`${r.networkId}/${r.portId}`);
      return true;
    } catch (err) {
      this.unbinding.set(`${r.networkId}/${r.portId}`, { name, r });
      this.logger.debug({ err, port: name }, 'could not remove binding; retrying when the store answers');
      this.opts.onStoreError?.(err);
      return false;
    }
  }

  /** Watches the port's name; resolves once its snapshot is in (a second caller waits for the same one). */
  private async watchName(name: string): Promise<void> {
    if (this.watchedNames.has(name)) return this.watchedNames.get(name);
    const adding = this.subscription.add(nameKey('port', name));
    this.watchedNames.set(name, adding);
    await adding;
  }

  private async unwatchName(name: string): Promise<void> {
    if (!this.watchedNames.delete(name)) return;
    await this.subscription.remove(nameKey('port', name));
  }
}
