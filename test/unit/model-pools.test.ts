/**
 * Numbers from the allocation pools (tunnel keys, router keys, security group and rule keys): the lowest free when a
 * creation is alone, drawn at random without reading the pool when others are in flight or after a lost race, the
 * lowest few again (from a read) after many lost races.
 */
import { describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/index.js';
import { allocKey, poolPrefix } from '../../src/model/keys.js';
import { pickFree, poolFlight, POOL_MAX } from '../../src/model/cas.js';

async function poolWith(taken: number[]) {
  const store = await openStore('memory:');
  for (const n of taken) await store.put(allocKey('tunnel-key', n), 'x');
  let ranges = 0;
  const range = store.range.bind(store);
  store.range = (prefix: string) => {
    if (prefix === poolPrefix('tunnel-key')) ranges++;
    return range(prefix);
  };
  return { store, ranges: () => ranges };
}

describe('pickFree', () => {
  it('alone, on the first attempt: the lowest free number, from one read of the pool', async () => {
    const { store, ranges } = await poolWith([1, 2, 4]);
    const p = await pickFree(store, 'tunnel-key', 0);
    expect(p).toEqual({ n: 3, key: allocKey('tunnel-key', 3), compare: { key: allocKey('tunnel-key', 3), modRevision: 0 } });
    expect(ranges()).toBe(1);
  });
  it('contended, or after a lost race: drawn from the whole pool without reading it', async () => {
    const { store, ranges } = await poolWith([1, 2, 4]);
    const picks = await Promise.all(
      Array.from({ length: 50 }, (_, i) => pickFree(store, 'tunnel-key', i % 2 === 0 ? 0 : 1 + (i % 7), i % 2 === 0)),
    );
    expect(ranges()).toBe(0);
    for (const p of picks) {
      expect(p.n).toBeGreaterThanOrEqual(1);
      expect(p.n).toBeLessThanOrEqual(POOL_MAX['tunnel-key']);
    }
    expect(new Set(picks.map((p) => p.n)).size).toBeGreaterThan(45); // spread, not the same few numbers
  });
  it('after 8 lost races: one of the lowest 64 free numbers, from a read (the pool may be nearly full)', async () => {
    const { store, ranges } = await poolWith(Array.from({ length: 100 }, (_, i) => i + 1));
    const p = await pickFree(store, 'tunnel-key', 8);
    expect(p.n).toBeGreaterThan(100);
    expect(p.n).toBeLessThanOrEqual(164);
    expect(ranges()).toBe(1);
  });
  it('poolFlight: contended while another allocation of the same pool is in flight in this process', async () => {
    const store = await openStore('memory:');
    const a = poolFlight(store, 'router-key');
    expect(a.contended()).toBe(false);
    const b = poolFlight(store, 'router-key');
    const other = poolFlight(store, 'sg-key');
    expect(a.contended()).toBe(true);
    expect(other.contended()).toBe(false);
    b.leave();
    b.leave(); // twice counts once
    expect(a.contended()).toBe(false);
    a.leave();
    expect(poolFlight(store, 'router-key').contended()).toBe(false);
  });
});
