/**
 * The lazy index (model/lazy-index.ts) as agents keep it: its lazy sync finds routers and FIPs only through it.
 * - Each agent makes sure, once it has started, that the routers and floating IPs written before the index existed
 *   are indexed: retried until the store answers and the work is done, by this agent or by the one that claimed it.
 * - One agent of the cluster audits it whole now and then, to find objects written without it since (an API process
 *   of an older version: agents serve the API, so a rolling upgrade has old writers for a while).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { auditLazyIndex, ensureLazyIndex } from '../model/lazy-index.js';
import { noteIndexComplete } from '../model/read.js';
import { LAZY_INDEX_AUDITOR_KEY } from '../model/keys.js';
import type { Store } from '../store/types.js';
import { Backoff } from '../util/backoff.js';
import type { Logger } from '../util/log.js';
import { isoTime } from '../util/time.js';

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
      if (r !== 'claimed-elsewhere') {
        // This process's writers read through the index from now on, not from their first network read.
        noteIndexComplete(store);
        return;
      }
    } catch (err) {
      log.debug({ err }, 'lazy index check failed; retrying');
    }
    await sleep(backoff.next(), undefined, { ref: false });
  }
}

/**
 * One audit turn of this agent: the auditor's key, attached to its chassis lease, names the one agent that audits (it
 * goes with that agent's lease, and the next agent whose turn comes takes it). Returns the ids of the routers and FIPs
 * it found without their index and indexed, or undefined when another agent holds the role (or this one has no lease
 * yet). An agent restarted with a new lease waits for its previous lease's key to expire, as every other agent does.
 */
export async function auditTurn(store: Store, chassis: string, lease: string | undefined, now = Date.now): Promise<string[] | undefined> {
  if (lease === undefined) return undefined;
  const cur = await store.get(LAZY_INDEX_AUDITOR_KEY);
  if (cur && cur.lease !== lease) return undefined;
  if (!cur) {
    const value = JSON.stringify({ chassis, since: isoTime(now()) });
    const won = await store.txn(
      [{ key: LAZY_INDEX_AUDITOR_KEY, modRevision: 0 }],
      [{ op: 'put', key: LAZY_INDEX_AUDITOR_KEY, value, lease }],
    );
    if (!won.succeeded) return undefined;
  }
  return auditLazyIndex(store);
}

/**
 * What an agent with lazy sync runs once started, in the background: the one-time indexing (indexUntilDone), then its
 * turn at the audit (auditTurn) every `periodMs`, each wait drawn between half and one and a half periods so agents
 * started together do not all ask at once. At rest this is one read of one key per agent per period.
 */
export async function keepLazyIndex(
  store: Store,
  chassis: string,
  lease: () => string | undefined,
  log: Logger,
  stopped: () => boolean,
  periodMs: number,
): Promise<void> {
  await indexUntilDone(store, chassis, log, stopped);
  while (!stopped()) {
    await sleep(periodMs * (0.5 + Math.random()), undefined, { ref: false });
    if (stopped()) return;
    try {
      const repaired = await auditTurn(store, chassis, lease());
      if (repaired && repaired.length > 0)
        log.warn(
          { objects: repaired.slice(0, 20), count: repaired.length },
          'indexed routers or floating IPs written without the lazy index (by a wyvern API of an older version?)',
        );
    } catch (err) {
      log.debug({ err }, 'lazy index audit failed; trying again next period');
    }
  }
}
