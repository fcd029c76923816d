/**
 * Echo keepalive with dead-peer detection, on an injectable clock: every intervalMs it sends an ECHO_REQUEST;
 * when nothing at all was received for timeoutMs (any byte proves the peer alive, so a busy switch streaming
 * replies is never declared dead), it calls onDead once.
 */
import type { Clock, TimerHandle } from './clock.js';

export class Keepalive {
  private lastRx: number;
  private timer: TimerHandle | undefined;
  private running = false;

  constructor(
    private readonly clock: Clock,
    private readonly intervalMs: number,
    private readonly timeoutMs: number,
    private readonly sendEcho: () => void,
    private readonly onDead: (idleMs: number) => void,
  ) {
    this.lastRx = clock.now();
  }

  /** Something arrived from the peer. */
  touch(): void {
    this.lastRx = this.clock.now();
  }

  start(): void {
    if (this.intervalMs <= 0 || this.running) return;
    this.running = true;
    this.lastRx = this.clock.now();
    this.arm();
  }

  stop(): void {
    this.running = false;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private arm(): void {
    this.timer = this.clock.setTimeout(() => this.tick(), this.intervalMs);
  }

  private tick(): void {
    this.timer = undefined;
    if (!this.running) return;
    const idle = this.clock.now() - this.lastRx;
    if (idle >= this.timeoutMs) {
      this.running = false;
      this.onDead(idle);
      return;
    }
    this.sendEcho();
    this.arm();
  }
}
