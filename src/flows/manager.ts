import { EventEmitter } from 'node:events';
import type { FlowStats, OfMessage } from '../openflow/index.js';
import { encodeMessage, flowMod, OfpEncodeError } from '../openflow/index.js';
import type { DesiredFlow } from '../pipeline/tables.js';
import { silentLogger, type Logger } from '../util/log.js';
import { instructionsKey, matchKey, sameData } from './canonical.js';

/** What the flow manager needs of an OpenFlow channel (OfChannel provides it; tests use a fake table). */
export interface FlowChannel {
  readonly isUp: boolean;
  bundle(msgs: OfMessage[], opts?: { atomic?: boolean; ordered?: boolean; pipelineCommit?: boolean }): Promise<void>;
  dumpFlows(filter?: { tableId?: number }): Promise<FlowStats[]>;
  send(msg: OfMessage): Promise<void>;
  barrier(): Promise<void>;
  on(event: 'up', listener: () => void): unknown;
  off(event: 'up', listener: () => void): unknown;
}

interface InstalledFlow {
  tableId: number;
  priority: number;
  signature: string;
  flow: Pick<DesiredFlow, 'match' | 'priority' | 'tableId'>;
}

export interface FlowManagerStats {
  syncs: number;
  flowsAdded: number;
  flowsDeleted: number;
  reconciles: number;
  errors: number;
  rejectedFlows: number;
}

/** Identity of a flow on the switch: OpenFlow allows one flow per table, priority and match. */
export function flowKey(f: { tableId: number; priority: number; match: DesiredFlow['match'] }): string {
  return `${f.tableId}/${f.priority}/${matchKey(f.match)}`;
}

/**
 * The same flow declared twice (an owner recomputed): equal cookie, timeouts and instructions, compared
 * structurally. Far cheaper than building both canonical signatures, and exact for what apps produce (the
 * same code builds the same structure); anything it calls different is still compared by signature later.
 */
function sameDeclaration(a: DesiredFlow, b: DesiredFlow): boolean {
  return a === b || (a.cookie === b.cookie && a.idleTimeout === b.idleTimeout && a.hardTimeout === b.hardTimeout && sameData(a.instructions, b.instructions));
}

type Signed = { cookie: bigint; idleTimeout: number; hardTimeout: number; instructions: DesiredFlow['instructions'] };

function signature(f: Signed): string {
  return `${f.cookie.toString(16)}|${f.idleTimeout}|${f.hardTimeout}|${instructionsKey(f.instructions)}`;
}

/**
 * The one writer of br-int's flow tables (after OVN's ofctrl). Apps declare desired flows per owner
 * (app + object); the manager diffs desired against installed and applies the difference as one atomic
 * bundle. After a (re)connect it dumps the switch and reconciles instead of flushing, so restarts of the
 * agent or of the connection are hitless. Nothing is written before `activate()`: the switch is never
 * touched until the first full computation is complete.
 */
export class FlowManager extends EventEmitter {
  private readonly owners = new Map<string, Map<string, DesiredFlow>>();
  /** key → owners that declare it, last one wins (a conflict is logged). */
  private readonly desired = new Map<string, Map<string, DesiredFlow>>();
  private installed = new Map<string, InstalledFlow>();
  private version = 0;
  private applied = 0;
  private active = false;
  private needsDump = true;
  private running: Promise<void> | undefined;
  /**
   * Flows the codec or the switch refused, by key and signature: left out of later bundles (so one bad
   * flow cannot block every other change) until their owner declares something different for that key.
   */
  private readonly rejected = new Map<string, string>();
  /**
   * Declared flows are immutable and the same objects are compared again at every recompute of their owner:
   * their canonical text is computed once per object.
   */
  private readonly signatures = new WeakMap<DesiredFlow, string>();
  private rerun = false;
  private readonly waiters: { version: number; resolve: () => void }[] = [];
  private readonly logger: Logger;
  readonly stats: FlowManagerStats = { syncs: 0, flowsAdded: 0, flowsDeleted: 0, reconciles: 0, errors: 0, rejectedFlows: 0 };
  private readonly onUp = () => {
    this.needsDump = true;
    if (this.active) void this.sync();
  };

  constructor(
    private readonly channel: FlowChannel,
    opts: { logger?: Logger } = {},
  ) {
    super();
    this.logger = opts.logger ?? silentLogger;
    channel.on('up', this.onUp);
  }

  /** Replaces every flow of one owner (e.g. "l2/net:42"). Returns the desired version that includes it. */
  set(owner: string, flows: DesiredFlow[]): number {
    const prev = this.owners.get(owner);
    const next = new Map<string, DesiredFlow>();
    let changed = false;
    for (const f of flows) {
      const key = flowKey(f);
      const old = prev?.get(key);
      // An owner recomputes all its flows at once, and most come back unchanged: those keep their old object
      // (whose signature is memoised) and their claim, so only what changed costs anything.
      if (old !== undefined && !next.has(key) && sameDeclaration(old, f)) {
        next.set(key, old);
        continue;
      }
      next.set(key, f);
      this.claim(key, owner, f);
      changed = true;
    }
    if (prev) {
      for (const [key] of prev) {
        if (next.has(key)) continue;
        this.unclaim(key, owner);
        changed = true;
      }
    }
    if (next.size === 0) this.owners.delete(owner);
    else this.owners.set(owner, next);
    if (changed) this.version++;
    return this.version;
  }

  drop(owner: string): number {
    return this.set(owner, []);
  }

  /** Owners whose name starts with prefix (for dropping everything of an app or object). */
  ownerNames(prefix = ''): string[] {
    return [...this.owners.keys()].filter((o) => o.startsWith(prefix));
  }

  get desiredVersion(): number {
    return this.version;
  }

  get appliedVersion(): number {
    return this.applied;
  }

  /** The effective desired flows (one per key). */
  desiredFlows(): DesiredFlow[] {
    return [...this.desired.values()].map((m) => [...m.values()].at(-1)!);
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
   * Reads the switch and compares it with `expected` (e.g. a full recompute): flows missing on the
   * switch, flows there that nobody expects, and flows whose actions or cookie differ. Flows with
   * timeouts (reactive) are left out.
   */
  async compareSwitch(expected: DesiredFlow[]): Promise<{ equal: boolean; missing: string[]; extra: string[]; different: string[] }> {
    const onSwitch = new Map<string, string>();
    for (const f of await this.channel.dumpFlows()) {
      if (f.idleTimeout > 0 || f.hardTimeout > 0) continue;
      onSwitch.set(flowKey(f), signature(f));
    }
    const want = new Map(expected.map((f) => [flowKey(f), this.sig(f)]));
    const missing = [...want.keys()].filter((k) => !onSwitch.has(k));
    const extra = [...onSwitch.keys()].filter((k) => !want.has(k));
    const different = [...want].filter(([k, sig]) => onSwitch.has(k) && onSwitch.get(k) !== sig).map(([k]) => k);
    return { equal: missing.length + extra.length + different.length === 0, missing, extra, different };
  }

  /** Sends flows and packets straight to the switch (reactive PACKET_IN answers; idle-timeout flows). */
  async sendDirect(msgs: OfMessage[]): Promise<void> {
    if (!this.channel.isUp) return;
    for (const m of msgs) await this.channel.send(m);
  }

  close(): void {
    this.channel.off('up', this.onUp);
  }

  private sig(f: DesiredFlow): string {
    let s = this.signatures.get(f);
    if (s === undefined) {
      s = signature(f);
      this.signatures.set(f, s);
    }
    return s;
  }

  private claim(key: string, owner: string, f: DesiredFlow): void {
    let byOwner = this.desired.get(key);
    if (!byOwner) this.desired.set(key, (byOwner = new Map()));
    byOwner.delete(owner);
    byOwner.set(owner, f);
    if (byOwner.size > 1) this.logger.warn({ key, owners: [...byOwner.keys()] }, 'flow declared by several owners');
  }

  private unclaim(key: string, owner: string): void {
    const byOwner = this.desired.get(key);
    if (!byOwner) return;
    byOwner.delete(owner);
    if (byOwner.size === 0) this.desired.delete(key);
  }

  private async runOnce(): Promise<void> {
    if (!this.channel.isUp) return;
    const target = this.version;
    try {
      if (this.needsDump) await this.readSwitch();
      const { msgs, adds, deletes, keys } = this.diff();
      if (msgs.length > 0) await this.applyBundle(msgs, keys);
      for (const [key, flow] of adds) if (!this.rejected.has(key)) this.installed.set(key, flow);
      for (const key of deletes) if (!this.rejected.has(key)) this.installed.delete(key);
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
  private async readSwitch(): Promise<void> {
    const flows = await this.channel.dumpFlows();
    const installed = new Map<string, InstalledFlow>();
    for (const f of flows) {
      // Flows with timeouts were put there reactively; they expire by themselves and are not ours to diff.
      if (f.idleTimeout > 0 || f.hardTimeout > 0) continue;
      installed.set(flowKey(f), { tableId: f.tableId, priority: f.priority, signature: signature(f), flow: f });
    }
    this.installed = installed;
    this.needsDump = false;
    this.stats.reconciles++;
  }

  private diff(): { msgs: OfMessage[]; adds: Map<string, InstalledFlow>; deletes: string[]; keys: string[] } {
    const msgs: OfMessage[] = [];
    /** The flow key of each message, to name a message the switch refuses. */
    const keys: string[] = [];
    const adds = new Map<string, InstalledFlow>();
    const deletes: string[] = [];
    for (const [key, byOwner] of this.desired) {
      const f = [...byOwner.values()].at(-1)!;
      const sig = this.sig(f);
      if (this.installed.get(key)?.signature === sig) continue;
      if (this.rejected.get(key) === sig) continue;
      this.rejected.delete(key);
      // ADD replaces a flow with the same table, priority and match, cookie included: no separate modify.
      const msg = flowMod({
        command: 'add',
        tableId: f.tableId,
        priority: f.priority,
        cookie: f.cookie,
        idleTimeout: f.idleTimeout,
        hardTimeout: f.hardTimeout,
        match: f.match,
        instructions: f.instructions,
      });
      msgs.push(msg);
      keys.push(key);
      adds.set(key, { tableId: f.tableId, priority: f.priority, signature: sig, flow: f });
    }
    for (const [key, inst] of this.installed) {
      if (this.desired.has(key)) continue;
      msgs.push(
        flowMod({ command: 'delete_strict', tableId: inst.tableId, priority: inst.priority, match: inst.flow.match }),
      );
      keys.push(key);
      deletes.push(key);
    }
    return { msgs, adds, deletes, keys };
  }

  /**
   * Applies one atomic bundle in one round trip (the commit follows the adds at once). A message the switch
   * refuses (the error names its index) is set aside as rejected: if the switch refused it on arrival, the rest
   * was committed without it and the switch is re-read on the next run to learn exactly what it holds; if the
   * commit failed, nothing was applied and the bundle is retried without it. Anything else fails the sync
   * (retried after a re-read).
   */
  private async applyBundle(msgs: OfMessage[], keys: string[]): Promise<void> {
    for (;;) {
      try {
        await this.channel.bundle(msgs, { atomic: true, ordered: true, pipelineCommit: true });
        return;
      } catch (err) {
        // A message the codec cannot encode fails the bundle before anything is sent. Only then is each
        // message encoded on its own to find it, so the common path encodes every flow once.
        if (err instanceof OfpEncodeError) {
          this.rejectUnencodable(msgs, keys);
          if (msgs.length === 0) return;
          continue;
        }
        const index = (err as { index?: number }).index;
        if (typeof index !== 'number' || index < 0 || index >= msgs.length) throw err;
        this.reject(keys[index]!, err);
        if ((err as { committed?: boolean }).committed) {
          this.needsDump = true;
          this.rerun = true;
          return;
        }
        msgs.splice(index, 1);
        keys.splice(index, 1);
        if (msgs.length === 0) return;
      }
    }
  }

  /** Removes (and rejects) every message the codec refuses, in place. */
  private rejectUnencodable(msgs: OfMessage[], keys: string[]): void {
    for (let i = msgs.length - 1; i >= 0; i--) {
      try {
        encodeMessage(msgs[i]!);
      } catch (err) {
        this.reject(keys[i]!, err);
        msgs.splice(i, 1);
        keys.splice(i, 1);
      }
    }
  }

  /** Sets aside the flow now desired under `key` (by its signature: a different declaration is tried again). */
  private reject(key: string, err: unknown): void {
    const byOwner = this.desired.get(key);
    const flow = byOwner && [...byOwner.values()].at(-1);
    this.rejected.set(key, flow ? this.sig(flow) : '');
    this.stats.rejectedFlows++;
    this.logger.error({ err, flow: key }, 'flow refused; left out until its owner changes it');
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
