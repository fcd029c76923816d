/**
 * The lease keep-alive stream of our etcd client (src/store/etcd-client/keepalive-stream.ts), against a scripted
 * stream: one stream serves keep-alive after keep-alive; answers are matched in order and by lease; any failure
 * (an end, a deadline, a wrong answer) fails what waits on the stream and the next keep-alive opens another; a
 * draining connection is not used again; a reset during the opening is honoured. Real etcd: store-etcd-client.test.ts.
 */
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { GrpcError, GrpcStatus, type GrpcStream } from '../../src/store/etcd-client/grpc.js';
import { KeepAliveStream } from '../../src/store/etcd-client/keepalive-stream.js';
import * as m from '../../src/store/etcd-client/messages.js';
import { ProtoReader, ProtoWriter } from '../../src/store/etcd-client/proto.js';

/** A LeaseKeepAliveStream as etcd would answer it. */
class FakeStream extends EventEmitter {
  readonly endpoint = '127.0.0.1:2379';
  isEnded = false;
  isDraining = false;
  abandoned = false;
  /** Lease ids asked, in order. */
  readonly asked: string[] = [];

  write(msg: Buffer): void {
    const r = new ProtoReader(msg);
    let id = '0';
    while (!r.done) {
      const [f, wt] = r.tag();
      if (f === 1) id = r.int64s();
      else r.skip(wt, f);
    }
    this.asked.push(id);
  }

  /** etcd's answer for lease `id`. */
  answer(id: string, ttl = 6): void {
    const w = new ProtoWriter();
    w.message(1, (h) => h.int64(3, 7));
    w.int64s(2, id);
    w.int64(3, ttl);
    this.emit('message', w.finish());
  }

  end(err?: GrpcError): void {
    if (this.isEnded) return;
    this.isEnded = true;
    this.emit('end', err);
  }

  cancel(): void {
    this.end(new GrpcError(GrpcStatus.CANCELLED, 'cancelled by the client'));
  }

  abandon(): void {
    this.abandoned = true;
    this.cancel();
  }
}

function harness(timeoutMs = 1000) {
  const streams: FakeStream[] = [];
  let gate: Promise<void> | undefined;
  const ka = new KeepAliveStream(async () => {
    await gate;
    const s = new FakeStream();
    streams.push(s);
    return { stream: s as unknown as GrpcStream, metadata: { token: `t${streams.length}` } };
  }, timeoutMs);
  return {
    ka,
    streams,
    hold(): () => void {
      let release!: () => void;
      gate = new Promise((r) => (release = r));
      return () => {
        gate = undefined;
        release();
      };
    },
  };
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('lease keep-alive stream', () => {
  it('one stream serves keep-alive after keep-alive, answers matched in order', async () => {
    const { ka, streams } = harness();
    for (let i = 0; i < 5; i++) {
      const p = ka.keepAlive('42');
      await tick();
      streams[0]!.answer('42', 10 - i);
      expect(await p).toEqual({ response: expect.objectContaining({ ID: '42', TTL: 10 - i }) });
    }
    // Two leases at once on the same stream: first asked, first answered.
    const a = ka.keepAlive('1');
    const b = ka.keepAlive('2');
    await tick();
    expect(streams[0]!.asked.slice(-2)).toEqual(['1', '2']);
    streams[0]!.answer('1');
    streams[0]!.answer('2', 0); // lease 2 is gone: etcd answers TTL 0, not an error
    expect(await a).toEqual({ response: expect.objectContaining({ ID: '1', TTL: 6 }) });
    expect(await b).toEqual({ response: expect.objectContaining({ ID: '2', TTL: 0 }) });
    expect(streams).toHaveLength(1);
    expect(ka.opened).toBe(1);
  });

  it('the stream ends: what waits fails with its status, and the next keep-alive opens another', async () => {
    const { ka, streams } = harness();
    const p = ka.keepAlive('42');
    await tick();
    streams[0]!.end(new GrpcError(GrpcStatus.UNAVAILABLE, 'etcdserver: leader changed'));
    const r = await p;
    expect('error' in r && r.error.message).toMatch(/leader changed/);
    expect('error' in r && r.metadata).toEqual({ token: 't1' }); // the token it went with, for a retry
    const q = ka.keepAlive('42');
    await tick();
    expect(streams).toHaveLength(2);
    streams[1]!.answer('42');
    expect('response' in (await q)).toBe(true);
  });

  it('no answer within the deadline: every keep-alive waiting fails, the member is left, and the next stream is new', async () => {
    const { ka, streams } = harness(50);
    const a = ka.keepAlive('1');
    const b = ka.keepAlive('2');
    const [ra, rb] = await Promise.all([a, b]);
    for (const r of [ra, rb]) expect('error' in r && r.error).toMatchObject({ code: GrpcStatus.DEADLINE_EXCEEDED });
    expect(streams[0]!.abandoned).toBe(true);
    expect(streams[0]!.isEnded).toBe(true);
    const c = ka.keepAlive('1');
    await tick();
    streams[1]!.answer('1');
    expect('response' in (await c)).toBe(true);
  });

  it('an answer for another lease than asked fails the stream instead of answering the wrong caller', async () => {
    const { ka, streams } = harness();
    const p = ka.keepAlive('1');
    await tick();
    streams[0]!.answer('999');
    const r = await p;
    expect('error' in r && r.error.message).toMatch(/lease 999 where 1 was asked/);
    expect(streams[0]!.isEnded).toBe(true);
  });

  it('an answer nobody asked for fails the stream; a draining connection is not used for the next keep-alive', async () => {
    const { ka, streams } = harness();
    const p = ka.keepAlive('1');
    await tick();
    streams[0]!.answer('1');
    await p;
    streams[0]!.isDraining = true; // the member sent GOAWAY
    const q = ka.keepAlive('1');
    await tick();
    expect(streams).toHaveLength(2);
    expect(streams[0]!.isEnded).toBe(true);
    streams[1]!.answer('1');
    expect('response' in (await q)).toBe(true);
    streams[1]!.answer('1'); // unasked
    expect(streams[1]!.isEnded).toBe(true);
  });

  it('keep-alives that come while the stream opens share it; a reset meanwhile (a refused token) discards it', async () => {
    const h = harness();
    const release = h.hold();
    const a = h.ka.keepAlive('1');
    const b = h.ka.keepAlive('2');
    release();
    await tick();
    expect(h.streams).toHaveLength(1);
    h.streams[0]!.answer('1');
    h.streams[0]!.answer('2');
    expect(await Promise.all([a, b])).toEqual([
      { response: expect.objectContaining({ ID: '1' }) },
      { response: expect.objectContaining({ ID: '2' }) },
    ]);

    const release2 = h.hold();
    h.streams[0]!.end(); // ended cleanly: the next keep-alive opens another
    const c = h.ka.keepAlive('1');
    h.ka.reset();
    release2();
    const r = await c;
    expect('error' in r && r.error.message).toMatch(/reset/);
    expect(h.streams[1]!.isEnded).toBe(true); // opened before the reset: cancelled, never used
    const d = h.ka.keepAlive('1');
    await tick();
    h.streams[2]!.answer('1');
    expect('response' in (await d)).toBe(true);
  });

  it('encodes the request as etcd reads it (LeaseKeepAliveRequest: ID = field 1)', () => {
    const s = new FakeStream();
    s.write(m.encode(m.encodeLeaseId, { ID: '7587869416406351908' }));
    expect(s.asked).toEqual(['7587869416406351908']);
  });
});
