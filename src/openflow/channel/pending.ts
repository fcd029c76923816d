/**
 * Requests waiting for their reply, keyed by xid. A reply (or an ERROR) carrying a waiter's xid settles it;
 * multipart waiters collect replies until one arrives without the "more" flag. Every waiter has a deadline and
 * all of them fail when the session drops.
 */
import { OfpErrorMessage } from '../errors.js';
import type { OfMessage } from '../types.js';
import type { Clock, TimerHandle } from './clock.js';
import { OfTimeoutError } from './errors.js';

const OFPMPF_REPLY_MORE = 1;

interface Waiter {
  what: string;
  timeoutMs: number;
  multipart: boolean;
  parts: OfMessage[];
  timer: TimerHandle;
  resolve(msgs: OfMessage[]): void;
  reject(err: Error): void;
}

export interface WaitOptions {
  timeoutMs: number;
  what: string;
  multipart?: boolean;
}

export class PendingRequests {
  private readonly waiters = new Map<number, Waiter>();
  private readonly clock: Clock;

  constructor(clock: Clock) {
    this.clock = clock;
  }

  has(xid: number): boolean {
    return this.waiters.has(xid);
  }

  get size(): number {
    return this.waiters.size;
  }

  /** Registers a waiter for xid; resolves with the reply (or all multipart replies, in order). */
  wait(xid: number, opts: WaitOptions): Promise<OfMessage[]> {
    if (this.waiters.has(xid)) return Promise.reject(new Error(`xid ${xid} already has a pending request`));
    return new Promise<OfMessage[]>((resolve, reject) => {
      const w: Waiter = {
        what: opts.what,
        timeoutMs: opts.timeoutMs,
        multipart: opts.multipart ?? false,
        parts: [],
        timer: undefined,
        resolve,
        reject,
      };
      this.arm(xid, w);
      this.waiters.set(xid, w);
    });
  }

  /** Stops waiting for xid without settling (used when the request could not even be written). */
  cancel(xid: number, err: Error): void {
    const w = this.waiters.get(xid);
    if (!w) return;
    this.waiters.delete(xid);
    this.clock.clearTimeout(w.timer);
    w.reject(err);
  }

  /** Offers an incoming message; returns true if a waiter took it. */
  deliver(msg: OfMessage): boolean {
    const w = this.waiters.get(msg.xid);
    if (!w) return false;
    if (msg.type === 'ERROR') {
      this.settle(msg.xid, w);
      w.reject(new OfpErrorMessage(msg, w.what));
      return true;
    }
    if (w.multipart && msg.type === 'MULTIPART_REPLY') {
      w.parts.push(msg);
      if ((msg.flags & OFPMPF_REPLY_MORE) !== 0) {
        // The deadline bounds silence, not the size of the answer: a 100k-flow dump keeps its waiter alive.
        this.clock.clearTimeout(w.timer);
        this.arm(msg.xid, w);
        return true;
      }
      this.settle(msg.xid, w);
      w.resolve(w.parts);
      return true;
    }
    this.settle(msg.xid, w);
    w.resolve([msg]);
    return true;
  }

  /** Settles a waiter successfully with no reply (a barrier proved the request was accepted). */
  resolveEmpty(xid: number): void {
    const w = this.waiters.get(xid);
    if (!w) return;
    this.settle(xid, w);
    w.resolve([]);
  }

  /** Fails a waiter whose reply could not be decoded. */
  fail(xid: number, err: Error): boolean {
    const w = this.waiters.get(xid);
    if (!w) return false;
    this.settle(xid, w);
    w.reject(err);
    return true;
  }

  /** Rejects every waiter (session dropped). */
  failAll(err: Error): void {
    const all = [...this.waiters.values()];
    for (const w of all) this.clock.clearTimeout(w.timer);
    this.waiters.clear();
    for (const w of all) w.reject(err);
  }

  private arm(xid: number, w: Waiter): void {
    w.timer = this.clock.setTimeout(() => {
      if (this.waiters.get(xid) !== w) return;
      this.waiters.delete(xid);
      w.reject(new OfTimeoutError(w.what, xid, w.timeoutMs));
    }, w.timeoutMs);
  }

  private settle(xid: number, w: Waiter): void {
    this.waiters.delete(xid);
    this.clock.clearTimeout(w.timer);
  }
}
