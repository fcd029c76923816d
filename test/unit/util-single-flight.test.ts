import { describe, expect, it } from 'vitest';
import { singleFlight } from '../../src/util/single-flight.js';

describe('singleFlight', () => {
  it('shares a call in flight, starts a fresh one when asked (later askers share that), and forgets a settled one', async () => {
    const flights = new Map<string, Promise<number>>();
    let calls = 0;
    const releases: (() => void)[] = [];
    const start = () => new Promise<number>((r) => releases.push(() => r(++calls)));
    const a = singleFlight(flights, 'k', start);
    const b = singleFlight(flights, 'k', start);
    expect(b).toBe(a);
    const fresh = singleFlight(flights, 'k', start, true);
    expect(fresh).not.toBe(a);
    expect(singleFlight(flights, 'k', start)).toBe(fresh);
    releases.forEach((r) => r());
    expect([await a, await fresh]).toEqual([1, 2]);
    expect(flights.size).toBe(0);
    const failing = singleFlight(flights, 'x', () => Promise.reject(new Error('no')));
    await expect(failing).rejects.toThrow('no');
    expect(flights.size).toBe(0);
  });
});
