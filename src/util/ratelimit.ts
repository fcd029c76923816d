/**
 * Token buckets keyed by a string (a port name, a MAC…), so one VM flooding PACKET_INs cannot starve others
 * or burn the agent's CPU. Each key gets `burst` tokens refilled at `rate` per second; `allow(key)` takes
 * one token or says no. The clock is injectable for tests; idle buckets are evicted so the map stays
 * bounded by the number of recently active keys.
 */
export interface RateLimiterOptions {
  /** Sustained rate, tokens per second (default 20). */
  rate?: number;
  /** Bucket size: how many may arrive at once (default 40). */
  burst?: number;
  /** Milliseconds clock (default Date.now). */
  clock?: () => number;
  /** Forget buckets idle this long (ms; default: time to refill a full bucket, at least 60 s). */
  idleMs?: number;
  /** Upper bound on tracked keys; beyond it the oldest idle-first sweep runs (default 100k). */
  maxKeys?: number;
}

interface Bucket {
  tokens: number;
  last: number;
}

export class RateLimiter {
  readonly rate: number;
  readonly burst: number;
  private readonly clock: () => number;
  private readonly idleMs: number;
  private readonly maxKeys: number;
  private readonly buckets = new Map<string, Bucket>();
  private lastSweep: number;
  private readonly dropped = new Map<string, number>();

  constructor(opts: RateLimiterOptions = {}) {
    this.rate = opts.rate ?? 20;
    this.burst = opts.burst ?? 40;
    if (!(this.rate > 0) || !(this.burst >= 1)) throw new RangeError('RateLimiter needs rate > 0 and burst >= 1');
    this.clock = opts.clock ?? Date.now;
    this.idleMs = opts.idleMs ?? Math.max(60_000, (this.burst / this.rate) * 1000);
    this.maxKeys = opts.maxKeys ?? 100_000;
    this.lastSweep = this.clock();
  }

  /** Takes `cost` tokens for `key` if available; returns whether the packet may be handled. */
  allow(key: string, cost = 1): boolean {
    const now = this.clock();
    let b = this.buckets.get(key);
    if (!b) {
      if (this.buckets.size >= this.maxKeys || now - this.lastSweep > this.idleMs) this.sweep(now);
      b = { tokens: this.burst, last: now };
      this.buckets.set(key, b);
    } else if (now > b.last) {
      b.tokens = Math.min(this.burst, b.tokens + ((now - b.last) * this.rate) / 1000);
      b.last = now;
    }
    if (b.tokens >= cost) {
      b.tokens -= cost;
      return true;
    }
    this.dropped.set(key, (this.dropped.get(key) ?? 0) + 1);
    return false;
  }

  /** Tokens currently available for key (refill applied), for tests and stats. */
  available(key: string): number {
    const b = this.buckets.get(key);
    if (!b) return this.burst;
    const now = this.clock();
    return Math.min(this.burst, b.tokens + (Math.max(0, now - b.last) * this.rate) / 1000);
  }

  /** Packets refused per key since the last call; resets the counts (feed these to metrics). */
  takeDropCounts(): Map<string, number> {
    const out = new Map(this.dropped);
    this.dropped.clear();
    return out;
  }

  forget(key: string): void {
    this.buckets.delete(key);
    this.dropped.delete(key);
  }

  get size(): number {
    return this.buckets.size;
  }

  private sweep(now: number): void {
    this.lastSweep = now;
    for (const [k, b] of this.buckets) if (now - b.last >= this.idleMs) this.buckets.delete(k);
    // Still full (every key active): drop the least recently inserted to keep memory bounded.
    while (this.buckets.size >= this.maxKeys) {
      const first = this.buckets.keys().next().value as string;
      this.buckets.delete(first);
    }
  }
}
