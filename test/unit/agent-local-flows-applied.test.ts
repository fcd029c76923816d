/**
 * When a port's binding is announced (written to the store): once its flows are on the switch. At the agent's start
 * too: a starting host's bindings wait for its first computation and those flows, so their writes and what they make
 * other hypervisors do come after the new host's first flows; and never longer than a second.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { localFlowsApplied } from '../../src/agent/flow-schedule.js';
import type { FlowManager } from '../../src/flows/manager.js';

function flowsAt(version: number) {
  let apply!: () => void;
  const applied = new Promise<void>((r) => (apply = r));
  const asked: number[] = [];
  const flows = {
    desiredVersion: version,
    whenApplied: (v: number) => {
      asked.push(v);
      return applied;
    },
  } as unknown as FlowManager;
  return { flows, apply, asked };
}

describe('localFlowsApplied', () => {
  afterEach(() => vi.useRealTimers());

  it("before the start's first computation: waits for it, then for its flows on the switch", async () => {
    let started = false;
    let markStarted!: () => void;
    const untilStarted = new Promise<void>((r) => (markStarted = r));
    const { flows, apply, asked } = flowsAt(1);
    let done = false;
    const p = localFlowsApplied(
      () => started,
      () => flows,
      untilStarted,
    ).then(() => (done = true));
    await new Promise((r) => setTimeout(r, 10));
    expect(done).toBe(false);
    expect(asked).toEqual([]);
    started = true;
    markStarted();
    await new Promise((r) => setTimeout(r, 10));
    expect(asked).toEqual([1]);
    expect(done).toBe(false);
    apply();
    await p;
    expect(done).toBe(true);
  });

  it('a start that does not compute within a second (Open vSwitch or the topology not there) holds nothing back', async () => {
    vi.useFakeTimers();
    let done = false;
    const { flows, asked } = flowsAt(1);
    const p = localFlowsApplied(
      () => false,
      () => flows,
      new Promise<void>(() => undefined),
    ).then(() => (done = true));
    await vi.advanceTimersByTimeAsync(999);
    expect(done).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await p;
    expect(asked).toEqual([]);
  });

  it('after the start: the flows asked for so far, a second at most if the switch does not confirm', async () => {
    vi.useFakeTimers();
    const { flows, asked } = flowsAt(7);
    let done = false;
    const p = localFlowsApplied(
      () => true,
      () => flows,
      Promise.resolve(),
    ).then(() => (done = true));
    await vi.advanceTimersByTimeAsync(500);
    expect(asked).toEqual([7]);
    expect(done).toBe(false);
    await vi.advanceTimersByTimeAsync(500);
    await p;
    expect(done).toBe(true);
  });
});
