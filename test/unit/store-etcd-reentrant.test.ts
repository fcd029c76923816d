/**
 * The etcd host policy (reentrant): a call made from inside the circuit breaker's half-open probe — etcd3's retry
 * of a call refused for an expired auth token — must not wait for the probe it is part of.
 */
import { circuitBreaker, ConsecutiveBreaker, handleAll, type IPolicy } from 'cockatiel';
import { describe, expect, it } from 'vitest';
import { reentrant } from '../../src/store/etcd.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Opens the breaker, lets it go half-open, then runs a probe whose work calls the policy again (nested). */
async function nestedProbe(policy: IPolicy): Promise<'done' | 'hung'> {
  await policy.execute(() => Promise.reject(new Error('store down'))).catch(() => undefined);
  await sleep(30); // past halfOpenAfter: the next call is the probe
  // As etcd3 does: the first attempt's answer comes back (an await), then it calls again from inside.
  const probe = policy.execute(async () => {
    await sleep(1);
    return policy.execute(() => Promise.resolve('done' as const));
  });
  return Promise.race([probe, sleep(500).then(() => 'hung' as const)]);
}

const breaker = () => circuitBreaker(handleAll, { halfOpenAfter: 10, breaker: new ConsecutiveBreaker(1) });

describe('reentrant host policy', () => {
  it('cockatiel alone deadlocks a call nested in the half-open probe (why the wrapper exists)', async () => {
    expect(await nestedProbe(breaker())).toBe('hung');
  });

  it('wrapped: the nested call passes through and the probe completes', async () => {
    expect(await nestedProbe(reentrant(breaker()))).toBe('done');
  });

  it('wrapped: calls that are not nested still meet the breaker (open → refused)', async () => {
    const p = reentrant(circuitBreaker(handleAll, { halfOpenAfter: 10_000, breaker: new ConsecutiveBreaker(1) }));
    await p.execute(() => Promise.reject(new Error('down'))).catch(() => undefined);
    await expect(p.execute(() => Promise.resolve(1))).rejects.toThrow(/circuit|open/i);
  });
});
