/**
 * Reconnect and retry delays, one module for all of them: exponential from minMs to maxMs with jitter, so that
 * many agents restarted together do not hammer a switch or a server in lock-step (backoffDelay; the Backoff
 * class counts the attempts for the OpenFlow channel, store subscriptions and the agent's store link; the
 * OVSDB client passes its attempt number), and the random delay after a lost compare-and-swap race (raceDelayMs).
 */

/** Delay before attempt `attempt` (0-based): minMs·2^attempt capped at maxMs, keeping `keep`..100% of it at random. */
export function backoffDelay(attempt: number, opts: { minMs: number; maxMs: number; keep?: number; random?: () => number }): number {
  const base = Math.min(opts.maxMs, opts.minMs * 2 ** Math.min(attempt, 30));
  const keep = opts.keep ?? 0.75;
  return base * (keep + (1 - keep) * (opts.random ?? Math.random)());
}

/** Exponential backoff that counts its attempts; reset() after a session came up. */
export class Backoff {
  private attempt = 0;
  private readonly minMs: number;
  private readonly maxMs: number;
  private readonly random: () => number;

  constructor(opts: { minMs: number; maxMs: number; random?: () => number }) {
    if (!(opts.minMs >= 0) || !(opts.maxMs >= opts.minMs)) throw new RangeError(`bad backoff ${opts.minMs}..${opts.maxMs}`);
    this.minMs = opts.minMs;
    this.maxMs = opts.maxMs;
    this.random = opts.random ?? Math.random;
  }

  /** Delay before the next attempt; each call doubles the base up to maxMs. Jitter keeps 75–100% of it. */
  next(): number {
    return Math.round(backoffDelay(this.attempt++, { minMs: this.minMs, maxMs: this.maxMs, random: this.random }));
  }

  reset(): void {
    this.attempt = 0;
  }

  get attempts(): number {
    return this.attempt;
  }
}

/**
 * After losing a compare-and-swap race: a random ("full jitter") delay in [0, min(firstMs + attempt, capMs)) ms,
 * which spreads racing writers apart so each round lets one of them through. No state: each try passes its number.
 */
export function raceDelayMs(attempt: number, opts: { firstMs: number; capMs: number; random?: () => number }): number {
  return (opts.random ?? Math.random)() * Math.min(opts.firstMs + attempt, opts.capMs);
}

/** Waits raceDelayMs(attempt, opts). */
export function raceBackoff(attempt: number, opts: { firstMs: number; capMs: number }): Promise<void> {
  return new Promise((r) => setTimeout(r, raceDelayMs(attempt, opts)));
}
