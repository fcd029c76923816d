/**
 * gRPC framing and the channel's behaviour against a local HTTP/2 server playing etcd: message framing across
 * DATA chunks, status in trailers and in trailers-only headers (percent-encoded grpc-message), the deadline
 * (grpc-timeout sent, local timer fires), metadata, failover to the next member when one refuses connections,
 * a bidirectional stream, and a stream broken by the server going away. (Real etcd: every store suite.)
 */
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ChannelClosedError,
  frame,
  FrameParser,
  GrpcChannel,
  GrpcError,
  GrpcStatus,
  type GrpcStream,
} from '../../src/store/etcd-client/grpc.js';

type Handler = (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, body: Buffer[]) => void;
const servers: http2.Http2Server[] = [];
const channels: GrpcChannel[] = [];
afterEach(async () => {
  for (const c of channels.splice(0)) c.close();
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

const sessions = new Map<http2.Http2Server, http2.ServerHttp2Session[]>();

async function server(handler: Handler, { eager = false } = {}): Promise<{ ep: string; srv: http2.Http2Server }> {
  const srv = http2.createServer();
  sessions.set(srv, []);
  srv.on('session', (s) => sessions.get(srv)!.push(s));
  srv.on('stream', (stream, headers) => {
    const parser = new FrameParser();
    const body: Buffer[] = [];
    if (eager) handler(stream, headers, body);
    stream.on('data', (c: Buffer) => {
      body.push(...parser.push(c));
      if (eager) stream.emit('grpc-message', body[body.length - 1]);
    });
    if (!eager) stream.on('end', () => handler(stream, headers, body));
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  servers.push(srv);
  return { ep: `127.0.0.1:${(srv.address() as AddressInfo).port}`, srv };
}

function channel(endpoints: string[]): GrpcChannel {
  const c = new GrpcChannel({ endpoints, connectTimeoutMs: 1000 });
  channels.push(c);
  return c;
}

/** A port nothing listens on. */
async function deadEndpoint(): Promise<string> {
  const { ep, srv } = await server(() => undefined);
  await new Promise((r) => srv.close(r));
  servers.pop();
  return ep;
}

describe('gRPC framing', () => {
  it('reassembles messages split and joined across chunks; refuses compressed ones', () => {
    const a = frame(Buffer.from('hello'));
    const b = frame(Buffer.alloc(0));
    const c = frame(Buffer.alloc(300, 7));
    const all = Buffer.concat([a, b, c]);
    for (const cut of [1, 3, 5, 9, 10, 11, 200]) {
      const p = new FrameParser();
      const got = [...p.push(all.subarray(0, cut)), ...p.push(all.subarray(cut))];
      expect(got.map((x) => x.toString('hex'))).toEqual(
        [Buffer.from('hello'), Buffer.alloc(0), Buffer.alloc(300, 7)].map((x) => x.toString('hex')),
      );
    }
    const z = Buffer.from(a);
    z[0] = 1;
    expect(() => new FrameParser().push(z)).toThrow(GrpcError);
  });
});

describe('gRPC channel', () => {
  it('unary: sends path, content-type, te, grpc-timeout and metadata; answers the message; status from trailers', async () => {
    let seen: http2.IncomingHttpHeaders = {};
    const { ep } = await server((stream, h, body) => {
      seen = h;
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      stream.end(frame(Buffer.concat([Buffer.from('echo:'), ...body])));
    });
    const res = await channel([ep]).unary('/etcdserverpb.KV/Range', Buffer.from('abc'), { timeoutMs: 2000, metadata: { token: 't0k' } });
    expect(res.toString()).toBe('echo:abc');
    expect(seen).toMatchObject({ ':path': '/etcdserverpb.KV/Range', 'content-type': 'application/grpc', te: 'trailers', token: 't0k' });
    expect(seen['grpc-timeout']).toMatch(/^\d+m$/);
  });

  it('a trailers-only error: code and percent-decoded message', async () => {
    const { ep } = await server((stream) => {
      stream.respond(
        {
          ':status': 200,
          'content-type': 'application/grpc',
          'grpc-status': '11',
          'grpc-message': 'etcdserver%3A mvcc%3A required revision has been compacted',
        },
        { endStream: true },
      );
    });
    const err = (await channel([ep])
      .unary('/x', Buffer.alloc(0), { timeoutMs: 2000 })
      .catch((e: unknown) => e)) as GrpcError;
    expect(err).toBeInstanceOf(GrpcError);
    expect(err.code).toBe(GrpcStatus.OUT_OF_RANGE);
    expect(err.message).toBe('11 OUT_OF_RANGE: etcdserver: mvcc: required revision has been compacted');
  });

  it('deadline: a server that never answers gives DEADLINE_EXCEEDED on time', async () => {
    const { ep } = await server(() => undefined);
    const t0 = Date.now();
    const err = (await channel([ep])
      .unary('/x', Buffer.alloc(0), { timeoutMs: 300 })
      .catch((e: unknown) => e)) as GrpcError;
    expect(err.code).toBe(GrpcStatus.DEADLINE_EXCEEDED);
    expect(Date.now() - t0).toBeLessThan(3000);
  });

  it('fails over to the next member when one refuses connections, and reports UNAVAILABLE when none answers', async () => {
    const dead = await deadEndpoint();
    const { ep } = await server((stream) => {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      stream.end(frame(Buffer.from('ok')));
    });
    const c = channel([dead, ep, dead]);
    for (let i = 0; i < 6; i++) expect((await c.unary('/x', Buffer.alloc(0), { timeoutMs: 2000 })).toString()).toBe('ok');
    const err = (await channel([dead])
      .unary('/x', Buffer.alloc(0), { timeoutMs: 2000 })
      .catch((e: unknown) => e)) as GrpcError;
    expect(err.code).toBe(GrpcStatus.UNAVAILABLE);
    expect(err.message).toMatch(/ECONNREFUSED/);
  });

  it('a read every member answers with "leader changed" is repeated through the election; a write, or another UNAVAILABLE, is not', async () => {
    // Two members in an election: each answers "leader changed" to the first calls, then (a leader elected) data.
    let calls = 0;
    const electing = (until: number) => (stream: http2.ServerHttp2Stream) => {
      if (++calls <= until) {
        stream.respond(
          { ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '14', 'grpc-message': 'etcdserver%3A leader changed' },
          { endStream: true },
        );
        return;
      }
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      stream.end(frame(Buffer.from('ok')));
    };
    const a = await server(electing(5));
    const b = await server(electing(5));
    const c = channel([a.ep, b.ep]);
    expect((await c.unary('/read', Buffer.alloc(0), { timeoutMs: 5000, idempotent: true })).toString()).toBe('ok');
    expect(calls).toBe(6); // three rounds over both members, paused between them
    // A write is not repeated: it may have been proposed before the leader changed.
    calls = 0;
    const err = (await c.unary('/write', Buffer.alloc(0), { timeoutMs: 5000 }).catch((e: unknown) => e)) as GrpcError;
    expect(err.message).toMatch(/leader changed/);
    expect(calls).toBe(1);
    // Nor a read that meets something else (no quorum): it fails after one round.
    const noLeader = await server((stream) =>
      stream.respond(
        { ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '14', 'grpc-message': 'etcdserver%3A no leader' },
        { endStream: true },
      ),
    );
    const t0 = Date.now();
    const e2 = (await channel([noLeader.ep])
      .unary('/read', Buffer.alloc(0), { timeoutMs: 5000, idempotent: true })
      .catch((e: unknown) => e)) as GrpcError;
    expect(e2.message).toMatch(/no leader/);
    expect(Date.now() - t0).toBeLessThan(1000);
  });

  it('a closed channel refuses calls', async () => {
    const c = channel(['127.0.0.1:1']);
    c.close();
    await expect(c.unary('/x', Buffer.alloc(0), { timeoutMs: 100 })).rejects.toBeInstanceOf(ChannelClosedError);
  });

  it('bidirectional stream: messages both ways, then the end status; a server going away ends it UNAVAILABLE', async () => {
    const { ep, srv } = await server(
      (stream) => {
        stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
        stream.on('grpc-message', (m: Buffer) => {
          if (m.toString() === 'bye') {
            stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '16', 'grpc-message': 'etcdserver: invalid auth token' }));
            stream.end();
          } else stream.write(frame(Buffer.from(`re:${m.toString()}`)));
        });
      },
      { eager: true },
    );
    const c = channel([ep]);
    const s: GrpcStream = await c.stream('/etcdserverpb.Watch/Watch', { token: 'x' }, 1000);
    const got: string[] = [];
    s.on('message', (m: Buffer) => got.push(m.toString()));
    const ended = new Promise<GrpcError | undefined>((r) => s.once('end', r));
    s.write(Buffer.from('a'));
    s.write(Buffer.from('b'));
    await new Promise((r) => setTimeout(r, 100));
    s.write(Buffer.from('bye'));
    const err = await ended;
    expect(got).toEqual(['re:a', 're:b']);
    expect(err?.code).toBe(GrpcStatus.UNAUTHENTICATED);

    const s2 = await c.stream('/etcdserverpb.Watch/Watch', undefined, 1000);
    const ended2 = new Promise<GrpcError | undefined>((r) => s2.once('end', r));
    s2.write(Buffer.from('a'));
    await new Promise((r) => setTimeout(r, 50));
    // The member goes away: every connection dropped; the client sees its stream end without a status.
    for (const sess of sessions.get(srv)!) sess.destroy();
    const err2 = await Promise.race([ended2, new Promise((r) => setTimeout(() => r('timeout'), 3000))]);
    expect(err2).toBeInstanceOf(GrpcError);
    expect((err2 as GrpcError).code).toBe(GrpcStatus.UNAVAILABLE);
  }, 10_000);
});
