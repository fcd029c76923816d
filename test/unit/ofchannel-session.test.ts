import { Duplex } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { decodeMessage, encodeMessage, flowMod, OfpErrorMessage, type OfMessage } from '../../src/openflow/index.js';
import type { Clock } from '../../src/openflow/channel/clock.js';
import { OfBundleError, OfChannel, OfChannelDownError, OfTimeoutError, type UpEvent } from '../../src/openflow/channel/index.js';
import { Framer } from '../../src/openflow/channel/framer.js';

// ---- test doubles: a clock we drive by hand and a scriptable switch on an in-memory socket pair ------------

class FakeClock implements Clock {
  t = 0;
  private seq = 0;
  private readonly timers = new Map<number, { at: number; fn: () => void }>();
  now = () => this.t;
  setTimeout = (fn: () => void, ms: number) => {
    this.timers.set(++this.seq, { at: this.t + ms, fn });
    return this.seq;
  };
  clearTimeout = (h: unknown) => void this.timers.delete(h as number);
  /** Runs due timers in time order, letting I/O settle after each. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const e of this.timers) if (e[1].at <= end && (!next || e[1].at < next[1].at)) next = e;
      if (!next) break;
      this.timers.delete(next[0]);
      this.t = next[1].at;
      next[1].fn();
      await settle();
    }
    this.t = end;
    await settle();
  }
}

const settle = async (rounds = 5) => {
  for (let i = 0; i < rounds; i++) await new Promise((r) => setImmediate(r));
};

/** Two connected in-memory duplex streams; `hold` delays the write callbacks of one side (a slow reader). */
function duplexPair(): { a: Duplex; b: Duplex; holdA: { on: boolean; release(): void } } {
  const held: Array<() => void> = [];
  const holdA = {
    on: false,
    release() {
      this.on = false;
      for (const cb of held.splice(0)) cb();
    },
  };
  const mk = (peer: () => Duplex, hold?: typeof holdA) =>
    new Duplex({
      read() {},
      write(chunk: Buffer, _enc, cb) {
        peer().push(chunk);
        if (hold?.on) held.push(() => cb());
        else cb();
      },
      final(cb) {
        peer().push(null);
        cb();
      },
      destroy(err, cb) {
        peer().push(null);
        cb(err);
      },
    });
  // Each end's writes go to the other: the closures read `b` and `a` only once both exist.
  const a: Duplex = mk(() => b, holdA);
  const b: Duplex = mk(() => a);
  return { a, b, holdA };
}

const FEATURES = {
  type: 'FEATURES_REPLY',
  xid: 0,
  datapathId: 0xabcdefn,
  nBuffers: 0,
  nTables: 254,
  auxiliaryId: 0,
  capabilities: 0x4f,
  reserved: 0,
} as const;

/** The switch side: answers HELLO, FEATURES, BARRIER, ECHO and bundle controls unless a test overrides `on`. */
class FakeSwitch {
  readonly got: OfMessage[] = [];
  readonly raw: Buffer[] = [];
  private readonly framer = new Framer();
  /** Return messages to send back; return undefined to use the default answer. */
  on: (m: OfMessage) => OfMessage[] | undefined = () => undefined;
  helloHex = '0400001000000001' + '0001000800000010';
  answerEcho = true;
  constructor(readonly sock: Duplex) {
    sock.on('data', (chunk: Buffer) => this.framer.push(chunk, (f) => this.onFrame(Buffer.from(f))));
    sock.on('error', () => undefined);
  }
  send(m: OfMessage): void {
    this.sock.write(encodeMessage(m));
  }
  sendRaw(b: Buffer): void {
    this.sock.write(b);
  }
  of<T extends OfMessage['type']>(type: T): Extract<OfMessage, { type: T }>[] {
    return this.got.filter((m) => m.type === type) as Extract<OfMessage, { type: T }>[];
  }
  private onFrame(f: Buffer): void {
    this.raw.push(f);
    const m = decodeMessage(f);
    this.got.push(m);
    const custom = this.on(m);
    if (custom) {
      for (const r of custom) this.send(r);
      return;
    }
    switch (m.type) {
      case 'HELLO':
        this.sendRaw(Buffer.from(this.helloHex, 'hex'));
        return;
      case 'FEATURES_REQUEST':
        return this.send({ ...FEATURES, xid: m.xid });
      case 'BARRIER_REQUEST':
        return this.send({ type: 'BARRIER_REPLY', xid: m.xid });
      case 'ECHO_REQUEST':
        if (this.answerEcho) this.send({ type: 'ECHO_REPLY', xid: m.xid, data: m.data });
        return;
      case 'BUNDLE_CONTROL': {
        const reply = {
          open_request: 'open_reply',
          commit_request: 'commit_reply',
          discard_request: 'discard_reply',
          close_request: 'close_reply',
        } as const;
        const ct = reply[m.controlType as keyof typeof reply];
        if (ct) this.send({ ...m, controlType: ct });
        return;
      }
      default:
        return;
    }
  }
}

function onfError(xid: number, code: number, data = Buffer.alloc(0)): OfMessage {
  return { type: 'ERROR', xid, errType: 0xffff, code, experimenter: 0x4f4e4600, errTypeName: '', codeName: '', data };
}

interface Rig {
  ch: OfChannel;
  clock: FakeClock;
  switches: FakeSwitch[];
  pairs: ReturnType<typeof duplexPair>[];
  dials: number[];
  ups: UpEvent[];
  downs: string[];
  messages: OfMessage[];
  failDials: number;
}

const rigs: Rig[] = [];
afterEach(async () => {
  for (const r of rigs.splice(0)) await r.ch.stop();
});

async function rig(
  opts: {
    echoIntervalMs?: number;
    echoTimeoutMs?: number;
    requestTimeoutMs?: number;
    packetInFormat?: 'nxt_packet_in2';
    setup?: (s: FakeSwitch) => void;
  } = {},
): Promise<Rig> {
  const clock = new FakeClock();
  const r: Rig = { clock, switches: [], pairs: [], dials: [], ups: [], downs: [], messages: [], failDials: 0 } as unknown as Rig;
  r.ch = new OfChannel({
    endpoint: 'unix:/nonexistent/br-int.mgmt',
    echoIntervalMs: opts.echoIntervalMs ?? 1_000,
    echoTimeoutMs: opts.echoTimeoutMs ?? 3_000,
    requestTimeoutMs: opts.requestTimeoutMs ?? 2_000,
    reconnect: { minMs: 100, maxMs: 800 },
    ...(opts.packetInFormat ? { packetInFormat: opts.packetInFormat } : {}),
    clock,
    dial: async () => {
      r.dials.push(clock.t);
      if (r.failDials > 0) {
        r.failDials--;
        throw new Error('ECONNREFUSED (fake)');
      }
      const p = duplexPair();
      const sw = new FakeSwitch(p.b);
      opts.setup?.(sw);
      r.pairs.push(p);
      r.switches.push(sw);
      return p.a;
    },
  });
  r.ch.on('up', (e: UpEvent) => r.ups.push(e));
  r.ch.on('down', (why: string) => r.downs.push(why));
  r.ch.on('message', (m: OfMessage) => r.messages.push(m));
  rigs.push(r);
  return r;
}

async function upRig(opts?: Parameters<typeof rig>[0]): Promise<Rig & { sw: FakeSwitch }> {
  const r = await rig(opts);
  r.ch.start();
  await settle();
  expect(r.ch.isUp).toBe(true);
  return Object.assign(r, { sw: r.switches[0]! });
}

describe('OfChannel handshake and correlation', () => {
  it('negotiates 1.3, runs FEATURES and announces session 1', async () => {
    const r = await upRig();
    expect(r.ups).toEqual([{ features: { ...FEATURES, xid: r.sw.got.find((m) => m.type === 'FEATURES_REQUEST')!.xid }, session: 1 }]);
    expect(r.ch.sessionCount).toBe(1);
    expect(r.ch.features?.datapathId).toBe(0xabcdefn);
    // Our HELLO carries a version bitmap with only 1.3.
    expect(r.sw.raw[0]!.toString('hex')).toMatch(/^04000010.{8}0001000800000010$/);
  });

  it('matches replies to requests by xid, out of order', async () => {
    const r = await upRig();
    const held: OfMessage[] = [];
    r.sw.on = (m) => (m.type === 'BARRIER_REQUEST' ? (held.push(m), []) : undefined);
    const p1 = r.ch.request({ type: 'BARRIER_REQUEST', xid: 0 });
    const p2 = r.ch.request({ type: 'BARRIER_REQUEST', xid: 0 });
    await settle();
    expect(held).toHaveLength(2);
    expect(held[0]!.xid).not.toBe(held[1]!.xid);
    r.sw.send({ type: 'BARRIER_REPLY', xid: held[1]!.xid });
    r.sw.send({ type: 'BARRIER_REPLY', xid: held[0]!.xid });
    expect((await p1).xid).toBe(held[0]!.xid);
    expect((await p2).xid).toBe(held[1]!.xid);
    expect(r.messages).toEqual([]);
  });

  it('request(ECHO_REQUEST) resolves with the echo reply (an RTT probe)', async () => {
    const r = await upRig();
    const reply = await r.ch.request({ type: 'ECHO_REQUEST', xid: 0, data: Buffer.from('rtt') });
    expect(reply).toMatchObject({ type: 'ECHO_REPLY', data: Buffer.from('rtt') });
  });

  it('rejects a request with the named ERROR that carries its xid', async () => {
    const r = await upRig();
    r.sw.on = (m) =>
      m.type === 'FLOW_MOD'
        ? [{ type: 'ERROR', xid: m.xid, errType: 5, code: 2, errTypeName: '', codeName: '', data: Buffer.alloc(0) }]
        : undefined;
    const err = await r.ch.request(flowMod({ tableId: 7 })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OfpErrorMessage);
    expect((err as OfpErrorMessage).error.codeName).toBe('OFPFMFC_BAD_TABLE_ID');
    expect((err as OfpErrorMessage).message).toContain('FLOW_MOD');
  });

  it('sendChecked resolves at the barrier when accepted, rejects with the ERROR when refused', async () => {
    const r = await upRig();
    r.sw.on = (m) =>
      m.type === 'FLOW_MOD' && m.tableId === 7
        ? [{ type: 'ERROR', xid: m.xid, errType: 5, code: 2, errTypeName: '', codeName: '', data: Buffer.alloc(0) }]
        : undefined;
    await expect(r.ch.sendChecked(flowMod({ tableId: 1 }))).resolves.toBeUndefined();
    const err = (await r.ch.sendChecked(flowMod({ tableId: 7 })).catch((e: unknown) => e)) as OfpErrorMessage;
    expect(err).toBeInstanceOf(OfpErrorMessage);
    expect(err.error.codeName).toBe('OFPFMFC_BAD_TABLE_ID');
    await settle();
    expect(r.messages).toEqual([]);
    expect(r.sw.of('BARRIER_REQUEST')).toHaveLength(2);
  });

  it('sends SET_CONFIG miss_send_len=0xffff after FEATURES (OVS service connections need it for PACKET_IN)', async () => {
    const r = await upRig();
    const types = r.sw.got.map((m) => m.type);
    expect(types.slice(0, 3)).toEqual(['HELLO', 'FEATURES_REQUEST', 'SET_CONFIG']);
    expect(r.sw.got[2]).toMatchObject({ flags: 0, missSendLen: 0xffff });
  });

  it('asks for NXT_PACKET_IN2 in the handshake when told to (packet-in opcodes ride in its userdata)', async () => {
    const r = await upRig({ packetInFormat: 'nxt_packet_in2' });
    expect(r.sw.got.slice(0, 4).map((m) => m.type)).toEqual(['HELLO', 'FEATURES_REQUEST', 'SET_CONFIG', 'NX_SET_PACKET_IN_FORMAT']);
    expect(r.sw.got[3]).toMatchObject({ format: 2 });
    expect((await upRig()).sw.of('NX_SET_PACKET_IN_FORMAT')).toHaveLength(0);
  });

  it('emits unsolicited messages, and ERRORs nobody waits for', async () => {
    const r = await upRig();
    r.sw.on = (m) =>
      m.type === 'FLOW_MOD'
        ? [{ type: 'ERROR', xid: m.xid, errType: 5, code: 2, errTypeName: '', codeName: '', data: Buffer.alloc(0) }]
        : undefined;
    await r.ch.send(flowMod({ tableId: 9 }));
    await settle();
    r.sw.send({
      type: 'PACKET_IN',
      xid: 0,
      bufferId: 0xffffffff,
      totalLen: 4,
      reason: 1,
      tableId: 3,
      cookie: 5n,
      match: [],
      data: Buffer.from('abcd'),
    });
    await settle();
    expect(r.messages.map((m) => m.type)).toEqual(['ERROR', 'PACKET_IN']);
    expect(r.messages[0]!.xid).toBe(r.sw.of('FLOW_MOD')[0]!.xid);
    expect(r.messages[0]!.xid).not.toBe(0);
  });

  it('times out a request with a typed error and forgets it', async () => {
    const r = await upRig({ echoIntervalMs: 0 });
    r.sw.on = (m) => (m.type === 'BARRIER_REQUEST' ? [] : undefined);
    const p = r.ch.barrier({ timeoutMs: 500 }).catch((e: unknown) => e);
    await r.clock.advance(499);
    await r.clock.advance(1);
    const err = await p;
    expect(err).toBeInstanceOf(OfTimeoutError);
    expect((err as OfTimeoutError).timeoutMs).toBe(500);
    expect(r.ch.isUp).toBe(true);
  });

  it('collects multipart replies until the more flag clears', async () => {
    const r = await upRig();
    const flow = (p: number) => ({
      tableId: 1,
      durationSec: 0,
      durationNsec: 0,
      priority: p,
      idleTimeout: 0,
      hardTimeout: 0,
      flags: 0,
      cookie: 0n,
      packetCount: 0n,
      byteCount: 0n,
      match: [],
      instructions: [],
    });
    r.sw.on = (m) =>
      m.type === 'MULTIPART_REQUEST'
        ? [1, 2, 3].map((i) => ({
            type: 'MULTIPART_REPLY' as const,
            xid: m.xid,
            flags: i < 3 ? 1 : 0,
            body: { kind: 'flow' as const, flows: [flow(i), flow(i * 10)] },
          }))
        : undefined;
    const flows = await r.ch.dumpFlows({ tableId: 1, cookie: 0x10n, cookieMask: 0xf0n });
    expect(flows.map((f) => f.priority)).toEqual([1, 10, 2, 20, 3, 30]);
    const req = r.sw.of('MULTIPART_REQUEST')[0]!;
    expect(req.body).toMatchObject({ kind: 'flow', tableId: 1, cookie: 0x10n, cookieMask: 0xf0n });
  });

  it('a multipart deadline bounds the silence between parts, not the whole answer', async () => {
    const r = await upRig({ echoIntervalMs: 0, requestTimeoutMs: 1_000 });
    let xid = 0;
    r.sw.on = (m) => (m.type === 'MULTIPART_REQUEST' ? ((xid = m.xid), []) : undefined);
    const part = (more: boolean) => r.sw.send({ type: 'MULTIPART_REPLY', xid, flags: more ? 1 : 0, body: { kind: 'flow', flows: [] } });
    const p = r.ch.dumpFlows().catch((e: unknown) => e);
    await settle();
    for (let i = 0; i < 3; i++) {
      await r.clock.advance(800);
      part(true);
      await settle();
    }
    await r.clock.advance(800);
    part(false);
    expect(await p).toEqual([]);
    const q = r.ch.dumpFlows().catch((e: unknown) => e);
    await settle();
    part(true);
    await settle();
    await r.clock.advance(1_000);
    expect(await q).toBeInstanceOf(OfTimeoutError);
  });

  it('fails cleanly when the switch speaks no 1.3', async () => {
    const r = await rig({ setup: (s) => (s.helloHex = '0100000800000001') });
    r.ch.start();
    await settle();
    expect(r.ch.isUp).toBe(false);
    const err = r.switches[0]!.of('ERROR')[0]!;
    expect(err.codeName).toBe('OFPHFC_INCOMPATIBLE');
    expect(r.ups).toEqual([]);
  });

  it('names the ERROR a switch answers our HELLO with', async () => {
    const r = await rig({ setup: (s) => (s.helloHex = '0401001400000001' + '00000000' + Buffer.from('nope1234').toString('hex')) });
    const failures: Error[] = [];
    r.ch.on('connectError', (e: Error) => failures.push(e));
    r.ch.start();
    await settle();
    expect(failures[0]?.message).toMatch(/OFPHFC_INCOMPATIBLE \(nope1234\)/);
  });
});

describe('OfChannel session lifecycle', () => {
  it('rejects pending requests when the session drops, then reconnects and announces session 2', async () => {
    const r = await upRig();
    r.sw.on = (m) => (m.type === 'BARRIER_REQUEST' ? [] : undefined);
    const p = r.ch.barrier().catch((e: unknown) => e);
    await settle();
    r.sw.sock.destroy();
    expect(await p).toBeInstanceOf(OfChannelDownError);
    await settle();
    expect(r.downs).toHaveLength(1);
    await r.clock.advance(0);
    expect(r.ch.isUp).toBe(true);
    expect(r.ups.map((u) => u.session)).toEqual([1, 2]);
    expect(r.ch.sessionCount).toBe(2);
  });

  it('backs off exponentially while the switch is away, and resets once up', async () => {
    const r = await rig();
    r.failDials = 4;
    r.ch.start();
    await settle();
    await r.clock.advance(10_000);
    expect(r.ch.isUp).toBe(true);
    const gaps = r.dials.slice(1).map((t, i) => t - r.dials[i]!);
    expect(gaps).toHaveLength(4);
    for (const [i, g] of gaps.entries()) {
      const base = Math.min(800, 100 * 2 ** i);
      expect(g).toBeGreaterThanOrEqual(base * 0.75);
      expect(g).toBeLessThanOrEqual(base);
    }
    await r.ch.barrier();
  });

  it('requests on a channel that is not up reject with OfChannelDownError', async () => {
    const r = await rig();
    await expect(r.ch.barrier()).rejects.toBeInstanceOf(OfChannelDownError);
  });

  it('answers the switch ECHO_REQUEST, sends its own, and drops a silent peer', async () => {
    const r = await upRig({ echoIntervalMs: 1_000, echoTimeoutMs: 3_000 });
    r.sw.sendRaw(Buffer.from('04020009000000abff', 'hex'));
    await settle();
    expect(r.sw.raw.find((b) => b[1] === 3)?.toString('hex')).toBe('04030009000000abff');
    await r.clock.advance(1_000);
    expect(r.sw.of('ECHO_REQUEST')).toHaveLength(1);
    await r.clock.advance(5_000); // the switch answers: still up
    expect(r.ch.isUp).toBe(true);
    expect(r.sw.of('ECHO_REQUEST').length).toBeGreaterThanOrEqual(5);
    r.sw.answerEcho = false;
    await r.clock.advance(3_000);
    expect(r.downs[0]).toMatch(/peer dead/);
    await r.clock.advance(0);
    expect(r.ups.map((u) => u.session)).toEqual([1, 2]);
  });

  it('drops the session on an unframeable stream, survives an undecodable message', async () => {
    const r = await upRig();
    const decodeErrors: unknown[] = [];
    r.ch.on('decodeError', (e: unknown) => decodeErrors.push(e));
    // A FEATURES_REPLY cut short decodes to an OfpDecodeError but keeps framing intact.
    r.sw.sendRaw(Buffer.from('0406000c0000000100000000', 'hex'));
    await settle();
    expect(decodeErrors).toHaveLength(1);
    expect(r.ch.isUp).toBe(true);
    await r.ch.barrier();
    r.sw.sendRaw(Buffer.from('0400000200000000', 'hex')); // length 2 < 8
    await settle();
    expect(r.downs[0]).toMatch(/framing/);
  });

  it('stop() rejects pending requests and stops reconnecting', async () => {
    const r = await upRig();
    r.sw.on = (m) => (m.type === 'BARRIER_REQUEST' ? [] : undefined);
    const p = r.ch.barrier().catch((e: unknown) => e);
    await settle();
    await r.ch.stop();
    expect(await p).toBeInstanceOf(OfChannelDownError);
    await r.clock.advance(10_000);
    expect(r.dials).toHaveLength(1);
    expect(r.ch.isUp).toBe(false);
  });

  it('send() waits for the socket to drain (back-pressure)', async () => {
    const r = await upRig({ echoIntervalMs: 0 });
    r.pairs[0]!.holdA.on = true;
    const big = flowMod({ instructions: [{ type: 'apply_actions', actions: [{ type: 'note', data: Buffer.alloc(4000) }] }] });
    let resolved = 0;
    const sends = Array.from({ length: 10 }, () => r.ch.send(big).then(() => resolved++));
    await settle();
    expect(resolved).toBeLessThan(10);
    r.pairs[0]!.holdA.release();
    await Promise.all(sends);
    expect(resolved).toBe(10);
  });
});

describe('OfChannel bundles', () => {
  const flows = [1, 2, 3].map((p) => flowMod({ priority: p, tableId: 0 }));

  it('opens, adds every message (inner xid = outer xid), checks with a barrier, commits', async () => {
    const r = await upRig();
    await r.ch.bundle(flows);
    const seq = r.sw.got.filter((m) => m.type !== 'ECHO_REQUEST').slice(-6);
    expect(seq.map((m) => (m.type === 'BUNDLE_CONTROL' ? m.controlType : m.type))).toEqual([
      'open_request',
      'BUNDLE_ADD',
      'BUNDLE_ADD',
      'BUNDLE_ADD',
      'BARRIER_REQUEST',
      'commit_request',
    ]);
    const adds = r.sw.of('BUNDLE_ADD');
    const open = r.sw.of('BUNDLE_CONTROL')[0]!;
    for (const [i, a] of adds.entries()) {
      expect(a.bundleId).toBe(open.bundleId);
      expect(a.flags).toBe(3); // atomic | ordered
      expect(a.message.xid).toBe(a.xid);
      expect(a.message).toMatchObject({ type: 'FLOW_MOD', priority: i + 1 });
    }
  });

  it('an ERROR for an add discards the bundle and names the index', async () => {
    const r = await upRig();
    r.sw.on = (m) =>
      m.type === 'BUNDLE_ADD' && m.message.type === 'FLOW_MOD' && m.message.priority === 2
        ? [{ type: 'ERROR', xid: m.xid, errType: 3, code: 2, errTypeName: '', codeName: '', data: Buffer.alloc(0) }]
        : undefined;
    const err = await r.ch.bundle(flows).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OfBundleError);
    expect(err).toBeInstanceOf(OfpErrorMessage);
    expect((err as OfBundleError).index).toBe(1);
    expect((err as OfBundleError).error.codeName).toBe('OFPBIC_BAD_TABLE_ID');
    expect((err as Error).message).toMatch(/message #1.*OFPBIC_BAD_TABLE_ID/);
    const ctl = r.sw.of('BUNDLE_CONTROL').map((m) => m.controlType);
    expect(ctl).toEqual(['open_request', 'discard_request']);
    expect(r.messages).toEqual([]);
  });

  it('a commit failure names the offending message and the commit error', async () => {
    const r = await upRig();
    let addXids: number[] = [];
    r.sw.on = (m) => {
      if (m.type === 'BUNDLE_ADD') addXids.push(m.xid);
      if (m.type === 'BUNDLE_CONTROL' && m.controlType === 'commit_request') {
        return [
          { type: 'ERROR', xid: addXids[2]!, errType: 5, code: 1, errTypeName: '', codeName: '', data: Buffer.alloc(0) },
          onfError(m.xid, 2313),
        ];
      }
      return undefined;
    };
    const err = (await r.ch.bundle(flows).catch((e: unknown) => e)) as OfBundleError;
    expect(err).toBeInstanceOf(OfBundleError);
    expect(err.index).toBe(2);
    expect(err.error.codeName).toBe('OFPFMFC_TABLE_FULL');
    expect(err.commitError?.codeName).toBe('OFPBFC_MSG_FAILED');
    addXids = [];
  });

  it('a refused open rejects with the bundle error', async () => {
    const r = await upRig();
    r.sw.on = (m) => (m.type === 'BUNDLE_CONTROL' ? [onfError(m.xid, 2301)] : undefined);
    const err = (await r.ch.bundle(flows).catch((e: unknown) => e)) as OfBundleError;
    expect(err).toBeInstanceOf(OfBundleError);
    expect(err.index).toBeUndefined();
    expect(err.error.codeName).toBe('OFPBFC_EPERM');
  });
});
