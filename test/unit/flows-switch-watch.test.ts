/** SwitchWatch: which flow-monitor updates are someone else's change, bursts read once, pauses, refusals, sessions. */
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { MIN_INTERVAL_MS, SETTLE_MS, SwitchWatch } from '../../src/flows/switch-watch.js';
import type { FlowChannel } from '../../src/flows/types.js';
import {
  ONF_FLOW_MONITOR,
  ONF_VENDOR_ID,
  ONFFMF,
  ONFT_FLOW_MONITOR_PAUSED,
  ONFT_FLOW_MONITOR_RESUMED,
  type FlowUpdate,
  type OfMessage,
} from '../../src/openflow/index.js';
import { silentLogger, type Logger } from '../../src/util/log.js';

/** A channel that records requests, answers the monitor (or refuses it), and lets the test deliver messages. */
class FakeChannel extends EventEmitter {
  isUp = false;
  refuse = false;
  requests: OfMessage[] = [];
  sent: OfMessage[] = [];
  async multipart(req: OfMessage): Promise<OfMessage[]> {
    this.requests.push(req);
    if (this.refuse) throw new Error('OFPET_BAD_REQUEST OFPBRC_BAD_EXPERIMENTER');
    return [{ type: 'MULTIPART_REPLY', xid: 1, flags: 0, body: { kind: 'flow_monitor', updates: [] } }];
  }
  async send(msg: OfMessage): Promise<void> {
    this.sent.push(msg);
  }
  up(): void {
    this.isUp = true;
    this.emit('up');
  }
  updates(...updates: FlowUpdate[]): void {
    this.emit('message', { type: 'MULTIPART_REPLY', xid: 0, flags: 0, body: { kind: 'flow_monitor', updates } });
  }
}

const full = (event: 'added' | 'deleted' | 'modified', reason = 0): FlowUpdate => ({
  event,
  reason,
  priority: 100,
  idleTimeout: 0,
  hardTimeout: 0,
  tableId: 3,
  cookie: 1n,
  match: [],
  instructions: [],
});

/** Manual timers and clock. */
function clock() {
  let now = 0;
  const timers: { at: number; fn: () => void; live: boolean }[] = [];
  return {
    now: () => now,
    setTimer: (fn: () => void, ms: number) => {
      const t = { at: now + ms, fn, live: true };
      timers.push(t);
      return { cancel: () => (t.live = false) };
    },
    advance(ms: number) {
      const end = now + ms;
      for (;;) {
        const next = timers.filter((t) => t.live && t.at <= end).sort((a, b) => a.at - b.at)[0];
        if (!next) break;
        now = next.at;
        next.live = false;
        next.fn();
      }
      now = end;
    },
  };
}

const tick = () => new Promise((r) => setImmediate(r));

function setup(opts: { logger?: Logger } = {}) {
  const ch = new FakeChannel();
  const c = clock();
  const calls: { foreign: number; paused: boolean }[] = [];
  const watch = new SwitchWatch(ch as unknown as FlowChannel, {
    logger: opts.logger ?? silentLogger,
    changed: (why) => calls.push(why),
    setTimer: c.setTimer,
    now: c.now,
  });
  return { ch, c, calls, watch };
}

/** setup() with the channel's session up and the monitor granted. */
async function monitoring(opts: { logger?: Logger } = {}) {
  const w = setup(opts);
  w.ch.up();
  await tick();
  return w;
}

describe('SwitchWatch', () => {
  it('asks each new session for one monitor of every flow: adds, deletes and modifications, no initial dump', async () => {
    const { ch, watch } = await monitoring();
    expect(ch.requests).toHaveLength(1);
    const req = ch.requests[0]!;
    expect(req.type === 'MULTIPART_REQUEST' && req.body.kind === 'flow_monitor' && req.body.monitors).toEqual([
      { id: expect.any(Number), flags: ONFFMF.ADD | ONFFMF.DELETE | ONFFMF.MODIFY, outPort: 0xffffffff, tableId: 0xff, match: [] },
    ]);
    expect(watch.stats.monitoring).toBe(true);
    ch.up(); // a reconnect: the new session has no monitor until asked
    await tick();
    expect(ch.requests).toHaveLength(2);
  });

  it("a burst of someone else's changes is one re-read, once it settles", async () => {
    const { ch, c, calls } = await monitoring();
    ch.updates(full('deleted', 2), full('deleted', 2));
    c.advance(SETTLE_MS / 2);
    ch.updates(full('added'), full('modified'));
    expect(calls).toHaveLength(0);
    c.advance(SETTLE_MS);
    expect(calls).toEqual([{ foreign: 4, paused: false }]);
  });

  it('its own changes (abbreviated) and expiries (idle, hard timeout) are not news', async () => {
    const { ch, c, calls } = await monitoring();
    ch.updates({ event: 'abbrev', xid: 12 }, full('deleted', 0), full('deleted', 1));
    c.advance(10 * MIN_INTERVAL_MS);
    expect(calls).toHaveLength(0);
  });

  it('deletes by a group or meter delete and evictions are', async () => {
    const { ch, c, calls } = await monitoring();
    ch.updates(full('deleted', 3), full('deleted', 4), full('deleted', 5));
    c.advance(SETTLE_MS);
    expect(calls).toEqual([{ foreign: 3, paused: false }]);
  });

  it('re-reads at most once per MIN_INTERVAL_MS (a script rewriting flows in a loop)', async () => {
    const { ch, c, calls } = await monitoring();
    ch.updates(full('added'));
    c.advance(SETTLE_MS);
    expect(calls).toHaveLength(1);
    ch.updates(full('added'));
    c.advance(MIN_INTERVAL_MS / 2);
    expect(calls).toHaveLength(1);
    c.advance(MIN_INTERVAL_MS);
    expect(calls).toHaveLength(2);
  });

  it('a burst that never quiets is still acted on', async () => {
    const { ch, c, calls } = await monitoring();
    for (let i = 0; i < 50; i++) {
      ch.updates(full('deleted', 2));
      c.advance(SETTLE_MS / 2);
    }
    expect(calls.length).toBeGreaterThanOrEqual(1);
  });

  it('a pause and a resume of the updates make it re-read: changes may have gone unreported', async () => {
    const { ch, c, calls, watch } = await monitoring();
    const exp = (expType: number): OfMessage => ({
      type: 'EXPERIMENTER',
      xid: 0,
      experimenter: ONF_VENDOR_ID,
      expType,
      data: Buffer.alloc(0),
    });
    ch.emit('message', exp(ONFT_FLOW_MONITOR_PAUSED));
    c.advance(SETTLE_MS);
    ch.emit('message', exp(ONFT_FLOW_MONITOR_RESUMED));
    c.advance(2 * MIN_INTERVAL_MS);
    expect(calls).toEqual([
      { foreign: 0, paused: true },
      { foreign: 0, paused: true },
    ]);
    expect(watch.stats.pauses).toBe(1);
  });

  it('a switch that refuses the monitor (Open vSwitch < 3.1) is said so once, and the session goes on without', async () => {
    const logged: string[] = [];
    const logger = { ...silentLogger, info: (_o: unknown, msg?: string) => logged.push(String(msg)) } as unknown as Logger;
    const { ch, watch } = setup({ logger });
    ch.refuse = true;
    ch.up();
    await tick();
    expect(watch.stats.monitoring).toBe(false);
    expect(logged).toEqual([expect.stringContaining('does not monitor flows')]);
  });

  it('stop() cancels the monitor on the switch and stops listening', async () => {
    const { ch, c, calls, watch } = await monitoring();
    const req = ch.requests[0]!;
    const id = req.type === 'MULTIPART_REQUEST' && req.body.kind === 'flow_monitor' ? req.body.monitors[0]!.id : -1;
    watch.stop();
    expect(ch.sent).toHaveLength(1);
    const cancel = ch.sent[0]!;
    expect(cancel).toMatchObject({ type: 'EXPERIMENTER', experimenter: ONF_VENDOR_ID, expType: ONF_FLOW_MONITOR });
    expect(cancel.type === 'EXPERIMENTER' && cancel.data.readUInt32BE(0)).toBe(id);
    ch.updates(full('added'));
    c.advance(10 * MIN_INTERVAL_MS);
    expect(calls).toHaveLength(0);
  });

  it('two watches on one channel ask for monitors of different ids', async () => {
    const a = setup();
    const b = new SwitchWatch(a.ch as unknown as FlowChannel, { logger: silentLogger, changed: () => undefined });
    a.ch.up();
    await tick();
    const ids = a.ch.requests.map((r) => (r.type === 'MULTIPART_REQUEST' && r.body.kind === 'flow_monitor' ? r.body.monitors[0]!.id : -1));
    expect(new Set(ids).size).toBe(2);
    b.stop();
  });
});
