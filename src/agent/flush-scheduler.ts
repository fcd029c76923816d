/**
 * Coalesces a burst of store/OVSDB events into one recompute and one bundle: `schedule()` runs the flush after the
 * I/O callbacks of this loop turn (setImmediate), `schedule(true)` — urgent: a local VIF was plugged and a VM waits
 * for its flows — as a microtask, before any other I/O work, still coalescing everything emitted synchronously
 * (one OVSDB update's VIFs). Either way the flush runs once for everything scheduled before it.
 */
export class FlushScheduler {
  private timer: NodeJS.Immediate | undefined;
  /** A flush is queued as a microtask. */
  private soon = false;

  /** `enabled`: false before the first computation and while stopping (nothing is scheduled then). */
  constructor(
    private readonly flush: () => void,
    private readonly enabled: () => boolean,
  ) {}

  schedule(urgent = false): void {
    if (!this.enabled() || this.soon) return;
    if (urgent) {
      this.soon = true;
      queueMicrotask(() => {
        this.soon = false;
        this.now();
      });
      return;
    }
    this.timer ??= setImmediate(() => this.now());
  }

  /** Flushes at once (and forgets a pending setImmediate). */
  now(): void {
    this.cancel();
    this.flush();
  }

  cancel(): void {
    if (this.timer) clearImmediate(this.timer);
    this.timer = undefined;
  }
}
