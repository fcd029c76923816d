/**
 * Property: for any sequence of writes, replaying a watch from the first revision reproduces the
 * store exactly (keys, values, mod revisions), with strictly increasing batch revisions; on the
 * memory and level drivers (etcd runs the same contract in the integration suite).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createMemoryStore } from '../../src/store/memory.js';
import { openLevelStore } from '../../src/store/level.js';
import type { KeyValue, Store, TxnOp, WatchBatch } from '../../src/store/types.js';

const key = fc.constantFrom('/p/a', '/p/b', '/p/c/1', '/p/c/2', '/p/d');
const op: fc.Arbitrary<TxnOp> = fc.oneof(
  fc.record({ op: fc.constant('put' as const), key, value: fc.string({ maxLength: 4 }) }),
  fc.record({ op: fc.constant('delete' as const), key }),
  fc.record({ op: fc.constant('deletePrefix' as const), prefix: fc.constantFrom('/p/c/', '/p/') }),
);
/** One store call: a single op, or a txn guarded by a modRevision compare on some key. */
const step = fc.record({ ops: fc.array(op, { minLength: 1, maxLength: 3 }), guard: fc.option(fc.tuple(key, fc.nat(6))) });

/** etcd would reject a txn writing a key twice or deleting what it puts; keep only valid ones. */
function valid(ops: TxnOp[]): boolean {
  const puts = ops.filter((o) => o.op === 'put').map((o) => (o as { key: string }).key);
  if (new Set(puts).size !== puts.length) return false;
  return !ops.some((o) =>
    o.op === 'delete' ? puts.includes(o.key) : o.op === 'deletePrefix' ? puts.some((k) => k.startsWith(o.prefix)) : false,
  );
}

async function check(open: () => Promise<{ s: Store; done: () => Promise<void> }>): Promise<void> {
  await fc.assert(
    fc.asyncProperty(fc.array(step, { maxLength: 25 }), async (steps) => {
      const { s, done } = await open();
      try {
        const batches: WatchBatch[] = [];
        const first = (await s.currentRevision()) + 1;
        const w = s.watch('/p/', first, { onBatch: (b) => batches.push(b) });
        for (const st of steps) {
          if (!valid(st.ops)) continue;
          const compares = st.guard ? [{ key: st.guard[0], modRevision: st.guard[1] }] : [];
          await s.txn(compares, st.ops);
        }
        await new Promise((r) => setTimeout(r, 0));
        await w.cancel();
        const replay = new Map<string, KeyValue>();
        let last = 0;
        for (const b of batches) {
          expect(b.revision).toBeGreaterThan(last);
          last = b.revision;
          for (const e of b.events) {
            if (e.type === 'put') replay.set(e.kv.key, e.kv);
            else replay.delete(e.key);
          }
        }
        const { kvs, revision } = await s.range('/p/');
        expect([...replay.values()].sort((a, b) => (a.key < b.key ? -1 : 1))).toEqual(kvs);
        expect(revision).toBe(Math.max(first - 1, last));
      } finally {
        await done();
      }
    }),
    { numRuns: 60 },
  );
}

describe('store property: watch replay == state', () => {
  it('memory', async () => {
    await check(async () => {
      const s = createMemoryStore({ leaseCheckMs: 0 });
      return { s, done: () => s.close() };
    });
  });

  it('level', async () => {
    await check(async () => {
      const dir = await mkdtemp(join(tmpdir(), 'wyvern-store-prop-'));
      const s = await openLevelStore(dir, { leaseCheckMs: 0 });
      return {
        s,
        done: async () => {
          await s.close();
          await rm(dir, { recursive: true, force: true });
        },
      };
    });
  }, 60_000);
});
