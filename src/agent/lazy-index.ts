/**
 * Each agent makes sure, once it has started, that the routers and floating IPs written before the lazy index
 * existed are indexed (model/lazy-index.ts): its lazy sync finds routers and FIPs only through the index. Retried
 * until the store answers and the work is done, by this agent or by the one that claimed it.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { ensureLazyIndex } from '../model/lazy-index.js';
import type { Store } from '../store/types.js';
import { Backoff } from '../util/backoff.js';
import type { Logger } from '../util/log.js';

export async function indexUntilDone(
  store: Store,
  chassis: string,
  log: Logger,
  stopped: () => boolean,
  backoff = new Backoff({ minMs: 1_000, maxMs: 30_000 }),
): Promise<void> {
  while (!stopped()) {
    try {
      const r = await ensureLazyIndex(store, chassis);
      if (r === 'written') log.info('indexed the routers and floating IPs written before the lazy index');
      if (r !== 'claimed-elsewhere') return;
    } catch (err) {
      log.debug({ err }, 'lazy index check failed; retrying');
    }
    await sleep(backoff.next(), undefined, { ref: false });
  }
}
