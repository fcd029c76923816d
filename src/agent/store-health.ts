/**
 * Whether the store answers, as the agent sees it: probed on a steady interval while connected, and with a
 * short backoff while not, so the agent notices a returning store within a fraction of a second. Failures seen
 * elsewhere (a binding write, a watch) call report() to probe at once. Emits 'down' (Error) once per outage,
 * 'up' (outage ms) when it ends, and 'tick' (the probe's result) after every successful probe (the chassis registration checks
 * itself then).
 */
import { EventEmitter } from 'node:events';
import { Backoff } from '../util/backoff.js';
import type { Logger } from '../util/log.js';
import { isoTime } from '../util/time.js';

export interface StoreHealthOptions {
  /** Probe period while connected (ms). */
  intervalMs?: number;
  /** Probe backoff while disconnected (ms). */
  retryMinMs?: number;
  retryMaxMs?: number;
}

export class StoreHealth extends EventEmitter {
  private connected = true;
  private changedAt = Date.now();
  private lastError: string | undefined;
  /** The error of the last failed probe while disconnected (undefined while connected). */
  lastFailure: unknown;
  private timer: NodeJS.Timeout | undefined;
  private probing = false;
  private stopped = false;
  private readonly backoff: Backoff;
  private readonly intervalMs: number;

  constructor(
    private readonly probe: () => Promise<unknown>,
    private readonly logger: Logger,
    opts: StoreHealthOptions = {},
  ) {
    super();
    this.intervalMs = opts.intervalMs ?? 2000;
    this.backoff = new Backoff({ minMs: opts.retryMinMs ?? 100, maxMs: opts.retryMaxMs ?? 1000 });
  }

  get isConnected(): boolean {
    return this.connected;
  }

  /** For status and readiness: `connected since …` or `disconnected since …` with the last error. */
  describe(): { state: 'connected' | 'disconnected'; since: string; lastError?: string } {
    return {
      state: this.connected ? 'connected' : 'disconnected',
      since: isoTime(this.changedAt),
      ...(this.connected || this.lastError === undefined ? {} : { lastError: this.lastError }),
    };
  }

  /** Probes now, then keeps probing. Resolves after the first probe (whatever its outcome). */
  async start(): Promise<void> {
    await this.runProbe();
  }

  /** Something failed against the store: check now rather than at the next tick. */
  report(err: unknown): void {
    if (this.stopped || this.probing) return;
    this.logger.debug({ err }, 'store call failed; probing');
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    void this.runProbe();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private async runProbe(): Promise<void> {
    if (this.stopped || this.probing) return;
    this.probing = true;
    try {
      const result = await this.probe();
      this.probing = false;
      if (!this.connected) this.setUp();
      this.emit('tick', result);
    } catch (err) {
      this.probing = false;
      this.setDown(err);
    }
    this.scheduleNext();
  }

  private scheduleNext(): void {
    if (this.stopped || this.timer) return;
    const delay = this.connected ? this.intervalMs : this.backoff.next();
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.runProbe();
    }, delay);
    this.timer.unref();
  }

  private setUp(): void {
    const outageMs = Date.now() - this.changedAt;
    this.connected = true;
    this.changedAt = Date.now();
    this.lastError = undefined;
    this.lastFailure = undefined;
    this.backoff.reset();
    this.logger.info({ outageMs }, 'store reachable again');
    this.emit('up', outageMs);
  }

  private setDown(err: unknown): void {
    this.lastFailure = err;
    this.lastError = (err as Error)?.message ?? String(err);
    if (!this.connected) return;
    this.connected = false;
    this.changedAt = Date.now();
    // One warning per outage: the agent keeps the data plane and retries in the background.
    this.logger.warn({ err }, 'store unreachable; keeping the switch as it is and retrying');
    this.emit('down', err);
  }
}
