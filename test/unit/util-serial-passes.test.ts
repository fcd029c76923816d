import { describe, expect, it } from 'vitest';
import { SerialPasses } from '../../src/util/serial-passes.js';

describe('SerialPasses', () => {
  it('calls during a pass share its promise and cost one more pass; repeat() asks for one from inside', async () => {
    let passes = 0;
    let release!: () => void;
    let stopped = false;
    let repeatOnce = false;
    const p: SerialPasses = new SerialPasses(
      async () => {
        passes++;
        if (passes === 1) await new Promise<void>((r) => (release = r));
        if (repeatOnce) {
          repeatOnce = false;
          p.repeat();
        }
      },
      () => stopped,
    );
    const first = p.run();
    expect(p.busy).toBe(true);
    const second = p.run();
    const third = p.run();
    expect(second).toBe(first);
    expect(third).toBe(first);
    release();
    await first;
    expect(passes).toBe(2); // three calls: the running pass and one more
    expect(p.busy).toBe(false);
    repeatOnce = true;
    await p.run();
    expect(passes).toBe(4); // a pass that asked for a repeat
    stopped = true;
    repeatOnce = true;
    await p.run();
    expect(passes).toBe(5); // stopped: no repeat
    await p.settled();
  });
});
