import { describe, expect, it } from 'vitest';
import { RateLimiter } from '../../src/util/ratelimit.js';

function clock(start = 1_000_000): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => (t += ms) };
}

describe('RateLimiter (token bucket per key)', () => {
  it('allows a burst, then the sustained rate', () => {
    const c = clock();
    const rl = new RateLimiter({ rate: 20, burst: 40, clock: c.now });
    let ok = 0;
    for (let i = 0; i < 100; i++) if (rl.allow('vm1')) ok++;
    expect(ok).toBe(40);
    c.advance(1000);
    ok = 0;
    for (let i = 0; i < 100; i++) if (rl.allow('vm1')) ok++;
    expect(ok).toBe(20);
    c.advance(50); // 1 token per 50 ms
    expect(rl.allow('vm1')).toBe(true);
    expect(rl.allow('vm1')).toBe(false);
  });

  it('one flooding key does not starve another', () => {
    const c = clock();
    const rl = new RateLimiter({ rate: 20, burst: 40, clock: c.now });
    for (let i = 0; i < 10_000; i++) rl.allow('flooder');
    expect(rl.allow('quiet')).toBe(true);
    expect(rl.available('quiet')).toBe(39);
    expect(rl.takeDropCounts().get('flooder')).toBe(10_000 - 40);
    expect(rl.takeDropCounts().size).toBe(0);
  });

  it('never exceeds burst after long idle, and tolerates a clock going backwards', () => {
    const c = clock();
    const rl = new RateLimiter({ rate: 10, burst: 5, clock: c.now });
    rl.allow('a');
    c.advance(3_600_000);
    expect(rl.available('a')).toBe(5);
    c.advance(-10_000);
    let ok = 0;
    for (let i = 0; i < 10; i++) if (rl.allow('a')) ok++;
    expect(ok).toBe(5);
  });

  it('evicts idle buckets and bounds the number of keys', () => {
    const c = clock();
    const rl = new RateLimiter({ rate: 1, burst: 1, clock: c.now, idleMs: 1000, maxKeys: 100 });
    for (let i = 0; i < 50; i++) rl.allow(`k${i}`);
    c.advance(2000);
    rl.allow('new');
    expect(rl.size).toBe(1);
    for (let i = 0; i < 500; i++) rl.allow(`x${i}`);
    expect(rl.size).toBeLessThanOrEqual(100);
    rl.forget('new');
    expect(() => new RateLimiter({ rate: 0 })).toThrow(RangeError);
  });
});
