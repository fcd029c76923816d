import { describe, expect, it } from 'vitest';
import { createMemoryStore } from '../../src/store/memory.js';
import { PrefixSubscription, type SubscriptionEvent } from '../../src/store/subscription.js';
import type { Store, WatchHandlers } from '../../src/store/types.js';

const tick = (ms = 5): Promise<void> => new Promise((r) => setTimeout(r, ms));
const brief = (e: SubscriptionEvent): string =>
  e.type === 'put'
    ? `put ${e.kv.key}=${e.kv.value}`
    : e.type === 'delete'
      ? `delete ${e.key}`
      : `${e.type} ${e.prefix} [${e.kvs.map((k) => k.key).join(',')}]`;

describe('PrefixSubscription', () => {
  it('remove() during a pending add() emits nothing for that prefix', async () => {
    const s = createMemoryStore();
    await s.put('/n/1/a', 'x');
    const events: SubscriptionEvent[] = [];
    const sub = new PrefixSubscription(s, { onEvent: (e) => events.push(e) });
    const adding = sub.add('/n/1/');
    await sub.remove('/n/1/');
    await adding;
    await s.put('/n/1/b', 'y');
    await tick();
    expect(events).toEqual([]);
    expect(sub.prefixes()).toEqual([]);
    await s.close();
  });

  it('overlapping prefixes are reported independently; adding twice is a no-op', async () => {
    const s = createMemoryStore();
    const events: string[] = [];
    const sub = new PrefixSubscription(s);
    sub.on('event', (e: SubscriptionEvent) => events.push(`${e.prefix} ${brief(e)}`));
    await sub.add('/n/');
    await sub.add('/n/1/');
    await sub.add('/n/1/');
    await s.put('/n/1/a', 'x');
    await tick();
    expect(events).toEqual(['/n/ snapshot /n/ []', '/n/1/ snapshot /n/1/ []', '/n/ put /n/1/a=x', '/n/1/ put /n/1/a=x']);
    await sub.close();
    await s.close();
  });

  it('a failed watch is retried as a resync with the current contents', async () => {
    const s = createMemoryStore();
    let failOnce = true;
    // A store whose first watch fails right away (as an etcd watch cancelled by the server would).
    const flaky: Store = Object.assign(Object.create(Object.getPrototypeOf(s)) as Store, s, {
      watch: (prefix: string, from: number | undefined, h: WatchHandlers) => {
        if (failOnce) {
          failOnce = false;
          queueMicrotask(() => h.onError?.(new Error('boom')));
          return { cancel: async () => undefined };
        }
        return s.watch(prefix, from, h);
      },
    });
    const events: string[] = [];
    const errors: string[] = [];
    const sub = new PrefixSubscription(flaky, { retryMs: 10, onEvent: (e) => events.push(brief(e)) });
    sub.on('error', (prefix: string, err: Error) => errors.push(`${prefix}: ${err.message}`));
    await sub.add('/n/');
    await s.put('/n/a', '1'); // lands while the watch is down
    const t0 = Date.now();
    while (!events.some((e) => e.startsWith('resync')) && Date.now() - t0 < 2000) await tick();
    await s.put('/n/b', '2');
    await tick(20);
    expect(errors).toEqual(['/n/: boom']);
    expect(events).toEqual(['snapshot /n/ []', 'resync /n/ [/n/a]', 'put /n/b=2']);
    await sub.close();
    await s.close();
  });

  it('changes to one key arrive in revision order', async () => {
    const s = createMemoryStore();
    const events: string[] = [];
    const sub = new PrefixSubscription(s, { onEvent: (e) => events.push(brief(e)) });
    await sub.add('/n/');
    await s.put('/n/a', '1');
    await s.put('/n/a', '2');
    await s.delete('/n/a');
    await tick();
    expect(events).toEqual(['snapshot /n/ []', 'put /n/a=1', 'put /n/a=2', 'delete /n/a']);
    await sub.close();
    await s.close();
  });
});
