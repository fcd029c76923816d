/**
 * Reconnecting to a local daemon (issue 11, Open vSwitch restarts): unix endpoints are redialled the moment
 * their socket reappears (a directory watch), with a short probe as the fallback; tcp/ssl keep an exponential
 * backoff capped at 1 s. Driven by a hand clock and a hand-fired watch where the code allows.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import type { Clock } from '../../src/openflow/channel/clock.js';
import { OfChannel } from '../../src/openflow/channel/index.js';
import { OvsdbClient } from '../../src/ovsdb/client.js';
import { JsonStreamScanner } from '../../src/ovsdb/framing.js';
import { watchSocket, type DirWatchFn } from '../../src/util/socket-watch.js';

class FakeClock implements Clock {
  t = 0;
  private seq = 0;
  readonly timers = new Map<number, { at: number; fn: () => void }>();
  now = () => this.t;
  setTimeout = (fn: () => void, ms: number) => {
    this.timers.set(++this.seq, { at: this.t + ms, fn });
    return this.seq;
  };
  clearTimeout = (h: unknown) => void this.timers.delete(h as number);
  /** Runs the earliest timer (jumping the clock to it). */
  async step(): Promise<void> {
    let next: [number, { at: number; fn: () => void }] | undefined;
    for (const e of this.timers) if (!next || e[1].at < next[1].at) next = e;
    if (!next) throw new Error('no timer');
    this.timers.delete(next[0]);
    this.t = next[1].at;
    next[1].fn();
    await settle();
  }
}

const settle = async (rounds = 5) => {
  for (let i = 0; i < rounds; i++) await new Promise((r) => setImmediate(r));
};

/** A directory watch fired by hand. */
function handWatch(): { fn: DirWatchFn; fire(name: string | null): void; dirs: string[]; open: number } {
  const listeners = new Set<(f: string | null) => void>();
  const w = {
    dirs: [] as string[],
    open: 0,
    fn: ((dir, on) => {
      w.dirs.push(dir);
      w.open++;
      listeners.add(on);
      return {
        close: () => {
          if (listeners.delete(on)) w.open--;
        },
      };
    }) as DirWatchFn,
    fire: (name: string | null) => {
      for (const l of [...listeners]) l(name);
    },
  };
  return w;
}

const channels: OfChannel[] = [];
afterEach(async () => {
  for (const c of channels.splice(0)) await c.stop();
});

/** A channel whose dials always fail (the switch is away); records when each dial happened. */
function awayChannel(endpoint: string, extra: Partial<ConstructorParameters<typeof OfChannel>[0]> = {}) {
  const clock = new FakeClock();
  const dials: number[] = [];
  const ch = new OfChannel({
    endpoint,
    clock,
    dial: async () => {
      dials.push(clock.t);
      throw new Error('ECONNREFUSED (fake)');
    },
    ...extra,
  });
  channels.push(ch);
  return { ch, clock, dials };
}

describe('watchSocket', () => {
  it('calls back for its own name (or an unnamed event), not for its neighbours', () => {
    const w = handWatch();
    let n = 0;
    const h = watchSocket('/run/ovs/br-int.mgmt', () => n++, w.fn);
    expect(w.dirs).toEqual(['/run/ovs']);
    w.fire('db.sock');
    w.fire('br-int.mgmt');
    w.fire(null);
    expect(n).toBe(2);
    h.close();
    w.fire('br-int.mgmt');
    expect(n).toBe(2);
  });

  it('returns a no-op handle when the directory cannot be watched (the probe covers it)', () => {
    const h = watchSocket('/nonexistent-dir-wyvern/db.sock', () => undefined);
    expect(() => h.close()).not.toThrow();
  });
});

describe('OfChannel reconnect delays', () => {
  it('unix: probes with a backoff capped at 250 ms while the socket is away', async () => {
    const { ch, clock, dials } = awayChannel('unix:/nonexistent/br-int.mgmt', { watchSocket: false });
    ch.start();
    await settle();
    for (let i = 0; i < 12; i++) await clock.step();
    const gaps = dials.slice(1).map((t, i) => t - dials[i]!);
    expect(Math.max(...gaps)).toBeLessThanOrEqual(250);
    expect(gaps.at(-1)).toBeGreaterThanOrEqual(250 * 0.75);
  });

  it('tcp: exponential backoff capped at 1 s (was 5 s)', async () => {
    const { ch, clock, dials } = awayChannel('tcp:127.0.0.1:6653');
    ch.start();
    await settle();
    for (let i = 0; i < 12; i++) await clock.step();
    const gaps = dials.slice(1).map((t, i) => t - dials[i]!);
    expect(Math.max(...gaps)).toBeLessThanOrEqual(1_000);
    expect(gaps.at(-1)).toBeGreaterThanOrEqual(750);
  });

  it('an explicit reconnect setting still wins', async () => {
    const { ch, clock, dials } = awayChannel('unix:/nonexistent/br-int.mgmt', {
      watchSocket: false,
      reconnect: { minMs: 1_000, maxMs: 4_000 },
    });
    ch.start();
    await settle();
    for (let i = 0; i < 6; i++) await clock.step();
    expect(dials[1]! - dials[0]!).toBeGreaterThanOrEqual(750);
  });
});

describe('OfChannel wakes on the socket reappearing', () => {
  it('dials at once when the socket is created, without waiting out the backoff', async () => {
    const w = handWatch();
    const { ch, clock, dials } = awayChannel('unix:/run/ovs/br-int.mgmt', {
      watchSocket: w.fn,
      reconnect: { minMs: 10_000, maxMs: 10_000 },
    });
    ch.start();
    await settle();
    expect(dials).toEqual([0]);
    expect(ch.state).toBe('backoff');
    expect(w.open).toBe(1);
    w.fire('br-int.mgmt');
    await settle();
    expect(dials).toEqual([0, 0]); // no time passed
    w.fire('db.sock'); // not ours
    await settle();
    expect(dials).toEqual([0, 0]);
    expect(clock.t).toBe(0);
  });

  it('an event during an attempt makes a failed attempt retry at once; stop closes the watch', async () => {
    const w = handWatch();
    const clock = new FakeClock();
    const dials: number[] = [];
    let release: ((s: Duplex) => void) | undefined;
    let fail: ((e: Error) => void) | undefined;
    const ch = new OfChannel({
      endpoint: 'unix:/run/ovs/br-int.mgmt',
      clock,
      watchSocket: w.fn,
      reconnect: { minMs: 10_000, maxMs: 10_000 },
      dial: () => {
        dials.push(clock.t);
        return new Promise<Duplex>((res, rej) => {
          release = res;
          fail = rej;
        });
      },
    });
    channels.push(ch);
    ch.start();
    await settle();
    fail!(new Error('ENOENT'));
    await settle();
    expect(ch.state).toBe('backoff');
    // Bound but not yet listening: the event comes, the attempt it starts is refused, then one is in flight.
    w.fire('br-int.mgmt');
    await settle();
    expect(dials).toEqual([0, 0]);
    w.fire('br-int.mgmt'); // while that attempt is in flight
    fail!(new Error('ECONNREFUSED'));
    await settle();
    await clock.step(); // the retry is due now (delay 0), not after the 10 s backoff
    expect(dials).toEqual([0, 0, 0]);
    expect(clock.t).toBe(0);
    expect(release).toBeDefined();
    await ch.stop();
    expect(w.open).toBe(0);
  });
});

describe('OvsdbClient.create: background connect for a server that is not there yet', () => {
  function polite(s: net.Socket): void {
    const sc = new JsonStreamScanner();
    s.on('data', (d) =>
      sc.push(d).forEach((m) => {
        const r = m as { method?: string; id?: unknown; params?: unknown };
        if (r.method === 'echo' && r.id !== null) s.write(JSON.stringify({ result: r.params, error: null, id: r.id }));
        if (r.method === 'list_dbs') s.write(JSON.stringify({ result: ['Open_vSwitch'], error: null, id: r.id }));
      }),
    );
  }

  it('returns at once, rejects requests meanwhile, reports failed attempts, and connects when the socket appears (fs.watch)', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'wyvern-watch-'));
    const sock = path.join(dir, 'db.sock');
    // A probe every 5 s: connecting within a fraction of that proves the directory watch woke the client.
    const c = OvsdbClient.create(`unix:${sock}`, { reconnect: { minMs: 5_000, maxMs: 5_000 } });
    const srv = net.createServer(polite);
    srv.on('connection', (s) => open.add(s));
    try {
      let errors = 0;
      c.on('connectError', () => errors++);
      await expect(c.listDbs()).rejects.toMatchObject({ code: 'not-connected' });
      await new Promise((r) => setTimeout(r, 200));
      expect(errors).toBe(1);
      const connected = new Promise<number>((r) => c.once('connected', () => r(Date.now())));
      const t0 = Date.now();
      srv.listen(sock);
      const ms = (await connected) - t0;
      expect(ms).toBeLessThan(1_000);
      expect(await c.listDbs()).toEqual(['Open_vSwitch']);

      // The server goes away and comes back: 'reconnected', again woken by the socket, not the 5 s probe.
      const reconnected = new Promise<number>((r) => c.once('reconnected', () => r(Date.now())));
      await new Promise<void>((r) => {
        srv.close(() => r());
        for (const s of open) s.destroy();
      });
      await new Promise((r) => setTimeout(r, 300));
      const t1 = Date.now();
      srv.listen(sock);
      expect((await reconnected) - t1).toBeLessThan(1_000);
    } finally {
      await c.close();
      for (const s of open) s.destroy();
      await new Promise<void>((r) => (srv.listening ? srv.close(() => r()) : r()));
      rmSync(dir, { recursive: true, force: true });
    }
  });
  const open = new Set<net.Socket>();
  afterEach(() => open.clear());
});
