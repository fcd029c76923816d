/** Store write rates the store and northbound benches both measure (the reference of bench:writes). */
import type { Store } from '../../src/store/types.js';

/** Puts per second with `workers` writers putting `n` 200-byte values under `prefix`par/. */
export async function concurrentPuts(s: Store, prefix: string, n: number, workers: number): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: workers }, async () => {
      while (next < n) {
        const i = next++;
        await s.put(`${prefix}par/${i}`, JSON.stringify({ i, pad: 'x'.repeat(200) }));
      }
    }),
  );
  return n / ((performance.now() - t0) / 1000);
}
