/** Public entry of the store: one URL names a store; drivers, allocation and subscriptions. */
import type { Logger } from '../util/log.js';
import { StoreError, type Store } from './types.js';
import { maskUrl, parseStoreUrl } from './url.js';
import { createMemoryStore } from './memory.js';

export * from './types.js';
export { maskUrl, parseStoreUrl, type StoreUrl } from './url.js';
export { createMemoryStore, MemoryStore, type MemoryStoreOptions } from './memory.js';
export { allocateInt, allocCandidate, releaseInt, allocPrefix, type AllocOptions, type AllocCandidate } from './alloc.js';
export { PrefixSubscription, type SubscriptionEvent, type PrefixSubscriptionOptions } from './subscription.js';

export interface OpenStoreOptions {
  /** PEM contents (not paths) for etcds://. */
  tls?: { ca?: string | Buffer; cert?: string | Buffer; key?: string | Buffer };
  username?: string;
  password?: string;
  logger?: Logger;
  /**
   * Check that the store answers before returning (default true). An agent opens its store without it: the
   * store may be down when the agent starts, and the agent runs on its cache meanwhile.
   */
  probe?: boolean;
  /** etcd: gRPC watch streams the store's watches are spread over (default 4). */
  watchStreams?: number;
}

export async function openStore(url: string, opts: OpenStoreOptions = {}): Promise<Store> {
  const u = parseStoreUrl(url);
  switch (u.kind) {
    case 'memory':
      return createMemoryStore(opts.logger ? { logger: opts.logger } : {});
    case 'level': {
      const { openLevelStore } = await import('./level.js');
      return openLevelStore(u.path, opts.logger ? { logger: opts.logger } : {});
    }
    case 'etcd': {
      const { openEtcdStore } = await import('./etcd.js');
      return openEtcdStore(url, u, opts);
    }
    default:
      throw new StoreError(`unsupported store URL ${maskUrl(url)}`, 'BAD_URL');
  }
}
