/**
 * Notices changes someone else makes to the switch's flows, so the flow manager can put its own back at once.
 *
 * The flow manager owns every flow on br-int and keeps what it installed in memory; it re-reads the switch only after
 * a (re)connect. A flow deleted or changed behind its back (an operator's `ovs-ofctl del-flows br-int` while
 * debugging, another controller, a script) stayed wrong until the agent reconnected: `del-flows` cut every VM off
 * until a restart. Only the transient flows, which carry SEND_FLOW_REM, were noticed (FLOW_REMOVED).
 *
 * Here each session asks the switch for a flow monitor (ONF's OpenFlow 1.3 extension, Open vSwitch ≥ 3.1) over every
 * table: additions, deletions and modifications. The switch reports this connection's own changes as abbreviated
 * updates (ignored) and everyone else's in full. A foreign addition, modification or deletion, and a pause or resume
 * of the updates (the switch's queue for us filled: changes may have gone unreported), calls `changed`, once the
 * burst has settled (SETTLE_MS quiet or MAX_SETTLE_MS long; a `del-flows` of thousands of flows is one call) and at
 * most once per MIN_INTERVAL_MS: the manager then re-reads the switch and writes what differs, as after a reconnect.
 *
 * Not foreign: expiries (idle and hard timeouts: the manager hears of its transient flows by FLOW_REMOVED) and this
 * connection's own writes. A switch without the extension answers the request with an error; the session then goes
 * on without a monitor, as before (logged once a session).
 */
import {
  ONF_FLOW_MONITOR,
  ONFFMF,
  ONF_VENDOR_ID,
  ONFT_FLOW_MONITOR_PAUSED,
  ONFT_FLOW_MONITOR_RESUMED,
  type FlowUpdate,
  type OfMessage,
} from '../openflow/index.js';
import type { Logger } from '../util/log.js';
import type { FlowChannel } from './types.js';

/** A burst of foreign changes is taken as one once it has been quiet this long… */
export const SETTLE_MS = 20;
/** …or has lasted this long. */
export const MAX_SETTLE_MS = 200;
/** At least this long between two re-reads caused by foreign changes (a script rewriting flows in a loop). */
export const MIN_INTERVAL_MS = 1000;
/** Monitor ids, one per watch: several flow managers may share a channel (tests), each with its own monitor. */
let lastMonitorId = 0;
const OFPP_ANY = 0xffffffff;
const ALL_TABLES = 0xff;
/** OFPRR_IDLE_TIMEOUT, OFPRR_HARD_TIMEOUT: a flow's own expiry, not someone's change. */
const EXPIRED = new Set([0, 1]);

/** What `changed` is not told: the changes and re-reads are its calls' to count (the flow manager's stats). */
export interface SwitchWatchStats {
  /** Whether the current session has a flow monitor (false: the switch refused it, or no session). */
  monitoring: boolean;
  /** Times the updates were paused by the switch. */
  pauses: number;
}

export interface SwitchWatchOptions {
  logger: Logger;
  /** Someone else changed the switch's flows: re-read it. */
  changed: (why: { foreign: number; paused: boolean }) => void;
  /** Timers (tests). */
  setTimer?: (fn: () => void, ms: number) => { cancel(): void };
  now?: () => number;
}

export class SwitchWatch {
  readonly stats: SwitchWatchStats = { monitoring: false, pauses: 0 };
  private pendingForeign = 0;
  private pendingPause = false;
  private timer: { cancel(): void } | undefined;
  private lastReread = -Infinity;
  /** When the first change not yet acted on came. */
  private firstPending: number | undefined;
  private session = 0;
  private readonly setTimer: NonNullable<SwitchWatchOptions['setTimer']>;
  private readonly now: () => number;

  private readonly id = (lastMonitorId = (lastMonitorId + 1) >>> 0 || 1);
  private readonly onUp = () => void this.start();
  private readonly onMessage = (msg: OfMessage) => this.message(msg);

  constructor(
    private readonly channel: FlowChannel,
    private readonly opts: SwitchWatchOptions,
  ) {
    this.setTimer =
      opts.setTimer ??
      ((fn, ms) => {
        const t = setTimeout(fn, ms);
        t.unref();
        return { cancel: () => clearTimeout(t) };
      });
    this.now = opts.now ?? (() => performance.now());
    channel.on('up', this.onUp);
    channel.on('message', this.onMessage);
    if (channel.isUp) void this.start();
  }

  /** Stops listening, and cancels the monitor on the switch (it would report to this session until it ends). */
  stop(): void {
    this.channel.off('up', this.onUp);
    this.channel.off('message', this.onMessage);
    this.timer?.cancel();
    this.timer = undefined;
    this.session++;
    if (this.stats.monitoring && this.channel.isUp) {
      const data = Buffer.alloc(4);
      data.writeUInt32BE(this.id);
      this.channel
        .send({ type: 'EXPERIMENTER', xid: 0, experimenter: ONF_VENDOR_ID, expType: ONF_FLOW_MONITOR, data })
        .catch(() => undefined);
    }
    this.stats.monitoring = false;
  }

  /** Asks the new session's switch for the monitor. */
  private async start(): Promise<void> {
    const session = ++this.session;
    this.stats.monitoring = false;
    try {
      await this.channel.multipart({
        type: 'MULTIPART_REQUEST',
        xid: 0,
        flags: 0,
        body: {
          kind: 'flow_monitor',
          monitors: [{ id: this.id, flags: ONFFMF.ADD | ONFFMF.DELETE | ONFFMF.MODIFY, outPort: OFPP_ANY, tableId: ALL_TABLES, match: [] }],
        },
      });
      if (session === this.session) this.stats.monitoring = true;
    } catch (err) {
      if (session !== this.session || !this.channel.isUp) return; // that session is gone: the next one asks again
      this.opts.logger.info(
        { err: (err as Error).message },
        'the switch does not monitor flows (OpenFlow 1.3 flow monitor needs Open vSwitch 3.1 or later): flows changed by others are noticed at the next reconnect',
      );
    }
  }

  private message(msg: OfMessage): void {
    if (msg.type === 'MULTIPART_REPLY' && msg.body.kind === 'flow_monitor') {
      const foreign = msg.body.updates.filter(isForeign).length;
      if (foreign === 0) return;
      this.pendingForeign += foreign;
      this.schedule();
    } else if (msg.type === 'EXPERIMENTER' && msg.experimenter === ONF_VENDOR_ID) {
      if (msg.expType === ONFT_FLOW_MONITOR_PAUSED) {
        this.stats.pauses++;
        this.pendingPause = true;
        this.schedule();
      } else if (msg.expType === ONFT_FLOW_MONITOR_RESUMED) {
        // What changed while paused was not all reported: read the switch again now that updates flow.
        this.pendingPause = true;
        this.schedule();
      }
    }
  }

  /**
   * Fires SETTLE_MS after the last update of a burst (at most MAX_SETTLE_MS after its first), and no sooner than
   * MIN_INTERVAL_MS after the last re-read.
   */
  private schedule(): void {
    this.timer?.cancel();
    const now = this.now();
    this.firstPending ??= now;
    const settled = Math.min(now + SETTLE_MS, this.firstPending + MAX_SETTLE_MS);
    const at = Math.max(settled, this.lastReread + MIN_INTERVAL_MS);
    this.timer = this.setTimer(() => this.fire(), Math.max(0, at - now));
  }

  private fire(): void {
    this.timer = undefined;
    this.firstPending = undefined;
    const why = { foreign: this.pendingForeign, paused: this.pendingPause };
    this.pendingForeign = 0;
    this.pendingPause = false;
    this.lastReread = this.now();
    this.opts.changed(why);
  }
}

/** Someone else's change: not ours (abbreviated), not an expiry. */
function isForeign(u: FlowUpdate): boolean {
  if (u.event === 'abbrev') return false;
  return !(u.event === 'deleted' && EXPIRED.has(u.reason));
}
