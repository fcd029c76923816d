/**
 * memory: driver — the engine with no persistence. For unit tests and demos: the last 100000
 * revisions of history are kept (compact() drops more), and time can be injected so lease expiry
 * is deterministic.
 */
import type { Logger } from '../util/log.js';
import { Engine, type Clock } from './engine.js';
import { LocalEngineStore } from './engine-store.js';

export interface MemoryStoreOptions {
  logger?: Logger;
  /** Clock for lease deadlines (default Date.now). */
  clock?: Clock;
  /** Lease expiry check period in ms; 0 = only when expireLeases() is called. Default 250. */
  leaseCheckMs?: number;
  /** Keep at most this many revisions of watch history (default 100000; compact() drops more). */
  historyLimit?: number;
}

/** The in-memory store (unit tests, `memory:` URLs). */
export class MemoryStore extends LocalEngineStore {}

export function createMemoryStore(opts: MemoryStoreOptions = {}): MemoryStore {
  const engine = new Engine({
    ...(opts.logger ? { logger: opts.logger } : {}),
    ...(opts.clock ? { clock: opts.clock } : {}),
    ...(opts.leaseCheckMs !== undefined ? { leaseCheckMs: opts.leaseCheckMs } : {}),
    // Bounded so a long-running memory: store (demos) does not grow without end.
    historyLimit: opts.historyLimit ?? 100_000,
  });
  return new MemoryStore('memory:', engine, true);
}
