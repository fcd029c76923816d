import { fipKey, gatewayKey, routerKey, type ParsedKey } from '../model/keys.js';
import type { Logger } from '../util/log.js';
import type { Subscription } from './topology-sync.js';

/** An index key, parsed. */
export type IndexKey = Extract<ParsedKey, { kind: 'router-ref' | 'fip-ref' | 'gateway-of' }>;

/**
 * Lazy sync of routers, their gateway leases and floating IPs (issue 17): the objects named by the lazy index
 * (model/lazy-index.ts) under the prefixes this agent watches — its networks and its own gateway candidacies — are
 * watched each by its own key, and only while some present index key names them. What no index key names any
 * more is unwatched and leaves the view (`dropped`).
 */
export class IndexedObjects {
  /** Index keys present → the object keys they name. */
  private readonly refs = new Map<string, readonly string[]>();
  /** Object key → how many present index keys name it. */
  private readonly wanted = new Map<string, number>();
  /** Object keys whose first read is in flight. */
  private readonly loads = new Map<string, Promise<void>>();

  constructor(
    private readonly subscription: Subscription,
    private readonly logger: Logger,
    /** This chassis: only its own gateway candidacies name routers for it. */
    private readonly chassis: string,
    /** An object no index key names any more: take it out of the view. */
    private readonly dropped: (objectKey: string) => void,
  ) {}

  /** An index key is present: each object it names is watched (once, however many index keys name it). */
  put(refKey: string, k: IndexKey): void {
    if (this.refs.has(refKey)) return;
    // A router comes with its gateway lease; another chassis's candidacy names nothing here.
    const objectKeys =
      k.kind === 'fip-ref'
        ? [fipKey(k.fipId)]
        : k.kind === 'router-ref' || k.chassis === this.chassis
          ? [routerKey(k.routerId), gatewayKey(k.routerId)]
          : [];
    if (objectKeys.length === 0) return;
    this.refs.set(refKey, objectKeys);
    for (const k of objectKeys) {
      const n = this.wanted.get(k) ?? 0;
      this.wanted.set(k, n + 1);
      if (n === 0) this.watch(k);
    }
  }

  /** An index key is gone (deleted, or its network no longer watched). */
  delete(refKey: string): void {
    const keys = this.refs.get(refKey);
    if (!keys) return;
    this.refs.delete(refKey);
    for (const k of keys) {
      const n = (this.wanted.get(k) ?? 1) - 1;
      if (n > 0) {
        this.wanted.set(k, n);
        continue;
      }
      this.wanted.delete(k);
      this.loads.delete(k);
      Promise.resolve(this.subscription.remove(k)).catch((err: unknown) => this.logger.warn({ err, key: k }, 'unwatch failed'));
      this.dropped(k);
    }
  }

  /** Whether some present index key names this object (its events are wanted). */
  has(objectKey: string): boolean {
    return this.wanted.has(objectKey);
  }

  /** The index keys present under a prefix. */
  *refsUnder(prefix: string): Generator<string> {
    for (const k of this.refs.keys()) if (k.startsWith(prefix)) yield k;
  }

  /** Objects watched now, sorted (status, tests). */
  objects(): string[] {
    return [...this.wanted.keys()].sort();
  }

  /** Resolves once every object named by the index keys under `prefix` has had its first read. */
  async whenLoaded(prefix: string): Promise<void> {
    const pending: Promise<void>[] = [];
    for (const [ref, keys] of this.refs)
      if (ref.startsWith(prefix))
        for (const k of keys) {
          const p = this.loads.get(k);
          if (p) pending.push(p);
        }
    await Promise.all(pending);
  }

  private watch(key: string): void {
    const p: Promise<void> = Promise.resolve(this.subscription.add(key, { exact: true }))
      .then(
        () => undefined,
        (err: unknown) => this.logger.warn({ err, key }, 'watch failed'),
      )
      .finally(() => {
        if (this.loads.get(key) === p) this.loads.delete(key);
      });
    this.loads.set(key, p);
  }
}
