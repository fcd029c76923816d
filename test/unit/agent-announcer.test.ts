/** Announcements wait for the flows they depend on, one wait at a time. */
import { describe, expect, it } from 'vitest';
import { Announcer } from '../../src/agent/announcer.js';
import type { OfMessage } from '../../src/openflow/index.js';

describe('Announcer', () => {
  it('sends once the latest asked version is applied, with a single pending wait', async () => {
    const waits: { v: number; done: () => void }[] = [];
    const sent: OfMessage[][] = [];
    let collected = 0;
    const a = new Announcer({
      whenApplied: (v) => new Promise<void>((done) => waits.push({ v, done })),
      collect: () => (collected++, [{ type: 'BARRIER_REQUEST', xid: collected }]),
      send: async (p) => void sent.push(p),
      onError: () => undefined,
      stopped: () => false,
      dueIn: () => undefined,
    });
    a.after(1);
    a.after(2);
    a.after(3);
    expect(waits.map((w) => w.v)).toEqual([1]);
    waits[0]!.done();
    await new Promise((r) => setTimeout(r, 0));
    // Version 3 was asked meanwhile: it waits for it before sending.
    expect(waits.map((w) => w.v)).toEqual([1, 3]);
    expect(sent).toEqual([]);
    waits[1]!.done();
    await new Promise((r) => setTimeout(r, 0));
    expect(sent).toHaveLength(1);
    expect(collected).toBe(1);
  });

  it('comes back when an app has an announcement due again, once, and not after the agent stops', async () => {
    const sent: OfMessage[][] = [];
    let due: number | undefined = 30;
    let stopped = false;
    let rounds = 0;
    const a = new Announcer({
      whenApplied: async () => undefined,
      collect: () => {
        rounds++;
        return [{ type: 'BARRIER_REQUEST', xid: rounds }];
      },
      send: async (p) => void sent.push(p),
      onError: () => undefined,
      stopped: () => stopped,
      dueIn: () => due,
    });
    a.after(1);
    await new Promise((r) => setTimeout(r, 5));
    expect(rounds).toBe(1);
    // Nothing asked meanwhile: the round the app asked for comes by itself.
    due = undefined;
    await new Promise((r) => setTimeout(r, 60));
    expect(rounds).toBe(2);
    await new Promise((r) => setTimeout(r, 60));
    expect(rounds).toBe(2);
    // Stopping: a repeat due later does not come.
    due = 30;
    a.after(2);
    await new Promise((r) => setTimeout(r, 5));
    expect(rounds).toBe(3);
    stopped = true;
    await new Promise((r) => setTimeout(r, 60));
    expect(rounds).toBe(3);
    expect(sent).toHaveLength(3);
  });
});
