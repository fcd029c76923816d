import { describe, expect, it } from 'vitest';
import { Backoff, backoffDelay, raceDelayMs } from '../../src/util/backoff.js';

describe('backoff', () => {
  it('reconnect delays double from min to max, 75–100% of the base', () => {
    const b = new Backoff({ minMs: 100, maxMs: 1000, random: () => 1 });
    expect([b.next(), b.next(), b.next(), b.next(), b.next()]).toEqual([100, 200, 400, 800, 1000]);
    b.reset();
    expect(new Backoff({ minMs: 100, maxMs: 1000, random: () => 0 }).next()).toBe(75);
  });

  it('the stateless delay keeps a chosen share of the base (the OVSDB client keeps 50–100%)', () => {
    const o = { minMs: 100, maxMs: 5000, keep: 0.5 };
    expect([0, 1, 2, 10].map((n) => backoffDelay(n, { ...o, random: () => 0 }))).toEqual([50, 100, 200, 2500]);
    expect(backoffDelay(3, { ...o, random: () => 1 })).toBe(800);
    expect(backoffDelay(1000, { minMs: 1, maxMs: 10, random: () => 1 })).toBe(10);
  });

  it('race delays are uniform below min(first + attempt, cap)', () => {
    expect(raceDelayMs(0, { firstMs: 2, capMs: 20, random: () => 0.5 })).toBe(1);
    expect(raceDelayMs(5, { firstMs: 2, capMs: 20, random: () => 0.5 })).toBe(3.5);
    expect(raceDelayMs(100, { firstMs: 2, capMs: 20, random: () => 0.999 })).toBeLessThan(20);
    expect(raceDelayMs(3, { firstMs: 1, capMs: 10, random: () => 0 })).toBe(0);
  });
});
