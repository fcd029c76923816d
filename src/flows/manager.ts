import { EventEmitter } from 'node:events';
import type { OfMessage } from '../openflow/index.js';
import { flowMod, OFPFF, OfpEncodeError, OfpErrorMessage } from '../openflow/index.js';
import type { DesiredFlow } from '../pipeline/tables.js';
import { silentLogger, type Logger } from '../util/log.js';
import { applyBundle } from './bundle.js';
import { DesiredFlows, flowKey, isTransient, sameDeclaration, type FlowConflict } from './desired.js';
import { groupKind, meterKind, SwitchObjects, type DesiredGroup, type DesiredMeter, type ObjectConflict } from './groups-meters.js';
import { compareWithSwitch, readSwitch, type SwitchState } from './reconcile.js';
import { SwitchWatch } from './switch-watch.js';
import { signature, type FlowChannel, type FlowManagerStats, type InstalledFlow, type SwitchAnswer } from './types.js';

export { flowKey, isTransient } from './desired.js';
export type { DesiredGroup, DesiredMeter } from './groups-meters.js';
export { signature, type FlowChannel, type FlowManagerStats, type InstalledFlow, type SwitchAnswer } from './types.js';

const FLOW_REMOVED_IDLE = 0;
const FLOW_REMOVED_HARD = 1;
/** Deleted by a FLOW_MOD (ours, another controller's, `ovs-ofctl del-flows`) or, in OpenFlow 1.3, evicted by OVS. */
const FLOW_REMOVED_DELETE = 2;

/** How old an early read of the switch (see FlowManager.earlyRead) may be and still serve the first sync. */
const EARLY_READ_MAX_MS = 2_000;

/**
 * The one writer of br-int (after OVN's ofctrl): flows (permanent and transient), groups and meters, each
 * declared per owner — an opaque key such as `l2/net:<id>`, `l3/reactive/<router>` — and diffed against what
 * is installed. Each change is one atomic bundle (groups before the flows that use them, deleted after);
 * meters, which OVS does not take in bundles, are written just before and deleted just after it. After a
 * (re)connect the manager dumps flows, groups and meters and reconciles instead of flushing, so restarts are
 * hitless; transient flows nobody declares any more (an earlier run's reactive flows) are deleted then. It does the
 * same when someone else changes the switch's flows (the switch's flow monitor tells: switch-watch.ts).
 * Nothing is written before `activate()`. A flow the guard, the codec or the switch refuses is set aside alone.
 */
export class FlowManager extends EventEmitter {
  private readonly flows: DesiredFlows;
  private readonly groups: SwitchObjects<DesiredGroup>;
  private readonly meters: SwitchObjects<DesiredMeter>;
  /** key → the flow on the switch (see InstalledFlow: the desired state's own object once written or found equal). */
  private installed = new Map<string, InstalledFlow>();
  /** Keys whose installed flow changed outside a diff (an expired transient flow): looked at by the next diff. */
  private stale = new Set<string>();
  /** Keys whose installed flow is as a dump read it back, not yet found equal to a declared one (see onSwitch). */
  private readBack = new Set<string>();
  private version = 0;
  private applied = 0;
  private active = false;
  private needsDump = true;
  private running: Promise<void> | undefined;
  /** Flows refused by the guard, the codec or the switch, by key and signature: left out until their owner changes them. */
  private readonly rejected = new Map<string, string>();
  private rerun = false;
  private readonly waiters: { version: number; resolve: () => void }[] = [];
  private readonly logger: Logger;
  private readonly check: ((f: DesiredFlow) => void) | undefined;
  readonly stats: FlowManagerStats = {
    syncs: 0,
    flowsAdded: 0,
    flowsDeleted: 0,
    reconciles: 0,
    errors: 0,
    rejectedFlows: 0,
    rejectedObjects: 0,
    conflicts: 0,
    transientExpired: 0,
    transientDeleted: 0,
    foreignChanges: 0,
    foreignRereads: 0,
  };
  /** Tells of flows someone else changed on the switch (switch-watch.ts). */
  private readonly watch: SwitchWatch;
  /**
   * The switch read as soon as a session came up before activate(): the first sync uses it, so the dumps' round trip
   * overlaps the agent's first computation instead of preceding the first bundle (a fresh or restarted host's start).
   * Nothing writes to the switch before activate(), so what it read is what the switch still holds. Dropped when
   * another session comes up (it read one that is gone) and once EARLY_READ_MAX_MS old: the agent waited for its
   * store, a flow may have timed out meanwhile, and a restarted host's dump of thousands of flows is not kept.
   */
  private earlyRead: Promise<SwitchState> | undefined;
  private readonly onUp = () => {
    this.needsDump = true;
    this.earlyRead = undefined;
    if (this.active) {
      void this.sync();
      return;
    }
    const read = readSwitch(this.channel, this.logger);
    read.catch(() => undefined); // a session lost meanwhile: the first sync reads again
    this.earlyRead = read;
    setTimeout(() => {
      if (this.earlyRead === read) this.earlyRead = undefined;
    }, EARLY_READ_MAX_MS).unref();
  };
  private readonly onMessage = (msg: OfMessage) => this.flowRemoved(msg);

  /** `check` is the pipeline's guard (PipelineTables.check): a flow it refuses is set aside before the codec sees it. */
  constructor(
    private readonly channel: FlowChannel,
    opts: { logger?: Logger; check?: (f: DesiredFlow) => void } = {},
  ) {
    super();
    this.logger = opts.logger ?? silentLogger;
    this.check = opts.check;
    this.flows = new DesiredFlows((c) => this.conflict(c));
    const objConflict = (c: ObjectConflict) => this.conflict(c);
    this.groups = new SwitchObjects(groupKind, objConflict);
    this.meters = new SwitchObjects(meterKind, objConflict);
    // Listening for 'up' before the manager does: a session's monitor is asked for before its dump, so no change
    // falls between what the dump read and what the monitor reports.
    this.watch = new SwitchWatch(channel, { logger: this.logger, changed: (why) => this.changedByOthers(why) });
    channel.on('up', this.onUp);
    channel.on('message', this.onMessage);
  }

  /** Replaces every flow of one owner. Returns the desired version that includes it. */
  set(owner: string, flows: DesiredFlow[]): number {
    if (this.flows.set(owner, flows)) this.version++;
    return this.version;
  }

  /** Adds flows to an owner without replacing the others (transient flows, one packet-in at a time). */
  add(owner: string, flows: DesiredFlow[]): number {
    if (this.flows.add(owner, flows)) this.version++;
    return this.version;
  }

  /** Replaces every group of one owner. */
  setGroups(owner: string, groups: DesiredGroup[]): number {
    if (this.groups.set(owner, groups)) this.version++;
    return this.version;
  }

  /** Replaces every meter of one owner. */
  setMeters(owner: string, meters: DesiredMeter[]): number {
    if (this.meters.set(owner, meters)) this.version++;
    return this.version;
  }

  /** Removes everything an owner declared: flows, groups and meters. */
  drop(owner: string): number {
    this.set(owner, []);
    if (this.groups.has(owner)) this.setGroups(owner, []);
    if (this.meters.has(owner)) this.setMeters(owner, []);
    return this.version;
  }

  /** Owners whose name starts with prefix (for dropping everything of an app or object). */
  ownerNames(prefix = ''): string[] {
    const all = new Set([...this.flows.ownerNames(), ...this.groups.ownerNames(), ...this.meters.ownerNames()]);
    return [...all].filter((o) => o.startsWith(prefix));
  }

  get desiredVersion(): number {
    return this.version;
  }

  get appliedVersion(): number {
    return this.applied;
  }

  /** The effective permanent flows (one per key; conjunctions merged). Transient flows: transientFlows(). */
  desiredFlows(): DesiredFlow[] {
    return this.effective(false);
  }

  /**
   * How many desiredFlows() there are, counted without building the list: /metrics and the agent's status ask on
   * every scrape, and a list of 14,000 flows made each time outlived the young generation (~1 MB promoted a scrape).
   */
  desiredCount(): number {
    let n = 0;
    for (const f of this.flows.values()) if (!isTransient(f)) n++;
    return n;
  }

  transientFlows(): DesiredFlow[] {
    return this.effective(true);
  }

  private effective(transient: boolean): DesiredFlow[] {
    const out: DesiredFlow[] = [];
    for (const f of this.flows.values()) if (isTransient(f) === transient) out.push(f);
    return out;
  }

  /** Owners set aside because another owner holds the same flow with different actions, by flow key. */
  conflicts(): Map<string, string[]> {
    return this.flows.conflicts();
  }

  /**
   * Each flow on the switch (as last applied or read back): its table, and its cookie when a declared flow has
   * its key (undefined for one the switch holds that nobody declares now: about to be deleted). For metrics.
   */
  forEachInstalled(fn: (tableId: number, cookie: bigint | undefined) => void): void {
    for (const [key, inst] of this.installed) fn(inst.tableId, this.flows.get(key)?.cookie);
  }

  installedCount(): number {
    return this.installed.size;
  }

  /** Allows writing to the switch; called once the first full computation is done. */
  activate(): Promise<void> {
    this.active = true;
    return this.sync();
  }

  /** Resolves when a desired version (default: the current one) is on the switch, confirmed by the switch. */
  whenApplied(version = this.version): Promise<void> {
    if (this.applied >= version) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ version, resolve }));
  }

  /** Applies the current desired state. Concurrent calls coalesce into at most one more run. */
  sync(): Promise<void> {
    if (!this.active) return Promise.resolve();
    if (this.running) {
      this.rerun = true;
      return this.running;
    }
    this.running = (async () => {
      try {
        do {
          this.rerun = false;
          await this.runOnce();
        } while (this.rerun);
      } finally {
        this.running = undefined;
      }
    })();
    return this.running;
  }

  /**
   * A packet-in handler's answer: its transient flows go through the desired state like any other (one
   * bundle, reconciled, swept), and its packets follow once those flows are on the switch, so a re-injected
   * packet meets them.
   */
  async answer(a: SwitchAnswer): Promise<void> {
    if (a.flows && a.flows.length > 0) {
      if (a.owner === undefined) throw new TypeError('flows in a packet-in answer need an owner');
      const v = this.add(a.owner, a.flows);
      void this.sync();
      await this.whenApplied(v);
    }
    if (a.packets && a.packets.length > 0) await this.sendPackets(a.packets);
  }

  /** Sends packets (PACKET_OUT only: packets are not switch state; flows, groups and meters go through set/add). */
  async sendPackets(msgs: OfMessage[]): Promise<void> {
    for (const m of msgs) if (m.type !== 'PACKET_OUT') throw new TypeError(`sendPackets sends PACKET_OUTs only, not ${m.type}`);
    if (!this.channel.isUp) return;
    for (const m of msgs) await this.channel.send(m);
  }

  /** compareWithSwitch (reconcile.ts) on this manager's switch. */
  compareSwitch(expected: DesiredFlow[]): ReturnType<typeof compareWithSwitch> {
    return compareWithSwitch(this.channel, expected);
  }

  /** Stops listening to the channel (the manager's owner is done with it). */
  close(): void {
    this.watch.stop();
    this.channel.off('up', this.onUp);
    this.channel.off('message', this.onMessage);
  }

  /**
   * Whether the switch already holds `f` under `key`: the same object (the common case: nothing changed since it
   * was written), else structurally equal — then `f` replaces what was kept, so the next comparison is by identity
   * and one object is kept, not two. A flow read back by a dump (its decoded form differs in structure from what
   * apps build) is compared by canonical text, once. A declared flow that differs structurally from the one
   * written is written again without building either text: at worst an equal flow is re-added (harmless: OVS
   * keeps it, counters included), never a changed one skipped. Exact: no hash, nothing that could call two
   * different flows equal.
   */
  private onSwitch(key: string, f: DesiredFlow): boolean {
    const inst = this.installed.get(key);
    if (inst === undefined) return false;
    if (inst === f) return true;
    if (!sameDeclaration(inst, f)) {
      if (!this.readBack.has(key) || signature(inst) !== signature(f)) return false;
    }
    this.installed.set(key, f);
    this.readBack.delete(key);
    return true;
  }

  private conflict(c: FlowConflict | ObjectConflict): void {
    this.stats.conflicts++;
    this.logger.error(c, 'two owners declare the same switch object differently; the later one is set aside');
    this.emit('conflict', c);
  }

  /**
   * A transient flow gone from the switch is forgotten (its owner may add it again on the next packet-in): expired,
   * or deleted by someone else (an operator's `ovs-ofctl del-flows`, another controller, OVS evicting it from a full
   * table). Left installed and declared, a deleted one was never put back: its destination's next packets came to
   * the controller, which answered with the flow it took to be there already, and the destination stayed unreachable.
   */
  private flowRemoved(msg: OfMessage): void {
    if (msg.type !== 'FLOW_REMOVED') return;
    const expired = msg.reason === FLOW_REMOVED_IDLE || msg.reason === FLOW_REMOVED_HARD;
    // A delete of this manager's own (the owner dropped the flow) finds the flow no longer declared: nothing to
    // forget. OVS reports no removal when an ADD replaces a flow (flows-manager-ovs.test.ts).
    if (!expired && msg.reason !== FLOW_REMOVED_DELETE) return;
    const key = flowKey(msg);
    const inst = this.installed.get(key);
    if (inst !== undefined && isTransient(inst)) {
      this.installed.delete(key);
      this.readBack.delete(key);
      // Still declared (another owner's flow under the key, or one declared again): the next diff writes it.
      this.stale.add(key);
    }
    if (this.flows.forgetTransient(key)) {
      if (expired) this.stats.transientExpired++;
      else this.stats.transientDeleted++;
      this.version++;
      // Another owner may still want a flow under that key (a conflict that was set aside).
      if (this.active) void this.sync();
    }
  }

  /** Whether the current session reports flows changed by others (a switch without the flow monitor does not). */
  get watchingSwitch(): boolean {
    return this.watch.stats.monitoring;
  }

  /**
   * Someone else added, changed or deleted flows on the switch (or the switch stopped telling for a while): read it
   * again and write what differs, as after a reconnect. A read taken before activate() is stale now.
   */
  private changedByOthers(why: { foreign: number; paused: boolean }): void {
    this.stats.foreignChanges += why.foreign;
    this.stats.foreignRereads++;
    this.logger.info(why, 'flows changed on the switch by someone else: re-reading it');
    this.needsDump = true;
    this.earlyRead = undefined;
    if (this.active) void this.sync();
  }

  private async runOnce(): Promise<void> {
    if (!this.channel.isUp) return;
    const target = this.version;
    try {
      const full = this.needsDump;
      if (full) await this.reconcile();
      const groups = this.groups.diff();
      const meters = this.meters.diff();
      // Meters first and on their own (OVS refuses them in bundles): flows of the bundle may use them.
      for (const w of meters.writes) {
        if (await this.sendObject(w.msg, w.key)) this.meters.installed.set(w.id, w.sig);
      }
      const { msgs: flowMsgs, adds, deletes, keys: flowKeys } = this.diff(full);
      const msgs = [...groups.writes.map((w) => w.msg), ...flowMsgs, ...groups.deletes.map((d) => d.msg)];
      const keys = [...groups.writes.map((w) => w.key), ...flowKeys, ...groups.deletes.map((d) => d.key)];
      if (msgs.length > 0) {
        const t0 = performance.now();
        const { committedPartly } = await applyBundle(this.channel, msgs, keys, (key, err) => this.reject(key, err));
        // Bundle apply latency (send → commit confirmed), for metrics.
        this.emit('bundleApplied', { seconds: (performance.now() - t0) / 1000, messages: msgs.length });
        if (committedPartly) {
          // The switch refused a message on arrival and committed the rest: re-read it to learn what it holds.
          this.needsDump = true;
          this.rerun = true;
        }
      }
      for (const [key, flow] of adds) {
        if (this.rejected.has(key)) continue;
        this.installed.set(key, flow);
        this.readBack.delete(key);
      }
      for (const key of deletes) {
        if (this.rejected.has(key)) continue;
        this.installed.delete(key);
        this.readBack.delete(key);
      }
      for (const w of groups.writes) if (!this.groups.rejected.has(w.id)) this.groups.installed.set(w.id, w.sig);
      for (const d of groups.deletes) this.groups.installed.delete(d.id);
      for (const d of meters.deletes) if (await this.sendObject(d.msg, d.key)) this.meters.installed.delete(d.id);
      if (groups.deletes.length + meters.deletes.length > 0) {
        // The switch also deletes every flow that used a deleted group or meter, even another owner's: re-read
        // it at once, so such a flow is known to be gone (and refused if it still names the missing object).
        this.needsDump = true;
        this.rerun = true;
      }
      this.stats.syncs++;
      this.stats.flowsAdded += adds.size;
      this.stats.flowsDeleted += deletes.length;
      if (msgs.length > 0) this.logger.debug({ adds: adds.size, deletes: deletes.length, version: target }, 'flows synced');
      this.applied = Math.max(this.applied, target);
      this.releaseWaiters();
      this.emit('synced', { version: target, adds: adds.size, deletes: deletes.length });
    } catch (err) {
      this.stats.errors++;
      this.needsDump = true;
      this.logger.error({ err }, 'flow sync failed; will re-read the switch and retry');
      this.emit('syncError', err);
      if (this.channel.isUp) {
        await new Promise((r) => setTimeout(r, 200));
        this.rerun = true;
      }
    }
  }

  /** Installed state := what the switch really has (after connect or an error). */
  private async reconcile(): Promise<void> {
    const before = this.installed;
    const t0 = performance.now();
    const early = this.earlyRead;
    this.earlyRead = undefined;
    const got = await (early?.catch(() => readSwitch(this.channel, this.logger)) ?? readSwitch(this.channel, this.logger));
    this.logger.debug(
      {
        flows: got.flows.size,
        groups: got.groups.size,
        meters: got.meters.size,
        early: early !== undefined,
        ms: Math.round((performance.now() - t0) * 10) / 10,
      },
      'switch read',
    );
    this.installed = got.flows;
    this.readBack = new Set(got.flows.keys());
    this.groups.installed = got.groups;
    this.meters.installed = got.meters;
    // A transient flow we had installed and the switch no longer holds expired while we were not looking.
    for (const [key, f] of [...this.flows.entries()]) {
      if (!isTransient(f) || got.flows.has(key) || !before.has(key)) continue;
      if (this.flows.forgetTransient(key)) this.stats.transientExpired++;
    }
    this.needsDump = false;
    this.stats.reconciles++;
  }

  /**
   * The messages that bring the switch to the desired state. After a dump (reconcile) every declared and installed
   * flow is compared; otherwise only the keys whose desired flow changed since the last diff, and those whose
   * installed flow changed outside a diff (an expired transient flow): every other key is as the previous diff
   * left it (written, found equal, or refused with the signature it still has), so comparing it again could not
   * give another answer. A run that fails re-reads the switch, which makes the next diff a full one.
   */
  private diff(full: boolean): { msgs: OfMessage[]; adds: Map<string, DesiredFlow>; deletes: string[]; keys: string[] } {
    const msgs: OfMessage[] = [];
    /** The flow key of each message, to name a message the switch refuses. */
    const keys: string[] = [];
    const adds = new Map<string, DesiredFlow>();
    const deletes: string[] = [];
    const changed = this.flows.takeChanged();
    const stale = this.stale;
    this.stale = new Set();
    if (full || changed === 'all') {
      for (const [key, f] of this.flows.entries()) this.diffOne(key, f, msgs, keys, adds);
      for (const [key, inst] of this.installed) if (!this.flows.has(key)) this.deleteOne(key, inst, msgs, keys, deletes);
      return { msgs, adds, deletes, keys };
    }
    for (const key of stale) changed.add(key); // the set is ours (takeChanged)
    for (const key of changed) {
      const f = this.flows.get(key);
      if (f !== undefined) this.diffOne(key, f, msgs, keys, adds);
    }
    // Deletes after the adds, as in a full diff.
    for (const key of changed) {
      const inst = this.flows.has(key) ? undefined : this.installed.get(key);
      if (inst !== undefined) this.deleteOne(key, inst, msgs, keys, deletes);
    }
    return { msgs, adds, deletes, keys };
  }

  /** Adds the FLOW_MOD that writes declared flow `f`, unless the switch holds it or it is refused as it is. */
  private diffOne(key: string, f: DesiredFlow, msgs: OfMessage[], keys: string[], adds: Map<string, DesiredFlow>): void {
    if (this.onSwitch(key, f)) return;
    const refused = this.rejected.get(key);
    if (refused !== undefined && refused === signature(f)) return;
    this.rejected.delete(key);
    if (this.check) {
      try {
        this.check(f);
      } catch (err) {
        this.reject(key, err);
        return;
      }
    }
    const transient = isTransient(f);
    // ADD replaces a flow with the same table, priority and match, cookie included: no separate modify.
    msgs.push(
      flowMod({
        command: 'add',
        tableId: f.tableId,
        priority: f.priority,
        cookie: f.cookie,
        idleTimeout: f.idleTimeout,
        hardTimeout: f.hardTimeout,
        // A transient flow tells us when it expires, so its owner forgets it.
        flags: transient ? OFPFF.SEND_FLOW_REM : 0,
        match: f.match,
        instructions: f.instructions,
      }),
    );
    keys.push(key);
    adds.set(key, f);
  }

  private deleteOne(key: string, inst: InstalledFlow, msgs: OfMessage[], keys: string[], deletes: string[]): void {
    msgs.push(flowMod({ command: 'delete_strict', tableId: inst.tableId, priority: inst.priority, match: inst.match }));
    keys.push(key);
    deletes.push(key);
  }

  /** A meter message on its own; a refusal sets that meter aside (false), a dead channel fails the sync. */
  private async sendObject(msg: OfMessage, key: string): Promise<boolean> {
    try {
      await this.channel.sendChecked(msg);
      return true;
    } catch (err) {
      if (!(err instanceof OfpErrorMessage) && !(err instanceof OfpEncodeError)) throw err;
      this.reject(key, err);
      return false;
    }
  }

  /** Sets aside what is now desired under `key` (by its signature: a different declaration is tried again). */
  private reject(key: string, err: unknown): void {
    const obj = /^(group|meter):(\d+)$/.exec(key);
    if (obj) {
      (obj[1] === 'group' ? this.groups : this.meters).reject(Number(obj[2]));
      this.stats.rejectedObjects++;
      this.logger.error({ err, object: key }, 'group or meter refused; left out until its owner changes it');
    } else {
      const flow = this.flows.get(key);
      this.rejected.set(key, flow ? signature(flow) : '');
      this.stats.rejectedFlows++;
      this.logger.error({ err, flow: key }, 'flow refused; left out until its owner changes it');
    }
    this.emit('flowRejected', { key, err });
  }

  private releaseWaiters(): void {
    for (let i = this.waiters.length - 1; i >= 0; i--) {
      const w = this.waiters[i]!;
      if (w.version <= this.applied) {
        this.waiters.splice(i, 1);
        w.resolve();
      }
    }
  }
}
