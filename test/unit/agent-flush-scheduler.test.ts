/** The agent's flush scheduling: a burst of events is one flush; urgent flushes run before other I/O work. */
import { describe, expect, it } from 'vitest';
import { FlushScheduler } from '../../src/agent/flush-scheduler.js';

const turn = () => new Promise<void>((r) => setImmediate(r));

describe('FlushScheduler', () => {
  it('coalesces everything scheduled in one turn into one flush', async () => {
    let n = 0;
    const f = new FlushScheduler(
      () => n++,
      () => true,
    );
    f.schedule();
    f.schedule();
    f.schedule();
    expect(n).toBe(0);
    await turn();
    expect(n).toBe(1);
  });

  it('an urgent flush runs as a microtask (before the next I/O turn) and takes the pending one with it', async () => {
    const order: string[] = [];
    const f = new FlushScheduler(
      () => order.push('flush'),
      () => true,
    );
    f.schedule();
    f.schedule(true);
    setImmediate(() => order.push('io'));
    await Promise.resolve();
    expect(order).toEqual(['flush']);
    await turn();
    await turn();
    expect(order).toEqual(['flush', 'io']); // the setImmediate it replaced did not run again
  });

  it('schedules nothing while disabled (before the first computation, while stopping); cancel drops a pending one', async () => {
    let n = 0;
    let enabled = false;
    const f = new FlushScheduler(
      () => n++,
      () => enabled,
    );
    f.schedule();
    f.schedule(true);
    await turn();
    expect(n).toBe(0);
    enabled = true;
    f.schedule();
    f.cancel();
    await turn();
    expect(n).toBe(0);
  });
});
