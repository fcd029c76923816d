/** etcd driver — in progress. */
import type { Logger } from '../util/log.js';
import { StoreError, type Store } from './types.js';
import type { StoreUrl } from './url.js';

export interface EtcdStoreOptions {
  tls?: { ca?: string | Buffer; cert?: string | Buffer; key?: string | Buffer };
  username?: string;
  password?: string;
  logger?: Logger;
}

export async function openEtcdStore(url: string, _u: Extract<StoreUrl, { kind: 'etcd' }>, _opts: EtcdStoreOptions = {}): Promise<Store> {
  throw new StoreError(`etcd driver not yet available (${url})`, 'UNAVAILABLE');
}
