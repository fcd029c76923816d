import { describe, expect, it } from 'vitest';
import { getHeapStatistics } from 'node:v8';
import { trimHeapAfterBursts, type HeapTrim, type HeapTrimDeps } from '../../src/agent/heap-trim.js';
import { createLogger } from '../../src/util/log.js';

const MB = 1024 * 1024;
const logger = createLogger({ level: 'silent', name: 'test' });

/** A heap and an event loop the test drives. */
function fake(start = 20 * MB) {
  const s = { committed: start, busy: 0, collects: 0, shrinkTo: undefined as number | undefined, available: true };
  let pending: (() => void) | undefined;
  const deps: HeapTrimDeps = {
    committed: () => s.committed,
    utilisation: () => s.busy,
    collect: (done) => {
      if (!s.available) return false;
      s.collects++;
      pending = () => {
        if (s.shrinkTo !== undefined) s.committed = s.shrinkTo;
        done();
      };
      return true;
    },
    now: () => 0,
    every: () => ({ stop: () => undefined }),
  };
  /** V8 runs the GC task. */
  const runGc = () => {
    const p = pending;
    pending = undefined;
    p?.();
  };
  return { s, deps, runGc };
}

type Fake = ReturnType<typeof fake>['s'];

/** The heap at `mb` committed, one look at it: how many GCs have been asked for so far. */
const at = (t: HeapTrim, s: Fake, mb: number): number => {
  s.committed = mb * MB;
  t.tick();
  return s.collects;
};

/** One look with the event loop `busy` (0–1) over the last period; a GC asked for now leaves `shrinkTo` MB. */
const looks = (t: HeapTrim, s: Fake, busy: number, shrinkTo?: number): number => {
  s.busy = busy;
  if (shrinkTo !== undefined) s.shrinkTo = shrinkTo * MB;
  t.tick();
  return s.collects;
};

describe('heap trim after bursts', () => {
  it('trims once the heap grew past the threshold and the event loop went quiet, not before', () => {
    const { s, deps, runGc } = fake();
    const t = trimHeapAfterBursts({ logger, deps, growth: 8 * MB, quiet: 0.1 });
    expect(at(t, s, 26)).toBe(0); // grown 6 MB: not worth a pause
    s.committed = 45 * MB;
    expect(looks(t, s, 0.9)).toBe(0); // still in the burst
    expect(looks(t, s, 0.02, 24)).toBe(1);
    expect(looks(t, s, 0.02)).toBe(1); // the GC task has not run yet: no second request
    runGc();
    expect(t.trims).toBe(1);
    // Live data grew (24 MB stays): the new baseline, so no trim again until it grows by another 8 MB.
    expect(at(t, s, 30)).toBe(1);
    expect(at(t, s, 33)).toBe(2);
  });

  it('measures growth from the lowest the heap went since (V8 gave memory back on its own)', () => {
    const { s, deps } = fake(30 * MB);
    const t = trimHeapAfterBursts({ logger, deps, growth: 8 * MB, quiet: 0.1 });
    s.committed = 15 * MB;
    t.tick();
    expect(at(t, s, 24)).toBe(1); // 9 MB above the new low, 6 below the start
  });

  it('after the start: trims once at the first quiet moment whatever the growth, then only after bursts', () => {
    const { s, deps, runGc } = fake(12 * MB);
    const t = trimHeapAfterBursts({ logger, deps, growth: 8 * MB, quiet: 0.1, afterStart: true });
    expect(looks(t, s, 0.5)).toBe(0); // the start's tail
    expect(looks(t, s, 0, 9)).toBe(1);
    runGc();
    expect(at(t, s, 15)).toBe(1);
    expect(at(t, s, 17)).toBe(2);
  });

  it('without an inspector, says so once and stops trying', () => {
    const { s, deps } = fake();
    s.available = false;
    const lines: string[] = [];
    const log = { ...logger, info: (m: unknown) => void lines.push(String(m)) } as unknown as typeof logger;
    const t = trimHeapAfterBursts({ logger: log, deps, growth: 8 * MB, quiet: 0.1 });
    s.committed = 40 * MB;
    t.tick();
    t.tick();
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/unavailable/);
    expect(t.trims).toBe(0);
  });

  it('on the real heap: the garbage of a burst is given back', async () => {
    let garbage: object[] | undefined = [];
    // Promoted garbage, as a burst leaves it: objects that survived scavenges, then were dropped.
    for (let i = 0; i < 400_000; i++) garbage.push({ i, s: `port-${i}`, a: [i, i + 1] });
    const t = trimHeapAfterBursts({ logger, deps: { utilisation: () => 0, every: () => ({ stop: () => undefined }) }, growth: 0 });
    garbage = undefined;
    const before = getHeapStatistics().total_heap_size;
    const done = new Promise<void>((resolve) => {
      const wait = setInterval(() => {
        if (t.trims > 0) {
          clearInterval(wait);
          resolve();
        }
      }, 5);
    });
    t.tick();
    await done;
    expect(garbage).toBeUndefined();
    expect(getHeapStatistics().total_heap_size).toBeLessThan(before - 10 * MB);
  });
});
