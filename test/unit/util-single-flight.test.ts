import { describe, expect, it } from 'vitest';
import { singleFlight } from '../../src/util/single-flight.js';

describe('singleFlight', () => {
  /** Calls that settle only when released; `started` counts them. */
  function held() {
    let started = 0;
    const releases: (() => void)[] = [];
    const failures: (() => void)[] = [];
    const start = () =>
      new Promise<number>((resolve, reject) => {
        const n = ++started;
        releases.push(() => resolve(n));
        failures.push(() => reject(new Error(`call ${n} failed`)));
      });
    return { start, started: () => started, release: (i: number) => releases[i]!(), fail: (i: number) => failures[i]!() };
  }

  it('shares a call in flight and forgets a settled one', async () => {
    const flights = new Map<string, Promise<number>>();
    const h = held();
    const a = singleFlight(flights, 'k', h.start);
    expect(singleFlight(flights, 'k', h.start)).toBe(a);
    h.release(0);
    expect(await a).toBe(1);
    expect(flights.size).toBe(0);
    const failing = singleFlight(flights, 'x', () => Promise.reject(new Error('no')));
    await expect(failing).rejects.toThrow('no');
    expect(flights.size).toBe(0);
  });

  it('fresh: a call begun after the ask, shared by every fresh asker while the older one is in flight', async () => {
    const flights = new Map<string, Promise<number>>();
    const h = held();
    const a = singleFlight(flights, 'k', h.start);
    const fresh = Array.from({ length: 10 }, () => singleFlight(flights, 'k', h.start, true));
    // Not the call in flight, and not ten new ones: one, once the older settles.
    for (const f of fresh) expect(f).toBe(fresh[0]);
    expect(fresh[0]).not.toBe(a);
    expect(h.started()).toBe(1);
    // An asker that takes any read still joins the one in flight.
    expect(singleFlight(flights, 'k', h.start)).toBe(a);
    h.release(0);
    expect(await a).toBe(1);
    await new Promise((r) => setImmediate(r));
    expect(h.started()).toBe(2);
    // Asked while the fresh call runs: a non-fresh ask joins it, a fresh one waits for the next.
    expect(singleFlight(flights, 'k', h.start)).toBe(flights.get('k'));
    const later = singleFlight(flights, 'k', h.start, true);
    h.release(1);
    expect(await Promise.all(fresh)).toEqual(Array(10).fill(2));
    await new Promise((r) => setImmediate(r));
    expect(h.started()).toBe(3);
    h.release(2);
    expect(await later).toBe(3);
    expect(flights.size).toBe(0);
  });

  it('fresh with nothing in flight starts at once; after a failed call the fresh one still runs', async () => {
    const flights = new Map<string, Promise<number>>();
    const h = held();
    const first = singleFlight(flights, 'k', h.start, true);
    expect(h.started()).toBe(1);
    const fresh = singleFlight(flights, 'k', h.start, true);
    h.fail(0);
    await expect(first).rejects.toThrow('call 1 failed');
    await new Promise((r) => setImmediate(r));
    h.release(1);
    expect(await fresh).toBe(2);
  });
});
